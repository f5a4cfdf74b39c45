//! Kafka's `Joined`: the serdes and the name of a stream-table join.

use std::sync::Arc;

use crate::serde::{Serde, SharedSerde};

/// How a stream-table join is built, as Kafka Streams' `Joined<K, V, VO>`: the stream's key
/// and value serdes (for the repartition topic a re-keyed stream goes through before the
/// join; the stream's own serdes when not given) and the other side's value serde, and the
/// join's name (which also names that repartition topic).
pub struct Joined<K, V, VO> {
    pub(crate) key: Option<SharedSerde<K>>,
    pub(crate) value: Option<SharedSerde<V>>,
    pub(crate) other_value: Option<SharedSerde<VO>>,
    pub(crate) name: Option<String>,
}

impl<K, V, VO> std::fmt::Debug for Joined<K, V, VO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined").field("name", &self.name).finish()
    }
}

impl<K, V, VO> Default for Joined<K, V, VO> {
    fn default() -> Self {
        Joined {
            key: None,
            value: None,
            other_value: None,
            name: None,
        }
    }
}

impl<K: 'static, V: 'static, VO: 'static> Joined<K, V, VO> {
    /// Kafka's `Joined.with(keySerde, valueSerde, otherValueSerde)`.
    pub fn with(key: impl Serde<K>, value: impl Serde<V>, other_value: impl Serde<VO>) -> Self {
        Joined {
            key: Some(Arc::new(key)),
            value: Some(Arc::new(value)),
            other_value: Some(Arc::new(other_value)),
            name: None,
        }
    }

    /// Kafka's `Joined.as(name)`.
    pub fn as_(name: impl Into<String>) -> Self {
        Joined {
            name: Some(name.into()),
            ..Joined::default()
        }
    }

    /// Kafka's `withName`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
