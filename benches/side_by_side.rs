//! Runnel beside Apache Kafka 4.4 on this machine, in one run: writes `BENCHMARKS.md` and
//! `benchmarks.svg` at the top of the repository.
//!
//! ```text
//! scripts/benchmarks.sh                       # = cargo bench --bench side_by_side --profile dev
//! scripts/benchmarks.sh --rounds 1 --lines 100000 --events 50000 --out /tmp/b   # a quick look
//! ```
//!
//! Each round starts a fresh Apache Kafka (`interop/kafka-ref.sh`) and a fresh `runnel serve`
//! in turn (which goes first alternates by round) and runs on each, with the same clients:
//! - a warm-up (1.1 M records through kcat, untimed), then kcat: 1 M × 100 B produced
//!   (acks=1) and consumed back, every record checked once;
//! - Kafka's `ProducerPerformance` (acks=1 and acks=all) and `ConsumerPerformance`, 1 M × 100 B
//!   into fresh 4-partition topics;
//! - end-to-end latency at a fixed 10 000 records/s (`interop/.../bench/Latency.java`, the Java
//!   client's defaults), p50/p99/p99.9 of 100 000 records after a 2 s warm-up;
//! - the broker's CPU seconds over each timed part and its peak RSS over the round (/proc);
//! - stream processing, the same input and topology on both sides: word count and the CDC
//!   aggregation under at_least_once and exactly_once_v2, by Kafka Streams 4.4 on the Apache
//!   Kafka broker (`StreamsBench.java`) and by Runnel's DSL on the embedded cluster and on
//!   `runnel serve` (through `KafkaCluster`, input loaded by the same `Load.java`); and the
//!   windowed counts (1-minute tumbling over 3 M events, 10-minute sliding) under at_least_once;
//! - Runnel's peak RSS running 100 windowed counts at once (a child process of this bench, so
//!   that its `VmHWM` is its own), against the RocksDB memory budget.
//!
//! `--only broker|streams|windows` runs one part (`windows`: the windowed pipelines and the
//! memory run alone).
//!
//! The figures are medians over the rounds. The load average and any compiler or JVM running
//! beside the bench are reported in the output: numbers from a busy machine are not comparable.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::kafka::{self, KafkaRef, java};
use common::streams::{self as dsl, CdcInput, Timing};
use common::{kcat, median, procfs};
use runnel::prelude::*;

/// The rate of the latency run, records/s.
const LATENCY_RATE: u64 = 10_000;
const LATENCY_SECONDS: u64 = 12;
const LATENCY_WARMUP_SECONDS: u64 = 2;

struct Options {
    rounds: usize,
    lines: usize,
    events: usize,
    out: PathBuf,
    broker: bool,
    streams: bool,
    win_events: usize,
    slide_events: usize,
    /// The stream-processing runs of this invocation.
    pipelines: Vec<(Pipeline, ProcessingGuarantee)>,
    /// Windowed stores of the memory run; 0 skips it.
    memory_stores: usize,
}

impl Options {
    fn parse() -> Options {
        let value = common::flag;
        let number = |flag: &str, default: usize| {
            value(flag)
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("{flag} takes a number, not {v}"))
                })
                .unwrap_or(default)
        };
        let only = value("--only");
        Options {
            rounds: number("--rounds", 3).max(1),
            lines: number("--lines", 300_000),
            events: number("--events", 200_000),
            out: value("--out").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from),
            broker: only.as_deref().is_none_or(|o| o == "broker"),
            streams: only.as_deref().is_none_or(|o| o == "streams" || o == "windows"),
            win_events: number("--win-events", 3_000_000),
            slide_events: number("--slide-events", 300_000),
            pipelines: PIPELINES
                .iter()
                .copied()
                .filter(|(p, _)| {
                    only.as_deref() != Some("windows") || matches!(p, Pipeline::Tumbling | Pipeline::Sliding)
                })
                .collect(),
            memory_stores: if only.as_deref().is_none_or(|o| o == "streams" || o == "windows") {
                number("--memory-stores", 100)
            } else {
                0
            },
        }
    }
}

/// The two systems under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Kafka,
    Runnel,
}

/// One broker's figures from one round.
#[derive(Debug, Clone, Copy, Default)]
struct BrokerRound {
    kcat: kcat::Round,
    pp_acks1: f64,
    pp_acks1_cpu: f64,
    pp_acks_all: f64,
    pp_acks_all_cpu: f64,
    cp: f64,
    cp_cpu: f64,
    /// End-to-end latency p50, p99, p99.9 in ms.
    latency: [f64; 3],
    peak_rss_mib: f64,
}

/// The stream-processing runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pipeline {
    WordCount,
    Cdc,
    /// Count per key and 1-minute tumbling window.
    Tumbling,
    /// Count per key and 10-minute sliding window.
    Sliding,
}

const PIPELINES: [(Pipeline, ProcessingGuarantee); 6] = [
    (Pipeline::WordCount, ProcessingGuarantee::AtLeastOnce),
    (Pipeline::WordCount, ProcessingGuarantee::ExactlyOnceV2),
    (Pipeline::Cdc, ProcessingGuarantee::AtLeastOnce),
    (Pipeline::Cdc, ProcessingGuarantee::ExactlyOnceV2),
    (Pipeline::Tumbling, ProcessingGuarantee::AtLeastOnce),
    (Pipeline::Sliding, ProcessingGuarantee::AtLeastOnce),
];

fn guarantee_name(g: ProcessingGuarantee) -> &'static str {
    match g {
        ProcessingGuarantee::AtLeastOnce => "at_least_once",
        ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
    }
}

/// What one stream-processing run measured: input records per second over the processing
/// window (first record to the last), and start to the end of close.
#[derive(Debug, Clone, Copy)]
struct StreamsRun {
    rate: f64,
    total_s: f64,
}

/// The inputs of the stream-processing runs, in memory and as files for the Java side.
struct StreamsInput {
    lines: Vec<String>,
    words: u64,
    cdc: CdcInput,
    lines_file: PathBuf,
    cdc_file: PathBuf,
    /// Keyed, timestamped events of the tumbling and sliding counts.
    tumbling: Vec<(String, i64)>,
    sliding: Vec<(String, i64)>,
    tumbling_file: PathBuf,
    sliding_file: PathBuf,
}

impl StreamsInput {
    fn new(dir: &Path, lines: usize, events: usize, win_events: usize, slide_events: usize) -> StreamsInput {
        let lines = dsl::lines(lines);
        let words = lines.iter().map(|l| l.split_whitespace().count() as u64).sum();
        let cdc = dsl::cdc_input(events);
        let lines_file = dir.join("lines.txt");
        let cdc_file = dir.join("cdc.tsv");
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&lines_file, text).expect("write lines");
        let mut text = String::new();
        for (key, value) in &cdc.records {
            // JSON escapes tabs and newlines inside strings, so a line is one record.
            let _ = writeln!(text, "{key}\t{}", value.as_deref().unwrap_or(""));
        }
        std::fs::write(&cdc_file, text).expect("write cdc events");
        let t0 = dsl::recent_t0();
        let tumbling = dsl::windowed_events(win_events, 0x9E37_79B9, t0);
        let sliding = dsl::windowed_events(slide_events, 0x7F4A_7C15, t0);
        let write_events = |name: &str, events: &[(String, i64)]| {
            let path = dir.join(name);
            let mut text = String::with_capacity(events.len() * 24);
            for (key, ts) in events {
                let _ = writeln!(text, "{key}\tv\t{ts}");
            }
            std::fs::write(&path, text).expect("write windowed events");
            path
        };
        let tumbling_file = write_events("tumbling.tsv", &tumbling);
        let sliding_file = write_events("sliding.tsv", &sliding);
        StreamsInput {
            lines,
            words,
            cdc,
            lines_file,
            cdc_file,
            tumbling,
            sliding,
            tumbling_file,
            sliding_file,
        }
    }

    /// Input records of `pipeline`: the rate's numerator.
    fn records(&self, pipeline: Pipeline) -> u64 {
        match pipeline {
            Pipeline::WordCount => self.words,
            Pipeline::Cdc => self.cdc.records.len() as u64,
            Pipeline::Tumbling => self.tumbling.len() as u64,
            Pipeline::Sliding => self.sliding.len() as u64,
        }
    }
}

/// Seconds of CPU the process `pid` has used so far (0 when it is gone).
fn cpu_s(pid: u32) -> f64 {
    procfs::cpu(pid).map_or(0.0, |d| d.as_secs_f64())
}

/// A fresh 4-partition topic, through `runnel topics create` (which speaks the Kafka protocol
/// to either broker).
fn create_topic(bootstrap: &str, name: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args([
            "topics",
            "create",
            name,
            "--partitions",
            "4",
            "--bootstrap",
            bootstrap,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runnel topics create");
    assert!(status.success(), "create {name} on {bootstrap}");
}

/// `ProducerPerformance`'s records/s from its summary line ("N records sent, R records/sec
/// (…), …").
fn producer_perf(bootstrap: &str, topic: &str, acks: &str) -> f64 {
    let bootstrap = format!("bootstrap.servers={bootstrap}");
    let acks = format!("acks={acks}");
    let records = kcat::RECORDS.to_string();
    let out = java(
        "org.apache.kafka.tools.ProducerPerformance",
        &[
            "--topic",
            topic,
            "--num-records",
            &records,
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--command-property",
            &bootstrap,
            &acks,
        ],
        "512m",
    );
    let line = out
        .lines()
        .rev()
        .find(|l| l.contains(" records sent, "))
        .unwrap_or_else(|| panic!("no summary from ProducerPerformance:\n{out}"));
    line.split(", ")
        .nth(1)
        .and_then(|part| part.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unexpected ProducerPerformance summary: {line}"))
}

/// `ConsumerPerformance`'s `fetch.nMsg.sec`: records/s once the group is joined.
fn consumer_perf(bootstrap: &str, topic: &str) -> f64 {
    let records = kcat::RECORDS.to_string();
    let out = java(
        "org.apache.kafka.tools.ConsumerPerformance",
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--num-records",
            &records,
        ],
        "512m",
    );
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .by_ref()
        .find(|l| l.contains("fetch.nMsg.sec"))
        .unwrap_or_else(|| panic!("no header from ConsumerPerformance:\n{out}"))
        .split(',')
        .map(str::trim)
        .collect();
    let values: Vec<&str> = lines
        .next()
        .unwrap_or_else(|| panic!("no figures from ConsumerPerformance:\n{out}"))
        .split(',')
        .map(str::trim)
        .collect();
    let at = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in ConsumerPerformance's output:\n{out}"))
    };
    assert_eq!(
        at("data.consumed.in.nMsg") as usize,
        kcat::RECORDS,
        "ConsumerPerformance read every record"
    );
    at("fetch.nMsg.sec")
}

/// A field of the one-line JSON the interop bench tools print.
fn json_field(out: &str, name: &str) -> f64 {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in:\n{out}"));
    let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
    value[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// Every broker measurement of one round against one broker.
fn broker_round(
    bootstrap: &str,
    pid: u32,
    round: usize,
    inputs: &(PathBuf, PathBuf),
    scratch: &Path,
) -> BrokerRound {
    // Warm-up beyond kcat::measure's own 100 000 records: the whole input produced and read
    // once, untimed, so that a fresh JVM's JIT has compiled the produce and fetch paths before
    // anything is timed (with the small warm-up only, the fresh Kafka's first kcat produce of
    // a round ran as slowly as a third of its warm rate: docs/performance.md#wire-server).
    // Runnel gets the same warm-up.
    let warmup = format!("jit-warmup-{round}");
    kcat::produce(bootstrap, &warmup, &inputs.0);
    let status = kcat::consume(bootstrap, &warmup, kcat::RECORDS)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("kcat warm-up consume");
    assert!(status.success(), "kcat warm-up consume from {bootstrap}");
    let mut r = BrokerRound {
        kcat: kcat::measure(bootstrap, round, &inputs.0, &inputs.1, scratch, Some(pid)),
        ..BrokerRound::default()
    };
    for (acks, rate, cpu) in [
        ("1", &mut r.pp_acks1, &mut r.pp_acks1_cpu),
        ("all", &mut r.pp_acks_all, &mut r.pp_acks_all_cpu),
    ] {
        let topic = format!("pp-acks{acks}-{round}");
        create_topic(bootstrap, &topic);
        let before = cpu_s(pid);
        *rate = producer_perf(bootstrap, &topic, acks);
        *cpu = cpu_s(pid) - before;
    }
    let before = cpu_s(pid);
    r.cp = consumer_perf(bootstrap, &format!("pp-acks1-{round}"));
    r.cp_cpu = cpu_s(pid) - before;
    let out = java(
        "dev.runnel.interop.bench.Latency",
        &[
            "--bootstrap",
            bootstrap,
            "--topic",
            &format!("latency-{round}"),
            "--rate",
            &LATENCY_RATE.to_string(),
            "--seconds",
            &LATENCY_SECONDS.to_string(),
            "--warmup-seconds",
            &LATENCY_WARMUP_SECONDS.to_string(),
        ],
        "512m",
    );
    r.latency = [
        json_field(&out, "p50_ms"),
        json_field(&out, "p99_ms"),
        json_field(&out, "p999_ms"),
    ];
    r.peak_rss_mib = procfs::peak_rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    r
}

/// Kafka Streams on the Apache Kafka broker at `bootstrap`, over inputs already loaded.
fn kafka_streams_run(
    bootstrap: &str,
    input: &StreamsInput,
    pipeline: Pipeline,
    guarantee: ProcessingGuarantee,
    round: usize,
    scratch: &Path,
) -> StreamsRun {
    let (app, expect, lines) = match pipeline {
        Pipeline::WordCount => ("wc", input.words, input.lines.len()),
        Pipeline::Cdc => ("cdc", input.cdc.aggregator_calls, 0),
        Pipeline::Tumbling => ("win", input.tumbling.len() as u64, 0),
        Pipeline::Sliding => ("slide", input.sliding.len() as u64, 0),
    };
    let g = guarantee_name(guarantee);
    let prefix = format!("r{round}-{g}-");
    let state = scratch.join(format!("ks-state-{app}-{prefix}"));
    let out = java(
        "dev.runnel.interop.bench.StreamsBench",
        &[
            "--bootstrap",
            bootstrap,
            "--app",
            app,
            "--guarantee",
            g,
            "--state-dir",
            &state.display().to_string(),
            "--expect",
            &expect.to_string(),
            "--lines",
            &lines.to_string(),
            "--prefix",
            &prefix,
        ],
        "1g",
    );
    let _ = std::fs::remove_dir_all(&state);
    StreamsRun {
        rate: input.records(pipeline) as f64 / (json_field(&out, "processing_ms") / 1e3),
        total_s: json_field(&out, "total_ms") / 1e3,
    }
}

/// Runnel's DSL on a fresh embedded cluster: the input loaded first (untimed), then the run.
async fn runnel_run(input: &StreamsInput, pipeline: Pipeline, guarantee: ProcessingGuarantee) -> StreamsRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = dsl::cluster(dir.path()).await;
    let admin = cluster.admin();
    let calls = Arc::new(AtomicU64::new(0));
    let t: Timing = match pipeline {
        Pipeline::WordCount => {
            admin.create_topic("lines", 4, []).unwrap();
            admin.create_topic("counts", 4, []).unwrap();
            let records = input.lines.iter().map(|l| (None::<&str>, Some(l.as_str())));
            dsl::produce(&cluster, "lines", records).await;
            let expected = input.lines.len() as u64 + input.words;
            let state = dir.path().join("state");
            dsl::run(
                &cluster,
                dsl::word_count(),
                "wc",
                &state,
                1,
                guarantee,
                dsl::processed(expected),
            )
            .await
        }
        Pipeline::Cdc => {
            for topic in ["orders.cdc", "orders", "customer-totals"] {
                admin.create_topic(topic, 4, []).unwrap();
            }
            let records = input
                .cdc
                .records
                .iter()
                .map(|(k, v)| (Some(k.as_str()), v.as_deref()));
            dsl::produce(&cluster, "orders.cdc", records).await;
            let expected = input.cdc.aggregator_calls;
            let seen = calls.clone();
            let state = dir.path().join("state");
            let topology = dsl::cdc_aggregation(calls.clone());
            dsl::run(&cluster, topology, "cdc", &state, 1, guarantee, move |_| {
                seen.load(Ordering::Relaxed) >= expected
            })
            .await
        }
        Pipeline::Tumbling | Pipeline::Sliding => {
            let (source, sink, events, topology, app) = windowed(input, pipeline);
            admin.create_topic(source, 4, []).unwrap();
            admin.create_topic(sink, 4, []).unwrap();
            dsl::produce_timed(&cluster, source, events).await;
            let state = dir.path().join("state");
            let processed = dsl::processed(events.len() as u64);
            dsl::run(&cluster, topology, app, &state, 1, guarantee, processed).await
        }
    };
    cluster.shutdown().await;
    StreamsRun {
        rate: input.records(pipeline) as f64 / t.processing.as_secs_f64(),
        total_s: t.total().as_secs_f64(),
    }
}

/// A windowed pipeline's source and sink topics, events, topology and application id.
fn windowed(
    input: &StreamsInput,
    pipeline: Pipeline,
) -> (
    &'static str,
    &'static str,
    &[(String, i64)],
    Topology,
    &'static str,
) {
    match pipeline {
        Pipeline::Sliding => (
            "slide-events",
            "slide-counts",
            &input.sliding,
            dsl::sliding_count(),
            "slide",
        ),
        _ => (
            "events",
            "win-counts",
            &input.tumbling,
            dsl::tumbling_count(),
            "win",
        ),
    }
}

/// Loads `pipeline`'s input into `topic` with the Java client (`Load.java`), as for Kafka.
fn load(bootstrap: &str, input: &StreamsInput, pipeline: Pipeline) {
    let (topic, file, keyed) = match pipeline {
        Pipeline::WordCount => ("lines", &input.lines_file, "--keyed=false"),
        Pipeline::Cdc => ("orders.cdc", &input.cdc_file, "--keyed=true"),
        Pipeline::Tumbling => ("events", &input.tumbling_file, "--timestamped=true"),
        Pipeline::Sliding => ("slide-events", &input.sliding_file, "--timestamped=true"),
    };
    let file = file.display().to_string();
    let (flag, value) = keyed.split_once('=').unwrap_or((keyed, "true"));
    java(
        "dev.runnel.interop.bench.Load",
        &[
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--file",
            &file,
            flag,
            value,
        ],
        "512m",
    );
}

/// Runnel's DSL on a fresh `runnel serve`, through `KafkaCluster` (librdkafka): the topics
/// created and the input loaded first (untimed), then the run.
async fn runnel_remote_run(
    input: &StreamsInput,
    pipeline: Pipeline,
    guarantee: ProcessingGuarantee,
) -> StreamsRun {
    let mut server = support::Server::start(&["num.partitions=4", "group.initial.rebalance.delay.ms=0"]);
    let bootstrap = server.bootstrap();
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let cluster = KafkaCluster::connect(&bootstrap);
    // The input topic is created by `Load.java`.
    let topics: &[&str] = match pipeline {
        Pipeline::WordCount => &["counts"],
        Pipeline::Cdc => &["orders", "customer-totals"],
        Pipeline::Tumbling => &["win-counts"],
        Pipeline::Sliding => &["slide-counts"],
    };
    for topic in topics {
        create_topic(&bootstrap, topic);
    }
    load(&bootstrap, input, pipeline);
    let t: Timing = match pipeline {
        Pipeline::WordCount => {
            let expected = input.lines.len() as u64 + input.words;
            let processed = dsl::processed(expected);
            dsl::run(&cluster, dsl::word_count(), "wc", &state, 1, guarantee, processed).await
        }
        Pipeline::Cdc => {
            let calls = Arc::new(AtomicU64::new(0));
            let (seen, expected) = (calls.clone(), input.cdc.aggregator_calls);
            let topology = dsl::cdc_aggregation(calls);
            dsl::run(&cluster, topology, "cdc", &state, 1, guarantee, move |_| {
                seen.load(Ordering::Relaxed) >= expected
            })
            .await
        }
        Pipeline::Tumbling | Pipeline::Sliding => {
            let (_, _, events, topology, app) = windowed(input, pipeline);
            let processed = dsl::processed(events.len() as u64);
            dsl::run(&cluster, topology, app, &state, 1, guarantee, processed).await
        }
    };
    server.stop();
    StreamsRun {
        rate: input.records(pipeline) as f64 / t.processing.as_secs_f64(),
        total_s: t.total().as_secs_f64(),
    }
}

/// Everything measured, per system, one entry per round.
#[derive(Default)]
struct Results {
    kafka: Vec<BrokerRound>,
    runnel: Vec<BrokerRound>,
    kafka_streams: Vec<Vec<StreamsRun>>,
    runnel_streams: Vec<Vec<StreamsRun>>,
    /// Runnel's DSL on `runnel serve`.
    runnel_remote_streams: Vec<Vec<StreamsRun>>,
    /// Runnel's memory with many windowed stores, one per round.
    window_memory: Vec<WindowMemory>,
}

/// Events of the memory run: each is counted by every one of its windowed stores.
const MEMORY_EVENTS: usize = 50_000;

/// What the memory run measured (see [`window_memory_child`]).
#[derive(Debug, Clone, Copy)]
struct WindowMemory {
    /// Peak RSS of the process (`VmHWM`), the embedded broker included.
    peak_mib: f64,
    /// RSS once the input was loaded, before the application started.
    before_mib: f64,
    budget_mib: f64,
    /// RocksDB's own reckoning at the end: block cache and memtables of every store.
    rocksdb_mib: f64,
    rate: f64,
}

/// Runs [`window_memory_child`] in a child process (this bench binary again), so that the peak
/// RSS measured is that application's alone.
fn window_memory_run(stores: usize) -> WindowMemory {
    let out = Command::new(std::env::current_exe().expect("current exe"))
        .args(["--bench", "--window-memory", &stores.to_string()])
        .output()
        .expect("start the memory run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the memory run failed: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    WindowMemory {
        peak_mib: json_field(&text, "peak_mib"),
        before_mib: json_field(&text, "before_mib"),
        budget_mib: json_field(&text, "budget_mib"),
        rocksdb_mib: json_field(&text, "rocksdb_mib"),
        rate: json_field(&text, "rate"),
    }
}

/// The memory run: `stores` windowed counts (1-minute tumbling windows, RocksDB window stores,
/// the default budget `rocksdb.memory.max.bytes` of 256 MiB) of the same [`MEMORY_EVENTS`]
/// events over 10 000 keys, 4 partitions, so `4 × stores` stores open at once, on the
/// embedded cluster. Prints one line of JSON.
fn window_memory_child(stores: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pid = std::process::id();
    // The default `rocksdb.memory.max.bytes`: every store of the process within this budget.
    let budget = runnel::storage::store::MemoryBudget::process_default();
    let (before, timing, rocksdb) = rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = dsl::cluster(dir.path()).await;
        cluster.admin().create_topic("events", 4, []).unwrap();
        let events = dsl::windowed_events(MEMORY_EVENTS, 0x51ED_270B, dsl::recent_t0());
        dsl::produce_timed(&cluster, "events", &events).await;
        let before = procfs::rss_kib(pid).unwrap_or(0);
        let state = dir.path().join("state");
        // One source: each event is one processed record, counted once it went through every
        // store's aggregation.
        let topology = dsl::many_windowed_counts(stores);
        let processed = dsl::processed(MEMORY_EVENTS as u64);
        // RocksDB's reckoning when the last event is processed, every store still open.
        let rocksdb = AtomicU64::new(0);
        let done = |s: &Streams| {
            let done = processed(s);
            if done {
                let usage = budget.usage().map_or(0, |u| u.block_cache + u.table_readers);
                rocksdb.store(usage, Ordering::Relaxed);
            }
            done
        };
        let timing = dsl::run(
            &cluster,
            topology,
            "memory",
            &state,
            1,
            ProcessingGuarantee::AtLeastOnce,
            done,
        )
        .await;
        cluster.shutdown().await;
        (before, timing, rocksdb.load(Ordering::Relaxed))
    });
    let peak = procfs::peak_rss_kib(pid).unwrap_or(0);
    println!(
        "{{\"peak_mib\":{:.1},\"before_mib\":{:.1},\"budget_mib\":{:.1},\"rocksdb_mib\":{:.1},\"rate\":{:.1}}}",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        budget.bytes() as f64 / (1024.0 * 1024.0),
        rocksdb as f64 / (1024.0 * 1024.0),
        MEMORY_EVENTS as f64 / timing.processing.as_secs_f64()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Some(stores) = common::flag("--window-memory") {
        window_memory_child(stores.parse().expect("--window-memory takes a number"));
        return;
    }
    let options = Options::parse();
    let mut missing = Vec::new();
    if !kcat::available() {
        missing.push("kcat (scripts/deps.sh installs it)");
    }
    if !kafka::available() {
        missing.push("java 17 and mvn (the Apache Kafka side)");
    }
    if !missing.is_empty() {
        eprintln!("side_by_side needs {}", missing.join(" and "));
        std::process::exit(2);
    }
    let load_before = common::load_average();
    let busy_before = common::busy_processes();
    eprintln!("load before: {load_before}; busy: {busy_before:?}");
    // Resolve and compile the Java side before anything is timed.
    let _ = kafka::classpath();
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = kcat::write_inputs(dir.path());
    let streams_input = StreamsInput::new(
        dir.path(),
        options.lines,
        options.events,
        options.win_events,
        options.slide_events,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut results = Results::default();
    for round in 0..options.rounds {
        let order = if round % 2 == 0 {
            [System::Kafka, System::Runnel]
        } else {
            [System::Runnel, System::Kafka]
        };
        for system in order {
            eprintln!("round {} of {}: {system:?}", round + 1, options.rounds);
            match system {
                System::Kafka => {
                    let kafka = KafkaRef::start(dir.path().join(format!("kafka-{round}")));
                    if options.broker {
                        let r = broker_round(&kafka.bootstrap(), kafka.pid(), round, &inputs, dir.path());
                        results.kafka.push(r);
                    }
                    if options.streams {
                        let input = &streams_input;
                        let b = kafka.bootstrap();
                        // Each input once: the runs of one pipeline share it.
                        let mut loaded = Vec::new();
                        for &(p, _) in &options.pipelines {
                            if !loaded.contains(&p) {
                                load(&b, input, p);
                                loaded.push(p);
                            }
                        }
                        let runs = options
                            .pipelines
                            .iter()
                            .map(|&(p, g)| kafka_streams_run(&b, input, p, g, round, dir.path()))
                            .collect();
                        results.kafka_streams.push(runs);
                    }
                }
                System::Runnel => {
                    if options.broker {
                        let mut server = support::Server::start(&[
                            "num.partitions=4",
                            "group.initial.rebalance.delay.ms=0",
                        ]);
                        let pid = server.pid().expect("runnel serve runs");
                        results.runnel.push(broker_round(
                            &server.bootstrap(),
                            pid,
                            round,
                            &inputs,
                            dir.path(),
                        ));
                        server.stop();
                    }
                    if options.streams {
                        let (embedded, remote) = rt.block_on(async {
                            let (mut embedded, mut remote) = (Vec::new(), Vec::new());
                            for &(p, g) in &options.pipelines {
                                embedded.push(runnel_run(&streams_input, p, g).await);
                                remote.push(runnel_remote_run(&streams_input, p, g).await);
                            }
                            (embedded, remote)
                        });
                        results.runnel_streams.push(embedded);
                        results.runnel_remote_streams.push(remote);
                        if options.memory_stores > 0 {
                            results
                                .window_memory
                                .push(window_memory_run(options.memory_stores));
                        }
                    }
                }
            }
        }
    }
    let load_after = common::load_average();
    let busy_after = common::busy_processes();

    let report = Report {
        options: &options,
        results: &results,
        input: &streams_input,
        load: (load_before, load_after),
        busy: (busy_before, busy_after),
    };
    let markdown = report.markdown();
    let svg = report.svg();
    std::fs::create_dir_all(&options.out).expect("output dir");
    std::fs::write(options.out.join("BENCHMARKS.md"), &markdown).expect("write BENCHMARKS.md");
    std::fs::write(options.out.join("benchmarks.svg"), svg).expect("write benchmarks.svg");
    println!("{markdown}");
    eprintln!("wrote {}", options.out.join("BENCHMARKS.md").display());
}

/// One line of a comparison: the two medians, and which way is better.
struct Line {
    group: &'static str,
    name: String,
    unit: &'static str,
    kafka: f64,
    runnel: f64,
    /// Whether a larger figure is better (throughput) or a smaller one (latency, CPU, memory).
    higher_is_better: bool,
    /// The target on the advantage (Runnel over Kafka, ×), when the issue sets one.
    target: Option<f64>,
    runs: (Vec<f64>, Vec<f64>),
}

impl Line {
    /// How many times better Runnel is (above 1) or worse (below 1).
    fn advantage(&self) -> f64 {
        if self.higher_is_better {
            self.runnel / self.kafka
        } else {
            self.kafka / self.runnel
        }
    }

    fn verdict(&self) -> &'static str {
        match self.target {
            Some(t) if self.advantage() >= t => "met",
            Some(_) => "**missed**",
            None => "",
        }
    }
}

struct Report<'a> {
    options: &'a Options,
    results: &'a Results,
    input: &'a StreamsInput,
    load: (String, String),
    busy: (Vec<String>, Vec<String>),
}

impl Report<'_> {
    fn lines(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        let (k, r) = (&self.results.kafka, &self.results.runnel);
        if !k.is_empty() && !r.is_empty() {
            let broker = |name: &str, unit, higher, target, f: &dyn Fn(&BrokerRound) -> f64| {
                let (kv, rv): (Vec<f64>, Vec<f64>) = (k.iter().map(f).collect(), r.iter().map(f).collect());
                Line {
                    group: "broker",
                    name: name.to_owned(),
                    unit,
                    kafka: median(kv.clone()),
                    runnel: median(rv.clone()),
                    higher_is_better: higher,
                    target,
                    runs: (kv, rv),
                }
            };
            let m = 1e6;
            lines.extend([
                broker("kcat produce, acks=1", "M rec/s", true, Some(1.5), &|b| {
                    b.kcat.produce / m
                }),
                broker("kcat consume", "M rec/s", true, Some(1.5), &|b| {
                    b.kcat.consume / m
                }),
                broker("ProducerPerformance, acks=1", "M rec/s", true, Some(1.5), &|b| {
                    b.pp_acks1 / m
                }),
                broker(
                    "ProducerPerformance, acks=all",
                    "M rec/s",
                    true,
                    Some(1.5),
                    &|b| b.pp_acks_all / m,
                ),
                broker("ConsumerPerformance", "M rec/s", true, Some(1.5), &|b| b.cp / m),
                broker("end-to-end latency p50", "ms", false, None, &|b| b.latency[0]),
                broker("end-to-end latency p99", "ms", false, Some(1.0), &|b| {
                    b.latency[1]
                }),
                broker("end-to-end latency p99.9", "ms", false, None, &|b| b.latency[2]),
                broker("broker CPU, kcat produce", "s", false, None, &|b| {
                    b.kcat.produce_cpu
                }),
                broker("broker CPU, kcat consume", "s", false, None, &|b| {
                    b.kcat.consume_cpu
                }),
                broker("broker CPU, ProducerPerformance acks=1", "s", false, None, &|b| {
                    b.pp_acks1_cpu
                }),
                broker(
                    "broker CPU, ProducerPerformance acks=all",
                    "s",
                    false,
                    None,
                    &|b| b.pp_acks_all_cpu,
                ),
                broker("broker CPU, ConsumerPerformance", "s", false, None, &|b| b.cp_cpu),
                broker("broker peak RSS", "MiB", false, Some(4.0), &|b| b.peak_rss_mib),
            ]);
        }
        let ks = &self.results.kafka_streams;
        let placements = [
            ("embedded", &self.results.runnel_streams),
            ("on runnel serve", &self.results.runnel_remote_streams),
        ];
        for (placement, rs) in placements {
            if ks.is_empty() || rs.is_empty() {
                continue;
            }
            for (i, &(pipeline, guarantee)) in self.options.pipelines.iter().enumerate() {
                let (name, unit) = match pipeline {
                    Pipeline::WordCount => ("word count", "M words/s"),
                    Pipeline::Cdc => ("CDC aggregation", "M events/s"),
                    Pipeline::Tumbling => ("windowed count, 1-min tumbling", "M events/s"),
                    Pipeline::Sliding => ("windowed count, 10-min sliding", "M events/s"),
                };
                // The windows issue's targets: 3× Kafka Streams embedded, 1.5× on `runnel
                // serve` (where librdkafka and the broker share the cores).
                let windowed = matches!(pipeline, Pipeline::Tumbling | Pipeline::Sliding);
                let target = if windowed && placement != "embedded" {
                    1.5
                } else {
                    3.0
                };
                let g = guarantee_name(guarantee);
                let kv: Vec<f64> = ks.iter().map(|runs| runs[i].rate / 1e6).collect();
                let rv: Vec<f64> = rs.iter().map(|runs| runs[i].rate / 1e6).collect();
                lines.push(Line {
                    group: "streams",
                    name: format!("{name}, {g}, Runnel {placement}"),
                    unit,
                    kafka: median(kv.clone()),
                    runnel: median(rv.clone()),
                    higher_is_better: true,
                    target: Some(target),
                    runs: (kv, rv),
                });
                let kv: Vec<f64> = ks.iter().map(|runs| runs[i].total_s).collect();
                let rv: Vec<f64> = rs.iter().map(|runs| runs[i].total_s).collect();
                lines.push(Line {
                    group: "streams-time",
                    name: format!("{name}, {g}, Runnel {placement}: start to closed"),
                    unit: "s",
                    kafka: median(kv.clone()),
                    runnel: median(rv.clone()),
                    higher_is_better: false,
                    target: None,
                    runs: (kv, rv),
                });
            }
        }
        lines
    }

    fn markdown(&self) -> String {
        let o = self.options;
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmarks: Runnel beside Apache Kafka 4.4\n");
        let _ = writeln!(
            md,
            "Generated by `scripts/benchmarks.sh` (`cargo bench --bench side_by_side --profile dev`; \
             the code is `benches/side_by_side.rs`) on {}. Both systems ran on this machine in the \
             same run, with the same clients, one after the other in each round (which went first \
             alternated by round); every figure is the median of {} round(s), the runs are listed \
             at the end. Do not edit this file by hand: run the command again.\n",
            today(),
            o.rounds
        );
        let _ = writeln!(md, "- Machine: {}", machine());
        let _ = writeln!(
            md,
            "- Load average (1, 5, 15 min) before: {}; after: {}",
            self.load.0, self.load.1
        );
        for (when, busy) in [("before", &self.busy.0), ("after", &self.busy.1)] {
            if !busy.is_empty() {
                let _ = writeln!(
                    md,
                    "- **Not idle {when} the run**: {} ran beside it; these figures are not comparable.",
                    busy.join(", ")
                );
            }
        }
        let _ = writeln!(
            md,
            "- Apache Kafka 4.4.0: single-node KRaft broker from `interop/kafka-ref.sh` (the JVM \
             flags of `kafka-server-start.sh`: `-Xmx1G -Xms1G`, G1), `num.partitions=4`, \
             `group.initial.rebalance.delay.ms=0`, flush left to the OS. Runnel: `runnel serve` with \
             the same two settings (dev profile, which is optimized: see Cargo.toml).\n"
        );
        let lines = self.lines();
        let table = |md: &mut String, group: &str, header: &str| {
            let _ = writeln!(
                md,
                "| {header} | Apache Kafka | Runnel | Runnel's advantage | target |"
            );
            let _ = writeln!(md, "|---|---|---|---|---|");
            for l in lines.iter().filter(|l| l.group == group) {
                let target = l
                    .target
                    .map_or(String::new(), |t| format!("≥ {t}× {}", l.verdict()));
                let _ = writeln!(
                    md,
                    "| {} | {} {} | {} {} | {:.2}× | {target} |",
                    l.name,
                    fmt(l.kafka),
                    l.unit,
                    fmt(l.runnel),
                    l.unit,
                    l.advantage()
                );
            }
        };
        if lines.iter().any(|l| l.group == "broker") {
            let _ = writeln!(md, "## Broker: the same clients against both\n");
            let _ = writeln!(
                md,
                "1 M records of 100 B, fresh 4-partition topics, after an untimed warm-up of 1.1 M \
                 records through kcat (a fresh JVM needs it). kcat (librdkafka): acks=1, \
                 `linger.ms=5`, every record consumed back and checked once (see benches/wire.rs for \
                 the consumer's queue settings). `ProducerPerformance`/`ConsumerPerformance` \
                 (kafka-tools 4.4, the Java client's defaults otherwise; consume rate is \
                 `fetch.nMsg.sec`, after the group join). Latency: the Java client's defaults \
                 (acks=all, `linger.ms=5`) at a fixed {LATENCY_RATE} records/s for \
                 {LATENCY_SECONDS} s, the first {LATENCY_WARMUP_SECONDS} s left out, send to \
                 delivery in one JVM. CPU: the broker process's user+system seconds over each \
                 timed part. Peak RSS: the broker's `VmHWM` at the end of the round. \
                 \"Advantage\" is Runnel's figure over Kafka's for throughput and Kafka's over \
                 Runnel's for latency, CPU and memory: above 1 is better for Runnel.\n"
            );
            table(&mut md, "broker", "measure");
            let _ = writeln!(md);
        }
        let keyed_pipelines = self
            .options
            .pipelines
            .iter()
            .any(|(p, _)| matches!(p, Pipeline::WordCount | Pipeline::Cdc));
        if lines.iter().any(|l| l.group == "streams") {
            let _ = writeln!(md, "## Stream processing: the same input and topology\n");
            if !keyed_pipelines {
                let _ = writeln!(
                    md,
                    "Kafka Streams 4.4 (`interop/src/main/java/dev/runnel/interop/bench/StreamsBench.java`) on \
                     the Apache Kafka broker against Runnel's DSL (`benches/common/streams.rs`) on the \
                     embedded cluster and on a fresh `runnel serve` (`KafkaCluster`: librdkafka over \
                     loopback; the broker shares the 2 cores, as Kafka's does with Kafka Streams), one \
                     stream thread each, 4 input partitions, every other setting at its default. \
                     Throughput counts input records from the first record until every record was \
                     processed; the inputs were loaded before the start and are not timed.\n"
                );
            }
            if keyed_pipelines {
                let _ = writeln!(
                    md,
                    "Kafka Streams 4.4 (`interop/src/main/java/dev/runnel/interop/bench/StreamsBench.java`) on \
                 the Apache Kafka broker against Runnel's DSL (`benches/common/streams.rs`) on the \
                 embedded cluster and on a fresh `runnel serve` (`KafkaCluster`: librdkafka over \
                 loopback, input loaded by the same `Load.java`; the broker shares the 2 cores, as \
                 Kafka's does with Kafka Streams), one stream thread each, 4 input partitions, every \
                 other setting at its default (commit interval 30 s under at_least_once, 100 ms under \
                 exactly_once_v2; 10 MiB record cache). Word count: {} lines of 10 words ({} words, \
                 vocabulary {}), flatMapValues → group by word (repartition) → count (RocksDB) → \
                 `counts`. CDC aggregation: {} Debezium-style change events (inserts, updates that \
                 can move an order to another customer, deletes with their tombstones) → orders \
                 table (uncached) → group by customer → aggregate with adder and subtractor → \
                 `customer-totals`. Throughput counts input records over the processing window, \
                 from the first record until every record was processed (for the CDC case, until \
                 the adder and subtractor were called the {} times the input implies); the \
                 inputs were loaded before the start and are not timed.\n",
                    self.input.lines.len(),
                    self.input.words,
                    dsl::VOCABULARY,
                    self.input.cdc.records.len(),
                    self.input.cdc.aggregator_calls
                );
            }
            table(&mut md, "streams", "pipeline");
            let _ = writeln!(md);
            table(&mut md, "streams-time", "end-to-end time");
            let _ = writeln!(md);
            if self
                .options
                .pipelines
                .iter()
                .any(|(p, _)| matches!(p, Pipeline::Tumbling | Pipeline::Sliding))
            {
                let _ = writeln!(
                    md,
                    "Windowed counts: {} events (tumbling) and {} events (sliding) over {} keys, \
                     spread over 30 minutes of event time, each up to 5 s out of order (within the \
                     10 s grace, so every event counts), keyed and stamped by `Load.java` on both \
                     sides. 1-minute tumbling windows, and 10-minute sliding windows (each event \
                     updates every window of its key that it falls in), counted into a RocksDB \
                     window store behind the 10 MiB record cache, the counts written to a topic \
                     with the windowed-key serde; at_least_once. Targets: 3× Kafka Streams \
                     embedded, 1.5× on `runnel serve`.\n",
                    self.input.tumbling.len(),
                    self.input.sliding.len(),
                    dsl::WINDOW_KEYS
                );
            }
        }
        let memory = &self.results.window_memory;
        if !memory.is_empty() {
            let m = |f: &dyn Fn(&WindowMemory) -> f64| median(memory.iter().map(f).collect());
            let (peak, before, budget, rocksdb, rate) = (
                m(&|w| w.peak_mib),
                m(&|w| w.before_mib),
                m(&|w| w.budget_mib),
                m(&|w| w.rocksdb_mib),
                m(&|w| w.rate),
            );
            let limit = budget + 100.0;
            let _ = writeln!(
                md,
                "## Memory: {} windowed stores in one application
",
                self.options.memory_stores
            );
            let _ = writeln!(
                md,
                "Runnel alone (no peer offers one memory budget for every store of a process): {} \
                 windowed counts (1-minute tumbling, RocksDB) of the same {MEMORY_EVENTS} events \
                 over {} keys, 4 partitions, so {} window stores open at once, on the embedded \
                 cluster, in a child process of the bench; `rocksdb.memory.max.bytes` at its \
                 default. Peak RSS is the process's `VmHWM`, the embedded broker and the loaded \
                 input included.\n",
                self.options.memory_stores,
                dsl::WINDOW_KEYS,
                4 * self.options.memory_stores
            );
            let _ = writeln!(md, "| measure | Runnel | target |");
            let _ = writeln!(md, "|---|---|---|");
            let verdict = if peak <= limit { "met" } else { "**missed**" };
            let _ = writeln!(
                md,
                "| peak RSS | {} MiB | ≤ budget + 100 MiB = {} MiB {verdict} |",
                fmt(peak),
                fmt(limit)
            );
            let _ = writeln!(
                md,
                "| RSS with the input loaded, before the application | {} MiB | |",
                fmt(before)
            );
            let _ = writeln!(
                md,
                "| RocksDB's block cache and table readers at the end (its own reckoning) | {} MiB | ≤ budget {} MiB |",
                fmt(rocksdb),
                fmt(budget)
            );
            let _ = writeln!(md, "| events/s (each through every store) | {} | |", fmt(rate));
            let runs: Vec<String> = memory.iter().map(|w| fmt(w.peak_mib)).collect();
            let _ = writeln!(md, "\nPeak RSS per round: {} MiB.\n", runs.join(", "));
        }
        let _ = writeln!(
            md,
            "## Chart\n\n![Runnel's advantage per measure](benchmarks.svg)\n"
        );
        let _ = writeln!(md, "## Every run\n");
        let _ = writeln!(md, "| measure | Apache Kafka | Runnel |");
        let _ = writeln!(md, "|---|---|---|");
        for l in &lines {
            let runs = |v: &[f64]| v.iter().map(|x| fmt(*x)).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                md,
                "| {} ({}) | {} | {} |",
                l.name,
                l.unit,
                runs(&l.runs.0),
                runs(&l.runs.1)
            );
        }
        md
    }

    /// A horizontal bar per measure from 1× to Runnel's advantage, on a log scale (a 2× lead
    /// and a 2× lag are the same length), with each target marked.
    fn svg(&self) -> String {
        let lines: Vec<Line> = self
            .lines()
            .into_iter()
            .filter(|l| l.group != "streams-time")
            .collect();
        // About 7 px a character at the labels' 12 px font.
        let longest = lines.iter().map(|l| l.name.chars().count()).max().unwrap_or(0);
        let label_w = (longest as f64 * 7.0 + 24.0).max(330.0);
        let (plot_w, row_h, top) = (520.0, 22.0, 40.0);
        let bottom = top + row_h * lines.len() as f64;
        let height = bottom + 40.0;
        let hi = lines
            .iter()
            .map(|l| l.advantage().max(l.target.unwrap_or(0.0)))
            .filter(|v| v.is_finite())
            .fold(4.0, f64::max)
            * 1.3;
        let lo = lines
            .iter()
            .map(Line::advantage)
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold(0.5, f64::min)
            / 1.3;
        let x = |v: f64| {
            let v = v.clamp(lo, hi);
            label_w + plot_w * (v.ln() - lo.ln()) / (hi.ln() - lo.ln())
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
            label_w + plot_w + 60.0
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="20" font-size="14" font-weight="bold">Runnel's advantage over Apache Kafka 4.4 (log scale; right of 1× is better; black ticks: targets)</text>"#
        );
        let mut grid = 0.125;
        while grid <= hi {
            if grid >= lo {
                let colour = if grid == 1.0 { "#555" } else { "#ddd" };
                let _ = writeln!(
                    s,
                    r#"<line x1="{0:.1}" x2="{0:.1}" y1="{top}" y2="{bottom}" stroke="{colour}"/>"#,
                    x(grid)
                );
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{grid}×</text>"##,
                    x(grid),
                    bottom + 16.0
                );
            }
            grid *= 2.0;
        }
        for (i, l) in lines.iter().enumerate() {
            let y = top + row_h * i as f64;
            let a = l.advantage();
            let good = l.target.map_or(a >= 1.0, |t| a >= t);
            let colour = if good { "#2e8b57" } else { "#d2691e" };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                label_w - 8.0,
                y + 15.0,
                escape(&l.name)
            );
            let (from, to) = (x(1.0).min(x(a)), x(1.0).max(x(a)));
            let _ = writeln!(
                s,
                r#"<rect x="{from:.1}" y="{}" width="{:.1}" height="{}" fill="{colour}"/>"#,
                y + 4.0,
                (to - from).max(1.0),
                row_h - 8.0
            );
            // The figure goes right of the bar, or of the target's tick when that is further.
            let label_x = l.target.map_or(to, |t| to.max(x(t))) + 4.0;
            let _ = writeln!(s, r#"<text x="{label_x:.1}" y="{}">{a:.2}×</text>"#, y + 15.0);
            if let Some(t) = l.target {
                let _ = writeln!(
                    s,
                    r#"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="black" stroke-width="2"/>"#,
                    x(t),
                    y + 1.0,
                    y + row_h - 1.0
                );
            }
        }
        let _ = writeln!(s, "</svg>");
        s
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Today's date (UTC), from `date`.
fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// CPU model, cores and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {mem_gib:.0} GiB")
}
