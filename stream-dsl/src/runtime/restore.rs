//! Checkpoint files and changelog restore.
//!
//! A task's directory holds `.checkpoint`: for each logged store, the changelog offset up
//! to which the local store is known to hold the changelog's content (written after the
//! changelog writes were acknowledged and the store flushed). A store starting with a
//! checkpoint replays the changelog from there; a RocksDB store without one is wiped and
//! replayed from the beginning (its content cannot be trusted); an in-memory store always
//! replays everything.
//!
//! Under exactly-once the checkpoint also says "the local store holds no uncommitted
//! writes": it is removed when its task starts and written only when the task closes after
//! a successful commit (see the runtime's module docs). Restores then read the changelog
//! read_committed, up to its last stable offset, so writes of aborted transactions are not
//! replayed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stream_core::client::consumer::{ConsumerConfig, OffsetReset};
use stream_core::partition::IsolationLevel;
use stream_core::{TopicName, TopicPartition};

use crate::backend::Backend;

use crate::error::{Result, StreamsError};
use crate::state::ChangelogRecord;
use crate::task::Task;

/// Changelog partition → offset, in Kafka's `.checkpoint` layout (version 0, a count, then
/// `topic partition offset` lines).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint(pub BTreeMap<(String, i32), i64>);

impl Checkpoint {
    pub fn path(task_dir: &Path) -> PathBuf {
        task_dir.join(".checkpoint")
    }

    /// Reads a checkpoint; a missing or unreadable one is empty (the stores are then
    /// rebuilt from their changelogs, which is always correct, only slower).
    pub fn read(task_dir: &Path) -> Checkpoint {
        let path = Checkpoint::path(task_dir);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Checkpoint::default();
        };
        let mut lines = text.lines();
        if lines.next() != Some("0") {
            tracing::warn!(path = %path.display(), "ignoring a checkpoint of an unknown version");
            return Checkpoint::default();
        }
        let _count = lines.next();
        let mut map = BTreeMap::new();
        for line in lines {
            let parts: Vec<&str> = line.split(' ').collect();
            if let [topic, partition, offset] = parts[..]
                && let (Ok(p), Ok(o)) = (partition.parse::<i32>(), offset.parse::<i64>())
            {
                map.insert((topic.to_owned(), p), o);
            } else {
                tracing::warn!(path = %path.display(), "ignoring a malformed checkpoint");
                return Checkpoint::default();
            }
        }
        Checkpoint(map)
    }

    /// Writes atomically and durably (see [`super::atomic_file::replace`]).
    pub fn write(&self, task_dir: &Path) -> Result<()> {
        let mut text = format!("0\n{}\n", self.0.len());
        for ((topic, partition), offset) in &self.0 {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        super::atomic_file::replace(task_dir, ".checkpoint", text.as_bytes()).map_err(|source| {
            StreamsError::StateDir {
                path: Checkpoint::path(task_dir),
                source,
            }
        })
    }

    /// Removes the task's checkpoint, durably: a crash after this must not find it again.
    pub fn remove(task_dir: &Path) -> Result<()> {
        let path = Checkpoint::path(task_dir);
        let io = |source| StreamsError::StateDir {
            path: path.clone(),
            source,
        };
        match std::fs::remove_file(&path) {
            Ok(()) => std::fs::File::open(task_dir)
                .and_then(|d| d.sync_all())
                .map_err(io),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    /// The checkpoint of `task` now: each persistent logged store's changelog end as
    /// `isolation` sees it. Valid once the task's changelog writes are stored (at-least-once:
    /// acknowledged; exactly-once: committed) and its stores flushed.
    pub fn of(backend: &Backend, task: &Task, isolation: IsolationLevel) -> Result<Checkpoint> {
        let mut checkpoint = Checkpoint::default();
        for store in task.stores.values() {
            let store = store.borrow();
            if !store.persistent() {
                continue;
            }
            if let Some((topic, partition)) = store.changelog() {
                let tp = TopicPartition::new(TopicName::new(topic)?, *partition);
                let end = backend.0.end_offset(&tp, isolation)?;
                checkpoint.0.insert((topic.to_string(), *partition), end);
            }
        }
        Ok(checkpoint)
    }
}

/// Replays each logged store's changelog from `from` (per store) to the changelog's current
/// end (read_committed: its last stable offset). Returns the records applied.
pub(crate) fn restore(
    backend: &Backend,
    task: &mut Task,
    from: &BTreeMap<String, i64>,
    isolation: IsolationLevel,
) -> Result<u64> {
    let mut restored = 0;
    for (name, store) in &task.stores {
        let Some((topic, partition)) = store.borrow().changelog().cloned() else {
            continue;
        };
        let tp = TopicPartition::new(TopicName::new(&topic)?, partition);
        let end = backend.0.end_offset(&tp, isolation)?;
        let start = from.get(name).copied().unwrap_or(0);
        if start >= end {
            continue;
        }
        const MAX_POLL_RECORDS: usize = 10_000;
        let mut consumer = backend.0.consumer(ConsumerConfig {
            client_id: format!("{}-restore", task.shared.application_id),
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: false,
            max_poll_records: MAX_POLL_RECORDS,
            fetch_max_wait: Duration::from_millis(10),
            isolation_level: isolation,
            ..ConsumerConfig::default()
        })?;
        consumer.assign(&tp, start)?;
        // The next changelog offset to apply. Not the consumer's position, which is where it
        // fetches next: records it fetched but has not returned yet lie below it.
        let mut next = start;
        while next < end {
            let records = consumer.poll(Duration::from_millis(100))?;
            let drained = records.len() < MAX_POLL_RECORDS;
            let last = records.last().map(|r| r.offset);
            let batch: Vec<ChangelogRecord> = records
                .into_iter()
                .filter(|r| r.offset < end)
                .filter_map(|r| {
                    let key = r.key?;
                    Some(ChangelogRecord {
                        key,
                        value: r.value,
                        timestamp: r.timestamp,
                    })
                })
                .collect();
            restored += batch.len() as u64;
            store.borrow_mut().restore(&batch)?;
            next = match last {
                // With the buffer drained the position is past everything returned, and past
                // the markers and aborted records that follow them.
                _ if drained => consumer.position(&tp)?,
                Some(last) => last + 1,
                None => next,
            };
        }
        tracing::debug!(task = %task.id, store = %name, start, end, "restored from the changelog");
    }
    Ok(restored)
}
