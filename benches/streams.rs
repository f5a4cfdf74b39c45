//! The DSL's throughput on the embedded cluster, against a plain loop in the same process.
//!
//! `cargo bench --bench streams --profile dev` (or `-- --lines N`, `--only wc|eos|stateless`,
//! `--repeat N`: every row N times, reported as its median run with the range). Prints one
//! table:
//! - word count: 1 M lines of 10 words → flat_map_values → group_by(word) (a repartition
//!   topic) → count (RocksDB store, record cache, changelog) → to_stream → to, at-least-once,
//!   against a single-threaded `HashMap` count of the same lines (the limit);
//! - the same word count under `exactly_once_v2` with `commit.interval.ms=100` (1 thread),
//!   and its throughput as a share of the 1-thread at-least-once row's (`--repeat N`
//!   alternates the two N times and reports medians: the machine's load moves a lot);
//! - a stateless map/filter pipeline, against the same loop without a broker.
//!
//! Throughput is timed from the first processed record until every input and repartition
//! record has been processed; start-up (topic checks, group join, restore) and close (the
//! final commit) are reported apart. Inputs are produced beforehand.
//!
//! Each row's baseline is its plain loop run just before and just after the pipeline (their
//! mean time), not one run at the start: on this shared host the plain loop's own speed moved
//! by a third between runs a minute apart, which moved a row's share of it by as much
//! whichever way the load went while the single baseline ran. Figures and history:
//! `docs/performance.md#streams`.

#![allow(clippy::unwrap_used)]

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::streams::{VOCABULARY, cluster, lines, processed, produce, run, word_count};
use runnel::prelude::*;

/// The input lines as unkeyed records.
fn records(lines: &[String]) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    lines.iter().map(|l| (None, Some(l.as_str())))
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

fn stateless() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|l: String| l.to_uppercase())
        .filter(|_, l| !l.starts_with('W') || l.len() > 3)
        .to("upper", Produced::with(Serdes::string(), Serdes::string()));
    builder.build().unwrap()
}

/// The plain loop run just before and just after a pipeline: the row's baseline.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    before: Duration,
    after: Duration,
}

impl Baseline {
    /// The mean of the two runs' times.
    fn time(&self) -> Duration {
        (self.before + self.after) / 2
    }

    /// The plain loop's rate over `count` words or records, per second.
    fn rate(&self, count: usize) -> f64 {
        count as f64 / self.time().as_secs_f64()
    }

    /// A pipeline's rate as a share of the plain loop's, from its processing time.
    fn share(&self, processing: Duration) -> f64 {
        self.time().as_secs_f64() / processing.as_secs_f64()
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    /// Per second, after the first processed record.
    rate: f64,
    unit: &'static str,
    /// The plain loop around this row, per second (the mean time of its two runs).
    plain_rate: f64,
    /// Of the plain loop's rate.
    vs_plain: f64,
    /// CPU seconds (all threads) per million words or records.
    cpu_per_million: f64,
    startup: Duration,
    close: Duration,
}

/// The word count on a fresh cluster.
async fn word_count_row(
    input: &[String],
    words: usize,
    threads: usize,
    guarantee: ProcessingGuarantee,
) -> Row {
    let name = match guarantee {
        ProcessingGuarantee::AtLeastOnce => format!("word count, RocksDB, {threads} thread(s)"),
        ProcessingGuarantee::ExactlyOnceV2 => {
            format!("word count, RocksDB, {threads} thread(s), exactly_once_v2 (commit 100 ms)")
        }
    };
    let pipeline = Pipeline {
        name,
        topology: word_count,
        app: "wc",
        // Every line and every repartitioned word is a processed record.
        processed: (input.len() + words) as u64,
        plain: |lines| plain_word_count(lines).0,
        count: words,
        unit: "words/s",
    };
    pipeline.row(input, threads, guarantee).await
}

/// The stateless pipeline on a fresh cluster.
async fn stateless_row(input: &[String], threads: usize) -> Row {
    let pipeline = Pipeline {
        name: format!("stateless map+filter, {threads} thread(s)"),
        topology: stateless,
        app: "sl",
        processed: input.len() as u64,
        plain: plain_stateless,
        count: input.len(),
        unit: "records/s",
    };
    pipeline
        .row(input, threads, ProcessingGuarantee::AtLeastOnce)
        .await
}

/// A pipeline the table times, with the plain loop it is measured against.
struct Pipeline {
    name: String,
    topology: fn() -> Topology,
    app: &'static str,
    /// Processed records when the run is done.
    processed: u64,
    plain: fn(&[String]) -> Duration,
    /// What the rates count (words or records), and its unit.
    count: usize,
    unit: &'static str,
}

impl Pipeline {
    /// One run on a fresh cluster over `input` (produced beforehand), between two runs of the
    /// plain loop.
    async fn row(self, input: &[String], threads: usize, guarantee: ProcessingGuarantee) -> Row {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster(dir.path()).await;
        cluster.admin().create_topic("lines", 2, []).unwrap();
        produce(&cluster, "lines", records(input)).await;
        let before = (self.plain)(input);
        let t = run(
            &cluster,
            (self.topology)(),
            self.app,
            &dir.path().join("state"),
            threads,
            guarantee,
            processed(self.processed),
        )
        .await;
        let plain = Baseline {
            before,
            after: (self.plain)(input),
        };
        cluster.shutdown().await;
        let count = self.count as f64;
        Row {
            name: self.name,
            rate: count / t.processing.as_secs_f64(),
            unit: self.unit,
            plain_rate: plain.rate(self.count),
            vs_plain: plain.share(t.processing),
            cpu_per_million: t.cpu.as_secs_f64() / (count / 1e6),
            startup: t.startup,
            close: t.close,
        }
    }
}

/// A row's runs, reported as the run with the median share of its plain loop (the share, not
/// the rate: the host's speed moves both a pipeline and the loop around it) and the ranges.
fn summary(mut runs: Vec<Row>) -> Summary {
    let range = |f: fn(&Row) -> f64| {
        runs.iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            })
    };
    let rate = range(|r| r.rate);
    let share = range(|r| r.vs_plain);
    let n = runs.len();
    runs.sort_by(|a, b| a.vs_plain.total_cmp(&b.vs_plain));
    Summary {
        median: runs.swap_remove(n / 2),
        runs: n,
        rate,
        share,
    }
}

/// A row over its repeated runs.
struct Summary {
    median: Row,
    runs: usize,
    /// (lowest, highest) over the runs.
    rate: (f64, f64),
    share: (f64, f64),
}

fn main() {
    let mut n = 1_000_000usize;
    let value = common::flag;
    if let Some(lines) = value("--lines").and_then(|v| v.parse().ok()) {
        n = lines;
    }
    // `--only wc`, `--only eos` (the 1-thread word count under both guarantees) or `--only
    // stateless`: fewer pipelines, for profiling and repeated runs.
    let only = value("--only");
    let run_wc = only.as_deref().is_none_or(|o| o == "wc");
    let run_eos = only.as_deref().is_none_or(|o| o == "eos");
    let run_stateless = only.as_deref().is_none_or(|o| o == "stateless");
    // `--repeat N`: every row runs N times. The 1-thread word counts under both guarantees
    // alternate, so that load from elsewhere on the machine hits both alike, and their ratio
    // is the median of the N pairs.
    let repeat = value("--repeat")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
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
    // A first run of each plain loop warms the allocator and the lines' cache lines, as the
    // bench's producing does for the pipelines; the rows time their own.
    let (_, words) = plain_word_count(&input);
    plain_stateless(&input);

    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    rt.block_on(async {
        if run_wc || run_eos {
            let (mut alos, mut eos) = (Vec::new(), Vec::new());
            for i in 0..repeat {
                let row = |g| word_count_row(&input, words, 1, g);
                // Either order in turn: a machine getting busier or quieter favours neither.
                let (a, e) = if !run_eos {
                    (row(ProcessingGuarantee::AtLeastOnce).await, None)
                } else if i % 2 == 0 {
                    let a = row(ProcessingGuarantee::AtLeastOnce).await;
                    (a, Some(row(ProcessingGuarantee::ExactlyOnceV2).await))
                } else {
                    let e = row(ProcessingGuarantee::ExactlyOnceV2).await;
                    (row(ProcessingGuarantee::AtLeastOnce).await, Some(e))
                };
                if let Some(e) = e {
                    ratios.push((e.rate / a.rate, a.cpu_per_million / e.cpu_per_million));
                    eos.push(e);
                }
                alos.push(a);
            }
            rows.push(summary(alos));
            if !eos.is_empty() {
                rows.push(summary(eos));
            }
        }
        if run_wc {
            let mut runs = Vec::new();
            for _ in 0..repeat {
                runs.push(word_count_row(&input, words, 2, ProcessingGuarantee::AtLeastOnce).await);
            }
            rows.push(summary(runs));
        }
        if !run_stateless {
            return;
        }
        for threads in [1usize, 2] {
            let mut runs = Vec::new();
            for _ in 0..repeat {
                runs.push(stateless_row(&input, threads).await);
            }
            rows.push(summary(runs));
        }
    });

    println!("{n} lines, {words} words, vocabulary {VOCABULARY}");
    println!(
        "plain loops: a single-threaded HashMap word count (word count rows) and map+filter \
         (stateless rows) over the same lines, run just before and after each row"
    );
    if !ratios.is_empty() {
        let median = |mut v: Vec<f64>| {
            let each: Vec<String> = v.iter().map(|r| format!("{r:.2}")).collect();
            v.sort_by(f64::total_cmp);
            format!(
                "{:.2} (median of {}: {})",
                v[v.len() / 2],
                v.len(),
                each.join(", ")
            )
        };
        println!(
            "exactly_once_v2 / at_least_once, word count, 1 thread: throughput {}; by CPU time {}",
            median(ratios.iter().map(|r| r.0).collect()),
            median(ratios.iter().map(|r| r.1).collect())
        );
    }
    println!(
        "| pipeline | throughput (after the first record) | plain loop around it | vs plain loop | CPU s per M | start-up | close |"
    );
    println!("|---|---|---|---|---|---|---|");
    for Summary {
        median: row,
        runs,
        rate,
        share,
    } in rows
    {
        // With repeats, the median run's figures and, in brackets, the range over the runs.
        let (name, rate_range, share_range) = if runs > 1 {
            (
                format!("{}, median of {runs}", row.name),
                format!(" ({:.2}-{:.2})", rate.0 / 1e6, rate.1 / 1e6),
                format!(" ({:.1}-{:.1})", share.0 * 100.0, share.1 * 100.0),
            )
        } else {
            (row.name, String::new(), String::new())
        };
        println!(
            "| {name} | {:.2} M {}{rate_range} | {:.2} M {} | {:.1}%{share_range} | {:.2} | {:.0} ms | {:.0} ms |",
            row.rate / 1e6,
            row.unit,
            row.plain_rate / 1e6,
            row.unit,
            row.vs_plain * 100.0,
            row.cpu_per_million,
            row.startup.as_secs_f64() * 1e3,
            row.close.as_secs_f64() * 1e3
        );
    }
}
