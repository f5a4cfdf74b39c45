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

use anyhow::Result;
use runnel::prelude::*;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::Promise;

const GROUP: &str = "receipts-at-most-once";

/// The consumer: commits each poll's offsets, then processes its records. `crash_at`: block at
/// the crash point for that payment, after its offset is committed and before its receipt
/// is sent, until killed.
pub async fn consume(cluster: &Cluster, _dir: &Path, crash_at: Option<i64>) -> Result<()> {
    // Idempotent (the default): the broker drops a batch the producer retries. It does not
    // help here - what is lost was never sent.
    let producer = cluster.producer(ProducerConfig::default())?;
    // The commits are this loop's, before processing: see `delivery::consumer_config`.
    let consumer = cluster.consumer(delivery::consumer_config(GROUP));
    delivery::poll_to_end(cluster, consumer, async |consumer, payments| {
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
            delivery::print_receipt(payment, &stored, "");
        }
        Ok(())
    })
    .await?;
    producer.close().await;
    Ok(())
}

fn main() -> Result<()> {
    delivery::main(
        "at_most_once",
        "At-most-once: commit before processing; a crash loses a record",
        "at-most-once (commit, then process)",
        Promise::Lost,
        consume,
    )
}
