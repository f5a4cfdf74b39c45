//! The Runnel broker: topics of partitioned logs, producers and consumers, consumer groups —
//! Kafka's model as a library, used in-process by `Cluster::embedded` and over the Kafka wire
//! protocol by `runnel serve`.
//!
//! ```text
//!   Producer ─┐                         ┌─ GroupCoordinator (join/sync/heartbeat, offsets)
//!   Consumer ─┼─► Broker ─► Topic ─► Partition (leader epoch, HW, ISR, producer state)
//!   Admin ────┘                                   └─► storage::Log (segments on disk)
//! ```

pub mod broker;
pub mod client;
pub mod cluster;
pub mod error;
pub mod group;
pub mod metadata;
pub mod offsets_log;
pub mod partition;
pub mod topic;

pub use broker::{Broker, BrokerConfig};
pub use client::{
    Admin, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig, ProducerRecord,
    RecordMetadata,
};
pub use cluster::Cluster;
pub use error::{BrokerError, Result};
pub use topic::{TopicName, TopicPartition};
