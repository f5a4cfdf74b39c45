//! The partition log: an ordered set of segments, the newest of which takes appends.
//!
//! ```text
//!            sealed (Arc<Segment>, read-only, shared with readers and the cleaner)      active
//!  log start ┌──────────────┐┌──────────────┐┌──────────────┐ ┌──────────────────────┐ log end
//!      ──────►  00000…0.log ││ 00000…412.log││ 00000…977.log│ │ 00000…1503.log  ◄── append
//!            └──────────────┘└──────────────┘└──────────────┘ └──────────────────────┘
//!   retention deletes whole sealed segments from the left; compaction rewrites sealed ones
//!   in place (same offsets, fewer records); recovery re-validates from the recovery point.
//! ```

mod checkpoint;
pub mod compaction;
mod config;
mod file_slice;
mod index;
mod offset_map;
mod recovery;
mod retention;
mod scan;
mod segment;
mod time_index;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

pub use compaction::{AbortedRange, CleanStats, CleanTask, CleanerConfig};
pub use config::{CleanupPolicy, LogConfig};
pub use file_slice::FileSlice;
pub use retention::RetentionOutcome;
pub(crate) use scan::Peek;
pub(crate) use segment::Segment;

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, StorageError};
use crate::record::{self, TimestampType, declared_size};

/// What an append did: the offsets it assigned and the timestamps it stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    /// Largest timestamp among the appended batches (the append time under LogAppendTime).
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// The broker time written into the batches, when the log uses LogAppendTime.
    pub log_append_time: Option<i64>,
    pub batches: usize,
    pub records: u64,
    pub bytes: usize,
}

/// A partition's log on disk. See the crate docs for the layout.
///
/// Appends take `&mut self`; reads take `&self`. A broker shares a log behind a lock; the
/// cleaner works on sealed segments outside the lock (see [`compaction`]).
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    clock: Arc<dyn Clock>,
    sealed: BTreeMap<i64, Arc<Segment>>,
    active: Segment,
    log_start_offset: i64,
    /// Every byte below this offset has been fsynced.
    recovery_point: i64,
    /// Segments rolled since the last flush, whose bytes may still be only in the page cache.
    unflushed: Vec<Arc<Segment>>,
    messages_since_flush: u64,
    last_flush_ms: i64,
    /// The cleaner's checkpoint: offsets below this have been compacted.
    first_dirty_offset: i64,
    closed: bool,
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it if it was not closed cleanly.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        Log::open_with_clock(dir, config, Arc::new(SystemClock))
    }

    pub fn open_with_clock(dir: impl AsRef<Path>, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Log> {
        recovery::open(dir.as_ref(), config, clock)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes the config; takes effect from the next append, roll or cleaning.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// The first offset a reader can ask for.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active.next_offset()
    }

    /// Bytes on disk across all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments().map(Segment::size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.sealed.len() + 1
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments().map(Segment::base_offset).collect()
    }

    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.sealed
            .values()
            .map(|s| &**s)
            .chain(std::iter::once(&self.active))
    }

    /// Validates and appends the batches in `batches` (a produce request's record set: one or
    /// more v2 batches back to back) as the leader at `leader_epoch`.
    ///
    /// Every batch is checked before anything is written — framing, magic, checksum, every
    /// record, `max.message.bytes` — so a bad batch leaves the log untouched. Offsets are
    /// assigned by rewriting baseOffset and partitionLeaderEpoch in place; under LogAppendTime
    /// the max timestamp is set too and the checksum recomputed, as Kafka does. The bytes are
    /// then stored as they are.
    pub fn append(&mut self, batches: &mut [u8], leader_epoch: i32) -> Result<AppendInfo> {
        let peeks = self.validate_append(batches)?;
        self.append_checked(batches, peeks, leader_epoch)
    }

    /// [`Log::append`] of a batch this process built: its header is read and its size
    /// checked against `max.message.bytes`, but its records are not walked (they are right
    /// by construction, see [`record::BuiltBatch`]).
    pub fn append_built(&mut self, batch: &mut record::BuiltBatch, leader_epoch: i32) -> Result<AppendInfo> {
        let header = record::BatchHeader::parse(batch).map_err(|e| StorageError::from_append(0, e))?;
        let max = self.max_batch_bytes();
        if batch.len() > max {
            return Err(StorageError::MessageTooLarge {
                position: 0,
                size: batch.len(),
                max,
            });
        }
        let peek = Peek {
            position: 0,
            base_offset: 0,
            size: batch.len(),
            last_offset_delta: header.last_offset_delta,
            max_timestamp: header.max_timestamp,
        };
        self.append_checked(
            batch.bytes_mut(),
            vec![(peek, header.record_count as u32)],
            leader_epoch,
        )
    }

    /// The largest batch an append takes: `max.message.bytes`, and never more than a segment.
    fn max_batch_bytes(&self) -> usize {
        self.config
            .max_message_bytes
            .min(self.config.segment_bytes as usize)
    }

    /// Appends `batches`, whose placement and record counts `peeks` gives.
    fn append_checked(
        &mut self,
        batches: &mut [u8],
        mut peeks: Vec<(Peek, u32)>,
        leader_epoch: i32,
    ) -> Result<AppendInfo> {
        let now = self.clock.now_ms();
        let log_append_time =
            (self.config.message_timestamp_type == TimestampType::LogAppendTime).then_some(now);
        let first_offset = self.log_end_offset();
        let mut next = first_offset;
        let mut info = AppendInfo {
            first_offset,
            last_offset: first_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: first_offset,
            log_append_time,
            batches: peeks.len(),
            records: 0,
            bytes: batches.len(),
        };
        for (peek, count) in &mut peeks {
            let bytes = &mut batches[peek.position as usize..peek.end() as usize];
            record::assign_offset(bytes, next, leader_epoch);
            if let Some(now) = log_append_time {
                record::set_log_append_time(bytes, now);
                peek.max_timestamp = now;
            }
            peek.base_offset = next;
            next = peek.next_offset();
            info.records += u64::from(*count);
            if peek.max_timestamp > info.max_timestamp {
                info.max_timestamp = peek.max_timestamp;
                info.offset_of_max_timestamp = peek.last_offset();
            }
        }
        info.last_offset = next - 1;
        let peeks: Vec<Peek> = peeks.into_iter().map(|(p, _)| p).collect();
        if self.active.should_roll(
            batches.len(),
            info.last_offset,
            info.max_timestamp,
            now,
            &self.config,
        ) {
            self.roll()?;
        }
        self.active.append(batches, &peeks, &self.config)?;
        self.messages_since_flush += info.records;
        self.maybe_flush(now)?;
        Ok(info)
    }

    /// Checks every batch of an append; returns each batch's placement and record count.
    fn validate_append(&self, batches: &[u8]) -> Result<Vec<(Peek, u32)>> {
        if batches.is_empty() {
            return Err(StorageError::from_append(
                0,
                record::RecordError::Truncated { at: 0 },
            ));
        }
        let max = self.max_batch_bytes();
        let mut peeks = Vec::new();
        let mut position = 0usize;
        while position < batches.len() {
            let rest = &batches[position..];
            let size = declared_size(rest).ok_or_else(|| {
                StorageError::from_append(position, record::RecordError::Truncated { at: rest.len() })
            })?;
            if size > max as i64 {
                return Err(StorageError::MessageTooLarge {
                    position,
                    size: size as usize,
                    max,
                });
            }
            if size > rest.len() as i64 || size < record::HEADER_LEN as i64 {
                let header = record::BatchHeader::parse(rest);
                let source = header
                    .err()
                    .unwrap_or(record::RecordError::Truncated { at: rest.len() });
                return Err(StorageError::from_append(position, source));
            }
            let bytes = &rest[..size as usize];
            let header = record::validate(bytes, true, self.config.max_decompressed_bytes)
                .map_err(|e| StorageError::from_append(position, e))?;
            peeks.push((
                Peek {
                    position: position as u64,
                    base_offset: 0,
                    size: size as usize,
                    last_offset_delta: header.last_offset_delta,
                    max_timestamp: header.max_timestamp,
                },
                header.record_count as u32,
            ));
            position += size as usize;
        }
        Ok(peeks)
    }

    /// Reads whole batches from the one holding `offset`, up to `max_bytes` (at least one
    /// batch, so a consumer always makes progress — KIP-74). Batches may start before
    /// `offset`; the reader skips the records it did not ask for, as Kafka consumers do.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
        self.read_up_to(offset, max_bytes, i64::MAX)
    }

    /// As [`Log::read`], leaving out batches that start at or after `upper` (a high watermark
    /// or last stable offset).
    pub fn read_up_to(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Bytes> {
        self.first_from(offset, upper, |segment, upper| {
            segment.read(offset, max_bytes, upper)
        })
        .map(Option::unwrap_or_default)
    }

    /// As [`Log::read_up_to`], but where the batches lie rather than their bytes (`None` when
    /// there are none), for sending straight from the file.
    pub fn locate_up_to(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Option<FileSlice>> {
        self.first_from(offset, upper, |segment, upper| {
            segment.locate(offset, max_bytes, upper)
        })
    }

    /// The first answer of `get` over the segments from the one holding `offset`, stopping at
    /// `upper` (capped at the log end); an error if `offset` is outside the log.
    fn first_from<T>(
        &self,
        offset: i64,
        upper: i64,
        mut get: impl FnMut(&Segment, i64) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        let upper = upper.min(log_end);
        let from_segment = self
            .sealed
            .range(..=offset)
            .next_back()
            .map_or(self.active.base_offset(), |(&base, _)| base);
        for segment in self.segments().filter(|s| s.base_offset() >= from_segment) {
            if segment.base_offset() >= upper {
                break;
            }
            if let Some(found) = get(segment, upper)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The earliest record at or after `timestamp` at or after the log start: (offset,
    /// timestamp), or `None` if every record is older (Kafka's ListOffsets by timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        for segment in self.segments().filter(|s| s.max_timestamp() >= timestamp) {
            if let Some((offset, ts)) =
                segment.find_by_timestamp(timestamp, self.config.max_decompressed_bytes)?
                && offset >= self.log_start_offset
            {
                return Ok(Some((offset, ts)));
            }
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch from the one holding `offset` to the end, in
    /// order. For rebuilding state kept beside the log, such as idempotent producers' sequences.
    pub fn for_each_batch_header(&self, offset: i64, mut f: impl FnMut(&record::BatchHeader)) -> Result<()> {
        for segment in self
            .segments()
            .filter(|s| s.next_offset() > offset || s.size() == 0)
        {
            for item in segment.batches() {
                let (peek, bytes) = item?;
                if peek.last_offset() < offset {
                    continue;
                }
                let header =
                    record::BatchHeader::parse(&bytes).map_err(|source| StorageError::CorruptSegment {
                        path: segment.log_path().to_path_buf(),
                        position: peek.position,
                        source,
                    })?;
                f(&header);
            }
        }
        Ok(())
    }

    /// Starts a new active segment at the log end, sealing the current one. Does nothing when
    /// the active segment is empty.
    pub fn roll(&mut self) -> Result<()> {
        if self.active.size() == 0 {
            return Ok(());
        }
        let next = Segment::create(&self.dir, self.log_end_offset(), self.clock.now_ms())?;
        let mut old = std::mem::replace(&mut self.active, next);
        old.seal()?;
        let old = Arc::new(old);
        self.unflushed.push(old.clone());
        self.sealed.insert(old.base_offset(), old);
        Ok(())
    }

    fn maybe_flush(&mut self, now: i64) -> Result<()> {
        let by_count = self
            .config
            .flush_messages
            .is_some_and(|n| self.messages_since_flush >= n);
        let by_time = self
            .config
            .flush_interval()
            .is_some_and(|d| now - self.last_flush_ms >= d.as_millis() as i64);
        if by_count || by_time { self.flush() } else { Ok(()) }
    }

    /// fsyncs when `flush.ms` has passed since the last flush; for a periodic ticker.
    pub fn flush_if_due(&mut self) -> Result<()> {
        let now = self.clock.now_ms();
        match self.config.flush_interval() {
            Some(d) if now - self.last_flush_ms >= d.as_millis() as i64 => self.flush(),
            _ => Ok(()),
        }
    }

    /// Makes everything appended so far durable and moves the recovery point to the log end.
    pub fn flush(&mut self) -> Result<()> {
        for segment in self.unflushed.drain(..) {
            segment.sync()?;
        }
        self.active.flush()?;
        let end = self.log_end_offset();
        if end != self.recovery_point {
            self.recovery_point = end;
            checkpoint::write(&self.dir, checkpoint::RECOVERY_POINT, end)?;
        }
        self.messages_since_flush = 0;
        self.last_flush_ms = self.clock.now_ms();
        Ok(())
    }

    /// The offset below which data is known durable.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Removes every record at or after `offset` (a follower diverged from its leader). A batch
    /// that holds `offset` is removed whole. Below the log start, the log is emptied and
    /// restarts at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        if offset < self.log_start_offset {
            return self.truncate_fully_and_start_at(offset);
        }
        // Drop whole segments above, then cut the one that holds `offset`.
        while self.active.base_offset() > offset {
            let Some((&base, _)) = self.sealed.iter().next_back() else {
                break;
            };
            let Some(previous) = self.sealed.remove(&base) else {
                break;
            };
            self.unflushed.retain(|s| !Arc::ptr_eq(s, &previous));
            // Reopen from disk rather than unwrap the Arc: a reader or the cleaner may still
            // hold the sealed copy, and keeps reading its own file handle meanwhile.
            drop(previous);
            let mut previous = Segment::open(&self.dir, base, self.clock.now_ms())?;
            if !previous.load(&self.config)? {
                previous.recover(&self.config)?;
            }
            let dropped = std::mem::replace(&mut self.active, previous);
            dropped.delete_files()?;
        }
        self.active.truncate_to(offset, &self.config)?;
        self.recovery_point = self.recovery_point.min(self.log_end_offset());
        self.first_dirty_offset = self.first_dirty_offset.min(self.log_end_offset());
        checkpoint::write(&self.dir, checkpoint::RECOVERY_POINT, self.recovery_point)
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<()> {
        for (_, segment) in std::mem::take(&mut self.sealed) {
            segment.delete_files()?;
        }
        self.unflushed.clear();
        let fresh = Segment::create(&self.dir, offset, self.clock.now_ms())?;
        let old = std::mem::replace(&mut self.active, fresh);
        if old.base_offset() != offset {
            old.delete_files()?;
        }
        self.log_start_offset = offset;
        self.recovery_point = offset;
        self.first_dirty_offset = offset;
        checkpoint::write(&self.dir, checkpoint::LOG_START_OFFSET, offset)?;
        checkpoint::write(&self.dir, checkpoint::RECOVERY_POINT, offset)
    }

    /// Stops the log without closing it, for a log whose directory is about to be deleted
    /// (a deleted topic): nothing more is written to its files.
    pub fn discard(&mut self) {
        self.closed = true;
    }

    /// Flushes, seals the indexes and leaves the clean-shutdown marker, so the next open skips
    /// recovery.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    /// [`Log::close`] for a log owned by something longer-lived (behind a lock): later calls
    /// still work but the next open will trust the files only if nothing was appended since.
    pub fn close_in_place(&mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.flush()?;
        self.active.seal()?;
        self.active.sync()?;
        checkpoint::write(&self.dir, checkpoint::CLEAN_SHUTDOWN, self.log_end_offset())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Err(e) = self.close_inner() {
            tracing::error!(dir = %self.dir.display(), error = %e, "closing log failed; it will be recovered at next open");
        }
    }
}

#[cfg(test)]
mod tests;
