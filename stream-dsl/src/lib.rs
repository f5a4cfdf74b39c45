//! Runnel's stream DSL: build a typed topology with [`StreamsBuilder`], run it with
//! [`Streams`] on a cluster, or unit-test it with [`TopologyTestDriver`].
//!
//! ```text
//!  StreamsBuilder ──build()──▶ Topology ──▶ sub-topologies (split at repartition topics)
//!    .stream / .table                        │
//!    KStream ─ filter, map, flat_map, ...    ▼  one Task per partition
//!    ─ group_by ─▶ KGroupedStream            Streams: threads × (consumer, producer, tasks)
//!       ─ count/reduce/aggregate ─▶ KTable    TopologyTestDriver: the same tasks, no broker
//! ```
//!
//! Every operator is a [`processor::Processor`]; state lives in [`state`] stores, backed by
//! RocksDB (or memory) and a changelog topic. [`Streams`] runs a topology at-least-once or,
//! with `processing.guarantee=exactly_once_v2`, exactly-once: each stream thread's output,
//! changelog writes and input offsets of a commit interval are one transaction, and a crash
//! rolls the stores back by wiping and restoring them (see [`runtime`]).
//! Keys and values become bytes through [`serde`]s: primitives as Kafka's Java serializers
//! write them, JSON, and Avro in Confluent's wire format with a schema registry
//! ([`serde::avro`]).
//!
//! ```
//! use stream_dsl::prelude::*;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
//!     .flat_map_values(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
//!     .group_by(|_, word| word.clone(), Grouped::with(Serdes::string(), Serdes::string()))
//!     .count(Materialized::as_("counts"))
//!     .to_stream()
//!     .to("word-counts", Produced::with(Serdes::string(), Serdes::i64()));
//!
//! let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! // Serdes read both `T` and `Option<T>`: name the types a test topic holds.
//! let lines = driver.create_input_topic::<Option<String>, String>("lines", Serdes::string(), Serdes::string());
//! let counts = driver.create_output_topic::<String, Option<i64>>("word-counts", Serdes::string(), Serdes::i64());
//! lines.pipe_input(None, "to be or not to be".to_string());
//! let table = counts.read_key_values_to_map();
//! assert_eq!(table["to"], Some(2));
//! assert_eq!(table["not"], Some(1));
//! ```
//!
//! # Where to look
//!
//! | module | what it holds |
//! |---|---|
//! | [`topology`] | [`StreamsBuilder`], [`Topology`] and its sub-topologies, `describe()`; [`Consumed`], [`Produced`], [`Grouped`], [`Repartitioned`] |
//! | [`kstream`], [`ktable`], [`grouped`] | the typed operators: [`KStream`], [`KTable`], [`KGroupedStream`], [`KGroupedTable`] and their aggregations |
//! | [`join`] | joins: stream-table ([`join::Joined`]) |
//! | [`processor`] | the Processor API every operator is built from: [`processor::Processor`], its context, punctuators, and a task's outgoing records |
//! | [`state`] | typed stores over `storage`'s byte stores, the write-back record cache, changelogs, [`state::Materialized`] |
//! | [`serde`] | [`serde::Serde`] and the built-in serdes; JSON; Avro in Confluent's wire format ([`serde::avro`]) |
//! | [`runtime`] | [`Streams`], [`StreamsConfig`], stream threads, restore, the at-least-once and exactly-once commit |
//! | [`test_driver`] | [`TopologyTestDriver`] and its test topics |
//! | [`backend`] | the log an application runs on: the embedded `stream_core::Cluster` or [`KafkaCluster`] (librdkafka), behind [`Backend`] |
//! | [`record`], [`error`] | what flows between processors; [`StreamsError`] |
//!
//! Performance — the bench, what was measured, what was tried and kept or dropped — is in
//! `docs/performance.md#streams`; Runnel beside Kafka Streams is in `BENCHMARKS.md`.
pub mod backend;
pub mod error;
pub mod grouped;
pub mod join;
pub mod kstream;
pub mod ktable;
pub mod processor;
pub mod record;
pub mod runtime;
pub mod serde;
pub mod state;
pub mod suppress;
mod task;
pub mod test_driver;
pub mod topology;
pub mod window;

pub use backend::{Backend, KafkaCluster};
pub use error::{Result, StreamsError};
pub use grouped::{KGroupedStream, KGroupedTable};
pub use kstream::{BranchedKStream, KStream};
pub use ktable::KTable;
pub use registry;
pub use runtime::{ProcessingGuarantee, State, Streams, StreamsConfig};
pub use stream_core;
pub use test_driver::TopologyTestDriver;
pub use topology::{Consumed, Grouped, Produced, Repartitioned, StreamsBuilder, Topology};

/// Everything a pipeline needs.
pub mod prelude {
    pub use crate::join::Joined;
    pub use crate::processor::{Processor, ProcessorContext, PunctuationType, PunctuatorId};
    pub use crate::record::{Change, Record};
    pub use crate::runtime::{
        DeserializationHandler, ProcessingGuarantee, State, Streams, StreamsConfig, StreamsMetrics,
    };
    pub use crate::serde::{AvroConfig, AvroSerde, GenericAvroSerde, Serde, Serdes};
    pub use crate::state::{KeyValueStore, Materialized, SessionStore, StoreType, Stores, WindowStore};
    pub use crate::suppress::{BufferConfig, Suppressed};
    pub use crate::test_driver::{TestInputTopic, TestOutputTopic, TopologyTestDriver};
    pub use crate::topology::{Consumed, Grouped, Produced, Repartitioned, StreamsBuilder, Topology};
    pub use crate::window::{
        EmitStrategy, SessionWindowedKStream, SessionWindows, SlidingWindows, TimeWindowedKStream,
        TimeWindows, Window, Windowed, WindowedSerdes,
    };
    pub use crate::{KGroupedStream, KGroupedTable, KStream, KTable, KafkaCluster, StreamsError};
    pub use stream_core::Cluster;
}
