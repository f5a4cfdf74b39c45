//! At-most-once delivery on the embedded cluster: a consumer that commits its offsets *before*
//! it processes the records. A record is never processed twice, but a crash between the commit
//! and the end of the processing loses it: the restarted consumer resumes after it.
//!
//! ```text
//! cargo run --example at_most_once -- [DATA_DIR] [--records N] [--crash-at K]
//!
//!   poll ─▶ commit_sync ─▶ (crash here: payment K lost) ─▶ send the receipt
//! ```
//!
//! By default the example runs a demo: it produces N payments (10), runs the consumer below as a
//! child process that it SIGKILLs after committing payment K's offset (4) and before writing
//! its receipt, runs it again to the end, and checks that every payment has one receipt except
//! payment K, which has none. `--consume DATA_DIR [--crash-at K]` runs only the consumer.
//! `docs/delivery-semantics.md` explains the three guarantees; `tests/delivery_semantics.rs`
//! runs the same crash as a test.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use runnel::prelude::*;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::{INPUT, Promise};

const GROUP: &str = "receipts-at-most-once";

/// The consumer: commits each poll's offsets, then processes its records. `crash_at`: block at
/// the crash point for that payment, after its offset is committed and before its receipt
/// is sent, until killed.
pub async fn consume(cluster: &Cluster, crash_at: Option<i64>) -> Result<()> {
    // Idempotent (the default): the broker drops a batch the producer retries. It does not
    // help here - what is lost was never sent.
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut consumer = cluster.consumer(ConsumerConfig {
        group_id: Some(GROUP.into()),
        // Static membership (KIP-345): the restarted consumer takes over the killed one's
        // partition at once instead of waiting for its session to time out.
        group_instance_id: Some(format!("{GROUP}-1")),
        auto_offset_reset: OffsetReset::Earliest,
        // The commits are this loop's, where at-most-once needs them: auto-commit commits
        // what was polled on a timer, whether or not it was processed.
        enable_auto_commit: false,
        // One record per poll, so a crash loses exactly one; with the default (500) it loses
        // what is left of a whole poll.
        max_poll_records: 1,
        ..ConsumerConfig::default()
    });
    let mut next = delivery::start_offset(&consumer).await?;
    consumer.subscribe([INPUT])?;
    let end = delivery::input_end(cluster)?;
    while next < end {
        let payments = consumer.poll(Duration::from_millis(100)).await?;
        if payments.is_empty() {
            continue;
        }
        // At-most-once: the offsets past these records are committed before any is processed.
        consumer.commit_sync().await?;
        for payment in &payments {
            if crash_at == Some(payment.offset) {
                delivery::crash_here(&format!(
                    "{}: offset {} committed, receipt not sent",
                    delivery::key_of(payment),
                    payment.offset + 1
                ));
            }
            let stored = producer.send(delivery::receipt(payment))?.await?;
            println!(
                "{} (offset {}) -> receipt at {}@{}",
                delivery::key_of(payment),
                payment.offset,
                stored.topic,
                stored.offset
            );
            next = payment.offset + 1;
        }
    }
    println!("at the end of {INPUT} (offset {end})");
    consumer.close().await?;
    producer.close().await;
    Ok(())
}

/// The consumer process: opens the cluster in `dir`, consumes, closes the cluster.
pub async fn run_consumer(dir: &Path, crash_at: Option<i64>) -> Result<()> {
    let cluster = delivery::open_cluster(dir).await?;
    let result = consume(&cluster, crash_at).await;
    cluster.shutdown().await;
    result
}

fn main() -> Result<()> {
    delivery::init_tracing();
    let args = delivery::Args::parse_for(
        "at_most_once",
        "At-most-once: commit before processing; a crash loses a record",
    );
    match (&args.data_dir, args.consume) {
        (Some(dir), true) => delivery::runtime()?.block_on(run_consumer(dir, args.crash_at)),
        _ => delivery::demo(&args, "at-most-once (commit, then process)", Promise::Lost),
    }
}
