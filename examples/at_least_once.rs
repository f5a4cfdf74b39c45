//! At-least-once delivery on the embedded cluster: a consumer that commits its offsets *after*
//! it has processed the records and its output is stored. A record is never lost, but a crash
//! between the output and the commit processes it again: the restarted consumer resumes at the
//! last committed offset, before it, and writes its output a second time.
//!
//! ```text
//! cargo run --example at_least_once -- [DATA_DIR] [--records N] [--crash-at K]
//!
//!   poll ─▶ send the receipt, wait until stored ─▶ (crash here: payment K repeated) ─▶ commit_sync
//! ```
//!
//! By default the example runs a demo: it produces N payments (10), runs the consumer below as a
//! child process that it SIGKILLs after payment K's receipt (4) is stored and before its offset
//! is committed, runs it again to the end, and checks that every payment has one receipt
//! except payment K, which has two. `--consume DATA_DIR [--crash-at K]` runs only the consumer.
//! `docs/delivery-semantics.md` explains the three guarantees; `tests/delivery_semantics.rs`
//! runs the same crash as a test.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use runnel::prelude::*;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::{INPUT, Promise};

const GROUP: &str = "receipts-at-least-once";

/// The consumer: processes each poll's records, waits until their receipts are stored, then
/// commits. `crash_at`: block at the crash point for that payment, after its receipt is stored
/// and before its offset is committed, until killed.
pub async fn consume(cluster: &Cluster, crash_at: Option<i64>) -> Result<()> {
    // Idempotent (the default): a batch the producer retries is stored once. That is a
    // guarantee within one producer's session; the restarted process has a new producer id,
    // and its receipt for payment K is a new record to the broker, not a retry.
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut consumer = cluster.consumer(ConsumerConfig {
        group_id: Some(GROUP.into()),
        // Static membership (KIP-345): the restarted consumer takes over the killed one's
        // partition at once instead of waiting for its session to time out.
        group_instance_id: Some(format!("{GROUP}-1")),
        auto_offset_reset: OffsetReset::Earliest,
        // The commits are this loop's, where at-least-once needs them: auto-commit commits
        // what was polled on a timer, whether or not it was processed.
        enable_auto_commit: false,
        // One record per poll, so a crash repeats exactly one; with the default (500) it
        // repeats up to a whole poll.
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
        for payment in &payments {
            // Awaiting the delivery is what makes it at-least-once: the offset below is
            // committed only once the receipt is stored (acks=all).
            let stored = producer.send(delivery::receipt(payment))?.await?;
            println!(
                "{} (offset {}) -> receipt at {}@{}",
                delivery::key_of(payment),
                payment.offset,
                stored.topic,
                stored.offset
            );
            if crash_at == Some(payment.offset) {
                delivery::crash_here(&format!(
                    "{}: receipt stored at {}@{}, offset {} not committed",
                    delivery::key_of(payment),
                    stored.topic,
                    stored.offset,
                    payment.offset + 1
                ));
            }
            next = payment.offset + 1;
        }
        // At-least-once: the offsets past these records are committed after all are processed.
        consumer.commit_sync().await?;
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
        "at_least_once",
        "At-least-once: commit after processing; a crash repeats a record",
    );
    match (&args.data_dir, args.consume) {
        (Some(dir), true) => delivery::runtime()?.block_on(run_consumer(dir, args.crash_at)),
        _ => delivery::demo(&args, "at-least-once (process, then commit)", Promise::Duplicated),
    }
}
