//! The `rdkafka` crate (librdkafka) against `runnel serve`: an idempotent producer and a
//! consumer-group round trip.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use runnel::stream_core::client::partitioner::partition_for_key;
use support::Server;

const RECORDS: usize = 10_000;
const PARTITIONS: i32 = 3;

/// A record's key and where it landed (partition, offset), or why it was not delivered.
type Report = Result<(String, i32, i64), String>;

/// Collects every delivery report.
#[derive(Default)]
struct Reports(Mutex<Vec<Report>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let report = match result {
            Ok(m) => Ok((
                String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                m.partition(),
                m.offset(),
            )),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().unwrap().push(report);
    }
}

fn value(i: usize) -> String {
    format!("value {i} \t ümlauts")
}

fn produce(bootstrap: &str) -> Vec<(String, i32, i64)> {
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create_with_context(Reports::default())
        .unwrap();
    for i in 0..RECORDS {
        let key = format!("key-{i}");
        let value = value(i);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(&format!("t{i}")),
            })
            .insert(Header {
                key: "empty",
                value: None::<&[u8]>,
            });
        let record = BaseRecord::to("orders")
            .key(&key)
            .payload(&value)
            .headers(headers);
        support::send_rdkafka(&producer, record);
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let reports = std::mem::take(&mut *producer.context().0.lock().unwrap());
    reports.into_iter().map(|r| r.unwrap()).collect()
}

fn group_member(bootstrap: &str, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["orders"]).unwrap();
    consumer
}

#[test]
fn idempotent_producer_and_consumer_group_round_trip_10k_keyed_records_with_headers() {
    let started = Instant::now();
    let server = Server::start(&["num.partitions=3"]);
    let b = server.bootstrap();

    let delivered = produce(&b);
    assert_eq!(delivered.len(), RECORDS, "a delivery report per record");
    for (key, partition, _) in &delivered {
        assert_eq!(
            *partition,
            partition_for_key(key.as_bytes(), PARTITIONS),
            "partition of {key}"
        );
    }
    eprintln!("produced {RECORDS} in {:?}", started.elapsed());

    let consumer = group_member(&b, "round-trip");
    let mut seen: HashMap<String, (i32, i64)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "only {} of {RECORDS} records within 60 s",
            seen.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.unwrap();
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let i: usize = key.strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(m.payload().unwrap(), value(i).as_bytes(), "value of {key}");
        assert_eq!(
            m.partition(),
            partition_for_key(key.as_bytes(), PARTITIONS),
            "partition of {key}"
        );
        let headers = m.headers().unwrap();
        assert_eq!(headers.count(), 2, "headers of {key}");
        let trace = headers.get(0);
        assert_eq!(
            (trace.key, trace.value),
            ("trace", Some(format!("t{i}").as_bytes()))
        );
        let empty = headers.get(1);
        assert_eq!((empty.key, empty.value), ("empty", None));
        assert!(
            seen.insert(key.clone(), (m.partition(), m.offset())).is_none(),
            "{key} delivered twice"
        );
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    for (key, partition, offset) in &delivered {
        assert_eq!(
            seen.get(key),
            Some(&(*partition, *offset)),
            "{key} read where it was written"
        );
    }

    // The committed offsets are the log end offsets: nothing is left to read.
    let committed = consumer.committed(Duration::from_secs(10)).unwrap();
    for element in committed.elements() {
        let (_, high) = consumer
            .fetch_watermarks("orders", element.partition(), Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            element.offset(),
            rdkafka::Offset::Offset(high),
            "partition {}",
            element.partition()
        );
    }
    assert_eq!(committed.count(), PARTITIONS as usize);
    // A partition list from librdkafka can hold references into the client, and destroying
    // the client first then waits for them forever.
    drop(committed);
    drop(consumer);

    // Another member of the same group resumes at the commits and gets nothing more.
    let again = group_member(&b, "round-trip");
    let quiet_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < quiet_until {
        if let Some(message) = again.poll(Duration::from_millis(100)) {
            let m = message.unwrap();
            panic!(
                "record redelivered after commit: partition {} offset {}",
                m.partition(),
                m.offset()
            );
        }
    }
    eprintln!("round trip in {:?}", started.elapsed());
}
