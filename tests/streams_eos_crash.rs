//! Exactly-once under SIGKILL: a stream application with `processing.guarantee=exactly_once_v2`
//! runs as a child process, is killed at random moments and restarted, and what a
//! read_committed reader sees in the end is exactly what one uninterrupted run produces.
//!
//! The application: 120 000 events `(account, amount, event id)` keyed by event id →
//! `group_by(account)` (a repartition topic) → `aggregate` into `{count, sum, last}` (RocksDB
//! store, no cache, so every event is one store update, one changelog record and one output
//! record) → the `totals` topic. `last` is the event that made the update, so the output is a
//! log of every effect: per account, read_committed, the counts must run 1, 2, 3, … with
//! nothing skipped or repeated, and the `last` ids must be exactly the account's events,
//! each once. The final state store (the RocksDB files left by the last, clean, run) and the
//! changelog must equal the reference too.
//!
//! The embedded broker lives in the process that opens its data directory, so parent and
//! child never run it at once: the parent opens the cluster only between children, to add the
//! next chunk of input (and at the end, to read the output); the child runs the cluster and
//! the application. The parent re-executes this test binary with `--exact
//! eos_crash_child_runs_the_application` and `RUNNEL_EOS_CHILD_DIR`; without that variable
//! the child test does nothing. Kills land at a random moment up to 400 ms after the child
//! processed its first record (it reports its counters every 10 ms), or every fourth round
//! at a random moment of the start-up (broker recovery, fencing, group join, restore). `RUNNEL_CRASH_SEED` replays a
//! run; the seed is printed.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::txn::TxnConfig;
use serde::{Deserialize, Serialize};

#[path = "support/crash.rs"]
mod crash;
#[path = "support/streams.rs"]
mod streams_support;
use crash::{Child, Markers, Stats};
use streams_support::{group_config, produce, read_all, wait_idle};

const APP: &str = "eos-crash";
const STORE: &str = "totals-store";
const ACCOUNTS: u64 = 3_000;
/// Input added before each killed round, and before the last one.
const CHUNK: usize = 11_000;
const KILLED_ROUNDS: usize = 10;
const LAST_CHUNK: usize = 10_000;
const TOTAL: usize = CHUNK * KILLED_ROUNDS + LAST_CHUNK;

const CHILD_TEST: &str = "eos_crash_child_runs_the_application";
const CHILD_DIR_ENV: &str = "RUNNEL_EOS_CHILD_DIR";
/// `1`: run until every input is processed, then close cleanly and exit.
const CHILD_FINAL_ENV: &str = "RUNNEL_EOS_CHILD_FINAL";
const MARKERS: Markers = Markers {
    ready: "EOS-CHILD-READY",
    progress: "EOS-CHILD-PROGRESS",
};

/// SplitMix64: the events' contents from their ids.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Event `id`: (account, amount).
fn event(id: u64) -> (String, i64) {
    let account = format!("a{}", mix(id) % ACCOUNTS);
    let amount = 1 + (mix(id ^ 0x5555) % 100) as i64;
    (account, amount)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    count: i64,
    sum: i64,
    /// The event that made this update.
    last: u64,
}

fn parse(value: &str) -> (String, i64, u64) {
    let mut parts = value.split(' ');
    let account = parts.next().unwrap_or_default().to_owned();
    let amount = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let id = parts.next().and_then(|p| p.parse().ok()).unwrap_or(u64::MAX);
    (account, amount, id)
}

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |_, v| parse(v).0,
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .aggregate(
            Totals::default,
            |_, v: String, t: Totals| {
                let (_, amount, id) = parse(&v);
                Totals {
                    count: t.count + 1,
                    sum: t.sum + amount,
                    last: id,
                }
            },
            Materialized::as_(STORE)
                .with_value_serde(Serdes::json::<Totals>())
                .with_caching_disabled(),
        )
        .to_stream()
        .to(
            "totals",
            Produced::with(Serdes::string(), Serdes::json::<Totals>()),
        );
    builder.build().unwrap()
}

fn event_records(ids: std::ops::Range<usize>) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    ids.map(|id| {
        let (account, amount) = event(id as u64);
        (
            Some(format!("e{id}")),
            Some(format!("{account} {amount} {id}").into_bytes()),
        )
    })
    .collect()
}

async fn open_cluster(dir: &Path) -> Cluster {
    // Timed-out transactions are looked for often, in case a test leaves one without a
    // restarted producer to fence it.
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

/// The child half of `sigkilled_exactly_once_application_...`; does nothing unless started by
/// it. Runs the application on the cluster in the directory, reporting its progress.
#[test]
fn eos_crash_child_runs_the_application() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir).to_path_buf();
    let last = std::env::var(CHILD_FINAL_ENV).is_ok_and(|v| v == "1");
    // Warnings (a recovery, say) go to stderr, which the parent shows when a round fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    runtime().block_on(async {
        let cluster = open_cluster(&dir).await;
        let config = StreamsConfig::new(APP)
            .with_state_dir(dir.join("state"))
            .with_processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            // The killed instance's member stays in the group until its session times out:
            // short, so a restart does not wait long for the rebalance.
            .with_group_timeouts(Duration::from_millis(1_500), Duration::from_millis(100));
        let mut streams = Streams::new(topology(), config, &cluster);
        streams.start().await.unwrap();
        // libtest has printed "test <name> ... " without a newline: start on a line of our own.
        println!("\n{}", MARKERS.ready);
        let report = |streams: &Streams| {
            let m = streams.metrics();
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{} {} {} {}",
                MARKERS.progress, m.processed_records, m.commits, m.restored_records
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

fn spawn_child(dir: &Path, last: bool) -> Child {
    let last = std::ffi::OsStr::new(if last { "1" } else { "0" });
    Child::spawn(
        CHILD_TEST,
        &[(CHILD_DIR_ENV, dir.as_os_str()), (CHILD_FINAL_ENV, last)],
        MARKERS,
    )
}

/// Adds events `ids` to the input with the parent's own short-lived cluster.
fn add_input(dir: &Path, ids: std::ops::Range<usize>, first: bool) {
    runtime().block_on(async {
        let cluster = open_cluster(dir).await;
        if first {
            cluster.admin().create_topic("events", 3, []).unwrap();
            cluster.admin().create_topic("totals", 2, []).unwrap();
        }
        produce(&cluster, "events", &event_records(ids)).await;
        cluster.shutdown().await;
    });
}

#[test]
fn sigkilled_exactly_once_application_ends_with_the_reference_output_and_state() {
    if std::env::var_os(CHILD_DIR_ENV).is_some() {
        return;
    }
    let seed = std::env::var("RUNNEL_CRASH_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random);
    println!("streams_eos_crash: seed {seed} (RUNNEL_CRASH_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    if std::env::var_os("RUNNEL_EOS_KEEP_DIR").is_some() {
        println!("streams_eos_crash: data in {}", dir.path().display());
    }
    let dir = KeptDir(Some(dir));
    let started = Instant::now();
    let mut stats = Stats::default();
    // Records processed by killed children (the work the kills threw away and redid), and
    // restored by them.
    let (mut processed_by_killed, mut restored) = (0u64, 0u64);

    for round in 0..KILLED_ROUNDS {
        add_input(dir.path(), round * CHUNK..(round + 1) * CHUNK, round == 0);
        let child = spawn_child(dir.path(), false);
        let r = crash::kill_round(child, round, &mut rng, &mut stats);
        let _ = std::fs::write(dir.path().join(format!("child-{round}.log")), &r.stderr);
        let n = |i: usize| r.last.get(i).copied().unwrap_or(0);
        processed_by_killed += n(0);
        restored += n(2);
        println!(
            "round {round}: killed after {} processed records, {} commits, {} restored ({:.1?} in)",
            n(0),
            n(1),
            n(2),
            r.ran
        );
    }

    // The last run processes everything, then closes cleanly.
    add_input(dir.path(), KILLED_ROUNDS * CHUNK..TOTAL, false);
    let child = spawn_child(dir.path(), true);
    let (status, errors, last_run) = crash::wait_exit(child, Duration::from_secs(90));
    let _ = std::fs::write(dir.path().join("child-last.log"), &errors);
    assert!(
        status.success(),
        "the last run failed: {status}; its stderr:\n{errors}"
    );
    let n = |i: usize| last_run.get(i).copied().unwrap_or(0);
    println!(
        "last run: {} processed records, {} commits, {} restored",
        n(0),
        n(1),
        n(2)
    );

    verify(dir.path());
    println!(
        "streams_eos_crash: {} kills ({} while processing, {} in start-up) over {TOTAL} events in {:.1?}; \
         the killed runs processed {} records and restored {}",
        stats.kills,
        stats.kills_while_processing,
        stats.kills_in_startup,
        started.elapsed(),
        processed_by_killed,
        restored
    );
    assert!(
        stats.kills_while_processing >= 5,
        "only {} kills landed while records were processed",
        stats.kills_while_processing
    );
}

/// The test's directory, kept after the test when `RUNNEL_EOS_KEEP_DIR` is set (to look at
/// the broker's logs and the stores of a failed run).
struct KeptDir(Option<tempfile::TempDir>);

impl KeptDir {
    fn path(&self) -> &Path {
        self.0.as_ref().map_or(Path::new("."), |d| d.path())
    }
}

impl Drop for KeptDir {
    fn drop(&mut self) {
        if std::env::var_os("RUNNEL_EOS_KEEP_DIR").is_some()
            && let Some(dir) = self.0.take()
        {
            let _ = dir.keep();
        }
    }
}

/// The reference: per account, its events in id order and its totals.
fn reference() -> BTreeMap<String, (Vec<u64>, Totals)> {
    let mut accounts: BTreeMap<String, (Vec<u64>, Totals)> = BTreeMap::new();
    for id in 0..TOTAL as u64 {
        let (account, amount) = event(id);
        let (ids, totals) = accounts.entry(account).or_default();
        ids.push(id);
        totals.count += 1;
        totals.sum += amount;
    }
    accounts
}

fn decode(value: Option<&[u8]>) -> Totals {
    serde_json::from_slice(value.unwrap()).unwrap()
}

/// Checks the output, the changelog and the state store against the reference.
fn verify(dir: &Path) {
    let expected = reference();
    // Per account, the last update of the output; the changelog and the store must hold it.
    let latest = runtime().block_on(async {
        let cluster = open_cluster(dir).await;

        // The output, read_committed: every event's effect exactly once, in a gapless count.
        let committed = read_all(&cluster, "totals", IsolationLevel::ReadCommitted).await;
        let mut emitted: BTreeMap<String, Vec<Totals>> = BTreeMap::new();
        for (_, _, key, value) in &committed {
            let key = String::from_utf8(key.clone().unwrap()).unwrap();
            emitted.entry(key).or_default().push(decode(value.as_deref()));
        }
        assert_eq!(
            emitted.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "accounts in the output"
        );
        let mut latest = BTreeMap::new();
        for (account, updates) in emitted {
            let (ids, totals) = &expected[&account];
            for (i, u) in updates.iter().enumerate() {
                assert_eq!(
                    u.count,
                    i as i64 + 1,
                    "{account}: update {i} has count {} (an effect lost or doubled); updates: {updates:?}",
                    u.count
                );
            }
            let mut applied: Vec<u64> = updates.iter().map(|u| u.last).collect();
            applied.sort_unstable();
            assert_eq!(&applied, ids, "{account}: the events applied");
            let last = updates.last().unwrap().clone();
            assert_eq!(
                (last.count, last.sum),
                (totals.count, totals.sum),
                "{account}: final totals"
            );
            latest.insert(account, last);
        }
        assert_eq!(committed.len(), TOTAL, "one output record per event");

        // What a read_uncommitted reader sees: the aborted work the kills left behind, which
        // read_committed must have hidden (else no kill interrupted a transaction).
        let uncommitted = read_all(&cluster, "totals", IsolationLevel::ReadUncommitted)
            .await
            .len();
        println!(
            "output: {} records read_committed, {} read_uncommitted ({} from aborted transactions)",
            committed.len(),
            uncommitted,
            uncommitted - committed.len()
        );
        assert!(
            uncommitted > committed.len(),
            "no aborted output: no kill interrupted a transaction"
        );

        // The changelog, read_committed, latest per account.
        let changelog = read_all(
            &cluster,
            &format!("{APP}-{STORE}-changelog"),
            IsolationLevel::ReadCommitted,
        )
        .await;
        let mut table: BTreeMap<String, Totals> = BTreeMap::new();
        for (_, _, key, value) in changelog {
            table.insert(String::from_utf8(key.unwrap()).unwrap(), decode(value.as_deref()));
        }
        assert!(
            table == latest,
            "the changelog's latest totals differ from the output's"
        );
        cluster.shutdown().await;
        latest
    });

    // The state store the last run left on disk (closed cleanly, so with checkpoints).
    let mut store: BTreeMap<String, Totals> = BTreeMap::new();
    let mut tasks = 0;
    for entry in std::fs::read_dir(dir.join("state").join(APP)).unwrap() {
        let task_dir = entry.unwrap().path();
        let rocksdb = task_dir.join("rocksdb");
        if !rocksdb.join(STORE).exists() {
            continue;
        }
        tasks += 1;
        assert!(
            task_dir.join(".checkpoint").exists(),
            "{}: a clean close leaves a checkpoint",
            task_dir.display()
        );
        use runnel::storage::store::KeyValueStore;
        let db = runnel::storage::store::RocksDbStore::open(&rocksdb, STORE).unwrap();
        for item in db.all().unwrap() {
            let (k, v) = item.unwrap();
            store.insert(String::from_utf8(k).unwrap(), decode(Some(&v)));
        }
    }
    assert_eq!(tasks, 3, "one store per partition of the repartition topic");
    assert_eq!(store.len(), expected.len(), "accounts in the state store");
    for (account, totals) in &store {
        assert_eq!(Some(totals), latest.get(account), "{account}: state store");
    }
}
