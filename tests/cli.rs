//! The `runnel` CLI (topics, produce, consume, groups) against `runnel serve`.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::Server;

/// Runs `runnel ARGS --bootstrap B` with `input` on stdin.
fn runnel(bootstrap: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .args(["--bootstrap", bootstrap])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs a command that must succeed and returns its stdout.
fn ok(bootstrap: &str, args: &[&str], input: &[u8]) -> String {
    let out = runnel(bootstrap, args, input);
    assert!(
        out.status.success(),
        "runnel {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn topics_produce_consume_in_a_group_then_describe_shows_zero_lag() {
    let server = Server::start(&[]);
    let b = &server.bootstrap();

    let created = ok(
        b,
        &[
            "topics",
            "create",
            "demo",
            "--partitions",
            "3",
            "--config",
            "retention.ms=3600000",
        ],
        b"",
    );
    assert!(created.contains("demo"), "{created}");
    let listed = ok(b, &["topics", "list"], b"");
    assert!(listed.lines().any(|l| l == "demo"), "{listed}");
    let described = ok(b, &["topics", "describe", "demo"], b"");
    assert!(described.contains("PartitionCount: 3"), "{described}");
    assert!(
        described.contains("retention.ms=3600000"),
        "the override is shown: {described}"
    );
    for p in 0..3 {
        assert!(
            // The broker's node id is 1 by default (as in Kafka's KRaft server.properties).
            described.contains(&format!("Partition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1")),
            "partition {p}: {described}"
        );
    }

    let input: String = (0..1000).map(|i| format!("key-{i}:value {i}\n")).collect();
    let produced = runnel(b, &["produce", "demo", "--key-separator", ":"], input.as_bytes());
    let stderr = String::from_utf8_lossy(&produced.stderr);
    assert!(produced.status.success(), "{stderr}");
    assert!(stderr.contains("1000 records produced"), "{stderr}");

    let consumed = ok(
        b,
        &[
            "consume",
            "demo",
            "--group",
            "g",
            "--from-beginning",
            "--max-messages",
            "1000",
            "--print-key",
            "--timeout-ms",
            "30000",
        ],
        b"",
    );
    let mut got: Vec<&str> = consumed.lines().collect();
    got.sort_unstable();
    let mut want: Vec<String> = (0..1000).map(|i| format!("key-{i}\tvalue {i}")).collect();
    want.sort_unstable();
    assert_eq!(got, want, "every record back once, as key<TAB>value");

    let groups = ok(b, &["groups", "list"], b"");
    assert!(groups.lines().any(|l| l == "g"), "{groups}");
    let described = ok(b, &["groups", "describe", "g"], b"");
    let rows: Vec<Vec<&str>> = described
        .lines()
        .filter(|l| l.starts_with("g\tdemo\t"))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 3, "one row per partition: {described}");
    let mut total = 0;
    for row in rows {
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID
        assert_eq!(row[3], row[4], "committed = end: {described}");
        assert_eq!(row[5], "0", "zero lag: {described}");
        total += row[4].parse::<i64>().unwrap();
    }
    assert_eq!(total, 1000, "{described}");

    ok(b, &["topics", "delete", "demo"], b"");
    let listed = ok(b, &["topics", "list"], b"");
    assert!(!listed.lines().any(|l| l == "demo"), "{listed}");
}

#[test]
fn describing_a_missing_topic_fails_with_one_line() {
    let server = Server::start(&[]);
    let out = runnel(&server.bootstrap(), &["topics", "describe", "nope"], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with("runnel: ") && stderr.contains("nope"),
        "{stderr:?}"
    );
}
