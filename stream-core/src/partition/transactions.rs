//! A partition's view of transactions (KIP-98): which producers have a transaction open here
//! (and from which offset), the last stable offset (LSO) that follows from that, and the index
//! of aborted transactions that `read_committed` fetches hand to clients so they can drop the
//! aborted records.
//!
//! The aborted-transaction index keeps Kafka's entry layout (`.txnindex`: version `i16` 0,
//! producerId `i64`, firstOffset `i64`, lastOffset `i64`, lastStableOffset `i64`; 34 bytes).
//!
//! **Departure from Kafka:** one index file per partition (`transactions.txnindex`) instead
//! of one per segment. The partition (here, in `stream-core`) owns transactional state and the
//! storage crate knows nothing of transactions; entries below the log start are pruned when
//! retention or DeleteRecords moves it, which is what deleting a segment's index does in Kafka.
//! The file is appended without fsync and synced before every producer-state snapshot; at open,
//! entries past the log end are dropped and the batches after the snapshot are replayed, which
//! re-adds any entry a crash lost.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{BrokerError, Result};

const INDEX_FILE: &str = "transactions.txnindex";
const ENTRY_LEN: usize = 34;

/// One aborted transaction of a partition: the producer's records in
/// `first_offset..=last_offset` (the abort marker's offset) are aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            b.get(at..at + 8)
                .and_then(|s| s.try_into().ok())
                .map(i64::from_be_bytes)
        };
        if b.get(0..2)? != [0, 0] {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }
}

/// Open transactions and the aborted-transaction index of one partition.
#[derive(Debug)]
pub struct Transactions {
    path: PathBuf,
    file: Option<File>,
    /// Producer id → the offset of its open transaction's first record here.
    ongoing: BTreeMap<i64, i64>,
    /// In marker order, so by `last_offset`.
    aborted: Vec<AbortedTxn>,
}

impl Transactions {
    /// Loads the index of `dir`, keeping the entries within `log_start..log_end`. A torn or
    /// unreadable entry ends the index there (replay re-adds what followed).
    pub fn open(dir: &Path, log_start: i64, log_end: i64) -> Result<Transactions> {
        let path = dir.join(INDEX_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(BrokerError::io("read transaction index", &path, e)),
        };
        let mut all = Vec::new();
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            match AbortedTxn::decode(chunk) {
                Some(entry) => all.push(entry),
                None => break,
            }
        }
        let kept_all = all.len() * ENTRY_LEN == bytes.len();
        let aborted: Vec<AbortedTxn> = all
            .iter()
            .copied()
            .filter(|e| e.last_offset >= log_start && e.last_offset < log_end)
            .collect();
        let mut txns = Transactions {
            path,
            file: None,
            ongoing: BTreeMap::new(),
            aborted,
        };
        if !kept_all || txns.aborted.len() != all.len() {
            txns.rewrite()?;
        }
        Ok(txns)
    }

    /// The offset below which every transaction is decided: the first offset of the oldest
    /// open transaction, or the high watermark.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    pub fn ongoing(&self, producer_id: i64) -> Option<i64> {
        self.ongoing.get(&producer_id).copied()
    }

    /// A transactional batch of `producer_id` was appended at `offset`: its transaction is
    /// open here from its first such batch on.
    pub fn on_data(&mut self, producer_id: i64, offset: i64) {
        self.ongoing.entry(producer_id).or_insert(offset);
    }

    /// A marker of `producer_id` was appended at `offset`. An abort that closes an open
    /// transaction goes into the index (unless replay finds it there already).
    pub fn on_marker(&mut self, producer_id: i64, offset: i64, commit: bool) -> Result<()> {
        let Some(first) = self.ongoing.remove(&producer_id) else {
            return Ok(());
        };
        if commit || self.aborted.iter().rev().any(|e| e.last_offset == offset) {
            return Ok(());
        }
        let entry = AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: offset,
            last_stable_offset: self.last_stable_offset(offset + 1),
        };
        self.append_entry(&entry)?;
        self.aborted.push(entry);
        Ok(())
    }

    /// The aborted transactions a fetch from `fetch_offset` up to `upper` must list (Kafka's
    /// `collectAbortedTransactions`): those ending at or after the fetch offset and starting
    /// before the upper bound.
    pub fn aborted_in(&self, fetch_offset: i64, upper: i64) -> Vec<AbortedTxn> {
        let from = self.aborted.partition_point(|e| e.last_offset < fetch_offset);
        self.aborted[from..]
            .iter()
            .filter(|e| e.first_offset < upper)
            .copied()
            .collect()
    }

    /// Every aborted transaction ending at or after `from` (the cleaner's view).
    pub fn aborted_from(&self, from: i64) -> Vec<AbortedTxn> {
        self.aborted_in(from, i64::MAX)
    }

    /// Drops the entries that end below the new log start.
    pub fn prune_before(&mut self, log_start: i64) -> Result<()> {
        let keep = self.aborted.partition_point(|e| e.last_offset < log_start);
        if keep > 0 {
            self.aborted.drain(..keep);
            self.rewrite()?;
        }
        Ok(())
    }

    /// The open transactions, to persist with the producer state.
    pub fn ongoing_snapshot(&self) -> BTreeMap<i64, i64> {
        self.ongoing.clone()
    }

    pub fn restore_ongoing(&mut self, ongoing: BTreeMap<i64, i64>) {
        self.ongoing = ongoing;
    }

    /// fsyncs the index (before a snapshot that says everything below it is replayed).
    pub fn sync(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()
                .map_err(|e| BrokerError::io("fsync transaction index", &self.path, e))?;
        }
        Ok(())
    }

    fn append_entry(&mut self, entry: &AbortedTxn) -> Result<()> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| BrokerError::io("open transaction index", &self.path, e))?;
            self.file = Some(file);
        }
        if let Some(file) = &mut self.file {
            file.write_all(&entry.encode())
                .map_err(|e| BrokerError::io("append to transaction index", &self.path, e))?;
        }
        Ok(())
    }

    /// Replaces the file with the entries kept in memory (temp file, fsync, rename).
    fn rewrite(&mut self) -> Result<()> {
        self.file = None;
        let tmp = self.path.with_extension("txnindex.tmp");
        let mut body = Vec::with_capacity(self.aborted.len() * ENTRY_LEN);
        for e in &self.aborted {
            body.extend_from_slice(&e.encode());
        }
        std::fs::write(&tmp, &body).map_err(|e| BrokerError::io("write transaction index", &tmp, e))?;
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| BrokerError::io("fsync transaction index", &tmp, e))?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| BrokerError::io("rename transaction index", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lso_is_the_first_offset_of_the_oldest_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transactions::open(dir.path(), 0, 0).unwrap();
        assert_eq!(t.last_stable_offset(10), 10);
        t.on_data(1, 4);
        t.on_data(2, 6);
        t.on_data(1, 8);
        assert_eq!(t.last_stable_offset(10), 4);
        t.on_marker(1, 10, true).unwrap();
        assert_eq!(t.last_stable_offset(11), 6);
        t.on_marker(2, 11, false).unwrap();
        assert_eq!(t.last_stable_offset(12), 12);
        assert_eq!(
            t.aborted_in(0, 12),
            vec![AbortedTxn {
                producer_id: 2,
                first_offset: 6,
                last_offset: 11,
                last_stable_offset: 12
            }]
        );
    }

    #[test]
    fn the_index_survives_reopen_and_drops_what_the_log_no_longer_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transactions::open(dir.path(), 0, 0).unwrap();
        for (pid, first, marker) in [(1, 0, 5), (2, 10, 15), (3, 20, 25)] {
            t.on_data(pid, first);
            t.on_marker(pid, marker, false).unwrap();
        }
        drop(t);
        let t = Transactions::open(dir.path(), 0, 30).unwrap();
        assert_eq!(t.aborted_from(0).len(), 3);
        // A log truncated to 20 (after a crash) and started at 6.
        let mut t = Transactions::open(dir.path(), 6, 20).unwrap();
        assert_eq!(
            t.aborted_from(0)
                .iter()
                .map(|e| e.producer_id)
                .collect::<Vec<_>>(),
            [2]
        );
        t.prune_before(16).unwrap();
        assert!(t.aborted_from(0).is_empty());
        assert_eq!(std::fs::metadata(dir.path().join(INDEX_FILE)).unwrap().len(), 0);
    }

    #[test]
    fn a_torn_entry_ends_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transactions::open(dir.path(), 0, 0).unwrap();
        t.on_data(1, 0);
        t.on_marker(1, 3, false).unwrap();
        drop(t);
        let path = dir.path().join(INDEX_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 1, 2, 3]);
        std::fs::write(&path, bytes).unwrap();
        let t = Transactions::open(dir.path(), 0, 10).unwrap();
        assert_eq!(t.aborted_from(0).len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), ENTRY_LEN as u64);
    }

    #[test]
    fn fetches_list_only_the_aborted_transactions_they_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transactions::open(dir.path(), 0, 0).unwrap();
        for (pid, first, marker) in [(1, 0, 5), (2, 10, 15), (3, 20, 25)] {
            t.on_data(pid, first);
            t.on_marker(pid, marker, false).unwrap();
        }
        let ids = |v: Vec<AbortedTxn>| v.iter().map(|e| e.producer_id).collect::<Vec<_>>();
        assert_eq!(ids(t.aborted_in(6, 20)), [2]);
        assert_eq!(ids(t.aborted_in(5, 21)), [1, 2, 3]);
        assert_eq!(ids(t.aborted_in(26, 100)), Vec::<i64>::new());
    }
}
