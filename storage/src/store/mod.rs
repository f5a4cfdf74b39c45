//! The DSL's state stores, bytes in and bytes out, as Kafka Streams' byte stores under its
//! serdes, caches and change-logging (which live in the DSL). Three kinds, each a trait with a
//! RocksDB and an in-memory implementation and a conformance suite both run:
//!
//! ```text
//!   KeyValueStore ──┬── RocksDbStore           a sorted map: tables, aggregations
//!                   └── InMemoryStore
//!   WindowStore ────┬── RocksDbWindowStore     key + window start: windowed aggregations,
//!                   └── InMemoryWindowStore    stream-stream joins (duplicates retained)
//!   SessionStore ───┬── RocksDbSessionStore    key + session: session windows
//!                   └── InMemorySessionStore
//!
//!   every RocksDB store ──► one MemoryBudget per process (shared block cache + memtables)
//! ```
//!
//! No store keeps a write-ahead log: as in Kafka Streams, the changelog topic is the log, and
//! a store that lost writes in a crash is restored from it ([`KeyValueStore::write_batch`],
//! [`WindowStore::restore`], [`SessionStore::restore`]). Window and session stores take their
//! changelog records in Kafka's own key formats ([`window::encode_window_key`],
//! [`session::encode_session_key`]), so a changelog written by Kafka Streams restores here and
//! the reverse. They are segmented by time and drop expired segments whole (the `segmented`
//! module holds the rules of time, once for both implementations).
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs`, `memory.rs`, `rocks.rs`, [`conformance`] | [`KeyValueStore`] and its stores and suite |
//! | [`window`] | [`WindowStore`], its key schema, stores and suite |
//! | [`session`] | [`SessionStore`], its key schema, stores and suite |
//! | `windowed.rs` | [`Window`], [`Windowed`], [`Order`], [`WindowPut`], [`SessionPut`] |
//! | `segmented/` | stream time, expiry, segments (RocksDB column families or `BTreeMap`s), merged scans |
//! | `budget.rs` | [`MemoryBudget`]: the process's RocksDB memory |
//! | `error.rs` | [`StoreError`], [`KeyError`] |
//!
//! ```
//! use storage::store::{InMemoryStore, KeyValueStore};
//!
//! let mut store = InMemoryStore::new("counts");
//! store.put(b"b", b"2")?;
//! store.put(b"a", b"1")?;
//! assert_eq!(store.delete(b"b")?, Some(b"2".to_vec()));
//! let all = store.all()?.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(all, vec![(b"a".to_vec(), b"1".to_vec())]);
//! # Ok::<(), storage::store::StoreError>(())
//! ```

use std::path::Path;

mod budget;
pub mod conformance;
mod error;
mod memory;
mod rocks;
mod segmented;
pub mod session;
pub mod window;
mod windowed;

pub use budget::{DEFAULT_MEMORY_BUDGET, MEMORY_BUDGET_CONFIG, MIN_MEMORY_BUDGET, MemoryBudget, MemoryUsage};
pub use error::{KeyError, KeyKind, StoreError, StoreResult};
pub use memory::InMemoryStore;
pub use rocks::RocksDbStore;
pub use session::{InMemorySessionStore, RocksDbSessionStore, SessionStore, SessionStoreConfig};
pub use window::{InMemoryWindowStore, RocksDbWindowStore, WindowStore, WindowStoreConfig};
pub use windowed::{Order, SessionPut, Window, WindowPut, Windowed};

/// Entries of a [`KeyValueStore::range`] scan, in ascending key order. An error ends the scan:
/// it is the last item.
pub type KvIter<'a> = Box<dyn Iterator<Item = StoreResult<(Vec<u8>, Vec<u8>)>> + 'a>;

/// A sorted byte-key → byte-value store, as Kafka Streams' `KeyValueStore<Bytes, byte[]>`.
/// Keys order lexicographically by unsigned bytes (RocksDB's default comparator), so a key
/// serde that preserves order (big-endian integers, say) gives ordered range scans.
pub trait KeyValueStore: Send + std::fmt::Debug {
    fn name(&self) -> &str;

    /// True for stores that survive a restart (RocksDB), false for in-memory ones: a task
    /// restores an in-memory store from the whole changelog, a persistent one from its
    /// checkpoint onward.
    fn persistent(&self) -> bool;

    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()>;

    /// Removes the key, returning the old value (Kafka's `delete` returns it, and the DSL
    /// forwards it as the old value of a table update).
    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Applies puts (`Some`) and deletes (`None`) atomically and in order, so a later entry for
    /// a key wins. The record cache's flush and changelog restore use this.
    fn write_batch(&mut self, entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>) -> StoreResult<()>;

    /// Entries with `from <= key <= to`, in ascending key order; `None` leaves that end
    /// unbounded. Both ends are inclusive, as in Kafka's `range`, and `from > to` is an empty
    /// scan rather than an error (Kafka logs a warning and returns nothing).
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<KvIter<'_>>;

    /// Every entry, in ascending key order.
    fn all(&self) -> StoreResult<KvIter<'_>> {
        self.range(None, None)
    }

    /// Kafka's `approximateNumEntries`: exact for in-memory stores, RocksDB's
    /// `rocksdb.estimate-num-keys` (which counts overwrites and deletes loosely) otherwise.
    fn approximate_num_entries(&self) -> StoreResult<u64>;

    /// Makes every write so far durable. A task calls it on commit, before it checkpoints the
    /// changelog offset the store is now known to hold. In-memory stores do nothing.
    fn flush(&mut self) -> StoreResult<()>;
}

/// True when `from > to`: the scan is empty. Checked before touching the backing map:
/// `BTreeMap::range` panics on inverted bounds.
fn inverted(from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    matches!((from, to), (Some(from), Some(to)) if from > to)
}

/// Deletes a store's directory and everything in it; missing is fine.
fn destroy_dir(path: &Path) -> StoreResult<()> {
    match std::fs::remove_dir_all(path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
        _ => Ok(()),
    }
}
