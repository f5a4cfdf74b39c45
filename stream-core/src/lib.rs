//! The Runnel broker (not built yet): partitions with leader, high watermark and ISR,
//! replication, consumer groups, transactions and the Kafka wire-protocol server.
//! It keeps its data in [`storage`]'s partition logs.
pub use storage;
