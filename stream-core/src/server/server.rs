//! The listener: accepts connections up to `max.connections`, runs one task per connection,
//! and shuts down gracefully — stop accepting, let each connection finish the request it is
//! handling, then return.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::api::Context;
use super::connection::{FrameError, FrameReader, FrameWriter};
use super::request::{self, Outcome};
use crate::cluster::Cluster;

/// Settings of the Kafka listener, named after Kafka's broker configs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host clients are told to connect to in Metadata and FindCoordinator answers
    /// (`advertised.listeners`).
    pub advertised_host: String,
    pub advertised_port: u16,
    /// `max.connections`: connections beyond it wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// `socket.request.max.bytes`: a larger frame closes its connection unread.
    pub socket_request_max_bytes: usize,
    /// `connections.max.idle.ms`: a connection with no request for this long is closed.
    pub connections_max_idle: Duration,
    /// How long in-flight requests may take to finish once shutdown starts (a JoinGroup may
    /// otherwise park for a whole rebalance timeout); the connections still busy then are
    /// dropped.
    pub shutdown_timeout: Duration,
}

impl ServerConfig {
    /// Kafka's defaults, advertising `host:port`.
    pub fn new(advertised_host: impl Into<String>, advertised_port: u16) -> ServerConfig {
        ServerConfig {
            advertised_host: advertised_host.into(),
            advertised_port,
            max_connections: Semaphore::MAX_PERMITS,
            socket_request_max_bytes: 104_857_600,
            connections_max_idle: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    pub fn with_max_connections(mut self, max: usize) -> ServerConfig {
        self.max_connections = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    pub fn with_socket_request_max_bytes(mut self, max: usize) -> ServerConfig {
        self.socket_request_max_bytes = max;
        self
    }

    pub fn with_connections_max_idle(mut self, idle: Duration) -> ServerConfig {
        self.connections_max_idle = idle;
        self
    }

    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.shutdown_timeout = timeout;
        self
    }
}

/// What stops [`serve`] other than its shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("accepting connections failed")]
    Accept(#[source] std::io::Error),
}

/// Serves the Kafka protocol on `listener` until `shutdown` completes (or accepting fails for
/// good), then waits for in-flight requests to finish (at most `shutdown_timeout`). The cluster
/// is not shut down here: its owner does that after `serve` returns.
pub async fn serve(
    listener: TcpListener,
    cluster: Cluster,
    config: ServerConfig,
    shutdown: impl Future,
) -> Result<(), ServerError> {
    let (notify_shutdown, _) = broadcast::channel(1);
    let drain_timeout = config.shutdown_timeout;
    let mut server = Listener {
        listener,
        limit: Arc::new(Semaphore::new(config.max_connections)),
        context: Arc::new(Context::new(&cluster, config)),
        notify_shutdown,
        connections: JoinSet::new(),
    };
    let result = tokio::select! {
        result = server.run() => result,
        _ = shutdown => {
            tracing::info!("shutting down the Kafka listener");
            Ok(())
        }
    };
    let Listener {
        listener,
        notify_shutdown,
        mut connections,
        ..
    } = server;
    // Stop accepting, then tell every connection to finish: a connection exits once it is
    // between requests, so what is in flight completes and is answered.
    drop(listener);
    drop(notify_shutdown);
    let drained = tokio::time::timeout(drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "in-flight requests did not finish in time; closing their connections"
        );
        connections.shutdown().await;
    }
    result
}

struct Listener {
    listener: TcpListener,
    /// One permit per open connection (`max.connections`).
    limit: Arc<Semaphore>,
    context: Arc<Context>,
    /// Dropped to tell the connections to finish; each holds a receiver.
    notify_shutdown: broadcast::Sender<()>,
    connections: JoinSet<()>,
}

impl Listener {
    async fn run(&mut self) -> Result<(), ServerError> {
        loop {
            // Take the permit before accepting: at the limit, new clients wait in the backlog
            // instead of being accepted and then starved.
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                return Ok(()); // The semaphore is never closed.
            };
            let (socket, peer) = self.accept().await?;
            // Reap finished connections so the set does not grow with every one ever served.
            while self.connections.try_join_next().is_some() {}
            let context = self.context.clone();
            let shutdown = self.notify_shutdown.subscribe();
            self.connections
                .spawn(run_connection(socket, peer, context, shutdown, permit));
        }
    }

    /// Accepts the next connection. Errors that concern one connection or a momentary lack of
    /// file descriptors are logged and retried with a short backoff; others end the server.
    async fn accept(&mut self) -> Result<(TcpStream, SocketAddr), ServerError> {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.listener.accept().await {
                Ok(accepted) => return Ok(accepted),
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(ServerError::Accept(e)),
            }
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    // EMFILE/ENFILE have no ErrorKind of their own on stable; they surface as Other/Uncategorized.
    !matches!(e.kind(), InvalidInput | PermissionDenied | Unsupported)
}

/// How many frames a connection reads ahead of the one being handled.
const READ_AHEAD: usize = 2;

/// Serves one connection until the peer closes it, it misbehaves, it idles, or shutdown.
async fn run_connection(
    socket: TcpStream,
    peer: SocketAddr,
    context: Arc<Context>,
    mut shutdown: broadcast::Receiver<()>,
    _permit: OwnedSemaphorePermit,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let (read, write) = socket.into_split();
    let mut writer = FrameWriter::new(write);
    let (frames_tx, mut frames) = mpsc::channel(READ_AHEAD);
    let _reader = AbortOnDrop(tokio::spawn(read_frames(
        FrameReader::new(read, context.config.socket_request_max_bytes),
        frames_tx,
    )));
    let client_host = peer.ip().to_string();
    let idle = context.config.connections_max_idle;
    loop {
        // The idle clock runs only between requests: a client parked in a long JoinGroup or
        // fetch is not idle.
        let next = tokio::select! {
            biased;
            _ = shutdown.recv() => return,
            next = tokio::time::timeout(idle, frames.recv()) => next,
        };
        let frame = match next {
            Err(_elapsed) => {
                tracing::debug!(%peer, "closing idle connection");
                return;
            }
            Ok(None | Some(Ok(None))) => return,
            Ok(Some(Err(e))) => {
                tracing::info!(%peer, error = %e, "closing connection: bad frame");
                return;
            }
            Ok(Some(Ok(Some(frame)))) => frame,
        };
        match request::handle(&context, &client_host, frame).await {
            Outcome::Respond(response) => {
                if let Err(e) = writer.write_frame(&response).await {
                    tracing::debug!(%peer, error = %e, "closing connection: write failed");
                    return;
                }
            }
            Outcome::Silent => {}
            Outcome::Close(reason) => {
                tracing::info!(%peer, %reason, "closing connection");
                return;
            }
        }
    }
}

/// Reads frames into `frames` until the connection ends or fails (the last item says which).
async fn read_frames(
    mut reader: FrameReader,
    frames: mpsc::Sender<Result<Option<bytes::Bytes>, FrameError>>,
) {
    loop {
        let frame = reader.read_frame().await;
        let last = !matches!(frame, Ok(Some(_)));
        if frames.send(frame).await.is_err() || last {
            return;
        }
    }
}

/// Aborts the task when the connection that owns it ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
