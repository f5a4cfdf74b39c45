//! The three delivery guarantees under SIGKILL, with the consumers of the examples
//! `at_most_once`, `at_least_once`, `exactly_once` and `exactly_once_streams`
//! (see `docs/delivery-semantics.md`).
//!
//! Each test produces 10 payments, runs an example's consumer as a child process and SIGKILLs
//! it at the worst moment for its guarantee, at payment 4 - the child prints a `CRASH-POINT`
//! line there and blocks, so the kill lands at that point every time:
//!
//! | example | crash point | then the receipts hold |
//! |---|---|---|
//! | at_most_once | offset 5 committed, receipt of payment 4 not written | every payment once but 4: lost |
//! | at_least_once | receipt of payment 4 stored, offset 5 not committed | every payment once, 4 twice |
//! | exactly_once, exactly_once_streams | receipt of payment 4 in the log in the open transaction, not committed | read_committed: every payment once; read_uncommitted: 4 twice (once aborted) |
//!
//! The test reads the topics and the group's committed offset right after the kill (the state
//! the crash left) and again after the consumer has run once more to the end, and asserts both
//! exactly.
//!
//! The child is this test binary, re-executed with `--exact delivery_child_runs_an_example_consumer`
//! and `RUNNEL_DELIVERY_CHILD=<example>`: the examples' files are compiled into this test as
//! modules, so the test always runs the examples' current code (an example binary could be
//! missing or stale when only this test is built). The embedded broker lives in the process
//! that opens its data directory, so parent and child never run at once: the parent opens the
//! cluster only between children.

// Tests unwrap: a panic here is a failed test. Every example includes
// `examples/delivery/common.rs` as its own module, as it must to build alone, so the file is
// loaded once per example here; the copies never meet.
#![allow(clippy::unwrap_used, clippy::duplicate_mod)]

use std::path::Path;
use std::process::Command;

use runnel::prelude::*;

#[path = "support/streams.rs"]
mod streams_support;
use streams_support::read_all;

#[path = "../examples/delivery/common.rs"]
mod delivery;

#[allow(dead_code)]
#[path = "../examples/at_most_once.rs"]
mod at_most_once;

#[allow(dead_code)]
#[path = "../examples/at_least_once.rs"]
mod at_least_once;

#[allow(dead_code)]
#[path = "../examples/exactly_once.rs"]
mod exactly_once;

#[allow(dead_code)]
#[path = "../examples/exactly_once_streams.rs"]
mod exactly_once_streams;

const RECORDS: i64 = 10;
const CRASH_AT: i64 = 4;

const CHILD_TEST: &str = "delivery_child_runs_an_example_consumer";
/// The example whose consumer the child runs; without it the child test does nothing.
const CHILD_EXAMPLE_ENV: &str = "RUNNEL_DELIVERY_CHILD";
const CHILD_DIR_ENV: &str = "RUNNEL_DELIVERY_DIR";
/// The payment to crash at; unset: run to the end.
const CHILD_CRASH_ENV: &str = "RUNNEL_DELIVERY_CRASH_AT";

// ---------------------------------------------------------------- the child

/// The child half of the tests below; does nothing unless started by one of them. Runs an
/// example's consumer on the cluster in the directory, as `--consume` does.
#[test]
fn delivery_child_runs_an_example_consumer() {
    let Ok(example) = std::env::var(CHILD_EXAMPLE_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD_DIR_ENV).unwrap());
    let crash_at = std::env::var(CHILD_CRASH_ENV).ok().map(|k| k.parse().unwrap());
    delivery::init_tracing();
    // libtest has printed "test <name> ... " without a newline: the consumer's lines, the
    // crash marker among them, start on lines of their own.
    println!();
    let run = async {
        match example.as_str() {
            "at_most_once" => delivery::run_consumer(&dir, crash_at, at_most_once::consume).await,
            "at_least_once" => delivery::run_consumer(&dir, crash_at, at_least_once::consume).await,
            "exactly_once" => delivery::run_consumer(&dir, crash_at, exactly_once::consume).await,
            "exactly_once_streams" => {
                delivery::run_consumer(&dir, crash_at, exactly_once_streams::consume).await
            }
            other => panic!("no example {other}"),
        }
    };
    delivery::runtime().unwrap().block_on(run).unwrap();
}

// ---------------------------------------------------------------- the parent

fn child(example: &str, dir: &Path, crash_at: Option<i64>) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_EXAMPLE_ENV, example)
        .env(CHILD_DIR_ENV, dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        );
    if let Some(k) = crash_at {
        command.env(CHILD_CRASH_ENV, k.to_string());
    }
    command
}

/// What a reader finds on the receipts topic and in the group.
#[derive(Debug)]
struct Snapshot {
    /// Payment numbers of the receipts, in log order, as read_committed sees them.
    committed: Vec<i64>,
    /// The same, read_uncommitted.
    uncommitted: Vec<i64>,
    /// The group's committed offset of the payments.
    offset: Option<i64>,
}

/// A record as `read_all` returns it: (partition, offset, key, value).
type ReadRecord = (i32, i64, Option<Vec<u8>>, Option<Vec<u8>>);

fn payment_ids(records: Vec<ReadRecord>) -> Vec<i64> {
    records
        .into_iter()
        .map(|(_, _, key, _)| {
            let key = String::from_utf8(key.unwrap()).unwrap();
            key.strip_prefix("payment-").unwrap().parse().unwrap()
        })
        .collect()
}

/// Opens the cluster (no child runs) and reads the receipts and the group's offset.
fn snapshot(dir: &Path, group: &str) -> Snapshot {
    delivery::runtime().unwrap().block_on(async {
        let cluster = streams_support::cluster(dir).await;
        let committed =
            payment_ids(read_all(&cluster, delivery::OUTPUT, IsolationLevel::ReadCommitted).await);
        let uncommitted =
            payment_ids(read_all(&cluster, delivery::OUTPUT, IsolationLevel::ReadUncommitted).await);
        let lag = cluster.admin().describe_group(group).await.unwrap();
        let offset = lag
            .partitions
            .iter()
            .find(|p| p.partition.topic.as_str() == delivery::INPUT)
            .map(|p| p.committed);
        cluster.shutdown().await;
        Snapshot {
            committed,
            uncommitted,
            offset,
        }
    })
}

/// Runs `example`'s consumer until its crash point at payment `CRASH_AT`, SIGKILLs it, and
/// runs it again to the end; returns what a reader found after the kill and at the end.
fn crash_and_restart(example: &str, group: &str) -> (Snapshot, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    delivery::runtime()
        .unwrap()
        .block_on(delivery::create_input(dir, RECORDS))
        .unwrap();
    let marker = delivery::run_until_crash(child(example, dir, Some(CRASH_AT)), "killed run").unwrap();
    assert!(
        marker.contains(&format!("payment-{CRASH_AT}:")),
        "crashed at the wrong payment: {marker}"
    );
    let at_crash = snapshot(dir, group);
    println!("after the kill: {at_crash:?}");
    delivery::run_to_end(child(example, dir, None), "restart").unwrap();
    let at_end = snapshot(dir, group);
    println!("at the end: {at_end:?}");
    (at_crash, at_end)
}

/// Payments `range` in order.
fn ids(range: impl Iterator<Item = i64>) -> Vec<i64> {
    range.collect()
}

#[test]
fn at_most_once_loses_the_record_whose_offset_was_committed_before_the_crash() {
    let (at_crash, at_end) = crash_and_restart("at_most_once", "receipts-at-most-once");

    // The kill came after payment 4's offset was committed and before its receipt.
    assert_eq!(
        at_crash.offset,
        Some(CRASH_AT + 1),
        "committed offset at the kill"
    );
    assert_eq!(at_crash.uncommitted, ids(0..CRASH_AT), "receipts at the kill");

    // The restart resumed after payment 4: its receipt never comes.
    let lost = ids((0..RECORDS).filter(|&i| i != CRASH_AT));
    assert_eq!(
        at_end.uncommitted, lost,
        "every payment once except 4, which is lost"
    );
    assert_eq!(at_end.committed, at_end.uncommitted, "no transactions");
    assert_eq!(at_end.offset, Some(RECORDS), "committed offset at the end");
}

#[test]
fn at_least_once_repeats_the_record_whose_receipt_was_stored_before_the_crash() {
    let (at_crash, at_end) = crash_and_restart("at_least_once", "receipts-at-least-once");

    // The kill came after payment 4's receipt was stored and before its offset was committed.
    assert_eq!(at_crash.offset, Some(CRASH_AT), "committed offset at the kill");
    assert_eq!(at_crash.uncommitted, ids(0..=CRASH_AT), "receipts at the kill");

    // The restart resumed at payment 4 and wrote its receipt again.
    let repeated = ids((0..=CRASH_AT).chain(CRASH_AT..RECORDS));
    assert_eq!(
        at_end.uncommitted, repeated,
        "every payment once except 4, which is twice"
    );
    assert_eq!(at_end.committed, at_end.uncommitted, "no transactions");
    assert_eq!(at_end.offset, Some(RECORDS), "committed offset at the end");
}

/// The facts both exactly-once variants must show.
fn assert_exactly_once(at_crash: &Snapshot, at_end: &Snapshot) {
    // The kill came after payment 4's receipt was in the log, inside the open transaction,
    // and before it committed: read_uncommitted sees the receipt, read_committed does not, and
    // the offsets the transaction carried are not committed.
    assert_eq!(at_crash.offset, Some(CRASH_AT), "committed offset at the kill");
    assert_eq!(
        at_crash.uncommitted,
        ids(0..=CRASH_AT),
        "receipts in the log at the kill"
    );
    assert_eq!(
        at_crash.committed,
        ids(0..CRASH_AT),
        "receipts read_committed at the kill"
    );

    // The restart aborted that transaction and redid payment 4: read_committed readers see
    // every receipt once; the aborted one stays in the log, seen only read_uncommitted.
    assert_eq!(at_end.committed, ids(0..RECORDS), "every payment exactly once");
    assert_eq!(
        at_end.uncommitted,
        ids((0..=CRASH_AT).chain(CRASH_AT..RECORDS)),
        "the log holds the aborted receipt of payment 4 too"
    );
    assert_eq!(at_end.offset, Some(RECORDS), "committed offset at the end");
}

#[test]
fn exactly_once_transactions_show_every_record_once_to_read_committed_readers() {
    let (at_crash, at_end) = crash_and_restart("exactly_once", "receipts-exactly-once");
    assert_exactly_once(&at_crash, &at_end);
}

#[test]
fn exactly_once_v2_streams_show_every_record_once_to_read_committed_readers() {
    let (at_crash, at_end) = crash_and_restart("exactly_once_streams", "receipts-streams");
    assert_exactly_once(&at_crash, &at_end);
}
