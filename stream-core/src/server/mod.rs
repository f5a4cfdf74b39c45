//! The Kafka wire-protocol server: lets librdkafka, kcat, kafka-python and the Java client talk
//! to a [`Cluster`](crate::Cluster) over TCP.
//!
//! ```text
//!  TcpListener ─► server.rs  accept loop: a permit of the connection semaphore per connection,
//!                  │         one task per connection, graceful shutdown (stop accepting, let
//!                  │         in-flight requests finish)
//!                  ▼
//!              connection.rs  4-byte length-prefixed frames read into a BytesMut, checked
//!                  │          complete (and within socket.request.max.bytes) before parsing
//!                  ▼
//!              request.rs     header, version check, precheck.rs (structural check before
//!                  │          kafka-protocol allocates), decode, dispatch, encode
//!                  ▼
//!              api/*.rs       one file per API: parse → apply (Broker, GroupCoordinator,
//!                             TransactionCoordinator) → encode
//! ```
//!
//! This node is the coordinator of every group and every transactional id. Transactions
//! (KIP-98) are served with transaction version 1: InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn go to the [`TransactionCoordinator`]; Produce
//! checks each transactional batch against it (KIP-890 part 1); Fetch and ListOffsets honour
//! the isolation level (read_committed stops at the last stable offset, and Fetch lists the
//! aborted transactions); OffsetFetch honours `require_stable`.
//!
//! [`TransactionCoordinator`]: crate::txn::TransactionCoordinator
//!
//! Requests on one connection are handled one at a time, in order, as Kafka does (it mutes a
//! connection while a request is in flight): an idempotent producer with several requests in
//! flight relies on their appends happening in the order it sent them. The next frames are read
//! while one is being handled, so pipelining clients lose no round trips.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use stream_core::server::{ServerConfig, serve};
//!
//! let cluster = stream_core::Cluster::embedded("data/").await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9092").await?;
//! let config = ServerConfig::new("127.0.0.1", 9092);
//! // Any future works as the shutdown signal; `runnel serve` uses SIGINT/SIGTERM.
//! let shutdown = std::future::pending::<()>();
//! serve(listener, cluster.clone(), config, shutdown).await?;
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Performance
//!
//! `cargo bench --bench wire --profile dev [-- --kafka]` (top-level `benches/wire.rs`): kcat
//! (kcat 1.7, librdkafka 2.0.2) against `runnel serve`, 1 M records of 100 bytes, 4
//! partitions, acks=1, after an untimed 100 k-record warm-up. The timed consume reads exactly
//! 1 M records into `/dev/null`; an untimed second pass checks that every record came back
//! once. Client and broker share the 2-core machine. With `--kafka`, Apache Kafka 4.4 gets
//! the same commands in the same run, round by round. Medians of 5 rounds, 2026-12-02, load
//! average 0.7 at start:
//!
//! | kcat, 1000000 × 100 B, 4 partitions, acks=1 | runnel | Apache Kafka 4.4 | ratio | target |
//! |---|---|---|---|---|
//! | produce | 2.03 M/s (1.60–2.34) | 1.06 M/s (0.61–1.19) | 1.93 | ≥ 2 M met, barely |
//! | consume | 1.95 M/s (1.24–2.42) | 1.66 M/s (1.34–2.22) | 1.17 | ≥ 2.5 M missed |
//!
//! Runs alone (no `--kafka`) the same day gave medians of 1.31–1.87 M produce and 1.90–2.24 M
//! consume: the spread between runs is as large as the gaps to the targets.
//!
//! The broker is not what limits these numbers: per million records it used about 0.15 CPU
//! seconds to take a produce and 0.13 to serve a consume, against kcat's 0.6–0.7 s
//! (user + sys) for either. Consume is kcat's work: the same command against Apache Kafka
//! reaches the same rates. Things found on the way, and dealt with in the bench:
//! librdkafka 2.0.2 pauses fetching once `queued.min.messages` / `queued.max.messages.kbytes`
//! are exceeded and re-checks on a one-second timer (1 M records took 0.96–2.35 s with the
//! defaults, 0.37–0.56 s with both raised, by hand on one broker); kcat's `-e` adds the final 500 ms long poll; its
//! output into a file or pipe costs two to three times the consume itself; a fresh broker's
//! first million records are slower than the next (warm-up); and with node id 0 about one
//! kcat run in seven started 500 ms late: librdkafka's first offset query for an assigned
//! partition found no leader and waited out a fixed retry (`-d protocol`: Metadata answered
//! in 0.1 ms, ListOffsets sent 501 ms later), turning a 0.45 s consume into 1.0 s. With node
//! id 1, Kafka's quickstart value and now the default (see `BrokerConfig::node_id`), 1 run
//! in 66 did. Fetch responses no longer copy the stored batches into a response buffer
//! (`frame`): the same consume then peaks at 44 MiB RSS instead of 81, at the same rate and
//! CPU (10 alternating runs each, medians 528 vs 541 ms, 0.11 vs 0.09 CPU s). Still in the
//! broker's consume profile: the copies page cache → read buffer and buffer → socket, and
//! page faults on the fresh read buffers; jemalloc instead of glibc malloc did not change the
//! broker's CPU per consume measurably (0.13 vs 0.14 s), so it was not adopted.
//!
mod api;
mod connection;
mod frame;
pub mod precheck;
mod request;
#[allow(clippy::module_inception)]
mod server;
mod stand_in;
mod versions;

pub use connection::FrameError;
pub use server::{ServerConfig, ServerError, serve};
pub use versions::{SUPPORTED_APIS, supported_versions};
