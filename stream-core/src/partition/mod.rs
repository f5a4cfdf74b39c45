//! A partition replica: its log plus the replication state Kafka keeps beside it — leader
//! epoch, high watermark, in-sync replica set — and the idempotent producers' sequences.
//!
//! With one node the replica is always the leader, the ISR is `{self}` and the high watermark
//! follows the log end; the types are the ones multi-node replication fills in.

mod producer_state;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use storage::record::{self, BatchHeader};
use storage::{Log, LogConfig};

pub use producer_state::{BatchMeta, ProducerStates, SequenceCheck};

use crate::error::{BrokerError, Result};
use crate::topic::TopicPartition;

/// Kafka's `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget: the producer does not wait (the broker still appends).
    None,
    /// The leader has the records.
    Leader,
    /// Every in-sync replica has them, and there are at least `min.insync.replicas`.
    All,
}

impl Acks {
    pub fn from_kafka(acks: i16) -> Result<Acks> {
        match acks {
            0 => Ok(Acks::None),
            1 => Ok(Acks::Leader),
            -1 => Ok(Acks::All),
            other => Err(BrokerError::InvalidRequiredAcks(other)),
        }
    }
}

/// The result of a produce to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResult {
    pub base_offset: i64,
    pub last_offset: i64,
    /// Set when the topic uses LogAppendTime; -1 otherwise (Kafka's convention).
    pub log_append_time: i64,
    pub log_start_offset: i64,
    /// The batch was a retry of one already appended: these are its original offsets.
    pub duplicate: bool,
}

/// What a fetch of one partition returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Whole stored batches, as they lie on disk.
    pub records: Bytes,
}

#[derive(Debug)]
struct State {
    log: Log,
    producers: ProducerStates,
    high_watermark: i64,
    leader_epoch: i32,
    /// Broker ids of the in-sync replicas.
    isr: Vec<i32>,
    deleted: bool,
}

#[derive(Debug)]
pub struct Partition {
    tp: TopicPartition,
    dir: PathBuf,
    broker_id: i32,
    state: Mutex<State>,
}

impl Partition {
    /// Opens the partition's log in `dir` and rebuilds its producer state.
    pub fn open(
        tp: TopicPartition,
        dir: PathBuf,
        config: LogConfig,
        broker_id: i32,
        clock: std::sync::Arc<dyn storage::Clock>,
    ) -> Result<Partition> {
        let log = Log::open_with_clock(&dir, config, clock)?;
        let end = log.log_end_offset();
        let (mut producers, from) = ProducerStates::read_snapshot(&dir, end)
            .unwrap_or((ProducerStates::default(), log.log_start_offset()));
        log.for_each_batch_header(from, |h| producers.replay(h))?;
        Ok(Partition {
            tp,
            dir,
            broker_id,
            state: Mutex::new(State {
                high_watermark: end,
                log,
                producers,
                leader_epoch: 0,
                isr: vec![broker_id],
                deleted: false,
            }),
        })
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        let guard = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.deleted {
            return Err(BrokerError::UnknownTopicOrPartition {
                topic: self.tp.topic.to_string(),
                partition: self.tp.partition,
            });
        }
        Ok(guard)
    }

    /// Appends a producer's record set as the leader.
    ///
    /// Batches from an idempotent producer are checked against its sequence: a retry of one of
    /// its last five batches is acknowledged with the original offsets and not appended again;
    /// a gap or a stale epoch is refused.
    pub fn append(&self, records: &mut [u8], acks: Acks, min_insync_replicas: i32) -> Result<ProduceResult> {
        let mut state = self.lock()?;
        if acks == Acks::All && (state.isr.len() as i32) < min_insync_replicas {
            return Err(BrokerError::NotEnoughReplicas {
                isr: state.isr.len(),
                min: min_insync_replicas,
            });
        }
        // Idempotent and transactional producers send one batch per partition (Kafka enforces
        // it), so the first header speaks for the request.
        let header = BatchHeader::parse(records).map_err(|e| storage::StorageError::CorruptMessage {
            position: 0,
            source: e,
        })?;
        let first_seq = header.base_sequence;
        let last_seq = first_seq.wrapping_add(header.last_offset_delta);
        if header.producer_id >= 0 && record::declared_size(records) != Some(records.len() as i64) {
            return Err(BrokerError::Storage(storage::StorageError::InvalidRecord {
                position: 0,
                source: record::RecordError::TrailingBytes {
                    extra: records.len() - header.size(),
                },
            }));
        }
        match state
            .producers
            .check(header.producer_id, header.producer_epoch, first_seq, last_seq)?
        {
            SequenceCheck::Duplicate(meta) => {
                return Ok(ProduceResult {
                    base_offset: meta.first_offset,
                    last_offset: meta.last_offset,
                    log_append_time: -1,
                    log_start_offset: state.log.log_start_offset(),
                    duplicate: true,
                });
            }
            SequenceCheck::Append => {}
        }
        if state.log.config().cleanup_policy.compacts() {
            self.check_keys(records)?;
        }
        let leader_epoch = state.leader_epoch;
        let info = state.log.append(records, leader_epoch)?;
        state.producers.update(
            header.producer_id,
            header.producer_epoch,
            BatchMeta {
                first_seq,
                last_seq,
                first_offset: info.first_offset,
                last_offset: info.last_offset,
                max_timestamp: info.max_timestamp,
            },
        );
        // One replica: the record is committed as soon as the leader has it.
        state.high_watermark = state.log.log_end_offset();
        Ok(ProduceResult {
            base_offset: info.first_offset,
            last_offset: info.last_offset,
            log_append_time: info.log_append_time.unwrap_or(-1),
            log_start_offset: state.log.log_start_offset(),
            duplicate: false,
        })
    }

    /// Compacted topics need a key on every record (Kafka refuses null keys there).
    fn check_keys(&self, records: &[u8]) -> Result<()> {
        let bytes = Bytes::copy_from_slice(records);
        let decoded =
            record::decode_all(&bytes, 256 << 20).map_err(|e| storage::StorageError::InvalidRecord {
                position: 0,
                source: e,
            })?;
        if decoded.iter().any(|r| r.key.is_none()) {
            return Err(BrokerError::InvalidRecordCompacted(self.tp.topic.to_string()));
        }
        Ok(())
    }

    /// Reads committed batches (below the high watermark) from `offset`.
    pub fn fetch(&self, offset: i64, max_bytes: usize) -> Result<FetchedPartition> {
        let state = self.lock()?;
        let records = if offset == state.high_watermark {
            Bytes::new()
        } else {
            state.log.read_up_to(offset, max_bytes, state.high_watermark)?
        };
        Ok(FetchedPartition {
            high_watermark: state.high_watermark,
            last_stable_offset: state.high_watermark,
            log_start_offset: state.log.log_start_offset(),
            records,
        })
    }

    pub fn log_start_offset(&self) -> Result<i64> {
        Ok(self.lock()?.log.log_start_offset())
    }

    pub fn high_watermark(&self) -> Result<i64> {
        Ok(self.lock()?.high_watermark)
    }

    pub fn log_end_offset(&self) -> Result<i64> {
        Ok(self.lock()?.log.log_end_offset())
    }

    pub fn leader_epoch(&self) -> Result<i32> {
        Ok(self.lock()?.leader_epoch)
    }

    pub fn isr(&self) -> Result<Vec<i32>> {
        Ok(self.lock()?.isr.clone())
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    /// Kafka's ListOffsets for one partition: -2 earliest, -1 latest (the high watermark), -3
    /// the record with the largest timestamp (KIP-734), otherwise the first record at or after
    /// the timestamp. Returns (offset, timestamp); offset -1 when no record qualifies.
    pub fn list_offset(&self, timestamp: i64) -> Result<(i64, i64)> {
        let state = self.lock()?;
        Ok(match timestamp {
            -2 => (state.log.log_start_offset(), -1),
            -1 => (state.high_watermark, -1),
            -3 => {
                // KIP-734, with KAFKA-16310's fix: the offset of the record itself, found in
                // the batch whose max timestamp is the largest.
                let mut best: Option<(i64, i64)> = None;
                state
                    .log
                    .for_each_batch_header(state.log.log_start_offset(), |h| {
                        if best.is_none_or(|(_, ts)| h.max_timestamp > ts) {
                            best = Some((h.base_offset, h.max_timestamp));
                        }
                    })?;
                match best {
                    None => (-1, -1),
                    Some((base, ts)) => {
                        let bytes = state.log.read(base, 1)?;
                        let records = record::decode_all(&bytes, 256 << 20).map_err(|e| {
                            storage::StorageError::CorruptMessage {
                                position: 0,
                                source: e,
                            }
                        })?;
                        records
                            .iter()
                            .find(|r| r.timestamp == ts && r.offset >= base)
                            .map_or((-1, -1), |r| (r.offset, ts))
                    }
                }
            }
            ts => match state.log.offset_for_timestamp(ts)? {
                Some((offset, found)) if offset < state.high_watermark => (offset, found),
                _ => (-1, -1),
            },
        })
    }

    /// Kafka's DeleteRecords: moves the log start (at most to the high watermark).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64> {
        let mut state = self.lock()?;
        let target = if offset == -1 {
            state.high_watermark
        } else {
            offset
        };
        if target > state.high_watermark {
            return Err(BrokerError::Storage(storage::StorageError::OffsetOutOfRange {
                offset,
                log_start: state.log.log_start_offset(),
                log_end: state.high_watermark,
            }));
        }
        Ok(state.log.delete_records_before(target)?)
    }

    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        self.lock()?.log.set_config(config);
        Ok(())
    }

    /// Retention, and a compaction pass when the policy and dirty ratio ask for one. The
    /// cleaning itself runs without the partition's lock.
    pub fn run_cleanup(&self, cleaner: &storage::log::CleanerConfig) -> Result<()> {
        let task = {
            let mut state = self.lock()?;
            state.log.apply_retention()?;
            if !state.log.needs_compaction() {
                return Ok(());
            }
            state.log.prepare_clean(cleaner)
        };
        if let Some(task) = task {
            let cleaned = task.run()?;
            self.lock()?.log.install_clean(cleaned)?;
        }
        Ok(())
    }

    /// fsyncs if `flush.ms` has passed, and snapshots the producer state.
    pub fn flush_if_due(&self) -> Result<()> {
        let mut state = self.lock()?;
        state.log.flush_if_due()?;
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
        self.lock()?.log.flush()?;
        Ok(())
    }

    /// Writes the producer-state snapshot at the current log end.
    pub fn snapshot_producers(&self) -> Result<()> {
        let state = self.lock()?;
        state
            .producers
            .write_snapshot(&self.dir, state.log.log_end_offset())
    }

    /// Marks the partition deleted: later calls fail with UNKNOWN_TOPIC_OR_PARTITION and its
    /// log writes nothing more. The caller removes the directory.
    pub fn mark_deleted(&self) -> Result<()> {
        let mut state = self.lock()?;
        state.deleted = true;
        state.log.discard();
        Ok(())
    }

    /// Closes the log cleanly (flush, snapshot, clean-shutdown marker). Called at shutdown.
    pub fn close(&self) -> Result<()> {
        let mut state = self.lock()?;
        state
            .producers
            .write_snapshot(&self.dir, state.log.log_end_offset())?;
        state.log.close_in_place()?;
        state.deleted = true;
        Ok(())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        // The log closes itself on drop; keep the producer state beside it so a restart does
        // not have to replay the whole log.
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if !state.deleted
            && let Err(e) = state
                .producers
                .write_snapshot(&self.dir, state.log.log_end_offset())
        {
            tracing::warn!(partition = %self.tp, error = %e, "writing the producer snapshot failed");
        }
    }
}
