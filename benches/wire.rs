//! Kafka-protocol throughput of `runnel serve`, measured with kcat (librdkafka) on this
//! machine: 1 M records of 100 bytes, 4 partitions, acks=1; every record consumed back.
//!
//! ```text
//! cargo bench --bench wire
//! ```
//!
//! Client and broker share the machine's two cores, as in the issue's setting. The figures
//! are medians of several runs and include kcat's own start-up and, for consume, its
//! formatting of every record.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

const RECORDS: usize = 1_000_000;
const RUNS: usize = 3;

/// Stops the broker even when a run panics, so it cannot outlive the bench.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if Command::new("kcat").arg("-V").output().is_err() {
        eprintln!("kcat is not installed (scripts/deps.sh installs it)");
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("records.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("input"));
        for i in 0..RECORDS {
            // 99 bytes + newline: kcat sends each line (without the newline) as one value.
            writeln!(f, "{:0>99}", i).expect("write");
        }
    }
    let (mut produce, mut consume) = (Vec::new(), Vec::new());
    for run in 0..RUNS {
        let data = dir.path().join(format!("data-{run}"));
        let server = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--config",
                "num.partitions=4",
                "--data-dir",
            ])
            .arg(&data)
            .stdout(Stdio::piped())
            .spawn()
            .expect("runnel serve");
        let mut server = KillOnDrop(server);
        let mut line = String::new();
        BufReader::new(server.0.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port");
        let bootstrap = line.trim().trim_start_matches("listening on ").to_string();
        let topic = format!("bench-{run}");

        let start = Instant::now();
        let status = Command::new("kcat")
            .args([
                "-b",
                &bootstrap,
                "-P",
                "-t",
                &topic,
                "-X",
                "acks=1",
                "-X",
                "linger.ms=5",
            ])
            .args([
                "-X",
                "queue.buffering.max.messages=1000000",
                "-X",
                "batch.size=1000000",
            ])
            // One record per line on stdin (a file argument would be sent as one message).
            .stdin(std::fs::File::open(&input).expect("input"))
            .status()
            .expect("kcat produce");
        assert!(status.success());
        produce.push(RECORDS as f64 / start.elapsed().as_secs_f64());

        // Timed pass: exactly N records (`-c`; `-e` would add librdkafka's last 500 ms long
        // poll at the end offset) written to /dev/null. kcat writes each record separately,
        // so into a file or a pipe its own output costs two to three times the consume
        // (measured 1.6–2.5 s against 0.79 s).
        let consume_args = |count: usize| {
            let mut c = Command::new("kcat");
            c.args(["-c", &count.to_string(), "-b", &bootstrap, "-C", "-t", &topic])
                .args([
                    "-o",
                    "beginning",
                    "-q",
                    "-f",
                    "%s\n",
                    "-X",
                    "fetch.message.max.bytes=4194304",
                ]);
            c
        };
        let start = Instant::now();
        let status = consume_args(RECORDS)
            .stdout(Stdio::null())
            .status()
            .expect("kcat consume");
        let elapsed = start.elapsed();
        assert!(status.success());
        // Untimed pass: every record back exactly once (one more than N is asked for, so a
        // duplicate would show; kcat stops at the end with -e).
        let output = dir.path().join(format!("consumed-{run}.txt"));
        let status = consume_args(RECORDS + 1)
            .arg("-e")
            .stdout(std::fs::File::create(&output).expect("output"))
            .status()
            .expect("kcat verify");
        assert!(status.success());
        let text = std::fs::read_to_string(&output).expect("output");
        let distinct: std::collections::HashSet<&str> = text.lines().collect();
        assert_eq!(text.lines().count(), RECORDS, "every record back once");
        assert_eq!(distinct.len(), RECORDS, "no record twice");
        consume.push(RECORDS as f64 / elapsed.as_secs_f64());
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(server.0.id().to_string())
            .status();
        let _ = server.0.wait();
    }
    let (p, c) = (median(produce), median(consume));
    println!("load average at start: {}", load.trim());
    println!("| kcat, {RECORDS} × 100 B, 4 partitions, acks=1 | records/s | target |");
    println!("|---|---|---|");
    println!(
        "| produce | {:.2} M | ≥ 2 M {} |",
        p / 1e6,
        if p >= 2e6 { "met" } else { "MISSED" }
    );
    println!(
        "| consume | {:.2} M | ≥ 2.5 M {} |",
        c / 1e6,
        if c >= 2.5e6 { "met" } else { "MISSED" }
    );
}
