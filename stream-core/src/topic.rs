//! Topic names, partitions and per-topic configuration.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};

use storage::LogConfig;

use crate::error::{BrokerError, Result};
use crate::partition::Partition;

/// A topic name that follows Kafka's rules: 1–249 characters of `[a-zA-Z0-9._-]`, and neither
/// `.` nor `..`.
#[derive(Clone)]
pub struct TopicName(Arc<str>);

/// Equal names: the same shared string (a clone, as a consumer's records of one partition
/// carry; a stream thread compares each record's topic with its run's), or equal text. The
/// text compare was a `memcmp` call per consumed record.
impl PartialEq for TopicName {
    #[inline]
    fn eq(&self, other: &TopicName) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for TopicName {}

// Hash and order by the text, as equality is.
impl std::hash::Hash for TopicName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl PartialOrd for TopicName {
    fn partial_cmp(&self, other: &TopicName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicName {
    fn cmp(&self, other: &TopicName) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl TopicName {
    pub const MAX_LEN: usize = 249;

    pub fn new(name: &str) -> Result<TopicName> {
        let invalid = |reason| BrokerError::InvalidTopic {
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name == "." || name == ".." {
            return Err(invalid("'.' and '..' are not allowed"));
        }
        if name.len() > Self::MAX_LEN {
            return Err(invalid("longer than 249 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "only ASCII letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        Ok(TopicName(name.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Topics the broker keeps for itself (`__consumer_offsets`, `__transaction_state`).
    pub fn is_internal(&self) -> bool {
        self.0.starts_with("__")
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl std::str::FromStr for TopicName {
    type Err = BrokerError;
    fn from_str(s: &str) -> Result<Self> {
        TopicName::new(s)
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: TopicName,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: TopicName, partition: i32) -> TopicPartition {
        TopicPartition { topic, partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A topic on this broker: its name, id, configuration and partitions.
#[derive(Debug)]
pub struct Topic {
    pub name: TopicName,
    /// 32 lowercase hex digits, the topic id Kafka's Metadata (v10+) and Fetch (v13+) use.
    pub id: String,
    config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub(crate) fn new(
        name: TopicName,
        id: String,
        config: TopicConfig,
        partitions: Vec<Arc<Partition>>,
    ) -> Topic {
        Topic {
            name,
            id,
            config: RwLock::new(config),
            partitions: RwLock::new(partitions),
        }
    }

    pub fn config(&self) -> TopicConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `min.insync.replicas`, read on every produce (without cloning the whole config).
    pub fn min_insync_replicas(&self) -> i32 {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .min_insync_replicas
    }

    pub(crate) fn set_config(&self, config: TopicConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn partition(&self, partition: i32) -> Option<Arc<Partition>> {
        let partitions = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        usize::try_from(partition)
            .ok()
            .and_then(|i| partitions.get(i).cloned())
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).len() as i32
    }

    pub(crate) fn add_partitions(&self, added: impl IntoIterator<Item = Arc<Partition>>) {
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added);
    }
}

/// The broker's topics, found by name and by id. Fetch v13+ names every topic by id: one fetch
/// of a consumer of thousands of topics looks thousands of ids up, so the id has an index of
/// its own rather than a scan of every topic.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    by_name: BTreeMap<TopicName, Arc<Topic>>,
    /// Lowercase id → name.
    by_id: HashMap<String, TopicName>,
}

impl Topics {
    pub fn insert(&mut self, topic: Arc<Topic>) {
        self.by_id
            .insert(topic.id.to_ascii_lowercase(), topic.name.clone());
        self.by_name.insert(topic.name.clone(), topic);
    }

    pub fn remove(&mut self, topic: &Topic) {
        self.by_id.remove(&topic.id.to_ascii_lowercase());
        self.by_name.remove(&topic.name);
    }

    pub fn get(&self, name: &TopicName) -> Option<Arc<Topic>> {
        self.by_name.get(name).cloned()
    }

    /// The topic of `id`, in any case of its hex digits (Kafka's UUIDs compare by value).
    pub fn by_id(&self, id: &str) -> Option<Arc<Topic>> {
        let name = match self.by_id.get(id) {
            Some(name) => name,
            None => self.by_id.get(&id.to_ascii_lowercase())?,
        };
        self.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Topic>> {
        self.by_name.values()
    }

    pub fn names(&self) -> Vec<TopicName> {
        self.by_name.keys().cloned().collect()
    }
}

/// A topic's configuration: the overrides it was given, resolved over the broker defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// Only what was set explicitly, by Kafka name — what DescribeConfigs reports as
    /// `TOPIC_CONFIG` and what is persisted.
    pub overrides: BTreeMap<String, String>,
    /// The log settings in effect.
    pub log: LogConfig,
    /// `min.insync.replicas` (default 1).
    pub min_insync_replicas: i32,
}

impl TopicConfig {
    /// Topic-level config names beyond the log's.
    const EXTRA_KEYS: &'static [&'static str] = &["min.insync.replicas", "compression.type"];

    /// Resolves `overrides` over `defaults`, validating every key and value.
    pub fn resolve(defaults: &LogConfig, overrides: BTreeMap<String, String>) -> Result<TopicConfig> {
        let mut log = defaults.clone();
        let mut min_insync_replicas = 1;
        for (key, value) in &overrides {
            let bad = |reason: String| BrokerError::InvalidConfig {
                key: key.clone(),
                value: value.clone(),
                reason,
            };
            match key.as_str() {
                "min.insync.replicas" => {
                    min_insync_replicas = value
                        .parse::<i32>()
                        .ok()
                        .filter(|v| *v >= 1)
                        .ok_or_else(|| bad("must be an integer >= 1".into()))?;
                }
                "compression.type" => {
                    // Kafka's "producer" keeps what the producer sent; we store batches as sent.
                    if value != "producer" && value.parse::<storage::record::Compression>().is_err() {
                        return Err(bad("expected producer, none, gzip, snappy, lz4 or zstd".into()));
                    }
                }
                _ => log.set(key, value).map_err(|e| bad(e.to_string()))?,
            }
        }
        Ok(TopicConfig {
            overrides,
            log,
            min_insync_replicas,
        })
    }

    /// Every config name a topic accepts.
    pub fn keys() -> impl Iterator<Item = &'static str> {
        LogConfig::KEYS.iter().chain(Self::EXTRA_KEYS).copied()
    }

    /// The value in effect for `key`, as Kafka would print it.
    pub fn value_of(&self, key: &str) -> Option<String> {
        if let Some(v) = self.overrides.get(key) {
            return Some(v.clone());
        }
        let l = &self.log;
        let unlimited = |v: Option<i64>| v.map_or("-1".to_string(), |v| v.to_string());
        Some(match key {
            "segment.bytes" => l.segment_bytes.to_string(),
            "segment.ms" => l.segment_ms.to_string(),
            "index.interval.bytes" => l.index_interval_bytes.to_string(),
            "flush.messages" => l.flush_messages.map_or(i64::MAX.to_string(), |v| v.to_string()),
            "flush.ms" => l.flush_ms.map_or(i64::MAX.to_string(), |v| v.to_string()),
            "retention.ms" => unlimited(l.retention_ms),
            "retention.bytes" => unlimited(l.retention_bytes.map(|v| v as i64)),
            "cleanup.policy" => match l.cleanup_policy {
                storage::CleanupPolicy::Delete => "delete",
                storage::CleanupPolicy::Compact => "compact",
                storage::CleanupPolicy::CompactDelete => "compact,delete",
            }
            .to_string(),
            "delete.retention.ms" => l.delete_retention_ms.to_string(),
            "min.compaction.lag.ms" => l.min_compaction_lag_ms.to_string(),
            "min.cleanable.dirty.ratio" => l.min_cleanable_dirty_ratio.to_string(),
            "max.message.bytes" => l.max_message_bytes.to_string(),
            "message.timestamp.type" => match l.message_timestamp_type {
                storage::record::TimestampType::CreateTime => "CreateTime",
                storage::record::TimestampType::LogAppendTime => "LogAppendTime",
            }
            .to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "compression.type" => "producer".to_string(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_equal_by_text_whether_or_not_they_share_a_string() {
        let a = TopicName::new("orders").unwrap();
        let same_text = TopicName::new("orders").unwrap();
        assert!(!Arc::ptr_eq(&a.0, &same_text.0));
        assert_eq!(a, same_text);
        assert_eq!(a, a.clone());
        assert_ne!(a, TopicName::new("orderz").unwrap());
        assert_ne!(a, TopicName::new("order").unwrap());
        // Hash and order agree with equality.
        let set: std::collections::HashSet<TopicName> = [a.clone()].into();
        assert!(set.contains(&same_text));
        assert_eq!(a.cmp(&same_text), std::cmp::Ordering::Equal);
        assert!(TopicName::new("order").unwrap() < a);
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        for ok in ["a", "orders", "my.topic_v2-x", &"x".repeat(249)] {
            assert!(TopicName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "has space", "ümlaut", "a/b", &"x".repeat(250)] {
            assert!(
                matches!(TopicName::new(bad), Err(BrokerError::InvalidTopic { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn configs_resolve_over_defaults_and_bad_ones_are_refused() {
        let overrides = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("min.insync.replicas".to_string(), "2".to_string()),
        ]);
        let c = TopicConfig::resolve(&LogConfig::default(), overrides).unwrap();
        assert_eq!(c.log.cleanup_policy, storage::CleanupPolicy::Compact);
        assert_eq!(c.min_insync_replicas, 2);
        assert_eq!(c.value_of("retention.ms").as_deref(), Some("604800000"));
        for (k, v) in [
            ("retention.ms", "x"),
            ("min.insync.replicas", "0"),
            ("no.such", "1"),
        ] {
            let bad = BTreeMap::from([(k.to_string(), v.to_string())]);
            let err = TopicConfig::resolve(&LogConfig::default(), bad).unwrap_err();
            assert!(matches!(err, BrokerError::InvalidConfig { .. }), "{k}={v}: {err}");
        }
    }
}
