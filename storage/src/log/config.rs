//! Per-log configuration under Kafka's topic-config names, with Kafka's defaults.

use std::time::Duration;

use crate::error::{Result, StorageError};
use crate::record::TimestampType;

/// What the background cleaner does with old segments (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CleanupPolicy {
    /// Delete whole segments past `retention.ms` / `retention.bytes`.
    #[default]
    Delete,
    /// Keep the latest record of each key.
    Compact,
    /// Both: compact, and delete segments past retention.
    CompactDelete,
}

impl CleanupPolicy {
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

/// Configuration of one partition log. Field names follow Kafka's topic configs with dots
/// turned into underscores; [`LogConfig::set`] takes the Kafka names.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the active segment's records span this long.
    pub segment_ms: i64,
    /// `index.interval.bytes`: add an offset- and time-index entry after this many bytes.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync after this many records; `None` leaves it to the OS (Kafka's
    /// default: durability comes from replication).
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync when the last flush is this old at an append or [`crate::Log::flush_if_due`].
    pub flush_ms: Option<i64>,
    /// `retention.ms`: delete segments whose newest record is older; `None` keeps forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`: delete the oldest segments while the log is larger; `None` = no limit.
    pub retention_bytes: Option<u64>,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone outlives its first cleaning (KIP-534).
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub min_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: compact when this share of the log is uncleaned.
    pub min_cleanable_dirty_ratio: f64,
    /// `max.message.bytes`: the largest batch an append accepts.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// Runnel's own bound on how large a compressed batch may inflate during validation. Kafka
    /// has none; we refuse decompression bombs instead of allocating them.
    pub max_decompressed_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            index_interval_bytes: 4096,
            flush_messages: None,
            flush_ms: None,
            retention_ms: Some(7 * 24 * 3_600_000),
            retention_bytes: None,
            cleanup_policy: CleanupPolicy::Delete,
            delete_retention_ms: 24 * 3_600_000,
            min_compaction_lag_ms: 0,
            min_cleanable_dirty_ratio: 0.5,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            max_decompressed_bytes: 256 << 20,
        }
    }
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidConfig {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_i64(key: &str, value: &str) -> Result<i64> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|e| invalid(key, value, e.to_string()))
}

fn non_negative(key: &str, value: &str) -> Result<i64> {
    match parse_i64(key, value)? {
        v if v < 0 => Err(invalid(key, value, "must be >= 0")),
        v => Ok(v),
    }
}

/// Kafka writes "unlimited" as -1 or as Long.MAX_VALUE.
fn unlimited(key: &str, value: &str) -> Result<Option<i64>> {
    match parse_i64(key, value)? {
        -1 | i64::MAX => Ok(None),
        v if v < 0 => Err(invalid(key, value, "must be >= 0, or -1 for unlimited")),
        v => Ok(Some(v)),
    }
}

impl LogConfig {
    /// The config keys [`LogConfig::set`] understands.
    pub const KEYS: &'static [&'static str] = &[
        "segment.bytes",
        "segment.ms",
        "index.interval.bytes",
        "flush.messages",
        "flush.ms",
        "retention.ms",
        "retention.bytes",
        "cleanup.policy",
        "delete.retention.ms",
        "min.compaction.lag.ms",
        "min.cleanable.dirty.ratio",
        "max.message.bytes",
        "message.timestamp.type",
    ];

    /// Sets one config from its Kafka name and string value, validating it as Kafka does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "segment.bytes" => match non_negative(key, value)? {
                v if v < 14 => return Err(invalid(key, value, "must be at least 14")),
                v => self.segment_bytes = v as u64,
            },
            "segment.ms" => match non_negative(key, value)? {
                0 => return Err(invalid(key, value, "must be at least 1")),
                v => self.segment_ms = v,
            },
            "index.interval.bytes" => self.index_interval_bytes = non_negative(key, value)? as u64,
            "flush.messages" => self.flush_messages = unlimited(key, value)?.map(|v| v as u64),
            "flush.ms" => self.flush_ms = unlimited(key, value)?,
            "retention.ms" => self.retention_ms = unlimited(key, value)?,
            "retention.bytes" => self.retention_bytes = unlimited(key, value)?.map(|v| v as u64),
            "cleanup.policy" => {
                let mut parts: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                parts.sort_unstable();
                parts.dedup();
                self.cleanup_policy = match parts.as_slice() {
                    ["delete"] => CleanupPolicy::Delete,
                    ["compact"] => CleanupPolicy::Compact,
                    ["compact", "delete"] => CleanupPolicy::CompactDelete,
                    _ => return Err(invalid(key, value, "expected delete, compact or compact,delete")),
                };
            }
            "delete.retention.ms" => self.delete_retention_ms = non_negative(key, value)?,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = non_negative(key, value)?,
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = match value.trim().parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => v,
                    _ => return Err(invalid(key, value, "must be a number in [0, 1]")),
                }
            }
            "max.message.bytes" => match non_negative(key, value)? {
                v if v > i32::MAX as i64 => return Err(invalid(key, value, "must fit in an int")),
                v => self.max_message_bytes = v as usize,
            },
            "message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
                }
            }
            _ => return Err(StorageError::UnknownConfig(key.to_string())),
        }
        Ok(())
    }

    /// Applies `key=value` pairs over the defaults.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<LogConfig> {
        let mut config = LogConfig::default();
        for (k, v) in pairs {
            config.set(k, v)?;
        }
        Ok(config)
    }

    pub(crate) fn flush_interval(&self) -> Option<Duration> {
        self.flush_ms.map(|ms| Duration::from_millis(ms as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_parse_and_bad_values_are_refused() {
        let c = LogConfig::from_pairs([
            ("cleanup.policy", "delete,compact"),
            ("retention.ms", "-1"),
            ("segment.bytes", "1048576"),
            ("message.timestamp.type", "LogAppendTime"),
        ])
        .unwrap();
        assert_eq!(c.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(c.retention_ms, None);
        assert_eq!(c.segment_bytes, 1 << 20);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);

        let mut c = LogConfig::default();
        assert!(matches!(
            c.set("retention.ms", "soon"),
            Err(StorageError::InvalidConfig { .. })
        ));
        assert!(matches!(
            c.set("cleanup.policy", "shred"),
            Err(StorageError::InvalidConfig { .. })
        ));
        assert!(matches!(
            c.set("segment.bytes", "3"),
            Err(StorageError::InvalidConfig { .. })
        ));
        assert!(matches!(
            c.set("no.such.key", "1"),
            Err(StorageError::UnknownConfig(_))
        ));
        assert_eq!(c, LogConfig::default(), "a refused value changes nothing");
    }
}
