//! Transactions on the embedded cluster, end to end through the native clients: what
//! read_committed and read_uncommitted consumers see of committed, aborted, fenced and
//! timed-out transactions, offsets committed in transactions, restarts, and compaction.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::storage::record::{BatchBuilder, BatchHeader, Compression};
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::client::SendError;
use runnel::stream_core::group::{FetchOffsetsRequest, GroupConfig};
use runnel::stream_core::txn::{TxnConfig, TxnError, TxnState};

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(TopicName::new(topic).unwrap(), partition)
}

fn txn_producer(cluster: &Cluster, id: &str) -> Producer {
    cluster
        .producer(ProducerConfig {
            transactional_id: Some(id.into()),
            ..ProducerConfig::default()
        })
        .unwrap()
}

fn send(producer: &Producer, topic: &str, value: &str) {
    drop(
        producer
            .send(ProducerRecord::new(topic, value.to_string()).with_key(value.to_string()))
            .unwrap(),
    );
}

/// Every value a consumer with `isolation` reads from the whole topic.
async fn read_all(cluster: &Cluster, topic: &str, isolation: IsolationLevel) -> Vec<String> {
    let partitions = cluster.broker().topic(topic).unwrap().partition_count();
    let mut consumer = cluster.consumer(
        ConsumerConfig::default()
            .with_offset_reset(OffsetReset::Earliest)
            .with_isolation_level(isolation),
    );
    let tps: Vec<TopicPartition> = (0..partitions).map(|p| tp(topic, p)).collect();
    consumer.assign(tps.clone()).unwrap();
    let mut ends = BTreeMap::new();
    for t in &tps {
        ends.insert(
            t.clone(),
            cluster.broker().list_offset_with(t, -1, isolation).unwrap().0,
        );
    }
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut done = true;
        for t in &tps {
            done &= consumer.position(t).await.unwrap() >= ends[t];
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "read_all did not reach the end");
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out.sort();
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_records_are_hidden_from_read_committed_and_shown_to_read_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 2, []).unwrap();
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();

    producer.begin_transaction().unwrap();
    for v in ["c1", "c2", "c3"] {
        send(&producer, "t", v);
    }
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    for v in ["a1", "a2"] {
        send(&producer, "t", v);
    }
    producer.flush().await; // written to the log, then aborted
    producer.abort_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send(&producer, "t", "c4");
    producer.commit_transaction().await.unwrap();

    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["c1", "c2", "c3", "c4"])
    );
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadUncommitted).await,
        strings(&["a1", "a2", "c1", "c2", "c3", "c4"])
    );
    drop(producer);
    cluster.shutdown().await;
}

/// Sends a built batch of `values` to partition `p` of `topic` (`Appender::send_built`).
fn send_built(producer: &Producer, topic: &str, p: i32, values: &[&str]) -> Result<(), SendError> {
    let mut batch = BatchBuilder::new(Compression::None);
    for v in values {
        batch.append(0, Some(v.as_bytes()), Some(v.as_bytes()), &[]);
    }
    let mut appender = producer.appender();
    let slot = appender.topic(topic)?;
    appender.send_built(slot, p, batch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_batch_joins_the_transaction_and_is_refused_outside_one() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 2, []).unwrap();
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();
    let refused = send_built(&producer, "t", 0, &["outside"]).unwrap_err();
    assert!(refused.to_string().contains("send"), "{refused}");

    producer.begin_transaction().unwrap();
    send_built(&producer, "t", 0, &["c1", "c2"]).unwrap();
    send(&producer, "t", "c3");
    send_built(&producer, "t", 1, &["c4"]).unwrap();
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_built(&producer, "t", 1, &["a1"]).unwrap();
    send(&producer, "t", "a2");
    producer.flush().await; // written to the log, then aborted
    producer.abort_transaction().await.unwrap();
    assert!(producer.take_failure().is_none());

    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["c1", "c2", "c3", "c4"])
    );
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadUncommitted).await,
        strings(&["a1", "a2", "c1", "c2", "c3", "c4"])
    );
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_the_last_stable_offset_back() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let plain = cluster.producer(ProducerConfig::default()).unwrap();
    drop(plain.send(ProducerRecord::new("t", "before")).unwrap());
    plain.flush().await;
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, "t", "open");
    producer.flush().await;
    // A non-transactional record after the open transaction: committed, but above the LSO.
    drop(plain.send(ProducerRecord::new("t", "after")).unwrap());
    plain.flush().await;

    let p = cluster.broker().partition(&tp("t", 0)).unwrap();
    assert_eq!(p.high_watermark().unwrap(), 3);
    assert_eq!(
        p.last_stable_offset().unwrap(),
        1,
        "the open transaction starts at 1"
    );
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["before"])
    );
    let latest = cluster
        .broker()
        .list_offset_with(&tp("t", 0), -1, IsolationLevel::ReadCommitted)
        .unwrap();
    assert_eq!(latest.0, 1);

    producer.commit_transaction().await.unwrap();
    assert_eq!(p.last_stable_offset().unwrap(), 4, "past the commit marker");
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["after", "before", "open"])
    );
    drop((producer, plain));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_with_the_same_id_fences_the_first_whose_later_records_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let zombie = txn_producer(&cluster, "app");
    zombie.init_transactions().await.unwrap();
    zombie.begin_transaction().unwrap();
    send(&zombie, "t", "zombie-open");
    zombie.flush().await;

    let fresh = txn_producer(&cluster, "app");
    fresh.init_transactions().await.unwrap();
    assert!(fresh.producer_id().1 > zombie.producer_id().1);

    // The zombie's open transaction was aborted; its later writes and its commit are refused.
    send(&zombie, "t", "zombie-late");
    zombie.flush().await;
    let err = zombie.commit_transaction().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Txn(TxnError::InvalidTxnState { .. })),
        "the failed send makes the commit fail: {err}"
    );
    let err = zombie.abort_transaction().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Txn(TxnError::ProducerFenced { .. })),
        "{err}"
    );
    // And it stays fenced.
    assert!(zombie.begin_transaction().is_err() || zombie.commit_transaction().await.is_err());

    fresh.begin_transaction().unwrap();
    send(&fresh, "t", "fresh");
    fresh.commit_transaction().await.unwrap();

    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["fresh"])
    );
    let uncommitted = read_all(&cluster, "t", IsolationLevel::ReadUncommitted).await;
    assert!(
        !uncommitted.contains(&"zombie-late".to_string()),
        "a fenced producer's write never reaches the log: {uncommitted:?}"
    );
    drop((zombie, fresh));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_transaction_is_aborted_after_its_timeout_and_the_lso_advances() {
    let dir = tempfile::tempdir().unwrap();
    let txn = TxnConfig {
        abort_check_interval_ms: 50,
        ..TxnConfig::default()
    };
    let cluster = Cluster::embedded_with_txn(BrokerConfig::new(dir.path()), GroupConfig::default(), txn)
        .await
        .unwrap();
    cluster.admin().create_topic("t", 1, []).unwrap();
    let producer = cluster
        .producer(ProducerConfig {
            transactional_id: Some("hung".into()),
            transaction_timeout: Duration::from_millis(300),
            ..ProducerConfig::default()
        })
        .unwrap();
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, "t", "never-committed");
    producer.flush().await;
    let p = cluster.broker().partition(&tp("t", 0)).unwrap();
    assert_eq!(p.last_stable_offset().unwrap(), 0);
    let started = Instant::now();
    while p.last_stable_offset().unwrap() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the transaction never timed out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "aborted before its timeout"
    );
    assert_eq!(p.last_stable_offset().unwrap(), 2, "past the abort marker");
    let meta = cluster.transaction_coordinator().describe("hung").unwrap();
    assert_eq!(meta.state, TxnState::CompleteAbort);
    assert!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted)
            .await
            .is_empty()
    );
    // The producer was fenced by the abort's epoch bump.
    assert!(matches!(
        producer.commit_transaction().await,
        Err(ClientError::Txn(TxnError::ProducerFenced { .. }))
    ));
    drop(producer);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_to_a_transaction_count_only_if_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster.admin().create_topic("in", 1, []).unwrap();
    cluster.admin().create_topic("out", 1, []).unwrap();
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();
    let group = ConsumerGroupMetadata::new("g");
    let committed = |cluster: Cluster| async move {
        let request = FetchOffsetsRequest {
            group_id: "g".into(),
            partitions: None,
        };
        let offsets = cluster.group_coordinator().fetch_offsets(request).await.unwrap();
        offsets.first().map(|o| o.offset)
    };

    producer.begin_transaction().unwrap();
    send(&producer, "out", "x");
    producer
        .send_offsets_to_transaction(&[(tp("in", 0), 5)], &group)
        .await
        .unwrap();
    assert!(cluster.group_coordinator().has_unstable_offsets("g", None));
    assert_eq!(committed(cluster.clone()).await, None, "not before the commit");
    producer.commit_transaction().await.unwrap();
    assert!(!cluster.group_coordinator().has_unstable_offsets("g", None));
    assert_eq!(committed(cluster.clone()).await, Some(5));

    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&[(tp("in", 0), 9)], &group)
        .await
        .unwrap();
    producer.abort_transaction().await.unwrap();
    assert_eq!(
        committed(cluster.clone()).await,
        Some(5),
        "an aborted commit changes nothing"
    );

    // A third one, committed, survives a restart; so does what the abort left.
    producer.begin_transaction().unwrap();
    producer
        .send_offsets_to_transaction(&[(tp("in", 0), 12)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    drop(producer);
    cluster.shutdown().await;
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    assert_eq!(committed(cluster.clone()).await, Some(12));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_an_open_transaction_is_fenced_by_its_successor_and_commits_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cluster = Cluster::embedded(dir.path()).await.unwrap();
        cluster.admin().create_topic("t", 1, []).unwrap();
        let producer = txn_producer(&cluster, "app");
        producer.init_transactions().await.unwrap();
        producer.begin_transaction().unwrap();
        send(&producer, "t", "committed");
        producer.commit_transaction().await.unwrap();
        producer.begin_transaction().unwrap();
        send(&producer, "t", "open-at-crash");
        producer.flush().await;
        // No clean shutdown of the producer: the transaction stays open in the log.
        std::mem::forget(producer);
        cluster.shutdown().await;
    }
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    let meta = cluster.transaction_coordinator().describe("app").unwrap();
    assert_eq!(
        meta.state,
        TxnState::Ongoing,
        "the open transaction is remembered"
    );
    let p = cluster.broker().partition(&tp("t", 0)).unwrap();
    assert_eq!(
        p.last_stable_offset().unwrap(),
        2,
        "and still holds the LSO after the restart"
    );
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();
    assert_eq!(p.last_stable_offset().unwrap(), p.high_watermark().unwrap());
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["committed"])
    );
    drop(producer);
    cluster.shutdown().await;
    // The aborted-transaction index survives a restart too.
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadCommitted).await,
        strings(&["committed"])
    );
    assert_eq!(
        read_all(&cluster, "t", IsolationLevel::ReadUncommitted).await,
        strings(&["committed", "open-at-crash"])
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_never_lets_an_aborted_write_replace_a_committed_value() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::embedded(dir.path()).await.unwrap();
    cluster
        .admin()
        .create_topic(
            "kv",
            1,
            [
                ("cleanup.policy", "compact"),
                ("segment.bytes", "200"),
                ("min.cleanable.dirty.ratio", "0.01"),
            ],
        )
        .unwrap();
    let producer = txn_producer(&cluster, "app");
    producer.init_transactions().await.unwrap();
    let put = |value: &str| ProducerRecord::new("kv", value.to_string()).with_key("k");
    producer.begin_transaction().unwrap();
    drop(producer.send(put("committed")).unwrap());
    producer.commit_transaction().await.unwrap();
    producer.begin_transaction().unwrap();
    drop(producer.send(put("aborted")).unwrap());
    producer.flush().await;
    producer.abort_transaction().await.unwrap();
    // Roll past the data so the segments holding both are cleanable.
    for i in 0..20 {
        producer.begin_transaction().unwrap();
        drop(
            producer
                .send(ProducerRecord::new("kv", "filler").with_key(format!("f{i}")))
                .unwrap(),
        );
        producer.commit_transaction().await.unwrap();
    }
    let p = cluster.broker().partition(&tp("kv", 0)).unwrap();
    // Every stored record, control batches left out (a fetch stops at a segment's end).
    let stored = || {
        let mut out = Vec::new();
        let mut offset = p.log_start_offset().unwrap();
        while offset < p.high_watermark().unwrap() {
            let bytes = p.fetch(offset, 1 << 20).unwrap().records;
            let mut at = 0;
            while at < bytes.len() {
                let header = BatchHeader::parse(&bytes[at..]).unwrap();
                offset = header.next_offset();
                at += header.size();
            }
            out.extend(decode_all(&bytes, 1 << 20).unwrap());
        }
        out
    };
    let before = stored().len();
    cluster.broker().run_cleanup();
    let after = stored();
    assert!(
        after.len() < before,
        "the cleaner ran: {before} -> {}",
        after.len()
    );
    let values: Vec<&[u8]> = after
        .iter()
        .filter(|r| r.key.as_deref() == Some(&b"k"[..]))
        .filter_map(|r| r.value.as_deref())
        .collect();
    assert_eq!(
        values,
        [&b"committed"[..]],
        "the aborted write is gone, the committed value kept"
    );
    let committed = read_all(&cluster, "kv", IsolationLevel::ReadCommitted).await;
    assert!(committed.contains(&"committed".to_string()));
    drop(producer);
    cluster.shutdown().await;
}
