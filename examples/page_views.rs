//! Page views per page per minute, emitted once per window, on the embedded cluster: events
//! of a website (page, user, event time) arrive slightly out of order, a few of them much too
//! late; a `Streams` application counts them in 1-minute tumbling windows with a 10-second
//! grace period and, with `suppress(until_window_closes)`, writes each window's final count
//! once, when the window closes. The output is checked against a direct computation over the
//! same events: every closed window exactly once with its count, and the late events (dropped
//! and counted in `dropped-records`) exactly those the computation finds late.
//!
//! ```text
//! cargo run --example page_views -- [DATA_DIR] [--events N] [--threads N]
//!
//!   page-views (page → user, event time) ─▶ group_by_key ─▶ windowed_by(1 min, grace 10 s)
//!     ─▶ count ("page-views-per-minute" window store) ─▶ suppress(until_window_closes)
//!     ─▶ to_stream ─▶ page-views-per-minute (windowed key: page ‖ window start)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runnel::prelude::*;
use runnel::stream_core::client::partitioner::partition_for_key;

#[path = "common/mod.rs"]
mod common;

pub const APP_ID: &str = "page-views";
pub const INPUT: &str = "page-views";
pub const OUTPUT: &str = "page-views-per-minute";
pub const STORE: &str = "page-views-per-minute";
pub const PARTITIONS: i32 = 4;
pub const WINDOW_MS: i64 = 60_000;
pub const GRACE_MS: i64 = 10_000;
const TIMEOUT: Duration = Duration::from_secs(300);
/// Event time of the first event: 2026-01-01.
pub const T0_MS: i64 = 1_767_225_600_000;
const PAGES: &[&str] = &[
    "/",
    "/pricing",
    "/docs",
    "/docs/windows",
    "/docs/joins",
    "/blog",
    "/blog/kafka-streams-in-rust",
    "/signup",
    "/login",
    "/about",
];

#[derive(Parser, Debug)]
#[command(about = "Page views per page per minute on Runnel's embedded cluster, emitted once per window")]
struct Args {
    /// Where the broker and the state stores keep their data (default: a temporary directory).
    data_dir: Option<PathBuf>,
    /// How many page views to produce (about 100 a second of event time).
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Stream threads of the application.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// One page view: the page (the record key), the user (the value), when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub page: String,
    pub user: String,
    pub timestamp: i64,
}

/// The application: views per page and 1-minute window, each window's final count once.
pub fn topology() -> Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(INPUT, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(WINDOW_MS as u64),
            Duration::from_millis(GRACE_MS as u64),
        ))
        .count(Materialized::as_(STORE))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to(
            OUTPUT,
            Produced::with(
                WindowedSerdes::time_windowed(Serdes::string(), WINDOW_MS),
                Serdes::i64(),
            ),
        );
    Ok(builder.build()?)
}

/// `n` views over about `n / 100` seconds of event time from `t0`, each up to 8 s out of order
/// (within the grace period); one in 500 is 2–5 minutes late (its window has closed), as a
/// phone coming back online would send it.
pub fn views(n: usize, seed: u64, t0: i64) -> Vec<View> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let now = t0 + (i as i64) * 10;
            let u: f64 = rng.random();
            let page = PAGES[(u * u * PAGES.len() as f64) as usize].to_owned();
            let late = rng.random_range(0..500) == 0;
            let timestamp = if late {
                now - rng.random_range(120_000..300_000)
            } else {
                now - rng.random_range(0..8_000)
            };
            View {
                page,
                user: format!("user-{}", rng.random_range(0..5_000)),
                timestamp: timestamp.max(0),
            }
        })
        .collect()
}

/// One view per partition, `minutes` after `after`: stream time moves past every window of
/// the real events, so each of them closes and is emitted. Their own windows stay open.
pub fn closing_views(after: i64, minutes: i64) -> Vec<View> {
    let mut closing = Vec::new();
    let mut partitions = std::collections::BTreeSet::new();
    for i in 0.. {
        let page = format!("/closing-{i}");
        if partitions.insert(partition_for_key(page.as_bytes(), PARTITIONS)) {
            closing.push(View {
                page,
                user: "closing".into(),
                timestamp: after + minutes * 60_000,
            });
        }
        if partitions.len() == PARTITIONS as usize {
            break;
        }
    }
    closing
}

/// What the application must emit, computed directly: each partition's views in order (as
/// its task sees them), stream time the largest timestamp so far; a view is late when its
/// window has closed (`end + grace <= stream time`). Returns the final count per (page,
/// window start) of the windows that close, and how many views were late.
pub fn reference(views: &[View]) -> (BTreeMap<(String, i64), i64>, u64) {
    let mut stream_time: BTreeMap<i32, i64> = BTreeMap::new();
    let mut counts: BTreeMap<(String, i64), i64> = BTreeMap::new();
    let mut late = 0;
    for v in views {
        let partition = partition_for_key(v.page.as_bytes(), PARTITIONS);
        let st = stream_time.entry(partition).or_insert(i64::MIN);
        *st = (*st).max(v.timestamp);
        let start = v.timestamp - v.timestamp.rem_euclid(WINDOW_MS);
        if start + WINDOW_MS + GRACE_MS <= *st {
            late += 1;
        } else {
            *counts.entry((v.page.clone(), start)).or_default() += 1;
        }
    }
    // Only windows closed by their partition's final stream time are emitted.
    counts.retain(|(page, start), _| {
        let partition = partition_for_key(page.as_bytes(), PARTITIONS);
        stream_time
            .get(&partition)
            .is_some_and(|&st| start + WINDOW_MS + GRACE_MS <= st)
    });
    (counts, late)
}

/// Produces `views` to the input topic, keyed by page, stamped with their event time.
pub async fn produce(cluster: &Cluster, views: &[View]) -> Result<()> {
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut deliveries = Vec::with_capacity(views.len());
    for v in views {
        let record = ProducerRecord::new(INPUT, Bytes::from(v.user.clone()))
            .with_key(Bytes::from(v.page.clone()))
            .with_timestamp(v.timestamp);
        deliveries.push(producer.send(record)?);
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close().await;
    Ok(())
}

/// The emitted windows, `(page, window start) → count`, failing on a window emitted twice.
pub fn emitted(records: Vec<(Option<Bytes>, Option<Bytes>, i64)>) -> Result<BTreeMap<(String, i64), i64>> {
    let serde = WindowedSerdes::time_windowed(Serdes::string(), WINDOW_MS);
    let mut out = BTreeMap::new();
    for (key, value, _) in records {
        let key: Windowed<String> = serde
            .deserialize(OUTPUT, key.as_deref())
            .context("an output key that is not a windowed page")?;
        let value =
            value.with_context(|| format!("a tombstone for {key:?}: final counts are never deleted"))?;
        let bytes: [u8; 8] = value[..]
            .try_into()
            .with_context(|| format!("the count of {key:?} is {} bytes, not 8", value.len()))?;
        let window = (key.key, key.window.start);
        if out.insert(window.clone(), i64::from_be_bytes(bytes)).is_some() {
            bail!("window {window:?} was emitted twice");
        }
    }
    Ok(out)
}

/// Differences between what was emitted and the reference, one a line.
pub fn differences(
    actual: &BTreeMap<(String, i64), i64>,
    expected: &BTreeMap<(String, i64), i64>,
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (window, want) in expected {
        match actual.get(window) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("  {window:?}: emitted {got}, reference {want}")),
            None => diffs.push(format!("  {window:?}: never emitted, reference {want}")),
        }
    }
    for (window, got) in actual {
        if !expected.contains_key(window) {
            diffs.push(format!(
                "  {window:?}: emitted {got}, not a closed window of the input"
            ));
        }
    }
    diffs
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<()> {
    common::init_tracing();
    let args = Args::parse();
    let (root, _temp) = common::data_dir(args.data_dir.as_deref())?;
    println!("Runnel page views per minute — data in {}\n", root.display());
    let cluster = common::open_cluster(&root).await?;
    let result = run(&cluster, &root, &args).await;
    cluster.shutdown().await;
    result
}

#[allow(dead_code)]
async fn run(cluster: &Cluster, root: &Path, args: &Args) -> Result<()> {
    common::create_input(cluster, root, INPUT, PARTITIONS)?;
    cluster.admin().create_topic(OUTPUT, PARTITIONS, [])?;

    let mut events = views(args.events, 7, T0_MS);
    let last = events.iter().map(|v| v.timestamp).max().unwrap_or(T0_MS);
    events.extend(closing_views(last, 2));
    let (expected, late) = reference(&events);
    let started = Instant::now();
    produce(cluster, &events).await?;
    println!(
        "produced {} page views over {:.0} minutes of event time ({late} of them too late) in {:.2} s",
        events.len(),
        (last - T0_MS) as f64 / 60_000.0,
        started.elapsed().as_secs_f64()
    );

    let config = StreamsConfig::new(APP_ID)
        .with_state_dir(root.join("state"))
        .with_threads(args.threads)
        .with_commit_interval(Duration::from_millis(200));
    let mut streams = Streams::new(topology()?, config, cluster);
    let started = Instant::now();
    streams.start().await?;
    streams.wait_until_running(Duration::from_secs(30)).await?;
    common::wait_until_caught_up(cluster, &streams, APP_ID, &[INPUT], TIMEOUT).await?;
    let elapsed = started.elapsed();
    let metrics = streams.metrics();
    streams.close().await?;
    println!(
        "counted  {} views in {:.2} s — {:.0} views/s; {} late views dropped (dropped-records), {} commits",
        events.len(),
        elapsed.as_secs_f64(),
        events.len() as f64 / elapsed.as_secs_f64(),
        metrics.dropped_records,
        metrics.commits
    );

    let actual = emitted(common::read_all(cluster, OUTPUT, TIMEOUT).await?)?;
    print_busiest(&actual, 10);
    let diffs = differences(&actual, &expected);
    if !diffs.is_empty() {
        bail!(
            "{} windows differ from the reference:\n{}",
            diffs.len(),
            common::first_diffs(&diffs)
        );
    }
    ensure!(
        metrics.dropped_records == late,
        "{} views were dropped as late, the reference finds {late}",
        metrics.dropped_records
    );
    println!(
        "\nall {} closed windows emitted exactly once with the reference's counts; {late} late views dropped and counted",
        expected.len()
    );
    Ok(())
}

#[allow(dead_code)]
fn print_busiest(windows: &BTreeMap<(String, i64), i64>, n: usize) {
    let mut rows: Vec<(&(String, i64), &i64)> = windows.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("\n{:>8}  {:<28}  {:>6}", "minute", "page", "views");
    for ((page, start), count) in rows.into_iter().take(n) {
        println!("{:>8}  {page:<28}  {count:>6}", (start - T0_MS) / 60_000);
    }
}
