//! The typed window store handle, as Kafka Streams' `WindowStore<K, V>` (and, for the
//! windowed aggregations' stores, `TimestampedWindowStore<K, V>`): values per key and window
//! start, through the record cache to the byte store and its changelog.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use storage::store::{Order, Window, Windowed};

use super::backing::{split_timestamped, window_store_key, with_timestamp};
use super::codec::Codec;
use super::store::{StateStore, Written};
use crate::error::{Result, StreamsError};

/// A window store read and written as `K`/`V`. Reads see the record cache over the store, so
/// what a task has processed, never a half-applied update.
pub struct WindowStore<K, V> {
    store: Rc<RefCell<StateStore>>,
    codec: Codec<K, V>,
    /// The store's window size: a window's end is its start plus this.
    size_ms: i64,
    /// Values carry their timestamp (`timestamp ‖ value`).
    timestamped: bool,
}

impl<K, V> std::fmt::Debug for WindowStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStore")
            .field("store", &self.store.borrow().name)
            .finish()
    }
}

impl<K: 'static, V: 'static> WindowStore<K, V> {
    /// `None` when the store is not a window store or was declared with other types.
    pub(crate) fn open(store: Rc<RefCell<StateStore>>) -> Option<WindowStore<K, V>> {
        let (size_ms, timestamped) = match store.borrow().kind() {
            super::StoreKind::Window {
                size_ms, timestamped, ..
            } => (size_ms, timestamped),
            _ => return None,
        };
        let codec = store.borrow().codec()?;
        Some(WindowStore {
            store,
            codec,
            size_ms,
            timestamped,
        })
    }

    pub fn name(&self) -> String {
        self.store.borrow().name.clone()
    }

    /// The value of `key`'s window starting at `window_start` (Kafka's `fetch(key, time)`).
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>> {
        Ok(self.fetch_timestamped(key, window_start)?.map(|(v, _)| v))
    }

    /// [`fetch`](Self::fetch) with the window's timestamp (the largest of its records', for
    /// the windowed aggregations' stores; the write's, for others).
    pub fn fetch_timestamped(&self, key: &K, window_start: i64) -> Result<Option<(V, i64)>> {
        let kb = self.codec.key_bytes(key)?;
        self.fetch_raw(&kb, window_start)
    }

    /// `key`'s windows with `from <= start <= to`, oldest first: `(start, value)`.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        self.range_in(key, from, to, Order::Forward)
    }

    /// [`fetch_range`](Self::fetch_range), newest first (Kafka's `backwardFetch`).
    pub fn backward_fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        self.range_in(key, from, to, Order::Backward)
    }

    fn range_in(&self, key: &K, from: i64, to: i64, order: Order) -> Result<Vec<(i64, V)>> {
        let kb = self.codec.key_bytes(key)?;
        let raw = self.store.borrow_mut().window_range(&kb, from, to, order)?;
        raw.into_iter()
            .map(|(start, v)| Ok((start, self.decode_value(&v)?.0)))
            .collect()
    }

    /// Every key's windows with `from <= start <= to`, in the store's order (key bytes, then
    /// start): Kafka's `fetchAll(timeFrom, timeTo)`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(Windowed<K>, V)>> {
        Ok(self
            .fetch_all_timestamped(from, to)?
            .into_iter()
            .map(|(w, v, _)| (w, v))
            .collect())
    }

    /// Every window of the store.
    pub fn all(&self) -> Result<Vec<(Windowed<K>, V)>> {
        self.fetch_all(0, i64::MAX)
    }

    /// [`fetch_all`](Self::fetch_all) with each window's timestamp.
    pub fn fetch_all_timestamped(&self, from: i64, to: i64) -> Result<Vec<(Windowed<K>, V, i64)>> {
        let raw = self.store.borrow_mut().window_all(from, to)?;
        raw.into_iter()
            .map(|(k, start, v)| {
                let (value, ts) = self.decode_value(&v)?;
                Ok((self.windowed(&k, start)?, value, ts))
            })
            .collect()
    }

    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.store.borrow().approximate_num_entries()
    }

    /// `key` (serialized) with the window starting at `start`.
    pub(crate) fn windowed(&self, key: &[u8], start: i64) -> Result<Windowed<K>> {
        Ok(Windowed::new(
            self.codec.key(key)?,
            Window::new(start, start.saturating_add(self.size_ms)),
        ))
    }

    /// Serialized `key`'s windows with `from <= start <= to` in `order`, with their
    /// timestamps: `(start, (aggregate, timestamp))`.
    pub(crate) fn window_range_raw(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
        order: Order,
    ) -> Result<Vec<(i64, (V, i64))>> {
        let raw = self.store.borrow_mut().window_range(key, from, to, order)?;
        raw.into_iter()
            .map(|(start, v)| Ok((start, self.decode_value(&v)?)))
            .collect()
    }

    /// The largest timestamp among the windows that start within `span` of the newest window
    /// start: the latest record's, for a store a windowed aggregation keeps (the newest
    /// windows hold it). `None` for an empty store.
    pub(crate) fn latest_timestamp(&self, span: i64) -> Result<Option<i64>> {
        let Some(newest) = self.store.borrow().observed_stream_time() else {
            return Ok(None);
        };
        let raw = self
            .store
            .borrow_mut()
            .window_all(newest.saturating_sub(span).max(0), newest)?;
        let mut latest = None;
        for (_, _, v) in raw {
            let (_, ts) = self.decode_value(&v)?;
            latest = Some(latest.map_or(ts, |l: i64| l.max(ts)));
        }
        Ok(latest)
    }

    /// The window of serialized `key` starting at `start`, with its timestamp.
    pub(crate) fn fetch_raw(&self, key: &[u8], start: i64) -> Result<Option<(V, i64)>> {
        let raw = self.store.borrow_mut().get(&window_store_key(key, start))?;
        raw.map(|v| self.decode_value(&v)).transpose()
    }

    /// A stored value and its timestamp (0 for a store without timestamps).
    pub(crate) fn decode_value(&self, raw: &[u8]) -> Result<(V, i64)> {
        if !self.timestamped {
            return Ok((self.codec.present_value(raw)?, 0));
        }
        let (ts, bare) = split_timestamped(&self.codec.store, raw)
            .map_err(|e| StreamsError::store(&self.codec.store, e))?;
        Ok((self.codec.present_value(bare)?, ts))
    }

    /// Writes `value` (with `timestamp`; `None` deletes) into the window of serialized `key`
    /// starting at `start`; returns what reached the store (see [`StateStore::put`]).
    pub(crate) fn put_raw(
        &self,
        key: &[u8],
        start: i64,
        value: Option<&V>,
        timestamp: i64,
        buf: &mut BytesMut,
    ) -> Result<Vec<Written>> {
        buf.clear();
        let present = match value {
            Some(v) => self.codec.value_into(v, buf)?,
            None => false,
        };
        let stored = match (present, self.timestamped) {
            (false, _) => None,
            (true, true) => Some(Bytes::from(with_timestamp(timestamp, buf))),
            (true, false) => Some(Bytes::copy_from_slice(buf)),
        };
        self.store
            .borrow_mut()
            .put(Bytes::from(window_store_key(key, start)), stored, timestamp)
    }

    /// Serializes `key` onto `buf`; `false`: a null key.
    pub(crate) fn key_into(&self, key: &K, buf: &mut BytesMut) -> Result<bool> {
        self.codec.key_into(key, buf)
    }

    pub(crate) fn flush_raw(&self) -> Result<Vec<Written>> {
        self.store.borrow_mut().flush_cache()
    }

    /// Whether writes go through a record cache (else each reaches the store at once).
    pub(crate) fn cached(&self) -> bool {
        self.store.borrow().cached()
    }

    pub(crate) fn send_old_values(&self) {
        self.store.borrow_mut().send_old_values();
    }

    /// The key and start of a written entry's store key.
    pub(crate) fn decode_store_key(&self, store_key: &[u8]) -> Result<(Windowed<K>, Vec<u8>)> {
        let w = storage::store::window::decode_window_key(store_key).map_err(|source| {
            StreamsError::store(
                &self.codec.store,
                storage::store::StoreError::CorruptKey {
                    store: self.codec.store.to_string(),
                    source,
                },
            )
        })?;
        Ok((self.windowed(w.key, w.start)?, w.key.to_vec()))
    }
}
