//! Exactly-once in the stream DSL on the embedded cluster: the `exactly_once` example's
//! pipeline (payments in, receipts out) as a `Streams` application with
//! `processing.guarantee = exactly_once_v2`. The runtime does what that example's loop does by
//! hand - one transactional producer per stream thread, whose transactions carry the output,
//! the changelogs and the input offsets of each commit interval - and after a crash the
//! restarted instance fences its predecessor, aborts its open transaction and redoes the work.
//!
//! ```text
//! cargo run --example exactly_once_streams -- [DATA_DIR] [--records N] [--crash-at K]
//!
//!   payments ─▶ map_values(receipt) ─▶ receipts          (exactly_once_v2)
//! ```
//!
//! By default the example runs a demo: it produces N payments (10), runs the application below
//! as a child process that it SIGKILLs after payment K's receipt (4) is in the log inside the
//! open transaction and before the commit, runs it again to the end, and checks that
//! read_committed shows every payment's receipt once, and read_uncommitted also the aborted one.
//! `--consume DATA_DIR [--crash-at K]` runs only the application.
//!
//! A separate example rather than a mode of `exactly_once`: the two share no code but the
//! demo, and each is meant to be read whole - the native loop shows every call that
//! exactly-once takes, this one that the DSL makes them a configuration setting.
//!
//! The crash point needs a hook in the topology, because the runtime decides when to send and
//! when to commit: with `--crash-at K`, a processor before `map_values` asks for a commit after
//! each payment before K (so they are committed, one transaction each), none after payment K (so
//! its receipt stays in an open transaction), and blocks on the next payment once payment K's
//! receipt is in the log - that poll never ends, so the commit never comes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use runnel::prelude::*;
use runnel::stream_dsl::record::Record;

#[path = "delivery/common.rs"]
mod delivery;

use delivery::{INPUT, OUTPUT, Promise};

/// `application.id`: the consumer group, and the prefix of the transactional ids.
const APP: &str = "receipts-streams";

fn topology(crash: Option<CrashHook>) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    let mut payments =
        builder.stream::<String, String>(INPUT, Consumed::with(Serdes::string(), Serdes::string()));
    if let Some(hook) = crash {
        payments = payments.process(move || hook.clone(), &[]);
    }
    payments
        .map_values(|amount: String| delivery::receipt_text(&amount))
        .to(OUTPUT, Produced::with(Serdes::string(), Serdes::string()));
    Ok(builder.build()?)
}

/// The application: runs until the group has committed the whole input, then closes.
/// `crash_at`: block at the crash point for that payment (see the module docs) until killed.
pub async fn consume(cluster: &Cluster, dir: &Path, crash_at: Option<i64>) -> Result<()> {
    let mut config = StreamsConfig::new(APP)
        // The process id kept here makes the transactional ids stable across restarts: the
        // restarted instance fences the killed one and aborts its open transaction at once.
        .with_state_dir(dir.join("state"))
        // Same as config.set("processing.guarantee", "exactly_once_v2").
        .with_processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
        // The killed instance stays in the group until its session expires: a short session
        // makes the restarted one wait 2 s rather than 45.
        .with_group_timeouts(Duration::from_secs(2), Duration::from_millis(200));
    let hook = crash_at.map(|at| CrashHook {
        at,
        cluster: cluster.clone(),
        high_watermark_at: None,
    });
    if hook.is_some() {
        // One payment per poll, and commits only where the hook asks for them.
        config.max_poll_records = 1;
        config = config.with_commit_interval(Duration::from_secs(3_600));
    }
    match delivery::committed_offset(cluster, APP).await? {
        Some(offset) => println!("starting at offset {offset}, the group's committed offset"),
        None => println!("starting at offset 0: the group has no committed offset yet"),
    }
    let end = delivery::input_end(cluster)?;
    let mut streams = Streams::new(topology(hook)?, config, cluster);
    streams.start().await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivery::committed_offset(cluster, APP).await? < Some(end) {
        if let Some(error) = streams.error() {
            bail!("the application failed: {error}");
        }
        if Instant::now() > deadline {
            bail!("the input was not committed to its end (offset {end}) in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = streams.metrics();
    streams.close().await?;
    println!(
        "at the end of {INPUT} (offset {end}): {} payments processed, {} transactions committed",
        metrics.processed_records, metrics.commits
    );
    Ok(())
}

/// The crash point in the topology (see the module docs): forwards every payment, asks for a
/// commit after those before `at`, and blocks on the one after `at`.
#[derive(Clone)]
struct CrashHook {
    at: i64,
    /// To see payment `at`'s receipt arrive in the log.
    cluster: Cluster,
    /// The receipts topic's high watermark while payment `at` was processed: its receipt is
    /// sent after this processor returns, so it is the first record past this offset.
    high_watermark_at: Option<i64>,
}

impl Processor<String, String, String, String> for CrashHook {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<String, String>,
        payment: Record<String, String>,
    ) -> runnel::stream_dsl::Result<()> {
        let offset = ctx.record_metadata().map_or(-1, |m| m.offset);
        if offset == self.at {
            self.high_watermark_at = delivery::output_offsets(&self.cluster).ok().map(|(high, _)| high);
        }
        if offset == self.at + 1
            && let Some(before) = self.high_watermark_at
        {
            // Payment `at` came in the previous poll; its receipt was handed to the producer
            // in the transaction that poll opened, and the producer appends it on its linger
            // timer. Once the high watermark passes `before`, it is in the log.
            let (high_watermark, last_stable) = loop {
                match delivery::output_offsets(&self.cluster) {
                    Ok((high, stable)) if high > before => break (high, stable),
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
            };
            delivery::crash_here(&format!(
                "payment-{}: receipt in the log (high watermark {high_watermark}, last stable offset \
                 {last_stable}: read_committed readers stop before the open transaction), not committed",
                self.at
            ));
        }
        if offset < self.at {
            ctx.commit();
        }
        ctx.forward(payment)
    }
}

fn main() -> Result<()> {
    delivery::main(
        "exactly_once_streams",
        "Exactly-once in the stream DSL: processing.guarantee = exactly_once_v2",
        "exactly-once in the DSL (processing.guarantee = exactly_once_v2)",
        Promise::ExactlyOnce,
        consume,
    )
}
