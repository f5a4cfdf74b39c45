//! A partition replica: its log plus the replication state Kafka keeps beside it — leader
//! epoch, high watermark, in-sync replica set — and the idempotent producers' sequences.
//!
//! With one node the replica is always the leader, the ISR is `{self}` and the high watermark
//! follows the log end; the types are the ones multi-node replication fills in.
//!
//! Transactions (KIP-98) show here as batches with the transactional bit, the markers the
//! transaction coordinator writes with [`Partition::write_marker`], the last stable offset
//! that `read_committed` fetches stop at, and the aborted-transaction index they return
//! (`transactions.rs`, [`AbortedTxn`]).

mod producer_state;
mod transactions;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use storage::record::{self, BatchHeader, ControlType};
use storage::{FileSlice, Log, LogConfig};

pub(crate) use producer_state::{BatchMeta, ProducerStates, SequenceCheck};
pub use transactions::AbortedTxn;
pub(crate) use transactions::Transactions;

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

/// Who writes a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A producer: its sequences are checked.
    Client,
    /// The group coordinator writing a transaction's offsets: Kafka's coordinator appends
    /// carry no sequence (`NO_SEQUENCE`) and are not checked.
    Coordinator,
}

/// The record set of an append.
#[derive(Debug)]
pub(crate) enum Records<'a> {
    /// Bytes from outside (a produce request): every batch and record is checked.
    Wire(&'a mut [u8]),
    /// A batch an in-process producer built: its records are not walked again.
    Built(&'a mut storage::record::BuiltBatch),
}

impl Records<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Records::Wire(bytes) => bytes,
            Records::Built(batch) => batch,
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

/// Kafka's `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything below the high watermark, aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions listed.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire's `isolation_level` (0 or 1; anything else reads uncommitted, as in Kafka).
    pub fn from_kafka(level: i8) -> IsolationLevel {
        if level == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        }
    }
}

/// What a fetch of one partition returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition<R = Bytes> {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Whole stored batches, as they lie on disk: their bytes, or where they lie
    /// (`Option<FileSlice>`, see [`Partition::locate_with`]).
    pub records: R,
    /// For `read_committed` fetches: the aborted transactions the records overlap.
    pub aborted: Option<Vec<AbortedTxn>>,
}

#[derive(Debug)]
struct State {
    log: Log,
    producers: ProducerStates,
    txns: Transactions,
    high_watermark: i64,
    leader_epoch: i32,
    /// Broker ids of the in-sync replicas.
    isr: Vec<i32>,
    deleted: bool,
    /// The log end offset of the last producer snapshot written: every change to the producer
    /// and transaction state comes with an append (or a truncation), so an unchanged log end
    /// means the snapshot on disk is current and the periodic flush skips its fsyncs.
    snapshot_at: Option<i64>,
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
        let mut txns = Transactions::open(&dir, log.log_start_offset(), end)?;
        let (mut producers, from) = match ProducerStates::read_snapshot(&dir, end) {
            Some((producers, from, ongoing)) => {
                txns.restore_ongoing(ongoing);
                (producers, from)
            }
            None => (ProducerStates::default(), log.log_start_offset()),
        };
        let mut failed = None;
        // DeleteRecords may have moved the log start past the snapshot since it was written.
        log.for_each_batch_header(from.max(log.log_start_offset()), |h| {
            if let Err(e) = replay_batch(&log, &mut producers, &mut txns, h) {
                failed.get_or_insert(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(Partition {
            tp,
            dir,
            broker_id,
            state: Mutex::new(State {
                high_watermark: end,
                log,
                producers,
                txns,
                leader_epoch: 0,
                isr: vec![broker_id],
                deleted: false,
                snapshot_at: None,
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
        self.append_from(Records::Wire(records), acks, min_insync_replicas, Origin::Client)
    }

    pub(crate) fn append_from(
        &self,
        mut records: Records<'_>,
        acks: Acks,
        min_insync_replicas: i32,
        origin: Origin,
    ) -> Result<ProduceResult> {
        let mut state = self.lock()?;
        if acks == Acks::All && (state.isr.len() as i32) < min_insync_replicas {
            return Err(BrokerError::NotEnoughReplicas {
                isr: state.isr.len(),
                min: min_insync_replicas,
            });
        }
        // Idempotent and transactional producers send one batch per partition (Kafka enforces
        // it), so the first header speaks for the request.
        let header =
            BatchHeader::parse(records.bytes()).map_err(|e| storage::StorageError::CorruptMessage {
                position: 0,
                source: e,
            })?;
        if header.attributes.control {
            // Only a transaction coordinator writes markers (Kafka refuses them from clients).
            return Err(BrokerError::Storage(storage::StorageError::InvalidRecord {
                position: 0,
                source: record::RecordError::MalformedRecord {
                    index: 0,
                    reason: "producers may not write control batches".into(),
                },
            }));
        }
        let first_seq = header.base_sequence;
        let last_seq = first_seq.wrapping_add(header.last_offset_delta);
        if header.producer_id >= 0
            && record::declared_size(records.bytes()) != Some(records.bytes().len() as i64)
        {
            return Err(BrokerError::Storage(storage::StorageError::InvalidRecord {
                position: 0,
                source: record::RecordError::TrailingBytes {
                    extra: records.bytes().len() - header.size(),
                },
            }));
        }
        let check = match origin {
            Origin::Client => {
                state
                    .producers
                    .check(header.producer_id, header.producer_epoch, first_seq, last_seq)?
            }
            Origin::Coordinator => SequenceCheck::Append,
        };
        match check {
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
            self.check_keys(records.bytes())?;
        }
        let leader_epoch = state.leader_epoch;
        let info = match &mut records {
            Records::Wire(bytes) => state.log.append(bytes, leader_epoch)?,
            Records::Built(batch) => state.log.append_built(batch, leader_epoch)?,
        };
        if origin == Origin::Client {
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
        }
        if header.attributes.transactional && header.producer_id >= 0 {
            state.txns.on_data(header.producer_id, info.first_offset);
        }
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

    /// Appends a transaction marker for `producer_id` (the transaction coordinator's
    /// WriteTxnMarkers): the producer's open transaction here ends, committed or aborted.
    /// A marker with an older epoch than the partition has seen is refused; one with a newer
    /// epoch fences the producer's older epoch from then on. Returns the marker's offset.
    pub fn write_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        timestamp: i64,
    ) -> Result<i64> {
        let mut state = self.lock()?;
        if let Some(current) = state.producers.epoch(producer_id)
            && producer_epoch < current
        {
            return Err(BrokerError::InvalidProducerEpoch {
                producer_id,
                epoch: producer_epoch,
                current,
            });
        }
        let mut batch = record::build_marker(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            ControlType::from_commit(commit),
            timestamp,
        );
        let leader_epoch = state.leader_epoch;
        let info = state.log.append(&mut batch, leader_epoch)?;
        state.producers.on_marker(producer_id, producer_epoch);
        state.txns.on_marker(producer_id, info.first_offset, commit)?;
        state.high_watermark = state.log.log_end_offset();
        Ok(info.first_offset)
    }

    /// Reads batches from `offset`: below the high watermark, or for `read_committed` below
    /// the last stable offset, with the aborted transactions they overlap.
    pub fn fetch(&self, offset: i64, max_bytes: usize) -> Result<FetchedPartition> {
        self.fetch_with(offset, max_bytes, IsolationLevel::ReadUncommitted)
    }

    pub fn fetch_with(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<FetchedPartition> {
        self.fetch_by(offset, isolation, Bytes::is_empty, |log, upper| {
            log.read_up_to(offset, max_bytes, upper)
        })
    }

    /// As [`Partition::fetch_with`], returning where the batches lie in their segment file
    /// instead of reading them, for a response sent straight from the file.
    pub fn locate_with(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<FetchedPartition<Option<FileSlice>>> {
        self.fetch_by(offset, isolation, Option::is_none, |log, upper| {
            log.locate_up_to(offset, max_bytes, upper)
        })
    }

    fn fetch_by<R: Default>(
        &self,
        offset: i64,
        isolation: IsolationLevel,
        is_empty: impl FnOnce(&R) -> bool,
        read: impl FnOnce(&Log, i64) -> storage::Result<R>,
    ) -> Result<FetchedPartition<R>> {
        let state = self.lock()?;
        let lso = state.txns.last_stable_offset(state.high_watermark);
        let upper = match isolation {
            IsolationLevel::ReadUncommitted => state.high_watermark,
            IsolationLevel::ReadCommitted => lso,
        };
        let records = if offset == upper || (offset > upper && offset <= state.high_watermark) {
            R::default()
        } else {
            read(&state.log, upper)?
        };
        let aborted = match isolation {
            IsolationLevel::ReadUncommitted => None,
            IsolationLevel::ReadCommitted if is_empty(&records) => Some(Vec::new()),
            IsolationLevel::ReadCommitted => Some(state.txns.aborted_in(offset, upper)),
        };
        Ok(FetchedPartition {
            high_watermark: state.high_watermark,
            last_stable_offset: lso,
            log_start_offset: state.log.log_start_offset(),
            records,
            aborted,
        })
    }

    /// The last stable offset: below it every transaction is decided.
    pub fn last_stable_offset(&self) -> Result<i64> {
        let state = self.lock()?;
        Ok(state.txns.last_stable_offset(state.high_watermark))
    }

    /// The first offset of `producer_id`'s open transaction here, if it has one.
    pub fn ongoing_transaction(&self, producer_id: i64) -> Result<Option<i64>> {
        Ok(self.lock()?.txns.ongoing(producer_id))
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
        self.list_offset_with(timestamp, IsolationLevel::ReadUncommitted)
    }

    /// ListOffsets under an isolation level: for `read_committed` the latest offset is the
    /// last stable offset, and lookups by time find only records below it.
    pub fn list_offset_with(&self, timestamp: i64, isolation: IsolationLevel) -> Result<(i64, i64)> {
        let state = self.lock()?;
        let upper = match isolation {
            IsolationLevel::ReadUncommitted => state.high_watermark,
            IsolationLevel::ReadCommitted => state.txns.last_stable_offset(state.high_watermark),
        };
        Ok(match timestamp {
            -2 => (state.log.log_start_offset(), -1),
            -1 => (upper, -1),
            -3 => {
                // KIP-734, with KAFKA-16310's fix: the offset of the record itself, found in
                // the batch whose max timestamp is the largest. Markers are no records, and
                // read_committed looks below the last stable offset only, as Kafka does.
                let mut best: Option<(i64, i64)> = None;
                state
                    .log
                    .for_each_batch_header(state.log.log_start_offset(), |h| {
                        if h.attributes.control || h.base_offset >= upper {
                            return;
                        }
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
                Some((offset, found)) if offset < upper => (offset, found),
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
        let start = state.log.delete_records_before(target)?;
        state.txns.prune_before(start)?;
        Ok(start)
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
            let high_watermark = state.high_watermark;
            state.log.apply_retention(high_watermark)?;
            let start = state.log.log_start_offset();
            state.txns.prune_before(start)?;
            if !state.log.needs_compaction() {
                return Ok(());
            }
            let lso = state.txns.last_stable_offset(state.high_watermark);
            let aborted = state
                .txns
                .aborted_from(start)
                .into_iter()
                .map(|a| storage::log::AbortedRange {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                    last_offset: a.last_offset,
                })
                .collect();
            state
                .log
                .prepare_clean(cleaner)
                .map(|task| task.with_transactions(lso, aborted))
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
        let mut state = self.lock()?;
        state.snapshot(&self.dir)
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
        state.snapshot(&self.dir)?;
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
            && let Err(e) = state.snapshot(&self.dir)
        {
            tracing::warn!(partition = %self.tp, error = %e, "writing the producer snapshot failed");
        }
    }
}

impl State {
    /// Syncs the aborted-transaction index, then snapshots the producer state (with the open
    /// transactions) at the log end: replay after a restart starts there.
    fn snapshot(&mut self, dir: &Path) -> Result<()> {
        let end = self.log.log_end_offset();
        if self.snapshot_at == Some(end) {
            return Ok(());
        }
        self.txns.sync()?;
        self.producers
            .write_snapshot(dir, end, self.txns.ongoing_snapshot())?;
        self.snapshot_at = Some(end);
        Ok(())
    }
}

/// Replays one stored batch into the producer and transaction state (at open).
fn replay_batch(
    log: &Log,
    producers: &mut ProducerStates,
    txns: &mut Transactions,
    header: &BatchHeader,
) -> Result<()> {
    if header.producer_id < 0 {
        return Ok(());
    }
    if header.attributes.control {
        let bytes = log.read(header.base_offset, 1)?;
        let control = record::marker_type(&bytes).map_err(|e| storage::StorageError::CorruptMessage {
            position: 0,
            source: e,
        })?;
        if let Some(control) = control {
            producers.on_marker(header.producer_id, header.producer_epoch);
            txns.on_marker(
                header.producer_id,
                header.base_offset,
                control == ControlType::Commit,
            )?;
        }
        return Ok(());
    }
    if header.attributes.transactional {
        txns.on_data(header.producer_id, header.base_offset);
    }
    producers.replay(header);
    Ok(())
}
