//! The persistent store: one RocksDB database per store, in `dir/name/`.
//!
//! Writes skip RocksDB's write-ahead log, as Kafka Streams' `RocksDBStore` does: the changelog
//! topic is the log, a commit calls [`KeyValueStore::flush`] before checkpointing the changelog
//! offset, and after a crash the store is restored from that checkpoint onward. A write
//! between two commits may thus vanish in a crash; the changelog replays it.

use std::path::{Path, PathBuf};

use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompressionType, DBRawIterator, Options, ReadOptions, WriteBatch,
    WriteOptions, properties,
};

use super::{KeyValueStore, KvIter, StoreError, StoreResult, inverted};

/// Memtable size. Kafka Streams' default: big enough that a busy store flushes rarely, small
/// enough that a task with dozens of stores (one per stateful operator and partition) fits.
const WRITE_BUFFER_SIZE: usize = 16 << 20;
/// Memtables per store, Kafka Streams' default: one filling while up to two flush.
const MAX_WRITE_BUFFERS: i32 = 3;
/// Block cache per store. Kafka Streams gives each store 50 MiB, which adds up across many
/// small stores; their hot set is usually the memtable anyway.
const BLOCK_CACHE_SIZE: usize = 16 << 20;
/// Bloom filter bits per key (~1% false positives). Aggregations `get` every incoming key,
/// and a new key would otherwise read a block from every SST file; Kafka Streams sets one too.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Kafka Streams' `Stores.persistentKeyValueStore`, on RocksDB.
///
/// Dropping the store closes the database; RocksDB flushes the memtables on a clean close, so
/// only a crash loses unflushed writes. [`RocksDbStore::close`] does the same but reports a
/// failed flush, which a drop cannot.
pub struct RocksDbStore {
    name: String,
    path: PathBuf,
    /// `None` once [`RocksDbStore::close`] has run.
    db: Option<DB>,
    write_opts: WriteOptions,
}

impl RocksDbStore {
    /// Opens (creating if missing) the store in `dir/name/`.
    pub fn open(dir: &Path, name: &str) -> StoreResult<RocksDbStore> {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let db = DB::open(&options(), &path).map_err(|source| StoreError::Rocks {
            store: name.to_owned(),
            op: "open",
            source,
        })?;
        let mut write_opts = WriteOptions::default();
        write_opts.disable_wal(true);
        Ok(RocksDbStore {
            name: name.to_owned(),
            path,
            db: Some(db),
            write_opts,
        })
    }

    /// Deletes the store `dir/name/` and everything in it, as a task does when its local state
    /// can no longer be trusted (an unclean shutdown under exactly-once, or a changelog that
    /// was truncated past the checkpoint). Missing is fine. The store must not be open.
    pub fn destroy(dir: &Path, name: &str) -> StoreResult<()> {
        let path = dir.join(name);
        match std::fs::remove_dir_all(&path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io { path, source })
            }
            _ => Ok(()),
        }
    }

    /// The store's directory, `dir/name/`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and closes the database; later calls answer [`StoreError::Closed`]. Closing
    /// twice is fine. The database is closed even when the flush fails.
    pub fn close(&mut self) -> StoreResult<()> {
        match self.db.take() {
            Some(db) => db.flush().map_err(self.rocks("flush")),
            None => Ok(()),
        }
    }

    fn db(&self) -> StoreResult<&DB> {
        self.db.as_ref().ok_or_else(|| StoreError::Closed {
            store: self.name.clone(),
        })
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

fn options() -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&Cache::new_lru_cache(BLOCK_CACHE_SIZE));
    table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_block_based_table_factory(&table);
    opts.set_write_buffer_size(WRITE_BUFFER_SIZE);
    opts.set_max_write_buffer_number(MAX_WRITE_BUFFERS);
    // No codec is compiled into our librocksdb (see the workspace Cargo.toml). RocksDB would
    // fall back to none by itself; saying so keeps the choice visible should a codec feature
    // ever be enabled. Kafka Streams stores state uncompressed too.
    opts.set_compression_type(DBCompressionType::None);
    opts
}

impl std::fmt::Debug for RocksDbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("open", &self.db.is_some())
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
            .map_err(self.rocks("put"))
    }

    /// A read, then a delete only when there was something to delete: a tombstone for a key
    /// that was never there would only cost compaction work.
    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let old = self.get(key)?;
        if old.is_some() {
            self.db()?
                .delete_opt(key, &self.write_opts)
                .map_err(self.rocks("delete"))?;
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
            .map_err(self.rocks("write batch"))
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
        self.db()?.flush().map_err(self.rocks("flush"))
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
