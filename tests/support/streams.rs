//! Helpers of the stream-runtime tests: an embedded cluster with test-speed group timeouts,
//! producing, reading a topic as a table, waiting until an application has caught up, and
//! the word-count fixture. Included with `#[path = "support/streams.rs"] mod streams_support;`
//! by the `streams_*` tests (a `support` submodule would be compiled into every wire test too).

// Each test file uses some of these; a panic here is a failed test.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::stream_core::group::GroupConfig;
use runnel::stream_core::partition::IsolationLevel;
use runnel::stream_core::{BrokerConfig, TopicName, TopicPartition};

pub fn group_config() -> GroupConfig {
    GroupConfig {
        group_min_session_timeout_ms: 100,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

pub async fn cluster(dir: &Path) -> Cluster {
    Cluster::embedded_with(BrokerConfig::new(dir.join("broker")), group_config())
        .await
        .unwrap()
}

pub fn config(app: &str, state: &Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .with_state_dir(state)
        .with_commit_interval(Duration::from_millis(100))
        .with_group_timeouts(Duration::from_millis(2_000), Duration::from_millis(100))
}

/// Waits until the application's group has no lag on any topic and no topic grew across
/// two checks — every record processed, committed, and nothing more in flight.
pub async fn wait_idle(cluster: &Cluster, app: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_ends = None;
    let mut last_lag = String::from("no group description yet");
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            Instant::now() < deadline,
            "the application did not catch up in 60 s; last group state: {last_lag}"
        );
        let Ok(lag) = cluster.admin().describe_group(app).await else {
            continue;
        };
        last_lag = format!("{lag:?}");
        let ends: Vec<i64> = lag.partitions.iter().map(|p| p.end_offset).collect();
        let idle = !lag.partitions.is_empty() && lag.partitions.iter().all(|p| p.lag == 0);
        if idle && last_ends.as_ref() == Some(&ends) {
            return;
        }
        last_ends = Some(ends);
    }
}

/// Every record of `topic` as `isolation` sees it, per partition in offset order:
/// (partition, offset, key, value).
pub async fn read_all(
    cluster: &Cluster,
    topic: &str,
    isolation: IsolationLevel,
) -> Vec<(i32, i64, Option<Vec<u8>>, Option<Vec<u8>>)> {
    let partitions = cluster.admin().describe_topic(topic).unwrap().partitions.len() as i32;
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(TopicName::new(topic).unwrap(), p))
        .collect();
    let ends: HashMap<i32, i64> = tps
        .iter()
        .map(|tp| {
            let end = cluster.broker().list_offset_with(tp, -1, isolation).unwrap().0;
            (tp.partition, end)
        })
        .collect();
    let mut consumer = cluster.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        fetch_max_wait: Duration::from_millis(20),
        isolation_level: isolation,
        ..ConsumerConfig::default()
    });
    consumer.assign(tps.clone()).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let polled = consumer.poll(Duration::from_millis(100)).await.unwrap();
        // The position is where the consumer fetches next, past records it has fetched but
        // not returned: it marks the end only once a poll comes back empty.
        if polled.is_empty() {
            let mut done = true;
            for tp in &tps {
                if consumer.position(tp).await.unwrap() < ends[&tp.partition] {
                    done = false;
                }
            }
            if done {
                return records;
            }
        }
        assert!(Instant::now() < deadline, "could not read {topic} to its end");
        for r in polled {
            if r.offset < ends[&r.partition] {
                records.push((
                    r.partition,
                    r.offset,
                    r.key.map(|k| k.to_vec()),
                    r.value.map(|v| v.to_vec()),
                ));
            }
        }
    }
}

/// The latest value per key of `topic`, read to its end as `isolation` sees it.
pub async fn read_table_with<V: 'static>(
    cluster: &Cluster,
    topic: &str,
    serde: impl Serde<Option<V>>,
    isolation: IsolationLevel,
) -> BTreeMap<String, Option<V>> {
    let mut table = BTreeMap::new();
    for (_, _, key, value) in read_all(cluster, topic, isolation).await {
        let key = String::from_utf8(key.unwrap()).unwrap();
        table.insert(key, serde.deserialize(topic, value.as_deref()).unwrap());
    }
    table
}

/// The latest value per key of `topic`, read to its end.
pub async fn read_table<V: 'static>(
    cluster: &Cluster,
    topic: &str,
    serde: impl Serde<Option<V>>,
) -> BTreeMap<String, Option<V>> {
    read_table_with(cluster, topic, serde, IsolationLevel::ReadUncommitted).await
}

pub async fn produce(cluster: &Cluster, topic: &str, records: &[(Option<String>, Option<Vec<u8>>)]) {
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let mut last = None;
    for (k, v) in records {
        let mut r = ProducerRecord::new(topic, Vec::new());
        r.key = k.clone().map(Into::into);
        r.value = v.clone().map(Into::into);
        last = Some(producer.send(r).unwrap());
    }
    producer.flush().await;
    if let Some(last) = last {
        last.await.unwrap();
    }
}

// ---------------------------------------------------------------- word count

pub fn word_count_topology(store: StoreType) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .group_by(
            |_, word| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts").with_store_type(store))
        .to_stream()
        .to("word-counts", Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().unwrap()
}

pub fn word_count_reference(lines: &[String]) -> BTreeMap<String, Option<i64>> {
    let mut counts: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for w in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts
            .entry(w.to_lowercase())
            .or_insert(Some(0))
            .as_mut()
            .unwrap() += 1;
    }
    counts
}

pub fn line_records(lines: &[String]) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    lines
        .iter()
        .map(|l| (None, Some(l.clone().into_bytes())))
        .collect()
}

/// `n` lines of 10 words from a vocabulary of 10, by a seeded generator.
pub fn sample_lines(n: usize, seed: u64) -> Vec<String> {
    let vocab = [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            (0..10)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    vocab[(x >> 33) as usize % vocab.len()]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
