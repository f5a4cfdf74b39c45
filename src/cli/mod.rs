//! The client subcommands of `runnel` (`topics`, `produce`, `consume`, `groups`), built on
//! librdkafka through the `rdkafka` crate, so the CLI talks to `runnel serve` exactly as any
//! Kafka application would: over the wire, with no shortcut into the broker. `schemas` talks
//! to the schema registry's REST API the same way, through its HTTP client.
//!
//! ```text
//!   runnel topics|produce|consume|groups --bootstrap HOST:PORT
//!        │
//!        ▼  rdkafka (librdkafka)          Kafka protocol
//!   AdminClient / BaseProducer / BaseConsumer ─────────────▶ runnel serve
//!
//!   runnel schemas --registry URL ──▶ HttpRegistryClient ──HTTP──▶ runnel serve --registry-listen
//! ```

pub mod consume;
pub mod groups;
pub mod produce;
mod progress;
pub mod schemas;
pub mod topics;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// How long one metadata, admin or offsets request may take before the command gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the broker is; every client subcommand takes it.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// The broker to bootstrap from.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
}

impl Connection {
    /// A librdkafka configuration for this broker. Its own log goes to `tracing` at debug level
    /// (see [`Quiet`]), so that a failing command prints one line, not librdkafka's retries.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "runnel-cli")
            .set_log_level(RDKafkaLogLevel::Debug);
        config
    }
}

/// A client context that routes librdkafka's log lines and background errors to `tracing` at
/// debug level (`RUST_LOG=debug` shows them); the command reports the error it ends with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, "{fac} {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", "{error}: {reason}");
    }
}

impl ConsumerContext for Quiet {}

/// Runs an rdkafka admin future to completion. The admin API is async, the CLI is not: a
/// current-thread runtime is all it needs.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}

/// Parses `key=value`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// An rdkafka error for the one-line report. `KafkaError`'s message already names its code,
/// and the code is also its `source`, so `{:#}` would print the code twice; this keeps the
/// message (nothing is lost) and ends the chain there.
#[derive(Debug)]
pub struct Rd(pub KafkaError);

impl std::fmt::Display for Rd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Rd {}
