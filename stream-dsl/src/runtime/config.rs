//! `StreamsConfig`: the application's settings, with Kafka Streams' names and defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, StreamsError};

/// `processing.guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProcessingGuarantee {
    /// `at_least_once`: commit after processing: after a crash some records are processed
    /// again, and their effects (output, store updates) happen twice.
    #[default]
    AtLeastOnce,
    /// `exactly_once_v2` (KIP-447): each stream thread's output records, changelog writes and
    /// input offsets of one commit interval are one transaction. After a crash the open
    /// transaction is aborted and its work redone; read_committed readers see every effect
    /// once. Kafka's older `exactly_once` (one producer per task) and `exactly_once_beta` (the
    /// old name of v2) were removed in Kafka 4.0 and are refused here.
    ExactlyOnceV2,
}

impl ProcessingGuarantee {
    pub fn is_exactly_once(self) -> bool {
        self == ProcessingGuarantee::ExactlyOnceV2
    }
}

/// `default.deserialization.exception.handler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeserializationHandler {
    /// Stop the application with the error (Kafka's default, `LogAndFailExceptionHandler`).
    #[default]
    LogAndFail,
    /// Log the record's coordinates and the error, skip it, count it.
    LogAndContinue,
}

#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// `application.id`: the consumer group, and the prefix of internal topics and of the
    /// state directory.
    pub application_id: String,
    /// `num.stream.threads` (default 1).
    pub num_stream_threads: usize,
    /// `commit.interval.ms`; `None` takes the guarantee's default (see
    /// [`StreamsConfig::commit_interval`]).
    pub commit_interval: Option<Duration>,
    pub processing_guarantee: ProcessingGuarantee,
    /// `producer.transaction.timeout.ms` under exactly-once (default 10 s, Kafka Streams'
    /// default rather than the producer's 60 s): how long a crashed thread's open
    /// transaction can hold back read_committed readers when no restarted instance fences it.
    pub transaction_timeout: Duration,
    /// `state.dir` (default `<tmp>/runnel-streams`).
    pub state_dir: PathBuf,
    /// `statestore.cache.max.bytes` (default 10 MiB), per stream thread, divided between its
    /// tasks' cached stores.
    pub cache_max_bytes: usize,
    pub deserialization_handler: DeserializationHandler,
    /// `poll.ms` (default 100 ms): how long a thread waits for records.
    pub poll: Duration,
    /// `max.poll.records` of the stream threads' consumers (Kafka Streams: 1000).
    pub max_poll_records: usize,
    /// The consumers' `session.timeout.ms` (45 s) and `heartbeat.interval.ms` (3 s): how
    /// soon a crashed instance's tasks move, and how soon a rebalance is noticed.
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// `rocksdb.memory.max.bytes` (default 256 MiB): the one RocksDB memory budget (block
    /// cache and memtables) every RocksDB store of every task of the process shares. Kafka
    /// Streams has no such setting (each store sizes its own, 50 MiB of cache and up to three
    /// 16 MiB memtables); a process running applications with different budgets gets one
    /// budget per size.
    pub rocksdb_memory_max_bytes: usize,
    /// `windowstore.changelog.additional.retention.ms` (default one day): window and session
    /// changelogs keep records this much longer than their store does, so that a restore
    /// still finds what the store may still hold under clock drift (Kafka's setting).
    pub windowstore_changelog_additional_retention: Duration,
}

impl StreamsConfig {
    pub fn new(application_id: impl Into<String>) -> StreamsConfig {
        StreamsConfig {
            application_id: application_id.into(),
            num_stream_threads: 1,
            commit_interval: None,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            transaction_timeout: Duration::from_secs(10),
            state_dir: std::env::temp_dir().join("runnel-streams"),
            cache_max_bytes: 10 << 20,
            deserialization_handler: DeserializationHandler::LogAndFail,
            poll: Duration::from_millis(100),
            max_poll_records: 1000,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rocksdb_memory_max_bytes: storage::store::DEFAULT_MEMORY_BUDGET,
            windowstore_changelog_additional_retention: Duration::from_secs(24 * 60 * 60),
        }
    }

    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    pub fn with_threads(mut self, threads: usize) -> Self {
        self.num_stream_threads = threads;
        self
    }

    pub fn with_commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = Some(interval);
        self
    }

    pub fn with_processing_guarantee(mut self, guarantee: ProcessingGuarantee) -> Self {
        self.processing_guarantee = guarantee;
        self
    }

    /// The commit interval in effect: the one set, else Kafka Streams' default for the
    /// guarantee — 30 s under at-least-once, 100 ms under exactly-once, where a commit is
    /// also what makes output visible to read_committed consumers, so the interval is the
    /// pipeline's latency.
    pub fn commit_interval(&self) -> Duration {
        self.commit_interval.unwrap_or(match self.processing_guarantee {
            ProcessingGuarantee::AtLeastOnce => Duration::from_secs(30),
            ProcessingGuarantee::ExactlyOnceV2 => Duration::from_millis(100),
        })
    }

    pub fn with_cache_max_bytes(mut self, bytes: usize) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    pub fn with_deserialization_handler(mut self, handler: DeserializationHandler) -> Self {
        self.deserialization_handler = handler;
        self
    }

    pub fn with_group_timeouts(mut self, session_timeout: Duration, heartbeat_interval: Duration) -> Self {
        self.session_timeout = session_timeout;
        self.heartbeat_interval = heartbeat_interval;
        self
    }

    /// Sets a value by its Kafka Streams name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |reason: &str| StreamsError::Config {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| bad("not a non-negative integer"))
        };
        match key {
            "application.id" if !value.is_empty() => self.application_id = value.into(),
            "application.id" => return Err(bad("must not be empty")),
            "num.stream.threads" => {
                self.num_stream_threads = usize::try_from(number()?).map_err(|_| bad("too large"))?.max(1)
            }
            "commit.interval.ms" => self.commit_interval = Some(Duration::from_millis(number()?)),
            "producer.transaction.timeout.ms" | "transaction.timeout.ms" => {
                self.transaction_timeout = Duration::from_millis(number()?)
            }
            "state.dir" => self.state_dir = value.into(),
            "statestore.cache.max.bytes" | "cache.max.bytes.buffering" => {
                self.cache_max_bytes = usize::try_from(number()?).map_err(|_| bad("too large"))?
            }
            "session.timeout.ms" => self.session_timeout = Duration::from_millis(number()?),
            "heartbeat.interval.ms" => self.heartbeat_interval = Duration::from_millis(number()?),
            "poll.ms" => self.poll = Duration::from_millis(number()?),
            "rocksdb.memory.max.bytes" => {
                self.rocksdb_memory_max_bytes = usize::try_from(number()?).map_err(|_| bad("too large"))?
            }
            "windowstore.changelog.additional.retention.ms" => {
                self.windowstore_changelog_additional_retention = Duration::from_millis(number()?)
            }
            "max.poll.records" => {
                self.max_poll_records = usize::try_from(number()?).map_err(|_| bad("too large"))?.max(1)
            }
            "processing.guarantee" => match value {
                "at_least_once" => self.processing_guarantee = ProcessingGuarantee::AtLeastOnce,
                "exactly_once_v2" => self.processing_guarantee = ProcessingGuarantee::ExactlyOnceV2,
                "exactly_once" | "exactly_once_beta" => {
                    return Err(bad(
                        "removed in Kafka 4.0 (deprecated by KIP-732); use exactly_once_v2",
                    ));
                }
                _ => return Err(bad("expected at_least_once or exactly_once_v2")),
            },
            "default.deserialization.exception.handler" => {
                self.deserialization_handler = match value.rsplit('.').next().unwrap_or(value) {
                    "LogAndContinueExceptionHandler" | "log_and_continue" => {
                        DeserializationHandler::LogAndContinue
                    }
                    "LogAndFailExceptionHandler" | "log_and_fail" => DeserializationHandler::LogAndFail,
                    _ => {
                        return Err(bad(
                            "expected LogAndContinueExceptionHandler or LogAndFailExceptionHandler",
                        ));
                    }
                }
            }
            _ => return Err(bad("unknown setting")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_take_kafka_names_and_reject_unknown_ones() {
        let mut c = StreamsConfig::new("app");
        c.set("num.stream.threads", "2").unwrap();
        c.set("commit.interval.ms", "100").unwrap();
        c.set(
            "default.deserialization.exception.handler",
            "org.apache.kafka.streams.errors.LogAndContinueExceptionHandler",
        )
        .unwrap();
        assert_eq!(c.num_stream_threads, 2);
        assert_eq!(c.commit_interval(), Duration::from_millis(100));
        assert_eq!(c.deserialization_handler, DeserializationHandler::LogAndContinue);
        assert!(c.set("no.such.thing", "1").is_err());
        assert!(c.set("commit.interval.ms", "soon").is_err());
    }

    #[test]
    fn exactly_once_v2_is_accepted_and_the_removed_guarantees_are_refused() {
        let mut c = StreamsConfig::new("app");
        c.set("processing.guarantee", "exactly_once_v2").unwrap();
        assert_eq!(c.processing_guarantee, ProcessingGuarantee::ExactlyOnceV2);
        for removed in ["exactly_once", "exactly_once_beta"] {
            let e = c.set("processing.guarantee", removed).unwrap_err().to_string();
            assert!(e.contains("exactly_once_v2"), "{e}");
        }
        assert!(c.set("processing.guarantee", "at_most_once").is_err());
        c.set("producer.transaction.timeout.ms", "5000").unwrap();
        assert_eq!(c.transaction_timeout, Duration::from_secs(5));
    }

    #[test]
    fn exactly_once_commits_every_100_ms_unless_the_interval_was_set() {
        let alos = StreamsConfig::new("app");
        assert_eq!(alos.commit_interval(), Duration::from_secs(30));
        let eos = StreamsConfig::new("app").with_processing_guarantee(ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(eos.commit_interval(), Duration::from_millis(100));
        let set = eos.with_commit_interval(Duration::from_secs(1));
        assert_eq!(set.commit_interval(), Duration::from_secs(1));
    }
}
