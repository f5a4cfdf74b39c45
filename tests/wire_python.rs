//! The Python Kafka clients (confluent-kafka, i.e. librdkafka, and the pure-Python kafka-python)
//! against `runnel serve`. The scripts live in `tests/python/`; each takes the bootstrap address
//! and its parameters as arguments, checks its own results, prints a JSON summary and exits
//! non-zero with a readable message when a check fails.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{Server, python};

macro_rules! require_python_clients {
    () => {
        if !support::python_clients_or_skip("kafka, confluent_kafka", "kafka-python confluent-kafka") {
            return;
        }
    };
}

/// 100k records through confluent-kafka: an idempotent acks=all producer, a 3-process consumer
/// group that together sees every record exactly once with synchronous commits, then 10k more
/// records, a broker restart, and one consumer in the same group that gets exactly the new ones.
#[test]
fn confluent_kafka_group_delivers_100k_exactly_once_and_resumes_after_restart() {
    require_python_clients!();
    let started = Instant::now();
    let mut server = Server::start(&[
        "num.partitions=1",
        // Members starting within this window join the first generation together.
        "group.initial.rebalance.delay.ms=1500",
        "group.min.session.timeout.ms=1000",
    ]);
    let b = server.bootstrap();
    let limit = Duration::from_secs(60);

    let out = python("ck_produce.py", &[&b, "events", "0", "100000", "6"], limit);
    assert!(out.contains("\"produced\": 100000"), "{out}");
    let out = python(
        "ck_group.py",
        &[&b, "events", "py", "3", "0", "100000", "1", "45"],
        limit,
    );
    assert!(
        out.contains("\"unique\": 100000") && out.contains("\"duplicates\": 0"),
        "{out}"
    );

    python("ck_produce.py", &[&b, "events", "100000", "10000"], limit);
    server.restart();
    assert_eq!(server.bootstrap(), b, "restarted on the same port");
    // One member, same group: exactly the 10k new records, and nothing more for 2 s after them.
    let out = python(
        "ck_group.py",
        &[&b, "events", "py", "1", "100000", "10000", "2", "30"],
        limit,
    );
    assert!(
        out.contains("\"unique\": 10000") && out.contains("\"total\": 10000"),
        "{out}"
    );
    eprintln!(
        "confluent-kafka group test took {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// confluent-kafka's offsets_for_times gives the first offset at or after each timestamp, and
/// -1 past the end.
#[test]
fn confluent_kafka_offsets_for_times() {
    require_python_clients!();
    let server = Server::start(&[]);
    let out = python(
        "ck_times.py",
        &[&server.bootstrap(), "stamped"],
        Duration::from_secs(40),
    );
    assert!(out.contains("\"failures\": []"), "{out}");
}

/// kafka-python (which probes the broker's API versions): 20k records through KafkaProducer and a
/// 3-member KafkaConsumer group with synchronous commits; after a broker restart a consumer in the
/// same group gets exactly the records produced after those commits; then offsets_for_times.
#[test]
fn kafka_python_round_trip_group_resume_after_restart_and_offsets_for_times() {
    require_python_clients!();
    let started = Instant::now();
    let mut server = Server::start(&[
        "group.initial.rebalance.delay.ms=1000",
        "group.min.session.timeout.ms=1000",
    ]);
    let b = server.bootstrap();
    let limit = Duration::from_secs(60);
    let out = python(
        "kp_roundtrip.py",
        &[&b, "kp-events", "20000", "40", "group"],
        limit,
    );
    assert!(
        out.contains("\"unique\": 20000") && out.contains("\"duplicates\": 0"),
        "{out}"
    );
    server.restart();
    let out = python(
        "kp_roundtrip.py",
        &[&b, "kp-events", "20000", "30", "resume"],
        limit,
    );
    assert!(
        out.contains("\"unique\": 1000") && out.contains("\"failures\": []"),
        "{out}"
    );
    eprintln!("kafka-python test took {:.2} s", started.elapsed().as_secs_f64());
}
