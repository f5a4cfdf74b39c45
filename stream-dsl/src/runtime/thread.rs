//! A stream thread: one consumer in the application's group, one producer, and the tasks of
//! the partitions the group gave it.
//!
//! The loop: poll; create (and restore) tasks for new partitions and close those of lost
//! ones; process the records; send what the tasks wrote; commit on the interval. Under
//! at-least-once a commit is: let the caches out, send, wait for the acknowledgements, flush
//! the local stores, commit the input offsets, write the checkpoints. A thread commits
//! before it rejoins its group, so partitions that move carry no uncommitted work.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use stream_core::client::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};
use stream_core::client::producer::{Producer, ProducerConfig};
use stream_core::group::PartitionOffset;
use stream_core::{Cluster, TopicName, TopicPartition};
use tokio::runtime::Handle;

use super::config::{DeserializationHandler, StreamsConfig};
use super::restore::{Checkpoint, restore};
use super::{Shared, ThreadState};
use crate::error::{Result, StreamsError};
use crate::processor::{PunctuationType, TaskId};
use crate::state::{StoreSpec, StoreType};
use crate::task::Task;
use crate::topology::Topology;

struct ActiveTask {
    task: Task,
    dir: PathBuf,
    /// Input partition → the next offset to commit.
    consumed: BTreeMap<TopicPartition, i64>,
    /// Processed something since the last commit.
    dirty: bool,
}

pub(crate) struct StreamThread {
    pub name: String,
    index: usize,
    topology: Arc<Topology>,
    config: StreamsConfig,
    cluster: Cluster,
    handle: Handle,
    shared: Arc<Shared>,
    consumer: Consumer,
    producer: Producer,
    tasks: BTreeMap<TaskId, ActiveTask>,
    subtopology_of: HashMap<String, usize>,
    last_commit: Instant,
    cache_bytes: usize,
}

impl StreamThread {
    pub fn new(
        index: usize,
        topology: Arc<Topology>,
        config: StreamsConfig,
        cluster: Cluster,
        handle: Handle,
        shared: Arc<Shared>,
    ) -> Result<StreamThread> {
        let name = format!("{}-StreamThread-{}", config.application_id, index + 1);
        let consumer = cluster.consumer(ConsumerConfig {
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
            ..ConsumerConfig::default()
        });
        let producer = cluster.producer(ProducerConfig {
            client_id: format!("{name}-producer"),
            ..Default::default()
        })?;
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
            cluster,
            handle,
            shared,
            consumer,
            producer,
            tasks: BTreeMap::new(),
            subtopology_of,
            last_commit: Instant::now(),
            cache_bytes: 0,
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
        let topics: Vec<String> = self.subtopology_of.keys().cloned().collect();
        self.consumer.subscribe(topics)?;
        self.set_state(ThreadState::Rebalancing);
        while !self.shared.stop.load(Ordering::Acquire) {
            if self.consumer.rebalance_pending() {
                self.set_state(ThreadState::Rebalancing);
                self.commit()?;
            }
            let handle = self.handle.clone();
            let records = handle.block_on(self.consumer.poll(self.config.poll))?;
            self.sync_tasks()?;
            if !self.consumer.rebalance_pending() {
                self.set_state(ThreadState::Running);
            }
            self.process(records)?;
            let now = now_ms();
            for t in self.tasks.values_mut() {
                t.task.shared.wall_clock.set(now);
                t.task.punctuate(PunctuationType::WallClockTime, now)?;
            }
            self.send_output()?;
            let requested = self.tasks.values().any(|t| t.task.take_commit_request());
            if requested || self.last_commit.elapsed() >= self.config.commit_interval {
                self.commit()?;
            }
        }
        Ok(())
    }

    fn process(&mut self, records: Vec<ConsumerRecord>) -> Result<()> {
        let mut processed = 0u64;
        let mut skipped = 0u64;
        let mut records = records.into_iter().peekable();
        // Records come in runs of one partition: the task and its source are looked up once
        // per run, and the offset to commit recorded at its end.
        while let Some(first) = records.next() {
            let (topic, partition) = (first.topic.clone(), first.partition);
            let task = self.subtopology_of.get(topic.as_str()).map(|&sub| TaskId {
                subtopology: sub,
                partition,
            });
            let mut run = vec![first];
            while let Some(r) = records.next_if(|r| r.partition == partition && r.topic == topic) {
                run.push(r);
            }
            let Some(active) = task.and_then(|id| self.tasks.get_mut(&id)) else {
                continue;
            };
            let Some(source) = active.task.source(topic.as_str()) else {
                continue;
            };
            let topic_name: Arc<str> = Arc::from(topic.as_str());
            let mut next = None;
            for r in run {
                next = Some(r.offset + 1);
                let result = active.task.process_from(
                    &source,
                    &topic_name,
                    partition,
                    r.offset,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    r.timestamp,
                    r.headers,
                );
                match result {
                    Ok(()) => processed += 1,
                    Err(e @ StreamsError::Deserialization { .. })
                        if self.config.deserialization_handler == DeserializationHandler::LogAndContinue =>
                    {
                        tracing::warn!(thread = %self.name, error = %e, "skipping a record that does not deserialize");
                        skipped += 1;
                    }
                    Err(e) => return Err(e),
                }
                if !active.task.shared.schedules.borrow().is_empty() {
                    let st = active.task.shared.stream_time.get();
                    active.task.punctuate(PunctuationType::StreamTime, st)?;
                }
            }
            if let Some(next) = next {
                active
                    .consumed
                    .insert(TopicPartition::new(topic, partition), next);
                active.dirty = true;
            }
        }
        self.shared
            .metrics
            .processed
            .fetch_add(processed, Ordering::Relaxed);
        self.shared.metrics.skipped.fetch_add(skipped, Ordering::Relaxed);
        Ok(())
    }

    /// Hands what the tasks wrote to the producer.
    fn send_output(&mut self) -> Result<()> {
        for active in self.tasks.values_mut() {
            for r in active.task.take_output() {
                self.producer
                    .send_unobserved(
                        &r.topic,
                        r.partition,
                        r.key.as_deref(),
                        r.value.as_deref(),
                        &r.headers,
                        Some(r.timestamp),
                    )
                    .map_err(|e| StreamsError::Send {
                        topic: r.topic.to_string(),
                        reason: e.to_string(),
                    })?;
            }
        }
        Ok(())
    }

    /// At-least-once commit of every task (see the module docs).
    fn commit(&mut self) -> Result<()> {
        for active in self.tasks.values_mut() {
            active.task.flush()?;
        }
        self.send_output()?;
        let handle = self.handle.clone();
        handle.block_on(self.producer.flush());
        if let Some(e) = self.producer.take_failure() {
            return Err(StreamsError::Send {
                topic: "a sink, repartition or changelog topic".into(),
                reason: e.to_string(),
            });
        }
        let mut offsets = Vec::new();
        for active in self.tasks.values_mut() {
            if !active.dirty {
                continue;
            }
            active.task.flush_stores()?;
            offsets.extend(
                active
                    .consumed
                    .iter()
                    .map(|(tp, &o)| PartitionOffset::new(tp.topic.as_str(), tp.partition, o)),
            );
        }
        if !offsets.is_empty() {
            handle.block_on(self.consumer.commit_offsets(offsets.clone()))?;
            self.shared.metrics.commits.fetch_add(1, Ordering::Relaxed);
        }
        for active in self.tasks.values_mut() {
            if active.dirty {
                write_checkpoint(&self.cluster, active)?;
                active.dirty = false;
            }
        }
        self.purge_repartition_topics(&offsets);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Records of a repartition topic below the committed offset are never read again:
    /// delete them, as Kafka Streams does, so the topic does not grow without bound.
    fn purge_repartition_topics(&self, offsets: &[PartitionOffset]) {
        let prefix = format!("{}-", self.config.application_id);
        for o in offsets {
            let topic = o.topic_partition.topic.as_str();
            if !(topic.starts_with(&prefix) && topic.ends_with("-repartition")) {
                continue;
            }
            let Ok(name) = TopicName::new(topic) else { continue };
            let tp = TopicPartition::new(name, o.topic_partition.partition);
            if let Err(e) = self.cluster.broker().delete_records(&tp, o.offset) {
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
                if let Some(mut active) = self.tasks.remove(&id) {
                    active.task.close()?;
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
        std::fs::create_dir_all(&dir).map_err(|source| StreamsError::StateDir {
            path: dir.clone(),
            source,
        })?;
        let checkpoint = Checkpoint::read(&dir);
        let mut from: BTreeMap<String, i64> = BTreeMap::new();
        let store_dir = dir.join("rocksdb");
        let mut open = |spec: &StoreSpec| -> Result<Box<dyn storage::store::KeyValueStore>> {
            match spec.store_type {
                StoreType::InMemory => Ok(Box::new(storage::store::InMemoryStore::new(&spec.name))),
                StoreType::RocksDb => {
                    let changelog = format!("{app}-{}", crate::state::changelog_topic(&spec.name));
                    match checkpoint.0.get(&(changelog, id.partition)) {
                        Some(&offset) => {
                            from.insert(spec.name.clone(), offset);
                        }
                        None if spec.logging => storage::store::RocksDbStore::destroy(&store_dir, &spec.name)
                            .map_err(|e| StreamsError::store(&spec.name, e))?,
                        None => {}
                    }
                    let store = storage::store::RocksDbStore::open(&store_dir, &spec.name)
                        .map_err(|e| StreamsError::store(&spec.name, e))?;
                    Ok(Box::new(store))
                }
            }
        };
        let mut task = Task::new(&self.topology, id, app, self.cache_bytes, &mut open)?;
        let handle = self.handle.clone();
        let restored = handle.block_on(restore(&self.cluster, &mut task, &from))?;
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
        };
        // The restored state is now what the checkpoint describes.
        if restored > 0 {
            active.task.flush_stores()?;
            write_checkpoint(&self.cluster, &active)?;
        }
        active.dirty = false;
        Ok(active)
    }

    /// Stops: commits (unless failing), closes tasks, leaves the group.
    fn close(&mut self, clean: bool) -> Result<()> {
        let mut result = Ok(());
        if clean {
            result = self.commit();
        }
        for (_, mut active) in std::mem::take(&mut self.tasks) {
            if let Err(e) = active.task.close() {
                tracing::warn!(thread = %self.name, error = %e, "closing a task");
            }
        }
        let handle = self.handle.clone();
        let consumer = std::mem::replace(
            &mut self.consumer,
            self.cluster.consumer(ConsumerConfig::default()),
        );
        if let Err(e) = handle.block_on(consumer.close()) {
            tracing::warn!(thread = %self.name, error = %e, "leaving the group");
        }
        self.set_state(if result.is_ok() {
            ThreadState::Dead
        } else {
            ThreadState::Failed
        });
        result
    }
}

/// Writes the task's checkpoint: each logged store's changelog end, which (the producer
/// having been flushed) covers every write of the store.
fn write_checkpoint(cluster: &Cluster, active: &ActiveTask) -> Result<()> {
    let mut checkpoint = Checkpoint::default();
    for store in active.task.stores.values() {
        let store = store.borrow();
        if !store.persistent() {
            continue;
        }
        if let Some((topic, partition)) = store.changelog() {
            let tp = TopicPartition::new(TopicName::new(topic)?, *partition);
            let (end, _) = cluster.broker().list_offset(&tp, -1)?;
            checkpoint.0.insert((topic.to_string(), *partition), end);
        }
    }
    checkpoint.write(&active.dir)
}

fn now_ms() -> i64 {
    use storage::clock::Clock;
    storage::clock::SystemClock.now_ms()
}
