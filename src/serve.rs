//! `runnel serve`: a single-node broker speaking the Kafka protocol, and optionally the schema
//! registry's REST API (`--registry-listen`) over the same broker's `_schemas` topic.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use runnel::registry::{SchemaRegistryExt, rest};
use runnel::stream_core::group::GroupConfig;
use runnel::stream_core::server::{ServerConfig, serve};
use runnel::stream_core::txn::TxnConfig;
use runnel::stream_core::{BrokerConfig, Cluster};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Where topics, offsets and metadata live; created if missing.
    #[arg(long)]
    data_dir: PathBuf,
    /// The address to listen on for Kafka clients.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// The HOST:PORT clients are told to connect to (default: the listen address).
    #[arg(long)]
    advertised_listener: Option<String>,
    /// Also serve the schema registry's REST API (Confluent's) on this address, e.g.
    /// `127.0.0.1:8081`.
    #[arg(long, value_name = "HOST:PORT")]
    registry_listen: Option<SocketAddr>,
    /// A Kafka server config, e.g. `num.partitions=3` or `log.retention.ms=3600000`
    /// (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut broker = BrokerConfig::new(&args.data_dir);
    let mut group = GroupConfig::default();
    let mut txn = TxnConfig::default();
    for pair in &args.configs {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--config {pair:?}: expected KEY=VALUE"))?;
        let group_result = match key {
            "group.initial.rebalance.delay.ms" => {
                Some(value.parse().map(|v| group.group_initial_rebalance_delay_ms = v))
            }
            "group.min.session.timeout.ms" => {
                Some(value.parse().map(|v| group.group_min_session_timeout_ms = v))
            }
            "group.max.session.timeout.ms" => {
                Some(value.parse().map(|v| group.group_max_session_timeout_ms = v))
            }
            "transaction.max.timeout.ms" => Some(value.parse().map(|v| txn.max_timeout_ms = v)),
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                Some(value.parse().map(|v| txn.abort_check_interval_ms = v))
            }
            "transaction.state.log.num.partitions" => match value.parse::<i32>() {
                Ok(n) if n >= 1 => {
                    txn.state_log_partitions = n;
                    Some(Ok(()))
                }
                Ok(n) => anyhow::bail!("--config {pair}: must be at least 1, got {n}"),
                Err(e) => Some(Err(e)),
            },
            _ => None,
        };
        match group_result {
            Some(r) => r.with_context(|| format!("--config {pair}: expected an integer"))?,
            None => broker
                .set(key, value)
                .with_context(|| format!("--config {pair}"))?,
        }
    }
    let (host, port) = match &args.advertised_listener {
        Some(hp) => {
            let (h, p) = hp
                .rsplit_once(':')
                .with_context(|| format!("--advertised-listener {hp:?}: expected HOST:PORT"))?;
            (
                h.to_string(),
                p.parse::<u16>()
                    .with_context(|| format!("--advertised-listener {hp:?}: bad port"))?,
            )
        }
        None => (args.listen.ip().to_string(), args.listen.port()),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let port = if port == 0 { bound.port() } else { port };
    let cluster = Cluster::embedded_with_txn(broker, group, txn)
        .await
        .with_context(|| format!("opening {}", args.data_dir.display()))?;
    tracing::info!(%bound, advertised = %format!("{host}:{port}"), "runnel broker listening");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("listening on {bound}");

    // One signal stops both listeners; the registry also stops if the Kafka server ends.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let registry = match args.registry_listen {
        Some(addr) => match start_registry(&cluster, addr, stopped.clone()).await {
            Ok(task) => Some(task),
            Err(e) => {
                cluster.shutdown().await;
                return Err(e);
            }
        },
        None => None,
    };
    let mut kafka_stopped = stopped;
    let result = serve(
        listener,
        cluster.clone(),
        ServerConfig::new(host, port),
        async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = kafka_stopped.wait_for(|s| *s) => {}
            }
        },
    )
    .await;
    let _ = stop.send(true);
    let registry_result = match registry {
        Some(task) => task
            .await
            .map_err(|e| anyhow::anyhow!("schema registry task failed: {e}")),
        None => Ok(Ok(())),
    };
    cluster.shutdown().await;
    if let Err(e) = result {
        bail!("serving failed: {e}");
    }
    match registry_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("serving the schema registry failed: {e}"),
        Err(e) => return Err(e),
    }
    tracing::info!("runnel broker stopped cleanly");
    Ok(())
}

/// Opens the schema registry (replaying `_schemas`) and serves its REST API on `addr` until
/// `stopped` turns true. Prints `schema registry listening on ADDR` for tests and scripts.
async fn start_registry(
    cluster: &Cluster,
    addr: SocketAddr,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} for the schema registry"))?;
    let bound = listener.local_addr()?;
    let opener = cluster.clone();
    let registry = tokio::task::spawn_blocking(move || opener.schema_registry())
        .await
        .context("opening the schema registry")?
        .context("opening the schema registry")?;
    tracing::info!(%bound, "schema registry listening");
    println!("schema registry listening on {bound}");
    Ok(tokio::spawn(rest::serve(registry, listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    })))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the broker");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
