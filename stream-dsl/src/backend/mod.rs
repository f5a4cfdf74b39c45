//! The backend: the log an application runs on, the embedded cluster or any Kafka-protocol
//! cluster.
//!
//! ```text
//!   Streams ── Backend ──┬─ embedded: stream_core::Cluster, the broker in this process
//!                        └─ Kafka:    KafkaCluster, librdkafka (rdkafka) over the network,
//!                                     to `runnel serve`, Apache Kafka or any compatible one
//! ```
//!
//! "Client" means here what it means in Kafka and in `stream_core`: a consumer, a producer,
//! an admin client. A backend supplies them. The runtime sees one interface: a `LogConsumer`
//! per stream thread (and per restore), a `LogProducer` per stream thread, a record sink per
//! task (the producer's, see [`crate::processor`]), and the admin calls of the
//! `ClientSupplier` (crate-private traits, see below). Every call is blocking: stream threads
//! are OS threads, and [`Streams::start`](crate::Streams::start) runs its topic preparation on
//! the blocking pool.
//!
//! The design's `Cluster::connect(addr)` is [`KafkaCluster::connect`] here: `Cluster` is
//! `stream_core`'s in-process broker, and `stream_core` knows nothing of the DSL's network
//! client (dependencies point down).
//!
//! [`Backend`] is the public handle. The design names it a trait; it is a struct over a
//! crate-private trait instead, so that the consumer and producer interfaces (which carry
//! runtime-internal types) stay private and users cannot depend on them.

mod embedded;
mod kafka;

use std::sync::Arc;
use std::time::Duration;

use storage::record::Header;
use stream_core::client::consumer::{ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord};
use stream_core::partition::IsolationLevel;
use stream_core::{Cluster, TopicName, TopicPartition};

pub use kafka::KafkaCluster;

use crate::error::Result;
use crate::processor::RecordSink;

/// The cluster a [`Streams`](crate::Streams) application reads and writes: built from a
/// `&Cluster` (embedded, the default) or a [`KafkaCluster`] (`runnel serve`, Apache Kafka).
///
/// Named for what it is, the backend the application runs on; a Kafka Streams application
/// picks the same thing with `bootstrap.servers` and, rarely, a `KafkaClientSupplier`. It is
/// no client itself: it supplies the clients (see the module docs).
#[derive(Debug, Clone)]
pub struct Backend(pub(crate) Arc<dyn ClientSupplier>);

impl From<&Cluster> for Backend {
    fn from(cluster: &Cluster) -> Backend {
        Backend(Arc::new(embedded::Embedded::new(cluster.clone())))
    }
}

impl From<Cluster> for Backend {
    fn from(cluster: Cluster) -> Backend {
        Backend::from(&cluster)
    }
}

impl From<&KafkaCluster> for Backend {
    fn from(cluster: &KafkaCluster) -> Backend {
        Backend(Arc::new(cluster.clone()))
    }
}

impl From<KafkaCluster> for Backend {
    fn from(cluster: KafkaCluster) -> Backend {
        Backend(Arc::new(cluster))
    }
}

/// What the runtime needs of a cluster: its clients, as Kafka Streams'
/// `KafkaClientSupplier` hands `KafkaStreams` its consumers and producers, and the few admin
/// calls the runtime makes itself. Blocking calls (see the module docs).
pub(crate) trait ClientSupplier: Send + Sync + std::fmt::Debug {
    /// A consumer; with `group_id` set, a group member using the range assignor.
    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn LogConsumer>>;
    /// An idempotent producer; with `transactional` (id, `transaction.timeout.ms`), a
    /// transactional one.
    fn producer(
        &self,
        client_id: &str,
        transactional: Option<(String, Duration)>,
    ) -> Result<Box<dyn LogProducer>>;
    /// The topic's partition count, `None` if it does not exist.
    fn partitions(&self, topic: &str) -> Result<Option<i32>>;
    /// Creates a topic; one that exists already is not an error.
    fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()>;
    /// The partition's end as `isolation` sees it (read_committed: its last stable offset).
    fn end_offset(&self, tp: &TopicPartition, isolation: IsolationLevel) -> Result<i64>;
    /// Deletes the partition's records below `offset` (DeleteRecords).
    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<()>;
}

/// The group a consumer belongs to, for `send_offsets_to_transaction` (KIP-447: the
/// coordinator checks the member and generation).
pub(crate) enum GroupMetadata {
    Embedded(ConsumerGroupMetadata),
    Kafka(rdkafka::consumer::ConsumerGroupMetadata),
}

impl GroupMetadata {
    /// The embedded consumer's group, for the embedded producer.
    pub fn embedded(&self) -> Result<&ConsumerGroupMetadata, ClientError> {
        match self {
            GroupMetadata::Embedded(group) => Ok(group),
            GroupMetadata::Kafka(_) => Err(another_clusters_group()),
        }
    }

    /// The librdkafka consumer's group, for the librdkafka producer.
    pub fn kafka(&self) -> Result<&rdkafka::consumer::ConsumerGroupMetadata, ClientError> {
        match self {
            GroupMetadata::Kafka(group) => Ok(group),
            GroupMetadata::Embedded(_) => Err(another_clusters_group()),
        }
    }
}

fn another_clusters_group() -> ClientError {
    ClientError::other("the group metadata of another cluster's consumer")
}

/// A consumed record as [`LogConsumer::poll_each`] lends it.
#[derive(Debug)]
pub(crate) struct InRecord<'a> {
    pub topic: &'a TopicName,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<Header>,
}

impl<'a> InRecord<'a> {
    pub fn of(r: &'a ConsumerRecord) -> InRecord<'a> {
        InRecord {
            topic: &r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: r.headers.clone(),
        }
    }
}

pub(crate) trait LogConsumer: Send {
    fn subscribe(&mut self, topics: Vec<String>) -> Result<()>;
    /// Assigns one partition (no group), fetching from `offset`.
    fn assign(&mut self, tp: &TopicPartition, offset: i64) -> Result<()>;
    /// Up to `max.poll.records` records, in runs of one partition.
    fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>>;
    /// [`poll`](Self::poll) in two steps, for the stream thread, which looks at the group's
    /// generation and its tasks between them: `poll_buffered` joins, fetches and waits as
    /// `poll` does and says whether records are waiting; `poll_each` hands up to
    /// `max.poll.records` of them to `each` in order (stopping at its first error) and returns
    /// how many. The embedded backend lends them straight from the fetched batches (no
    /// `ConsumerRecord`s: their reference counts and moves were a tenth of a word count).
    fn poll_buffered(&mut self, timeout: Duration) -> Result<bool>;
    fn poll_each(&mut self, each: &mut dyn FnMut(InRecord<'_>) -> Result<()>) -> Result<usize>;
    /// The group is rebalancing: commit before the next poll, which gives up the partitions.
    fn rebalance_pending(&self) -> bool;
    /// Changes whenever the consumer's assignment is renewed by the group.
    fn generation(&self) -> Option<i32>;
    fn group_metadata(&self) -> Option<GroupMetadata>;
    fn assignment(&self) -> Vec<TopicPartition>;
    fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<(TopicPartition, Option<i64>)>>;
    /// Moves the fetch position; `None`: to the beginning.
    fn seek(&mut self, tp: &TopicPartition, offset: Option<i64>) -> Result<()>;
    /// The next offset to return: past every record returned, and past the transaction
    /// markers and aborted records behind them.
    fn position(&mut self, tp: &TopicPartition) -> Result<i64>;
    /// Commits the next offset to consume per partition, synchronously.
    fn commit(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()>;
    /// Leaves the group.
    fn close(self: Box<Self>) -> Result<()>;
}

/// A failure of a producer call, sorted the way the runtime handles it.
#[derive(Debug, Clone)]
pub(crate) struct ClientError {
    pub kind: ErrorKind,
    pub source: Arc<dyn std::error::Error + Send + Sync>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Another producer of the transactional id, or a newer group generation, owns the work.
    Fenced,
    /// `init_transactions` while the coordinator completes the id's previous transaction.
    ConcurrentTransactions,
    Other,
}

impl ClientError {
    /// A call the backend refuses before it reaches the cluster.
    pub fn other(reason: &str) -> ClientError {
        ClientError {
            kind: ErrorKind::Other,
            source: Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(reason)),
        }
    }

    /// A task's sink asked to send after its producer was replaced (see
    /// [`LogProducer::sink`]).
    pub fn producer_replaced() -> ClientError {
        ClientError::other("the stream thread's producer was replaced; its tasks' records go nowhere")
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

pub(crate) trait LogProducer: Send {
    fn init_transactions(&mut self) -> Result<(), ClientError>;
    fn begin_transaction(&mut self) -> Result<(), ClientError>;
    /// A sink for one task's records, sending through this producer; a failure to store what
    /// it sent shows in [`LogProducer::take_failure`]. Once this producer is dropped the sink
    /// sends nothing, and says so.
    fn sink(&self) -> Box<dyn RecordSink>;
    /// The first failure since the last call.
    fn take_failure(&mut self) -> Option<ClientError>;
    /// Sends everything queued and waits for the acknowledgements (a record that failed
    /// shows in [`LogProducer::take_failure`]).
    fn flush(&mut self) -> Result<(), ClientError>;
    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, i64)],
        group: &GroupMetadata,
    ) -> Result<(), ClientError>;
    fn commit_transaction(&mut self) -> Result<(), ClientError>;
    fn abort_transaction(&mut self) -> Result<(), ClientError>;
}
