//! The native producer, shaped after Kafka's Java `KafkaProducer`: records are partitioned
//! (murmur2 of the key, or sticky for keyless records), accumulated per partition into v2
//! batches up to `batch.size`, and appended when a batch fills, after `linger.ms`, or on
//! [`Producer::flush`]. Idempotence is on by default, as in the Java client: every batch
//! carries the producer id, epoch and sequence, so the broker drops a batch sent twice.
//!
//! `send` returns at once with a [`DeliveryFuture`]; awaiting it is optional. The per-record
//! path allocates nothing but the record's bytes in the batch: the future shares its batch's
//! result slot.
//!
//! With a `transactional.id`, the producer is transactional, as Kafka's: [`Producer::init_transactions`]
//! once (fencing older producers of the id), then per transaction [`Producer::begin_transaction`],
//! sends, optionally [`Producer::send_offsets_to_transaction`], and
//! [`Producer::commit_transaction`] or [`Producer::abort_transaction`]. A partition joins the
//! transaction (AddPartitionsToTxn) before its first batch is written.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage::record::{BatchBuilder, Compression, Header};

use super::consumer::ConsumerGroupMetadata;
use super::error::ClientError;
use super::partitioner::{Xorshift, partition_for_key};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group::{Generation, PartitionOffset, TxnCommitRequest};
use crate::partition::Acks;
use crate::topic::{TopicName, TopicPartition};
use crate::txn::{TransactionCoordinator, TxnError};

/// Producer settings with the Java client's names and defaults.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub client_id: String,
    /// `acks` (default all).
    pub acks: Acks,
    /// `linger.ms` (default 5 ms since Kafka 4.0).
    pub linger: Duration,
    /// `batch.size` (default 16384).
    pub batch_size: usize,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `max.request.size` (default 1 MiB): the largest record accepted.
    pub max_request_size: usize,
    /// `transactional.id` (default none): makes the producer transactional.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60 s): the coordinator aborts a transaction open
    /// longer than this.
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client_id: "producer".into(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            compression: Compression::None,
            enable_idempotence: true,
            max_request_size: 1_048_576,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }
}

/// How a producer takes the batches a caller builds itself ([`Appender::send_built`]) for
/// one topic: the caller partitions its records as the producer would and fills batches as
/// the producer would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchFormat {
    /// The topic's partition count, as this producer partitions by.
    pub partitions: i32,
    /// `batch.size`.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
}

/// A record to send. Without a partition, the partitioner picks one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// CreateTime in ms; now when unset.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, Some(value.into())));
        self
    }

    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// A tombstone: a key with a null value.
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

/// Where a record was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: TopicName,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// Why a send failed. Shared by every record of the failed batch.
pub type SendError = Arc<ClientError>;

/// The outcome of one batch, shared by the futures of its records.
#[derive(Debug)]
struct BatchSlot {
    topic: TopicName,
    partition: i32,
    /// (base offset, LogAppendTime or -1), or the error.
    result: OnceLock<Result<(i64, i64), SendError>>,
    wakers: Mutex<Vec<Waker>>,
}

impl BatchSlot {
    fn complete(&self, result: Result<(i64, i64), SendError>) {
        let _ = self.result.set(result);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves to the record's metadata once its batch is stored.
#[derive(Debug)]
#[must_use = "a send completes without being awaited, but its outcome is only seen through the future"]
pub struct DeliveryFuture {
    slot: Arc<BatchSlot>,
    delta: i32,
    timestamp: i64,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ready = |r: &Result<(i64, i64), SendError>| {
            r.clone().map(|(base, append_time)| RecordMetadata {
                topic: self.slot.topic.clone(),
                partition: self.slot.partition,
                offset: base + i64::from(self.delta),
                timestamp: if append_time >= 0 {
                    append_time
                } else {
                    self.timestamp
                },
            })
        };
        if let Some(r) = self.slot.result.get() {
            return Poll::Ready(ready(r));
        }
        self.slot
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cx.waker().clone());
        match self.slot.result.get() {
            Some(r) => Poll::Ready(ready(r)),
            None => Poll::Pending,
        }
    }
}

#[derive(Debug)]
struct OpenBatch {
    builder: BatchBuilder,
    slot: Arc<BatchSlot>,
    created: Instant,
}

/// One partition's queue: its open batch and the next sequence number.
#[derive(Debug, Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    next_sequence: i32,
}

#[derive(Debug)]
struct TopicQueues {
    name: TopicName,
    partitions: Vec<PartitionQueue>,
    /// Keyless records go to this partition until a batch fills (KIP-480).
    sticky: i32,
}

/// Where a transactional producer is in its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxnPhase {
    /// `init_transactions` not called yet.
    Uninitialized,
    Ready,
    InTransaction,
    /// Fenced by a newer producer of the id: nothing more can be done with this producer.
    Fenced,
}

#[derive(Debug)]
struct TxnClient {
    transactional_id: String,
    phase: TxnPhase,
    /// Partitions added to the open transaction.
    added: HashSet<TopicPartition>,
    /// Anything (a partition or offsets) was added: the transaction exists at the coordinator.
    started: bool,
}

#[derive(Debug)]
struct Accumulator {
    producer_id: i64,
    producer_epoch: i16,
    txn: Option<TxnClient>,
    topics: Vec<TopicQueues>,
    /// Topic name → index in `topics`.
    index: HashMap<String, usize>,
    /// The last topic sent to, checked before hashing: most producers write one topic.
    last: Option<usize>,
    rng: Xorshift,
}

impl Accumulator {
    fn topic_index(&mut self, broker: &Broker, topic: &str) -> Result<usize, ClientError> {
        if let Some(i) = self.last
            && self.topics[i].name.as_str() == topic
        {
            return Ok(i);
        }
        let i = match self.index.get(topic) {
            Some(&i) => i,
            None => {
                let t = broker.topic_or_create(topic)?;
                let count = t.partition_count();
                self.topics.push(TopicQueues {
                    name: t.name.clone(),
                    partitions: (0..count).map(|_| PartitionQueue::default()).collect(),
                    sticky: self.rng.below(count),
                });
                self.index.insert(topic.to_string(), self.topics.len() - 1);
                self.topics.len() - 1
            }
        };
        self.last = Some(i);
        Ok(i)
    }
}

#[derive(Debug)]
struct Inner {
    broker: Broker,
    coordinator: Option<Arc<TransactionCoordinator>>,
    config: ProducerConfig,
    acc: Mutex<Accumulator>,
    /// The first batch failure since [`Producer::take_failure`] last looked: how senders that
    /// do not keep a future per record learn of failures (Kafka Streams' RecordCollector
    /// keeps the first send exception the same way).
    first_failure: Mutex<Option<SendError>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Producer {
    inner: Arc<Inner>,
    linger_task: Option<tokio::task::JoinHandle<()>>,
}

impl Producer {
    /// Creates a producer on `broker`. Must be called within a tokio runtime (the linger timer
    /// runs on it). A transactional producer needs [`Producer::with_coordinator`].
    pub fn new(broker: Broker, config: ProducerConfig) -> Result<Producer, BrokerError> {
        Producer::with_coordinator(broker, None, config)
    }

    /// Creates a producer that may be transactional, with the cluster's transaction
    /// coordinator.
    pub fn with_coordinator(
        broker: Broker,
        coordinator: Option<Arc<TransactionCoordinator>>,
        config: ProducerConfig,
    ) -> Result<Producer, BrokerError> {
        let invalid = |key: &str, value: String, reason: &str| BrokerError::InvalidConfig {
            key: key.into(),
            value,
            reason: reason.into(),
        };
        let txn = match &config.transactional_id {
            None => None,
            Some(id) => {
                if coordinator.is_none() {
                    return Err(invalid(
                        "transactional.id",
                        id.clone(),
                        "no transaction coordinator",
                    ));
                }
                if !config.enable_idempotence {
                    return Err(invalid(
                        "enable.idempotence",
                        "false".into(),
                        "a transactional producer is idempotent, as in the Java client",
                    ));
                }
                Some(TxnClient {
                    transactional_id: id.clone(),
                    phase: TxnPhase::Uninitialized,
                    added: HashSet::new(),
                    started: false,
                })
            }
        };
        let (producer_id, producer_epoch) = if txn.is_some() {
            if config.acks != Acks::All {
                return Err(invalid(
                    "acks",
                    format!("{:?}", config.acks),
                    "a transactional producer requires acks=all",
                ));
            }
            // Assigned by init_transactions.
            (-1, -1)
        } else if config.enable_idempotence {
            if config.acks != Acks::All {
                return Err(BrokerError::InvalidConfig {
                    key: "acks".into(),
                    value: format!("{:?}", config.acks),
                    reason: "idempotence requires acks=all, as in the Java client".into(),
                });
            }
            broker.init_producer_id()?
        } else {
            (-1, -1)
        };
        let inner = Arc::new(Inner {
            broker,
            coordinator,
            config,
            acc: Mutex::new(Accumulator {
                producer_id,
                producer_epoch,
                txn,
                topics: Vec::new(),
                index: HashMap::new(),
                last: None,
                rng: Xorshift::seeded(),
            }),
            first_failure: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let linger = inner.config.linger.max(Duration::from_millis(1));
        let linger_task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(linger).await;
                let Some(inner) = weak.upgrade() else { return };
                inner.send_due(linger);
            }
        });
        Ok(Producer {
            inner,
            linger_task: Some(linger_task),
        })
    }

    pub fn producer_id(&self) -> (i64, i16) {
        let acc = self.inner.lock_acc();
        (acc.producer_id, acc.producer_epoch)
    }

    /// Registers the `transactional.id` with the coordinator: takes its producer id and a new
    /// epoch, which fences every older producer of the id and aborts its open transaction.
    pub async fn init_transactions(&self) -> Result<(), ClientError> {
        let (coordinator, id) = self.inner.transactional()?;
        let timeout_ms = i32::try_from(self.inner.config.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
        let (producer_id, epoch) = coordinator.init_producer_id(&id, timeout_ms, None)?;
        let mut acc = self.inner.lock_acc();
        acc.producer_id = producer_id;
        acc.producer_epoch = epoch;
        for topic in &mut acc.topics {
            for queue in &mut topic.partitions {
                queue.next_sequence = 0;
                queue.open = None;
            }
        }
        if let Some(txn) = &mut acc.txn {
            txn.phase = TxnPhase::Ready;
            txn.added.clear();
            txn.started = false;
        }
        Ok(())
    }

    /// Starts a transaction: the records sent until commit or abort belong to it.
    pub fn begin_transaction(&self) -> Result<(), ClientError> {
        let mut acc = self.inner.lock_acc();
        let txn = acc.txn.as_mut().ok_or_else(not_transactional)?;
        match txn.phase {
            TxnPhase::Ready => {
                txn.phase = TxnPhase::InTransaction;
                Ok(())
            }
            phase => Err(txn_state(&txn.transactional_id, phase, "begin a transaction")),
        }
    }

    /// Adds consumed offsets to the open transaction: they become the group's committed
    /// offsets if and when the transaction commits (Kafka's `sendOffsetsToTransaction`).
    /// `offsets` are the next offsets to consume, per partition.
    pub async fn send_offsets_to_transaction(
        &self,
        offsets: &[(TopicPartition, i64)],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), ClientError> {
        let (coordinator, id) = self.inner.transactional()?;
        let (producer_id, epoch) = {
            let mut acc = self.inner.lock_acc();
            let (pid, epoch) = (acc.producer_id, acc.producer_epoch);
            let txn = acc.txn.as_mut().ok_or_else(not_transactional)?;
            if txn.phase != TxnPhase::InTransaction {
                return Err(txn_state(&id, txn.phase, "send offsets"));
            }
            txn.started = true;
            (pid, epoch)
        };
        let result = coordinator.add_offsets(&id, producer_id, epoch, &group.group_id);
        self.inner.fenced_on(&result);
        result?;
        let request = TxnCommitRequest {
            group_id: group.group_id.clone(),
            producer_id,
            producer_epoch: epoch,
            generation: Generation(group.generation_id),
            member_id: group.member_id.clone(),
            group_instance_id: group.group_instance_id.clone(),
            offsets: offsets
                .iter()
                .map(|(tp, offset)| PartitionOffset::new(tp.topic.clone(), tp.partition, *offset))
                .collect(),
        };
        let results = coordinator.txn_offset_commit(&id, request).await?;
        match results.into_iter().find_map(|(_, r)| r.err()) {
            Some(e) => Err(ClientError::Group(e)),
            None => Ok(()),
        }
    }

    /// Sends what is queued and commits the open transaction. If a send of the transaction
    /// failed, nothing is committed and the error is returned: abort the transaction then.
    pub async fn commit_transaction(&self) -> Result<(), ClientError> {
        self.inner.end_transaction(true)
    }

    /// Aborts the open transaction: queued records are dropped, written ones are marked
    /// aborted (read_committed consumers never see them).
    pub async fn abort_transaction(&self) -> Result<(), ClientError> {
        self.inner.end_transaction(false)
    }

    /// Queues `record` and returns a future for its metadata. Fails at once only for what
    /// can be known at once: an invalid or unknown topic or partition, or a record larger than
    /// `max.request.size`.
    pub fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, SendError> {
        self.inner.send(record).map_err(Arc::new)
    }

    /// Queues a record without a future for its outcome: a failure shows in
    /// [`Producer::take_failure`]. For senders of many records that only need to know, at
    /// their next commit, whether all were stored.
    pub fn send_unobserved(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(), SendError> {
        self.appender()
            .send_unobserved(topic, partition, key, value, headers, timestamp)
    }

    /// How [`Appender::send_built`] takes batches for `topic`; `None` if the topic does not
    /// exist (this does not create it, as a first send to it may).
    pub fn batch_format(&self, topic: &str) -> Option<BatchFormat> {
        self.inner.broker.topic(topic).ok()?;
        let mut appender = self.appender();
        let TopicSlot(ti) = appender.topic(topic).ok()?;
        Some(BatchFormat {
            partitions: appender.acc.topics[ti].partitions.len() as i32,
            batch_size: self.inner.config.batch_size,
            compression: self.inner.config.compression,
        })
    }

    /// An [`Appender`]: [`send_unobserved`](Self::send_unobserved) for a run of records under
    /// one lock of the accumulator, for a sender that hands over many records at a time (a
    /// stream thread's output after each poll). Other calls on this producer wait until it is
    /// dropped.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            inner: &self.inner,
            acc: self.inner.lock_acc(),
        }
    }

    /// The first batch that failed since the last call, if any.
    pub fn take_failure(&self) -> Option<SendError> {
        self.inner
            .first_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Sends every queued batch now and waits until all are stored.
    pub async fn flush(&self) {
        self.inner.send_due(Duration::ZERO);
    }

    /// Flushes and stops the linger timer.
    pub async fn close(mut self) {
        self.flush().await;
        if let Some(task) = self.linger_task.take() {
            task.abort();
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.inner.send_due(Duration::ZERO);
        if let Some(task) = self.linger_task.take() {
            task.abort();
        }
    }
}

/// Appends records to a [`Producer`]'s batches holding its lock (see [`Producer::appender`]).
pub struct Appender<'a> {
    inner: &'a Inner,
    acc: std::sync::MutexGuard<'a, Accumulator>,
}

impl std::fmt::Debug for Appender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").finish_non_exhaustive()
    }
}

impl Appender<'_> {
    /// As [`Producer::send_unobserved`].
    pub fn send_unobserved(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(), SendError> {
        self.append(TopicRef::Name(topic), partition, key, value, headers, timestamp)
    }

    /// Looks `topic` up (created if the broker auto-creates topics) for
    /// [`send_unobserved_to`](Self::send_unobserved_to), which then skips the lookup by name
    /// (a comparison of the topic's name per record was a tenth of a stream thread's send).
    pub fn topic(&mut self, topic: &str) -> Result<TopicSlot, SendError> {
        self.acc
            .topic_index(&self.inner.broker, topic)
            .map(TopicSlot)
            .map_err(Arc::new)
    }

    /// [`send_unobserved`](Self::send_unobserved) to a topic [`topic`](Self::topic) found
    /// on this producer.
    pub fn send_unobserved_to(
        &mut self,
        topic: TopicSlot,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(), SendError> {
        self.append(TopicRef::Slot(topic), partition, key, value, headers, timestamp)
    }

    /// Appends `batch`, records for `partition` of `topic` that the caller partitioned and
    /// encoded itself (see [`Producer::batch_format`]), now, after the partition's open
    /// batch: the partition's records reach the log in the order they were handed over. The
    /// batch carries no producer fields; this producer stamps its id, epoch, next sequence
    /// and transaction on it. A failure to store it shows in [`Producer::take_failure`], as
    /// for [`send_unobserved`](Self::send_unobserved).
    ///
    /// For a sender that encodes its records as it makes them (a stream thread's sinks): a
    /// record then costs one copy into a batch, not a copy into a queue and another into the
    /// producer's batch.
    pub fn send_built(
        &mut self,
        topic: TopicSlot,
        partition: i32,
        batch: BatchBuilder,
    ) -> Result<(), SendError> {
        self.inner
            .send_built_locked(&mut self.acc, topic, partition, batch)
            .map_err(Arc::new)
    }

    fn append(
        &mut self,
        topic: TopicRef<'_>,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(), SendError> {
        self.inner
            .append_locked(
                &mut self.acc,
                topic,
                partition,
                key,
                value,
                headers,
                timestamp,
                |_| (),
            )
            .map(drop)
            .map_err(Arc::new)
    }
}

/// A topic of one producer, found by [`Appender::topic`]: valid for that producer only (a
/// producer keeps every topic it has sent to, so the slot does not go stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSlot(usize);

/// How an append names its topic.
#[derive(Debug, Clone, Copy)]
enum TopicRef<'a> {
    Name(&'a str),
    Slot(TopicSlot),
}

impl Inner {
    fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        let (slot, delta, timestamp) = self.append(
            &record.topic,
            record.partition,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
            record.timestamp,
            Arc::clone,
        )?;
        Ok(DeliveryFuture {
            slot,
            delta,
            timestamp,
        })
    }

    /// Appends one record to its partition's open batch: (what `keep` takes of the batch's
    /// slot, the record's offset delta in it, its timestamp). A delivery future clones the
    /// slot; an unobserved send takes nothing, so it costs no reference-count traffic.
    #[allow(clippy::too_many_arguments)]
    fn append<T>(
        &self,
        topic_name: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
        keep: impl FnOnce(&Arc<BatchSlot>) -> T,
    ) -> Result<(T, i32, i64), ClientError> {
        let mut acc = self.lock_acc();
        let topic = TopicRef::Name(topic_name);
        self.append_locked(&mut acc, topic, partition, key, value, headers, timestamp, keep)
    }

    /// [`Inner::append`] with the accumulator already locked.
    #[allow(clippy::too_many_arguments)]
    fn append_locked<T>(
        &self,
        acc: &mut Accumulator,
        topic: TopicRef<'_>,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
        keep: impl FnOnce(&Arc<BatchSlot>) -> T,
    ) -> Result<(T, i32, i64), ClientError> {
        let timestamp = timestamp.unwrap_or_else(|| self.broker.clock().now_ms());
        let size = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        if size + 100 > self.config.max_request_size {
            return Err(ClientError::from(BrokerError::Storage(
                storage::StorageError::MessageTooLarge {
                    position: 0,
                    size,
                    max: self.config.max_request_size,
                },
            )));
        }
        check_sendable(acc)?;
        let ti = match topic {
            TopicRef::Name(name) => acc.topic_index(&self.broker, name)?,
            TopicRef::Slot(TopicSlot(ti)) if ti < acc.topics.len() => ti,
            TopicRef::Slot(TopicSlot(ti)) => {
                return Err(ClientError::from(BrokerError::UnknownTopicOrPartition {
                    topic: format!("<topic slot {ti} of another producer>"),
                    partition: partition.unwrap_or(-1),
                }));
            }
        };
        let count = acc.topics[ti].partitions.len() as i32;
        let partition = match (partition, key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                return Err(ClientError::from(BrokerError::UnknownTopicOrPartition {
                    topic: acc.topics[ti].name.to_string(),
                    partition: p,
                }));
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => acc.topics[ti].sticky,
        };
        let pi = partition as usize;
        // A record that does not fit the open batch closes it first.
        if let Some(open) = &acc.topics[ti].partitions[pi].open
            && !open.builder.is_empty()
            && open.builder.estimated_size() + size + 64 > self.config.batch_size
        {
            self.send_batch(acc, ti, pi);
        }
        let (producer_id, producer_epoch) = (acc.producer_id, acc.producer_epoch);
        let transactional = acc.txn.is_some();
        let topic = &mut acc.topics[ti];
        let name = &topic.name;
        let queue = &mut topic.partitions[pi];
        let seq = queue.next_sequence;
        let open = queue.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::with_capacity(self.config.compression, self.config.batch_size)
                .with_producer(
                    producer_id,
                    producer_epoch,
                    if producer_id >= 0 { seq } else { -1 },
                )
                .with_transactional(transactional),
            slot: Arc::new(BatchSlot {
                topic: name.clone(),
                partition,
                result: OnceLock::new(),
                wakers: Mutex::new(Vec::new()),
            }),
            created: Instant::now(),
        });
        let delta = open.builder.append(timestamp, key, value, headers);
        let slot = keep(&open.slot);
        if open.builder.estimated_size() >= self.config.batch_size {
            self.send_batch(acc, ti, pi);
        }
        Ok((slot, delta, timestamp))
    }

    /// [`Appender::send_built`] with the accumulator locked.
    fn send_built_locked(
        &self,
        acc: &mut Accumulator,
        TopicSlot(ti): TopicSlot,
        partition: i32,
        batch: BatchBuilder,
    ) -> Result<(), ClientError> {
        if batch.is_empty() {
            return Ok(());
        }
        check_sendable(acc)?;
        let Some(topic) = acc.topics.get(ti) else {
            return Err(ClientError::from(BrokerError::UnknownTopicOrPartition {
                topic: format!("<topic slot {ti} of another producer>"),
                partition,
            }));
        };
        if !(0..topic.partitions.len() as i32).contains(&partition) {
            return Err(ClientError::from(BrokerError::UnknownTopicOrPartition {
                topic: topic.name.to_string(),
                partition,
            }));
        }
        let size = batch.estimated_size();
        if size > self.config.max_request_size {
            return Err(ClientError::from(BrokerError::Storage(
                storage::StorageError::MessageTooLarge {
                    position: 0,
                    size,
                    max: self.config.max_request_size,
                },
            )));
        }
        let pi = partition as usize;
        self.send_batch(acc, ti, pi);
        let (producer_id, producer_epoch) = (acc.producer_id, acc.producer_epoch);
        let transactional = acc.txn.is_some();
        let topic = &mut acc.topics[ti];
        let queue = &mut topic.partitions[pi];
        let seq = if producer_id >= 0 { queue.next_sequence } else { -1 };
        queue.open = Some(OpenBatch {
            builder: batch
                .with_producer(producer_id, producer_epoch, seq)
                .with_transactional(transactional),
            slot: Arc::new(BatchSlot {
                topic: topic.name.clone(),
                partition,
                result: OnceLock::new(),
                wakers: Mutex::new(Vec::new()),
            }),
            created: Instant::now(),
        });
        self.send_batch(acc, ti, pi);
        Ok(())
    }

    /// Appends the open batch of a partition (holding the accumulator lock, so batches of a
    /// partition reach the log in sequence order).
    fn send_batch(&self, acc: &mut Accumulator, ti: usize, pi: usize) {
        let count_partitions = acc.topics[ti].partitions.len() as i32;
        let (producer_id, producer_epoch) = (acc.producer_id, acc.producer_epoch);
        if acc.topics[ti].partitions[pi]
            .open
            .as_ref()
            .is_none_or(|o| o.builder.count() == 0)
        {
            return;
        }
        // A transaction's partition joins it before its first batch is written.
        if let Some(txn) = &mut acc.txn {
            let tp = TopicPartition::new(acc.topics[ti].name.clone(), pi as i32);
            if !txn.added.contains(&tp) {
                let added = match &self.coordinator {
                    Some(c) => c
                        .add_partitions(
                            &txn.transactional_id,
                            producer_id,
                            producer_epoch,
                            std::slice::from_ref(&tp),
                        )
                        .map_err(ClientError::from),
                    None => Err(not_transactional()),
                };
                if matches!(
                    &added,
                    Err(ClientError::Txn(
                        TxnError::ProducerFenced { .. } | TxnError::InvalidProducerIdMapping { .. }
                    ))
                ) {
                    txn.phase = TxnPhase::Fenced;
                }
                match added {
                    Ok(()) => {
                        txn.added.insert(tp);
                        txn.started = true;
                    }
                    Err(e) => {
                        let e = Arc::new(e);
                        self.first_failure
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert_with(|| e.clone());
                        if let Some(open) = acc.topics[ti].partitions[pi].open.take() {
                            open.slot.complete(Err(e));
                        }
                        return;
                    }
                }
            }
        }
        let topic = &mut acc.topics[ti];
        let Some(open) = topic.partitions[pi].open.take() else {
            return;
        };
        let count = open.builder.count();
        let queue = &mut topic.partitions[pi];
        if producer_id >= 0 {
            let seq = queue.next_sequence;
            queue.next_sequence = if seq > i32::MAX - count {
                count - (i32::MAX - seq) - 1
            } else {
                seq + count
            };
        }
        // KIP-480: keyless records move to another partition once a batch is sent.
        if topic.sticky == pi as i32 {
            topic.sticky = acc.rng.below(count_partitions);
        }
        let topic = &mut acc.topics[ti];
        let tp = TopicPartition::new(topic.name.clone(), pi as i32);
        let mut batch = open.builder.finish();
        let result = self
            .broker
            .produce_built(&tp, &mut batch, self.config.acks)
            .map(|r| (r.base_offset, r.log_append_time))
            .map_err(|e| Arc::new(ClientError::from(e)));
        if let Err(e) = &result {
            self.first_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.clone());
        }
        if result.is_err() && producer_id >= 0 {
            // The broker took none of it: the sequence continues where it was.
            let queue = &mut topic.partitions[pi];
            queue.next_sequence = queue.next_sequence.wrapping_sub(count);
        }
        open.slot.complete(result);
    }

    fn lock_acc(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        self.acc.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The coordinator and transactional id of a transactional producer.
    fn transactional(&self) -> Result<(Arc<TransactionCoordinator>, String), ClientError> {
        let acc = self.lock_acc();
        match (&self.coordinator, &acc.txn) {
            (Some(c), Some(txn)) => {
                if txn.phase == TxnPhase::Fenced {
                    return Err(txn_state(&txn.transactional_id, txn.phase, "continue"));
                }
                Ok((c.clone(), txn.transactional_id.clone()))
            }
            _ => Err(not_transactional()),
        }
    }

    /// Remembers that a newer producer of the id fenced this one.
    fn fenced_on<T>(&self, result: &Result<T, TxnError>) {
        if let Err(TxnError::ProducerFenced { .. }) = result
            && let Some(txn) = &mut self.lock_acc().txn
        {
            txn.phase = TxnPhase::Fenced;
        }
    }

    fn end_transaction(&self, commit: bool) -> Result<(), ClientError> {
        let (coordinator, id) = self.transactional()?;
        if commit {
            self.send_due(Duration::ZERO);
        }
        let mut acc = self.lock_acc();
        let (producer_id, epoch) = (acc.producer_id, acc.producer_epoch);
        let phase = acc.txn.as_ref().map_or(TxnPhase::Uninitialized, |t| t.phase);
        if phase != TxnPhase::InTransaction {
            return Err(txn_state(&id, phase, if commit { "commit" } else { "abort" }));
        }
        let failure = self
            .first_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if commit && let Some(e) = failure {
            // Kafka: a transaction with a failed send can only be aborted.
            *self.first_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
            return Err(TxnError::InvalidTxnState {
                transactional_id: id,
                state: "failed",
                operation: "commit (a send of the transaction failed; abort it)",
            }
            .into());
        }
        if !commit {
            // Queued records of an aborted transaction are never written.
            let aborted = Arc::new(ClientError::from(TxnError::InvalidTxnState {
                transactional_id: id.clone(),
                state: "aborted",
                operation: "send",
            }));
            for topic in &mut acc.topics {
                for queue in &mut topic.partitions {
                    if let Some(open) = queue.open.take() {
                        open.slot.complete(Err(aborted.clone()));
                    }
                }
            }
        }
        let started = acc.txn.as_ref().is_some_and(|t| t.started);
        let result = if started {
            coordinator.end_txn(&id, producer_id, epoch, commit)
        } else {
            Ok(())
        };
        if let Some(txn) = &mut acc.txn {
            match &result {
                Ok(()) => {
                    txn.phase = TxnPhase::Ready;
                    txn.added.clear();
                    txn.started = false;
                }
                Err(TxnError::ProducerFenced { .. }) | Err(TxnError::InvalidProducerIdMapping { .. }) => {
                    txn.phase = TxnPhase::Fenced
                }
                Err(_) => {}
            }
        }
        Ok(result?)
    }

    /// Sends every open batch at least `age` old.
    fn send_due(&self, age: Duration) {
        let mut acc = self.lock_acc();
        for ti in 0..acc.topics.len() {
            for pi in 0..acc.topics[ti].partitions.len() {
                if acc.topics[ti].partitions[pi]
                    .open
                    .as_ref()
                    .is_some_and(|b| b.created.elapsed() >= age)
                {
                    self.send_batch(&mut acc, ti, pi);
                }
            }
        }
    }
}

fn not_transactional() -> ClientError {
    ClientError::Broker(BrokerError::InvalidConfig {
        key: "transactional.id".into(),
        value: String::new(),
        reason: "the producer is not transactional".into(),
    })
}

/// A transactional producer sends only inside a transaction.
fn check_sendable(acc: &Accumulator) -> Result<(), ClientError> {
    match &acc.txn {
        Some(txn) if txn.phase != TxnPhase::InTransaction => {
            Err(txn_state(&txn.transactional_id, txn.phase, "send"))
        }
        _ => Ok(()),
    }
}

fn txn_state(transactional_id: &str, phase: TxnPhase, operation: &'static str) -> ClientError {
    let state = match phase {
        TxnPhase::Uninitialized => "uninitialized (call init_transactions)",
        TxnPhase::Ready => "ready (no transaction begun)",
        TxnPhase::InTransaction => "in a transaction",
        TxnPhase::Fenced => "fenced by a newer producer",
    };
    ClientError::Txn(TxnError::InvalidTxnState {
        transactional_id: transactional_id.to_string(),
        state,
        operation,
    })
}
