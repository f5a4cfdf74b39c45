//! Deleting old data: whole segments by `retention.ms` and `retention.bytes`, and everything
//! below an explicit new log start (Kafka's DeleteRecords).
//!
//! As in Kafka, the active segment is not spared: once every record in it has expired, it is
//! rolled and deleted like a sealed one, so a topic that stops receiving records empties after
//! `retention.ms` instead of keeping its last segment for ever. Nothing at or above the high
//! watermark is deleted, so the log start never passes it.

use super::Log;
use super::checkpoint::{self, LOG_START_OFFSET};
use crate::error::{Result, StorageError};

/// What a retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub deleted_segments: usize,
    pub deleted_bytes: u64,
}

impl Log {
    /// Deletes segments, oldest first, while they breach `retention.ms` (their newest record
    /// is older than that), `retention.bytes` (the log is larger than that without them), or
    /// lie wholly below the log start offset. Stops at the first segment that breaches nothing,
    /// as Kafka does, so the log stays a contiguous range; and at the first one that reaches
    /// past `high_watermark` (Kafka's bound: the log start never exceeds the high watermark).
    /// The active segment counts too when it is not empty: it is rolled first, so the log keeps
    /// an (empty) active segment at its end offset.
    pub fn apply_retention(&mut self, high_watermark: i64) -> Result<RetentionOutcome> {
        let now = self.clock.now_ms();
        let deletes = self.config.cleanup_policy.deletes();
        let mut excess = match self.config.retention_bytes {
            Some(limit) if deletes => self.size_bytes().saturating_sub(limit),
            _ => 0,
        };
        let breaches = |excess: u64, size: u64, max_timestamp: i64, next_base: i64| {
            let expired = deletes
                && self
                    .config
                    .retention_ms
                    .is_some_and(|ms| now - max_timestamp > ms);
            let oversize = excess >= size && excess > 0;
            let below_start = next_base <= self.log_start_offset;
            (expired || oversize || below_start) && next_base <= high_watermark
        };
        let mut doomed = Vec::new();
        let mut iter = self.sealed.iter().peekable();
        while let Some((&base, segment)) = iter.next() {
            let next_base = iter.peek().map_or(self.active.base_offset(), |(b, _)| **b);
            if !breaches(excess, segment.size(), segment.max_timestamp(), next_base) {
                break;
            }
            excess = excess.saturating_sub(segment.size());
            doomed.push(base);
        }
        let active = &self.active;
        // The active segment is a candidate only when every sealed one went.
        if doomed.len() == self.sealed.len()
            && active.size() > 0
            && breaches(
                excess,
                active.size(),
                active.max_timestamp(),
                self.log_end_offset(),
            )
        {
            doomed.push(active.base_offset());
            self.roll()?;
        }
        self.delete_segments(&doomed)
    }

    fn delete_segments(&mut self, bases: &[i64]) -> Result<RetentionOutcome> {
        let mut outcome = RetentionOutcome::default();
        for base in bases {
            if let Some(segment) = self.sealed.remove(base) {
                self.unflushed.retain(|s| !std::sync::Arc::ptr_eq(s, &segment));
                segment.delete_files()?;
                outcome.deleted_segments += 1;
                outcome.deleted_bytes += segment.size();
                tracing::info!(segment = %segment.log_path().display(), bytes = segment.size(), "deleted segment by retention");
            }
        }
        if outcome.deleted_segments > 0 {
            let first = self
                .sealed
                .keys()
                .next()
                .copied()
                .unwrap_or(self.active.base_offset());
            if first > self.log_start_offset {
                self.log_start_offset = first;
                checkpoint::write(&self.dir, LOG_START_OFFSET, first)?;
            }
        }
        Ok(outcome)
    }

    /// Moves the log start to `offset` (Kafka's DeleteRecords): reads below it fail with
    /// OFFSET_OUT_OF_RANGE at once, and segments wholly below it are deleted. Returns the new
    /// log start.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        let log_end = self.log_end_offset();
        if offset < 0 || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        checkpoint::write(&self.dir, LOG_START_OFFSET, offset)?;
        if offset >= log_end && self.active.size() > 0 {
            // Everything is gone: start a fresh segment so the old one can be deleted.
            self.roll()?;
        }
        let doomed: Vec<i64> = self
            .sealed
            .iter()
            .zip(
                self.sealed
                    .keys()
                    .skip(1)
                    .copied()
                    .chain(std::iter::once(self.active.base_offset())),
            )
            .filter(|(_, next_base)| *next_base <= offset)
            .map(|((&base, _), _)| base)
            .collect();
        self.delete_segments(&doomed)?;
        self.first_dirty_offset = self.first_dirty_offset.max(offset);
        Ok(self.log_start_offset)
    }
}
