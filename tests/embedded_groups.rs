//! Consumer groups on the embedded cluster: ownership across rebalances, session timeouts,
//! static membership, and at-least-once delivery through a member crash.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::stream_core::group::GroupConfig;
use runnel::stream_core::{BrokerConfig, TopicPartition};

const TOPIC: &str = "events";

fn group_config() -> GroupConfig {
    GroupConfig {
        group_min_session_timeout_ms: 100,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

fn consumer_config(instance: Option<&str>, strategy: &str) -> ConsumerConfig {
    ConsumerConfig {
        assignment_strategies: vec![strategy.to_string()],
        group_id: Some("g".into()),
        group_instance_id: instance.map(str::to_string),
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        session_timeout: Duration::from_millis(1_500),
        heartbeat_interval: Duration::from_millis(100),
        fetch_max_wait: Duration::from_millis(50),
        ..ConsumerConfig::default()
    }
}

/// What every member last reported: its generation, rebalance state and partitions.
type Reports = Arc<Mutex<BTreeMap<String, (i32, bool, BTreeSet<TopicPartition>)>>>;

/// Runs a consumer in its own task: poll, record what it saw, commit, report.
fn run_member(
    cluster: &Cluster,
    name: &str,
    instance: Option<&str>,
    strategy: &str,
    reports: Reports,
    seen: Arc<Mutex<Vec<i64>>>,
) -> (
    tokio::task::JoinHandle<Consumer>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let mut consumer = cluster.consumer(consumer_config(instance, strategy));
    consumer.subscribe([TOPIC]).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let name = name.to_string();
    let handle = tokio::spawn(async move {
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let records = consumer.poll(Duration::from_millis(100)).await.unwrap();
            {
                let mut seen = seen.lock().unwrap();
                for r in &records {
                    let id: i64 = std::str::from_utf8(r.value.as_deref().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    seen.push(id);
                }
            }
            // At-least-once: commit only what was processed.
            let _ = consumer.commit_sync().await;
            let generation = consumer.group_metadata().map_or(-1, |m| m.generation_id);
            let owned: BTreeSet<TopicPartition> = consumer.assignment().into_iter().collect();
            reports
                .lock()
                .unwrap()
                .insert(name.clone(), (generation, consumer.rebalance_pending(), owned));
        }
        consumer
    });
    (handle, stop)
}

/// Waits until `members` all report the same generation, none rebalancing, and returns it
/// with their partitions.
async fn stable(reports: &Reports, members: &[&str]) -> (i32, Vec<BTreeSet<TopicPartition>>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        {
            let r = reports.lock().unwrap();
            let got: Vec<_> = members.iter().filter_map(|m| r.get(*m)).collect();
            if got.len() == members.len() {
                let generation = got[0].0;
                let total: usize = got.iter().map(|g| g.2.len()).sum();
                if generation >= 0 && got.iter().all(|g| g.0 == generation && !g.1) && total == 6 {
                    return (generation, got.iter().map(|g| g.2.clone()).collect());
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "group never settled: {:?}",
            reports.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_each_partition_owned_once(owned: &[BTreeSet<TopicPartition>]) {
    let mut all = Vec::new();
    for set in owned {
        all.extend(set.iter().cloned());
    }
    let unique: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 6, "partitions owned twice or missing: {owned:?}");
    assert_eq!(unique.len(), 6, "a partition is owned by two members: {owned:?}");
}

async fn produce(cluster: &Cluster, ids: std::ops::Range<i64>) {
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let mut pending = Vec::new();
    for id in ids {
        let record = ProducerRecord::new(TOPIC, id.to_string()).with_key(format!("key-{id}"));
        pending.push(producer.send(record).unwrap());
    }
    producer.flush().await;
    for p in pending {
        p.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_range_group_shares_partitions_survives_a_crash_and_loses_no_record() {
    group_survives_a_crash("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_robin_group_shares_partitions_survives_a_crash_and_loses_no_record() {
    group_survives_a_crash("roundrobin").await;
}

/// KIP-429: partitions move in two rebalances, revoked first, then assigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cooperative_sticky_group_shares_partitions_survives_a_crash_and_loses_no_record() {
    group_survives_a_crash("cooperative-sticky").await;
}

async fn group_survives_a_crash(strategy: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded_with(BrokerConfig::new(dir.path()), group_config())
        .await
        .unwrap();
    cluster.admin().create_topic(TOPIC, 6, []).unwrap();
    let reports: Reports = Arc::default();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();

    produce(&cluster, 0..3_000).await;
    let mut members: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|m| run_member(&cluster, m, None, strategy, reports.clone(), seen.clone()))
        .collect();
    let (g1, owned) = stable(&reports, &["a", "b", "c"]).await;
    assert_each_partition_owned_once(&owned);
    assert!(
        owned.iter().all(|o| o.len() == 2),
        "range over 6 partitions gives 2 each: {owned:?}"
    );

    // "c" crashes: no LeaveGroup, no more heartbeats. After the session timeout the others
    // take its partitions.
    produce(&cluster, 3_000..6_000).await;
    let (handle, stop) = members.pop().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let crashed = handle.await.unwrap();
    crashed.close_without_leaving();
    reports.lock().unwrap().remove("c");
    let started = Instant::now();
    let (g2, owned) = stable(&reports, &["a", "b"]).await;
    assert!(g2 > g1);
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "rebalanced before the session timeout"
    );
    assert_each_partition_owned_once(&owned);

    produce(&cluster, 6_000..9_000).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: HashSet<i64> = seen.lock().unwrap().iter().copied().collect();
        if got.len() == 9_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of 9000 ids consumed",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (handle, stop) in members {
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        handle.await.unwrap().close().await.unwrap();
    }
    let lag = cluster.admin().describe_group("g").await.unwrap();
    assert_eq!(lag.partitions.len(), 6);
    assert!(lag.partitions.iter().all(|p| p.lag == 0), "{lag:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_static_member_that_returns_within_its_session_keeps_its_partitions_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded_with(BrokerConfig::new(dir.path()), group_config())
        .await
        .unwrap();
    cluster.admin().create_topic(TOPIC, 6, []).unwrap();
    let reports: Reports = Arc::default();
    let seen: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut members: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|m| run_member(&cluster, m, Some(m), "range", reports.clone(), seen.clone()))
        .collect();
    let (g1, owned) = stable(&reports, &["a", "b", "c"]).await;
    assert_each_partition_owned_once(&owned);
    let c_before = reports.lock().unwrap()["c"].2.clone();

    // "c" restarts: a new process (new member id) with the same group.instance.id, back well
    // within its 1.5 s session.
    let (handle, stop) = members.pop().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    handle.await.unwrap().close().await.unwrap();
    reports.lock().unwrap().remove("c");
    members.push(run_member(
        &cluster,
        "c",
        Some("c"),
        "range",
        reports.clone(),
        seen.clone(),
    ));
    let (g2, owned) = stable(&reports, &["a", "b", "c"]).await;
    assert_eq!(g2, g1, "the return of a static member must not start a rebalance");
    assert_eq!(
        reports.lock().unwrap()["c"].2,
        c_before,
        "the static member keeps its partitions"
    );
    assert_each_partition_owned_once(&owned);
    for (handle, stop) in members {
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        handle.await.unwrap().close().await.unwrap();
    }
    cluster.shutdown().await;
}
