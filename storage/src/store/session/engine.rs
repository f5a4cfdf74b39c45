//! The session store over any segment backend: Kafka's `RocksDBSessionStore` on its
//! `SessionKeySchema`, written once for both of our stores.

use super::key::{SESSION_KEY_SUFFIX, decode_session_key, encode_session_key, max_suffix};
use super::{SessionIter, SessionStoreConfig};
use crate::store::segmented::bounds::{lower_bound, upper_bound};
use crate::store::segmented::time::Retention;
use crate::store::segmented::{Checkpoint, Segmented, Segments, filter_scan};
use crate::store::{KeyError, Order, SessionPut, StoreError, StoreResult, Window, Windowed};

#[derive(Debug)]
pub(crate) struct SessionEngine<S> {
    segmented: Segmented<S>,
    config: SessionStoreConfig,
}

impl<S: Segments> SessionEngine<S> {
    /// `config` must have been validated.
    pub(crate) fn new(
        name: &str,
        config: SessionStoreConfig,
        segments: S,
        checkpoint: Checkpoint,
    ) -> StoreResult<Self> {
        let retention = Retention::new(config.retention_ms(), config.segment_interval_ms());
        Ok(SessionEngine {
            segmented: Segmented::new(name.to_owned(), retention, segments, checkpoint)?,
            config,
        })
    }

    pub(crate) fn segmented(&self) -> &Segmented<S> {
        &self.segmented
    }

    pub(crate) fn segmented_mut(&mut self) -> &mut Segmented<S> {
        &mut self.segmented
    }

    pub(crate) fn name(&self) -> &str {
        self.segmented.name()
    }

    pub(crate) fn persistent(&self) -> bool {
        self.segmented.backend().persistent()
    }

    pub(crate) fn config(&self) -> &SessionStoreConfig {
        &self.config
    }

    pub(crate) fn observed_stream_time(&self) -> Option<i64> {
        self.segmented.observed_stream_time()
    }

    /// Stream time advances to the session's end even when the put is dropped as expired or
    /// is a delete, as in both of Kafka's session stores.
    pub(crate) fn put(&mut self, session: Windowed<&[u8]>, value: Option<&[u8]>) -> StoreResult<SessionPut> {
        self.check(session.window)?;
        let store_key = encode_session_key(session.key, session.window);
        let written = self.segmented.put(session.window.end, &store_key, value, None)?;
        Ok(if written {
            SessionPut::Applied
        } else {
            SessionPut::Expired
        })
    }

    /// A put of `None`. Kafka's two stores disagree on whether a removal moves stream time:
    /// `RocksDBSessionStore.remove` does (`AbstractRocksDBSegmentedBytesStore.remove`),
    /// `InMemorySessionStore.remove` does not. It does here, for a reason of restore: the
    /// changelog records a removal as a tombstone, and both of Kafka's stores restore a
    /// tombstone through `put`, which moves stream time; a store restored from the changelog
    /// and the store that wrote it then agree.
    pub(crate) fn remove(&mut self, session: Windowed<&[u8]>) -> StoreResult<()> {
        let _ = self.put(session, None)?;
        Ok(())
    }

    pub(crate) fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> StoreResult<Option<Vec<u8>>> {
        if start < 0 || start > end {
            return Ok(None);
        }
        self.segmented
            .get(end, &encode_session_key(key, Window::new(start, end)))
    }

    /// Kafka's `findSessions(key, earliestSessionEndTime, latestSessionStartTime)`: sessions
    /// with `end >= earliest_end` and `start <= latest_start`, live ones only.
    pub(crate) fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> StoreResult<SessionIter<'_>> {
        if latest_start < 0 {
            return Ok(Box::new(std::iter::empty()));
        }
        let earliest_end = self.live_from(earliest_end);
        // Kafka's lowerRangeFixedSize/upperRangeFixedSize: [key ++ earliest end ++ 0,
        // key ++ max ++ latest start]; other keys' store keys can fall between them.
        let lower = encode_session_key(key, Window::new(0, earliest_end));
        let upper = encode_session_key(key, Window::new(latest_start, i64::MAX));
        let raw = self
            .segmented
            .scan(earliest_end, i64::MAX, Some(&lower), Some(&upper), order)?;
        let key = key.to_vec();
        let store = self.name().to_owned();
        Ok(filter_scan(raw, move |store_key, value| {
            let session = decode_session_key(&store_key).map_err(|source| corrupt(&store, source))?;
            let hit = session.key == key.as_slice()
                && session.window.end >= earliest_end
                && session.window.start <= latest_start;
            Ok(hit.then(|| (Windowed::new(key.clone(), session.window), value)))
        }))
    }

    pub(crate) fn find_sessions_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> StoreResult<SessionIter<'_>> {
        if latest_start < 0 || matches!((key_from, key_to), (Some(from), Some(to)) if from > to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let earliest_end = self.live_from(earliest_end);
        let lower = key_from.map(|key| lower_bound(key, SESSION_KEY_SUFFIX));
        let upper = key_to.map(|key| upper_bound(key, &max_suffix(latest_start)));
        let raw = self
            .segmented
            .scan(earliest_end, i64::MAX, lower.as_deref(), upper.as_deref(), order)?;
        let (key_from, key_to) = (key_from.map(<[u8]>::to_vec), key_to.map(<[u8]>::to_vec));
        let store = self.name().to_owned();
        Ok(filter_scan(raw, move |store_key, value| {
            let session = decode_session_key(&store_key).map_err(|source| corrupt(&store, source))?;
            let hit = key_from.as_deref().is_none_or(|from| session.key >= from)
                && key_to.as_deref().is_none_or(|to| session.key <= to)
                && session.window.end >= earliest_end
                && session.window.start <= latest_start;
            Ok(hit.then(|| (Windowed::new(session.key.to_vec(), session.window), value)))
        }))
    }

    pub(crate) fn restore(
        &mut self,
        records: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
    ) -> StoreResult<()> {
        let mut decoded = Vec::new();
        for (index, (store_key, value)) in records.enumerate() {
            let session =
                decode_session_key(store_key).map_err(|source| StoreError::MalformedChangelogKey {
                    store: self.name().to_owned(),
                    index,
                    source,
                })?;
            decoded.push((session.window.end, store_key.to_vec(), value));
        }
        self.segmented.restore(&decoded, None)
    }

    pub(crate) fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.segmented.approximate_num_entries()
    }

    pub(crate) fn flush(&mut self) -> StoreResult<()> {
        self.segmented.flush()
    }

    fn check(&self, window: Window) -> StoreResult<()> {
        for (what, timestamp) in [("session start", window.start), ("session end", window.end)] {
            if timestamp < 0 {
                return Err(StoreError::NegativeTimestamp {
                    store: self.name().to_owned(),
                    what,
                    timestamp,
                });
            }
        }
        if window.start > window.end {
            return Err(StoreError::InvalidSession {
                store: self.name().to_owned(),
                start: window.start,
                end: window.end,
            });
        }
        Ok(())
    }

    /// The earliest session end a query may return: ends are never negative, and nothing
    /// expired is read (Kafka's `getActualFrom`).
    fn live_from(&self, earliest_end: i64) -> i64 {
        earliest_end.max(0).max(self.segmented.min_live())
    }
}

/// A key read back from our own store that does not decode: the store's files are damaged.
fn corrupt(store: &str, source: KeyError) -> StoreError {
    StoreError::CorruptKey {
        store: store.to_owned(),
        source,
    }
}
