//! The broker: the set of topics on this node, and the operations Kafka's APIs map onto —
//! produce, fetch with long polling, list offsets, topic administration, producer ids.
//!
//! Everything here is synchronous file I/O behind short-held locks, except [`Broker::fetch`],
//! which waits (without polling) for data to arrive when asked to.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use storage::log::CleanerConfig;
use storage::{Clock, FileSlice, LogConfig, SystemClock};
use tokio::sync::watch;

use crate::error::{BrokerError, Result};
use crate::metadata::{MetadataStore, TopicRecord, random_id};
use crate::partition::{Acks, FetchedPartition, IsolationLevel, Origin, Partition, ProduceResult, Records};
pub use crate::topic::Topic;
use crate::topic::{TopicConfig, TopicName, TopicPartition, Topics};

/// Broker-wide settings, named after Kafka's server configs.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub data_dir: PathBuf,
    /// `node.id`, by default 1 as in Kafka's KRaft `server.properties` (Kafka itself has no
    /// default and requires it). Not 0: librdkafka 2.0.2 (kcat) then often starts a consumer
    /// 500 ms late, its first offset query finding no leader and waiting out a fixed retry
    /// (kcat consuming 1 M records, alternating runs: 9 of 66 stalled with node 0, 1 of 66
    /// with node 1, 0 of 12 against Apache Kafka with node 1).
    pub node_id: i32,
    /// Defaults for every topic (`log.segment.bytes`, `log.retention.ms`, ...).
    pub log_defaults: LogConfig,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `log.retention.check.interval.ms`: how often retention and compaction run.
    pub retention_check_interval: Duration,
    /// `log.flush.scheduler.interval.ms`: how often `flush.ms` is checked.
    pub flush_check_interval: Duration,
    /// The cleaner's memory (`log.cleaner.dedupe.buffer.size`, ...).
    pub cleaner: CleanerConfig,
}

impl BrokerConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> BrokerConfig {
        BrokerConfig {
            data_dir: data_dir.into(),
            node_id: 1,
            log_defaults: LogConfig::default(),
            num_partitions: 1,
            auto_create_topics: true,
            offsets_topic_num_partitions: 50,
            retention_check_interval: Duration::from_millis(300_000),
            flush_check_interval: Duration::from_millis(1_000),
            cleaner: CleanerConfig::default(),
        }
    }
}

impl BrokerConfig {
    /// Sets one broker config by its Kafka server name (`log.retention.ms`, `num.partitions`,
    /// ...). Log defaults take Kafka's `log.`-prefixed names (and `message.max.bytes`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let invalid = |reason: &str| BrokerError::InvalidConfig {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let int = |v: &str| v.trim().parse::<i64>().map_err(|e| invalid(&e.to_string()));
        let millis = |v: &str| -> Result<Duration> {
            let ms = int(v)?;
            u64::try_from(ms)
                .map(Duration::from_millis)
                .map_err(|_| invalid("must be >= 0"))
        };
        let log_key = match key {
            "message.max.bytes" => Some("max.message.bytes"),
            "log.segment.bytes" => Some("segment.bytes"),
            "log.roll.ms" => Some("segment.ms"),
            "log.index.interval.bytes" => Some("index.interval.bytes"),
            "log.flush.interval.messages" => Some("flush.messages"),
            "log.flush.interval.ms" => Some("flush.ms"),
            "log.retention.ms" => Some("retention.ms"),
            "log.retention.bytes" => Some("retention.bytes"),
            "log.cleanup.policy" => Some("cleanup.policy"),
            "log.cleaner.delete.retention.ms" => Some("delete.retention.ms"),
            "log.cleaner.min.compaction.lag.ms" => Some("min.compaction.lag.ms"),
            "log.cleaner.min.cleanable.ratio" => Some("min.cleanable.dirty.ratio"),
            "log.message.timestamp.type" => Some("message.timestamp.type"),
            _ => None,
        };
        if let Some(log_key) = log_key {
            return self
                .log_defaults
                .set(log_key, value)
                .map_err(BrokerError::Storage);
        }
        match key {
            "node.id" | "broker.id" => {
                self.node_id = i32::try_from(int(value)?).map_err(|_| invalid("must fit an int"))?
            }
            "num.partitions" => match int(value)? {
                n @ 1..=1_000_000 => self.num_partitions = n as i32,
                _ => return Err(invalid("must be at least 1")),
            },
            "auto.create.topics.enable" => {
                self.auto_create_topics = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("expected true or false"))?
            }
            "offsets.topic.num.partitions" => match int(value)? {
                n @ 1..=10_000 => self.offsets_topic_num_partitions = n as i32,
                _ => return Err(invalid("must be between 1 and 10000")),
            },
            "log.retention.check.interval.ms" => self.retention_check_interval = millis(value)?,
            "log.flush.scheduler.interval.ms" => self.flush_check_interval = millis(value)?,
            "log.cleaner.dedupe.buffer.size" => match int(value)? {
                n if n >= 1024 => self.cleaner.dedupe_buffer_bytes = n as usize,
                _ => return Err(invalid("must be at least 1024")),
            },
            _ => return Err(invalid("unknown broker config")),
        }
        Ok(())
    }
}

/// One partition of a fetch.
#[derive(Debug, Clone)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub offset: i64,
    pub max_bytes: usize,
}

/// Kafka's Fetch, for one replica-less consumer.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub max_wait: Duration,
    pub min_bytes: usize,
    pub max_bytes: usize,
    pub isolation: IsolationLevel,
    pub partitions: Vec<FetchPartition>,
}

/// Checks that a transactional batch belongs to a transaction that is open and has added its
/// partition (KIP-890's verification): the transaction coordinator implements it, so a late
/// or stray write from a finished transaction is refused rather than left hanging, keeping
/// the last stable offset from being held back forever.
pub trait TxnVerifier: Send + Sync + std::fmt::Debug {
    fn verify(&self, tp: &TopicPartition, producer_id: i64, producer_epoch: i16) -> Result<(), TxnRefusal>;
}

/// Why the transaction coordinator refused a transactional append. The broker's own terms for
/// the coordinator's answer, so that the broker's error does not wrap the coordinator's (the
/// coordinator sits above the broker and stores its state through it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxnRefusal {
    /// No open transaction of this producer has added the partition.
    #[error("the partition is not part of an open transaction of the producer")]
    NotInTransaction,
    /// A newer producer of the same transactional id holds epoch `current`.
    #[error("producer epoch {epoch} is fenced by epoch {current}")]
    ProducerFenced { epoch: i16, current: i16 },
    /// The producer id is not the current one of any transactional id.
    #[error("the producer id is not the current producer of its transactional id")]
    UnknownProducerId,
    /// The transaction coordinator is shut down.
    #[error("the transaction coordinator is not available")]
    CoordinatorNotAvailable,
}

pub type FetchResponse<R = Bytes> = Vec<(TopicPartition, Result<FetchedPartition<R>>)>;

/// A topic as DescribeTopics / Metadata report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: TopicName,
    pub id: String,
    pub internal: bool,
    pub partitions: Vec<PartitionDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// An IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    Delete(String),
}

#[derive(Debug)]
struct Inner {
    config: BrokerConfig,
    clock: Arc<dyn Clock>,
    topics: RwLock<Topics>,
    metadata: Mutex<MetadataStore>,
    /// Bumped after every append; waiting fetches watch it.
    appends: watch::Sender<u64>,
    /// (next producer id, end of the reserved block).
    producer_ids: Mutex<(i64, i64)>,
    /// Serializes topic creation and deletion.
    admin: Mutex<()>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    verifier: OnceLock<Arc<dyn TxnVerifier>>,
}

/// A handle to the broker; cheap to clone.
#[derive(Debug, Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

/// Producer ids reserved per metadata write.
const PRODUCER_ID_BLOCK: i64 = 1000;
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

impl Broker {
    /// Opens the broker's data directory: every topic and partition comes back as it was.
    pub fn open(config: BrokerConfig) -> Result<Broker> {
        Broker::open_with_clock(config, Arc::new(SystemClock))
    }

    pub fn open_with_clock(config: BrokerConfig, clock: Arc<dyn Clock>) -> Result<Broker> {
        let metadata = MetadataStore::open(&config.data_dir)?;
        let mut topics = Topics::default();
        for (name, record) in metadata.topics() {
            let name = TopicName::new(name)?;
            topics.insert(Arc::new(open_topic(&config, &clock, name, record)?));
        }
        let (appends, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        let broker = Broker {
            inner: Arc::new(Inner {
                config,
                clock,
                topics: RwLock::new(topics),
                metadata: Mutex::new(metadata),
                appends,
                producer_ids: Mutex::new((0, 0)),
                admin: Mutex::new(()),
                shutdown,
                tasks: Mutex::new(Vec::new()),
                verifier: OnceLock::new(),
            }),
        };
        Ok(broker)
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    pub fn node_id(&self) -> i32 {
        self.inner.config.node_id
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    pub fn cluster_id(&self) -> String {
        lock(&self.inner.metadata).cluster_id().to_string()
    }

    /// Starts retention, compaction and flush scheduling on the current tokio runtime.
    pub fn start_background_tasks(&self) {
        let mut tasks = lock(&self.inner.tasks);
        let cleanup = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        let every = self.inner.config.retention_check_interval;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
                let broker = cleanup.clone();
                let _ = tokio::task::spawn_blocking(move || broker.run_cleanup()).await;
            }
        }));
        let flusher = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        let every = self.inner.config.flush_check_interval;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
                for partition in flusher.all_partitions() {
                    if let Err(e) = partition.flush_if_due().and_then(|()| partition.snapshot_producers()) {
                        tracing::warn!(partition = %partition.topic_partition(), error = %e, "periodic flush failed");
                    }
                }
            }
        }));
    }

    /// One round of retention and compaction over every partition.
    pub fn run_cleanup(&self) {
        for partition in self.all_partitions() {
            if let Err(e) = partition.run_cleanup(&self.inner.config.cleaner) {
                tracing::warn!(partition = %partition.topic_partition(), error = %e, "log cleanup failed");
            }
        }
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        read(&self.inner.topics)
            .iter()
            .flat_map(|t| t.partitions())
            .collect()
    }

    /// Stops background work and closes every log cleanly.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        self.close_logs();
    }

    fn close_logs(&self) {
        for partition in self.all_partitions() {
            if let Err(e) = partition.close() {
                tracing::warn!(partition = %partition.topic_partition(), error = %e, "closing partition failed");
            }
        }
    }

    // ---- topics ------------------------------------------------------------------------

    /// Creates a topic. `replication_factor` -1 means the broker default (1 here).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<TopicDescription> {
        let (name, partitions) = self.check_new_topic(name, partitions, replication_factor, &configs)?;
        let _admin = lock(&self.inner.admin);
        if read(&self.inner.topics).get(&name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        let record = TopicRecord {
            id: random_id(),
            partitions,
            configs,
        };
        let topic = Arc::new(open_topic(
            &self.inner.config,
            &self.inner.clock,
            name.clone(),
            &record,
        )?);
        lock(&self.inner.metadata).update_topics(|t| {
            t.insert(name.to_string(), record);
        })?;
        write(&self.inner.topics).insert(topic.clone());
        tracing::info!(topic = %name, partitions, "created topic");
        Ok(self.describe(&topic))
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let topic = self.topic(name)?;
        let _admin = lock(&self.inner.admin);
        lock(&self.inner.metadata).update_topics(|t| {
            t.remove(name);
        })?;
        write(&self.inner.topics).remove(&topic);
        for partition in topic.partitions() {
            partition.mark_deleted()?;
            std::fs::remove_dir_all(partition.dir())
                .map_err(|e| BrokerError::io("delete partition directory", partition.dir(), e))?;
        }
        tracing::info!(topic = %name, "deleted topic");
        Ok(())
    }

    /// The checks [`Broker::create_topic`] makes, without creating anything (CreateTopics with
    /// `validate_only`).
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<()> {
        let (name, _) = self.check_new_topic(name, partitions, replication_factor, configs)?;
        if read(&self.inner.topics).get(&name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(name.to_string()));
        }
        Ok(())
    }

    /// Validates a new topic's name, partition count (-1: `num.partitions`), replication factor
    /// and configs; returns the name and the partition count to use.
    fn check_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<(TopicName, i32)> {
        let name = TopicName::new(name)?;
        let partitions = if partitions == -1 {
            self.inner.config.num_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err(BrokerError::InvalidPartitions {
                count: partitions,
                reason: "must be at least 1",
            });
        }
        if replication_factor != -1 && replication_factor != 1 {
            return Err(BrokerError::InvalidReplicationFactor(replication_factor));
        }
        TopicConfig::resolve(&self.inner.config.log_defaults, configs.clone())?;
        Ok((name, partitions))
    }

    /// Kafka's CreatePartitions: grows a topic to `total` partitions.
    pub fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        let topic = self.topic(name)?;
        let _admin = lock(&self.inner.admin);
        let current = topic.partition_count();
        if total <= current {
            return Err(BrokerError::InvalidPartitions {
                count: total,
                reason: "a topic's partition count can only grow",
            });
        }
        let config = topic.config();
        let mut added = Vec::new();
        for p in current..total {
            added.push(Arc::new(self.open_partition(&topic.name, p, &config)?));
        }
        lock(&self.inner.metadata).update_topics(|t| {
            if let Some(r) = t.get_mut(name) {
                r.partitions = total;
            }
        })?;
        topic.add_partitions(added);
        Ok(())
    }

    fn open_partition(&self, topic: &TopicName, p: i32, config: &TopicConfig) -> Result<Partition> {
        open_partition(&self.inner.config, &self.inner.clock, topic, p, config)
    }

    /// Kafka's IncrementalAlterConfigs for a topic.
    pub fn alter_topic_config(&self, name: &str, ops: &[AlterConfigOp]) -> Result<TopicConfig> {
        let topic = self.topic(name)?;
        let _admin = lock(&self.inner.admin);
        let resolved = self.config_after(&topic, ops)?;
        let overrides = resolved.overrides.clone();
        lock(&self.inner.metadata).update_topics(|t| {
            if let Some(r) = t.get_mut(name) {
                r.configs = overrides;
            }
        })?;
        for partition in topic.partitions() {
            partition.set_config(resolved.log.clone())?;
        }
        topic.set_config(resolved.clone());
        Ok(resolved)
    }

    /// A topic's config after IncrementalAlterConfigs `ops`, validated, without applying it
    /// (what `validate_only` answers).
    pub fn config_change(&self, name: &str, ops: &[AlterConfigOp]) -> Result<TopicConfig> {
        self.config_after(&*self.topic(name)?, ops)
    }

    fn config_after(&self, topic: &Topic, ops: &[AlterConfigOp]) -> Result<TopicConfig> {
        let mut overrides = topic.config().overrides;
        for op in ops {
            match op {
                AlterConfigOp::Set(k, v) => {
                    overrides.insert(k.clone(), v.clone());
                }
                AlterConfigOp::Delete(k) => {
                    overrides.remove(k);
                }
            }
        }
        TopicConfig::resolve(&self.inner.config.log_defaults, overrides)
    }

    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        let key = TopicName::new(name)?;
        read(&self.inner.topics)
            .get(&key)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: name.to_string(),
                partition: -1,
            })
    }

    /// The topic, created with the defaults if it does not exist and auto-creation is on
    /// (Kafka's `auto.create.topics.enable`, on Metadata and Produce).
    pub fn topic_or_create(&self, name: &str) -> Result<Arc<Topic>> {
        match self.topic(name) {
            Err(BrokerError::UnknownTopicOrPartition { .. }) if self.inner.config.auto_create_topics => {
                match self.create_topic(name, -1, -1, BTreeMap::new()) {
                    Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => self.topic(name),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    pub fn list_topics(&self) -> Vec<TopicName> {
        read(&self.inner.topics).names()
    }

    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self.topic(name)?;
        Ok(self.describe(&topic))
    }

    fn describe(&self, topic: &Topic) -> TopicDescription {
        let node = self.inner.config.node_id;
        TopicDescription {
            name: topic.name.clone(),
            id: topic.id.clone(),
            internal: topic.name.is_internal(),
            partitions: topic
                .partitions()
                .iter()
                .map(|p| PartitionDescription {
                    partition: p.topic_partition().partition,
                    leader: node,
                    leader_epoch: p.leader_epoch().unwrap_or(0),
                    replicas: vec![node],
                    isr: p.isr().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The name of the topic whose id is `id` (32 hex digits, any case), if it exists.
    pub fn topic_name_by_id(&self, id: &str) -> Option<TopicName> {
        read(&self.inner.topics).by_id(id).map(|t| t.name.clone())
    }

    /// The configuration in effect for `topic`.
    pub fn topic_config(&self, topic: &str) -> Result<TopicConfig> {
        Ok(self.topic(topic)?.config())
    }

    /// How many partitions `topic` has.
    pub fn partition_count(&self, topic: &str) -> Result<i32> {
        Ok(self.topic(topic)?.partition_count())
    }

    /// Whether the partition exists on this broker.
    pub fn has_partition(&self, tp: &TopicPartition) -> bool {
        self.partition(tp).is_ok()
    }

    /// The partition's current leader epoch.
    pub fn leader_epoch(&self, tp: &TopicPartition) -> Result<i32> {
        self.partition(tp)?.leader_epoch()
    }

    /// The topic's name, the topic created with the defaults first if it does not exist and
    /// auto-creation is on (Kafka's `auto.create.topics.enable`, on Metadata).
    pub fn ensure_topic(&self, name: &str) -> Result<TopicName> {
        Ok(self.topic_or_create(name)?.name.clone())
    }

    pub fn partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>> {
        let topic = self.topic(tp.topic.as_str())?;
        topic
            .partition(tp.partition)
            .ok_or_else(|| BrokerError::UnknownTopicOrPartition {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            })
    }

    // ---- data ----------------------------------------------------------------------------

    /// Installs the transaction coordinator's check of transactional batches (once).
    pub fn set_txn_verifier(&self, verifier: Arc<dyn TxnVerifier>) {
        let _ = self.inner.verifier.set(verifier);
    }

    /// Appends a producer's record set to one partition.
    pub fn produce(&self, tp: &TopicPartition, records: &mut [u8], acks: Acks) -> Result<ProduceResult> {
        self.produce_records(tp, Records::Wire(records), acks)
    }

    /// [`Broker::produce`] of a batch an in-process producer built (see
    /// [`storage::record::BuiltBatch`]).
    pub fn produce_built(
        &self,
        tp: &TopicPartition,
        batch: &mut storage::record::BuiltBatch,
        acks: Acks,
    ) -> Result<ProduceResult> {
        self.produce_records(tp, Records::Built(batch), acks)
    }

    fn produce_records(
        &self,
        tp: &TopicPartition,
        records: Records<'_>,
        acks: Acks,
    ) -> Result<ProduceResult> {
        let topic = self.topic_or_create(tp.topic.as_str())?;
        let partition = self.partition(tp)?;
        if let Some(verifier) = self.inner.verifier.get()
            && let Ok(header) = storage::record::BatchHeader::parse(records.bytes())
            && header.attributes.transactional
            && !header.attributes.control
        {
            verifier
                .verify(tp, header.producer_id, header.producer_epoch)
                .map_err(|reason| BrokerError::TxnRefused {
                    topic: tp.topic.to_string(),
                    partition: tp.partition,
                    producer_id: header.producer_id,
                    reason,
                })?;
        }
        let min_isr = topic.min_insync_replicas();
        let result = partition.append_from(records, acks, min_isr, Origin::Client)?;
        if !result.duplicate {
            self.inner.appends.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(result)
    }

    /// Appends a batch the group coordinator writes for a transaction (TxnOffsetCommit): no
    /// sequence check, no verification — the transaction coordinator checked the producer.
    pub fn produce_as_coordinator(&self, tp: &TopicPartition, records: &mut [u8]) -> Result<ProduceResult> {
        let partition = self.partition(tp)?;
        let result = partition.append_from(Records::Wire(records), Acks::All, 1, Origin::Coordinator)?;
        self.inner.appends.send_modify(|n| *n = n.wrapping_add(1));
        Ok(result)
    }

    /// Appends a transaction marker to one partition (see [`Partition::write_marker`]) and
    /// wakes the fetches waiting on it: a marker moves the last stable offset.
    pub fn write_marker(
        &self,
        tp: &TopicPartition,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Result<i64> {
        let partition = self.partition(tp)?;
        let now = self.inner.clock.now_ms();
        let offset = partition.write_marker(producer_id, producer_epoch, coordinator_epoch, commit, now)?;
        self.inner.appends.send_modify(|n| *n = n.wrapping_add(1));
        Ok(offset)
    }

    /// Reads from every requested partition; if fewer than `min_bytes` are available, waits
    /// up to `max_wait` for appends (woken by them, not polling). An error in any partition
    /// answers at once, as Kafka does.
    pub async fn fetch(&self, request: &FetchRequest) -> FetchResponse {
        self.fetch_by(request, Bytes::len, Partition::fetch_with).await
    }

    /// As [`Broker::fetch`], answering with where the batches lie in their segment files
    /// rather than their bytes: the wire server sends them from the file (`sendfile`).
    pub async fn fetch_located(&self, request: &FetchRequest) -> FetchResponse<Option<FileSlice>> {
        self.fetch_by(
            request,
            |slice: &Option<FileSlice>| slice.as_ref().map_or(0, FileSlice::len),
            Partition::locate_with,
        )
        .await
    }

    async fn fetch_by<R: Default>(
        &self,
        request: &FetchRequest,
        len: impl Fn(&R) -> usize + Copy,
        read: impl Fn(&Partition, i64, usize, IsolationLevel) -> Result<FetchedPartition<R>> + Copy,
    ) -> FetchResponse<R> {
        let mut appended = self.inner.appends.subscribe();
        let deadline = tokio::time::Instant::now() + request.max_wait;
        loop {
            appended.borrow_and_update();
            let (response, bytes, errors) = self.fetch_once(request, len, read);
            if bytes >= request.min_bytes || errors || tokio::time::Instant::now() >= deadline {
                return response;
            }
            tokio::select! {
                _ = appended.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn fetch_once<R: Default>(
        &self,
        request: &FetchRequest,
        len: impl Fn(&R) -> usize,
        read: impl Fn(&Partition, i64, usize, IsolationLevel) -> Result<FetchedPartition<R>>,
    ) -> (FetchResponse<R>, usize, bool) {
        let mut budget = request.max_bytes;
        let mut total = 0usize;
        let mut errors = false;
        let mut out = Vec::with_capacity(request.partitions.len());
        for part in &request.partitions {
            // The first partition with data returns at least one batch even past the budget
            // (KIP-74), so a consumer always makes progress.
            let max = if total == 0 {
                part.max_bytes.max(1)
            } else {
                part.max_bytes.min(budget)
            };
            let result = self.partition(&part.tp).and_then(|p| {
                if max == 0 {
                    // Out of budget: the partition's offsets, no records.
                    read(&p, part.offset, 0, request.isolation).map(|mut f| {
                        f.records = R::default();
                        f
                    })
                } else {
                    read(&p, part.offset, max, request.isolation)
                }
            });
            match &result {
                Ok(f) => {
                    let n = len(&f.records);
                    total += n;
                    budget = budget.saturating_sub(n);
                }
                Err(_) => errors = true,
            }
            out.push((part.tp.clone(), result));
        }
        (out, total, errors)
    }

    /// ListOffsets for one partition (see [`Partition::list_offset`]).
    pub fn list_offset(&self, tp: &TopicPartition, timestamp: i64) -> Result<(i64, i64)> {
        self.partition(tp)?.list_offset(timestamp)
    }

    /// ListOffsets under an isolation level (see [`Partition::list_offset_with`]).
    pub fn list_offset_with(
        &self,
        tp: &TopicPartition,
        timestamp: i64,
        isolation: IsolationLevel,
    ) -> Result<(i64, i64)> {
        self.partition(tp)?.list_offset_with(timestamp, isolation)
    }

    /// DeleteRecords for one partition; returns the new log start offset.
    pub fn delete_records(&self, tp: &TopicPartition, before: i64) -> Result<i64> {
        self.partition(tp)?.delete_records_before(before)
    }

    /// A new producer id with epoch 0, for an idempotent producer (InitProducerId without a
    /// transactional id). Ids come from blocks reserved in the metadata, never reused.
    pub fn init_producer_id(&self) -> Result<(i64, i16)> {
        let mut ids = lock(&self.inner.producer_ids);
        if ids.0 >= ids.1 {
            let start = lock(&self.inner.metadata).reserve_producer_ids(PRODUCER_ID_BLOCK)?;
            *ids = (start, start + PRODUCER_ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok((id, 0))
    }

    /// The offsets topic, created on first use (`offsets.topic.num.partitions`, compacted).
    pub fn offsets_topic(&self) -> Result<Arc<Topic>> {
        match self.topic(OFFSETS_TOPIC) {
            Ok(t) => Ok(t),
            Err(BrokerError::UnknownTopicOrPartition { .. }) => {
                let configs = BTreeMap::from([
                    ("cleanup.policy".to_string(), "compact".to_string()),
                    ("segment.bytes".to_string(), "104857600".to_string()),
                ]);
                match self.create_topic(
                    OFFSETS_TOPIC,
                    self.inner.config.offsets_topic_num_partitions,
                    -1,
                    configs,
                ) {
                    Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => self.topic(OFFSETS_TOPIC),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

fn open_topic(
    config: &BrokerConfig,
    clock: &Arc<dyn Clock>,
    name: TopicName,
    record: &TopicRecord,
) -> Result<Topic> {
    let topic_config = TopicConfig::resolve(&config.log_defaults, record.configs.clone())?;
    let mut partitions = Vec::with_capacity(record.partitions as usize);
    for p in 0..record.partitions {
        partitions.push(Arc::new(open_partition(config, clock, &name, p, &topic_config)?));
    }
    Ok(Topic::new(name, record.id.clone(), topic_config, partitions))
}

fn open_partition(
    config: &BrokerConfig,
    clock: &Arc<dyn Clock>,
    topic: &TopicName,
    p: i32,
    topic_config: &TopicConfig,
) -> Result<Partition> {
    let dir = config.data_dir.join(format!("{topic}-{p}"));
    Partition::open(
        TopicPartition::new(topic.clone(), p),
        dir,
        topic_config.log.clone(),
        config.node_id,
        clock.clone(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Logs close themselves cleanly on drop as well; this only stops the tasks.
        let _ = self.shutdown.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_configs_take_kafkas_names_and_refuse_bad_values() {
        let mut c = BrokerConfig::new("/tmp/x");
        c.set("num.partitions", "3").unwrap();
        c.set("log.retention.ms", "-1").unwrap();
        c.set("log.segment.bytes", "1048576").unwrap();
        c.set("message.max.bytes", "2000000").unwrap();
        c.set("auto.create.topics.enable", "false").unwrap();
        c.set("log.retention.check.interval.ms", "1000").unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_defaults.retention_ms, None);
        assert_eq!(c.log_defaults.segment_bytes, 1 << 20);
        assert_eq!(c.log_defaults.max_message_bytes, 2_000_000);
        assert!(!c.auto_create_topics);
        assert_eq!(c.retention_check_interval, Duration::from_secs(1));
        for (k, v) in [
            ("num.partitions", "0"),
            ("num.partitions", "x"),
            ("no.such", "1"),
            ("log.retention.ms", "soon"),
        ] {
            assert!(c.set(k, v).is_err(), "{k}={v}");
        }
        assert_eq!(c.num_partitions, 3, "a refused value changes nothing");
    }
}
