//! The DSL on a network cluster: the same word-count application as the embedded tests, run
//! through `KafkaCluster` (librdkafka) against a real `runnel serve` on loopback, under
//! at-least-once and exactly-once, and handed over between two instances.

#![allow(clippy::unwrap_used)]

#[path = "support/streams.rs"]
mod streams_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use runnel::prelude::*;
use streams_support::{sample_lines, word_count_reference, word_count_topology};
use support::Server;

const PARTITIONS: i32 = 4;

fn server() -> Server {
    Server::start(&[
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=100",
    ])
}

fn config(app: &str, state: &Path, guarantee: ProcessingGuarantee) -> StreamsConfig {
    StreamsConfig::new(app)
        .with_state_dir(state)
        .with_processing_guarantee(guarantee)
        .with_commit_interval(Duration::from_millis(100))
        .with_group_timeouts(Duration::from_millis(3_000), Duration::from_millis(200))
}

async fn create_lines_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new("lines", PARTITIONS, TopicReplication::Fixed(1));
    let results = admin.create_topics([&topic], &AdminOptions::new()).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

fn produce_lines(bootstrap: &str, lines: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (i, line) in lines.iter().enumerate() {
        let key = i.to_string();
        let record = BaseRecord::to("lines").key(&key).payload(line);
        support::send_rdkafka(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The latest count per word in `word-counts`, read to its end as `isolation` sees it.
fn read_counts(bootstrap: &str, isolation: &str) -> BTreeMap<String, Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        // Assigned, never joined: librdkafka reports positions only with a group id.
        .set("group.id", "word-counts-reader")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some("word-counts"), Duration::from_secs(10))
        .unwrap();
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        tpl.add_partition_offset("word-counts", p, Offset::Beginning)
            .unwrap();
        let (_, high) = consumer
            .fetch_watermarks("word-counts", p, Duration::from_secs(10))
            .unwrap();
        ends.insert(p, high);
    }
    consumer.assign(&tpl).unwrap();
    let mut table = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = |consumer: &BaseConsumer| {
        let positions = consumer.position().unwrap();
        ends.iter().all(|(&p, &end)| {
            end == 0
                || matches!(
                    positions.find_partition("word-counts", p).map(|e| e.offset()),
                    Some(Offset::Offset(o)) if o >= end
                )
        })
    };
    while !done(&consumer) {
        assert!(Instant::now() < deadline, "could not read word-counts to its end");
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            if m.offset() >= ends[&m.partition()] {
                continue;
            }
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let count = m.payload().map(|v| i64::from_be_bytes(v.try_into().unwrap()));
            table.insert(key, count);
        }
    }
    table
}

/// Waits until the committed output equals `expected`; then, after a pause, checks that it
/// still does (nothing counted twice behind it).
async fn wait_for_counts(bootstrap: &str, isolation: &str, expected: &BTreeMap<String, Option<i64>>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = BTreeMap::new();
    while Instant::now() < deadline {
        let b = bootstrap.to_owned();
        let i = isolation.to_owned();
        last = tokio::task::spawn_blocking(move || read_counts(&b, &i))
            .await
            .unwrap();
        if &last == expected {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (b, i) = (bootstrap.to_owned(), isolation.to_owned());
            let again = tokio::task::spawn_blocking(move || read_counts(&b, &i))
                .await
                .unwrap();
            assert_eq!(&again, expected, "counts moved past the reference");
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("word counts did not reach the reference in 90 s: got {last:?}, expected {expected:?}");
}

async fn wait_running(streams: &Streams) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while streams.state() != State::Running {
        assert!(
            Instant::now() < deadline,
            "still {:?} after 30 s",
            streams.state()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn word_count_on_runnel_serve(guarantee: ProcessingGuarantee, isolation: &str) {
    let server = server();
    let bootstrap = server.bootstrap();
    create_lines_topic(&bootstrap).await;
    let lines = sample_lines(2_000, 7);
    let (b, l) = (bootstrap.clone(), lines.clone());
    tokio::task::spawn_blocking(move || produce_lines(&b, &l))
        .await
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut streams = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc-remote", state.path(), guarantee),
        KafkaCluster::connect(&bootstrap),
    );
    streams.start().await.unwrap();
    wait_for_counts(&bootstrap, isolation, &word_count_reference(&lines)).await;
    assert_eq!(streams.state(), State::Running);
    streams.close().await.unwrap();
    let metrics = streams.metrics();
    // 2 000 lines and their 20 000 words through the repartition topic, each once.
    assert_eq!(metrics.processed_records, 22_000, "{metrics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_word_count_on_runnel_serve_equals_a_fold() {
    word_count_on_runnel_serve(ProcessingGuarantee::AtLeastOnce, "read_uncommitted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_word_count_on_runnel_serve_equals_a_fold() {
    word_count_on_runnel_serve(ProcessingGuarantee::ExactlyOnceV2, "read_committed").await;
}

/// A second instance joins mid-stream (the first commits, then gives up half its tasks) and
/// the first then leaves (its tasks and their state move to the second): under exactly-once
/// the final counts are the reference, with nothing lost or counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_instances_on_runnel_serve_hand_over_tasks() {
    let server = server();
    let bootstrap = server.bootstrap();
    create_lines_topic(&bootstrap).await;
    let lines = sample_lines(3_000, 11);
    let (first, rest) = lines.split_at(1_000);
    let (middle, last) = rest.split_at(1_000);
    let produce = |part: &[String]| {
        let (b, l) = (bootstrap.clone(), part.to_vec());
        tokio::task::spawn_blocking(move || produce_lines(&b, &l))
    };
    let cluster = KafkaCluster::connect(&bootstrap);
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let guarantee = ProcessingGuarantee::ExactlyOnceV2;
    let mut a = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc-handover", state_a.path(), guarantee),
        &cluster,
    );
    produce(first).await.unwrap();
    a.start().await.unwrap();
    wait_for_counts(&bootstrap, "read_committed", &word_count_reference(first)).await;

    let mut b = Streams::new(
        word_count_topology(StoreType::RocksDb),
        config("wc-handover", state_b.path(), guarantee),
        &cluster,
    );
    b.start().await.unwrap();
    // Both run only once the group has settled with the tasks split between them.
    wait_running(&b).await;
    wait_running(&a).await;
    produce(middle).await.unwrap();
    wait_for_counts(
        &bootstrap,
        "read_committed",
        &word_count_reference(&lines[..2_000]),
    )
    .await;
    let b_before = b.metrics().processed_records;
    assert!(
        b_before > 0,
        "the second instance got no tasks: {:?}",
        b.metrics()
    );

    a.close().await.unwrap();
    produce(last).await.unwrap();
    wait_for_counts(&bootstrap, "read_committed", &word_count_reference(&lines)).await;
    assert!(
        b.metrics().restored_records > 0,
        "the tasks that moved restored nothing: {:?}",
        b.metrics()
    );
    b.close().await.unwrap();
}
