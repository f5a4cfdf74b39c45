//! Embedded produce and consume throughput against the raw storage log, in the same run.
//!
//! ```text
//! cargo bench --bench embedded
//! ```
//!
//! 100-byte records, 4 partitions, acks=1. "raw append" writes the same records through
//! `storage::Log` directly (16 KiB batches built in the loop, as the producer does); "raw read"
//! reads them back and decodes every record. Each figure is the median of several runs.

use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::stream_core::partition::Acks;

const RECORDS: usize = 2_000_000;
const PARTITIONS: usize = 4;
const RUNS: usize = 3;
const VALUE: [u8; 100] = [b'v'; 100];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn raw_append(dir: &std::path::Path) -> (f64, Vec<Log>) {
    let mut logs: Vec<Log> = (0..PARTITIONS)
        .map(|p| Log::open(dir.join(format!("raw-{p}")), LogConfig::default()).expect("open"))
        .collect();
    let start = Instant::now();
    let per_partition = RECORDS / PARTITIONS;
    for log in &mut logs {
        let mut written = 0;
        while written < per_partition {
            let mut b = BatchBuilder::with_capacity(Compression::None, 16_384);
            while b.estimated_size() + 120 < 16_384 && written < per_partition {
                b.append(1_700_000_000_000, None, Some(&VALUE), &[]);
                written += 1;
            }
            log.append(&mut b.build(), 0).expect("append");
        }
    }
    (RECORDS as f64 / start.elapsed().as_secs_f64(), logs)
}

fn raw_read(logs: &[Log]) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    for log in logs {
        let mut offset = 0;
        while offset < log.log_end_offset() {
            let bytes = log.read(offset, 1 << 20).expect("read");
            let records = decode_all(&bytes, 64 << 20).expect("decode");
            offset = records.last().map_or(offset + 1, |r| r.offset + 1);
            n += records.len();
        }
    }
    assert_eq!(n, RECORDS);
    n as f64 / start.elapsed().as_secs_f64()
}

async fn produce(cluster: &Cluster) -> f64 {
    let producer = cluster
        .producer(ProducerConfig {
            acks: Acks::Leader,
            enable_idempotence: false,
            ..ProducerConfig::default()
        })
        .expect("producer");
    let start = Instant::now();
    let mut last = Vec::new();
    for i in 0..RECORDS {
        let record = ProducerRecord {
            topic: "bench".into(),
            partition: Some((i % PARTITIONS) as i32),
            key: None,
            value: Some(bytes::Bytes::from_static(&VALUE)),
            headers: Vec::new(),
            timestamp: Some(1_700_000_000_000),
        };
        let future = producer.send(record).expect("send");
        if i + PARTITIONS >= RECORDS {
            last.push(future);
        }
    }
    producer.flush().await;
    for f in last {
        f.await.expect("delivered");
    }
    RECORDS as f64 / start.elapsed().as_secs_f64()
}

async fn consume(cluster: &Cluster) -> f64 {
    let mut consumer = cluster.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        max_poll_records: 10_000,
        ..ConsumerConfig::default()
    });
    let name = TopicName::new("bench").expect("name");
    consumer
        .assign((0..PARTITIONS as i32).map(|p| TopicPartition::new(name.clone(), p)))
        .expect("assign");
    let start = Instant::now();
    let mut n = 0;
    while n < RECORDS {
        n += consumer.poll(Duration::from_secs(1)).await.expect("poll").len();
    }
    assert_eq!(n, RECORDS);
    RECORDS as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: skip.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut ra, mut rr, mut p, mut c) = (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let (append_rate, logs) = raw_append(dir.path());
        ra.push(append_rate);
        rr.push(raw_read(&logs));
        drop(logs);
        runtime.block_on(async {
            let cluster = Cluster::embedded(dir.path().join("broker"))
                .await
                .expect("cluster");
            cluster
                .admin()
                .create_topic("bench", PARTITIONS as i32, [])
                .expect("topic");
            p.push(produce(&cluster).await);
            c.push(consume(&cluster).await);
            cluster.shutdown().await;
        });
    }
    let (ra, rr, p, c) = (median(ra), median(rr), median(p), median(c));
    println!("load average at start: {}", load.trim());
    println!(
        "| measure ({RECORDS} × 100 B, {PARTITIONS} partitions, acks=1) | records/s | vs raw storage | target |"
    );
    println!("|---|---|---|---|");
    println!("| raw storage append | {:.2} M | 1.00 | — |", ra / 1e6);
    println!(
        "| embedded produce | {:.2} M | {:.2} | ≥ 2 M and ≥ 0.50 {} |",
        p / 1e6,
        p / ra,
        if p >= 2e6 && p / ra >= 0.5 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!("| raw storage read + decode | {:.2} M | 1.00 | — |", rr / 1e6);
    println!(
        "| embedded consume | {:.2} M | {:.2} | ≥ 4 M {} |",
        c / 1e6,
        c / rr,
        if c >= 4e6 { "met" } else { "MISSED" }
    );
}
