//! A tour of Runnel's log: write records in Kafka's batch format with every codec, read them
//! back, look up offsets by time, compact a keyed log, and reopen everything after a restart.
//! Every step checks its result against what was written; a mismatch exits non-zero.
//!
//! ```text
//! cargo run --example log_tour [DATA_DIR]
//! ```

use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use runnel::prelude::*;

const RECORDS: usize = 200_000;
const PER_BATCH: usize = 500;
const USERS: usize = 1_000;
const T0: i64 = 1_700_000_000_000;

fn main() -> Result<()> {
    let temp;
    let root = match std::env::args().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!("Runnel log tour — data in {}\n", root.display());
    let events = root.join("events-0");
    let config = LogConfig {
        segment_bytes: 2 << 20,
        ..LogConfig::default()
    };

    // 1. Produce: batches of 500 records, rotating through the five codecs.
    let mut log = Log::open(&events, config.clone())?;
    let start_offset = log.log_end_offset();
    let started = Instant::now();
    let mut written = 0usize;
    for (n, chunk) in (0..RECORDS).collect::<Vec<_>>().chunks(PER_BATCH).enumerate() {
        let codec = Compression::ALL[n % Compression::ALL.len()];
        let mut batch = BatchBuilder::new(codec);
        for &i in chunk {
            let key = format!("user-{}", i % USERS);
            let value = format!(
                "{{\"event\":{i},\"page\":\"/item/{}\",\"pad\":\"{}\"}}",
                i % 97,
                "x".repeat(40)
            );
            batch.append(T0 + i as i64, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
        }
        let info = log.append(&mut batch.build(), 0)?;
        ensure!(
            info.first_offset == start_offset + written as i64,
            "offsets must be consecutive"
        );
        written += chunk.len();
    }
    let write_secs = started.elapsed().as_secs_f64();
    println!(
        "wrote    {RECORDS} records in {} segments ({:.1} MiB on disk) — {:.2} M records/s",
        log.segment_count(),
        log.size_bytes() as f64 / 1048576.0,
        RECORDS as f64 / write_secs / 1e6
    );

    // 2. Consume: read whole batches from the start and check every record.
    let started = Instant::now();
    let mut offset = start_offset;
    let mut seen = 0usize;
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20)?;
        for record in decode_all(&bytes, 64 << 20)? {
            if record.offset < offset {
                continue;
            }
            let i = (record.offset - start_offset) as usize;
            ensure!(
                record.timestamp == T0 + i as i64,
                "timestamp of offset {}",
                record.offset
            );
            let key = record.key.as_deref().context("key")?;
            ensure!(
                key == format!("user-{}", i % USERS).as_bytes(),
                "key of offset {}",
                record.offset
            );
            seen += 1;
            offset = record.offset + 1;
        }
    }
    ensure!(seen == RECORDS, "read {seen} records, wrote {RECORDS}");
    println!(
        "read     {seen} records back, every key and timestamp checked — {:.2} M records/s",
        seen as f64 / started.elapsed().as_secs_f64() / 1e6
    );

    // 3. ListOffsets by timestamp.
    let target = T0 + 123_456;
    let found = log.offset_for_timestamp(target)?;
    ensure!(
        found == Some((start_offset + 123_456, target)),
        "time lookup gave {found:?}"
    );
    println!(
        "lookup   first record at or after t0+123456 ms is offset {}",
        start_offset + 123_456
    );
    log.close()?;

    // 4. Compaction: a keyed log of profile updates keeps only the latest per user.
    let profiles_dir = root.join("profiles-0");
    let compacted = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let mut profiles = Log::open(&profiles_dir, compacted.clone())?;
    for round in 0..20 {
        let mut batch = BatchBuilder::new(Compression::Lz4);
        for user in 0..USERS {
            let value = format!("{{\"user\":{user},\"version\":{round}}}");
            batch.append(
                T0,
                Some(format!("user-{user}").as_bytes()),
                Some(value.as_bytes()),
                &[],
            );
        }
        profiles.append(&mut batch.build(), 0)?;
    }
    profiles.roll()?;
    let before = profiles.size_bytes();
    let stats = profiles.compact(&CleanerConfig::default())?;
    let mut latest = std::collections::HashMap::new();
    let mut offset = profiles.log_start_offset();
    while offset < profiles.log_end_offset() {
        let bytes = profiles.read(offset, 1 << 20)?;
        if bytes.is_empty() {
            break;
        }
        let mut at = 0;
        while at < bytes.len() {
            let header = runnel::storage::record::BatchHeader::parse(&bytes[at..])?;
            offset = header.next_offset();
            at += header.size();
        }
        for r in decode_all(&bytes, 64 << 20)? {
            latest.insert(r.key.context("key")?, r.value.context("value")?);
        }
    }
    ensure!(latest.len() == USERS, "{} users after compaction", latest.len());
    for (key, value) in &latest {
        if !value.ends_with(b"\"version\":19}") {
            bail!("{} kept a stale value", String::from_utf8_lossy(key));
        }
    }
    println!(
        "compact  {} records → {} (one per user, all at version 19), {:.1} KiB → {:.1} KiB",
        stats.records_kept + stats.records_removed,
        stats.records_kept,
        before as f64 / 1024.0,
        profiles.size_bytes() as f64 / 1024.0
    );
    profiles.close()?;

    // 5. Restart: both logs reopen with their offsets intact.
    let log = Log::open(&events, config)?;
    ensure!(
        log.log_end_offset() == start_offset + RECORDS as i64,
        "end offset after reopen"
    );
    let profiles = Log::open(&profiles_dir, compacted)?;
    ensure!(
        profiles.log_end_offset() == 20 * USERS as i64,
        "compacted end offset after reopen"
    );
    println!(
        "reopen   both logs recovered: end offsets {} and {}",
        log.log_end_offset(),
        profiles.log_end_offset()
    );
    println!("\nall checks passed");
    Ok(())
}
