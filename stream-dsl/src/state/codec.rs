//! Keys and values of a store to and from bytes, with the store's serdes: what every typed
//! store handle (key-value, window, session) shares.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::StoreSerdes;
use crate::error::{Result, StreamsError};
use crate::serde::SerdeError;

pub(crate) struct Codec<K, V> {
    pub serdes: StoreSerdes<K, V>,
    /// The serdes' topic argument: the changelog's (Kafka passes the changelog topic too), or
    /// the store's name when it has none.
    pub topic: Rc<str>,
    pub store: Rc<str>,
}

impl<K, V> Clone for Codec<K, V> {
    fn clone(&self) -> Self {
        Codec {
            serdes: self.serdes.clone(),
            topic: self.topic.clone(),
            store: self.store.clone(),
        }
    }
}

impl<K: 'static, V: 'static> Codec<K, V> {
    /// A failure of the store's key or value serde (`what`).
    pub fn error(&self, what: &'static str, source: SerdeError) -> StreamsError {
        StreamsError::StoreValue {
            store: self.store.to_string(),
            what,
            source,
        }
    }

    /// The key's bytes; `None` for a key that serializes to null (such records are dropped
    /// by tables and aggregations, as in Kafka).
    pub fn try_key_bytes(&self, key: &K) -> Result<Option<Bytes>> {
        self.serdes
            .key
            .serialize(&self.topic, key)
            .map_err(|source| self.error("key", source))
    }

    pub fn key_bytes(&self, key: &K) -> Result<Bytes> {
        self.try_key_bytes(key)?
            .ok_or_else(|| self.error("key", SerdeError::Other("a store key cannot be null".into())))
    }

    pub fn key(&self, data: &[u8]) -> Result<K> {
        self.serdes
            .key
            .deserialize(&self.topic, Some(data))
            .map_err(|source| self.error("key", source))
    }

    /// A stored value; `None` for an absent one.
    pub fn value(&self, data: Option<&[u8]>) -> Result<Option<V>> {
        data.map(|d| self.present_value(d)).transpose()
    }

    pub fn present_value(&self, data: &[u8]) -> Result<V> {
        self.serdes
            .value
            .deserialize(&self.topic, Some(data))
            .map_err(|source| self.error("value", source))
    }

    pub fn value_bytes(&self, value: &V) -> Result<Option<Bytes>> {
        self.serdes
            .value
            .serialize(&self.topic, value)
            .map_err(|source| self.error("value", source))
    }

    /// Serializes `key` onto `buf`; `false`: a null key (nothing appended).
    pub fn key_into(&self, key: &K, buf: &mut BytesMut) -> Result<bool> {
        self.serdes
            .key
            .serialize_into(&self.topic, key, buf)
            .map_err(|source| self.error("key", source))
    }

    /// Serializes `value` onto `buf`; `false`: it serialized to null (nothing appended).
    pub fn value_into(&self, value: &V, buf: &mut BytesMut) -> Result<bool> {
        self.serdes
            .value
            .serialize_into(&self.topic, value, buf)
            .map_err(|source| self.error("value", source))
    }
}
