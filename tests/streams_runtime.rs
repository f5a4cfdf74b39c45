//! The stream runtime end to end on the embedded cluster: pipeline output equals a reference
//! fold of the same input (property tests), restarts restore state from changelogs, and two
//! instances of one application share and hand over tasks.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use runnel::prelude::*;
use runnel::stream_core::group::GroupConfig;
use runnel::stream_core::{BrokerConfig, TopicName, TopicPartition};
use serde::{Deserialize, Serialize};

async fn cluster(dir: &Path) -> Cluster {
    let group = GroupConfig {
        group_min_session_timeout_ms: 100,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    Cluster::embedded_with(BrokerConfig::new(dir.join("broker")), group)
        .await
        .unwrap()
}

fn config(app: &str, state: &Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .with_state_dir(state)
        .with_commit_interval(Duration::from_millis(100))
        .with_group_timeouts(Duration::from_millis(2_000), Duration::from_millis(100))
}

/// Waits until the application's group has no lag on any topic and no topic grew across
/// two checks — every record processed, committed, and nothing more in flight.
async fn wait_idle(cluster: &Cluster, app: &str) {
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

/// The latest value per key of `topic`, read to its end.
async fn read_table<V: 'static>(
    cluster: &Cluster,
    topic: &str,
    serde: impl Serde<Option<V>>,
) -> BTreeMap<String, Option<V>> {
    let partitions = cluster.admin().describe_topic(topic).unwrap().partitions.len() as i32;
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(TopicName::new(topic).unwrap(), p))
        .collect();
    let ends: HashMap<i32, i64> = tps
        .iter()
        .map(|tp| (tp.partition, cluster.broker().list_offset(tp, -1).unwrap().0))
        .collect();
    let mut consumer = cluster.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        fetch_max_wait: Duration::from_millis(20),
        ..ConsumerConfig::default()
    });
    consumer.assign(tps.clone()).unwrap();
    let mut table = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut done = true;
        for tp in &tps {
            if consumer.position(tp).await.unwrap() < ends[&tp.partition] {
                done = false;
            }
        }
        if done {
            return table;
        }
        assert!(Instant::now() < deadline, "could not read {topic} to its end");
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            let key = String::from_utf8(r.key.unwrap().to_vec()).unwrap();
            table.insert(key, serde.deserialize(topic, r.value.as_deref()).unwrap());
        }
    }
}

async fn produce(cluster: &Cluster, topic: &str, records: &[(Option<String>, Option<Vec<u8>>)]) {
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

fn word_count_topology(store: StoreType) -> Topology {
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

fn word_count_reference(lines: &[String]) -> BTreeMap<String, Option<i64>> {
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

fn line_records(lines: &[String]) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    lines
        .iter()
        .map(|l| (None, Some(l.clone().into_bytes())))
        .collect()
}

async fn run_word_count(dir: &Path, lines: &[String], store: StoreType) -> BTreeMap<String, Option<i64>> {
    let cluster = cluster(dir).await;
    cluster.admin().create_topic("lines", 3, []).unwrap();
    cluster.admin().create_topic("word-counts", 2, []).unwrap();
    produce(&cluster, "lines", &line_records(lines)).await;
    let mut streams = Streams::new(
        word_count_topology(store),
        config("wc", &dir.join("state")),
        &cluster,
    );
    streams.start().await.unwrap();
    wait_idle(&cluster, "wc").await;
    streams.close().await.unwrap();
    let out = read_table(&cluster, "word-counts", Serdes::i64()).await;
    cluster.shutdown().await;
    out
}

fn words() -> impl Strategy<Value = Vec<String>> {
    let word = prop::sample::select(vec!["a", "b", "c", "Kafka", "stream", "rust", "log", "x"]);
    prop::collection::vec(
        prop::collection::vec(word, 0..12).prop_map(|w| w.join(" ")),
        1..150,
    )
}

proptest! {
    // No shrinking: each case runs a whole application (up to a minute when it fails), so
    // shrinking would take hours; a failure reports the case as generated.
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn word_count_through_the_runtime_equals_a_fold(lines in words(), in_memory in any::<bool>()) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = if in_memory { StoreType::InMemory } else { StoreType::RocksDb };
        let out = rt.block_on(run_word_count(dir.path(), &lines, store));
        prop_assert_eq!(out, word_count_reference(&lines));
    }
}

// ---------------------------------------------------------------- CDC aggregation

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    order_id: String,
    customer_id: String,
    amount: i64,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ChangeEvent {
    before: Option<Order>,
    after: Option<Order>,
    op: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    orders: i64,
    revenue: i64,
}

fn cdc_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, ChangeEvent>("orders.cdc", Consumed::with(Serdes::string(), Serdes::json()))
        .map_values(|e: ChangeEvent| e.after)
        .to(
            "orders",
            Produced::with(Serdes::string(), Serdes::json::<Order>()),
        );
    builder
        .table::<String, Order>(
            "orders",
            Consumed::with(Serdes::string(), Serdes::json()),
            Materialized::as_("orders-store"),
        )
        .group_by(
            |_, o| (o.customer_id.clone(), o.clone()),
            Grouped::with(Serdes::string(), Serdes::json::<Order>()),
        )
        .aggregate(
            Totals::default,
            |_, o: Order, t: Totals| Totals {
                orders: t.orders + 1,
                revenue: t.revenue + o.amount,
            },
            |_, o: Order, t: Totals| Totals {
                orders: t.orders - 1,
                revenue: t.revenue - o.amount,
            },
            Materialized::as_("customer-totals").with_value_serde(Serdes::json::<Totals>()),
        )
        .to_stream()
        .to(
            "customer-totals",
            Produced::with(Serdes::string(), Serdes::json::<Totals>()),
        );
    builder.build().unwrap()
}

/// Op codes: 0 insert or update (by whether the order exists), 1 delete (if it exists).
fn cdc_events(ops: &[(u8, u8, u8, i64)]) -> Vec<(String, ChangeEvent)> {
    let mut rows: BTreeMap<String, Order> = BTreeMap::new();
    let mut events = Vec::new();
    for &(kind, order, customer, amount) in ops {
        let id = format!("o{order}");
        let before = rows.get(&id).cloned();
        let (after, op) = match (kind, &before) {
            (1, Some(_)) => (None, "d"),
            (1, None) => continue,
            (_, before) => {
                let o = Order {
                    order_id: id.clone(),
                    customer_id: format!("c{customer}"),
                    amount,
                    status: "open".into(),
                };
                (Some(o), if before.is_some() { "u" } else { "c" })
            }
        };
        match &after {
            Some(o) => rows.insert(id.clone(), o.clone()),
            None => rows.remove(&id),
        };
        events.push((
            id,
            ChangeEvent {
                before,
                after,
                op: op.into(),
            },
        ));
    }
    events
}

/// Revenue and order count per customer after the events, without zero rows.
fn cdc_reference(events: &[(String, ChangeEvent)]) -> BTreeMap<String, Totals> {
    let mut rows: HashMap<String, Order> = HashMap::new();
    for (id, e) in events {
        match &e.after {
            Some(o) => rows.insert(id.clone(), o.clone()),
            None => rows.remove(id),
        };
    }
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for o in rows.values() {
        let t = totals.entry(o.customer_id.clone()).or_default();
        t.orders += 1;
        t.revenue += o.amount;
    }
    totals
}

fn non_zero(table: BTreeMap<String, Option<Totals>>) -> BTreeMap<String, Totals> {
    // A customer whose orders all left keeps a row of zeros (the aggregate is not deleted,
    // as in Kafka); the reference has no row for it.
    table
        .into_iter()
        .filter_map(|(k, v)| v.filter(|t| *t != Totals::default()).map(|t| (k, t)))
        .collect()
}

fn event_records(events: &[(String, ChangeEvent)]) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    events
        .iter()
        .map(|(k, e)| (Some(k.clone()), Some(serde_json::to_vec(e).unwrap())))
        .collect()
}

async fn cdc_topics(cluster: &Cluster) {
    for t in ["orders.cdc", "orders", "customer-totals"] {
        cluster.admin().create_topic(t, 3, []).unwrap();
    }
}

proptest! {
    // No shrinking: each case runs a whole application (up to a minute when it fails), so
    // shrinking would take hours; a failure reports the case as generated.
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 0, ..ProptestConfig::default() })]

    #[test]
    fn cdc_aggregation_through_the_runtime_equals_a_fold(
        ops in prop::collection::vec((0u8..2, 0u8..20, 0u8..6, 1i64..1000), 1..300)
    ) {
        let events = cdc_events(&ops);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = rt.block_on(async {
            let cluster = cluster(dir.path()).await;
            cdc_topics(&cluster).await;
            produce(&cluster, "orders.cdc", &event_records(&events)).await;
            let mut streams = Streams::new(cdc_topology(), config("cdc", &dir.path().join("state")), &cluster);
            streams.start().await.unwrap();
            wait_idle(&cluster, "cdc").await;
            streams.close().await.unwrap();
            let out = read_table(&cluster, "customer-totals", Serdes::json::<Totals>()).await;
            cluster.shutdown().await;
            out
        });
        prop_assert_eq!(non_zero(out), cdc_reference(&events));
    }
}

// ---------------------------------------------------------------- restarts

fn sample_lines(n: usize, seed: u64) -> Vec<String> {
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

/// Runs the word count over what is in `lines` until idle; returns its metrics.
async fn run_once(cluster: &Cluster, state: &Path) -> StreamsMetrics {
    let mut streams = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc", state),
        cluster,
    );
    streams.start().await.unwrap();
    wait_idle(cluster, "wc").await;
    streams.close().await.unwrap();
    streams.metrics()
}

async fn restart_scenario(wipe_state: bool) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cluster = cluster(dir.path()).await;
    cluster.admin().create_topic("lines", 3, []).unwrap();
    cluster.admin().create_topic("word-counts", 2, []).unwrap();
    let (first, second) = (sample_lines(1_000, 1), sample_lines(1_000, 2));

    produce(&cluster, "lines", &line_records(&first)).await;
    let run1 = run_once(&cluster, &state).await;
    assert_eq!(run1.restored_records, 0, "a first run has nothing to restore");
    // Lines plus one repartitioned record per word.
    assert_eq!(run1.processed_records, 1_000 + 10_000);

    if wipe_state {
        std::fs::remove_dir_all(&state).unwrap();
    }
    produce(&cluster, "lines", &line_records(&second)).await;
    let run2 = run_once(&cluster, &state).await;
    // Only the new input is processed: the counts so far come from the store.
    assert_eq!(
        run2.processed_records,
        1_000 + 10_000,
        "the second run re-read old input"
    );
    if wipe_state {
        // Every word's count came back from the changelog (10 words in the vocabulary).
        assert!(run2.restored_records >= 10, "restored {}", run2.restored_records);
    } else {
        assert_eq!(run2.restored_records, 0, "an intact local store needs no restore");
    }

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let out = read_table(&cluster, "word-counts", Serdes::i64()).await;
    cluster.shutdown().await;
    assert_eq!(out, word_count_reference(&all));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_continues_from_the_committed_offsets_and_the_local_store() {
    restart_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_without_local_state_restores_from_the_changelog_not_the_input() {
    restart_scenario(true).await;
}

// ---------------------------------------------------------------- two instances

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_tasks_and_hand_them_over() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path()).await;
    cluster.admin().create_topic("lines", 4, []).unwrap();
    cluster.admin().create_topic("word-counts", 2, []).unwrap();
    let (first, second) = (sample_lines(2_000, 3), sample_lines(2_000, 4));

    let mut a = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc", &dir.path().join("a")),
        &cluster,
    );
    let mut b = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc", &dir.path().join("b")),
        &cluster,
    );
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.wait_until_running(Duration::from_secs(30)).await.unwrap();
    b.wait_until_running(Duration::from_secs(30)).await.unwrap();
    let members = cluster
        .admin()
        .describe_group("wc")
        .await
        .unwrap()
        .description
        .members
        .len();
    assert_eq!(members, 2);

    produce(&cluster, "lines", &line_records(&first)).await;
    wait_idle(&cluster, "wc").await;
    let (pa, pb) = (a.metrics().processed_records, b.metrics().processed_records);
    assert!(pa > 0 && pb > 0, "both instances process: a {pa}, b {pb}");
    assert_eq!(pa + pb, 2_000 + 20_000);

    b.close().await.unwrap();
    produce(&cluster, "lines", &line_records(&second)).await;
    wait_idle(&cluster, "wc").await;
    assert!(
        a.metrics().restored_records > 0,
        "b's tasks moved to a with their state"
    );
    a.close().await.unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let out = read_table(&cluster, "word-counts", Serdes::i64()).await;
    cluster.shutdown().await;
    assert_eq!(out, word_count_reference(&all));
}
