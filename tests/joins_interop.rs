//! Kafka Streams 4.4's stream-table joins beside Runnel's: the same input through the same
//! topologies (`interop/src/main/java/dev/runnel/interop/joins/JoinsRun.java`), in Kafka
//! Streams' `TopologyTestDriver` and in Runnel's, record cache off on both sides; each output
//! topic must hold the same records in the same order. The topologies: an inner and a left
//! stream-table join, a re-keyed stream left-joined through a repartition topic, and a left
//! join against a filtered and mapped table (no store of its own). The input has table updates
//! and tombstones, records before and after their row, out-of-order timestamps, null keys on
//! both sides and keys that never get a row. A difference fails unless the `joins` section of
//! `interop/allow-list.md` names it (`TOPIC.INDEX`) with its reason.
//!
//! Needs a JDK 17 and Maven (`tests/support/java.rs`); without them the test prints why it
//! skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/java.rs"]
#[macro_use]
mod java_support;

use std::collections::BTreeMap;
use std::time::Duration;

use java_support::{allow_list, run_main};
use runnel::prelude::*;

const NULL: &str = "\\N";
const OUTPUTS: [&str; 4] = ["inner", "left", "rekeyed", "filtered"];

/// `(topic, key, value, timestamp)`; `None` is null.
type Line = (String, Option<String>, Option<String>, i64);

fn input() -> Vec<Line> {
    let mut lines = Vec::new();
    let mut t = 1_000;
    let mut at = |topic: &str, key: Option<&str>, value: Option<&str>, dt: i64| {
        t += dt;
        lines.push((
            topic.to_string(),
            key.map(str::to_string),
            value.map(str::to_string),
            t,
        ));
    };
    at("clicks", Some("ann"), Some("/a"), 0); // before ann's row
    at("regions", Some("ann"), Some("eu"), 10);
    at("regions", Some("bob"), Some("us"), 10);
    at("clicks", Some("ann"), Some("/b"), 10);
    at("clicks", Some("bob"), Some("/c"), 10);
    at("visits", Some("v1"), Some("ann /d"), 10);
    at("visits", Some("v2"), Some("cid /e"), 10); // cid has no row
    at("regions", Some("ann"), Some("us"), 10);
    at("clicks", Some("ann"), Some("/f"), -500); // out of order: joins the row as it is now
    at("regions", Some("bob"), Some("hidden"), 10); // filtered out of the shown table
    at("clicks", Some("bob"), Some("/g"), 10);
    at("regions", Some("ann"), None, 10); // tombstone
    at("clicks", Some("ann"), Some("/h"), 10);
    at("visits", Some("v3"), Some("ann /i"), 10);
    at("clicks", None, Some("/j"), 10); // null key: inner drops it, left joins it with no row
    at("regions", None, Some("ap"), 10); // a table record with a null key is dropped
    at("clicks", Some("dee"), Some("/k"), 10);
    at("regions", Some("dee"), Some("ap"), 10);
    at("regions", Some("bob"), Some("eu"), 10);
    at("clicks", Some("dee"), Some("/l"), 10);
    at("clicks", Some("bob"), Some("/m"), 10);
    at("visits", Some("v4"), Some("dee /n"), 10);
    at("visits", Some("v5"), Some("bob /o"), 10);
    // A seeded tail: five users, rows that come, change and go, clicks and visits between.
    let users = ["ann", "bob", "cid", "dee", "eve"];
    let regions = ["eu", "us", "ap", "hidden"];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for i in 0..160 {
        let user = users[next(users.len())];
        let dt = next(40) as i64 - 10;
        match next(10) {
            0..=2 => {
                let region = (next(5) > 0).then(|| regions[next(regions.len())]);
                at("regions", Some(user), region, dt);
            }
            3..=6 => at("clicks", Some(user), Some(&format!("/p{i}")), dt),
            _ => at(
                "visits",
                Some(&format!("v{i}")),
                Some(&format!("{user} /q{i}")),
                dt,
            ),
        }
    }
    lines
}

fn field(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or(NULL)
}

fn parse(line: &str) -> Line {
    let f: Vec<&str> = line.split('\t').collect();
    assert_eq!(f.len(), 4, "an output line has 4 fields: {line:?}");
    let opt = |s: &str| (s != NULL).then(|| s.to_string());
    (f[0].to_string(), opt(f[1]), opt(f[2]), f[3].parse().unwrap())
}

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let out = || Produced::with(Serdes::string(), Serdes::string());
    let or_dash = |r: Option<&String>| r.map_or("-".to_string(), String::clone);
    let regions = builder.table::<Option<String>, String>("regions", strings(), Materialized::as_("regions"));
    let clicks = builder.stream::<Option<String>, String>("clicks", strings());
    clicks
        .clone()
        .join_table(
            &regions,
            |page, region| format!("{page}@{region}"),
            Joined::default(),
        )
        .to("inner", out());
    clicks
        .clone()
        .left_join_table(
            &regions,
            move |page, region| format!("{page}@{}", or_dash(region)),
            Joined::default(),
        )
        .to("left", out());
    builder
        .stream::<Option<String>, String>("visits", strings())
        .select_key(|_, visit| visit.split(' ').next().map(str::to_string))
        .left_join_table(
            &regions,
            move |visit, region| format!("{visit}@{}", or_dash(region)),
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()).with_name("by-user"),
        )
        .to("rekeyed", out());
    let shown = regions
        .filter(|_, region| region != "hidden")
        .map_values(|region| region.to_uppercase());
    clicks
        .left_join_table(
            &shown,
            move |page, region| format!("{page}@{}", or_dash(region)),
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()),
        )
        .to("filtered", out());
    builder.build().unwrap()
}

fn runnel(input: &[Line]) -> Vec<Line> {
    let driver = TopologyTestDriver::new(topology()).unwrap();
    let topics: BTreeMap<&str, TestInputTopic<Option<String>, Option<String>>> =
        ["regions", "clicks", "visits"]
            .into_iter()
            .map(|t| {
                (
                    t,
                    driver.create_input_topic(t, Serdes::string(), Serdes::string()),
                )
            })
            .collect();
    for (topic, key, value, ts) in input {
        topics[topic.as_str()].pipe_input_at(key.clone(), value.clone(), *ts);
    }
    let mut lines = Vec::new();
    for topic in OUTPUTS {
        let out = driver.create_output_topic::<Option<String>, Option<String>>(
            topic,
            Serdes::string(),
            Serdes::string(),
        );
        for r in out.read_records_to_list() {
            lines.push((topic.to_string(), r.key, r.value, r.timestamp));
        }
    }
    lines
}

#[test]
fn kafka_streams_and_runnel_join_streams_with_tables_alike() {
    require_java!();
    let input = input();
    let dir = tempfile::tempdir().unwrap();
    let input_file = dir.path().join("input.tsv");
    let text: String = input
        .iter()
        .map(|(t, k, v, ts)| format!("{t}\t{}\t{}\t{ts}\n", field(k), field(v)))
        .collect();
    std::fs::write(&input_file, text).unwrap();
    let out_file = dir.path().join("kafka.tsv");
    run_main(
        "joins-run",
        &[
            "--input",
            input_file.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ],
        Duration::from_secs(120),
        "(TopologyTestDriver)",
    );
    let kafka: Vec<Line> = std::fs::read_to_string(&out_file)
        .unwrap()
        .lines()
        .map(parse)
        .collect();
    let runnel = runnel(&input);

    let allowed = allow_list("joins");
    let mut differences = Vec::new();
    for topic in OUTPUTS {
        let k: Vec<&Line> = kafka.iter().filter(|l| l.0 == topic).collect();
        let r: Vec<&Line> = runnel.iter().filter(|l| l.0 == topic).collect();
        assert!(
            !k.is_empty(),
            "Kafka Streams wrote nothing to {topic}: the comparison would be empty"
        );
        for i in 0..k.len().max(r.len()) {
            if k.get(i) != r.get(i) {
                let name = format!("{topic}.{i}");
                if !allowed.iter().any(|(pattern, _)| *pattern == name) {
                    differences.push(format!("{name}: Kafka {:?} / Runnel {:?}", k.get(i), r.get(i)));
                }
            }
        }
    }
    eprintln!(
        "joins differential: {} input records, {} output records (Kafka), {} differences not allowed",
        input.len(),
        kafka.len(),
        differences.len()
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
