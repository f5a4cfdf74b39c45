//! The DSL's throughput on the embedded cluster, against a plain loop in the same process.
//!
//! `cargo bench --bench streams` (or `-- --lines N`). Prints one table:
//! - word count: 1 M lines of 10 words → flat_map_values → group_by(word) (a repartition
//!   topic) → count (RocksDB store, record cache, changelog) → to_stream → to, at-least-once,
//!   against a single-threaded `HashMap` count of the same lines (the limit);
//! - a stateless map/filter pipeline, against the same loop without a broker.
//!
//! Throughput is timed from the first processed record until every input and repartition
//! record has been processed; start-up (topic checks, group join, restore) and close (the
//! final commit) are reported apart. Inputs are produced beforehand.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::group::GroupConfig;

const VOCABULARY: usize = 10_000;

fn lines(n: usize) -> Vec<String> {
    let vocab: Vec<String> = (0..VOCABULARY).map(|i| format!("w{i:x}")).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            (0..10)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    vocab[(x % VOCABULARY as u64) as usize].as_str()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn plain_word_count(lines: &[String]) -> (Duration, usize) {
    let start = Instant::now();
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut words = 0;
    for line in lines {
        for w in line.split_whitespace() {
            words += 1;
            match counts.get_mut(w) {
                Some(c) => *c += 1,
                None => {
                    counts.insert(w.to_owned(), 1);
                }
            }
        }
    }
    std::hint::black_box(&counts);
    (start.elapsed(), words)
}

fn plain_stateless(lines: &[String]) -> Duration {
    let start = Instant::now();
    let mut kept = 0usize;
    for line in lines {
        let upper = line.to_uppercase();
        if !upper.starts_with('W') || upper.len() > 3 {
            kept += upper.len();
        }
    }
    std::hint::black_box(kept);
    start.elapsed()
}

async fn cluster(dir: &std::path::Path) -> Cluster {
    let group = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    Cluster::embedded_with(BrokerConfig::new(dir.join("broker")), group)
        .await
        .unwrap()
}

async fn produce(cluster: &Cluster, topic: &str, lines: &[String]) {
    let producer = cluster
        .producer(ProducerConfig {
            linger: Duration::from_millis(20),
            batch_size: 256 << 10,
            ..Default::default()
        })
        .unwrap();
    for l in lines {
        drop(
            producer
                .send(ProducerRecord::new(topic, l.clone().into_bytes()))
                .unwrap(),
        );
    }
    producer.flush().await;
}

/// Runs `topology` until `expected` records were processed: (start-up until the first
/// record was processed, processing from then on, close).
async fn run(
    cluster: &Cluster,
    topology: Topology,
    app: &str,
    state: &std::path::Path,
    threads: usize,
    expected: u64,
) -> (Duration, Duration, Duration) {
    let config = StreamsConfig::new(app)
        .with_state_dir(state)
        .with_threads(threads);
    let mut streams = Streams::new(topology, config, cluster);
    let start = Instant::now();
    streams.start().await.unwrap();
    let mut first = None;
    while streams.metrics().processed_records < expected {
        assert!(streams.error().is_none(), "{:?}", streams.error());
        if first.is_none() && streams.metrics().processed_records > 0 {
            first = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let first = first.unwrap_or(start);
    let processing = first.elapsed();
    let closing = Instant::now();
    streams.close().await.unwrap();
    (first - start, processing, closing.elapsed())
}

fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by(
            |_, w| w.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts", Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().unwrap()
}

fn stateless() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|l: String| l.to_uppercase())
        .filter(|_, l| !l.starts_with('W') || l.len() > 3)
        .to("upper", Produced::with(Serdes::string(), Serdes::string()));
    builder.build().unwrap()
}

fn main() {
    let mut n = 1_000_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--lines") {
        n = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(n);
    }
    // `--only wc` or `--only stateless`: one pipeline, for profiling.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let run_wc = only.as_deref().is_none_or(|o| o == "wc");
    let run_stateless = only.as_deref().is_none_or(|o| o == "stateless");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load before: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let input = lines(n);
    let (plain, words) = plain_word_count(&input);
    let plain_stateless = plain_stateless(&input);

    let mut rows = Vec::new();
    rt.block_on(async {
        for threads in [1usize, 2].into_iter().filter(|_| run_wc) {
            let dir = tempfile::tempdir().unwrap();
            let cluster = cluster(dir.path()).await;
            cluster.admin().create_topic("lines", 2, []).unwrap();
            produce(&cluster, "lines", &input).await;
            let expected = (n + words) as u64;
            let (startup, t, close) = run(
                &cluster,
                word_count(),
                "wc",
                &dir.path().join("state"),
                threads,
                expected,
            )
            .await;
            rows.push((
                format!("word count, RocksDB, {threads} thread(s)"),
                words as f64 / t.as_secs_f64(),
                "words/s",
                plain.as_secs_f64() / t.as_secs_f64(),
                startup,
                close,
            ));
            cluster.shutdown().await;
        }
        if !run_stateless {
            return;
        }
        for threads in [1usize, 2] {
            let dir = tempfile::tempdir().unwrap();
            let cluster = cluster(dir.path()).await;
            cluster.admin().create_topic("lines", 2, []).unwrap();
            produce(&cluster, "lines", &input).await;
            let (startup, t, close) = run(
                &cluster,
                stateless(),
                "sl",
                &dir.path().join("state"),
                threads,
                n as u64,
            )
            .await;
            rows.push((
                format!("stateless map+filter, {threads} thread(s)"),
                n as f64 / t.as_secs_f64(),
                "records/s",
                plain_stateless.as_secs_f64() / t.as_secs_f64(),
                startup,
                close,
            ));
            cluster.shutdown().await;
        }
    });

    println!("{n} lines, {words} words, vocabulary {VOCABULARY}");
    println!(
        "plain HashMap word count: {:.2} M words/s; plain map+filter loop: {:.2} M records/s",
        words as f64 / plain.as_secs_f64() / 1e6,
        n as f64 / plain_stateless.as_secs_f64() / 1e6
    );
    println!("| pipeline | throughput (after the first record) | vs plain loop | start-up | close |");
    println!("|---|---|---|---|---|");
    for (name, rate, unit, ratio, startup, close) in rows {
        println!(
            "| {name} | {:.2} M {unit} | {:.1}% | {:.0} ms | {:.0} ms |",
            rate / 1e6,
            ratio * 100.0,
            startup.as_secs_f64() * 1e3,
            close.as_secs_f64() * 1e3
        );
    }
}
