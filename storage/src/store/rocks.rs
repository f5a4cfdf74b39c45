//! The persistent store: one RocksDB database per store, in `dir/name/`, under a
//! [`MemoryBudget`].
//!
//! Writes skip RocksDB's write-ahead log, as Kafka Streams' `RocksDBStore` does: the changelog
//! topic is the log, a commit calls [`KeyValueStore::flush`] before checkpointing the changelog
//! offset, and after a crash the store is restored from that checkpoint onward. A write
//! between two commits may thus vanish in a crash; the changelog replays it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::perf::MemoryUsageBuilder;
use rocksdb::{DB, DBRawIterator, ReadOptions, WriteBatch, WriteOptions, properties};

use super::budget::{Member, Registration};
use super::{KeyValueStore, KvIter, MemoryBudget, StoreError, StoreResult, inverted};

/// Kafka Streams' `Stores.persistentKeyValueStore`, on RocksDB.
///
/// Dropping the store closes the database; RocksDB flushes the memtables on a clean close, so
/// only a crash loses unflushed writes. [`RocksDbStore::close`] does the same but reports a
/// failed flush, which a drop cannot.
pub struct RocksDbStore {
    name: String,
    path: PathBuf,
    budget: MemoryBudget,
    /// `None` once [`RocksDbStore::close`] has run.
    open: Option<OpenDb>,
    write_opts: WriteOptions,
}

/// The database and its place in the budget. Fields drop in order: the registration first,
/// so that the database closes here and not on a thread that was flushing it.
struct OpenDb {
    _registration: Registration,
    db: Arc<KvDb>,
}

struct KvDb {
    name: String,
    db: DB,
}

impl Member for KvDb {
    fn store_name(&self) -> &str {
        &self.name
    }

    fn add_to<'a>(&'a self, usage: &mut MemoryUsageBuilder<'a>) {
        usage.add_db(&self.db);
    }

    fn flush_memtables(&self) -> Result<(), rocksdb::Error> {
        self.db.flush()
    }
}

impl RocksDbStore {
    /// Opens (creating if missing) the store in `dir/name/`, under the process-wide
    /// [`MemoryBudget::process_default`].
    pub fn open(dir: &Path, name: &str) -> StoreResult<RocksDbStore> {
        RocksDbStore::open_with_budget(dir, name, MemoryBudget::process_default())
    }

    /// Opens (creating if missing) the store in `dir/name/`, drawing on `budget`.
    pub fn open_with_budget(dir: &Path, name: &str, budget: &MemoryBudget) -> StoreResult<RocksDbStore> {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let db = DB::open(&budget.options(), &path).map_err(|source| StoreError::Rocks {
            store: name.to_owned(),
            op: "open",
            source,
        })?;
        let db = Arc::new(KvDb {
            name: name.to_owned(),
            db,
        });
        let member: Arc<dyn Member> = db.clone();
        let registration = budget.register(Arc::downgrade(&member));
        let mut write_opts = WriteOptions::default();
        write_opts.disable_wal(true);
        budget.rebalance_soon();
        Ok(RocksDbStore {
            name: name.to_owned(),
            path,
            budget: budget.clone(),
            open: Some(OpenDb {
                _registration: registration,
                db,
            }),
            write_opts,
        })
    }

    /// Deletes the store `dir/name/` and everything in it, as a task does when its local state
    /// can no longer be trusted (an unclean shutdown under exactly-once, or a changelog that
    /// was truncated past the checkpoint). Missing is fine. The store must not be open.
    pub fn destroy(dir: &Path, name: &str) -> StoreResult<()> {
        super::destroy_dir(&dir.join(name))
    }

    /// The store's directory, `dir/name/`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and closes the database; later calls answer [`StoreError::Closed`]. Closing
    /// twice is fine. The database is closed even when the flush fails.
    pub fn close(&mut self) -> StoreResult<()> {
        match self.open.take() {
            Some(open) => open.db.db.flush().map_err(self.rocks("flush")),
            None => Ok(()),
        }
    }

    fn db(&self) -> StoreResult<&DB> {
        match &self.open {
            Some(open) => Ok(&open.db.db),
            None => Err(StoreError::Closed {
                store: self.name.clone(),
            }),
        }
    }

    /// Wraps a RocksDB error with this store's name and the failed operation.
    fn rocks(&self, op: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError + '_ {
        move |source| StoreError::Rocks {
            store: self.name.clone(),
            op,
            source,
        }
    }
}

impl std::fmt::Debug for RocksDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("open", &self.open.is_some())
            .finish()
    }
}

impl KeyValueStore for RocksDbStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.db()?.get(key).map_err(self.rocks("get"))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.db()?
            .put_opt(key, value, &self.write_opts)
            .map_err(self.rocks("put"))?;
        self.budget.relieve();
        Ok(())
    }

    /// A read, then a delete only when there was something to delete: a tombstone for a key
    /// that was never there would only cost compaction work.
    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let old = self.get(key)?;
        if old.is_some() {
            self.db()?
                .delete_opt(key, &self.write_opts)
                .map_err(self.rocks("delete"))?;
            self.budget.relieve();
        }
        Ok(old)
    }

    fn write_batch(&mut self, entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        self.db()?
            .write_opt(batch, &self.write_opts)
            .map_err(self.rocks("write batch"))?;
        self.budget.relieve();
        Ok(())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<KvIter<'_>> {
        if inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut opts = ReadOptions::default();
        if let Some(to) = to {
            // The upper bound is exclusive. `to ++ [0x00]` is the smallest key above `to` in
            // unsigned byte order, so it admits exactly the keys `<= to` and the scan needs no
            // per-key check.
            let mut bound = Vec::with_capacity(to.len() + 1);
            bound.extend_from_slice(to);
            bound.push(0);
            opts.set_iterate_upper_bound(bound);
        }
        let mut raw = self.db()?.raw_iterator_opt(opts);
        match from {
            Some(from) => raw.seek(from),
            None => raw.seek_to_first(),
        }
        Ok(Box::new(Scan {
            raw,
            store: &self.name,
            done: false,
        }))
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        let estimate = self
            .db()?
            .property_int_value(properties::ESTIMATE_NUM_KEYS)
            .map_err(self.rocks("estimate entries"))?;
        // `None` would mean RocksDB does not know the property; no estimate is zero entries.
        Ok(estimate.unwrap_or(0))
    }

    /// Writes the memtables to SST files and waits: with the WAL off, this is what makes the
    /// writes so far survive a crash.
    fn flush(&mut self) -> StoreResult<()> {
        self.db()?.flush().map_err(self.rocks("flush"))?;
        self.budget.rebalance_soon();
        Ok(())
    }
}

/// A forward scan over a raw iterator. The raw iterator reads a consistent view (RocksDB pins
/// an implicit snapshot), and the `&self` borrow keeps writers out while it lives anyway.
struct Scan<'a> {
    raw: DBRawIterator<'a>,
    store: &'a str,
    done: bool,
}

impl Iterator for Scan<'_> {
    type Item = StoreResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some((key, value)) = self.raw.item() {
            let entry = (key.to_vec(), value.to_vec());
            self.raw.next();
            return Some(Ok(entry));
        }
        // An invalid iterator is either the end of the range or an I/O or corruption error.
        self.done = true;
        self.raw.status().err().map(|source| {
            Err(StoreError::Rocks {
                store: self.store.to_owned(),
                op: "scan",
                source,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drop_keeps_unflushed_writes() {
        // With the WAL off, these writes live only in the memtable until RocksDB's close
        // flushes them; only a crash may lose them.
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksDbStore::open(dir.path(), "s").unwrap();
        store.put(b"k", b"v").unwrap();
        drop(store);
        let store = RocksDbStore::open(dir.path(), "s").unwrap();
        assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn closed_store_answers_closed_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RocksDbStore::open(dir.path(), "s").unwrap();
        store.put(b"k", b"v").unwrap();
        store.close().unwrap();
        store.close().unwrap();
        assert!(matches!(store.get(b"k"), Err(StoreError::Closed { store }) if store == "s"));
        assert!(matches!(store.put(b"k", b"w"), Err(StoreError::Closed { .. })));
        assert!(matches!(store.all(), Err(StoreError::Closed { .. })));
        let store = RocksDbStore::open(dir.path(), "s").unwrap();
        assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn open_of_a_store_already_open_is_a_rocks_error_naming_it() {
        // RocksDB's LOCK file: two handles on one store would corrupt it.
        let dir = tempfile::tempdir().unwrap();
        let _first = RocksDbStore::open(dir.path(), "s").unwrap();
        let err = RocksDbStore::open(dir.path(), "s").unwrap_err();
        assert!(matches!(&err, StoreError::Rocks { store, op: "open", .. } if store == "s"));
    }

    #[test]
    fn open_under_a_file_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"").unwrap();
        let err = RocksDbStore::open(&dir.path().join("file"), "s").unwrap_err();
        assert!(matches!(&err, StoreError::Io { path, .. } if path == &dir.path().join("file/s")));
    }
}
