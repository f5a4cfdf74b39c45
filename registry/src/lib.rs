//! Runnel's schema registry: Confluent's service, as its own crate. Subjects, versions, global ids
//! and compatibility rules for Avro schemas, kept in the broker's single-partition compacted topic
//! `_schemas`, served over Confluent's REST API ([`rest`]) and read by serdes through
//! [`SchemaRegistryClient`], in-process ([`Registry`]) or over HTTP ([`HttpRegistryClient`]).
//!
//! It is a client of the broker, as Confluent's registry is a client of Kafka: it depends on
//! `stream-core` for its topic and nothing in `stream-core` depends on it. `runnel serve
//! --registry-listen` mounts [`rest::serve`]; the DSL's Avro serdes take any
//! [`SchemaRegistryClient`].
//!
//! ```text
//!   REST (rest.rs, axum) ─┐
//!   SchemaRegistryClient ─┼─► Registry (registry.rs) ─► compat.rs (Avro resolution rules)
//!   HttpRegistryClient ───┘     │  decide ─► append ─► State::apply (state.rs)
//!                               └─► _schemas topic (store.rs, records in record.rs): the source of truth
//! ```
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use registry::{SchemaRegistryClient, SchemaRegistryExt};
//! let dir = tempfile::tempdir().unwrap();
//! let cluster = stream_core::Cluster::embedded(dir.path()).await.unwrap();
//! let registry = cluster.schema_registry().unwrap();
//! // What a serde sees: the trait (the inherent methods take Confluent's full requests).
//! let client: &dyn SchemaRegistryClient = &*registry;
//! let v1 = client.register("orders-value", r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#).unwrap();
//! // The same schema under another subject keeps its global id.
//! let again = client.register("audit-value", &v1.schema).unwrap();
//! assert_eq!(again.id, v1.id);
//! // BACKWARD (the default level): a new field needs a default, so readers of v2 can read v1 data.
//! let v2 = client.register(
//!     "orders-value",
//!     r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"note","type":"string","default":""}]}"#,
//! ).unwrap();
//! assert_eq!(v2.version, Some(2));
//! assert_eq!(client.latest("orders-value").unwrap().id, v2.id);
//! # drop(registry);
//! cluster.shutdown().await;
//! # });
//! ```

pub mod client;
pub mod compat;
pub mod error;
pub mod mode;
mod record;
#[allow(clippy::module_inception)]
pub mod registry;
pub mod rest;
pub mod schema;
mod state;
mod store;
pub mod version;

use std::sync::Arc;

pub use client::{HttpRegistryClient, RegisteredSchema, SchemaRegistryClient};
pub use compat::CompatibilityLevel;
pub use error::RegistryError;
pub use mode::Mode;
pub use registry::{RegisterRequest, Registry, SubjectVersion};
pub use schema::AvroSchema;
pub use store::SCHEMAS_TOPIC;
pub use version::VersionSpec;

/// The registry of an embedded [`Cluster`](stream_core::Cluster): `cluster.schema_registry()`.
pub trait SchemaRegistryExt {
    /// The schema registry over this cluster's `_schemas` topic, opened (the topic created if
    /// missing, its records replayed) on the first call; later calls, from any clone of the
    /// cluster, return the same one: two registries over one `_schemas` would each keep their
    /// own view of it and both write. Blocking file I/O on the first call: from async code,
    /// call it on the blocking pool.
    fn schema_registry(&self) -> Result<Arc<Registry>, RegistryError>;
}

impl SchemaRegistryExt for stream_core::Cluster {
    fn schema_registry(&self) -> Result<Arc<Registry>, RegistryError> {
        self.service(|cluster| Registry::open(cluster.broker()))
    }
}
