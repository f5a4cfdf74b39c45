//! The Runnel broker: topics of partitioned logs, producers and consumers, consumer groups —
//! Kafka's model as a library, used in-process by `Cluster::embedded` and over the Kafka wire
//! protocol by `runnel serve`.
//!
//! ```text
//!   Producer ─┐                         ┌─ GroupCoordinator (join/sync/heartbeat, offsets)
//!   Consumer ─┼─► Broker ─► Topic ─► Partition (leader epoch, HW, ISR, producer state,
//!   Admin ────┘      ▲                  │         LSO, aborted-transaction index)
//!                    │                  └─► storage::Log (segments on disk)
//!   TransactionCoordinator (txn/: __transaction_state, markers, timeouts, fencing)
//! ```
//!
//! Transactions follow KIP-98: a `transactional.id` producer ([`Producer::init_transactions`],
//! `begin_transaction`, `send_offsets_to_transaction`, `commit_transaction`) writes batches
//! that read_committed consumers ([`ConsumerConfig::isolation_level`]) see only once the
//! coordinator's commit marker follows them.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use stream_core::{Cluster, ConsumerConfig, OffsetReset, ProducerConfig, ProducerRecord};
//! let dir = tempfile::tempdir().unwrap();
//! let cluster = Cluster::embedded(dir.path()).await.unwrap();
//! cluster.admin().create_topic("orders", 3, []).unwrap();
//!
//! let producer = cluster.producer(ProducerConfig::default()).unwrap();
//! let sent = producer.send(ProducerRecord::new("orders", "42 EUR").with_key("order-7")).unwrap();
//! producer.flush().await;
//! let meta = sent.await.unwrap();
//! // murmur2 of the key, as the Java client computes it
//! assert_eq!(meta.partition, stream_core::client::partitioner::partition_for_key(b"order-7", 3));
//!
//! let mut consumer = cluster.consumer(
//!     ConsumerConfig::default().with_group("billing").with_offset_reset(OffsetReset::Earliest),
//! );
//! consumer.subscribe(["orders"]).unwrap();
//! let mut got = Vec::new();
//! while got.is_empty() {
//!     got = consumer.poll(std::time::Duration::from_millis(200)).await.unwrap();
//! }
//! assert_eq!(got[0].value.as_deref(), Some(&b"42 EUR"[..]));
//! consumer.commit_sync().await.unwrap();
//! # drop(producer);
//! # consumer.close().await.unwrap();
//! cluster.shutdown().await;
//! # });
//! ```
//!
//! # Where to look
//!
//! | module | what it holds |
//! |---|---|
//! | [`cluster`] | [`Cluster::embedded`]: the broker and its coordinators in this process, handing out clients |
//! | [`broker`] | [`Broker`]: the node's topics and the operations Kafka's APIs map onto (produce, fetch, list offsets, topic admin) |
//! | [`partition`] | a partition replica: its `storage::Log`, leader epoch, high watermark, ISR, producer state, LSO and aborted transactions |
//! | [`group`] | the group coordinator (classic protocol, static membership) and its records in `__consumer_offsets` (`offsets_log.rs`) |
//! | [`txn`] | the transaction coordinator and `__transaction_state` |
//! | [`loader`] | the one replay loop that loads a coordinator (or the schema registry) from its internal topic |
//! | [`client`] | the in-process clients: [`Producer`], [`Consumer`] (with the assignors), [`Admin`], and their [`ClientError`] |
//! | [`server`] | the Kafka wire-protocol server behind `runnel serve`: it reaches the broker only through [`Cluster`]'s [`Broker`] methods and the coordinators' APIs, and it alone turns errors into Kafka's error codes |
//! | [`topic`], [`error`] | topic names, configs and the broker's topics; [`BrokerError`] (persisted cluster metadata is `metadata.rs`, crate-private) |
//!
//! The schema registry is the `registry` crate, a client of this one.
//!
//! Performance — the embedded produce/consume bench against raw storage and the wire bench
//! with kcat — is in `docs/performance.md` (`#embedded-broker`, `#wire-server`); Runnel
//! beside Apache Kafka is in `BENCHMARKS.md`.

pub mod broker;
pub mod client;
pub mod cluster;
pub mod error;
pub mod group;
pub mod loader;
mod metadata;
mod offsets_log;
pub mod partition;
pub mod server;
pub mod topic;
pub mod txn;

pub use broker::{Broker, BrokerConfig};
pub use client::{
    Admin, ClientError, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Producer, ProducerConfig,
    ProducerRecord, RecordMetadata,
};
pub use cluster::Cluster;
pub use error::{BrokerError, Result};
pub use topic::{TopicName, TopicPartition};
