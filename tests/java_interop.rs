//! The Java client (Apache Kafka's kafka-clients 4.4, the most used Kafka client) against
//! `runnel serve` (issue 8). The scenarios are Java programs in
//! `interop/src/main/java/dev/runnel/interop/`, one class per area, built once per test run by
//! Maven from `interop/pom.xml`; each runs in its own JVM against a broker of its own, checks
//! what the client observes and exits non-zero with a readable message on the first mismatch.
//!
//! Needs a JDK 17 and Maven; without them every test here prints why it skipped. Maven resolves
//! the Kafka jars from Maven Central into `~/.m2` on the first run (about 150 MB) and compiles
//! into `interop/target/` (gitignored); later runs only check that the build is up to date.
//! `RUNNEL_SKIP_JAVA_INTEROP=1` skips the tests on purpose (e.g. a machine with Java but no
//! route to Maven Central).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/java.rs"]
#[macro_use]
mod java_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use java_support::{ReferenceKafka, allow_list, glob, run_main};
use runnel::stream_core::client::partitioner::partition_for_key;
use support::Server;

/// Runs `dev.runnel.interop.Main <name> --bootstrap <server> args...` in a JVM of its own and
/// returns its stdout; panics with everything it printed unless every check passed.
fn scenario(name: &str, server: &Server, args: &[&str]) -> String {
    scenario_at(name, &server.bootstrap(), args)
}

/// [`scenario`] against any broker's bootstrap address.
fn scenario_at(name: &str, bootstrap: &str, args: &[&str]) -> String {
    let args: Vec<&str> = ["--bootstrap", bootstrap].iter().chain(args).copied().collect();
    run_main(
        name,
        &args,
        Duration::from_secs(120),
        &format!("against {bootstrap}"),
    )
}

/// A broker as the group scenarios want it: the first rebalance of a new group is not held
/// back by Kafka's 3 s group.initial.rebalance.delay.ms (interop/kafka-ref.sh sets 0 as well).
fn group_server() -> Server {
    Server::start(&["group.initial.rebalance.delay.ms=0"])
}

fn runnel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runnel"))
}

fn partition_dirs(data: &Path, topic: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = walk(data)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(topic))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .collect();
    dirs.sort();
    dirs
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push(path.clone());
            out.extend(walk(&path));
        }
    }
    out
}

/// The Java producer with its defaults: keyed records on the default partitioner's partitions
/// (which Runnel's own partitioner must agree with), offsets dense from 0, keys, values,
/// headers and CreateTime read back intact, ListOffsets by time, every compression codec, a
/// 900 kB record, a LogAppendTime topic; and the batches on disk carry a producer id, i.e.
/// the default really is idempotent against this broker.
#[test]
fn java_producer_defaults_keys_headers_timestamps_codecs() {
    require_java!();
    let mut server = Server::start(&[]);
    let out = scenario("producer", &server, &[]);

    let mut keyed = 0;
    for line in out.lines().filter_map(|l| l.strip_prefix("key-partition ")) {
        let (key, partition) = line.rsplit_once(' ').unwrap();
        let partition: i32 = partition.parse().unwrap();
        assert_eq!(
            partition_for_key(key.as_bytes(), 6),
            partition,
            "Runnel's partitioner disagrees with the Java client on key {key:?}"
        );
        keyed += 1;
    }
    assert_eq!(
        keyed, 122,
        "the scenario reports 120 keyed records, a tombstone and an empty key"
    );

    // Stop the broker so its segments are complete on disk, then read their batch headers.
    server.stop();
    let dirs = partition_dirs(server.data_dir(), "java-keyed");
    assert_eq!(dirs.len(), 6, "java-keyed's partition directories: {dirs:?}");
    let dump = runnel().arg("dump-log").args(&dirs).output().unwrap();
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "dump-log: {text}\n{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let producer_ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.split("producerId: ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert!(
        !producer_ids.is_empty(),
        "no batches in dump-log's output:\n{text}"
    );
    assert!(
        producer_ids.iter().all(|&id| id >= 0),
        "batches of the default (idempotent) Java producer without a producer id: {producer_ids:?}\n{text}"
    );
}

/// `runnel produce` (librdkafka's murmur2 partitioner) puts keyed records exactly where the
/// Java client's default partitioner would.
#[test]
fn runnel_cli_keyed_records_are_where_the_java_client_puts_them() {
    require_java!();
    let server = Server::start(&[]);
    let b = server.bootstrap();
    let created = runnel()
        .args([
            "topics",
            "create",
            "cli-keyed",
            "--partitions",
            "7",
            "--bootstrap",
            &b,
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let lines: String = (0..500).map(|i| format!("user-{i}:{i}\n")).collect();
    let mut produce = runnel()
        .args(["produce", "cli-keyed", "--key-separator", ":", "--bootstrap", &b])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut produce.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    let produced = produce.wait_with_output().unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    scenario(
        "partitioning",
        &server,
        &["--topic", "cli-keyed", "--partitions", "7", "--count", "500"],
    );
}

/// Three consumers with the cooperative-sticky assignor: joining members take partitions from
/// the others over two rebalances, with only the moving partitions revoked; a leaving member's
/// partitions go to the others, who keep their own; every record is consumed exactly once.
#[test]
fn java_consumer_group_cooperative_sticky() {
    require_java!();
    let server = group_server();
    scenario("group-cooperative", &server, &[]);
}

/// Three static members (group.instance.id): range assignment ordered by instance id; a member
/// that restarts within its session timeout gets its partitions back with no rebalance; one
/// that stays away is removed when its session expires.
#[test]
fn java_consumer_group_static_membership() {
    require_java!();
    let server = group_server();
    scenario("group-static", &server, &[]);
}

/// Records and committed offsets (with metadata) survive a restart of `runnel serve` on the
/// same port and data directory; a member of the group resumes exactly at the commits.
#[test]
fn java_commits_and_records_survive_a_broker_restart() {
    require_java!();
    let mut server = group_server();
    let before = server.bootstrap();
    scenario("restart-before", &server, &[]);
    server.restart();
    assert_eq!(server.bootstrap(), before, "restarted on the same port");
    scenario("restart-after", &server, &[]);
}

/// The AdminClient: topics (create, errors, list, describe, grow, delete), configs (describe,
/// incremental alter), deleteRecords, and consumer groups (list, describe, offsets, delete).
#[test]
fn java_admin_client_topics_configs_groups() {
    require_java!();
    let server = group_server();
    scenario("admin", &server, &[]);
}

/// Transactions through the Java producer: read_committed stops at an open transaction's first
/// record and never sees aborted ones; sendOffsetsToTransaction commits the group's offsets with
/// the transaction and not when it aborts; a second producer with the same transactional.id
/// fences the first and aborts its open transaction.
#[test]
fn java_transactions_with_a_read_committed_consumer() {
    require_java!();
    let server = group_server();
    scenario("txn", &server, &[]);
}

/// The `obs NAME = VALUE` lines of the observe scenario, in order.
fn observations(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.strip_prefix("obs "))
        .map(|l| {
            let (name, value) = l.split_once(" = ").unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// Compares Kafka's observations with Runnel's: returns how many differ without an allow-list
/// entry, and a line per difference (allowed or not) and per unused allow-list entry.
fn compare(
    theirs: &[(String, String)],
    ours: &[(String, String)],
    allowed: &[(String, String)],
) -> (usize, Vec<String>) {
    let ours_by_name: BTreeMap<&str, &str> = ours.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let theirs_by_name: BTreeMap<&str, &str> = theirs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut used = vec![false; allowed.len()];
    let mut report = Vec::new();
    let mut failures = 0;
    let names = theirs.iter().map(|(n, _)| n.as_str()).chain(
        ours.iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| !theirs_by_name.contains_key(n)),
    );
    for name in names {
        let (k, r) = (theirs_by_name.get(name), ours_by_name.get(name));
        if k == r {
            continue;
        }
        let line = format!(
            "{name}: Kafka {} / Runnel {}",
            k.unwrap_or(&"(absent)"),
            r.unwrap_or(&"(absent)")
        );
        match allowed.iter().position(|(pattern, _)| glob(pattern, name)) {
            Some(i) => {
                used[i] = true;
                report.push(format!("  allowed  {line}  ({})", allowed[i].1));
            }
            None => {
                failures += 1;
                report.push(format!("  DIFFERS  {line}"));
            }
        }
    }
    for (i, (pattern, _)) in allowed.iter().enumerate() {
        if !used[i] {
            // Not a failure: a fixed difference should leave the list, but need not break the build.
            report.push(format!(
                "  stale allow-list entry (no difference matched it): {pattern}"
            ));
        }
    }
    (failures, report)
}

/// The differential test (issue 8): one scenario (interop's ObserveScenario: records, keys,
/// headers, timestamps, ListOffsets by time, error codes for bad requests, group assignment,
/// committed offsets, transactional visibility, topic configs, a compacted topic after
/// cleaning) run by the Java client against Apache Kafka 4.4 and against `runnel serve`; every
/// observation must be equal unless interop/allow-list.md lists it with its reason.
#[test]
fn differential_apache_kafka_and_runnel_look_the_same_to_the_java_client() {
    require_java!();
    if !support::have("python3") {
        eprintln!("skipping: interop/kafka-ref.sh needs python3 (to pick a free port)");
        return;
    }
    let started = Instant::now();
    // Both brokers look for cleanable logs twice a second (Kafka's default is every 15 s,
    // Runnel's every 5 min), so the compacted topic is cleaned within the scenario.
    let kafka = ReferenceKafka::start("log.cleaner.backoff.ms=500");
    let runnel = Server::start(&[
        "group.initial.rebalance.delay.ms=0",
        "log.retention.check.interval.ms=500",
    ]);
    // Runnel's run overlaps Kafka's boot.
    let ours = observations(&scenario("observe", &runnel, &[]));
    drop(runnel);
    kafka.wait();
    let theirs = observations(&scenario_at("observe", &kafka.bootstrap(), &[]));
    drop(kafka);
    assert!(theirs.len() > 100, "too few observations from Kafka: {theirs:?}");

    let (failures, report) = compare(&theirs, &ours, &allow_list("broker"));
    eprintln!(
        "differential: {} observations, {} differences not allowed, {:.1} s\n{}",
        theirs.len(),
        failures,
        started.elapsed().as_secs_f64(),
        report.join("\n")
    );
    assert_eq!(
        failures,
        0,
        "Runnel and Apache Kafka differ where interop/allow-list.md allows no difference:\n{}",
        report.join("\n")
    );
}

#[test]
fn differences_fail_unless_allowed_and_missing_observations_count() {
    let obs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let kafka = obs(&[("a", "1"), ("b", "2"), ("c.x", "3"), ("d", "4")]);
    let runnel = obs(&[("a", "1"), ("b", "9"), ("c.x", "8"), ("e", "5")]);
    let allowed = obs(&[("c.*", "why"), ("zzz", "unused")]);
    let (failures, report) = compare(&kafka, &runnel, &allowed);
    // b differs, d is missing from Runnel, e is missing from Kafka; c.x is allowed.
    assert_eq!(failures, 3, "{report:#?}");
    assert!(report.iter().any(|l| l.contains("allowed  c.x")), "{report:#?}");
    assert!(
        report
            .iter()
            .any(|l| l.contains("DIFFERS  d: Kafka 4 / Runnel (absent)")),
        "{report:#?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("stale allow-list entry (no difference matched it): zzz"))
    );
    let (failures, _) = compare(&kafka, &kafka, &[]);
    assert_eq!(failures, 0);
}

#[test]
fn the_allow_list_parses_and_every_entry_has_a_reason() {
    assert!(!allow_list("broker").is_empty());
}

#[test]
fn allow_list_globs_match_as_documented() {
    assert!(glob(
        "config.*.min.insync.replicas",
        "config.d-small.min.insync.replicas"
    ));
    assert!(glob("group.describe.unknown", "group.describe.unknown"));
    assert!(!glob("group.describe.unknown", "group.describe.unknown.more"));
    assert!(glob("txn.*", "txn.open.read_committed.records"));
    assert!(!glob(
        "config.*.retention.ms",
        "config.d-small.min.insync.replicas"
    ));
}

/// The point-1 scenarios' checks are Kafka's semantics, not Runnel's: each also passes against
/// Apache Kafka 4.4. Opt-in (about a minute more): `cargo test --test java_interop -- --ignored`.
/// The restart scenario's two halves run back to back here, without a restart between them.
#[test]
#[ignore = "starts Apache Kafka; run with --ignored"]
fn java_scenarios_also_pass_against_apache_kafka() {
    require_java!();
    let kafka = ReferenceKafka::start("");
    kafka.wait();
    let b = kafka.bootstrap();
    for name in [
        "producer",
        "admin",
        "group-cooperative",
        "group-static",
        "restart-before",
        "restart-after",
        "txn",
    ] {
        scenario_at(name, &b, &[]);
    }
}
