//! The embedded backend: the broker in this process, through `stream_core`'s clients. Their
//! async calls are driven with the current tokio runtime's handle (the callers are stream
//! threads or the blocking pool, never async tasks). A task's records go into its producer's
//! batches as they are written ([`sink`]).

mod batches;
mod sink;

use std::sync::Arc;
use std::time::Duration;

use stream_core::broker::TxnRefusal;
use stream_core::client::ClientError as CoreError;
use stream_core::client::consumer::{Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord};
use stream_core::client::producer::{Producer, ProducerConfig};
use stream_core::error::BrokerError;
use stream_core::group::{GroupError, PartitionOffset};
use stream_core::partition::IsolationLevel;
use stream_core::txn::TxnError;
use stream_core::{Cluster, TopicPartition};
use tokio::runtime::Handle;

use super::{ClientError, ClientSupplier, ErrorKind, GroupMetadata, InRecord, LogConsumer, LogProducer};
use crate::error::Result;
use crate::processor::RecordSink;

#[derive(Debug)]
pub(crate) struct Embedded {
    cluster: Cluster,
}

impl Embedded {
    pub fn new(cluster: Cluster) -> Embedded {
        Embedded { cluster }
    }
}

impl ClientSupplier for Embedded {
    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn LogConsumer>> {
        Ok(Box::new(EmbeddedConsumer(self.cluster.consumer(config))))
    }

    fn producer(
        &self,
        client_id: &str,
        transactional: Option<(String, Duration)>,
    ) -> Result<Box<dyn LogProducer>> {
        // Kafka Streams' producer default (`linger.ms=100`, over the plain producer's 5), as
        // the Kafka backend sets it: a partial batch of a repartition or sink topic waits for
        // more records rather than going out after 5 ms. A commit flushes regardless. Kept
        // for parity, not speed (measured: docs/performance.md#what-was-changed-and-kept).
        let mut config = ProducerConfig {
            client_id: client_id.to_owned(),
            linger: Duration::from_millis(100),
            ..Default::default()
        };
        if let Some((id, timeout)) = transactional {
            config.transactional_id = Some(id);
            config.transaction_timeout = timeout;
        }
        Ok(Box::new(EmbeddedProducer(Arc::new(
            self.cluster.producer(config)?,
        ))))
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        match self.cluster.admin().describe_topic(topic) {
            Ok(d) => Ok(Some(d.partitions.len() as i32)),
            Err(BrokerError::UnknownTopicOrPartition { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        match self
            .cluster
            .admin()
            .create_topic(topic, partitions, configs.iter().copied())
        {
            Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn end_offset(&self, tp: &TopicPartition, isolation: IsolationLevel) -> Result<i64> {
        Ok(self.cluster.broker().list_offset_with(tp, -1, isolation)?.0)
    }

    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.cluster.broker().delete_records(tp, offset)?;
        Ok(())
    }
}

struct EmbeddedConsumer(Consumer);

impl LogConsumer for EmbeddedConsumer {
    fn subscribe(&mut self, topics: Vec<String>) -> Result<()> {
        Ok(self.0.subscribe(topics)?)
    }

    fn assign(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.0.assign([tp.clone()])?;
        Ok(self.0.seek(tp, offset)?)
    }

    fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        Ok(Handle::current().block_on(self.0.poll(timeout))?)
    }

    fn poll_buffered(&mut self, timeout: Duration) -> Result<bool> {
        Ok(Handle::current().block_on(self.0.poll_buffered(timeout))?)
    }

    fn poll_each(&mut self, each: &mut dyn FnMut(InRecord<'_>) -> Result<()>) -> Result<usize> {
        self.0.poll_each(|r| {
            each(InRecord {
                topic: r.topic,
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r.headers(),
            })
        })
    }

    fn rebalance_pending(&self) -> bool {
        self.0.rebalance_pending()
    }

    fn generation(&self) -> Option<i32> {
        self.0.group_metadata().map(|g| g.generation_id)
    }

    /// Outside a generation (not joined yet) the group id alone: the coordinator then
    /// checks no member (pre-KIP-447).
    fn group_metadata(&self) -> Option<GroupMetadata> {
        self.0
            .group_metadata()
            .or_else(|| self.0.config().group_id.clone().map(ConsumerGroupMetadata::new))
            .map(GroupMetadata::Embedded)
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.0.assignment()
    }

    fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<(TopicPartition, Option<i64>)>> {
        Ok(Handle::current().block_on(self.0.committed(partitions))?)
    }

    fn seek(&mut self, tp: &TopicPartition, offset: Option<i64>) -> Result<()> {
        match offset {
            Some(offset) => Ok(self.0.seek(tp, offset)?),
            None => Ok(self.0.seek_to_beginning(tp)?),
        }
    }

    fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        Ok(Handle::current().block_on(self.0.position(tp))?)
    }

    fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        let request = offsets
            .iter()
            .map(|(tp, o)| PartitionOffset::new(tp.topic.clone(), tp.partition, *o))
            .collect();
        Ok(Handle::current().block_on(self.0.commit_offsets(request))?)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(Handle::current().block_on(self.0.close())?)
    }
}

/// Shared with its tasks' sinks, which append to its batches.
struct EmbeddedProducer(Arc<Producer>);

impl LogProducer for EmbeddedProducer {
    fn init_transactions(&mut self) -> Result<(), ClientError> {
        Handle::current()
            .block_on(self.0.init_transactions())
            .map_err(|e| classify(Arc::new(e)))
    }

    fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.0.begin_transaction().map_err(|e| classify(Arc::new(e)))
    }

    fn sink(&self) -> Box<dyn RecordSink> {
        Box::new(sink::BatchingSink::new(&self.0))
    }

    fn take_failure(&mut self) -> Option<ClientError> {
        self.0.take_failure().map(classify)
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        Handle::current().block_on(self.0.flush());
        Ok(())
    }

    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, i64)],
        group: &GroupMetadata,
    ) -> Result<(), ClientError> {
        let group = group.embedded()?;
        Handle::current()
            .block_on(self.0.send_offsets_to_transaction(offsets, group))
            .map_err(|e| classify(Arc::new(e)))
    }

    fn commit_transaction(&mut self) -> Result<(), ClientError> {
        Handle::current()
            .block_on(self.0.commit_transaction())
            .map_err(|e| classify(Arc::new(e)))
    }

    fn abort_transaction(&mut self) -> Result<(), ClientError> {
        Handle::current()
            .block_on(self.0.abort_transaction())
            .map_err(|e| classify(Arc::new(e)))
    }
}

fn classify(e: Arc<CoreError>) -> ClientError {
    let kind = match &*e {
        CoreError::Txn(TxnError::ProducerFenced { .. } | TxnError::InvalidProducerIdMapping { .. })
        | CoreError::Broker(
            BrokerError::InvalidProducerEpoch { .. }
            | BrokerError::TxnRefused {
                reason: TxnRefusal::ProducerFenced { .. } | TxnRefusal::UnknownProducerId,
                ..
            },
        )
        | CoreError::Group(
            GroupError::IllegalGeneration { .. } | GroupError::UnknownMemberId | GroupError::FencedInstanceId,
        ) => ErrorKind::Fenced,
        CoreError::Txn(TxnError::ConcurrentTransactions { .. }) => ErrorKind::ConcurrentTransactions,
        _ => ErrorKind::Other,
    };
    ClientError { kind, source: e }
}
