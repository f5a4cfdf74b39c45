//! What the stream-processing examples share: a data directory and an embedded cluster to run
//! on, waiting for an application to catch up with its input, reading a topic back, and
//! reporting differences from a reference. Each example includes this file with
//! `#[path = "common/mod.rs"] mod common;` (cargo builds no library that examples could share).

// Each includer uses part of this file.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use bytes::Bytes;
use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::group::GroupConfig;

/// Logs to stderr, at the level `RUST_LOG` says.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The data directory given, or a temporary one (kept alive by the returned guard).
pub fn data_dir(given: Option<&Path>) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    Ok(match given {
        Some(dir) => (dir.to_path_buf(), None),
        None => {
            let temp = tempfile::tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    })
}

/// The embedded cluster in `root/broker`. One application instance: Kafka's wait for more
/// members to join a new group (`group.initial.rebalance.delay.ms`, 3 s) would only delay the
/// start.
pub async fn open_cluster(root: &Path) -> Result<Cluster> {
    Ok(Cluster::embedded_with(
        BrokerConfig::new(root.join("broker")),
        GroupConfig::default().with_group_initial_rebalance_delay_ms(0),
    )
    .await?)
}

/// Creates the example's input topic; a data directory that already holds it held an earlier
/// run, which the example's checks would count twice.
pub fn create_input(cluster: &Cluster, root: &Path, topic: &str, partitions: i32) -> Result<()> {
    match cluster.admin().create_topic(topic, partitions, []) {
        Err(BrokerError::TopicAlreadyExists(_)) => {
            bail!(
                "{} already holds a run of this example; pass an empty directory",
                root.display()
            )
        }
        other => other.map(drop).map_err(Into::into),
    }
}

/// Waits until application `app_id` has committed every record of its input topics and of
/// its repartition topics. Under at-least-once a commit comes after the caches are flushed and
/// the output is acknowledged, so by then every result is on the output topics.
pub async fn wait_until_caught_up(
    cluster: &Cluster,
    streams: &Streams,
    app_id: &str,
    inputs: &[&str],
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(error) = streams.error() {
            bail!("the application failed: {error}");
        }
        let pending = unprocessed(cluster, app_id, inputs).await?;
        if pending == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the application has not caught up after {timeout:?}: {pending} records to go, {:?}",
            streams.metrics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records of `inputs` and of the application's repartition topics not yet committed. The
/// committed offsets are read before the end offsets: a zero then means nothing was left
/// unprocessed when the offsets were read, including the records that earlier stages had
/// written by then (`inputs` may list an intermediate topic the application both writes and
/// reads).
async fn unprocessed(cluster: &Cluster, app_id: &str, inputs: &[&str]) -> Result<i64> {
    let admin = cluster.admin();
    let committed: HashMap<TopicPartition, i64> = admin
        .describe_group(app_id)
        .await?
        .partitions
        .into_iter()
        .map(|p| (p.partition, p.committed))
        .collect();
    let repartition = admin
        .list_topics()
        .into_iter()
        .filter(|t| t.as_str().starts_with(&format!("{app_id}-")) && t.as_str().ends_with("-repartition"));
    let topics: Vec<TopicName> = inputs
        .iter()
        .map(|t| TopicName::new(t))
        .collect::<Result<_, _>>()?;
    let mut pending = 0;
    for topic in topics.into_iter().chain(repartition) {
        for p in 0..admin.describe_topic(topic.as_str())?.partitions.len() as i32 {
            let tp = TopicPartition::new(topic.clone(), p);
            let end = cluster.broker().list_offset(&tp, -1)?.0;
            pending += (end - committed.get(&tp).copied().unwrap_or(0)).max(0);
        }
    }
    Ok(pending)
}

/// Every record of `topic` as `(key, value, timestamp)`, read from the start to the end
/// offsets, partition by partition in offset order.
pub async fn read_all(
    cluster: &Cluster,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<(Option<Bytes>, Option<Bytes>, i64)>> {
    let name = TopicName::new(topic)?;
    let partitions = cluster.admin().describe_topic(topic)?.partitions.len() as i32;
    let assignment: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(name.clone(), p))
        .collect();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for tp in &assignment {
        let end = cluster.broker().list_offset(tp, -1)?.0;
        if end > 0 {
            remaining.insert(tp.partition, end);
        }
    }
    let mut consumer = cluster.consumer(ConsumerConfig {
        group_id: None,
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        ..ConsumerConfig::default()
    });
    consumer.assign(assignment)?;
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while !remaining.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "could not read {topic} to its end in {timeout:?}"
        );
        for record in consumer.poll(Duration::from_millis(500)).await? {
            let end = remaining.get(&record.partition).copied();
            if end.is_some_and(|end| record.offset >= end) {
                continue;
            }
            if end.is_some_and(|end| record.offset + 1 >= end) {
                remaining.remove(&record.partition);
            }
            records.push((record.key, record.value, record.timestamp));
        }
    }
    Ok(records)
}

/// The latest value of every key of `topic` (see [`read_all`]).
pub async fn read_latest(
    cluster: &Cluster,
    topic: &str,
    timeout: Duration,
) -> Result<HashMap<Bytes, Option<Bytes>>> {
    let mut latest = HashMap::new();
    for (key, value, _) in read_all(cluster, topic, timeout).await? {
        if let Some(key) = key {
            latest.insert(key, value);
        }
    }
    Ok(latest)
}

/// The first differences, one a line, and how many more there are.
pub fn first_diffs(diffs: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = diffs[..diffs.len().min(SHOWN)].join("\n");
    if diffs.len() > SHOWN {
        text += &format!("\n  … and {} more", diffs.len() - SHOWN);
    }
    text
}
