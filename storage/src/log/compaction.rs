//! Log compaction (`cleanup.policy=compact`): keep the latest record of every key.
//!
//! A pass has three steps, and only the first and last need the log:
//!
//! 1. [`Log::prepare_clean`] (`&self`, brief): pick the cleanable sealed segments — all but the
//!    active one, and none whose records are younger than `min.compaction.lag.ms` — and hand
//!    them out as `Arc`s.
//! 2. [`CleanTask::run`] (no lock; slow): build an `OffsetMap` of key → latest offset over
//!    the dirty part (from the cleaner checkpoint on), stopping when the fixed-size map is
//!    full; then rewrite the segments below the map's end into `<base>.log.cleaned` files,
//!    keeping each record that is the latest for its key. Offsets are never changed: a
//!    rewritten batch keeps its base offset, its lastOffsetDelta and the offset deltas of the
//!    records it keeps, so readers see gaps, and producer sequences still line up.
//! 3. [`Log::install_clean`] (`&mut self`, brief): swap the cleaned files in, atomically with
//!    respect to crashes: `.cleaned` → `.swap` (fsync dir) → delete the old segments →
//!    `.swap` → `.log` (fsync dir). Recovery deletes stray `.cleaned` files and finishes any
//!    `.swap` it finds, so a crash at any point loses no record. If the log changed under the
//!    pass (truncation, retention), the result is discarded.
//!
//! A larger dirty part than the map holds takes several passes; memory stays bounded by
//! [`CleanerConfig::dedupe_buffer_bytes`].
//!
//! **Tombstones** (null values) follow KIP-534: the first pass whose offset map covers a kept
//! tombstone stamps its batch with a delete horizon of now + `delete.retention.ms` (attribute
//! bit 6, the horizon in baseTimestamp); a later pass whose map covers it, after the horizon,
//! removes it. A consumer that reads from the start within `delete.retention.ms` of the
//! cleaning therefore still sees the delete. A tombstone past a pass's map end (in a segment
//! the pass rewrites because it straddles that end) is neither stamped nor dropped by it: the
//! older values it deletes may not have been removed yet. (Kafka never rewrites past the map's
//! end, so there the question does not arise.)
//!
//! **Transactions**: the partition hands the pass its last stable offset and its aborted
//! transactions ([`CleanTask::with_transactions`]). The offset map stops at the LSO, so an
//! undecided transaction is never compared with anything; records of aborted transactions
//! never enter the map (an aborted write must not shadow the committed value it would have
//! replaced) and are removed; control batches (commit/abort markers) are kept as they are.
//! **Departure from Kafka:** markers are never removed (Kafka removes a marker once no record
//! of its transaction remains and its delete horizon passed). Keeping them costs one small
//! batch per transaction and partition, and can never expose an aborted record.
//!
//! **Departure from Kafka**: a batch whose records are all removed is dropped whole, even when
//! it was the last batch of an idempotent producer (Kafka keeps an empty batch to preserve the
//! producer's sequence state); producer-state snapshots will cover this when idempotence lands.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::checkpoint;
use super::offset_map::OffsetMap;
use super::scan::Scanner;
use super::segment::{Segment, file_name};
use super::{Log, LogConfig};
use crate::error::{IoContext, Result, StorageError};
use crate::record::{BatchBuilder, BatchHeader, TimestampType, decode_records};

pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// The first offset not yet compacted (Kafka's `cleaner-offset-checkpoint`, per partition).
pub(crate) const CLEANER_CHECKPOINT: &str = "cleaner-offset";

/// Broker-wide cleaner settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset map.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.buffer.load.factor`: how full the map may get.
    pub load_factor: f64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            dedupe_buffer_bytes: 128 << 20,
            load_factor: 0.9,
        }
    }
}

/// What cleaning did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanStats {
    pub passes: usize,
    pub segments_read: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_kept: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
}

impl CleanStats {
    fn add(&mut self, other: &CleanStats) {
        self.passes += other.passes;
        self.segments_read += other.segments_read;
        self.bytes_before += other.bytes_before;
        self.bytes_after += other.bytes_after;
        self.records_kept += other.records_kept;
        self.records_removed += other.records_removed;
        self.tombstones_removed += other.tombstones_removed;
    }
}

/// One cleaning pass's input, taken from the log by [`Log::prepare_clean`].
#[derive(Debug)]
pub struct CleanTask {
    dir: PathBuf,
    config: LogConfig,
    cleaner: CleanerConfig,
    segments: Vec<Arc<Segment>>,
    first_dirty: i64,
    now_ms: i64,
    /// The last stable offset: the map covers nothing at or past it.
    upper: i64,
    aborted: Vec<AbortedRange>,
}

/// One aborted transaction of the partition: `producer_id`'s records in
/// `first_offset..=last_offset` are aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedRange {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// A pass's output, to hand to [`Log::install_clean`].
#[derive(Debug)]
pub struct Cleaned {
    pub(crate) groups: Vec<CleanedGroup>,
    map_end: i64,
    stats: CleanStats,
}

#[derive(Debug)]
pub(crate) struct CleanedGroup {
    pub(crate) replaces: Vec<Arc<Segment>>,
    pub(crate) base_offset: i64,
    pub(crate) path: PathBuf,
}

impl Log {
    /// The share of the cleanable bytes not yet compacted (Kafka's dirty ratio).
    pub fn dirty_ratio(&self) -> f64 {
        let cleanable = self.cleanable_segments(self.clock.now_ms());
        let total: u64 = cleanable.iter().map(|s| s.size()).sum();
        if total == 0 {
            return 0.0;
        }
        let dirty: u64 = cleanable
            .iter()
            .zip(
                cleanable
                    .iter()
                    .skip(1)
                    .map(|s| s.base_offset())
                    .chain(std::iter::once(self.active.base_offset())),
            )
            .filter(|(_, next)| *next > self.first_dirty_offset)
            .map(|(s, _)| s.size())
            .sum();
        dirty as f64 / total as f64
    }

    /// Whether the policy asks for compaction and enough of the log is dirty.
    pub fn needs_compaction(&self) -> bool {
        self.config.cleanup_policy.compacts()
            && self.dirty_ratio() >= self.config.min_cleanable_dirty_ratio
            && self.dirty_ratio() > 0.0
    }

    /// Sealed segments old enough for `min.compaction.lag.ms`, oldest first.
    fn cleanable_segments(&self, now: i64) -> Vec<Arc<Segment>> {
        let lag = self.config.min_compaction_lag_ms;
        self.sealed
            .values()
            .take_while(|s| lag == 0 || s.max_timestamp() <= now - lag)
            .cloned()
            .collect()
    }

    /// Takes a snapshot for one cleaning pass, or `None` when nothing is dirty.
    pub fn prepare_clean(&self, cleaner: &CleanerConfig) -> Option<CleanTask> {
        let now = self.clock.now_ms();
        let segments = self.cleanable_segments(now);
        let end = segments.last().map(|s| s.next_offset().max(s.base_offset()))?;
        let cleanable_end = self
            .sealed
            .range(segments.last()?.base_offset() + 1..)
            .next()
            .map_or(self.active.base_offset(), |(&b, _)| b)
            .max(end);
        if self.first_dirty_offset >= cleanable_end {
            return None;
        }
        Some(CleanTask {
            dir: self.dir.clone(),
            config: self.config.clone(),
            cleaner: cleaner.clone(),
            segments,
            first_dirty: self.first_dirty_offset,
            now_ms: now,
            upper: i64::MAX,
            aborted: Vec::new(),
        })
    }

    /// Swaps a pass's cleaned segments in. Returns `false` (and removes the cleaned files) if
    /// the log changed under the pass so that the result no longer applies.
    pub fn install_clean(&mut self, cleaned: Cleaned) -> Result<bool> {
        let still_here = cleaned.groups.iter().all(|g| {
            g.replaces.iter().all(|old| {
                self.sealed
                    .get(&old.base_offset())
                    .is_some_and(|cur| Arc::ptr_eq(cur, old))
            })
        });
        if !still_here {
            for g in &cleaned.groups {
                let _ = fs::remove_file(&g.path);
            }
            return Ok(false);
        }
        for group in cleaned.groups {
            let swap = swap_path(&self.dir, group.base_offset);
            fs::rename(&group.path, &swap).ctx("rename cleaned segment", &swap)?;
            checkpoint::sync_dir(&self.dir)?;
            for old in group.replaces.iter().rev() {
                self.sealed.remove(&old.base_offset());
                self.unflushed.retain(|s| !Arc::ptr_eq(s, old));
                old.delete_files()?;
            }
            let log_path = self.dir.join(file_name(group.base_offset, "log"));
            fs::rename(&swap, &log_path).ctx("install cleaned segment", &log_path)?;
            checkpoint::sync_dir(&self.dir)?;
            let mut segment = Segment::open(&self.dir, group.base_offset, self.clock.now_ms())?;
            segment.recover(&self.config)?;
            self.sealed.insert(group.base_offset, Arc::new(segment));
        }
        self.first_dirty_offset = self.first_dirty_offset.max(cleaned.map_end);
        checkpoint::write(&self.dir, CLEANER_CHECKPOINT, self.first_dirty_offset)?;
        Ok(true)
    }

    /// Compacts the log now, in as many passes as the map's memory needs, holding `&mut self`
    /// throughout. A broker uses [`clean_shared`] instead, which does not block appends.
    pub fn compact(&mut self, cleaner: &CleanerConfig) -> Result<CleanStats> {
        let mut stats = CleanStats::default();
        while let Some(task) = self.prepare_clean(cleaner) {
            let before = self.first_dirty_offset;
            let cleaned = task.run()?;
            let pass = cleaned.stats;
            if !self.install_clean(cleaned)? || self.first_dirty_offset <= before {
                break;
            }
            stats.add(&pass);
        }
        Ok(stats)
    }

    /// The first offset not yet compacted.
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
    }
}

/// Compacts a shared log, holding its lock only to take the snapshot and to swap the result
/// in: appends and reads go on while a pass reads and rewrites segments.
fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn clean_shared(log: &Mutex<Log>, cleaner: &CleanerConfig) -> Result<CleanStats> {
    let mut stats = CleanStats::default();
    loop {
        let Some(task) = lock(log).prepare_clean(cleaner) else {
            break;
        };
        let before = task.first_dirty;
        let cleaned = task.run()?;
        let pass = cleaned.stats;
        let mut guard = lock(log);
        if !guard.install_clean(cleaned)? || guard.first_dirty_offset <= before {
            break;
        }
        stats.add(&pass);
    }
    Ok(stats)
}

pub(crate) fn swap_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}{SWAP_SUFFIX}", file_name(base, "log")))
}

impl CleanTask {
    /// Makes the pass respect transactions: nothing at or past `last_stable_offset` is mapped,
    /// and the records of the `aborted` transactions are removed (see the module docs).
    pub fn with_transactions(mut self, last_stable_offset: i64, aborted: Vec<AbortedRange>) -> Self {
        self.upper = last_stable_offset;
        self.aborted = aborted;
        self
    }

    fn is_aborted(&self, header: &BatchHeader) -> bool {
        header.attributes.transactional
            && !header.attributes.control
            && self.aborted.iter().any(|a| {
                a.producer_id == header.producer_id
                    && (a.first_offset..=a.last_offset).contains(&header.base_offset)
            })
    }

    /// Builds the offset map and writes the cleaned segments. Touches only sealed segments
    /// and new `.cleaned` files, so it needs no lock on the log.
    pub fn run(self) -> Result<Cleaned> {
        let limit = self.config.max_decompressed_bytes;
        let mut map = OffsetMap::with_memory(self.cleaner.dedupe_buffer_bytes, self.cleaner.load_factor);
        let mut map_end = self.first_dirty;
        'mapping: for segment in &self.segments {
            if segment.next_offset() <= self.first_dirty && segment.size() > 0 {
                continue;
            }
            for item in segment.batches() {
                let (peek, bytes) = item?;
                if peek.next_offset() <= self.first_dirty {
                    continue;
                }
                if peek.next_offset() > self.upper {
                    break 'mapping;
                }
                let (header, records) =
                    decode_records(&bytes, limit).map_err(|source| StorageError::CorruptSegment {
                        path: segment.log_path().to_path_buf(),
                        position: peek.position,
                        source,
                    })?;
                if !header.attributes.control && !self.is_aborted(&header) {
                    let keyed = records.iter().filter(|r| r.key.is_some()).count();
                    if !map.has_room_for(keyed) {
                        if map.len() == 0 {
                            return Err(StorageError::InvalidConfig {
                                key: "log.cleaner.dedupe.buffer.size".into(),
                                value: self.cleaner.dedupe_buffer_bytes.to_string(),
                                reason: format!("too small for one batch of {keyed} keys"),
                            });
                        }
                        break 'mapping;
                    }
                    for r in records.iter().filter(|r| r.offset >= self.first_dirty) {
                        if let Some(key) = &r.key {
                            map.put(key, r.offset);
                        }
                    }
                }
                map_end = peek.next_offset();
            }
        }

        let mut stats = CleanStats {
            passes: 1,
            ..CleanStats::default()
        };
        let to_clean: Vec<&Arc<Segment>> = self
            .segments
            .iter()
            .filter(|s| s.base_offset() < map_end)
            .collect();
        let mut groups = Vec::new();
        let mut i = 0;
        while i < to_clean.len() {
            let mut group = vec![to_clean[i].clone()];
            let mut size = to_clean[i].size();
            i += 1;
            while i < to_clean.len()
                && size + to_clean[i].size() <= self.config.segment_bytes
                && to_clean[i].next_offset() - group[0].base_offset() <= i64::from(i32::MAX)
            {
                size += to_clean[i].size();
                group.push(to_clean[i].clone());
                i += 1;
            }
            groups.push(self.clean_group(group, &map, map_end, &mut stats)?);
        }
        Ok(Cleaned {
            groups,
            map_end,
            stats,
        })
    }

    fn clean_group(
        &self,
        group: Vec<Arc<Segment>>,
        map: &OffsetMap,
        map_end: i64,
        stats: &mut CleanStats,
    ) -> Result<CleanedGroup> {
        let base_offset = group[0].base_offset();
        let path = self
            .dir
            .join(format!("{}{CLEANED_SUFFIX}", file_name(base_offset, "log")));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .ctx("create cleaned segment", &path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        for segment in &group {
            stats.segments_read += 1;
            stats.bytes_before += segment.size();
            for item in segment.batches() {
                let (peek, bytes) = item?;
                let kept = self.clean_batch(&bytes, map, map_end, stats).map_err(|source| {
                    StorageError::CorruptSegment {
                        path: segment.log_path().to_path_buf(),
                        position: peek.position,
                        source,
                    }
                })?;
                if let Some(kept) = kept {
                    stats.bytes_after += kept.len() as u64;
                    out.write_all(&kept).ctx("write cleaned segment", &path)?;
                }
            }
        }
        let file: File = out
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx("write cleaned segment", &path)?;
        file.sync_all().ctx("fsync cleaned segment", &path)?;
        Ok(CleanedGroup {
            replaces: group,
            base_offset,
            path,
        })
    }

    /// The batch as it should be after cleaning: the same bytes, a rebuilt batch, or nothing.
    fn clean_batch(
        &self,
        bytes: &Bytes,
        map: &OffsetMap,
        map_end: i64,
        stats: &mut CleanStats,
    ) -> std::result::Result<Option<Bytes>, crate::record::RecordError> {
        let (header, records) = decode_records(bytes, self.config.max_decompressed_bytes)?;
        if header.attributes.control {
            return Ok(Some(bytes.clone()));
        }
        if header.base_offset < map_end && self.is_aborted(&header) {
            stats.records_removed += records.len() as u64;
            return Ok(None);
        }
        let horizon_passed = header.delete_horizon_ms().is_some_and(|h| h <= self.now_ms);
        let mut keep = Vec::with_capacity(records.len());
        let mut kept_tombstone = false;
        for record in &records {
            // Only records below the map's end were compared with the map. A tombstone past it
            // (in a segment this pass rewrites because it straddles the end) is neither stamped
            // nor dropped: the older values it deletes may still be in the log.
            let in_map = record.offset < map_end;
            let latest = match &record.key {
                Some(key) if in_map => map.get(key).is_none_or(|latest| latest <= record.offset),
                _ => true,
            };
            let tombstone = in_map && record.key.is_some() && record.value.is_none();
            if latest && !(tombstone && horizon_passed) {
                kept_tombstone |= tombstone;
                keep.push(record);
            } else if latest {
                stats.tombstones_removed += 1;
            }
        }
        stats.records_kept += keep.len() as u64;
        stats.records_removed += (records.len() - keep.len()) as u64;
        let needs_horizon = kept_tombstone && header.delete_horizon_ms().is_none();
        if keep.is_empty() {
            return Ok(None);
        }
        if keep.len() == records.len() && !needs_horizon {
            return Ok(Some(bytes.clone()));
        }
        let horizon = header
            .delete_horizon_ms()
            .or(needs_horizon.then(|| self.now_ms.saturating_add(self.config.delete_retention_ms)));
        Ok(Some(Bytes::from(rebuild(&header, &keep, horizon))))
    }
}

/// A batch with only `keep`, everything else about it preserved.
fn rebuild(header: &BatchHeader, keep: &[&crate::record::Record], horizon: Option<i64>) -> Vec<u8> {
    let mut builder = BatchBuilder::new(header.attributes.compression)
        .with_base_offset(header.base_offset)
        .with_partition_leader_epoch(header.partition_leader_epoch)
        .with_producer(header.producer_id, header.producer_epoch, header.base_sequence)
        .with_transactional(header.attributes.transactional)
        .with_timestamp_type(header.attributes.timestamp_type)
        .with_last_offset_delta(header.last_offset_delta);
    if let Some(h) = horizon {
        builder = builder.with_delete_horizon(h);
    }
    for r in keep {
        let delta = (r.offset - header.base_offset) as i32;
        builder.append_at(
            delta,
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
    }
    let mut out = builder.build();
    if header.attributes.timestamp_type == TimestampType::LogAppendTime {
        // Keep the broker's append time, which is the batch's max timestamp.
        crate::record::set_log_append_time(&mut out, header.max_timestamp);
    }
    out
}

/// Recovery's half of the swap protocol: a `.swap` file is a complete cleaned segment whose
/// originals may be partly deleted. Delete whatever of them remains, then install it.
pub(crate) fn finish_swap(dir: &Path, base: i64, bases: &mut Vec<i64>, config: &LogConfig) -> Result<()> {
    let swap = swap_path(dir, base);
    let file = File::open(&swap).ctx("open swap segment", &swap)?;
    let len = file.metadata().ctx("stat swap segment", &swap)?.len();
    let mut scanner = Scanner::new(&file, len, 0);
    let mut end = base;
    while let Ok(Some((peek, _))) = scanner.next_valid(config.max_decompressed_bytes) {
        end = peek.next_offset();
    }
    if scanner.position() != len {
        // A .swap is fsynced before it is named so; one that does not validate is not ours to
        // trust. The originals are still there unless deleted, so drop the swap.
        tracing::warn!(swap = %swap.display(), "invalid swap segment; discarding it");
        fs::remove_file(&swap).ctx("remove swap segment", &swap)?;
        return Ok(());
    }
    let doomed: Vec<i64> = bases
        .iter()
        .copied()
        .filter(|&b| b >= base && b < end.max(base + 1))
        .collect();
    for b in &doomed {
        for ext in ["log", "index", "timeindex"] {
            let path = dir.join(file_name(*b, ext));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("remove replaced segment", &path),
            }
        }
    }
    for ext in ["index", "timeindex"] {
        let _ = fs::remove_file(dir.join(file_name(base, ext)));
    }
    bases.retain(|b| !doomed.contains(b));
    let log_path = dir.join(file_name(base, "log"));
    fs::rename(&swap, &log_path).ctx("install swap segment", &log_path)?;
    checkpoint::sync_dir(dir)?;
    bases.push(base);
    tracing::info!(segment = %log_path.display(), "finished an interrupted compaction swap");
    Ok(())
}
