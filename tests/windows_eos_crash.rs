//! Final windows exactly once under SIGKILL: the page-view application of
//! `examples/page_views.rs` (views per page per 1-minute tumbling window, 10 s grace, counted
//! in a RocksDB window store and held back by `suppress(until_window_closes)` until each
//! window closes) runs with `processing.guarantee=exactly_once_v2` as a child process, is
//! killed at random moments and restarted, and what a read_committed reader of its output sees
//! in the end is every closed window exactly once, with the count a direct fold of the input
//! computes (`page_views::reference`). A window emitted twice, one never emitted, a count off
//! by one view, or a view counted that the fold finds late all fail it.
//!
//! What the kills test: the window store, the suppression buffer and the output are written
//! in one transaction per commit, so a kill between a buffered count and its emission, or
//! between an emission and the buffer's eviction of it, must neither lose nor repeat the
//! window; and stream time, which decides which views are late and which windows close, must
//! come back after a restart as it was (a restarted task that forgot it would count a late
//! view or hold back a closed window).
//!
//! The mechanics are `tests/streams_eos_crash.rs`': the parent opens the embedded cluster only
//! between children (to add the next chunk of input, and at the end to read the output); the
//! child re-executes this test binary with `--exact windows_crash_child_runs_the_application`
//! and `RUNNEL_WINDOWS_CHILD_DIR`. Kills land up to 400 ms after the child processed its first
//! record, or every fourth round somewhere in its start-up. `RUNNEL_CRASH_SEED` replays a run.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::txn::TxnConfig;

#[path = "support/crash.rs"]
mod crash;
#[path = "../examples/page_views.rs"]
#[allow(dead_code)]
mod page_views;
#[path = "support/streams.rs"]
mod streams_support;
use crash::{Child, Markers, Stats};
use page_views::{INPUT, OUTPUT, PARTITIONS, View};
use streams_support::{group_config, read_all, wait_idle};

const APP: &str = page_views::APP_ID;
/// Views added before each killed round (5 minutes of event time each, a second or so of
/// processing, so a kill up to 400 ms after the first record lands mid-processing), and before
/// the last one.
const CHUNK: usize = 30_000;
const KILLED_ROUNDS: usize = 8;
const LAST_CHUNK: usize = 30_000;
const TOTAL: usize = CHUNK * KILLED_ROUNDS + LAST_CHUNK;

const CHILD_TEST: &str = "windows_crash_child_runs_the_application";
const CHILD_DIR_ENV: &str = "RUNNEL_WINDOWS_CHILD_DIR";
/// `1`: run until every input is processed, then close cleanly and exit.
const CHILD_FINAL_ENV: &str = "RUNNEL_WINDOWS_CHILD_FINAL";
/// `1`: commit in small transactions (20 records a poll, every 2 ms). The application processes
/// a chunk in a few tens of milliseconds at the default 100 ms, which a kill seldom lands in;
/// in small transactions a chunk takes a second or more, and a kill lands between the sends,
/// the offsets and the commit of one of hundreds of them.
const CHILD_SMALL_TXNS_ENV: &str = "RUNNEL_WINDOWS_CHILD_SMALL_TXNS";
const MARKERS: Markers = Markers {
    ready: "WINDOWS-CHILD-READY",
    progress: "WINDOWS-CHILD-PROGRESS",
};

/// Every view of the run: `TOTAL` views, then one per partition two minutes after the last, so
/// that every window of the real views closes (and must be emitted) by the end.
fn all_views(seed: u64) -> Vec<View> {
    let mut views = page_views::views(TOTAL, seed, page_views::t0());
    let last = views.iter().map(|v| v.timestamp).max().unwrap();
    views.extend(page_views::closing_views(last, 2));
    views
}

async fn open_cluster(dir: &Path) -> Cluster {
    let txn = TxnConfig {
        abort_check_interval_ms: 500,
        ..TxnConfig::default()
    };
    Cluster::embedded_with_txn(BrokerConfig::new(dir.join("broker")), group_config(), txn)
        .await
        .unwrap_or_else(|e| panic!("opening the cluster in {}: {e:?}", dir.display()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- the child

/// The child half of `sigkilled_exactly_once_page_views_...`; does nothing unless started by
/// it. Runs the page-view application on the cluster in the directory, reporting progress.
#[test]
fn windows_crash_child_runs_the_application() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir).to_path_buf();
    let last = std::env::var(CHILD_FINAL_ENV).is_ok_and(|v| v == "1");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    runtime().block_on(async {
        let cluster = open_cluster(&dir).await;
        let mut config = StreamsConfig::new(APP)
            .with_state_dir(dir.join("state"))
            .with_processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .with_group_timeouts(Duration::from_millis(1_500), Duration::from_millis(100));
        if std::env::var(CHILD_SMALL_TXNS_ENV).is_ok_and(|v| v == "1") {
            config = config.with_commit_interval(Duration::from_millis(2));
            config.set("max.poll.records", "20").unwrap();
        }
        let mut streams = Streams::new(page_views::topology().unwrap(), config, &cluster);
        streams.start().await.unwrap();
        println!("\n{}", MARKERS.ready);
        let report = |streams: &Streams| {
            let m = streams.metrics();
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{} {} {} {} {}",
                MARKERS.progress, m.processed_records, m.commits, m.restored_records, m.dropped_records
            )
            .unwrap();
            out.flush().unwrap();
            assert!(
                streams.error().is_none(),
                "the application failed: {:?}",
                streams.error()
            );
        };
        if last {
            let reporter = async {
                loop {
                    report(&streams);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::select! {
                () = wait_idle(&cluster, APP) => {}
                () = reporter => {}
            }
            report(&streams);
            streams.close().await.unwrap();
            cluster.shutdown().await;
        } else {
            loop {
                report(&streams);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
}

// ---------------------------------------------------------------- the parent

fn spawn_child(dir: &Path, last: bool, small_txns: bool) -> Child {
    let flag = |on: bool| std::ffi::OsStr::new(if on { "1" } else { "0" });
    Child::spawn(
        CHILD_TEST,
        &[
            (CHILD_DIR_ENV, dir.as_os_str()),
            (CHILD_FINAL_ENV, flag(last)),
            (CHILD_SMALL_TXNS_ENV, flag(small_txns)),
        ],
        MARKERS,
    )
}

/// Adds `views` to the input with the parent's own short-lived cluster.
fn add_input(dir: &Path, views: &[View], first: bool) {
    runtime().block_on(async {
        let cluster = open_cluster(dir).await;
        if first {
            cluster.admin().create_topic(INPUT, PARTITIONS, []).unwrap();
            cluster.admin().create_topic(OUTPUT, PARTITIONS, []).unwrap();
        }
        page_views::produce(&cluster, views).await.unwrap();
        cluster.shutdown().await;
    });
}

#[test]
fn sigkilled_exactly_once_page_views_emit_every_final_window_once_equal_to_a_fold() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let seed = std::env::var("RUNNEL_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    println!("windows_eos_crash: seed {seed} (RUNNEL_CRASH_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let views = all_views(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut stats = Stats::default();

    for round in 0..KILLED_ROUNDS {
        add_input(dir.path(), &views[round * CHUNK..(round + 1) * CHUNK], round == 0);
        // Rounds 1, 2, 5 and 6 commit in small transactions; 0 and 4 at the default interval,
        // in large ones whose record-cache flushes carry many windows at once; 3 and 7 are
        // killed in their start-up.
        let child = spawn_child(dir.path(), false, matches!(round % 4, 1 | 2));
        let r = crash::kill_round(child, round, &mut rng, &mut stats);
        let n = |i: usize| r.last.get(i).copied().unwrap_or(0);
        println!(
            "round {round}: killed after {} processed records, {} commits, {} restored, {} dropped ({:.1?} in)",
            n(0),
            n(1),
            n(2),
            n(3),
            r.ran
        );
    }

    add_input(dir.path(), &views[KILLED_ROUNDS * CHUNK..], false);
    let child = spawn_child(dir.path(), true, false);
    let (status, errors, _) = crash::wait_exit(child, Duration::from_secs(120));
    assert!(
        status.success(),
        "the last run failed: {status}; its stderr:\n{errors}"
    );

    // The output, read_committed: each closed window once, with the fold's count.
    let (expected, late) = page_views::reference(&views);
    let (committed, uncommitted) = runtime().block_on(async {
        let cluster = open_cluster(dir.path()).await;
        let committed = read_all(&cluster, OUTPUT, IsolationLevel::ReadCommitted).await;
        let uncommitted = read_all(&cluster, OUTPUT, IsolationLevel::ReadUncommitted).await;
        cluster.shutdown().await;
        (committed, uncommitted)
    });
    let committed_len = committed.len();
    let records = committed
        .into_iter()
        .map(|(_, _, k, v)| (k.map(Bytes::from), v.map(Bytes::from), 0))
        .collect();
    let actual = page_views::emitted(records).unwrap_or_else(|e| panic!("the committed output: {e:#}"));
    let diffs = page_views::differences(&actual, &expected);
    assert!(
        diffs.is_empty(),
        "{} of {} windows differ from the fold:\n{}",
        diffs.len(),
        expected.len(),
        diffs.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(
        expected.len() > 400,
        "only {} windows closed: the input should close over 400",
        expected.len()
    );
    println!(
        "windows_eos_crash: {} kills ({} while processing, {} in start-up) over {} views ({late} late) in {:.1?}; \
         {} windows emitted once each read_committed; {} output records read_uncommitted",
        stats.kills,
        stats.kills_while_processing,
        stats.kills_in_startup,
        views.len(),
        started.elapsed(),
        committed_len,
        uncommitted.len()
    );
    assert!(
        stats.kills_while_processing >= 3,
        "only {} kills landed while records were processed",
        stats.kills_while_processing
    );
}
