//! The kcat (librdkafka) round of the wire benches: 1 M records of 100 bytes produced and
//! consumed back, every record checked to come back exactly once.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

pub const RECORDS: usize = 1_000_000;
pub const WARMUP: usize = 100_000;

/// Writes the timed input (`RECORDS` lines) and the warm-up input (`WARMUP` lines) into
/// `dir`: each line 99 bytes plus a newline, which kcat sends as one 99-byte value.
pub fn write_inputs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let input = dir.join("records.txt");
    let warmup = dir.join("warmup.txt");
    for (path, count) in [(&input, RECORDS), (&warmup, WARMUP)] {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("input"));
        for i in 0..count {
            writeln!(f, "{:0>99}", i).expect("write");
        }
    }
    (input, warmup)
}

/// Whether kcat is installed (scripts/deps.sh installs it).
pub fn available() -> bool {
    Command::new("kcat").arg("-V").output().is_ok()
}

pub fn produce(bootstrap: &str, topic: &str, input: &Path) {
    let status = Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-P",
            "-t",
            topic,
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
        .stdin(std::fs::File::open(input).expect("input"))
        .status()
        .expect("kcat produce");
    assert!(status.success(), "kcat produce to {bootstrap}");
}

/// Exactly `count` records of `topic` from the beginning (`-c`; `-e` would add librdkafka's
/// last 500 ms long poll at the end offset). kcat writes each record separately, so into a
/// file or a pipe its own output costs two to three times the consume: the timed pass writes
/// to /dev/null. Each setting below is measured in `docs/performance.md#wire-server`.
pub fn consume(bootstrap: &str, topic: &str, count: usize) -> Command {
    let mut c = Command::new("kcat");
    c.args(["-c", &count.to_string(), "-b", bootstrap, "-C", "-t", topic])
        .args([
            // Offset 0, the start of these fresh topics, rather than `beginning`: a logical
            // offset makes librdkafka send ListOffsets first, and when its fetch start runs
            // before the partition has joined its broker thread it retries on a fixed 500 ms
            // timer (`-d protocol`: Metadata answered, ListOffsets sent 501 ms later); offset 0
            // never waited in the runs measured.
            "-o",
            "0",
            "-q",
            "-f",
            "%s\n",
            // librdkafka's own per-partition fetch size (`fetch.message.max.bytes`, 1 MiB)
            // is kept: since the broker sends batches with sendfile, smaller fetches are
            // cheap for it, and kcat reuses its smaller receive buffers (1 MiB was as fast as
            // any smaller size and faster than 4 or 16 MiB).
            //
            // librdkafka (2.0.2 here) stops fetching a partition once more than
            // `queued.min.messages` (100 000) or `queued.max.messages.kbytes` (64 MiB) wait
            // in the client, and looks again only on its one-second timer: one 16 MiB fetch
            // of these records queues ~140 000, and a broker answers faster than kcat prints,
            // so every few fetches the consumer idled for most of a second (seen with
            // `-d fetch`; CPU time stays flat; Apache Kafka meets it too). Raising both
            // thresholds measures the broker instead of that timer; nothing changes on the
            // wire.
            "-X",
            "queued.min.messages=1000000",
            "-X",
            "queued.max.messages.kbytes=1048576",
        ]);
    c
}

/// What one round measured, in records/s, and the broker's CPU time over each timed part
/// when its pid was given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Round {
    pub produce: f64,
    pub consume: f64,
    pub produce_cpu: f64,
    pub consume_cpu: f64,
}

/// One round against `bootstrap`: an untimed warm-up, the timed produce and consume, and an
/// untimed check that every record came back once. `broker` is the broker's pid, for its CPU
/// time over the timed parts.
pub fn measure(
    bootstrap: &str,
    round: usize,
    input: &Path,
    warmup: &Path,
    scratch: &Path,
    broker: Option<u32>,
) -> Round {
    let cpu = || {
        broker
            .and_then(super::procfs::cpu)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let topic = format!("bench-{round}");
    // Warm-up, untimed: 100 000 records into another topic first, so the timed run is not a
    // fresh broker's first touches of memory and files (a new broker's first million records
    // are slower than the next). Kafka's own benchmarks warm up too; the JVM needs it more.
    produce(bootstrap, &format!("warmup-{round}"), warmup);
    let (start, cpu0) = (Instant::now(), cpu());
    produce(bootstrap, &topic, input);
    let produce_rate = RECORDS as f64 / start.elapsed().as_secs_f64();
    let produce_cpu = cpu() - cpu0;

    let (start, cpu0) = (Instant::now(), cpu());
    let status = consume(bootstrap, &topic, RECORDS)
        .stdout(Stdio::null())
        .status()
        .expect("kcat consume");
    let consume_rate = RECORDS as f64 / start.elapsed().as_secs_f64();
    let consume_cpu = cpu() - cpu0;
    assert!(status.success());
    // Untimed pass: every record back exactly once (one more than N is asked for, so a
    // duplicate would show; kcat stops at the end with -e).
    let output = scratch.join(format!("consumed-{round}.txt"));
    let status = consume(bootstrap, &topic, RECORDS + 1)
        .arg("-e")
        .stdout(std::fs::File::create(&output).expect("output"))
        .status()
        .expect("kcat verify");
    assert!(status.success());
    let text = std::fs::read_to_string(&output).expect("output");
    let distinct: std::collections::HashSet<&str> = text.lines().collect();
    assert_eq!(
        text.lines().count(),
        RECORDS,
        "every record back once from {bootstrap}"
    );
    assert_eq!(distinct.len(), RECORDS, "no record twice from {bootstrap}");
    let _ = std::fs::remove_file(&output);
    Round {
        produce: produce_rate,
        consume: consume_rate,
        produce_cpu,
        consume_cpu,
    }
}
