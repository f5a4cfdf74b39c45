//! kcat (librdkafka) against `runnel serve`.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::{Server, have};

fn kcat(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("kcat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kcat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn kcat_lists_topics_and_round_trips_10k_keyed_records_with_headers() {
    if !have("kcat") {
        eprintln!("SKIPPED: kcat is not installed (scripts/deps.sh installs it)");
        return;
    }
    let server = Server::start(&["num.partitions=3"]);
    let b = server.bootstrap();
    let mut input = Vec::new();
    for i in 0..10_000 {
        // Values with bytes that must survive untouched: spaces, tabs, UTF-8.
        writeln!(input, "key-{i}\u{1}value {i}\twith ümlauts and = signs").unwrap();
    }
    // -K sets the key delimiter; murmur2_random places keys as the Java client does.
    kcat(
        &[
            "-b",
            &b,
            "-P",
            "-t",
            "orders",
            "-K",
            "\u{1}",
            "-H",
            "trace=abc",
            "-H",
            "tenant=t1",
            "-X",
            "partitioner=murmur2_random",
        ],
        Some(&input),
    );
    let listing = String::from_utf8(kcat(&["-b", &b, "-L"], None)).unwrap();
    assert!(
        listing.contains("topic \"orders\" with 3 partitions"),
        "{listing}"
    );

    let out = kcat(
        &[
            "-b",
            &b,
            "-C",
            "-t",
            "orders",
            "-e",
            "-q",
            "-f",
            "%p\u{2}%k\u{2}%s\u{2}%h\u{3}",
        ],
        None,
    );
    let out = String::from_utf8(out).unwrap();
    let mut got: Vec<(String, String)> = Vec::new();
    for record in out.split('\u{3}').filter(|r| !r.is_empty()) {
        let fields: Vec<&str> = record.split('\u{2}').collect();
        assert_eq!(fields.len(), 4, "{record:?}");
        assert_eq!(fields[3], "trace=abc,tenant=t1", "headers of {}", fields[1]);
        // The key decides the partition exactly as the Java client's murmur2 does.
        let expected = runnel::stream_core::client::partitioner::partition_for_key(fields[1].as_bytes(), 3);
        assert_eq!(
            fields[0].parse::<i32>().unwrap(),
            expected,
            "partition of {}",
            fields[1]
        );
        got.push((fields[1].to_string(), fields[2].to_string()));
    }
    got.sort();
    let mut want: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("key-{i}"), format!("value {i}\twith ümlauts and = signs")))
        .collect();
    want.sort();
    assert_eq!(got.len(), 10_000);
    assert_eq!(got, want, "every record back byte-identical, once");
}
