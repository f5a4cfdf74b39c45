//! The sparse time index (`.timeindex`): entries of (largest timestamp so far, the offset of
//! the batch that holds it), added beside offset-index entries whenever the timestamp grew.
//! 12 bytes an entry (i64 timestamp, u32 relative offset), big-endian, as in Kafka.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

const ENTRY: usize = 12;

#[derive(Debug)]
pub(crate) struct TimeIndex {
    path: PathBuf,
    base_offset: i64,
    /// (timestamp, relative offset), timestamps strictly and offsets weakly increasing.
    entries: Vec<(i64, u32)>,
    persisted: usize,
}

impl TimeIndex {
    pub fn empty(path: PathBuf, base_offset: i64) -> TimeIndex {
        TimeIndex {
            path,
            base_offset,
            entries: Vec::new(),
            persisted: 0,
        }
    }

    /// Loads the file, or `None` if missing or not sane.
    pub fn load(path: PathBuf, base_offset: i64) -> Option<TimeIndex> {
        let bytes = fs::read(&path).ok()?;
        if bytes.len() % ENTRY != 0 {
            return None;
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / ENTRY);
        for chunk in bytes.chunks_exact(ENTRY) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if let Some(&(last_ts, last_rel)) = entries.last()
                && (ts <= last_ts || rel < last_rel)
            {
                return None;
            }
            entries.push((ts, rel));
        }
        let persisted = entries.len();
        Some(TimeIndex {
            path,
            base_offset,
            entries,
            persisted,
        })
    }

    /// Records that `offset` holds the largest timestamp so far, if it is larger than the
    /// last entry's.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) {
        if self.entries.last().is_none_or(|&(ts, _)| timestamp > ts) {
            self.entries.push((timestamp, (offset - self.base_offset) as u32));
        }
    }

    /// The last entry: the largest timestamp known and its offset.
    pub fn last(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(ts, rel)| (ts, self.base_offset + i64::from(rel)))
    }

    /// The offset of the last entry whose timestamp is below `timestamp`: every record at or
    /// before it is older than `timestamp`, so a search for the first record at or after
    /// `timestamp` may start there. `None` means start at the segment's beginning.
    pub fn lookup_below(&self, timestamp: i64) -> Option<i64> {
        match self.entries.partition_point(|&(ts, _)| ts < timestamp) {
            0 => None,
            n => Some(self.base_offset + i64::from(self.entries[n - 1].1)),
        }
    }

    pub fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        fs::File::create(&self.path).ctx("truncate time index", &self.path)?;
        self.persisted = 0;
        Ok(())
    }

    pub fn persist(&mut self) -> Result<()> {
        if self.persisted == self.entries.len() && self.path.exists() {
            return Ok(());
        }
        let mut out = Vec::with_capacity((self.entries.len() - self.persisted) * ENTRY);
        for &(ts, rel) in &self.entries[self.persisted..] {
            out.extend_from_slice(&ts.to_be_bytes());
            out.extend_from_slice(&rel.to_be_bytes());
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ctx("open time index", &self.path)?;
        file.write_all(&out).ctx("write time index", &self.path)?;
        self.persisted = self.entries.len();
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_below_starts_before_any_record_at_the_target_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::empty(dir.path().join("x.timeindex"), 10);
        idx.maybe_append(100, 12);
        idx.maybe_append(100, 15); // not larger: ignored
        idx.maybe_append(200, 20);
        assert_eq!(idx.lookup_below(50), None);
        assert_eq!(idx.lookup_below(100), None);
        assert_eq!(idx.lookup_below(101), Some(12));
        assert_eq!(idx.lookup_below(10_000), Some(20));
        assert_eq!(idx.last(), Some((200, 20)));
        idx.persist().unwrap();
        let loaded = TimeIndex::load(dir.path().join("x.timeindex"), 10).unwrap();
        assert_eq!(loaded.last(), Some((200, 20)));
    }
}
