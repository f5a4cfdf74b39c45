//! Runnel: Kafka-Streams-style stream processing for Rust, with its own partitioned,
//! replicated log.
//!
//! This facade re-exports the workspace's crates; `use runnel::prelude::*` brings in what an
//! application touches: the DSL (`StreamsBuilder`, `KStream`, `KTable`, `Streams`,
//! `TopologyTestDriver`), the embedded `Cluster` and its clients, and the partition [`Log`].
//!
//! ```text
//!  runnel (this crate: prelude + the `runnel` CLI)
//!    └─ stream_dsl   StreamsBuilder → Topology → Streams runtime; serdes; TopologyTestDriver
//!        └─ stream_core   Cluster::embedded, Broker, partitions, group and txn coordinators,
//!            │            Producer / Consumer / Admin, the Kafka wire-protocol server
//!            └─ storage   Log (Kafka v2 batches in segments, indexes, recovery,
//!                         retention, compaction); RocksDB and in-memory stores
//! ```
//!
//! A pipeline, tested without a broker:
//!
//! ```
//! use runnel::prelude::*;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<Option<String>, String>("orders", Consumed::with(Serdes::string(), Serdes::string()))
//!     .filter(|_, order| !order.starts_with("test"))
//!     .map_values(|order: String| order.to_uppercase())
//!     .to("clean-orders", Produced::with(Serdes::string(), Serdes::string()));
//!
//! let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! let input = driver.create_input_topic::<Option<String>, String>("orders", Serdes::string(), Serdes::string());
//! let output = driver.create_output_topic::<Option<String>, String>("clean-orders", Serdes::string(), Serdes::string());
//! input.pipe_input(None, "test order".to_string());
//! input.pipe_input(None, "42 eur".to_string());
//! assert_eq!(output.read_values_to_list(), ["42 EUR"]);
//! ```
//!
//! The same topology runs on `Cluster::embedded(dir)` with `Streams::new(topology, config,
//! &cluster).start()`, or on `runnel serve` or any Kafka cluster through `KafkaCluster`.
//!
//! # Where to look
//!
//! - [`stream_dsl`]: the DSL and its runtime; [`stream_core`]: the broker and the in-process
//!   clients; [`storage`]: the log and the state stores. Each crate's docs open with a map of
//!   its modules.
//! - The `runnel` binary (`src/main.rs`, `src/cli/`, `src/serve.rs`): `serve`, `topics`,
//!   `produce`, `consume`, `groups`, `schemas`, `dump-log`.
//! - `examples/` (runnable), `tests/` (end to end, grouped by area), `benches/`.
//! - `docs/architecture.md`: a newcomer's tour; `docs/performance.md`: what was measured and
//!   tried; `BENCHMARKS.md`: Runnel beside Apache Kafka and Kafka Streams.
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
