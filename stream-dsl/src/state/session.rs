//! The typed session store handle, as Kafka Streams' `SessionStore<K, V>`: values per key and
//! session, through the record cache to the byte store and its changelog.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use storage::store::{Order, Window, Windowed};

use super::backing::session_store_key;
use super::codec::Codec;
use super::store::{StateStore, Written};
use crate::error::{Result, StreamsError};

/// A session store read and written as `K`/`V`.
pub struct SessionStore<K, V> {
    store: Rc<RefCell<StateStore>>,
    codec: Codec<K, V>,
}

impl<K, V> std::fmt::Debug for SessionStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("store", &self.store.borrow().name)
            .finish()
    }
}

impl<K: 'static, V: 'static> SessionStore<K, V> {
    /// `None` when the store is not a session store or was declared with other types.
    pub(crate) fn open(store: Rc<RefCell<StateStore>>) -> Option<SessionStore<K, V>> {
        if !matches!(store.borrow().kind(), super::StoreKind::Session { .. }) {
            return None;
        }
        let codec = store.borrow().codec()?;
        Some(SessionStore { store, codec })
    }

    pub fn name(&self) -> String {
        self.store.borrow().name.clone()
    }

    /// `key`'s sessions that end at or after `earliest_end` and start at or before
    /// `latest_start`, by end then start (Kafka's `findSessions(key, earliestSessionEndTime,
    /// latestSessionStartTime)`).
    pub fn find_sessions(&self, key: &K, earliest_end: i64, latest_start: i64) -> Result<Vec<(Window, V)>> {
        let kb = self.codec.key_bytes(key)?;
        self.find_raw(&kb, earliest_end, latest_start, Order::Forward)
    }

    /// [`find_sessions`](Self::find_sessions), newest first.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(Window, V)>> {
        let kb = self.codec.key_bytes(key)?;
        self.find_raw(&kb, earliest_end, latest_start, Order::Backward)
    }

    /// Every session of `key` (Kafka's `fetch(key)`).
    pub fn fetch(&self, key: &K) -> Result<Vec<(Window, V)>> {
        self.find_sessions(key, 0, i64::MAX)
    }

    /// The value of `key`'s session exactly `[start, end]` (Kafka's `fetchSession`).
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>> {
        let kb = self.codec.key_bytes(key)?;
        let raw = self
            .store
            .borrow_mut()
            .get(&session_store_key(&kb, Window::new(start, end)))?;
        self.codec.value(raw.as_deref())
    }

    /// Every key's sessions ending within `[earliest_end, latest_end]`, in the store's order.
    pub fn sessions_ending_in(&self, earliest_end: i64, latest_end: i64) -> Result<Vec<(Windowed<K>, V)>> {
        let raw = self
            .store
            .borrow_mut()
            .sessions_ending_in(earliest_end, latest_end)?;
        raw.into_iter()
            .map(|(k, w, v)| {
                Ok((
                    Windowed::new(self.codec.key(&k)?, w),
                    self.codec.present_value(&v)?,
                ))
            })
            .collect()
    }

    /// Every session of the store.
    pub fn all(&self) -> Result<Vec<(Windowed<K>, V)>> {
        self.sessions_ending_in(0, i64::MAX)
    }

    /// The newest session end the store has seen (its stream time): the latest record's,
    /// for the store a session aggregation keeps. `None` for an empty store.
    pub(crate) fn observed_stream_time(&self) -> Option<i64> {
        self.store.borrow().observed_stream_time()
    }

    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.store.borrow().approximate_num_entries()
    }

    pub(crate) fn find_raw(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> Result<Vec<(Window, V)>> {
        let raw = self
            .store
            .borrow_mut()
            .sessions(key, earliest_end, latest_start, order)?;
        raw.into_iter()
            .map(|(w, v)| Ok((w, self.codec.present_value(&v)?)))
            .collect()
    }

    /// Writes `value` (`None` removes) for serialized `key`'s session `window`, stamped
    /// `timestamp` in the changelog; returns what reached the store.
    pub(crate) fn put_raw(
        &self,
        key: &[u8],
        window: Window,
        value: Option<&V>,
        timestamp: i64,
        buf: &mut BytesMut,
    ) -> Result<Vec<Written>> {
        buf.clear();
        let present = match value {
            Some(v) => self.codec.value_into(v, buf)?,
            None => false,
        };
        let stored = present.then(|| Bytes::copy_from_slice(buf));
        self.store
            .borrow_mut()
            .put(Bytes::from(session_store_key(key, window)), stored, timestamp)
    }

    /// Serializes `key` onto `buf`; `false`: a null key.
    pub(crate) fn key_into(&self, key: &K, buf: &mut BytesMut) -> Result<bool> {
        self.codec.key_into(key, buf)
    }

    pub(crate) fn decode_value(&self, raw: Option<&[u8]>) -> Result<Option<V>> {
        self.codec.value(raw)
    }

    pub(crate) fn flush_raw(&self) -> Result<Vec<Written>> {
        self.store.borrow_mut().flush_cache()
    }

    pub(crate) fn send_old_values(&self) {
        self.store.borrow_mut().send_old_values();
    }

    /// The key and session of a written entry's store key.
    pub(crate) fn decode_store_key(&self, store_key: &[u8]) -> Result<Windowed<K>> {
        let w = storage::store::session::decode_session_key(store_key).map_err(|source| {
            StreamsError::store(
                &self.codec.store,
                storage::store::StoreError::CorruptKey {
                    store: self.codec.store.to_string(),
                    source,
                },
            )
        })?;
        Ok(Windowed::new(self.codec.key(w.key)?, w.window))
    }
}
