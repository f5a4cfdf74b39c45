//! Transactions (KIP-98) through real clients against `runnel serve`: confluent-kafka
//! (Python), the `rdkafka` crate and kcat — all librdkafka, each a different way in. Committed
//! records and offsets must become visible to read_committed consumers, aborted ones never,
//! and a producer fenced by a newer one of its transactional id must fail and leave nothing
//! visible.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use support::{Server, have, python};

const TIMEOUT: Duration = Duration::from_secs(30);

// ---- confluent-kafka ---------------------------------------------------------------------------

macro_rules! require_confluent_kafka {
    () => {
        if !support::python_can_import("confluent_kafka") {
            eprintln!("SKIPPED: python3 cannot import confluent_kafka (scripts/deps.sh installs it)");
            return;
        }
    };
}

/// Commit, abort, commit with confluent-kafka; the script checks what read_committed and
/// read_uncommitted consumers see and the group's committed offset (see ck_txn.py). Then kcat
/// reads the same topic both ways.
#[test]
fn confluent_kafka_commits_and_aborts_transactions_with_offsets() {
    require_confluent_kafka!();
    let server = Server::start(&["num.partitions=2", "group.initial.rebalance.delay.ms=0"]);
    let b = server.bootstrap();
    let out = python(
        "ck_txn.py",
        &[&b, "out-a", "out-b", "src", "ck-group", "20"],
        Duration::from_secs(120),
    );
    assert!(out.contains("\"read_committed\": 40"), "{out}");
    assert!(out.contains("\"read_uncommitted\": 60"), "{out}");
    assert!(out.contains("\"committed_offset\": 4"), "{out}");

    // Transactions 1 and 3 wrote c1-{even i} and c3-{even i} to out-a, transaction 2 a2-{even i}.
    let evens = |prefix: &'static str| (0..20).step_by(2).map(move |i| format!("{prefix}-{i}"));
    let committed: Vec<String> = evens("c1").chain(evens("c3")).collect();
    let all: Vec<String> = evens("c1").chain(evens("a2")).chain(evens("c3")).collect();
    check_with_kcat(&b, "out-a", &committed, &all);
}

// ---- kcat ------------------------------------------------------------------------------------

/// The values of `topic` (every partition, to its end) that kcat reads at `isolation`, sorted;
/// `None` when kcat is not installed.
fn kcat_values(bootstrap: &str, topic: &str, isolation: &str) -> Option<Vec<String>> {
    if !have("kcat") {
        return None;
    }
    let isolation = format!("isolation.level={isolation}");
    let out = Command::new("kcat")
        .args([
            "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%s\\n", "-X", &isolation,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kcat -X {isolation}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut values: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    values.sort();
    Some(values)
}

/// kcat at read_committed sees exactly `committed`; at read_uncommitted (stated explicitly:
/// librdkafka's default is read_committed) it sees `all`, the aborted records too.
fn check_with_kcat(bootstrap: &str, topic: &str, committed: &[String], all: &[String]) {
    let sorted = |values: &[String]| {
        let mut v = values.to_vec();
        v.sort();
        v
    };
    let Some(read_committed) = kcat_values(bootstrap, topic, "read_committed") else {
        eprintln!("SKIPPED the kcat checks: kcat is not installed (scripts/deps.sh installs it)");
        return;
    };
    assert_eq!(
        read_committed,
        sorted(committed),
        "kcat read_committed of {topic}"
    );
    let read_uncommitted = kcat_values(bootstrap, topic, "read_uncommitted").unwrap();
    assert_eq!(read_uncommitted, sorted(all), "kcat read_uncommitted of {topic}");
}

// ---- the rdkafka crate -----------------------------------------------------------------------

fn transactional_producer(bootstrap: &str, id: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap();
    producer.init_transactions(TIMEOUT).unwrap();
    producer
}

/// Sends `values` to `topic`, alternating partitions 0 and 1, waiting while the queue is full.
/// Stops at the first other error (a fenced producer refuses every send).
fn send(producer: &BaseProducer, topic: &str, values: &[String]) -> Result<(), KafkaError> {
    for (i, value) in values.iter().enumerate() {
        let key = format!("k{i}");
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload(value)
            .partition(i as i32 % 2);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e),
            }
        }
        producer.poll(Duration::ZERO);
    }
    Ok(())
}

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

/// Every value of `topic`'s two partitions at `isolation`, read from the start until both
/// partitions are at their end, sorted.
fn read_back(bootstrap: &str, topic: &str, isolation: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..2 {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut seen = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while at_end.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "{isolation} read of {topic} did not reach the end"
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("{isolation} read of {topic}: {e}"),
            Some(Ok(m)) => seen.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap()),
        }
    }
    seen.sort();
    seen
}

/// A group member of `topic`, polled until it has partitions, for real group metadata.
fn group_member(bootstrap: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while consumer.assignment().unwrap().count() == 0 {
        assert!(
            Instant::now() < deadline,
            "no assignment for {group} within {TIMEOUT:?}"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer
}

/// The rdkafka crate's transactional API: a commit with consumer offsets, then an abort with
/// other offsets; a read_committed consumer sees only the committed records, the group keeps
/// the committed transaction's offset, and kcat agrees.
#[test]
fn rdkafka_transactions_commit_and_abort_with_offsets() {
    let server = Server::start(&["num.partitions=2", "group.initial.rebalance.delay.ms=0"]);
    let b = server.bootstrap();
    let seed: BaseProducer = ClientConfig::new().set("bootstrap.servers", &b).create().unwrap();
    send(&seed, "src", &values("s", 10)).unwrap();
    seed.flush(TIMEOUT).unwrap();
    let member = group_member(&b, "rd-group", "src");
    let metadata = member.group_metadata().unwrap();

    let producer = transactional_producer(&b, "rd-txn");
    let offsets = |offset: i64| {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("src", 0, Offset::Offset(offset))
            .unwrap();
        list
    };
    producer.begin_transaction().unwrap();
    send(&producer, "orders", &values("committed", 30)).unwrap();
    producer
        .send_offsets_to_transaction(&offsets(3), &metadata, TIMEOUT)
        .unwrap();
    producer.commit_transaction(TIMEOUT).unwrap();

    producer.begin_transaction().unwrap();
    send(&producer, "orders", &values("aborted", 30)).unwrap();
    producer
        .send_offsets_to_transaction(&offsets(7), &metadata, TIMEOUT)
        .unwrap();
    // Delivered first, so there is written data for the abort to undo.
    producer.flush(TIMEOUT).unwrap();
    producer.abort_transaction(TIMEOUT).unwrap();

    let mut committed = values("committed", 30);
    committed.sort();
    let mut all = [values("committed", 30), values("aborted", 30)].concat();
    all.sort();
    assert_eq!(read_back(&b, "orders", "read_committed"), committed);
    assert_eq!(read_back(&b, "orders", "read_uncommitted"), all);

    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("src", 0);
    let stored = member.committed_offsets(wanted, TIMEOUT).unwrap();
    assert_eq!(
        stored.find_partition("src", 0).unwrap().offset(),
        Offset::Offset(3),
        "the committed transaction's offset, not the aborted one's"
    );
    check_with_kcat(&b, "orders", &committed, &all);
}

/// Zombie fencing: a second producer with the same transactional id fences the first. The
/// first's next transactional operation fails with a fencing error, and none of its records —
/// those of the transaction the second one aborted, nor any sent later — are visible to
/// read_committed; the second producer's are.
#[test]
fn a_second_producer_of_a_transactional_id_fences_the_first() {
    let server = Server::start(&["num.partitions=2"]);
    let b = server.bootstrap();
    let zombie = transactional_producer(&b, "fenced-txn");
    zombie.begin_transaction().unwrap();
    send(&zombie, "events", &values("zombie-early", 10)).unwrap();
    zombie.flush(TIMEOUT).unwrap();

    let successor = transactional_producer(&b, "fenced-txn");
    // Refused by the broker (the epoch is stale), or by the client once it knows it is fenced.
    let _ = send(&zombie, "events", &values("zombie-late", 10));
    let _ = zombie.flush(TIMEOUT);
    let error = zombie
        .commit_transaction(TIMEOUT)
        .expect_err("a fenced producer's commit must fail");
    let fenced = match &error {
        KafkaError::Transaction(e) => {
            matches!(
                e.code(),
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            ) && e.is_fatal()
        }
        _ => false,
    };
    assert!(fenced, "expected a fatal fencing error, got {error:?}");

    successor.begin_transaction().unwrap();
    send(&successor, "events", &values("successor", 10)).unwrap();
    successor.commit_transaction(TIMEOUT).unwrap();

    let mut want = values("successor", 10);
    want.sort();
    assert_eq!(read_back(&b, "events", "read_committed"), want);
    // read_uncommitted shows what the zombie did get into the log before it was fenced (its
    // aborted first transaction): it was there, and read_committed hid it.
    let uncommitted = read_back(&b, "events", "read_uncommitted");
    let by_prefix = uncommitted
        .iter()
        .fold(BTreeMap::<&str, usize>::new(), |mut m, v| {
            *m.entry(v.rsplit_once('-').unwrap().0).or_default() += 1;
            m
        });
    assert_eq!(by_prefix.get("zombie-early"), Some(&10), "{by_prefix:?}");
    assert_eq!(by_prefix.get("successor"), Some(&10), "{by_prefix:?}");
}
