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
//!
//! A task opens its stores through a `StoreOpener` (`open.rs`), the runtime's and the test
//! driver's alike; only where the stores live differs (its `Placement`).

mod backing;
pub mod cache;
mod codec;
mod handle;
mod materialized;
mod open;
mod session;
mod store;
pub(crate) mod table;
mod window;

use std::any::Any;
use std::sync::Arc;

pub(crate) use backing::{Backing, ChangelogRecord};
pub use handle::KeyValueStore;
pub use materialized::{Materialized, StoreBuilder, Stores};
pub(crate) use open::{Placement, StoreOpener, memory_budget};
pub use session::SessionStore;
pub(crate) use store::{StateStore, Written};
pub use window::WindowStore;

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

/// What a store holds, and so how it is opened ([`StoreOpener`]) and keyed: each kind has its
/// own key layout over its byte store (Kafka Streams' `WindowKeySchema` and
/// `SessionKeySchema`; see `backing.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    KeyValue,
    /// Windows of `size_ms` kept `retention_ms` past stream time; `timestamped`: each value
    /// carries the largest timestamp of its window's records (Kafka's
    /// `TimestampedWindowStore`, the windowed aggregations' store).
    Window {
        retention_ms: i64,
        size_ms: i64,
        retain_duplicates: bool,
        timestamped: bool,
    },
    /// Sessions kept `retention_ms` past stream time.
    Session {
        retention_ms: i64,
    },
    /// A suppression buffer's store: key-value, always in memory (the buffer is rebuilt from
    /// its changelog at every start, as Kafka's is), its changelog values carrying the header
    /// `v` = `[3]` of Kafka's buffer format.
    SuppressionBuffer,
}

impl StoreKind {
    /// How long the store keeps data past stream time, for window and session stores: their
    /// changelogs are `compact,delete` with this retention plus
    /// `windowstore.changelog.additional.retention.ms`.
    pub(crate) fn retention_ms(&self) -> Option<i64> {
        match *self {
            StoreKind::KeyValue | StoreKind::SuppressionBuffer => None,
            StoreKind::Window { retention_ms, .. } | StoreKind::Session { retention_ms } => {
                Some(retention_ms)
            }
        }
    }
}

/// A store's definition in a topology, shared by every task that instantiates it.
#[derive(Clone)]
pub(crate) struct StoreSpec {
    pub name: String,
    pub kind: StoreKind,
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
            .field("kind", &self.kind)
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

/// The changelog topic of a store, before the application-id prefix.
pub(crate) fn changelog_topic(store: &str) -> String {
    format!("{store}-changelog")
}
