//! The Kafka backend: any Kafka-protocol cluster (`runnel serve`, Apache Kafka) through
//! librdkafka (the `rdkafka` crate).
//!
//! Client settings follow Kafka Streams' defaults for its own clients: the consumers commit
//! explicitly and start from the earliest offset; the producers are idempotent with
//! `acks=all` and `linger.ms=100`, and place keyed records with `murmur2_random`, the Java
//! client's partitioner, so that a key lands on the partition a Java producer would choose.
//! Internal topics are created with the broker's default replication factor (-1, as Kafka
//! Streams' `replication.factor` default).

mod consumer;
mod producer;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientConfig, ClientContext};
use rdkafka::{Offset, TopicPartitionList};
use stream_core::TopicPartition;
use stream_core::client::consumer::ConsumerConfig;
use stream_core::partition::IsolationLevel;
use tokio::runtime::Handle;

use super::{ClientSupplier, LogConsumer, LogProducer};
use crate::error::{Result, StreamsError};

/// How long an admin or metadata request may take before the call fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kafka-protocol cluster reached over the network: `runnel serve` or any Kafka cluster.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use stream_dsl::prelude::*;
///
/// let cluster = KafkaCluster::connect("127.0.0.1:9092");
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
///     .to("out", Produced::default());
/// let mut streams = Streams::new(builder.build()?, StreamsConfig::new("my-app"), &cluster);
/// streams.start().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaCluster {
    bootstrap: String,
    config: Vec<(String, String)>,
    /// Made on first use and shared by clones.
    clients: Arc<SharedClients>,
}

#[derive(Default)]
struct SharedClients {
    admin: OnceLock<AdminClient<DefaultClientContext>>,
    /// For metadata and list-offsets requests, one per isolation level (librdkafka takes the
    /// level of ListOffsets from the client's config).
    read_uncommitted: OnceLock<BaseConsumer>,
    read_committed: OnceLock<BaseConsumer>,
}

impl std::fmt::Debug for KafkaCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCluster")
            .field("bootstrap", &self.bootstrap)
            .field("config", &self.config)
            .finish()
    }
}

impl KafkaCluster {
    /// A cluster reached through `bootstrap` (`host:port[,host:port...]`). Nothing connects
    /// until the application starts.
    pub fn connect(bootstrap: impl Into<String>) -> KafkaCluster {
        KafkaCluster {
            bootstrap: bootstrap.into(),
            config: Vec::new(),
            clients: Arc::default(),
        }
    }

    /// Sets a librdkafka property on every client the application makes (security
    /// settings, say); it overrides the runtime's own choice of the same key.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> KafkaCluster {
        self.config.push((key.into(), value.into()));
        self.clients = Arc::default();
        self
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// A client config: the bootstrap servers, `settings`, then the user's overrides.
    fn client_config(&self, settings: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (k, v) in settings {
            config.set(*k, *v);
        }
        for (k, v) in &self.config {
            config.set(k, v);
        }
        config
    }

    /// A client of this cluster with `settings` (see [`KafkaCluster::client_config`]) and
    /// `context`; `what` names the call in its error.
    fn create<T, C>(&self, settings: &[(&str, String)], context: C, what: &'static str) -> Result<T>
    where
        T: FromClientConfigAndContext<C>,
        C: ClientContext,
    {
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.client_config(&settings)
            .create_with_context(context)
            .map_err(|e| client(what, e))
    }

    fn admin(&self) -> Result<&AdminClient<DefaultClientContext>> {
        if let Some(admin) = self.clients.admin.get() {
            return Ok(admin);
        }
        let admin = self
            .client_config(&[("allow.auto.create.topics", "false")])
            .create()
            .map_err(|e| client("create the admin client", e))?;
        Ok(self.clients.admin.get_or_init(|| admin))
    }

    fn offsets_client(&self, isolation: IsolationLevel) -> Result<&BaseConsumer> {
        let slot = match isolation {
            IsolationLevel::ReadUncommitted => &self.clients.read_uncommitted,
            IsolationLevel::ReadCommitted => &self.clients.read_committed,
        };
        if let Some(c) = slot.get() {
            return Ok(c);
        }
        let consumer = self
            .client_config(&[
                ("isolation.level", isolation_name(isolation)),
                ("allow.auto.create.topics", "false"),
                ("enable.auto.commit", "false"),
            ])
            .create()
            .map_err(|e| client("create the metadata client", e))?;
        Ok(slot.get_or_init(|| consumer))
    }
}

impl ClientSupplier for KafkaCluster {
    fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn LogConsumer>> {
        Ok(Box::new(consumer::KafkaConsumer::new(self, &config)?))
    }

    fn producer(
        &self,
        client_id: &str,
        transactional: Option<(String, Duration)>,
    ) -> Result<Box<dyn LogProducer>> {
        Ok(Box::new(producer::KafkaProducer::new(
            self,
            client_id,
            transactional,
        )?))
    }

    fn partitions(&self, topic: &str) -> Result<Option<i32>> {
        let metadata = self
            .offsets_client(IsolationLevel::ReadUncommitted)?
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .map_err(|e| client("fetch metadata", e))?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        match t.error() {
            None => Ok(Some(t.partitions().len() as i32)),
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => Ok(None),
            Some(e) => Err(client(
                "fetch metadata",
                KafkaError::MetadataFetch(RDKafkaErrorCode::from(e)),
            )),
        }
    }

    fn create_topic(&self, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
        let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1));
        for (k, v) in configs {
            new = new.set(k, v);
        }
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let results = Handle::current()
            .block_on(self.admin()?.create_topics([&new], &options))
            .map_err(|e| client("create topics", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(client("create topics", KafkaError::AdminOp(code)).context(&name));
                }
            }
        }
        Ok(())
    }

    /// Retries while the partition is not known yet: a topic just created (a changelog, say)
    /// reaches the client's metadata cache only at its next refresh, as with the Java client.
    fn end_offset(&self, tp: &TopicPartition, isolation: IsolationLevel) -> Result<i64> {
        let consumer = self.offsets_client(isolation)?;
        let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
        loop {
            match consumer.fetch_watermarks(tp.topic.as_str(), tp.partition, REQUEST_TIMEOUT) {
                Ok((_, high)) => return Ok(high),
                Err(e) if not_known_yet(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(client("list offsets", e)),
            }
        }
    }

    fn delete_records(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(tp.topic.as_str(), tp.partition, Offset::Offset(offset))
            .map_err(|e| client("delete records", e))?;
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let result = Handle::current()
            .block_on(self.admin()?.delete_records(&tpl, &options))
            .map_err(|e| client("delete records", e))?;
        for e in result.elements() {
            e.error().map_err(|e| client("delete records", e))?;
        }
        Ok(())
    }
}

/// Errors of a partition the client's metadata does not show yet, or whose leader moves.
fn not_known_yet(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::NotLeaderForPartition
        )
    )
}

fn isolation_name(isolation: IsolationLevel) -> &'static str {
    match isolation {
        IsolationLevel::ReadUncommitted => "read_uncommitted",
        IsolationLevel::ReadCommitted => "read_committed",
    }
}

/// A failed librdkafka call.
fn client(operation: &'static str, e: KafkaError) -> StreamsError {
    StreamsError::Client {
        operation,
        source: Box::new(e),
    }
}

impl StreamsError {
    /// Names what the failed call was about (a topic, say).
    fn context(self, what: &str) -> StreamsError {
        match self {
            StreamsError::Client { operation, source } => StreamsError::Client {
                operation,
                source: format!("{what}: {source}").into(),
            },
            other => other,
        }
    }
}
