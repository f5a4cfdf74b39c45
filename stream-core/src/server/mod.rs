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
//! Fetch responses carry the stored batches as they lie: the batches go from the page cache
//! to the socket with `sendfile(2)`, as Kafka sends `FileRecords` with `transferTo`, and
//! everything else of the response is encoded as usual (see `frame.rs`). Measured, with the
//! wire bench (`cargo bench --bench wire --profile dev [-- --kafka]`, kcat against `runnel
//! serve` and Apache Kafka): see `docs/performance.md#wire-server`.

mod api;
mod connection;
mod error_codes;
mod frame;
pub(crate) mod precheck;
mod request;
#[allow(clippy::module_inception)]
mod server;
mod stand_in;
mod versions;

pub use connection::FrameError;
pub use server::{ServerConfig, ServerError, serve};
pub use versions::{SUPPORTED_APIS, supported_versions};
