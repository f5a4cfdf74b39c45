//! Avro serdes in Confluent's wire format, backed by a schema registry: records written by
//! Confluent's Java or Python serializers read here, and the other way round.
//!
//! ```text
//!  serialize(topic, value)                          deserialize(topic, bytes)
//!    │ subject = strategy(topic, key?, schema)        │ 0x00 │ id │ datum │   (wire.rs)
//!    │ id = cache[topic] or register/lookup ──┐       │ writer = cache[id] or schema_by_id ──┐
//!    ▼                                        │       ▼                                      │
//!  0x00 │ id │ Avro binary (datum.rs)   SchemaRegistryClient (embedded Registry or HTTP)  ◄─┘
//! ```
//!
//! - [`AvroSerde<T>`] for `serde` types, [`GenericAvroSerde`] for `apache_avro::types::Value`.
//! - [`SubjectNameStrategy`]: TopicName (default), RecordName, TopicRecordName.
//! - [`AvroConfig`]: the registry client, key or value, `auto.register.schemas` (on by
//!   default; off: look the schema up and fail if absent), `use.latest.version`.
//! - Each serde caches subject → id and id → writer schema (see `cache.rs`), so after the
//!   first record of a topic or schema id the per-record path makes no registry call.
//! - Records written with an older (or newer) compatible schema are resolved into the serde's
//!   own schema by Avro's rules: new fields take their defaults, removed fields are skipped.

mod cache;
mod config;
mod datum;
mod error;
mod generic;
mod specific;
mod subject;
pub mod wire;

/// The Avro library these serdes are built on, for `Value`, `Schema` and `AvroSchema` of the
/// matching version.
pub use apache_avro;
pub use config::AvroConfig;
pub use error::AvroError;
pub use generic::GenericAvroSerde;
pub use specific::AvroSerde;
pub use subject::SubjectNameStrategy;

#[cfg(test)]
mod tests;
