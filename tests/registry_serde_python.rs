//! Runnel's Avro serde and confluent-kafka's Python `AvroSerializer`/`AvroDeserializer` read
//! each other's records, exchanged over real topics on `runnel serve` (Python `Producer` and
//! `Consumer` on one side, the `rdkafka` crate on the other) with the schemas in the same
//! `runnel serve --registry-listen` registry, reached over HTTP by both (`HttpRegistryClient`
//! here). The script `tests/python/sr_serde.py` checks its side and prints a JSON summary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use runnel::registry::{HttpRegistryClient, SchemaRegistryClient};
use runnel::stream_dsl::serde::avro::apache_avro::types::Value;
use runnel::stream_dsl::serde::{AvroConfig, AvroSerde, GenericAvroSerde, Serde};
use serde::{Deserialize, Serialize};

mod support;

const RECORDS: usize = 500;

/// Runnel's type: the Python side's `USER_V1` plus an optional email (a compatible change), so
/// reading Python's records exercises schema resolution (the email takes its default).
const USER_V2: &str = r#"{"type": "record", "name": "User", "namespace": "runnel.test",
  "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"},
             {"name": "email", "type": ["null", "string"], "default": null}]}"#;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    age: i32,
    email: Option<String>,
}

/// The i-th user as `sr_serde.py` derives it (`email` only on records Runnel writes).
fn user(i: usize, with_email: bool) -> User {
    User {
        name: format!("user-{i}"),
        age: (i % 90) as i32,
        email: (with_email && i % 2 == 0).then(|| format!("user{i}@example.com")),
    }
}

/// Runs `sr_serde.py args...` (killed after 90 s; panics with its output unless it succeeds)
/// and returns its JSON summary, which must say `ok`.
fn python(args: &[&str]) -> serde_json::Value {
    let out = support::python("sr_serde.py", args, Duration::from_secs(90));
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    summary
}

/// Every record of `topic` (keys "k<i>"), by index, read with a fresh consumer group.
fn consume_all(bootstrap: &str, topic: &str, n: usize) -> BTreeMap<usize, Vec<u8>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("rust-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records of {topic} in 60 s",
            seen.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message.unwrap();
        let key = std::str::from_utf8(m.key().unwrap()).unwrap();
        let i: usize = key.strip_prefix('k').unwrap().parse().unwrap();
        assert!(
            seen.insert(i, m.payload().unwrap().to_vec()).is_none(),
            "{key} twice"
        );
    }
    seen
}

fn produce_all(bootstrap: &str, topic: &str, records: &[(String, bytes::Bytes)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .unwrap();
    for (key, value) in records {
        let record = BaseRecord::to(topic).key(key).payload(&value[..]);
        support::send_rdkafka(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

#[test]
fn python_avro_records_are_read_by_the_runnel_serde_and_the_other_way_round() {
    if !support::python_clients_or_skip(
        "confluent_kafka.schema_registry.avro, fastavro",
        "confluent-kafka[avro,schemaregistry]",
    ) {
        return;
    }
    let serve = support::Server::start_with_registry(&["num.partitions=3"]);
    let (bootstrap, registry_url) = (serve.bootstrap(), serve.registry_url());
    let http: Arc<dyn SchemaRegistryClient> = Arc::new(HttpRegistryClient::new(&registry_url));
    let n = RECORDS.to_string();

    // Python → Runnel: AvroSerializer registers its v1 schema and writes; Runnel reads v1
    // records into its v2 type (email: its default, null) and as generic values.
    let summary = python(&["produce", &bootstrap, &registry_url, "py-users", &n]);
    let python_id = summary["schema_id"].as_u64().unwrap() as u32;
    let records = consume_all(&bootstrap, "py-users", RECORDS);
    let specific = AvroSerde::<User>::new(AvroConfig::new(http.clone()), USER_V2).unwrap();
    let generic = GenericAvroSerde::new(AvroConfig::new(http.clone()));
    for (i, bytes) in &records {
        assert_eq!(bytes[0], 0, "magic byte of record {i}");
        assert_eq!(u32::from_be_bytes(bytes[1..5].try_into().unwrap()), python_id);
        let read: User = specific.deserialize("py-users", Some(bytes)).unwrap();
        assert_eq!(read, user(*i, false), "record {i}");
        let value: Value = generic.deserialize("py-users", Some(bytes)).unwrap();
        assert_eq!(
            value,
            Value::Record(vec![
                ("name".into(), Value::String(format!("user-{i}"))),
                ("age".into(), Value::Int((i % 90) as i32)),
            ]),
            "record {i} as written"
        );
    }

    // Runnel → Python: the serde registers v2 under rust-users-value over HTTP and writes;
    // Python's AvroDeserializer reads it as written and resolved into v1.
    let writer = AvroSerde::<User>::new(AvroConfig::new(http.clone()), USER_V2).unwrap();
    let out: Vec<(String, bytes::Bytes)> = (0..RECORDS)
        .map(|i| {
            (
                format!("k{i}"),
                writer.serialize("rust-users", &user(i, true)).unwrap().unwrap(),
            )
        })
        .collect();
    produce_all(&bootstrap, "rust-users", &out);
    let summary = python(&["consume", &bootstrap, &registry_url, "rust-users", &n]);
    assert_eq!(summary["consumed"], RECORDS, "{summary}");
    let registered = http.latest("rust-users-value").unwrap();
    assert_eq!(
        out[0].1[1..5],
        registered.id.to_be_bytes(),
        "records carry the registered id"
    );
}
