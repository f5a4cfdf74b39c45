//! A stream thread: one consumer in the application's group, one producer, and the tasks of
//! the partitions the group gave it.
//!
//! The loop: poll; create (and restore) tasks for new partitions and close those of lost
//! ones; process the records; send what the tasks wrote; commit on the interval. A thread
//! commits before it rejoins its group, so partitions that move carry no uncommitted work.
//!
//! Under at-least-once a commit is: let the caches out, send, wait for the
//! acknowledgements, flush the local stores, commit the input offsets, write the
//! checkpoints.
//!
//! Under exactly-once a commit is: let the caches out, send (into the open transaction),
//! add the input offsets to the transaction with the consumer's group metadata, commit the
//! transaction. Stores are not flushed and checkpoints not written: the local stores may
//! hold writes of the next, uncommitted transaction at any moment, so a checkpoint is
//! written only when a task closes cleanly (see the runtime's module docs). A failed
//! transaction is aborted and the thread recovers in [`StreamThread::recover`].

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use stream_core::client::consumer::{ConsumerConfig, OffsetReset};
use stream_core::partition::IsolationLevel;
use stream_core::{TopicName, TopicPartition};
use tokio::runtime::Handle;

use super::config::{DeserializationHandler, StreamsConfig};
use super::process::ProcessId;
use super::producer::ThreadProducer;
use super::restore::{Checkpoint, restore};
use super::task_lock::TaskLock;
use super::{Shared, ThreadState};
use crate::backend::{Backend, LogConsumer};
use crate::error::{Result, StreamsError};
use crate::processor::node::SourceInput;
use crate::processor::{PunctuationType, TaskId, TaskShared};
use crate::state::{Placement, StoreOpener, memory_budget};
use crate::task::Task;
use crate::topology::Topology;

struct ActiveTask {
    task: Task,
    dir: PathBuf,
    /// Input partition → the next offset to commit.
    consumed: BTreeMap<TopicPartition, i64>,
    /// Processed something since the last commit.
    dirty: bool,
    /// Held while the task is open here; the last field, so it is released after the task
    /// (and its stores) are dropped.
    _lock: TaskLock,
}

/// A run of consecutive records of one partition in [`StreamThread::process`].
struct Run {
    tp: TopicPartition,
    topic_name: Arc<str>,
    /// The partition's task and the source node that reads the topic; `None`: not ours (a
    /// partition whose task is gone), its records are skipped.
    task: Option<RunTask>,
    /// The offset to commit once the run is processed.
    next: Option<i64>,
}

/// The task a run's records go to: its id, the source node that reads the run's topic, and
/// the task's shared state, held for the run so that a record needs no lookup of its task.
struct RunTask {
    id: TaskId,
    source: Rc<RefCell<dyn SourceInput>>,
    shared: Rc<TaskShared>,
}

impl Run {
    fn start(
        topic: &TopicName,
        partition: i32,
        subtopology_of: &HashMap<String, usize>,
        tasks: &BTreeMap<TaskId, ActiveTask>,
    ) -> Run {
        let task = subtopology_of.get(topic.as_str()).and_then(|&sub| {
            let id = TaskId {
                subtopology: sub,
                partition,
            };
            let task = &tasks.get(&id)?.task;
            let source = task.source(topic.as_str())?;
            Some(RunTask {
                id,
                source,
                shared: task.shared.clone(),
            })
        });
        Run {
            tp: TopicPartition::new(topic.clone(), partition),
            topic_name: Arc::from(topic.as_str()),
            task,
            next: None,
        }
    }

    fn finish(self, tasks: &mut BTreeMap<TaskId, ActiveTask>) {
        if let (Some(RunTask { id, .. }), Some(next)) = (self.task, self.next)
            && let Some(active) = tasks.get_mut(&id)
        {
            active.consumed.insert(self.tp, next);
            active.dirty = true;
        }
    }
}

pub(crate) struct StreamThread {
    pub name: String,
    index: usize,
    topology: Arc<Topology>,
    config: StreamsConfig,
    backend: Backend,
    /// Kept for the thread's lifetime: the clients' timers and heartbeats run on it.
    _handle: Handle,
    shared: Arc<Shared>,
    consumer: Box<dyn LogConsumer>,
    producer: ThreadProducer,
    tasks: BTreeMap<TaskId, ActiveTask>,
    subtopology_of: HashMap<String, usize>,
    last_commit: Instant,
    cache_bytes: usize,
    /// Exactly-once.
    eos: bool,
    /// Transaction failures recovered from since the last successful commit.
    recoveries: u32,
}

/// Recoveries in a row, without a commit in between, after which a transaction failure
/// fails the thread: a cause that recovery does not remove (a record the broker refuses,
/// another instance with this state directory fencing us) would loop forever otherwise.
const MAX_RECOVERIES: u32 = 5;

/// How long a thread waits for another thread of this instance to close a task it gained
/// (the other closes it after its next poll: milliseconds, unless it is stuck).
const TASK_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

impl StreamThread {
    pub fn new(
        index: usize,
        topology: Arc<Topology>,
        config: StreamsConfig,
        process_id: &ProcessId,
        backend: Backend,
        handle: Handle,
        shared: Arc<Shared>,
    ) -> Result<StreamThread> {
        let name = format!("{}-StreamThread-{}", config.application_id, index + 1);
        let eos = config.processing_guarantee.is_exactly_once();
        let consumer = backend.0.consumer(ConsumerConfig {
            client_id: name.clone(),
            group_id: Some(config.application_id.clone()),
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: false,
            max_poll_records: config.max_poll_records,
            session_timeout: config.session_timeout,
            heartbeat_interval: config.heartbeat_interval,
            fetch_max_wait: config.poll,
            // Range keeps partition p of co-partitioned topics together, which is what makes
            // a task's inputs land on one thread (Kafka Streams has its own assignor for this).
            assignment_strategies: vec!["range".into()],
            // Exactly-once: records of open or aborted transactions (the repartition topics'
            // among them) are not input.
            isolation_level: isolation(eos),
            ..ConsumerConfig::default()
        })?;
        // Kafka Streams' EOS v2 transactional id: stable across restarts on the same state
        // directory (the process id is stored there), distinct per thread and instance.
        let transactional = eos.then(|| {
            (
                format!(
                    "{}-{process_id}-StreamThread-{}",
                    config.application_id,
                    index + 1
                ),
                config.transaction_timeout,
            )
        });
        let producer = ThreadProducer::new(&backend, &name, transactional)?;
        let subtopology_of = topology
            .source_topics(&config.application_id)
            .into_iter()
            .filter_map(|t| {
                topology
                    .subtopology_of(&config.application_id, &t)
                    .map(|s| (t, s))
            })
            .collect();
        Ok(StreamThread {
            name,
            index,
            topology,
            config,
            backend,
            _handle: handle,
            shared,
            consumer,
            producer,
            tasks: BTreeMap::new(),
            subtopology_of,
            last_commit: Instant::now(),
            cache_bytes: 0,
            eos,
            recoveries: 0,
        })
    }

    fn set_state(&self, state: ThreadState) {
        self.shared.set_thread_state(self.index, state);
    }

    /// Runs until asked to stop or an error; always tries to close cleanly.
    pub fn run(mut self) -> Result<()> {
        let result = self.run_loop();
        let closed = self.close(result.is_ok());
        result.and(closed)
    }

    fn run_loop(&mut self) -> Result<()> {
        // Before the first poll: joining the group fetches committed offsets read_committed,
        // which waits while the crashed predecessor's transaction holds offsets; fencing the
        // predecessor aborts that transaction now instead of at its timeout.
        self.producer.init()?;
        self.consumer.subscribe(self.source_topics())?;
        self.set_state(ThreadState::Rebalancing);
        while !self.shared.stop.load(Ordering::Acquire) {
            match self.run_once() {
                Ok(()) => {}
                Err(e @ (StreamsError::TaskCorrupted { .. } | StreamsError::TaskMigrated { .. })) => {
                    self.recover(e)?
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn source_topics(&self) -> Vec<String> {
        self.subtopology_of.keys().cloned().collect()
    }

    /// One turn of the loop (see the module docs).
    fn run_once(&mut self) -> Result<()> {
        if self.consumer.rebalance_pending() {
            self.set_state(ThreadState::Rebalancing);
            self.commit()?;
        }
        let generation = self.consumer.generation();
        let buffered = self.consumer.poll_buffered(self.config.poll)?;
        if self.eos && self.consumer.generation() != generation && self.uncommitted() {
            // A rebalance began after the check above and the poll rejoined: it moved every
            // partition back to its committed offset (eager protocol) while the tasks hold
            // uncommitted work, and the buffered records were read from there. Processing
            // them in the open transaction would apply them twice.
            return Err(StreamsError::TaskCorrupted {
                thread: self.name.clone(),
                operation: "a rejoin during poll",
                source: None,
            });
        }
        self.sync_tasks()?;
        if !self.consumer.rebalance_pending() {
            self.set_state(ThreadState::Running);
        }
        let returned = if buffered { self.process()? } else { 0 };
        let drained = returned < self.config.max_poll_records;
        if drained {
            self.advance_to_positions();
        }
        let now = now_ms();
        for t in self.tasks.values_mut() {
            t.task.shared.wall_clock.set(now);
            t.task.punctuate(PunctuationType::WallClockTime, now)?;
        }
        self.send_output()?;
        let requested = self.tasks.values().any(|t| t.task.take_commit_request());
        if requested || self.last_commit.elapsed() >= self.config.commit_interval() {
            self.commit()?;
        }
        Ok(())
    }

    /// Processed or produced anything since the last commit.
    fn uncommitted(&self) -> bool {
        self.producer.in_transaction() || self.tasks.values().any(|t| t.dirty)
    }

    /// Exactly-once, after a transaction failed ([`StreamsError::TaskCorrupted`]) or the
    /// thread was fenced ([`StreamsError::TaskMigrated`]): as Kafka Streams, abort the
    /// transaction, close the tasks without committing, and move the input back to the
    /// committed offsets. The tasks are created again at the next poll; having no checkpoint
    /// (exactly-once removes it while a task runs), their stores are wiped and restored from
    /// the changelogs read_committed, which is their state as of the last commit. A fenced
    /// thread also rejoins the group: its partitions may belong to another member now.
    fn recover(&mut self, error: StreamsError) -> Result<()> {
        self.recoveries += 1;
        if !self.eos || self.recoveries > MAX_RECOVERIES {
            return Err(error);
        }
        tracing::warn!(
            thread = %self.name,
            error = %error,
            cause = ?std::error::Error::source(&error).map(ToString::to_string),
            "aborting the transaction; the tasks' state is restored and their input reprocessed \
             from the last commit"
        );
        self.producer.abort()?;
        for (id, mut active) in std::mem::take(&mut self.tasks) {
            active.task.discard_output();
            if let Err(e) = active.task.close() {
                tracing::warn!(thread = %self.name, task = %id, error = %e, "closing a corrupted task");
            }
        }
        let assigned = self.consumer.assignment();
        for (tp, committed) in self.consumer.committed(&assigned)? {
            self.consumer.seek(&tp, committed)?;
        }
        if matches!(error, StreamsError::TaskMigrated { .. }) {
            self.consumer.subscribe(self.source_topics())?;
        }
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Processes the records the consumer has buffered (up to `max.poll.records`) as it lends
    /// them; returns how many it lent.
    fn process(&mut self) -> Result<usize> {
        let mut processed = 0u64;
        let mut skipped = 0u64;
        let tasks = &mut self.tasks;
        let subtopology_of = &self.subtopology_of;
        let handler = self.config.deserialization_handler;
        let name = &self.name;
        // Records come in runs of one partition: the task and its source are looked up once
        // per run, and the offset to commit recorded at its end.
        let mut run: Option<Run> = None;
        let returned = self.consumer.poll_each(&mut |r| {
            if !run
                .as_ref()
                .is_some_and(|run| run.tp.partition == r.partition && run.tp.topic == *r.topic)
            {
                if let Some(done) = run.take() {
                    done.finish(tasks);
                }
                run = Some(Run::start(r.topic, r.partition, subtopology_of, tasks));
            }
            let Some(run) = run.as_mut() else {
                return Ok(());
            };
            let Some(RunTask { id, source, shared }) = &run.task else {
                return Ok(());
            };
            run.next = Some(r.offset + 1);
            let result = Task::process_from(
                shared,
                source,
                &run.topic_name,
                r.partition,
                r.offset,
                r.key,
                r.value,
                r.timestamp,
                r.headers,
            );
            match result {
                Ok(()) => processed += 1,
                Err(e @ StreamsError::Deserialization { .. })
                    if handler == DeserializationHandler::LogAndContinue =>
                {
                    tracing::warn!(thread = %name, error = %e, "skipping a record that does not deserialize");
                    skipped += 1;
                }
                Err(e) => return Err(e),
            }
            if !shared.schedules.borrow().is_empty()
                && let Some(active) = tasks.get_mut(id)
            {
                let st = shared.stream_time.get();
                active.task.punctuate(PunctuationType::StreamTime, st)?;
            }
            Ok(())
        })?;
        if let Some(done) = run.take() {
            done.finish(tasks);
        }
        self.shared
            .metrics
            .processed
            .fetch_add(processed, Ordering::Relaxed);
        self.shared.metrics.skipped.fetch_add(skipped, Ordering::Relaxed);
        let dropped: u64 = self.tasks.values().map(|a| a.task.shared.take_dropped()).sum();
        if dropped > 0 {
            self.shared.metrics.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
        Ok(returned)
    }

    /// Moves each task's offsets to commit up to the consumer's positions, which lie past
    /// the transaction markers (and aborted records) after the last records returned: without
    /// this a read_committed group would lag by a marker forever (Kafka Streams does the
    /// same, KAFKA-6607). Only after a poll that drained the consumer's buffer, so every
    /// record below a position has been processed.
    fn advance_to_positions(&mut self) {
        for active in self.tasks.values_mut() {
            for (tp, next) in active.consumed.iter_mut() {
                if let Ok(position) = self.consumer.position(tp)
                    && position > *next
                {
                    *next = position;
                    active.dirty = true;
                }
            }
        }
    }

    /// Hands what the tasks wrote to the producer.
    fn send_output(&mut self) -> Result<()> {
        for active in self.tasks.values_mut() {
            active.task.send_output(|out| self.producer.send_all(out))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if self.eos {
            self.commit_transaction()
        } else {
            self.commit_at_least_once()
        }
    }

    /// At-least-once commit of every task (see the module docs).
    fn commit_at_least_once(&mut self) -> Result<()> {
        for active in self.tasks.values_mut() {
            active.task.flush()?;
        }
        self.send_output()?;
        self.producer.flush()?;
        let mut offsets: Vec<(TopicPartition, i64)> = Vec::new();
        for active in self.tasks.values_mut() {
            if !active.dirty {
                continue;
            }
            active.task.flush_stores()?;
            offsets.extend(active.consumed.iter().map(|(tp, &o)| (tp.clone(), o)));
        }
        if !offsets.is_empty() {
            self.consumer.commit(&offsets)?;
            self.shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
        }
        for active in self.tasks.values_mut() {
            if active.dirty {
                Checkpoint::of(&self.backend, &active.task, IsolationLevel::ReadUncommitted)?
                    .write(&active.dir)?;
                active.dirty = false;
            }
        }
        self.purge_repartition_topics(&offsets);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Exactly-once commit of every task: one transaction (see the module docs).
    fn commit_transaction(&mut self) -> Result<()> {
        for active in self.tasks.values_mut() {
            active.task.flush()?;
        }
        self.send_output()?;
        let offsets: Vec<(TopicPartition, i64)> = self
            .tasks
            .values()
            .filter(|t| t.dirty)
            .flat_map(|t| t.consumed.iter().map(|(tp, &o)| (tp.clone(), o)))
            .collect();
        if offsets.is_empty() && !self.producer.in_transaction() {
            self.last_commit = Instant::now();
            return Ok(());
        }
        let group = self.consumer.group_metadata();
        self.producer.commit(&offsets, group.as_ref())?;
        self.shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
        for active in self.tasks.values_mut() {
            active.dirty = false;
        }
        self.recoveries = 0;
        self.purge_repartition_topics(&offsets);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Records of a repartition topic below the committed offset are never read again:
    /// delete them, as Kafka Streams does, so the topic does not grow without bound. Called
    /// with offsets that are committed (under exactly-once: by a committed transaction), so
    /// a thread that later rewinds to its committed offsets finds its input still there.
    fn purge_repartition_topics(&self, offsets: &[(TopicPartition, i64)]) {
        let prefix = format!("{}-", self.config.application_id);
        for (tp, offset) in offsets {
            let topic = tp.topic.as_str();
            if !(topic.starts_with(&prefix) && topic.ends_with("-repartition")) {
                continue;
            }
            if let Err(e) = self.backend.0.delete_records(tp, *offset) {
                tracing::debug!(topic, error = %e, "could not purge a repartition topic");
            }
        }
    }

    /// Makes the task set match the consumer's assignment.
    fn sync_tasks(&mut self) -> Result<()> {
        let assigned: BTreeSet<TaskId> = self
            .consumer
            .assignment()
            .iter()
            .filter_map(|tp| {
                self.subtopology_of.get(tp.topic.as_str()).map(|&s| TaskId {
                    subtopology: s,
                    partition: tp.partition,
                })
            })
            .collect();
        let current: BTreeSet<TaskId> = self.tasks.keys().copied().collect();
        if assigned == current {
            return Ok(());
        }
        let lost: Vec<TaskId> = current.difference(&assigned).copied().collect();
        if !lost.is_empty() {
            // Normally committed before the rebalance; this covers a rebalance that began
            // between that check and the poll.
            self.commit()?;
            for id in lost {
                if let Some(active) = self.tasks.remove(&id) {
                    self.close_committed(active)?;
                    tracing::info!(thread = %self.name, task = %id, "task moved away");
                }
            }
        }
        let stores_per_task = |topology: &Topology, id: TaskId| {
            topology
                .subtopologies
                .get(id.subtopology)
                .map_or(0, |s| s.stores.len())
        };
        let cached: usize = assigned
            .iter()
            .map(|&id| stores_per_task(&self.topology, id))
            .sum();
        self.cache_bytes = self.config.cache_max_bytes / cached.max(1);
        for id in assigned.difference(&current) {
            let active = self.create_task(*id)?;
            self.tasks.insert(*id, active);
        }
        Ok(())
    }

    fn create_task(&mut self, id: TaskId) -> Result<ActiveTask> {
        let app = &self.config.application_id;
        let dir = self.config.state_dir.join(app).join(id.to_string());
        // Before its checkpoint and stores are looked at: another thread of this instance
        // may still have the task open (see `task_lock`).
        let lock = self
            .shared
            .task_locks
            .acquire(id, TASK_LOCK_TIMEOUT)
            .ok_or_else(|| StreamsError::StateDir {
                path: dir.clone(),
                source: std::io::Error::other(format!(
                    "task {id} is still open in another stream thread of this instance after {TASK_LOCK_TIMEOUT:?}"
                )),
            })?;
        std::fs::create_dir_all(&dir).map_err(|source| StreamsError::StateDir {
            path: dir.clone(),
            source,
        })?;
        let checkpoint = Checkpoint::read(&dir);
        if self.eos {
            // From now on the store may hold writes of transactions that never commit; only
            // a clean close vouches for its content again.
            Checkpoint::remove(&dir)?;
        }
        let placement = Placement::StateDir {
            task_dir: dir.clone(),
            checkpoint,
        };
        let mut opener = StoreOpener::new(app, id, self.cache_bytes, placement)
            .with_budget(memory_budget(self.config.rocksdb_memory_max_bytes));
        let sink = self.producer.sink();
        let mut task = Task::new(&self.topology, id, app, &mut opener, Some(sink))?;
        let restored = restore(
            &self.backend,
            &mut task,
            opener.restore_from(),
            isolation(self.eos),
        )?;
        self.shared
            .metrics
            .restored
            .fetch_add(restored, Ordering::Relaxed);
        task.shared.wall_clock.set(now_ms());
        task.init()?;
        tracing::info!(thread = %self.name, task = %id, restored, "task started");
        let mut active = ActiveTask {
            task,
            dir,
            consumed: BTreeMap::new(),
            dirty: false,
            _lock: lock,
        };
        // The restored state is now what the checkpoint describes (at-least-once; under
        // exactly-once the task runs without one).
        if restored > 0 && !self.eos {
            active.task.flush_stores()?;
            Checkpoint::of(&self.backend, &active.task, IsolationLevel::ReadUncommitted)?
                .write(&active.dir)?;
        }
        active.dirty = false;
        Ok(active)
    }

    /// Closes a task whose work is all committed. Under exactly-once this is where its
    /// checkpoint is written: the store is flushed and holds exactly the committed changelog
    /// (at-least-once wrote the checkpoint at the commit).
    fn close_committed(&self, mut active: ActiveTask) -> Result<()> {
        if self.eos {
            active.task.flush_stores()?;
            Checkpoint::of(&self.backend, &active.task, IsolationLevel::ReadCommitted)?.write(&active.dir)?;
        }
        active.task.close()
    }

    /// Stops: commits (unless failing), closes tasks, leaves the group. Under exactly-once a
    /// thread that could not commit aborts its transaction and writes no checkpoints.
    fn close(mut self, clean: bool) -> Result<()> {
        let mut result = Ok(());
        if clean {
            result = self.commit();
        }
        let committed = result.is_ok() && clean;
        if self.eos && !committed {
            if let Err(e) = self.producer.abort() {
                tracing::warn!(thread = %self.name, error = %e, "aborting the transaction");
            }
        }
        for (id, mut active) in std::mem::take(&mut self.tasks) {
            let closed = if committed {
                self.close_committed(active)
            } else {
                active.task.close()
            };
            if let Err(e) = closed {
                tracing::warn!(thread = %self.name, task = %id, error = %e, "closing a task");
            }
        }
        let state = self.shared.clone();
        let index = self.index;
        if let Err(e) = self.consumer.close() {
            tracing::warn!(thread = %self.name, error = %e, "leaving the group");
        }
        state.set_thread_state(
            index,
            if result.is_ok() {
                ThreadState::Dead
            } else {
                ThreadState::Failed
            },
        );
        result
    }
}

/// The consumers' isolation level: exactly-once reads only committed transactions.
fn isolation(eos: bool) -> IsolationLevel {
    if eos {
        IsolationLevel::ReadCommitted
    } else {
        IsolationLevel::ReadUncommitted
    }
}

fn now_ms() -> i64 {
    use storage::clock::Clock;
    storage::clock::SystemClock.now_ms()
}
