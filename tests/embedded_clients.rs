//! The native clients' remaining behaviours on the embedded cluster: long-poll wakeups,
//! offsets by time, pause/resume, commits of every kind surviving a restart, and background
//! compaction.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::storage::record::{BatchBuilder, Compression};
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::broker::{FetchPartition, FetchRequest};
use runnel::stream_core::client::BatchFormat;
use runnel::stream_core::group::GroupConfig;

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(TopicName::new(topic).unwrap(), partition)
}

/// The records of `partitions` from their start, polled until `n` arrived (or 10 s passed).
async fn read_from_start(
    cluster: &Cluster,
    partitions: impl IntoIterator<Item = TopicPartition>,
    n: usize,
) -> Vec<ConsumerRecord> {
    let mut consumer = cluster.consumer(ConsumerConfig::default().with_offset_reset(OffsetReset::Earliest));
    consumer.assign(partitions).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < n && Instant::now() < deadline {
        got.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    got
}

fn quick_groups() -> GroupConfig {
    GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_wakes_when_a_record_arrives_not_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let broker = cluster.broker().clone();
    let request = FetchRequest {
        max_wait: Duration::from_secs(20),
        min_bytes: 1,
        max_bytes: 1 << 20,
        isolation: Default::default(),
        partitions: vec![FetchPartition {
            tp: tp("t", 0),
            offset: 0,
            max_bytes: 1 << 20,
        }],
    };
    let started = Instant::now();
    let waiting = tokio::spawn(async move { broker.fetch(&request).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "an empty fetch must wait for data");
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let sent = producer.send(ProducerRecord::new("t", "hello")).unwrap();
    producer.flush().await;
    sent.await.unwrap();
    let response = waiting.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woke only at the deadline"
    );
    let fetched = response[0].1.as_ref().unwrap();
    assert_eq!(
        decode_all(&fetched.records, 1 << 20).unwrap()[0].value.as_deref(),
        Some(&b"hello"[..])
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test]
async fn list_offsets_finds_records_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for (i, ts) in [1_000, 2_000, 3_000, 2_500].into_iter().enumerate() {
        let r = ProducerRecord::new("t", i.to_string()).with_timestamp(ts);
        drop(producer.send(r).unwrap());
    }
    producer.flush().await;
    let broker = cluster.broker();
    assert_eq!(broker.list_offset(&tp("t", 0), -2).unwrap().0, 0);
    assert_eq!(broker.list_offset(&tp("t", 0), -1).unwrap().0, 4);
    assert_eq!(broker.list_offset(&tp("t", 0), 1_500).unwrap(), (1, 2_000));
    assert_eq!(broker.list_offset(&tp("t", 0), 2_600).unwrap(), (2, 3_000));
    assert_eq!(broker.list_offset(&tp("t", 0), 9_999).unwrap(), (-1, -1));
    assert_eq!(
        broker.list_offset(&tp("t", 0), -3).unwrap(),
        (2, 3_000),
        "KIP-734: max timestamp"
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appender_sends_by_name_or_slot_in_order_and_refuses_what_send_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("a", 1, []).unwrap();
    cluster.admin().create_topic("b", 1, []).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    {
        let mut appender = producer.appender();
        let a = appender.topic("a").unwrap();
        for (i, v) in ["a0", "a1"].iter().enumerate() {
            appender
                .send_unobserved_to(a, None, None, Some(v.as_bytes()), &[], Some(i as i64))
                .unwrap();
        }
        appender
            .send_unobserved("b", Some(0), Some(b"k"), Some(b"b0"), &[], Some(5))
            .unwrap();
        appender
            .send_unobserved_to(a, None, None, Some(b"a2"), &[], Some(6))
            .unwrap();
        // A partition the topic lacks is refused through a slot as by name, and the
        // appender goes on.
        let by_slot = appender.send_unobserved_to(a, Some(3), None, Some(b"x"), &[], None);
        let by_name = appender.send_unobserved("a", Some(3), None, Some(b"x"), &[], None);
        assert_eq!(by_slot.unwrap_err().to_string(), by_name.unwrap_err().to_string());
        appender
            .send_unobserved_to(a, Some(0), None, Some(b"a3"), &[], Some(7))
            .unwrap();
    }
    producer.flush().await;
    assert!(producer.take_failure().is_none());
    let mut got: Vec<_> = read_from_start(&cluster, [tp("a", 0), tp("b", 0)], 5)
        .await
        .into_iter()
        .map(|r| (r.topic.to_string(), r.offset, r.timestamp, r.value.unwrap()))
        .collect();
    got.sort();
    let values: Vec<_> = got
        .iter()
        .map(|(t, o, ts, v)| (t.as_str(), *o, *ts, std::str::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(
        values,
        [
            ("a", 0, 0, "a0"),
            ("a", 1, 1, "a1"),
            ("a", 2, 6, "a2"),
            ("a", 3, 7, "a3"),
            ("b", 0, 5, "b0")
        ]
    );
    drop(producer);
    cluster.shutdown().await;
}

/// A batch of `values` (timestamps from `ts`) as a caller of `Appender::send_built` makes it.
fn built(values: &[&str], ts: i64) -> BatchBuilder {
    let mut batch = BatchBuilder::new(Compression::None);
    for (i, v) in values.iter().enumerate() {
        batch.append(ts + i as i64, Some(v.as_bytes()), Some(v.as_bytes()), &[]);
    }
    batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_batch_lands_after_the_open_batch_in_sequence_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 2, []).unwrap();
    // Idempotent (the default): a built batch with a wrong sequence would be refused by the
    // partition as out of order, and every batch after it with it.
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    assert_eq!(
        producer.batch_format("t"),
        Some(BatchFormat {
            partitions: 2,
            batch_size: ProducerConfig::default().batch_size,
            compression: ProducerConfig::default().compression,
        })
    );
    assert_eq!(producer.batch_format("missing"), None);
    assert!(
        cluster.broker().topic("missing").is_err(),
        "not created by asking"
    );
    {
        let mut appender = producer.appender();
        let t = appender.topic("t").unwrap();
        // a0 waits in the partition's open batch (linger); the built batch goes after it.
        appender
            .send_unobserved_to(t, Some(0), Some(b"a0"), Some(b"a0"), &[], Some(0))
            .unwrap();
        appender.send_built(t, 0, built(&["b1", "b2"], 1)).unwrap();
        appender
            .send_unobserved_to(t, Some(0), Some(b"a3"), Some(b"a3"), &[], Some(3))
            .unwrap();
        appender.send_built(t, 1, built(&["c0"], 10)).unwrap();
        appender.send_built(t, 0, built(&[], 0)).unwrap();
        let no_partition = appender.send_built(t, 2, built(&["x"], 0)).unwrap_err();
        assert!(no_partition.to_string().contains('2'), "{no_partition}");
        let mut huge = BatchBuilder::new(Compression::None);
        let big = vec![7u8; ProducerConfig::default().max_request_size + 1];
        huge.append(0, None, Some(&big), &[]);
        assert!(
            appender.send_built(t, 1, huge).is_err(),
            "larger than max.request.size"
        );
    }
    producer.flush().await;
    assert!(producer.take_failure().is_none());
    // The sequence went on across the built batches: the next one appends.
    {
        let mut appender = producer.appender();
        let t = appender.topic("t").unwrap();
        appender.send_built(t, 0, built(&["b4"], 4)).unwrap();
    }
    producer.flush().await;
    assert!(producer.take_failure().is_none());
    let mut got: Vec<_> = read_from_start(&cluster, [tp("t", 0), tp("t", 1)], 6)
        .await
        .into_iter()
        .map(|r| {
            let v = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
            (r.partition, r.offset, r.timestamp, v)
        })
        .collect();
    got.sort();
    let got: Vec<_> = got
        .iter()
        .map(|(p, o, ts, v)| (*p, *o, *ts, v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (0, 0, 0, "a0"),
            (0, 1, 1, "b1"),
            (0, 2, 2, "b2"),
            (0, 3, 3, "a3"),
            (0, 4, 4, "b4"),
            (1, 0, 10, "c0")
        ]
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test]
async fn paused_partitions_return_nothing_until_resumed_and_latest_skips_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 2, []).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for p in 0..2 {
        drop(
            producer
                .send(ProducerRecord::new("t", format!("old-{p}")).with_partition(p))
                .unwrap(),
        );
    }
    producer.flush().await;

    let mut latest = cluster.consumer(ConsumerConfig::default()); // auto.offset.reset=latest
    latest.assign([tp("t", 0), tp("t", 1)]).unwrap();
    // Resolve both positions now: Kafka resets a partition's position at the first poll
    // whether or not it is paused.
    assert_eq!(
        latest.position(&tp("t", 0)).await.unwrap(),
        1,
        "latest starts at the end"
    );
    assert_eq!(latest.position(&tp("t", 1)).await.unwrap(), 1);
    latest.pause(&[tp("t", 1)]).unwrap();
    for p in 0..2 {
        drop(
            producer
                .send(ProducerRecord::new("t", format!("new-{p}")).with_partition(p))
                .unwrap(),
        );
    }
    producer.flush().await;
    let got = latest.poll(Duration::from_millis(300)).await.unwrap();
    assert_eq!(
        got.iter().map(|r| r.partition).collect::<Vec<_>>(),
        [0],
        "partition 1 is paused"
    );
    assert_eq!(got[0].value.as_deref(), Some(&b"new-0"[..]));
    assert_eq!(latest.paused(), [tp("t", 1)]);
    assert!(latest.poll(Duration::from_millis(100)).await.unwrap().is_empty());
    latest.resume(&[tp("t", 1)]).unwrap();
    let got = latest.poll(Duration::from_millis(300)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_deref(), Some(&b"new-1"[..]));
    drop(producer);
    cluster.shutdown().await;
}

/// Kafka's `position` is the offset of the next record `poll` returns, not how far the
/// consumer has fetched: with one record per poll, it moves one record at a time, and what a
/// commit stores is the same.
#[tokio::test]
async fn position_is_the_next_record_poll_returns_not_the_fetch_position() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for i in 0..10 {
        drop(producer.send(ProducerRecord::new("t", format!("v{i}"))).unwrap());
    }
    producer.flush().await;
    let mut consumer = cluster.consumer(ConsumerConfig {
        max_poll_records: 1,
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default().with_group("g")
    });
    consumer.assign([tp("t", 0)]).unwrap();
    for expected in 0..3 {
        let got = consumer.poll(Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [expected]);
        assert_eq!(consumer.position(&tp("t", 0)).await.unwrap(), expected + 1);
    }
    consumer.commit_sync().await.unwrap();
    assert_eq!(
        consumer.committed(&[tp("t", 0)]).await.unwrap(),
        [(tp("t", 0), Some(3))]
    );
    drop(producer);
    consumer.close().await.unwrap();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_async_and_auto_commits_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded_with(BrokerConfig::new(dir.path()), quick_groups())
        .await
        .unwrap();
    cluster.admin().create_topic("t", 3, []).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for i in 0..30 {
        drop(
            producer
                .send(ProducerRecord::new("t", i.to_string()).with_partition(i % 3))
                .unwrap(),
        );
    }
    producer.flush().await;
    drop(producer);

    // Group "manual" commits by hand, synchronously then asynchronously.
    let mut manual = cluster.consumer(ConsumerConfig {
        enable_auto_commit: false,
        ..ConsumerConfig::default()
            .with_group("manual")
            .with_offset_reset(OffsetReset::Earliest)
    });
    manual.assign([tp("t", 0)]).unwrap();
    let got = manual.poll(Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 10);
    manual.commit_sync().await.unwrap();
    manual.seek(&tp("t", 0), 4).unwrap();
    manual.commit_async().unwrap().await.unwrap().unwrap();
    // Group "auto" commits on the interval, and on close.
    let mut auto = cluster.consumer(ConsumerConfig {
        auto_commit_interval: Duration::from_millis(10),
        ..ConsumerConfig::default()
            .with_group("auto")
            .with_offset_reset(OffsetReset::Earliest)
    });
    auto.subscribe(["t"]).unwrap();
    let mut n = 0;
    while n < 30 {
        n += auto.poll(Duration::from_millis(200)).await.unwrap().len();
    }
    auto.close().await.unwrap();
    let groups: Vec<String> = cluster
        .admin()
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group_id)
        .collect();
    assert!(
        groups.contains(&"manual".to_string()) && groups.contains(&"auto".to_string()),
        "{groups:?}"
    );
    drop(manual);
    cluster.shutdown().await;

    // After a restart the coordinator reloads __consumer_offsets.
    let cluster = Cluster::embedded_with(BrokerConfig::new(dir.path()), quick_groups())
        .await
        .unwrap();
    let manual = cluster.consumer(ConsumerConfig::default().with_group("manual"));
    assert_eq!(
        manual.committed(&[tp("t", 0)]).await.unwrap(),
        [(tp("t", 0), Some(4))]
    );
    let lag = cluster.admin().describe_group("auto").await.unwrap();
    assert_eq!(
        lag.partitions
            .iter()
            .map(|p| (p.committed, p.lag))
            .collect::<Vec<_>>(),
        [(10, 0); 3]
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn compaction_runs_in_the_background_on_compacted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.retention_check_interval = Duration::from_millis(50);
    let cluster = Cluster::embedded_with(config, Default::default()).await.unwrap();
    cluster
        .admin()
        .create_topic(
            "profiles",
            1,
            [("cleanup.policy", "compact"), ("segment.bytes", "1000")],
        )
        .unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for round in 0..20 {
        for user in 0..5 {
            let r = ProducerRecord::new("profiles", format!("v{round}")).with_key(format!("user-{user}"));
            drop(producer.send(r).unwrap());
        }
        producer.flush().await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = cluster.broker().partition(&tp("profiles", 0)).unwrap();
        let records = decode_all(&p.fetch(0, 1 << 20).unwrap().records, 1 << 20).unwrap();
        // Fetch returns whole batches from the start; count what the log still holds there.
        if records.len() < 60 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "compaction never ran: {} records",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(producer);
    cluster.shutdown().await;
}
