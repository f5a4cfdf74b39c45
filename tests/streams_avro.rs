//! A DSL pipeline over Avro topics on the embedded cluster and its embedded schema registry:
//! purchases, some written with an older schema version, are totalled per customer and the
//! totals written as Avro; the output read back with the Avro serde equals a fold of the input,
//! and the registry holds the subjects and versions the pipeline's serdes registered.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use runnel::prelude::*;
use runnel::registry::Registry;
use runnel::stream_core::group::GroupConfig;
use runnel::stream_core::{BrokerConfig, TopicName, TopicPartition};
use runnel::stream_dsl::serde::{AvroConfig, AvroSerde};
use serde::{Deserialize, Serialize};

const APP: &str = "avro-totals";

const PURCHASE_V1: &str = r#"{
  "type": "record", "name": "Purchase", "namespace": "shop",
  "fields": [
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "long"}
  ]
}"#;

/// v1 plus a quantity with a default: BACKWARD compatible, so v2 readers read v1 records with
/// a quantity of 1.
const PURCHASE_V2: &str = r#"{
  "type": "record", "name": "Purchase", "namespace": "shop",
  "fields": [
    {"name": "customer", "type": "string"},
    {"name": "amount", "type": "long"},
    {"name": "quantity", "type": "int", "default": 1}
  ]
}"#;

const TOTALS: &str = r#"{
  "type": "record", "name": "Totals", "namespace": "shop",
  "fields": [
    {"name": "purchases", "type": "long"},
    {"name": "spent", "type": "long"}
  ]
}"#;

/// The old producers' type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PurchaseV1 {
    customer: String,
    amount: i64,
}

/// The pipeline's type (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Purchase {
    customer: String,
    amount: i64,
    quantity: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    purchases: i64,
    spent: i64,
}

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

/// The cluster's registry, opened on the blocking pool (it replays `_schemas` from disk).
async fn registry(cluster: &Cluster) -> Arc<Registry> {
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.schema_registry())
        .await
        .unwrap()
        .unwrap()
}

fn key_serde(registry: &Arc<Registry>) -> AvroSerde<String> {
    AvroSerde::new(AvroConfig::new(registry.clone()).with_key(true), r#""string""#).unwrap()
}

fn value_serde<T>(registry: &Arc<Registry>, schema: &str) -> AvroSerde<T> {
    Serdes::avro(AvroConfig::new(registry.clone()), schema).unwrap()
}

fn topology(registry: &Arc<Registry>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Purchase>(
            "purchases",
            Consumed::with(
                key_serde(registry),
                value_serde::<Purchase>(registry, PURCHASE_V2),
            ),
        )
        .group_by_key(Grouped::with(
            key_serde(registry),
            value_serde::<Purchase>(registry, PURCHASE_V2),
        ))
        .aggregate(
            Totals::default,
            |_, p: Purchase, t: Totals| Totals {
                purchases: t.purchases + 1,
                spent: t.spent + p.amount * i64::from(p.quantity),
            },
            Materialized::as_("totals")
                .with_key_serde(key_serde(registry))
                .with_value_serde(value_serde::<Totals>(registry, TOTALS)),
        )
        .to_stream()
        .to(
            "customer-totals",
            Produced::with(key_serde(registry), value_serde::<Totals>(registry, TOTALS)),
        );
    builder.build().unwrap()
}

/// A deterministic stream of purchases: the first `old` as v1 records, the rest as v2.
fn purchases(n: usize, old: usize) -> Vec<(String, Result<PurchaseV1, Purchase>)> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    (0..n)
        .map(|i| {
            let customer = format!("c{}", next(7));
            let amount = 1 + next(500) as i64;
            let p = if i < old {
                Ok(PurchaseV1 {
                    customer: customer.clone(),
                    amount,
                })
            } else {
                Err(Purchase {
                    customer: customer.clone(),
                    amount,
                    quantity: 1 + next(4) as i32,
                })
            };
            (customer, p)
        })
        .collect()
}

/// Totals per customer, folded directly; a v1 purchase counts with the v2 default quantity 1.
fn reference(input: &[(String, Result<PurchaseV1, Purchase>)]) -> BTreeMap<String, Totals> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for (customer, p) in input {
        let (amount, quantity) = match p {
            Ok(v1) => (v1.amount, 1),
            Err(v2) => (v2.amount, i64::from(v2.quantity)),
        };
        let t = totals.entry(customer.clone()).or_default();
        t.purchases += 1;
        t.spent += amount * quantity;
    }
    totals
}

async fn produce(cluster: &Cluster, topic: &str, records: Vec<(Bytes, Bytes)>) {
    let producer = cluster.producer(ProducerConfig::default()).unwrap();
    let mut last = None;
    for (k, v) in records {
        let mut r = ProducerRecord::new(topic, v);
        r.key = Some(k);
        last = Some(producer.send(r).unwrap());
    }
    producer.flush().await;
    if let Some(last) = last {
        last.await.unwrap();
    }
}

/// Waits until the application's group has no lag and no topic grew across two checks.
async fn wait_idle(cluster: &Cluster, app: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_ends = None;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            Instant::now() < deadline,
            "the application did not catch up in 60 s"
        );
        let Ok(lag) = cluster.admin().describe_group(app).await else {
            continue;
        };
        let ends: Vec<i64> = lag.partitions.iter().map(|p| p.end_offset).collect();
        let idle = !lag.partitions.is_empty() && lag.partitions.iter().all(|p| p.lag == 0);
        if idle && last_ends.as_ref() == Some(&ends) {
            return;
        }
        last_ends = Some(ends);
    }
}

/// The latest value per key of `topic`, read to its end and decoded with the Avro serdes.
async fn read_table(
    cluster: &Cluster,
    topic: &str,
    keys: &AvroSerde<String>,
    values: &AvroSerde<Totals>,
) -> BTreeMap<String, Totals> {
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
            let key: String = keys.deserialize(topic, r.key.as_deref()).unwrap();
            let value: Totals = values.deserialize(topic, r.value.as_deref()).unwrap();
            table.insert(key, value);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_totals_per_customer_equal_a_fold_across_two_schema_versions() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path()).await;
    for t in ["purchases", "customer-totals"] {
        cluster.admin().create_topic(t, 3, []).unwrap();
    }
    let registry = registry(&cluster).await;

    // Old producers write v1; after they upgrade, v2 (registered as version 2).
    let input = purchases(400, 150);
    let keys = key_serde(&registry);
    let old = value_serde::<PurchaseV1>(&registry, PURCHASE_V1);
    let new = value_serde::<Purchase>(&registry, PURCHASE_V2);
    let records: Vec<(Bytes, Bytes)> = input
        .iter()
        .map(|(customer, p)| {
            let key = keys.serialize("purchases", customer).unwrap().unwrap();
            let value = match p {
                Ok(v1) => old.serialize("purchases", v1),
                Err(v2) => new.serialize("purchases", v2),
            };
            (key, value.unwrap().unwrap())
        })
        .collect();
    produce(&cluster, "purchases", records).await;

    let mut streams = Streams::new(
        topology(&registry),
        StreamsConfig::new(APP)
            .with_state_dir(dir.path().join("state"))
            .with_commit_interval(Duration::from_millis(100))
            .with_group_timeouts(Duration::from_millis(2_000), Duration::from_millis(100)),
        &cluster,
    );
    streams.start().await.unwrap();
    wait_idle(&cluster, APP).await;
    streams.close().await.unwrap();

    // A fresh serde, as another application reading the output would have.
    let out = read_table(
        &cluster,
        "customer-totals",
        &key_serde(&registry),
        &value_serde::<Totals>(&registry, TOTALS),
    )
    .await;
    assert_eq!(out, reference(&input));

    let subjects = registry.subjects(false);
    for expected in [
        "purchases-key",
        "purchases-value",
        "customer-totals-key",
        "customer-totals-value",
    ] {
        assert!(
            subjects.iter().any(|s| s == expected),
            "{expected} not in {subjects:?}"
        );
    }
    // The store's changelog topic is a topic like any other: its records are Confluent Avro
    // too, under the changelog's subjects.
    let changelog = format!("{APP}-totals-changelog");
    assert!(
        subjects.iter().any(|s| *s == format!("{changelog}-value")),
        "no subject for {changelog} in {subjects:?}"
    );
    assert_eq!(registry.versions("purchases-value", false).unwrap(), [1, 2]);
    assert_eq!(registry.versions("customer-totals-value", false).unwrap(), [1]);
    let ids: Vec<u32> = ["customer-totals-value", &format!("{changelog}-value")]
        .iter()
        .map(|s| {
            let v = registry.version(s, runnel::registry::VersionSpec::Latest, false);
            v.unwrap().id
        })
        .collect();
    assert_eq!(ids[0], ids[1], "one schema, one global id, under two subjects");

    drop(streams);
    cluster.shutdown().await;
}
