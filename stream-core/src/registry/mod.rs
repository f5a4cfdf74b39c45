//! The Avro schema registry: subjects, versions, global ids and compatibility rules, kept in the
//! single-partition compacted topic `_schemas`, served over Confluent's REST API.
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
//! use stream_core::registry::SchemaRegistryClient;
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
pub mod record;
#[allow(clippy::module_inception)]
pub mod registry;
pub mod rest;
pub mod schema;
pub mod state;
pub mod store;
pub mod version;

pub use client::{HttpRegistryClient, RegisteredSchema, SchemaRegistryClient};
pub use compat::CompatibilityLevel;
pub use error::RegistryError;
pub use mode::Mode;
pub use registry::{RegisterRequest, Registry, SubjectVersion};
pub use schema::AvroSchema;
pub use version::VersionSpec;
