//! Runnel: Kafka-Streams-style stream processing for Rust, with its own partitioned,
//! replicated log.
//!
//! This facade re-exports the workspace's crates; `use runnel::prelude::*` brings in what an
//! application touches: the DSL (`StreamsBuilder`, `KStream`, `KTable`, `Streams`,
//! `TopologyTestDriver`), the embedded `Cluster` and its clients, and the partition [`Log`].
//!
//! [`Log`]: storage::Log

pub use registry;
pub use storage;
pub use stream_core;
pub use stream_dsl;

/// The types an application uses most.
pub mod prelude {
    pub use storage::log::{CleanerConfig, CleanupPolicy};
    pub use storage::record::{BatchBuilder, Compression, Header, Record, TimestampType, decode_all};
    pub use storage::{AppendInfo, Log, LogConfig, StorageError};
    pub use stream_core::client::{
        Admin, Consumer, ConsumerConfig, ConsumerGroupMetadata, ConsumerRecord, OffsetReset,
        RebalanceListener,
    };
    pub use stream_core::client::{Producer, ProducerConfig, ProducerRecord, RecordMetadata};
    pub use stream_core::partition::IsolationLevel;
    pub use stream_core::{BrokerError, ClientError, Cluster, TopicName, TopicPartition};
    // `cluster.schema_registry()`: the registry crate's, over the cluster's `_schemas` topic.
    pub use registry::SchemaRegistryExt;
    // The DSL. Its `Record` (a record inside a topology) is `stream_dsl::record::Record`;
    // `Record` here stays the storage layer's decoded record.
    pub use stream_dsl::prelude::*;
}
