//! Exactly-once with the native clients on the embedded cluster: a transactional
//! consume-transform-produce loop (KIP-98, KIP-447). Each poll's receipts and the offsets past
//! its payments are one transaction: both become visible when it commits, or neither does. A
//! crash before the commit leaves receipts in the log, but in a transaction that the restarted
//! consumer's `init_transactions` aborts; it then resumes at the offsets of the last committed
//! transaction and writes them again. A read_committed reader sees every receipt once.
//!
//! ```text
//! cargo run --example exactly_once -- [DATA_DIR] [--records N] [--crash-at K]
//!
//!   init_transactions (fences the previous instance, aborts its open transaction)
//!   poll ─▶ begin_transaction ─▶ send the receipt ─▶ send_offsets_to_transaction
//!        ─▶ (crash here: payment K's receipt aborted, redone) ─▶ commit_transaction
//! ```
//!
//! By default the example runs a demo: it produces N payments (10), runs the consumer below as a
//! child process that it SIGKILLs after payment K's receipt (4) is in the log inside the open
//! transaction and before the commit, runs it again to the end, and checks that read_committed
//! shows every payment's receipt once, and read_uncommitted also the aborted one.
//! `--consume DATA_DIR [--crash-at K]` runs only the consumer. `exactly_once_streams` does the
//! same with the DSL's `exactly_once_v2`. `docs/delivery-semantics.md` explains the three
//! guarantees; `tests/delivery_semantics.rs` runs the same crash as a test.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use runnel::prelude::*;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::Promise;

const GROUP: &str = "receipts-exactly-once";
/// Stable across restarts of this instance, so that a restarted instance fences the one it
/// replaces. One id per instance that owns the same input partitions; two live instances must
/// not share one (they would fence each other).
const TRANSACTIONAL_ID: &str = "receipts-exactly-once-1";

/// The consumer: one transaction per poll, carrying the receipts and the input offsets.
/// `crash_at`: block at the crash point for that payment, after its receipt is in the log
/// inside the open transaction and before the commit, until killed.
pub async fn consume(cluster: &Cluster, _dir: &Path, crash_at: Option<i64>) -> Result<()> {
    let producer = cluster.producer(ProducerConfig {
        transactional_id: Some(TRANSACTIONAL_ID.into()),
        // Idempotence and acks=all, which transactions require, are the defaults.
        ..ProducerConfig::default()
    })?;
    // Takes the id's producer id with a new epoch: a producer of an older epoch (the killed
    // run, or a zombie that is still alive) is fenced, and its open transaction is aborted now.
    // Before the consumer asks for its committed offsets, which that transaction holds: a
    // read_committed consumer would wait for it to end.
    producer.init_transactions().await?;
    let consumer = cluster.consumer(ConsumerConfig {
        // Input written by an upstream transactional stage counts only once committed; and
        // committed offsets that an open transaction is about to change are waited for. The
        // offsets are committed by the transactions, never by the consumer; one record per
        // poll, hence per transaction, so that the crash interrupts one (an application takes
        // whole polls per transaction, and a crash then redoes a whole poll - invisibly to
        // read_committed readers).
        isolation_level: IsolationLevel::ReadCommitted,
        ..delivery::consumer_config(GROUP)
    });
    delivery::poll_to_end(cluster, consumer, async |consumer, payments| {
        producer.begin_transaction()?;
        let mut deliveries = Vec::new();
        // The next offset to consume per partition: what the transaction commits.
        let mut commit_at: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for payment in &payments {
            deliveries.push(producer.send(delivery::receipt(payment))?);
            commit_at.insert(
                TopicPartition::new(payment.topic.clone(), payment.partition),
                payment.offset + 1,
            );
        }
        let offsets: Vec<(TopicPartition, i64)> = commit_at.into_iter().collect();
        // The group metadata (generation, member id) lets the group coordinator refuse these
        // offsets if this consumer lost its partitions to a newer member meanwhile (KIP-447).
        let group = consumer
            .group_metadata()
            .context("a consumer that polled records is in its group")?;
        producer.send_offsets_to_transaction(&offsets, &group).await?;
        if let Some(payment) = payments.iter().find(|p| Some(p.offset) == crash_at) {
            // commit_transaction would send the queued receipts; the crash point comes after
            // they are in the log, so they are sent here.
            producer.flush().await;
            let mut stored = Vec::new();
            for sent in deliveries {
                let receipt = sent.await?;
                stored.push(format!("{}@{}", receipt.topic, receipt.offset));
            }
            let (high_watermark, last_stable) = delivery::output_offsets(cluster)?;
            let offsets: Vec<String> = offsets
                .iter()
                .map(|(tp, offset)| format!("{}@{offset}", tp.topic))
                .collect();
            delivery::crash_here(&format!(
                "{}: receipt at {} inside the open transaction (high watermark {high_watermark}, \
                 last stable offset {last_stable}: read_committed readers stop before it), offset {} \
                 sent to the transaction, not committed",
                delivery::key_of(payment),
                stored.join(", "),
                offsets.join(", ")
            ));
        }
        // Receipts and offsets become visible together. A failure here ends the process and
        // a restart redoes the poll; a long-running application would abort the transaction
        // and seek back to the committed offsets (and stop if fenced: a newer instance runs).
        producer.commit_transaction().await?;
        for (payment, sent) in payments.iter().zip(deliveries) {
            let stored = sent.await?;
            let how = format!(
                ", committed with offset {} in one transaction",
                payment.offset + 1
            );
            delivery::print_receipt(payment, &stored, &how);
        }
        Ok(())
    })
    .await?;
    producer.close().await;
    Ok(())
}

fn main() -> Result<()> {
    delivery::main(
        "exactly_once",
        "Exactly-once with the native clients: a transactional consume-transform-produce loop",
        "exactly-once (receipts and offsets in one transaction)",
        Promise::ExactlyOnce,
        consume,
    )
}
