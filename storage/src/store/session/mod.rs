//! Session stores: values per key and session (a window of variable length, both ends
//! inclusive), as Kafka Streams' `SessionStore<Bytes, byte[]>`. Session-windowed aggregations
//! keep their sessions here, merging overlapping ones by removing them and putting the union.
//!
//! ```text
//!   SessionStore ──┬── RocksDbSessionStore    segmented by session end, dir/name/
//!                  └── InMemorySessionStore   the same in BTreeMaps
//! ```
//!
//! The rules, from Kafka Streams 4.x (`AbstractRocksDBSegmentedBytesStore`,
//! `RocksDBSessionStore`, `InMemorySessionStore`, `ReadOnlySessionStore`), are the same for
//! both stores:
//!
//! - **Stream time** is the largest session end put or removed; a session is live while
//!   `end > stream time - retention`. Reads never return an expired session and a put of one
//!   is dropped ([`SessionPut::Expired`]). Segments of session ends are dropped whole.
//! - **`find_sessions(key, earliest_end, latest_start)`** returns the sessions that overlap
//!   `[earliest_end, latest_start]`: `end >= earliest_end && start <= latest_start`.
//! - **Order**: one key's sessions by end, then start, ascending ([`Order::Forward`]) or the
//!   exact reverse. Key ranges come in the order of the store key bytes (key, end, start when
//!   no key is a proper prefix of another). Kafka's in-memory store orders equal ends by start
//!   descending, its RocksDB store ascending; the RocksDB order is kept here.
//! - **A `None` value** deletes the session, as [`SessionStore::remove`] does.
//!
//! ```
//! use storage::store::{InMemorySessionStore, SessionStore, SessionStoreConfig, Window, Windowed};
//!
//! let mut store = InMemorySessionStore::new("visits", SessionStoreConfig::new(3_600_000))?;
//! let _ = store.put(Windowed::new(&b"bob"[..], Window::new(0, 10)), Some(b"2"))?;
//! let _ = store.put(Windowed::new(&b"bob"[..], Window::new(50, 80)), Some(b"5"))?;
//! // Sessions overlapping [5, 40]: the first only.
//! let found = store.find_sessions(b"bob", 5, 40)?.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(found, vec![(Windowed::new(b"bob".to_vec(), Window::new(0, 10)), b"2".to_vec())]);
//! assert_eq!(store.fetch_session(b"bob", 50, 80)?, Some(b"5".to_vec()));
//! # Ok::<(), storage::store::StoreError>(())
//! ```

pub mod conformance;
mod engine;
pub mod key;
mod memory;
mod rocks;

pub use key::{SESSION_KEY_SUFFIX, decode_session_key, encode_session_key};
pub use memory::InMemorySessionStore;
pub use rocks::RocksDbSessionStore;

use super::segmented::time::default_segment_interval;
use super::{Order, SessionPut, StoreError, StoreResult, Windowed};

/// Sessions: `(key and session, value)`. An error ends the scan: it is the last item.
pub type SessionIter<'a> = Box<dyn Iterator<Item = StoreResult<(Windowed, Vec<u8>)>> + 'a>;

/// A session store's shape: Kafka's `Stores.persistentSessionStore(name, retention)`, plus
/// the segment interval Kafka derives from the retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStoreConfig {
    retention_ms: i64,
    segment_interval_ms: Option<i64>,
}

impl SessionStoreConfig {
    /// Sessions kept `retention_ms` past stream time (checked non-negative at open).
    pub fn new(retention_ms: i64) -> SessionStoreConfig {
        SessionStoreConfig {
            retention_ms,
            segment_interval_ms: None,
        }
    }

    /// Overrides the segment interval (default `max(retention / 2, 60 s)`).
    pub fn with_segment_interval(mut self, interval_ms: i64) -> SessionStoreConfig {
        self.segment_interval_ms = Some(interval_ms);
        self
    }

    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    pub fn segment_interval_ms(&self) -> i64 {
        self.segment_interval_ms
            .unwrap_or_else(|| default_segment_interval(self.retention_ms))
    }

    pub(crate) fn validate(&self, store: &str) -> StoreResult<()> {
        let reason = if self.retention_ms < 0 {
            format!("retention {} ms is negative", self.retention_ms)
        } else if self.segment_interval_ms() < 1 {
            format!("segment interval {} ms is below 1 ms", self.segment_interval_ms())
        } else {
            return Ok(());
        };
        Err(StoreError::InvalidConfig {
            store: store.to_owned(),
            reason,
        })
    }
}

/// A store of values per key and session, bytes in and bytes out, as Kafka Streams'
/// `SessionStore<Bytes, byte[]>`. See the [module docs](self) for the rules.
pub trait SessionStore: Send + std::fmt::Debug {
    fn name(&self) -> &str;

    /// True for stores that survive a restart (RocksDB).
    fn persistent(&self) -> bool;

    fn config(&self) -> &SessionStoreConfig;

    /// The largest session end put or removed so far (restores included); `None` before.
    fn observed_stream_time(&self) -> Option<i64>;

    /// Puts `value` as the aggregate of `session`; `None` deletes it. Fails on a negative
    /// time or a start after the end.
    fn put(&mut self, session: Windowed<&[u8]>, value: Option<&[u8]>) -> StoreResult<SessionPut>;

    /// Deletes `session`, moving stream time to its end (see the module docs). The changelog
    /// records it as a tombstone of `encode_session_key(key, window)`.
    fn remove(&mut self, session: Windowed<&[u8]>) -> StoreResult<()>;

    /// The value of `key`'s session with exactly these bounds, if it is live (Kafka's
    /// `fetchSession(key, sessionStartTime, sessionEndTime)`).
    fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>>;

    /// `key`'s live sessions with `end >= earliest_end && start <= latest_start`, in `order`.
    fn find_sessions_in(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> StoreResult<SessionIter<'_>>;

    /// Live sessions of the keys `key_from..=key_to` (`None`: unbounded) with
    /// `end >= earliest_end && start <= latest_start`, in `order` of the store key bytes.
    /// `key_from > key_to` is an empty scan.
    fn find_sessions_keys_in(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> StoreResult<SessionIter<'_>>;

    /// Applies changelog records as they are in the changelog: `(session store key, value)`,
    /// `None` for a tombstone. The batch is atomic: a malformed key fails it whole
    /// ([`StoreError::MalformedChangelogKey`]). Stream time advances to the batch's largest
    /// session end first; records that have expired by then are skipped.
    fn restore(&mut self, records: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>) -> StoreResult<()>;

    /// Sessions held, estimated as for key-value stores.
    fn approximate_num_entries(&self) -> StoreResult<u64>;

    /// Makes every write so far durable (in-memory stores do nothing).
    fn flush(&mut self) -> StoreResult<()>;

    /// Kafka's `findSessions(key, earliestSessionEndTime, latestSessionStartTime)`.
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<SessionIter<'_>> {
        self.find_sessions_in(key, earliest_end, latest_start, Order::Forward)
    }

    /// Kafka's `backwardFindSessions(key, ...)`.
    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<SessionIter<'_>> {
        self.find_sessions_in(key, earliest_end, latest_start, Order::Backward)
    }

    /// Kafka's `findSessions(keyFrom, keyTo, ...)`.
    fn find_sessions_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<SessionIter<'_>> {
        self.find_sessions_keys_in(key_from, key_to, earliest_end, latest_start, Order::Forward)
    }

    /// Kafka's `backwardFindSessions(keyFrom, keyTo, ...)`.
    fn backward_find_sessions_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> StoreResult<SessionIter<'_>> {
        self.find_sessions_keys_in(key_from, key_to, earliest_end, latest_start, Order::Backward)
    }

    /// Every live session of `key` (Kafka's `fetch(key)`).
    fn fetch_sessions(&self, key: &[u8]) -> StoreResult<SessionIter<'_>> {
        self.find_sessions(key, 0, i64::MAX)
    }

    /// Kafka's `backwardFetch(key)`.
    fn backward_fetch_sessions(&self, key: &[u8]) -> StoreResult<SessionIter<'_>> {
        self.backward_find_sessions(key, 0, i64::MAX)
    }

    /// Every live session of the keys `key_from..=key_to` (Kafka's `fetch(keyFrom, keyTo)`).
    fn fetch_sessions_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
    ) -> StoreResult<SessionIter<'_>> {
        self.find_sessions_keys(key_from, key_to, 0, i64::MAX)
    }

    /// Kafka's `backwardFetch(keyFrom, keyTo)`.
    fn backward_fetch_sessions_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
    ) -> StoreResult<SessionIter<'_>> {
        self.backward_find_sessions_keys(key_from, key_to, 0, i64::MAX)
    }
}

/// Implements [`SessionStore`] for a type with a field `core: engine::SessionEngine<_>`.
macro_rules! delegate_session_store {
    ($store:ty) => {
        impl $crate::store::SessionStore for $store {
            fn name(&self) -> &str {
                self.core.name()
            }

            fn persistent(&self) -> bool {
                self.core.persistent()
            }

            fn config(&self) -> &$crate::store::SessionStoreConfig {
                self.core.config()
            }

            fn observed_stream_time(&self) -> Option<i64> {
                self.core.observed_stream_time()
            }

            fn put(
                &mut self,
                session: $crate::store::Windowed<&[u8]>,
                value: Option<&[u8]>,
            ) -> $crate::store::StoreResult<$crate::store::SessionPut> {
                self.core.put(session, value)
            }

            fn remove(&mut self, session: $crate::store::Windowed<&[u8]>) -> $crate::store::StoreResult<()> {
                self.core.remove(session)
            }

            fn fetch_session(
                &self,
                key: &[u8],
                start: i64,
                end: i64,
            ) -> $crate::store::StoreResult<Option<Vec<u8>>> {
                self.core.fetch_session(key, start, end)
            }

            fn find_sessions_in(
                &self,
                key: &[u8],
                earliest_end: i64,
                latest_start: i64,
                order: $crate::store::Order,
            ) -> $crate::store::StoreResult<$crate::store::session::SessionIter<'_>> {
                self.core
                    .find_sessions(key, earliest_end, latest_start, order)
            }

            fn find_sessions_keys_in(
                &self,
                key_from: Option<&[u8]>,
                key_to: Option<&[u8]>,
                earliest_end: i64,
                latest_start: i64,
                order: $crate::store::Order,
            ) -> $crate::store::StoreResult<$crate::store::session::SessionIter<'_>> {
                self.core
                    .find_sessions_keys(key_from, key_to, earliest_end, latest_start, order)
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
use delegate_session_store;
