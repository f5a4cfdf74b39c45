//! The embedded broker: idempotent producers across restarts, and bad input refused with
//! Kafka's errors and nothing appended.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use runnel::prelude::*;
use runnel::stream_core::partition::Acks;
use runnel::stream_core::{Broker, BrokerConfig};

fn batch(producer_id: i64, epoch: i16, sequence: i32, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(producer_id, epoch, sequence);
    for v in values {
        b.append(1_700_000_000_000, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    b.build()
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(TopicName::new(topic).unwrap(), partition)
}

fn values(broker: &Broker, topic: &str) -> Vec<String> {
    let p = broker.partition(&tp(topic, 0)).unwrap();
    let fetched = p.fetch(0, 1 << 20).unwrap();
    decode_all(&fetched.records, 1 << 20)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
        .collect()
}

#[test]
fn resent_batches_are_acknowledged_once_also_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let t = tp("payments", 0);
    let (pid, epoch) = {
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        broker.create_topic("payments", 1, 1, Default::default()).unwrap();
        let (pid, epoch) = broker.init_producer_id().unwrap();
        let first = broker
            .produce(&t, &mut batch(pid, epoch, 0, &["a", "b"]), Acks::All)
            .unwrap();
        // The ack was "lost": the producer sends the same batch again.
        let again = broker
            .produce(&t, &mut batch(pid, epoch, 0, &["a", "b"]), Acks::All)
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(
            (again.base_offset, again.last_offset),
            (first.base_offset, first.last_offset)
        );
        broker
            .produce(&t, &mut batch(pid, epoch, 2, &["c"]), Acks::All)
            .unwrap();
        // A gap is refused.
        let gap = broker
            .produce(&t, &mut batch(pid, epoch, 9, &["x"]), Acks::All)
            .unwrap_err();
        assert!(
            matches!(
                gap,
                BrokerError::OutOfOrderSequenceNumber {
                    expected: 3,
                    got: 9,
                    ..
                }
            ),
            "{gap}"
        );
        assert_eq!(values(&broker, "payments"), ["a", "b", "c"]);
        (pid, epoch)
    }; // dropped: logs closed, producer state snapshotted on close

    // Restart with the snapshot, then once more without it (rebuilt from the log's batches).
    for drop_snapshot in [false, true] {
        let snapshot = dir.path().join("payments-0/producer-state.json");
        if drop_snapshot {
            std::fs::remove_file(&snapshot).unwrap();
        } else {
            assert!(
                snapshot.exists(),
                "a closed partition leaves its producer snapshot"
            );
        }
        let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
        let again = broker
            .produce(&t, &mut batch(pid, epoch, 2, &["c"]), Acks::All)
            .unwrap();
        assert!(
            again.duplicate,
            "retry after restart (snapshot dropped: {drop_snapshot})"
        );
        assert_eq!(again.base_offset, 2);
        assert_eq!(values(&broker, "payments"), ["a", "b", "c"]);
        // A fenced (older) epoch is refused.
        let stale = broker.produce(&t, &mut batch(pid, epoch - 1, 3, &["z"]), Acks::All);
        assert!(matches!(stale, Err(BrokerError::InvalidProducerEpoch { .. })));
    }
    // Producer ids are never handed out twice, even across restarts.
    let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
    assert!(broker.init_producer_id().unwrap().0 > pid);
}

#[tokio::test]
async fn a_compacted_topic_refuses_a_null_key_in_any_batch_and_appends_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster
        .admin()
        .create_topic("profiles", 1, [("cleanup.policy", "compact")])
        .unwrap();
    let broker = cluster.broker();
    let t = tp("profiles", 0);
    let build = |compression, records: &[(Option<&str>, &str)]| {
        let mut b = BatchBuilder::new(compression);
        for (k, v) in records {
            b.append(1_700_000_000_000, k.map(str::as_bytes), Some(v.as_bytes()), &[]);
        }
        b.build()
    };
    // From the wire, plain and compressed: one keyless record refuses the whole batch.
    for compression in [Compression::None, Compression::Gzip] {
        let mut bad = build(compression, &[(Some("ann"), "x"), (None, "y")]);
        let err = broker.produce(&t, &mut bad, Acks::All).unwrap_err();
        assert!(matches!(err, BrokerError::InvalidRecordCompacted(_)), "{err}");
        let mut good = build(compression, &[(Some("ann"), "1"), (Some("bob"), "2")]);
        broker.produce(&t, &mut good, Acks::All).unwrap();
    }
    // Through the in-process producer (its batches skip the record walk, not this check).
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let keyless = producer.send(ProducerRecord::new("profiles", "z")).unwrap();
    producer.flush().await;
    let err = keyless.await.unwrap_err();
    assert!(
        matches!(&*err, ClientError::Broker(BrokerError::InvalidRecordCompacted(_))),
        "{err}"
    );
    let keyed = producer
        .send(ProducerRecord::new("profiles", "3").with_key("cid"))
        .unwrap();
    producer.flush().await;
    assert_eq!(keyed.await.unwrap().offset, 4);
    // The producer's record (stamped now, the others in 2023) rolled a new segment, and a
    // read stops at a segment's end: read on from each batch's end.
    let p = broker.partition(&t).unwrap();
    let mut stored = Vec::new();
    for _ in 0..10 {
        if stored.len() as i64 >= p.log_end_offset().unwrap() {
            break;
        }
        let fetched = p.fetch(stored.len() as i64, 1 << 20).unwrap();
        for r in decode_all(&fetched.records, 1 << 20).unwrap() {
            if r.offset == stored.len() as i64 {
                stored.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    assert_eq!(stored, ["1", "2", "1", "2", "3"]);
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_kafkas_errors_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.auto_create_topics = false;
    config.log_defaults.max_message_bytes = 1_000;
    let cluster = Cluster::embedded_with(config, Default::default()).await.unwrap();
    let admin = cluster.admin();
    admin.create_topic("orders", 2, []).unwrap();

    for bad in ["", ".", "..", "has space", "slash/name", &"x".repeat(250)] {
        let err = admin.create_topic(bad, 1, []).unwrap_err();
        assert!(matches!(err, BrokerError::InvalidTopic { .. }), "{bad:?}: {err}");
    }
    let dup = admin.create_topic("orders", 1, []).unwrap_err();
    assert!(matches!(dup, BrokerError::TopicAlreadyExists(_)));
    let zero = admin.create_topic("zero", 0, []).unwrap_err();
    assert!(matches!(zero, BrokerError::InvalidPartitions { .. }));
    let config = admin
        .create_topic("cfg", 1, [("retention.ms", "soon")])
        .unwrap_err();
    assert!(matches!(config, BrokerError::InvalidConfig { .. }));

    let producer = cluster
        .producer(ProducerConfig {
            linger: Duration::from_millis(1),
            ..ProducerConfig::default()
        })
        .unwrap();
    let unknown_topic = producer.send(ProducerRecord::new("nope", "v")).unwrap_err();
    assert!(
        matches!(
            *unknown_topic,
            ClientError::Broker(BrokerError::UnknownTopicOrPartition { .. })
        ),
        "{unknown_topic}"
    );
    let unknown_partition = producer
        .send(ProducerRecord::new("orders", "v").with_partition(7))
        .unwrap_err();
    assert!(matches!(
        *unknown_partition,
        ClientError::Broker(BrokerError::UnknownTopicOrPartition { partition: 7, .. })
    ));
    // Larger than the topic's max.message.bytes: the broker refuses the batch.
    let big = producer
        .send(ProducerRecord::new("orders", "x".repeat(2_000)).with_partition(0))
        .unwrap();
    let err = big.await.unwrap_err();
    assert!(
        matches!(
            &*err,
            ClientError::Broker(BrokerError::Storage(StorageError::MessageTooLarge { .. }))
        ),
        "{err}"
    );
    // Larger than max.request.size: the producer refuses it before sending.
    let huge = producer
        .send(ProducerRecord::new("orders", vec![0u8; 2 << 20]))
        .unwrap_err();
    assert!(
        matches!(
            &*huge,
            ClientError::Broker(BrokerError::Storage(StorageError::MessageTooLarge { .. }))
        ),
        "{huge}"
    );

    // Nothing reached the log; the next good record lands at offset 0.
    let ok = producer
        .send(ProducerRecord::new("orders", "fine").with_partition(0))
        .unwrap();
    producer.flush().await;
    assert_eq!(ok.await.unwrap().offset, 0);

    let mut consumer = cluster.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::None,
        ..ConsumerConfig::default()
    });
    let p0 = TopicPartition::new(TopicName::new("orders").unwrap(), 0);
    assert!(
        consumer
            .assign([TopicPartition::new(TopicName::new("orders").unwrap(), 9)])
            .is_err()
    );
    consumer.assign([p0.clone()]).unwrap();
    let negative = consumer.seek(&p0, -5).unwrap_err();
    assert!(
        matches!(
            negative,
            ClientError::Broker(BrokerError::Storage(StorageError::OffsetOutOfRange { .. }))
        ),
        "{negative}"
    );
    // Past the end, with auto.offset.reset=none, poll reports OFFSET_OUT_OF_RANGE.
    consumer.seek(&p0, 100).unwrap();
    let past = consumer.poll(Duration::from_millis(100)).await.unwrap_err();
    assert!(
        matches!(
            past,
            ClientError::Broker(BrokerError::Storage(StorageError::OffsetOutOfRange { .. }))
        ),
        "{past}"
    );
    // With a reset policy the consumer recovers.
    consumer.seek(&p0, 0).unwrap();
    let records = consumer.poll(Duration::from_secs(1)).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        cluster.broker().partition(&p0).unwrap().log_end_offset().unwrap(),
        1
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test]
async fn topics_and_configs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    let admin = cluster.admin();
    admin
        .create_topic("profiles", 3, [("cleanup.policy", "compact")])
        .unwrap();
    admin.create_partitions("profiles", 5).unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let sent = producer
        .send(ProducerRecord::new("profiles", "v1").with_key("user-1"))
        .unwrap();
    producer.flush().await;
    let sent = sent.await.unwrap();
    drop(producer);
    cluster.shutdown().await;

    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    let admin = cluster.admin();
    let description = admin.describe_topic("profiles").unwrap();
    assert_eq!(description.partitions.len(), 5);
    let configs = admin.describe_configs("profiles").unwrap();
    let policy = configs.iter().find(|c| c.name == "cleanup.policy").unwrap();
    assert_eq!(policy.value, "compact");
    let tp = TopicPartition::new(TopicName::new("profiles").unwrap(), sent.partition);
    assert_eq!(cluster.broker().list_offset(&tp, -1).unwrap().0, 1);
    // A compacted topic refuses keyless records.
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let keyless = producer
        .send(ProducerRecord::new("profiles", "v").with_partition(0))
        .unwrap();
    producer.flush().await;
    assert!(keyless.await.is_err());
    admin.delete_topic("profiles").unwrap();
    assert!(admin.describe_topic("profiles").is_err());
    assert!(!dir.path().join("profiles-0").exists());
    drop(producer);
    cluster.shutdown().await;
}

/// An embedded cluster whose retention and compaction pass runs every 50 ms.
async fn cleaning_every_50ms(dir: &std::path::Path) -> Cluster {
    let mut config = BrokerConfig::new(dir);
    config.retention_check_interval = Duration::from_millis(50);
    Cluster::embedded_with(config, Default::default()).await.unwrap()
}

/// Kafka's retention takes the active segment too once every record in it has expired: a
/// topic that stops receiving records empties, and its offsets go on from where they were.
#[tokio::test]
async fn retention_empties_a_topic_whose_records_all_expired_active_segment_included() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cleaning_every_50ms(dir.path()).await;
    cluster
        .admin()
        .create_topic("stale", 1, [("retention.ms", "60000")])
        .unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 3_600_000;
    for i in 0..10 {
        let record = ProducerRecord::new("stale", format!("old-{i}")).with_timestamp(an_hour_ago);
        drop(producer.send(record).unwrap());
    }
    producer.flush().await;
    let tp = TopicPartition::new(TopicName::new("stale").unwrap(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.broker().list_offset(&tp, -2).unwrap().0 == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired active segment was kept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cluster.broker().list_offset(&tp, -2).unwrap().0,
        10,
        "every record deleted"
    );
    assert_eq!(
        cluster.broker().list_offset(&tp, -1).unwrap().0,
        10,
        "the end does not move"
    );
    let fresh = producer.send(ProducerRecord::new("stale", "new")).unwrap();
    producer.flush().await;
    assert_eq!(
        fresh.await.unwrap().offset,
        10,
        "offsets go on after the deleted ones"
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test]
async fn retention_runs_in_the_background_by_each_topics_config() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cleaning_every_50ms(dir.path()).await;
    let admin = cluster.admin();
    admin
        .create_topic(
            "short",
            1,
            [("retention.bytes", "2000"), ("segment.bytes", "1000")],
        )
        .unwrap();
    admin
        .create_topic("long", 1, [("segment.bytes", "1000")])
        .unwrap();
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    for i in 0..100 {
        for topic in ["short", "long"] {
            let record = ProducerRecord::new(topic, format!("value-{i:04}-{}", "x".repeat(40)));
            drop(producer.send(record).unwrap()); // flushed below; the outcome shows in the offsets
        }
        producer.flush().await;
    }
    let short = TopicPartition::new(TopicName::new("short").unwrap(), 0);
    let long = TopicPartition::new(TopicName::new("long").unwrap(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cluster.broker().list_offset(&short, -2).unwrap().0 == 0 {
        assert!(std::time::Instant::now() < deadline, "retention never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cluster.broker().list_offset(&long, -2).unwrap().0,
        0,
        "no retention.bytes: nothing deleted"
    );
    assert_eq!(
        cluster.broker().list_offset(&short, -1).unwrap().0,
        100,
        "the end does not move"
    );
    drop(producer);
    cluster.shutdown().await;
}
