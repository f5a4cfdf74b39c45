//! Joins, as Kafka Streams 4.4 has them.
//!
//! ```text
//!   KStream ── join_table / left_join_table ──▶ KStream     stream_table.rs
//!               (the table's store, looked up
//!                by the stream record's key)
//! ```
//!
//! Rust has no overloading, so where Kafka's `KStream#join` takes a table or a stream, the
//! table joins are named `join_table` and `left_join_table`.
//!
//! Both sides of a join must be co-partitioned: the same key in the same partition number on
//! both input topics. A stream whose key changed upstream (`select_key`, `map`, ...) goes
//! through a repartition topic first, as in Kafka Streams; inputs with different partition
//! counts stop the application at start ([`StreamsError::NotCopartitioned`]) before anything
//! is consumed.
//!
//! [`StreamsError::NotCopartitioned`]: crate::StreamsError::NotCopartitioned

mod joined;
mod stream_table;

pub use joined::Joined;
