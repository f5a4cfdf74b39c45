//! A librdkafka consumer for a stream thread (a group member) or a restore (one assigned
//! partition).
//!
//! The stream thread commits its tasks before it gives up partitions (see the thread's
//! docs), so the eager revocation of a rebalance is deferred: librdkafka's rebalance callback
//! only marks it pending, [`LogConsumer::rebalance_pending`] tells the thread, the thread
//! commits with the still-valid generation, and the next [`LogConsumer::poll`] completes the
//! revocation (librdkafka waits for that `unassign` before it rejoins, as it waits for the
//! Java client's `onPartitionsRevoked`). Lost partitions (the member was expelled) and the
//! revocation at close are given up at once: there is nothing left to commit them with.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use storage::record::Header;
use stream_core::client::consumer::{ConsumerConfig, ConsumerRecord};
use stream_core::{TopicName, TopicPartition};

use super::{KafkaCluster, REQUEST_TIMEOUT, client, isolation_name};
use crate::backend::{GroupMetadata, InRecord, LogConsumer};
use crate::error::Result;

/// The group membership as the rebalance callback leaves it.
#[derive(Debug, Default)]
struct Membership {
    assignment: Vec<TopicPartition>,
    revoke_pending: bool,
    /// Counts assignments: changes when the group gives a new one.
    generation: i32,
    /// The group has given this member an assignment (perhaps empty) at least once.
    joined: bool,
    closing: bool,
}

#[derive(Debug, Default)]
pub(super) struct MemberContext {
    membership: Mutex<Membership>,
}

impl MemberContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let mut m = self.lock();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "cannot take the partitions the group assigned");
                }
                m.assignment = partitions(tpl);
                m.revoke_pending = false;
                m.generation = m.generation.wrapping_add(1);
                m.joined = true;
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS
                if !m.closing && !consumer.assignment_lost() && !m.assignment.is_empty() =>
            {
                m.revoke_pending = true;
            }
            other => {
                if other != RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::warn!(error = ?other, "group rebalance failed; giving up the partitions");
                }
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "giving up partitions");
                }
                m.assignment.clear();
                m.revoke_pending = false;
            }
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .filter_map(|e| {
            Some(TopicPartition::new(
                TopicName::new(e.topic()).ok()?,
                e.partition(),
            ))
        })
        .collect()
}

pub(super) struct KafkaConsumer {
    consumer: BaseConsumer<MemberContext>,
    max_poll_records: usize,
    grouped: bool,
    /// The next offset per partition as far as this side knows: set by seeks and by every
    /// record returned (librdkafka's own position is unset until a record is consumed).
    positions: HashMap<TopicPartition, i64>,
    /// What [`LogConsumer::poll_buffered`] polled and `poll_each` has not handed out yet.
    stash: Vec<ConsumerRecord>,
}

impl KafkaConsumer {
    pub fn new(cluster: &KafkaCluster, config: &ConsumerConfig) -> Result<KafkaConsumer> {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut settings: Vec<(&str, String)> = vec![
            ("client.id", config.client_id.clone()),
            ("enable.auto.commit", "false".into()),
            ("enable.auto.offset.store", "false".into()),
            ("enable.partition.eof", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            ("isolation.level", isolation_name(config.isolation_level).into()),
            ("fetch.wait.max.ms", ms(config.fetch_max_wait)),
            // librdkafka stops prefetching a partition once 100 000 records are queued and
            // looks again only after `fetch.queue.backoff.ms` (1 s): a stream thread drains its
            // queue in well under that, then waits. A deeper queue (still bounded by
            // `queued.max.messages.kbytes`, 64 MiB) and a short backoff keep the fetcher ahead
            // (measured: docs/performance.md#streams-on-a-kafka-protocol-cluster).
            ("queued.min.messages", "1000000".into()),
            ("fetch.queue.backoff.ms", "1".into()),
        ];
        match &config.group_id {
            None => {
                // Never joins (partitions are assigned, nothing is committed), but librdkafka
                // keeps assignments and positions only for a consumer with a group id.
                settings.push(("group.id", format!("{}-unjoined", config.client_id)));
            }
            Some(group) => settings.extend([
                ("group.id", group.clone()),
                (
                    "partition.assignment.strategy",
                    config.assignment_strategies.join(","),
                ),
                ("session.timeout.ms", ms(config.session_timeout)),
                ("heartbeat.interval.ms", ms(config.heartbeat_interval)),
            ]),
        }
        let consumer = cluster.create(&settings, MemberContext::default(), "create a consumer")?;
        Ok(KafkaConsumer {
            consumer,
            max_poll_records: config.max_poll_records.max(1),
            grouped: config.group_id.is_some(),
            positions: HashMap::new(),
            stash: Vec::new(),
        })
    }

    /// Completes a revocation the thread has committed for.
    fn complete_revoke(&mut self) -> Result<()> {
        let mut m = self.consumer.context().lock();
        if m.revoke_pending {
            m.revoke_pending = false;
            m.assignment.clear();
            drop(m);
            self.positions.clear();
            self.consumer
                .unassign()
                .map_err(|e| client("give up the revoked partitions", e))?;
        }
        Ok(())
    }

    fn record(m: &rdkafka::message::BorrowedMessage<'_>) -> Option<ConsumerRecord> {
        let topic = TopicName::new(m.topic()).ok()?;
        let timestamp = match m.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            Timestamp::NotAvailable => -1,
        };
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| Header {
                        key: h.key.to_owned(),
                        value: h.value.map(Bytes::copy_from_slice),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(ConsumerRecord {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            timestamp,
            key: m.key().map(Bytes::copy_from_slice),
            value: m.payload().map(Bytes::copy_from_slice),
            headers,
        })
    }
}

impl LogConsumer for KafkaConsumer {
    fn subscribe(&mut self, topics: Vec<String>) -> Result<()> {
        self.stash.clear();
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(|e| client("subscribe", e))
    }

    fn assign(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.stash.clear();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(tp.topic.as_str(), tp.partition, Offset::Offset(offset))
            .map_err(|e| client("assign", e))?;
        self.consumer.assign(&tpl).map_err(|e| client("assign", e))?;
        self.consumer.context().lock().assignment = vec![tp.clone()];
        self.positions.insert(tp.clone(), offset);
        Ok(())
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.complete_revoke()?;
        let mut out = Vec::new();
        let mut wait = timeout;
        while out.len() < self.max_poll_records {
            match self.consumer.poll(wait) {
                // A timeout, or a rebalance served: return what there is.
                None => break,
                Some(Ok(m)) => {
                    if let Some(r) = KafkaConsumer::record(&m) {
                        self.positions
                            .insert(TopicPartition::new(r.topic.clone(), r.partition), r.offset + 1);
                        out.push(r);
                    }
                }
                Some(Err(e @ KafkaError::MessageConsumptionFatal(_))) => {
                    return Err(client("poll", e));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    break;
                }
            }
            wait = Duration::ZERO;
        }
        Ok(out)
    }

    fn poll_buffered(&mut self, timeout: Duration) -> Result<bool> {
        if self.stash.is_empty() {
            self.stash = self.poll(timeout)?;
        }
        Ok(!self.stash.is_empty())
    }

    fn poll_each(&mut self, each: &mut dyn FnMut(InRecord<'_>) -> Result<()>) -> Result<usize> {
        let stash = std::mem::take(&mut self.stash);
        for r in &stash {
            each(InRecord::of(r))?;
        }
        Ok(stash.len())
    }

    /// A revocation waits for the thread's commit, or the member has not joined its group
    /// yet: until its first assignment a member is rebalancing (Kafka Streams' REBALANCING
    /// before RUNNING, and the embedded consumer's answer). Without the second case a second
    /// instance reported RUNNING before the group had given it any task.
    fn rebalance_pending(&self) -> bool {
        let m = self.consumer.context().lock();
        m.revoke_pending || (self.grouped && !m.joined)
    }

    fn generation(&self) -> Option<i32> {
        self.grouped.then(|| self.consumer.context().lock().generation)
    }

    fn group_metadata(&self) -> Option<GroupMetadata> {
        if !self.grouped {
            return None;
        }
        self.consumer.group_metadata().map(GroupMetadata::Kafka)
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.consumer.context().lock().assignment.clone()
    }

    fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        let mut tpl = TopicPartitionList::new();
        for tp in partitions {
            tpl.add_partition(tp.topic.as_str(), tp.partition);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(|e| client("fetch committed offsets", e))?;
        Ok(partitions
            .iter()
            .map(|tp| {
                let offset = committed
                    .find_partition(tp.topic.as_str(), tp.partition)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
                (tp.clone(), offset)
            })
            .collect())
    }

    fn seek(&mut self, tp: &TopicPartition, offset: Option<i64>) -> Result<()> {
        let to = offset.map_or(Offset::Beginning, Offset::Offset);
        self.consumer
            .seek(tp.topic.as_str(), tp.partition, to, REQUEST_TIMEOUT)
            .map_err(|e| client("seek", e))?;
        match offset {
            Some(o) => self.positions.insert(tp.clone(), o),
            None => self.positions.remove(tp),
        };
        // Polled records of the partition are from before the seek.
        self.stash
            .retain(|r| !(r.topic == tp.topic && r.partition == tp.partition));
        Ok(())
    }

    fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        let theirs = self
            .consumer
            .position()
            .map_err(|e| client("position", e))?
            .find_partition(tp.topic.as_str(), tp.partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            });
        match (theirs, self.positions.get(tp).copied()) {
            (Some(a), Some(b)) => Ok(a.max(b)),
            (Some(a), None) | (None, Some(a)) => Ok(a),
            (None, None) => Err(client(
                "position",
                KafkaError::Seek(format!("{tp} has no position yet")),
            )),
        }
    }

    fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in offsets {
            tpl.add_partition_offset(tp.topic.as_str(), tp.partition, Offset::Offset(*offset))
                .map_err(|e| client("commit", e))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| client("commit", e))
    }

    fn close(self: Box<Self>) -> Result<()> {
        let pending = {
            let mut m = self.consumer.context().lock();
            m.closing = true;
            std::mem::take(&mut m.revoke_pending)
        };
        if pending && let Err(e) = self.consumer.unassign() {
            tracing::warn!(error = %e, "giving up partitions at close");
        }
        if self.grouped {
            self.consumer.unsubscribe();
        }
        // Dropping the consumer closes it: it leaves the group and waits for that.
        drop(self);
        Ok(())
    }
}
