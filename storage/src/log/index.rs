//! The sparse offset index (`.index`): one entry for every `index.interval.bytes` of log,
//! mapping a batch's base offset (relative to the segment's, as a u32) to the batch's byte
//! position (u32). Both big-endian, 8 bytes an entry, as Kafka lays them out.
//!
//! The entries live in memory (a 1 GiB segment needs ~2 MiB of them) and are appended to the
//! file as they are made; a file that does not load cleanly is rebuilt from the log.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

const ENTRY: usize = 8;

#[derive(Debug)]
pub(crate) struct OffsetIndex {
    path: PathBuf,
    base_offset: i64,
    /// (relative offset, position), both strictly increasing.
    entries: Vec<(u32, u32)>,
    /// How many entries the file holds.
    persisted: usize,
}

impl OffsetIndex {
    pub fn empty(path: PathBuf, base_offset: i64) -> OffsetIndex {
        OffsetIndex {
            path,
            base_offset,
            entries: Vec::new(),
            persisted: 0,
        }
    }

    /// Loads the index file, or `None` if it is missing or fails the sanity checks (size a
    /// multiple of 8, entries increasing, positions inside the segment).
    pub fn load(path: PathBuf, base_offset: i64, segment_size: u64) -> Option<OffsetIndex> {
        let bytes = fs::read(&path).ok()?;
        if bytes.len() % ENTRY != 0 {
            return None;
        }
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY);
        for chunk in bytes.chunks_exact(ENTRY) {
            let rel = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pos = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if let Some(&(last_rel, last_pos)) = entries.last()
                && (rel <= last_rel || pos <= last_pos)
            {
                return None;
            }
            if u64::from(pos) >= segment_size {
                return None;
            }
            entries.push((rel, pos));
        }
        let persisted = entries.len();
        Some(OffsetIndex {
            path,
            base_offset,
            entries,
            persisted,
        })
    }

    pub fn append(&mut self, offset: i64, position: u64) {
        let rel = (offset - self.base_offset) as u32;
        let pos = position as u32;
        if self.entries.last().is_none_or(|&(r, p)| rel > r && pos > p) {
            self.entries.push((rel, pos));
        }
    }

    /// Position of the last indexed batch whose base offset is ≤ `offset` (0 if none): the
    /// place to start scanning for `offset`.
    pub fn lookup(&self, offset: i64) -> u64 {
        let rel = offset - self.base_offset;
        if rel < 0 {
            return 0;
        }
        let rel = u32::try_from(rel).unwrap_or(u32::MAX);
        match self.entries.partition_point(|&(r, _)| r <= rel) {
            0 => 0,
            n => u64::from(self.entries[n - 1].1),
        }
    }

    /// Position of the last indexed batch starting at or below `position` (0 if none).
    pub fn lookup_position(&self, position: u64) -> u64 {
        let pos = u32::try_from(position).unwrap_or(u32::MAX);
        match self.entries.partition_point(|&(_, p)| p <= pos) {
            0 => 0,
            n => u64::from(self.entries[n - 1].1),
        }
    }

    pub fn clear(&mut self) -> Result<()> {
        self.entries.clear();
        self.persisted = 0;
        self.rewrite()
    }

    /// Appends the entries not yet in the file.
    pub fn persist(&mut self) -> Result<()> {
        if self.persisted == self.entries.len() && self.path.exists() {
            return Ok(());
        }
        let mut out = Vec::with_capacity((self.entries.len() - self.persisted) * ENTRY);
        for &(rel, pos) in &self.entries[self.persisted..] {
            out.extend_from_slice(&rel.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ctx("open index", &self.path)?;
        file.write_all(&out).ctx("write index", &self.path)?;
        self.persisted = self.entries.len();
        Ok(())
    }

    fn rewrite(&mut self) -> Result<()> {
        fs::File::create(&self.path).ctx("truncate index", &self.path)?;
        self.persisted = 0;
        self.persist()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_last_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::empty(dir.path().join("x.index"), 100);
        idx.append(110, 4000);
        idx.append(120, 9000);
        assert_eq!(idx.lookup(50), 0);
        assert_eq!(idx.lookup(109), 0);
        assert_eq!(idx.lookup(110), 4000);
        assert_eq!(idx.lookup(119), 4000);
        assert_eq!(idx.lookup(1_000), 9000);
    }

    #[test]
    fn a_persisted_index_loads_and_a_garbled_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut idx = OffsetIndex::empty(path.clone(), 0);
        idx.append(5, 100);
        idx.append(9, 300);
        idx.persist().unwrap();
        let loaded = OffsetIndex::load(path.clone(), 0, 1000).unwrap();
        assert_eq!(loaded.entries(), &[(5, 100), (9, 300)]);
        assert!(
            OffsetIndex::load(path.clone(), 0, 200).is_none(),
            "position past the segment"
        );
        fs::write(&path, [0u8; 12]).unwrap();
        assert!(
            OffsetIndex::load(path.clone(), 0, 1000).is_none(),
            "size not a multiple of 8"
        );
        fs::write(&path, [0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 0, 5, 0, 0, 2, 0]).unwrap();
        assert!(
            OffsetIndex::load(path, 0, 1000).is_none(),
            "offsets going backwards"
        );
    }
}
