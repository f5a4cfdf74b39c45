//! How users name and configure stores: `Materialized` for the DSL's tables and
//! aggregations, `Stores`/`StoreBuilder` for stores of the Processor API.

use std::sync::Arc;

use super::{StoreKind, StoreSerdes, StoreSpec, StoreType};
use crate::serde::{Serde, SharedSerde};

/// How a table or an aggregation is stored, as Kafka's `Materialized`. Without a name the
/// store gets a generated one (and so a generated changelog topic name: name stores whose
/// application will be upgraded).
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) store_type: StoreType,
    pub(crate) caching: bool,
    pub(crate) logging: bool,
    /// How long a window or session store keeps windows past stream time; `None`: the
    /// windows' default (Kafka: size plus grace; sliding: twice the time difference plus
    /// grace; sessions: gap plus grace).
    pub(crate) retention: Option<std::time::Duration>,
}

impl<K, V> std::fmt::Debug for Materialized<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialized")
            .field("name", &self.name)
            .field("store_type", &self.store_type)
            .field("caching", &self.caching)
            .field("logging", &self.logging)
            .finish()
    }
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key_serde: None,
            value_serde: None,
            store_type: StoreType::RocksDb,
            caching: true,
            logging: true,
            retention: None,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// A store named `name` (its changelog: `<application.id>-<name>-changelog`).
    pub fn as_(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// An unnamed store with these serdes.
    pub fn with(key: impl Serde<K>, value: impl Serde<V>) -> Self {
        Materialized {
            key_serde: Some(Arc::new(key)),
            value_serde: Some(Arc::new(value)),
            ..Default::default()
        }
    }

    pub fn with_key_serde(mut self, key: impl Serde<K>) -> Self {
        self.key_serde = Some(Arc::new(key));
        self
    }

    pub fn with_value_serde(mut self, value: impl Serde<V>) -> Self {
        self.value_serde = Some(Arc::new(value));
        self
    }

    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = store_type;
        self
    }

    /// Every update goes downstream and to the store at once (`statestore.cache.max.bytes`
    /// does not apply to this store).
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// How long a windowed aggregation's store keeps a window past stream time (Kafka's
    /// `withRetention`): for interactive queries of windows older than the grace period. At
    /// least the window size plus grace (for sliding windows twice the time difference plus
    /// grace, for sessions the gap plus grace), else `build()` refuses it with Kafka's message.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// No changelog: the store is not restored when its task moves or its state is lost.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}

/// A store for the Processor API, added with `StreamsBuilder::add_state_store` and connected
/// to processors by name.
pub struct StoreBuilder<K, V> {
    pub(crate) spec: StoreSpec,
    _types: std::marker::PhantomData<fn(K, V)>,
}

impl<K, V> std::fmt::Debug for StoreBuilder<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.spec.fmt(f)
    }
}

impl<K: 'static, V: 'static> StoreBuilder<K, V> {
    pub fn with_caching_disabled(mut self) -> Self {
        self.spec.caching = false;
        self
    }

    pub fn with_caching_enabled(mut self) -> Self {
        self.spec.caching = true;
        self
    }

    pub fn with_logging_disabled(mut self) -> Self {
        self.spec.logging = false;
        self
    }
}

/// Store factories, as Kafka's `Stores`.
#[derive(Debug, Clone, Copy)]
pub struct Stores;

impl Stores {
    /// A key-value store of `store_type`; logged, and uncached (Kafka's `StoreBuilder`
    /// default) until `with_caching_enabled`.
    pub fn key_value_store_builder<K: 'static, V: 'static>(
        name: impl Into<String>,
        store_type: StoreType,
        key: impl Serde<K>,
        value: impl Serde<V>,
    ) -> StoreBuilder<K, V> {
        StoreBuilder {
            spec: StoreSpec {
                name: name.into(),
                kind: StoreKind::KeyValue,
                store_type,
                caching: false,
                logging: true,
                serdes: Arc::new(StoreSerdes::<K, V> {
                    key: Arc::new(key),
                    value: Arc::new(value),
                }),
            },
            _types: std::marker::PhantomData,
        }
    }
}
