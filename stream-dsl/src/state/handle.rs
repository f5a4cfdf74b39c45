//! The typed store handle processors use.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::cache::InPlace;
use super::codec::Codec;
use super::store::StateStore;
use super::store::Written;
use crate::error::Result;
use crate::processor::TaskShared;

/// A key-value state store read and written as `K`/`V`, as Kafka Streams' `KeyValueStore`.
/// Writes go through the store's record cache (when enabled) to the local store and its
/// changelog topic.
pub struct KeyValueStore<K, V> {
    store: Rc<RefCell<StateStore>>,
    codec: Codec<K, V>,
    shared: Rc<TaskShared>,
}

impl<K, V> std::fmt::Debug for KeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("store", &self.store.borrow().name)
            .finish()
    }
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    /// `None` when the store was declared with other types.
    pub(crate) fn open(
        store: Rc<RefCell<StateStore>>,
        shared: Rc<TaskShared>,
    ) -> Option<KeyValueStore<K, V>> {
        let codec = store.borrow().codec()?;
        Some(KeyValueStore { store, codec, shared })
    }

    pub fn name(&self) -> String {
        self.store.borrow().name.clone()
    }

    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.get_by_bytes(&self.key_bytes(key)?)
    }

    pub fn put(&self, key: &K, value: &V) -> Result<()> {
        let kb = self.key_bytes(key)?;
        let vb = self.value_bytes(value)?;
        self.put_raw(kb, vb).map(drop)
    }

    /// Writes `value` only when `key` has none; returns the value that was there.
    pub fn put_if_absent(&self, key: &K, value: &V) -> Result<Option<V>> {
        let old = self.get(key)?;
        if old.is_none() {
            self.put(key, value)?;
        }
        Ok(old)
    }

    /// Removes `key`, returning its value.
    pub fn delete(&self, key: &K) -> Result<Option<V>> {
        let kb = self.key_bytes(key)?;
        let old = self.get_raw(&kb)?;
        self.put_raw(kb, None)?;
        self.value(old.as_deref())
    }

    /// Entries with `from <= key <= to` in the order of the serialized keys (Kafka's range
    /// is by serialized bytes too).
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (f, t) = (self.key_bytes(from)?, self.key_bytes(to)?);
        self.decode_all(self.store.borrow_mut().range(Some(&f), Some(&t))?)
    }

    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.decode_all(self.store.borrow_mut().range(None, None)?)
    }

    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.store.borrow().approximate_num_entries()
    }

    fn decode_all(&self, raw: Vec<(Bytes, Bytes)>) -> Result<Vec<(K, V)>> {
        raw.into_iter()
            .map(|(k, v)| Ok((self.codec.key(&k)?, self.codec.present_value(&v)?)))
            .collect()
    }

    pub(crate) fn key_bytes(&self, key: &K) -> Result<Bytes> {
        self.codec.key_bytes(key)
    }

    pub(crate) fn key(&self, data: &[u8]) -> Result<K> {
        self.codec.key(data)
    }

    /// A stored value; `None` for an absent one.
    pub(crate) fn value(&self, data: Option<&[u8]>) -> Result<Option<V>> {
        self.codec.value(data)
    }

    pub(crate) fn value_bytes(&self, value: &V) -> Result<Option<Bytes>> {
        self.codec.value_bytes(value)
    }

    /// Serializes `key` onto `buf`; `false`: a null key (nothing appended).
    pub(crate) fn key_into(&self, key: &K, buf: &mut BytesMut) -> Result<bool> {
        self.codec.key_into(key, buf)
    }

    /// Serializes `value` onto `buf`; `false`: it serialized to null (nothing appended).
    pub(crate) fn value_into(&self, value: &V, buf: &mut BytesMut) -> Result<bool> {
        self.codec.value_into(value, buf)
    }

    /// The value stored for the serialized `key`, deserialized straight from the cache.
    pub(crate) fn get_by_bytes(&self, key: &[u8]) -> Result<Option<V>> {
        let (serde, topic) = (&self.codec.serdes.value, &self.codec.topic);
        let read = self.store.borrow_mut().read(key, |raw| {
            raw.map(|d| serde.deserialize(topic, Some(d))).transpose()
        })?;
        read.map_err(|source| self.codec.error("value", source))
    }

    /// Replaces the value of the serialized `key` by `update(value)` in the cache alone, when
    /// it can (see [`StateStore::update_in_place`]); `buf` is scratch space, and holds the
    /// new value after [`InPlace::Write`].
    pub(crate) fn update_in_place(
        &self,
        key: &[u8],
        timestamp: i64,
        buf: &mut BytesMut,
        update: impl FnOnce(V) -> V,
    ) -> Result<InPlace> {
        let (serde, topic) = (&self.codec.serdes.value, &self.codec.topic);
        let done = self
            .store
            .borrow_mut()
            .update_in_place(key, timestamp, buf, |old, buf| {
                let new = update(serde.deserialize(topic, Some(old))?);
                serde.serialize_into(topic, &new, buf)
            });
        done.map_err(|source| self.codec.error("value", source))
    }

    pub(crate) fn put_slice_at(
        &self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<Vec<Written>> {
        self.store.borrow_mut().put_slice(key, value, timestamp)
    }

    pub(crate) fn get_raw(&self, key: &[u8]) -> Result<Option<Bytes>> {
        self.store.borrow_mut().get(key)
    }

    /// See [`StateStore::put`].
    pub(crate) fn put_raw(&self, key: Bytes, value: Option<Bytes>) -> Result<Vec<Written>> {
        self.put_raw_at(key, value, self.shared.timestamp.get())
    }

    pub(crate) fn put_raw_at(
        &self,
        key: Bytes,
        value: Option<Bytes>,
        timestamp: i64,
    ) -> Result<Vec<Written>> {
        self.store.borrow_mut().put(key, value, timestamp)
    }

    pub(crate) fn flush_raw(&self) -> Result<Vec<Written>> {
        self.store.borrow_mut().flush_cache()
    }

    /// See [`StateStore::send_old_values`].
    pub(crate) fn send_old_values(&self) {
        self.store.borrow_mut().send_old_values();
    }
}
