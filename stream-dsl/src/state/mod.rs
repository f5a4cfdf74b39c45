//! State stores as the DSL sees them: typed handles over the byte stores of
//! [`storage::store`], with a write-back record cache in front and a changelog topic behind.
//!
//! ```text
//!  processor ──put/get──▶ KeyValueStore<K, V> (serdes)
//!                             │
//!                             ▼
//!                         StateStore ──▶ RecordCache (write-back, collapses updates)
//!                             │ on flush / eviction
//!                             ├────────▶ RocksDB or in-memory store
//!                             └────────▶ changelog topic <application.id>-<store>-changelog
//! ```

pub mod cache;
mod handle;
mod materialized;
mod store;
pub(crate) mod table;

use std::any::Any;
use std::sync::Arc;

pub use handle::KeyValueStore;
pub use materialized::{Materialized, StoreBuilder, Stores};
pub(crate) use store::StateStore;

use crate::serde::SharedSerde;

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreType {
    /// RocksDB in the task's state directory: survives restarts, so only the changelog's
    /// tail is replayed. Kafka Streams' default.
    #[default]
    RocksDb,
    /// A sorted map in memory: rebuilt from the changelog whenever its task starts.
    InMemory,
}

/// A store's definition in a topology, shared by every task that instantiates it.
#[derive(Clone)]
pub(crate) struct StoreSpec {
    pub name: String,
    pub store_type: StoreType,
    pub caching: bool,
    pub logging: bool,
    /// A `StoreSerdes<K, V>`, downcast when a processor opens the store with its types.
    pub serdes: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSpec")
            .field("name", &self.name)
            .field("store_type", &self.store_type)
            .field("caching", &self.caching)
            .field("logging", &self.logging)
            .finish()
    }
}

/// The serdes a store was declared with.
pub(crate) struct StoreSerdes<K, V> {
    pub key: SharedSerde<K>,
    pub value: SharedSerde<V>,
}

impl<K, V> Clone for StoreSerdes<K, V> {
    fn clone(&self) -> Self {
        StoreSerdes {
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

/// A hash map for the per-record path: XXH3 instead of SipHash, which showed up in profiles
/// of aggregations (short keys, several lookups per record). Seeded per map from the
/// standard library's random keys, so keys chosen by an attacker cannot be aimed at it.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, xxhash_rust::xxh3::Xxh3Builder>;

pub(crate) fn fast_map<K, V>() -> FastMap<K, V> {
    use std::hash::BuildHasher;
    let seed = std::collections::hash_map::RandomState::new().hash_one(0u8);
    FastMap::with_hasher(xxhash_rust::xxh3::Xxh3Builder::new().with_seed(seed))
}

/// The changelog topic of a store, before the application-id prefix.
pub(crate) fn changelog_topic(store: &str) -> String {
    format!("{store}-changelog")
}
