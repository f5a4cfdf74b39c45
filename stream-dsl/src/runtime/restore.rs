//! Checkpoint files and changelog restore.
//!
//! A task's directory holds `.checkpoint`: for each logged store, the changelog offset up
//! to which the local store is known to hold the changelog's content (written after the
//! changelog writes were acknowledged and the store flushed). A store starting with a
//! checkpoint replays the changelog from there; a RocksDB store without one is wiped and
//! replayed from the beginning (its content cannot be trusted); an in-memory store always
//! replays everything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use stream_core::client::consumer::{ConsumerConfig, OffsetReset};
use stream_core::{Cluster, TopicPartition};

use crate::error::{Result, StreamsError};
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

    /// Writes atomically: a temporary file, fsynced, renamed over the old one.
    pub fn write(&self, task_dir: &Path) -> Result<()> {
        let path = Checkpoint::path(task_dir);
        let tmp = task_dir.join(".checkpoint.tmp");
        let mut text = format!("0\n{}\n", self.0.len());
        for ((topic, partition), offset) in &self.0 {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let io = |source| StreamsError::StateDir {
            path: path.clone(),
            source,
        };
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// Replays each logged store's changelog from `from` (per store) to the changelog's current
/// end. Returns the records applied.
pub(crate) async fn restore(cluster: &Cluster, task: &mut Task, from: &BTreeMap<String, i64>) -> Result<u64> {
    let mut restored = 0;
    for (name, store) in &task.stores {
        let Some((topic, partition)) = store.borrow().changelog().cloned() else {
            continue;
        };
        let tp = TopicPartition::new(stream_core::TopicName::new(&topic)?, partition);
        let (end, _) = cluster.broker().list_offset(&tp, -1)?;
        let start = from.get(name).copied().unwrap_or(0);
        if start >= end {
            continue;
        }
        let mut consumer = cluster.consumer(ConsumerConfig {
            client_id: format!("{}-restore", task.shared.application_id),
            auto_offset_reset: OffsetReset::Earliest,
            enable_auto_commit: false,
            max_poll_records: 10_000,
            fetch_max_wait: Duration::from_millis(10),
            ..ConsumerConfig::default()
        });
        consumer.assign([tp.clone()])?;
        consumer.seek(&tp, start)?;
        loop {
            if consumer.position(&tp).await? >= end {
                break;
            }
            let records = consumer.poll(Duration::from_millis(100)).await?;
            let batch: Vec<(Bytes, Option<Bytes>)> = records
                .into_iter()
                .filter(|r| r.offset < end)
                .filter_map(|r| r.key.map(|k| (k, r.value)))
                .collect();
            restored += batch.len() as u64;
            store.borrow_mut().restore(&batch)?;
        }
        tracing::debug!(task = %task.id, store = %name, start, end, "restored from the changelog");
    }
    Ok(restored)
}
