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

use anyhow::Result;
use runnel::prelude::*;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::Promise;

const GROUP: &str = "receipts-at-least-once";

/// The consumer: processes each poll's records, waits until their receipts are stored, then
/// commits. `crash_at`: block at the crash point for that payment, after its receipt is stored
/// and before its offset is committed, until killed.
pub async fn consume(cluster: &Cluster, _dir: &Path, crash_at: Option<i64>) -> Result<()> {
    // Idempotent (the default): a batch the producer retries is stored once. That is a
    // guarantee within one producer's session; the restarted process has a new producer id,
    // and its receipt for payment K is a new record to the broker, not a retry.
    let producer = cluster.producer(ProducerConfig::default())?;
    // The commits are this loop's, after processing: see `delivery::consumer_config`.
    let consumer = cluster.consumer(delivery::consumer_config(GROUP));
    delivery::poll_to_end(cluster, consumer, async |consumer, payments| {
        for payment in &payments {
            // Awaiting the delivery is what makes it at-least-once: the offset below is
            // committed only once the receipt is stored (acks=all).
            let stored = producer.send(delivery::receipt(payment))?.await?;
            delivery::print_receipt(payment, &stored, "");
            if crash_at == Some(payment.offset) {
                delivery::crash_here(&format!(
                    "{}: receipt stored at {}@{}, offset {} not committed",
                    delivery::key_of(payment),
                    stored.topic,
                    stored.offset,
                    payment.offset + 1
                ));
            }
        }
        // At-least-once: the offsets past these records are committed after all are processed.
        consumer.commit_sync().await?;
        Ok(())
    })
    .await?;
    producer.close().await;
    Ok(())
}

fn main() -> Result<()> {
    delivery::main(
        "at_least_once",
        "At-least-once: commit after processing; a crash repeats a record",
        "at-least-once (process, then commit)",
        Promise::Duplicated,
        consume,
    )
}
