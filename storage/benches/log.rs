//! Append and sequential-read throughput of the partition log against plain file I/O of the
//! same bytes, plus batch encoding speed. Run with:
//!
//! ```text
//! cargo bench -p runnel-storage --bench log
//! ```
//!
//! Criterion prints its usual per-benchmark estimates; at the end a table gives the median of
//! each benchmark's samples and the median ratio of the log to the plain-file baseline, each
//! log iteration paired with a baseline iteration run just before it on the same machine.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use storage::record::{BatchBuilder, Compression};
use storage::{Log, LogConfig};

/// One batch: 16 KiB of 100-byte records, as a producer with `batch.size=16384` sends them.
const BATCH_BYTES: usize = 16 * 1024;
const RECORD_BYTES: usize = 100;
/// Bytes written or read per measured iteration.
const VOLUME: usize = 256 << 20;

/// Per-sample rates (units per second) by benchmark, for the closing table.
static RATES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, units: f64, elapsed: Duration) {
    if let Ok(mut rates) = RATES.lock() {
        rates.entry(name).or_default().push(units / elapsed.as_secs_f64());
    }
}

fn one_batch() -> (Vec<u8>, usize) {
    let value = [b'x'; RECORD_BYTES];
    let mut builder = BatchBuilder::with_capacity(Compression::None, BATCH_BYTES);
    while builder.estimated_size() + RECORD_BYTES + 8 <= BATCH_BYTES {
        builder.append(1_700_000_000_000, None, Some(&value), &[]);
    }
    let count = builder.count() as usize;
    (builder.build(), count)
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 30,
        ..LogConfig::default()
    }
}

fn bench_append(c: &mut Criterion) {
    let (mut batch, _) = one_batch();
    let batches = VOLUME / batch.len();
    let bytes = (batches * batch.len()) as u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Bytes(bytes)).sample_size(10);
    group.bench_function(BenchmarkId::new("write_baseline", "16KiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut file = File::create(dir.path().join("plain")).expect("create");
                let start = Instant::now();
                for _ in 0..batches {
                    file.write_all(&batch).expect("write");
                }
                let elapsed = start.elapsed();
                record("append/write_baseline", bytes as f64, elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.bench_function(BenchmarkId::new("log", "16KiB"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // The baseline runs beside every measured append, so the two see the same
                // machine: their ratio is what the table reports.
                let dir = tempfile::tempdir().expect("tempdir");
                let mut file = File::create(dir.path().join("plain")).expect("create");
                let start = Instant::now();
                for _ in 0..batches {
                    file.write_all(&batch).expect("write");
                }
                let baseline = start.elapsed();
                drop(file);
                let mut log = Log::open(dir.path().join("log"), config()).expect("open");
                let start = Instant::now();
                for _ in 0..batches {
                    log.append(&mut batch, 0).expect("append");
                }
                let elapsed = start.elapsed();
                record("append/log", bytes as f64, elapsed);
                record("append/paired_baseline", bytes as f64, baseline);
                record("append/ratio", baseline.as_secs_f64(), elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let (mut batch, _) = one_batch();
    let batches = VOLUME / batch.len();
    let bytes = (batches * batch.len()) as u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Log::open(dir.path().join("log"), config()).expect("open");
    let mut plain = File::create(dir.path().join("plain")).expect("create");
    for _ in 0..batches {
        log.append(&mut batch, 0).expect("append");
        plain.write_all(&batch).expect("write");
    }
    drop(plain);
    const FETCH: usize = 1 << 20;
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(bytes)).sample_size(10);
    group.bench_function(BenchmarkId::new("read_baseline", "1MiB"), |b| {
        let mut buf = vec![0u8; FETCH];
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let t = Instant::now();
                let mut file = OpenOptions::new()
                    .read(true)
                    .open(dir.path().join("plain"))
                    .expect("open");
                let mut n = 0;
                loop {
                    let got = file.read(&mut buf).expect("read");
                    if got == 0 {
                        break;
                    }
                    n += got;
                }
                assert_eq!(n as u64, bytes);
                record("read/read_baseline", bytes as f64, t.elapsed());
            }
            start.elapsed()
        })
    });
    group.bench_function(BenchmarkId::new("log", "1MiB"), |b| {
        let mut buf = vec![0u8; FETCH];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let mut file = OpenOptions::new()
                    .read(true)
                    .open(dir.path().join("plain"))
                    .expect("open");
                while file.read(&mut buf).expect("read") > 0 {}
                let baseline = t.elapsed();
                let t = Instant::now();
                let mut offset = 0;
                let mut n = 0;
                while offset < log.log_end_offset() {
                    let got = log.read(offset, FETCH).expect("read");
                    n += got.len();
                    offset = last_offset_after(&got);
                }
                let elapsed = t.elapsed();
                assert_eq!(n as u64, bytes);
                record("read/log", bytes as f64, elapsed);
                record("read/paired_baseline", bytes as f64, baseline);
                record("read/ratio", baseline.as_secs_f64(), elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
}

/// The offset after the last batch of a read.
fn last_offset_after(bytes: &[u8]) -> i64 {
    let mut at = 0;
    let mut next = 0;
    while at < bytes.len() {
        let header = storage::record::BatchHeader::parse(&bytes[at..]).expect("batch");
        next = header.next_offset();
        at += header.size();
    }
    next
}

fn bench_encode(c: &mut Criterion) {
    let (_, per_batch) = one_batch();
    let value = [b'x'; RECORD_BYTES];
    let batches = 2_000;
    let records = (batches * per_batch) as u64;
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(records)).sample_size(20);
    group.bench_function(BenchmarkId::new("batch_with_crc", "100B"), |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let t = Instant::now();
                for _ in 0..batches {
                    let mut builder = BatchBuilder::with_capacity(Compression::None, BATCH_BYTES);
                    for _ in 0..per_batch {
                        builder.append(1_700_000_000_000, None, Some(&value), &[]);
                    }
                    std::hint::black_box(builder.build());
                }
                record("encode/batch_with_crc", records as f64, t.elapsed());
            }
            start.elapsed()
        })
    });
    group.finish();
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary() {
    let Ok(rates) = RATES.lock() else { return };
    let get = |name: &str| rates.get(name).map(|v| median(v));
    println!("\n| benchmark | median | baseline median | ratio | target |");
    println!("|---|---|---|---|---|");
    // Ratios are medians of per-iteration pairs (log vs. the baseline run right before it).
    for (name, baseline, ratio, target) in [
        ("append/log", "append/paired_baseline", "append/ratio", 0.70),
        ("read/log", "read/paired_baseline", "read/ratio", 0.80),
    ] {
        if let (Some(x), Some(b), Some(r)) = (get(name), get(baseline), get(ratio)) {
            println!(
                "| {name} | {:.0} MiB/s | {:.0} MiB/s | {r:.2} | ≥ {target:.2} {} |",
                x / 1048576.0,
                b / 1048576.0,
                if r >= target { "met" } else { "MISSED" }
            );
        }
    }
    if let Some(x) = get("encode/batch_with_crc") {
        println!(
            "| encode/batch_with_crc | {:.1} M records/s | — | — | ≥ 10 M records/s {} |",
            x / 1e6,
            if x >= 10e6 { "met" } else { "MISSED" }
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1));
    bench_encode(&mut c);
    bench_append(&mut c);
    bench_read(&mut c);
    c.final_summary();
    summary();
}
