//! Opening a log: finishing an interrupted compaction swap, loading segments, and — after an
//! unclean stop — validating every batch after the recovery point and cutting the log at the
//! first torn or corrupt one.
//!
//! The clean-shutdown marker (written last by [`Log::close`], removed at open) says the files
//! were complete when the process stopped. Without it, segments from the one holding the
//! recovery point onward are scanned batch by batch (length, magic, CRC-32C, every record,
//! offsets increasing); the first failure truncates that segment there and deletes every
//! later segment, and the cut is logged. Segments below the recovery point were fsynced, so
//! only their indexes are checked (and rebuilt from the log if missing or insane).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{self, CLEAN_SHUTDOWN, LOG_START_OFFSET, RECOVERY_POINT};
use super::compaction::{CLEANED_SUFFIX, SWAP_SUFFIX, finish_swap};
use super::segment::{Segment, parse_file_name};
use super::{Log, LogConfig};
use crate::clock::Clock;
use crate::error::{IoContext, Result};

pub(super) fn open(dir: &Path, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Log> {
    fs::create_dir_all(dir).ctx("create log directory", dir)?;
    let now = clock.now_ms();
    let clean_end = checkpoint::read(dir, CLEAN_SHUTDOWN);
    let recovery_point = checkpoint::read(dir, RECOVERY_POINT).unwrap_or(0);
    let start_checkpoint = checkpoint::read(dir, LOG_START_OFFSET);

    let mut bases = Vec::new();
    let mut swaps = Vec::new();
    for entry in fs::read_dir(dir).ctx("list log directory", dir)? {
        let entry = entry.ctx("list log directory", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(".tmp") {
            // A cleaning or checkpoint write that never finished: the originals are intact.
            fs::remove_file(entry.path()).ctx("remove leftover", &entry.path())?;
        } else if let Some(base) = name
            .strip_suffix(SWAP_SUFFIX)
            .and_then(|n| parse_file_name(n, "log"))
        {
            swaps.push(base);
        } else if let Some(base) = parse_file_name(&name, "log") {
            bases.push(base);
        }
    }
    for base in swaps {
        finish_swap(dir, base, &mut bases, &config)?;
    }
    bases.sort_unstable();
    bases.dedup();

    let mut segments = Vec::with_capacity(bases.len().max(1));
    for &base in &bases {
        segments.push(Segment::open(dir, base, now)?);
    }
    if segments.is_empty() {
        segments.push(Segment::create(dir, start_checkpoint.unwrap_or(0), now)?);
    }

    // Segments before `first_unsafe` were complete when written (fsynced, or closed cleanly)
    // and are only loaded; from there on, every batch is validated.
    let mut first_unsafe = match clean_end {
        Some(_) => segments.len(),
        None => segments
            .iter()
            .rposition(|s| s.base_offset() <= recovery_point)
            .unwrap_or(0),
    };
    for segment in segments.iter_mut().take(first_unsafe) {
        if !segment.load(&config)? {
            // A trusted segment whose indexes or tail fail their checks is repaired in place.
            // Later segments stay: they were written after it and are checked on their own.
            tracing::warn!(segment = %segment.log_path().display(), "segment failed its load checks; validating it");
            let recovered = segment.recover(&config)?;
            report(segment, &recovered);
        }
    }
    if let Some(end) = clean_end
        && segments.last().map(Segment::next_offset) != Some(end)
    {
        tracing::warn!(dir = %dir.display(), "log end differs from the clean-shutdown marker; recovering the last segment");
        first_unsafe = segments.len() - 1;
    }

    // Unflushed segments: the first invalid batch ends the log, as in Kafka. The segments after
    // it are deleted (newest first, then the directory fsynced) *before* the cut, so a crash
    // during recovery cannot leave a cut segment followed by later data.
    let mut keep = segments.len();
    for i in first_unsafe..segments.len() {
        let out_of_order = i > 0 && segments[i].base_offset() < segments[i - 1].next_offset();
        if out_of_order {
            keep = i;
            break;
        }
        let recovered = segments[i].scan_valid_prefix(&config)?;
        if let Some(position) = recovered.cut_at {
            report(&segments[i], &recovered);
            delete_from(dir, &mut segments, i + 1)?;
            segments[i].cut(position)?;
            keep = i + 1;
            break;
        }
    }
    delete_from(dir, &mut segments, keep.max(1))?;

    let active = segments
        .pop()
        .ok_or_else(|| std::io::Error::other("no segment"))
        .ctx("open log", dir)?;
    let sealed: BTreeMap<i64, Arc<Segment>> = segments
        .into_iter()
        .map(|s| (s.base_offset(), Arc::new(s)))
        .collect();
    // After an unclean stop, sealed segments past the recovery point may hold bytes that were
    // never fsynced: the next flush must sync them before moving the recovery point.
    let unflushed = match clean_end {
        Some(_) => Vec::new(),
        None => sealed
            .values()
            .filter(|s| s.next_offset() > recovery_point)
            .cloned()
            .collect(),
    };
    let first_base = sealed.keys().next().copied().unwrap_or(active.base_offset());
    let log_end = active.next_offset();
    let log_start = start_checkpoint
        .unwrap_or(first_base)
        .max(first_base)
        .min(log_end);
    checkpoint::remove(dir, CLEAN_SHUTDOWN)?;
    let first_dirty_offset = checkpoint::read(dir, super::compaction::CLEANER_CHECKPOINT)
        .unwrap_or(log_start)
        .clamp(log_start, log_end);
    Ok(Log {
        dir: dir.to_path_buf(),
        config,
        clock,
        sealed,
        active,
        log_start_offset: log_start,
        recovery_point: if clean_end.is_some() {
            log_end
        } else {
            recovery_point.min(log_end)
        },
        unflushed,
        messages_since_flush: 0,
        last_flush_ms: now,
        first_dirty_offset,
        closed: false,
    })
}

/// Deletes `segments[from..]`, newest first, and makes the deletions durable.
fn delete_from(dir: &Path, segments: &mut Vec<Segment>, from: usize) -> Result<()> {
    if from >= segments.len() {
        return Ok(());
    }
    for dropped in segments.drain(from..).rev() {
        tracing::warn!(segment = %dropped.log_path().display(), bytes = dropped.size(), "deleting segment after the recovered end of the log");
        dropped.delete_files()?;
    }
    checkpoint::sync_dir(dir)
}

fn report(segment: &Segment, recovered: &super::segment::Recovered) {
    if let Some((bytes, reason)) = &recovered.truncated {
        tracing::warn!(
            segment = %segment.log_path().display(),
            kept_batches = recovered.batches,
            cut_bytes = bytes,
            %reason,
            "truncated the log at an invalid batch"
        );
    }
}
