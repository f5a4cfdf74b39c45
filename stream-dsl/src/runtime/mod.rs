//! The runtime: `Streams` runs a topology against a cluster with stream threads that share
//! the application's tasks through a consumer group.
//!
//! ```text
//!   Streams ── num.stream.threads × StreamThread (an OS thread each)
//!                 ├── Consumer  (group = application.id; partitions → tasks)
//!                 ├── Producer  (sinks, repartition topics, changelogs)
//!                 └── tasks: sub-topology × partition, each with its stores
//! ```
//!
//! Threads are OS threads, not tokio tasks: processing is synchronous CPU work and RocksDB
//! calls block. They drive the clients' async calls with the tokio runtime `Streams` was
//! started on, which must be multi-threaded (the clients' heartbeats and timers run there).
//!
//! # Processing guarantees
//!
//! `at_least_once` (the default): a commit flushes the caches, waits for the producer's
//! acknowledgements, flushes the stores, commits the input offsets and writes the
//! checkpoints. After a crash, what was processed since the last commit is processed again.
//!
//! `exactly_once_v2` ([`ProcessingGuarantee::ExactlyOnceV2`], KIP-447), as Kafka Streams does
//! it:
//!
//! ```text
//!  StreamThread n ── Producer, transactional.id = <application.id>-<process id>-StreamThread-<n>
//!                 └─ Consumer, read_committed (so is every changelog restore)
//!
//!  init_transactions ─▶ poll ─▶ process ─▶ sends ──(first send or commit opens the transaction)
//!      every commit.interval.ms (default 100 ms under exactly-once):
//!        flush caches ─▶ their changelog and downstream records join the transaction
//!        ─▶ send_offsets_to_transaction(input offsets, the consumer's group metadata)
//!        ─▶ commit_transaction
//! ```
//!
//! - One transaction per thread and commit interval carries the output, changelog and
//!   repartition records and the input offsets, so they become visible together or not at
//!   all. A thread also commits before it rejoins its group; offsets of repartition topics
//!   are purged (DeleteRecords) only after the transaction that committed them.
//! - The process id is kept in `<state.dir>/<application.id>/kafka-streams-process-metadata`:
//!   an instance restarted on its state directory reuses its transactional ids, and its
//!   `init_transactions` (before the first poll) fences the crashed predecessor and aborts
//!   its open transaction at once rather than after `transaction.timeout.ms` (10 s here, as
//!   in Kafka Streams).
//! - A failed send or commit aborts the transaction and the thread's tasks are *corrupted*
//!   (Kafka's `TaskCorruptedException`); fencing by a newer producer of the id or a newer
//!   group generation makes them *migrated* (`TaskMigratedException`, and the thread
//!   rejoins). Either way the thread closes its tasks without committing, moves its input back
//!   to the committed offsets and recreates the tasks, which restore their stores; five such
//!   recoveries without a commit in between fail the thread.
//!
//! ## State rollback: wipe and restore
//!
//! A local store may hold writes of the open transaction at any moment (the record cache
//! writes to it when it evicts, and at every commit). When that transaction aborts, the
//! store must go back to the state of the last commit. As in Kafka Streams, the store is
//! wiped and restored from its changelog, read_committed, which is exactly the committed
//! state: the task's `.checkpoint` is removed when the task starts and written only when it
//! closes after a successful commit, and a task that starts without one wipes its RocksDB
//! store and replays the changelog. A clean shutdown therefore restarts without a restore;
//! a crash costs a replay of the changelog (compacted: about one record per key).
//!
//! The alternative, transactional write batches (KIP-892: writes of the open transaction
//! buffered in an indexed batch that every read consults, applied with the changelog offset
//! after the commit), avoids that replay, but puts an overlay lookup on every store read,
//! bounds the transaction by memory, needs the same overlay for in-memory stores, and needs a
//! second recovery path for a crash between the Kafka commit and the batch's apply. Kafka
//! Streams itself still wipes and restores by default; the replay after a crash is what we
//! trade for a normal path without the overlay. (In `tests/streams_eos_crash.rs` a restart
//! restores up to ~70 000 changelog records; each restart takes about 2 s in all, most of it
//! waiting for the killed member's session to expire.)
//!
//! Caveat: two instances must not share a state directory (they would share transactional
//! ids and fence each other); Kafka Streams locks the directory, this runtime does not yet.

mod atomic_file;
mod config;
mod process;
mod producer;
mod restore;
mod task_lock;
mod thread;
mod topics;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

pub use config::{DeserializationHandler, ProcessingGuarantee, StreamsConfig};
pub(crate) use restore::Checkpoint;

use crate::backend::Backend;
use crate::error::{Result, StreamsError};
use crate::topology::Topology;

/// The application's state, as Kafka Streams' `KafkaStreams.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    /// Some thread is joining the group or restoring state.
    Rebalancing,
    /// Every thread is processing its tasks.
    Running,
    PendingShutdown,
    NotRunning,
    /// A thread failed; the others were stopped. See [`Streams::error`].
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Starting,
    Rebalancing,
    Running,
    Dead,
    Failed,
}

/// Counters over the application's life.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub processed: AtomicU64,
    pub restored: AtomicU64,
    pub skipped: AtomicU64,
    pub dropped: AtomicU64,
    pub commits: AtomicU64,
}

/// A snapshot of the application's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamsMetrics {
    /// Input records processed (from source and repartition topics).
    pub processed_records: u64,
    /// Changelog records replayed into stores.
    pub restored_records: u64,
    /// Records dropped by the deserialization handler.
    pub skipped_records: u64,
    /// Records processors dropped (Kafka's `dropped-records-total`): records later than a
    /// window's grace (counted once per window they missed), records without a key where an
    /// aggregation needs one.
    pub dropped_records: u64,
    pub commits: u64,
}

/// What `Streams` and its threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub metrics: Metrics,
    threads: Mutex<Vec<ThreadState>>,
    state: watch::Sender<State>,
    error: Mutex<Option<String>>,
    /// The tasks a thread of this instance has open (see [`task_lock`]).
    pub task_locks: Arc<task_lock::TaskLocks>,
}

impl Shared {
    pub fn set_thread_state(&self, index: usize, state: ThreadState) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = threads.get_mut(index) {
            *t = state;
        }
        let app = if threads.contains(&ThreadState::Failed) {
            State::Error
        } else if self.stop.load(Ordering::Acquire) {
            if threads.iter().all(|t| *t == ThreadState::Dead) {
                State::NotRunning
            } else {
                State::PendingShutdown
            }
        } else if threads.iter().all(|t| *t == ThreadState::Running) {
            State::Running
        } else {
            State::Rebalancing
        };
        self.state.send_if_modified(|s| {
            let changed = *s != app && *s != State::Error;
            if changed {
                *s = app;
            }
            changed
        });
    }
}

/// A running stream-processing application, as Kafka's `KafkaStreams`.
///
/// ```no_run
/// # async fn run() -> anyhow::Result<()> {
/// use stream_dsl::prelude::*;
///
/// let cluster = Cluster::embedded("/tmp/runnel-data").await?;
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
///     .to("out", Produced::default());
/// let mut streams = Streams::new(builder.build()?, StreamsConfig::new("my-app"), &cluster);
/// streams.start().await?;
/// // ...
/// streams.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Streams {
    topology: Arc<Topology>,
    config: StreamsConfig,
    backend: Backend,
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<Result<()>>>,
}

impl Streams {
    /// `cluster`: `&Cluster` (embedded) or a [`KafkaCluster`](crate::KafkaCluster).
    pub fn new(topology: Topology, config: StreamsConfig, cluster: impl Into<Backend>) -> Streams {
        let (state, _) = watch::channel(State::Created);
        Streams {
            topology: Arc::new(topology),
            shared: Arc::new(Shared {
                stop: AtomicBool::new(false),
                metrics: Metrics::default(),
                threads: Mutex::new(vec![ThreadState::Starting; config.num_stream_threads.max(1)]),
                state,
                error: Mutex::new(None),
                task_locks: Arc::default(),
            }),
            config,
            backend: cluster.into(),
            threads: Vec::new(),
        }
    }

    /// Checks the source topics, creates the internal ones, and starts the threads.
    pub async fn start(&mut self) -> Result<()> {
        let state = self.state();
        if state != State::Created {
            return Err(StreamsError::IllegalState {
                state,
                what: "start() is called once, on a new application",
            });
        }
        let handle = tokio::runtime::Handle::current();
        if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread {
            return Err(StreamsError::Config {
                key: "runtime".into(),
                value: "current_thread".into(),
                reason: "Streams needs a multi-threaded tokio runtime".into(),
            });
        }
        let dir = self.config.state_dir.join(&self.config.application_id);
        std::fs::create_dir_all(&dir).map_err(|source| StreamsError::StateDir {
            path: dir.clone(),
            source,
        })?;
        let process_id = Arc::new(process::ProcessId::load_or_create(&dir)?);
        // Admin calls block (over the network, for a Kafka cluster): off the async workers.
        let (topology, application_id, backend) = (
            self.topology.clone(),
            self.config.application_id.clone(),
            self.backend.clone(),
        );
        let additional = self.config.windowstore_changelog_additional_retention;
        tokio::task::spawn_blocking(move || {
            topics::prepare(&topology, &application_id, &backend, additional)
        })
        .await
        .map_err(|e| StreamsError::Thread {
            thread: "topic preparation".into(),
            reason: e.to_string(),
        })??;
        self.shared.state.send_replace(State::Rebalancing);
        for index in 0..self.config.num_stream_threads.max(1) {
            let (topology, config, process_id, cluster, shared, handle) = (
                self.topology.clone(),
                self.config.clone(),
                process_id.clone(),
                self.backend.clone(),
                self.shared.clone(),
                handle.clone(),
            );
            let name = format!("{}-StreamThread-{}", config.application_id, index + 1);
            let spawned = std::thread::Builder::new().name(name.clone()).spawn(move || {
                let _enter = handle.enter();
                let result = thread::StreamThread::new(
                    index,
                    topology,
                    config,
                    &process_id,
                    cluster,
                    handle.clone(),
                    shared.clone(),
                )
                .and_then(|t| t.run());
                if let Err(e) = &result {
                    tracing::error!(thread = %name, error = %e, "stream thread failed");
                    shared
                        .error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e.to_string());
                    shared.set_thread_state(index, ThreadState::Failed);
                    // One thread's failure stops the application (Kafka's SHUTDOWN_CLIENT).
                    shared.stop.store(true, Ordering::Release);
                }
                result
            });
            match spawned {
                Ok(h) => self.threads.push(h),
                Err(source) => {
                    return Err(StreamsError::Thread {
                        thread: format!("{index}"),
                        reason: source.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn state(&self) -> State {
        *self.shared.state.borrow()
    }

    /// Watches state changes.
    pub fn state_changes(&self) -> watch::Receiver<State> {
        self.shared.state.subscribe()
    }

    /// Waits until the application is `Running` (or fails, or `timeout` passes).
    pub async fn wait_until_running(&self, timeout: Duration) -> Result<()> {
        let mut rx = self.state_changes();
        let wait = rx.wait_for(|s| matches!(s, State::Running | State::Error | State::NotRunning));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) if *s == State::Running => Ok(()),
            Ok(_) => Err(self.failure().unwrap_or(StreamsError::IllegalState {
                state: self.state(),
                what: "not running",
            })),
            Err(_) => Err(StreamsError::IllegalState {
                state: self.state(),
                what: "did not reach Running in time",
            }),
        }
    }

    /// The error that stopped the application, if one did.
    pub fn error(&self) -> Option<String> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failure(&self) -> Option<StreamsError> {
        self.error().map(|reason| StreamsError::Thread {
            thread: "stream thread".into(),
            reason,
        })
    }

    pub fn metrics(&self) -> StreamsMetrics {
        let m = &self.shared.metrics;
        StreamsMetrics {
            processed_records: m.processed.load(Ordering::Relaxed),
            restored_records: m.restored.load(Ordering::Relaxed),
            skipped_records: m.skipped.load(Ordering::Relaxed),
            dropped_records: m.dropped.load(Ordering::Relaxed),
            commits: m.commits.load(Ordering::Relaxed),
        }
    }

    /// Commits, closes the tasks and leaves the group; returns the first thread error.
    pub async fn close(&mut self) -> Result<()> {
        self.shared.stop.store(true, Ordering::Release);
        if self.state() != State::Error && self.state() != State::Created {
            self.shared.state.send_replace(State::PendingShutdown);
        }
        let threads = std::mem::take(&mut self.threads);
        let joined =
            tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join()).collect::<Vec<_>>())
                .await
                .map_err(|e| StreamsError::Thread {
                    thread: "join".into(),
                    reason: e.to_string(),
                })?;
        let mut first = None;
        for r in joined {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first.get_or_insert(e);
                }
                Err(_) => {
                    first.get_or_insert(StreamsError::Thread {
                        thread: "stream thread".into(),
                        reason: "panicked".into(),
                    });
                }
            }
        }
        if self.state() != State::Error {
            self.shared.state.send_replace(State::NotRunning);
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Streams {
    /// Threads still running are told to stop; they commit and leave on their own.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}
