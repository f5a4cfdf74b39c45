//! Window stores: values of fixed-size time windows, keyed by key and window start, as Kafka
//! Streams' `WindowStore<Bytes, byte[]>`. Windowed aggregations and the stream-stream join
//! (which retains duplicates) keep their state here.
//!
//! ```text
//!   WindowStore ──┬── RocksDbWindowStore    segmented RocksDB, dir/name/
//!                 └── InMemoryWindowStore   segmented BTreeMaps
//! ```
//!
//! The rules, from Kafka Streams 4.x (`AbstractRocksDBSegmentedBytesStore`,
//! `RocksDBWindowStore`, `InMemoryWindowStore`, `ReadOnlyWindowStore`), are the same for both
//! stores:
//!
//! - **Stream time** is the largest window start put; a window is live while
//!   `start > stream time - retention`. Reads never return an expired window and a put into
//!   one is dropped ([`WindowPut::Expired`]). Segments of `max(retention / 2, 60 s)` are
//!   dropped whole once expired. (See the `segmented` module for where Kafka's stores differ.)
//! - **Time ranges are inclusive** at both ends and apply to the window start.
//! - **Order**: one key's windows come oldest first ([`Order::Forward`]) or newest first,
//!   duplicates in the order they were put. Key ranges and `fetch_all` come in the order of
//!   the store key bytes, which is key then window start whenever no key is a proper prefix
//!   of another (then the key schema's bytes decide, as in Kafka). Kafka itself is looser:
//!   its RocksDB store orders by segment first, its in-memory store by window start first,
//!   and its javadoc promises only the per-key order.
//! - **A `None` value** deletes the window, except in a store retaining duplicates, where it
//!   does nothing at all ([`WindowPut::Ignored`]).
//! - **Retained duplicates**: every put is a new entry under the next sequence number
//!   (`key ++ start ++ seqnum`, see [`key`]); [`WindowStore::fetch`] of a single window then
//!   answers `None`, as Kafka's in-memory store does (its RocksDB store finds only the entry of
//!   the very last put, an accident of reusing its sequence counter).
//!
//! ```
//! use storage::store::{InMemoryWindowStore, WindowPut, WindowStore, WindowStoreConfig};
//!
//! // One-minute windows kept for ten minutes.
//! let config = WindowStoreConfig::new(600_000, 60_000);
//! let mut store = InMemoryWindowStore::new("clicks", config)?;
//! assert_eq!(store.put(b"alice", Some(b"1"), 0)?, WindowPut::Applied { seqnum: 0 });
//! let _ = store.put(b"alice", Some(b"3"), 60_000)?;
//! let _ = store.put(b"alice", Some(b"2"), 600_000)?; // stream time 600 000: window 0 expires
//! assert_eq!(store.fetch(b"alice", 0)?, None);
//! let windows = store.fetch_range(b"alice", 0, 600_000)?.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(windows, vec![(60_000, b"3".to_vec()), (600_000, b"2".to_vec())]);
//! assert_eq!(store.put(b"alice", Some(b"9"), 0)?, WindowPut::Expired);
//! # Ok::<(), storage::store::StoreError>(())
//! ```

pub mod conformance;
mod engine;
pub mod key;
mod memory;
mod rocks;

pub use key::{WINDOW_KEY_SUFFIX, WindowKey, decode_window_key, encode_window_key};
pub use memory::InMemoryWindowStore;
pub use rocks::RocksDbWindowStore;

use super::segmented::time::default_segment_interval;
use super::{Order, StoreError, StoreResult, WindowPut, Windowed};

/// One put of [`WindowStore::put_all`]: key, value (`None` deletes), window start.
pub type WindowWrite<'a> = (&'a [u8], Option<&'a [u8]>, i64);

/// One key's windows: `(window start, value)`. An error ends the scan: it is the last item.
pub type WindowIter<'a> = Box<dyn Iterator<Item = StoreResult<(i64, Vec<u8>)>> + 'a>;

/// Windows of many keys: `(key and window, value)`. An error is the last item.
pub type WindowedIter<'a> = Box<dyn Iterator<Item = StoreResult<(Windowed, Vec<u8>)>> + 'a>;

/// A window store's shape: Kafka's `Stores.persistentWindowStore(name, retention, windowSize,
/// retainDuplicates)`, plus the segment interval Kafka derives from the retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStoreConfig {
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    segment_interval_ms: Option<i64>,
}

impl WindowStoreConfig {
    /// Windows of `window_size_ms`, kept `retention_ms` past stream time. Checked when a
    /// store opens: both non-negative, the retention no smaller than the window.
    pub fn new(retention_ms: i64, window_size_ms: i64) -> WindowStoreConfig {
        WindowStoreConfig {
            retention_ms,
            window_size_ms,
            retain_duplicates: false,
            segment_interval_ms: None,
        }
    }

    /// Keeps every put as its own entry, as the stream-stream join's stores do.
    pub fn with_retain_duplicates(mut self, retain: bool) -> WindowStoreConfig {
        self.retain_duplicates = retain;
        self
    }

    /// Overrides the segment interval (default `max(retention / 2, 60 s)`).
    pub fn with_segment_interval(mut self, interval_ms: i64) -> WindowStoreConfig {
        self.segment_interval_ms = Some(interval_ms);
        self
    }

    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    pub fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    pub fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    pub fn segment_interval_ms(&self) -> i64 {
        self.segment_interval_ms
            .unwrap_or_else(|| default_segment_interval(self.retention_ms))
    }

    /// Kafka's `Stores.persistentWindowStore` checks, plus a usable segment interval.
    pub(crate) fn validate(&self, store: &str) -> StoreResult<()> {
        let invalid = |reason: String| {
            Err(StoreError::InvalidConfig {
                store: store.to_owned(),
                reason,
            })
        };
        if self.retention_ms < 0 {
            return invalid(format!("retention {} ms is negative", self.retention_ms));
        }
        if self.window_size_ms < 0 {
            return invalid(format!("window size {} ms is negative", self.window_size_ms));
        }
        if self.window_size_ms > self.retention_ms {
            return invalid(format!(
                "window size {} ms is larger than the retention {} ms",
                self.window_size_ms, self.retention_ms
            ));
        }
        if self.segment_interval_ms() < 1 {
            return invalid(format!(
                "segment interval {} ms is below 1 ms",
                self.segment_interval_ms()
            ));
        }
        Ok(())
    }
}

/// A store of values per key and fixed-size window, bytes in and bytes out, as Kafka
/// Streams' `WindowStore<Bytes, byte[]>`. See the [module docs](self) for the rules.
pub trait WindowStore: Send + std::fmt::Debug {
    fn name(&self) -> &str;

    /// True for stores that survive a restart (RocksDB).
    fn persistent(&self) -> bool;

    fn config(&self) -> &WindowStoreConfig;

    /// The largest window start put so far (restores included); `None` before the first.
    fn observed_stream_time(&self) -> Option<i64>;

    /// Puts `value` into `key`'s window starting at `window_start`; `None` deletes (or, when
    /// duplicates are retained, is ignored). Fails on a negative `window_start`.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<WindowPut>;

    /// Puts each of `puts` (key, value, window start) as [`put`](Self::put) would one after
    /// another, and says what each did, but in one atomic write (one RocksDB write batch,
    /// sorted): a record cache evicting a run of windows pays the per-write cost once, and
    /// RocksDB inserts neighbouring keys from where the previous one went. Fails, writing
    /// nothing, on a negative window start.
    fn put_all(&mut self, puts: &[WindowWrite<'_>]) -> StoreResult<Vec<WindowPut>>;

    /// The value of `key`'s window starting exactly at `window_start`, if it is live
    /// (Kafka's `fetch(key, time)`). Always `None` in a store retaining duplicates.
    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>>;

    /// `key`'s live windows with `time_from <= start <= time_to`, in `order`.
    fn fetch_range_in(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        order: Order,
    ) -> StoreResult<WindowIter<'_>>;

    /// Live windows of the keys `key_from..=key_to` (`None`: unbounded) with
    /// `time_from <= start <= time_to`, in `order` of the store key bytes. `key_from > key_to`
    /// is an empty scan, as in Kafka.
    fn fetch_keys_in(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        order: Order,
    ) -> StoreResult<WindowedIter<'_>>;

    /// Applies changelog records as they are in the changelog: `(window store key, value)`,
    /// in changelog order, `None` for a tombstone. The batch is atomic: a malformed key fails
    /// it whole ([`StoreError::MalformedChangelogKey`]). Stream time advances to the batch's
    /// largest window start first; records that have expired by then are skipped. In a store
    /// that does not retain duplicates the key's sequence number is ignored (Kafka's writes
    /// it as 0); in one that does, it is kept, and later puts continue after the last one.
    fn restore(&mut self, records: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>) -> StoreResult<()>;

    /// Entries held, estimated as for key-value stores; windows expired but still in a
    /// segment that is not yet dropped may be counted.
    fn approximate_num_entries(&self) -> StoreResult<u64>;

    /// Makes every write so far durable (in-memory stores do nothing).
    fn flush(&mut self) -> StoreResult<()>;

    /// `key`'s windows in `time_from..=time_to`, oldest first (Kafka's `fetch(key, from, to)`).
    fn fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> StoreResult<WindowIter<'_>> {
        self.fetch_range_in(key, time_from, time_to, Order::Forward)
    }

    /// `key`'s windows in `time_from..=time_to`, newest first (Kafka's `backwardFetch`).
    fn backward_fetch_range(&self, key: &[u8], time_from: i64, time_to: i64) -> StoreResult<WindowIter<'_>> {
        self.fetch_range_in(key, time_from, time_to, Order::Backward)
    }

    /// Kafka's `fetch(keyFrom, keyTo, timeFrom, timeTo)`.
    fn fetch_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<WindowedIter<'_>> {
        self.fetch_keys_in(key_from, key_to, time_from, time_to, Order::Forward)
    }

    /// Kafka's `backwardFetch(keyFrom, keyTo, timeFrom, timeTo)`.
    fn backward_fetch_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> StoreResult<WindowedIter<'_>> {
        self.fetch_keys_in(key_from, key_to, time_from, time_to, Order::Backward)
    }

    /// Every key's windows in `time_from..=time_to` (Kafka's `fetchAll`).
    fn fetch_all(&self, time_from: i64, time_to: i64) -> StoreResult<WindowedIter<'_>> {
        self.fetch_keys_in(None, None, time_from, time_to, Order::Forward)
    }

    /// Kafka's `backwardFetchAll`.
    fn backward_fetch_all(&self, time_from: i64, time_to: i64) -> StoreResult<WindowedIter<'_>> {
        self.fetch_keys_in(None, None, time_from, time_to, Order::Backward)
    }

    /// Every live window (Kafka's `all`).
    fn all(&self) -> StoreResult<WindowedIter<'_>> {
        self.fetch_all(0, i64::MAX)
    }

    /// Kafka's `backwardAll`.
    fn backward_all(&self) -> StoreResult<WindowedIter<'_>> {
        self.backward_fetch_all(0, i64::MAX)
    }
}

/// Implements [`WindowStore`] for a type with a field `core: engine::WindowEngine<_>`.
macro_rules! delegate_window_store {
    ($store:ty) => {
        impl $crate::store::WindowStore for $store {
            fn name(&self) -> &str {
                self.core.name()
            }

            fn persistent(&self) -> bool {
                self.core.persistent()
            }

            fn config(&self) -> &$crate::store::WindowStoreConfig {
                self.core.config()
            }

            fn observed_stream_time(&self) -> Option<i64> {
                self.core.observed_stream_time()
            }

            fn put(
                &mut self,
                key: &[u8],
                value: Option<&[u8]>,
                window_start: i64,
            ) -> $crate::store::StoreResult<$crate::store::WindowPut> {
                self.core.put(key, value, window_start)
            }

            fn put_all(
                &mut self,
                puts: &[$crate::store::window::WindowWrite<'_>],
            ) -> $crate::store::StoreResult<Vec<$crate::store::WindowPut>> {
                self.core.put_all(puts)
            }

            fn fetch(&self, key: &[u8], window_start: i64) -> $crate::store::StoreResult<Option<Vec<u8>>> {
                self.core.fetch(key, window_start)
            }

            fn fetch_range_in(
                &self,
                key: &[u8],
                time_from: i64,
                time_to: i64,
                order: $crate::store::Order,
            ) -> $crate::store::StoreResult<$crate::store::window::WindowIter<'_>> {
                self.core.fetch_range(key, time_from, time_to, order)
            }

            fn fetch_keys_in(
                &self,
                key_from: Option<&[u8]>,
                key_to: Option<&[u8]>,
                time_from: i64,
                time_to: i64,
                order: $crate::store::Order,
            ) -> $crate::store::StoreResult<$crate::store::window::WindowedIter<'_>> {
                self.core
                    .fetch_keys(key_from, key_to, time_from, time_to, order)
            }

            fn restore(
                &mut self,
                records: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
            ) -> $crate::store::StoreResult<()> {
                self.core.restore(records)
            }

            fn approximate_num_entries(&self) -> $crate::store::StoreResult<u64> {
                self.core.approximate_num_entries()
            }

            fn flush(&mut self) -> $crate::store::StoreResult<()> {
                self.core.flush()
            }
        }
    };
}
use delegate_window_store;
