//! What the delivery-semantics examples share: the embedded cluster they run on, the payments
//! they read and the receipts they write, the crash point, and the demo that runs a consumer
//! as a child process, SIGKILLs it at its crash point, runs it again and reads the receipts.
//!
//! Each example (`at_most_once`, `at_least_once`, `exactly_once`, `exactly_once_streams`)
//! includes this file with `#[path = "delivery/common.rs"] mod delivery;`, and so does
//! `tests/delivery_semantics.rs`: cargo builds no library that examples could share. What
//! differs between the guarantees - where the offsets are committed - stays in the examples.
//!
//! ```text
//!   payments (1 partition)  ──▶  consumer: payment ─▶ receipt  ──▶  receipts (1 partition)
//!   payment-i = "<amount> EUR"                                  receipt for payment-i = "receipt: <amount> EUR"
//! ```
//!
//! One partition each way, so the records have one order and "payment K" and "the record
//! after it" mean one thing; the guarantees hold per partition, so more partitions change
//! nothing but the bookkeeping.

// Each includer uses part of this file.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{CommandFactory, FromArgMatches, Parser};
use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::group::GroupConfig;

pub const INPUT: &str = "payments";
pub const OUTPUT: &str = "receipts";
/// The line a consumer prints when it reaches its crash point; the parent kills it on seeing it.
pub const CRASH_MARKER: &str = "CRASH-POINT";
/// How long a consumer may take to reach its crash point, or to finish.
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

/// The command line every example takes.
#[derive(Parser, Debug)]
pub struct Args {
    /// Where the broker (and the streams example's state) keep their data (default: a
    /// temporary directory).
    pub data_dir: Option<PathBuf>,
    /// How many payments to produce.
    #[arg(long, default_value_t = 10)]
    pub records: i64,
    /// The payment (its input offset) at whose worst moment the consumer is killed; the
    /// demo's default is 4. With --consume: crash there, without it: run to the end.
    #[arg(long)]
    pub crash_at: Option<i64>,
    /// Run only the consumer on DATA_DIR, as the demo's child does, and exit at the end of the
    /// input (or block at --crash-at, printing a `CRASH-POINT` line, until killed).
    #[arg(long, requires = "data_dir")]
    pub consume: bool,
}

impl Args {
    /// Parses the command line under the example's own name and description.
    pub fn parse_for(name: &'static str, about: &'static str) -> Args {
        let matches = Args::command().name(name).about(about).get_matches();
        Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Warnings (a broker recovering its logs after a kill, say) go to stderr, which the demo shows
/// when a run fails; `RUST_LOG` sets the level.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

/// A multi-threaded runtime: the clients' timers and heartbeats, and the streams example's
/// threads, run on its workers while the consumer loop runs on the caller's thread.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Opens the embedded broker in `dir`. Only one process may have a data directory open: the
/// demo opens it only while no consumer runs.
pub async fn open_cluster(dir: &Path) -> Result<Cluster> {
    // A new group starts at once (no wait for more members, group.initial.rebalance.delay.ms),
    // and the streams example may ask for a short session: its restarted instance waits for
    // the killed one's session to expire before the group moves the partition.
    let groups = GroupConfig::default()
        .with_group_initial_rebalance_delay_ms(0)
        .with_group_min_session_timeout_ms(1_000);
    Cluster::embedded_with(BrokerConfig::new(dir.join("broker")), groups)
        .await
        .with_context(|| format!("opening the embedded cluster in {}", dir.display()))
}

pub fn partition_of(topic: &str) -> Result<TopicPartition> {
    Ok(TopicPartition::new(TopicName::new(topic)?, 0))
}

/// Payment `i`: key `payment-<i>`, value its amount.
pub fn payment(i: i64) -> ProducerRecord {
    let amount = 10 + (i * 37) % 90;
    ProducerRecord::new(INPUT, format!("{amount} EUR")).with_key(format!("payment-{i}"))
}

/// The processing every example does: the receipt's text for a payment's value.
pub fn receipt_text(amount: &str) -> String {
    format!("receipt: {amount}")
}

/// The receipt of a consumed payment: same key, on the output topic.
pub fn receipt(payment: &ConsumerRecord) -> ProducerRecord {
    let amount = String::from_utf8_lossy(payment.value.as_deref().unwrap_or_default());
    let mut receipt = ProducerRecord::new(OUTPUT, receipt_text(&amount));
    receipt.key = payment.key.clone();
    receipt
}

/// A record's key as text, for printing.
pub fn key_of(record: &ConsumerRecord) -> String {
    String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()).into_owned()
}

/// The payment number in a record key `payment-<i>`.
pub fn payment_id(key: Option<&[u8]>) -> Result<i64> {
    let key = key.context("a receipt without a key")?;
    let text = std::str::from_utf8(key).context("a key that is not UTF-8")?;
    text.strip_prefix("payment-")
        .and_then(|i| i.parse().ok())
        .with_context(|| format!("a key that is not payment-<i>: {text:?}"))
}

/// Creates both topics and produces payments `0..records`, with the caller's own short-lived
/// cluster.
pub async fn create_input(dir: &Path, records: i64) -> Result<()> {
    let cluster = open_cluster(dir).await?;
    let result = produce_payments(&cluster, dir, records).await;
    cluster.shutdown().await;
    result
}

async fn produce_payments(cluster: &Cluster, dir: &Path, records: i64) -> Result<()> {
    match cluster.admin().create_topic(INPUT, 1, []) {
        Err(BrokerError::TopicAlreadyExists(_)) => {
            bail!(
                "{} already holds a run of this example; pass an empty directory",
                dir.display()
            )
        }
        other => other?,
    };
    cluster.admin().create_topic(OUTPUT, 1, [])?;
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut deliveries = Vec::new();
    for i in 0..records {
        deliveries.push(producer.send(payment(i))?);
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close().await;
    Ok(())
}

/// The end offset of the input: a consumer is done when its position reaches it.
pub fn input_end(cluster: &Cluster) -> Result<i64> {
    Ok(cluster.broker().list_offset(&partition_of(INPUT)?, -1)?.0)
}

/// The offset the consumer starts at - the group's committed offset, or the input's start
/// (`auto.offset.reset = earliest`) - printed. The consumer loop tracks the next offset from
/// the records it processes, and stops when it reaches the input's end.
pub async fn start_offset(consumer: &Consumer) -> Result<i64> {
    let input = partition_of(INPUT)?;
    let committed = consumer
        .committed(&[input])
        .await?
        .pop()
        .and_then(|(_, offset)| offset);
    match committed {
        Some(offset) => println!("starting at offset {offset}, the group's committed offset"),
        None => println!("starting at offset 0: the group has no committed offset yet"),
    }
    Ok(committed.unwrap_or(0))
}

/// The consume loop the three native examples share: starts at the group's committed offset
/// (printed), subscribes to the input and hands each poll's records to `each_poll` until the
/// input's end, then closes the consumer. What differs between the guarantees - where the offsets are committed - is
/// `each_poll`'s.
pub async fn poll_to_end(
    cluster: &Cluster,
    mut consumer: Consumer,
    mut each_poll: impl AsyncFnMut(&mut Consumer, Vec<ConsumerRecord>) -> Result<()>,
) -> Result<()> {
    let mut next = start_offset(&consumer).await?;
    consumer.subscribe([INPUT])?;
    let end = input_end(cluster)?;
    while next < end {
        let payments = consumer.poll(Duration::from_millis(100)).await?;
        let Some(last) = payments.last() else {
            continue;
        };
        next = last.offset + 1;
        each_poll(&mut consumer, payments).await?;
    }
    println!("at the end of {INPUT} (offset {end})");
    consumer.close().await?;
    Ok(())
}

/// The receipts topic's high watermark and last stable offset: between them lie the records
/// of open transactions, which read_committed readers do not see yet.
pub fn output_offsets(cluster: &Cluster) -> Result<(i64, i64)> {
    let receipts = cluster.broker().partition(&partition_of(OUTPUT)?)?;
    Ok((receipts.high_watermark()?, receipts.last_stable_offset()?))
}

/// The crash point: says where the consumer is, then blocks until the parent's SIGKILL (the
/// examples' crashes are real kills, not panics or early returns, so nothing the process would
/// do on the way out - a commit, a flush, a LeaveGroup - happens). Called on the thread that
/// runs the consumer loop or the stream thread; the runtime's workers run on, as they would
/// in a process that is killed while busy.
pub fn crash_here(at: &str) -> ! {
    println!(
        "{CRASH_MARKER} {at}; waiting for SIGKILL (kill -9 {})",
        std::process::id()
    );
    loop {
        std::thread::park();
    }
}

/// The group's committed offset of the input, if any.
pub async fn committed_offset(cluster: &Cluster, group: &str) -> Result<Option<i64>> {
    let input = partition_of(INPUT)?;
    let lag = cluster.admin().describe_group(group).await?;
    Ok(lag
        .partitions
        .iter()
        .find(|p| p.partition == input)
        .map(|p| p.committed))
}

/// The payment number of every receipt `isolation` lets a reader see, in log order.
pub async fn read_receipts(cluster: &Cluster, isolation: IsolationLevel) -> Result<Vec<i64>> {
    let output = partition_of(OUTPUT)?;
    let end = cluster.broker().list_offset_with(&output, -1, isolation)?.0;
    let mut consumer = cluster.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        fetch_max_wait: Duration::from_millis(20),
        isolation_level: isolation,
        ..ConsumerConfig::default()
    });
    consumer.assign([output.clone()])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = Vec::new();
    // The position passes the transaction markers too, which are no records: it, not the
    // count of records, says when the end is reached.
    while consumer.position(&output).await? < end {
        ensure!(
            Instant::now() < deadline,
            "could not read {OUTPUT} to offset {end}"
        );
        for receipt in consumer.poll(Duration::from_millis(100)).await? {
            if receipt.offset < end {
                ids.push(payment_id(receipt.key.as_deref())?);
            }
        }
    }
    Ok(ids)
}

// ---------------------------------------------------------------- the parent

/// A consumer process, with its stdout forwarded line by line.
struct Child {
    process: std::process::Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn(mut command: Command) -> Result<Child> {
    let mut process = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let stdout = process.stdout.take().context("the child's stdout")?;
    let mut stderr_pipe = process.stderr.take().context("the child's stderr")?;
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    Ok(Child {
        process,
        lines,
        stderr,
    })
}

/// How a consumer's run ended.
enum Ended {
    /// At its crash point: this line (the marker) was printed.
    AtCrashPoint(String),
    /// Its stdout closed: it exited.
    Exited,
}

impl Child {
    /// Kills the child (SIGKILL) and returns what it wrote to stderr, for an error message.
    fn kill_for_error(mut self) -> String {
        let _ = self.process.kill();
        let _ = self.process.wait();
        self.stderr.join().unwrap_or_default()
    }

    /// Echoes the child's lines with `label` until it prints its crash marker or closes its
    /// stdout; kills it and fails after [`CHILD_TIMEOUT`].
    fn follow(&mut self, label: &str) -> Result<Ended> {
        let deadline = Instant::now() + CHILD_TIMEOUT;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    println!("  {label} | {line}");
                    if line.starts_with(CRASH_MARKER) {
                        return Ok(Ended::AtCrashPoint(line));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.process.kill();
                    let _ = self.process.wait();
                    bail!("{label}: no crash point and no end within {CHILD_TIMEOUT:?}");
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(Ended::Exited),
            }
        }
    }
}

/// Runs a consumer until it prints its crash marker, then SIGKILLs it. Echoes its lines with
/// `label`; returns the marker line.
pub fn run_until_crash(command: Command, label: &str) -> Result<String> {
    let mut child = spawn(command)?;
    match child.follow(label) {
        Ok(Ended::AtCrashPoint(line)) => {
            child.process.kill().context("SIGKILL")?;
            let status = child.process.wait()?;
            ensure!(
                status.signal() == Some(libc::SIGKILL),
                "the consumer did not die by SIGKILL but {status}"
            );
            println!("  {label} | killed by SIGKILL");
            Ok(line)
        }
        Ok(Ended::Exited) => {
            let status = child.process.wait()?;
            let stderr = child.stderr.join().unwrap_or_default();
            bail!("{label}: the consumer ended ({status}) before its crash point; stderr:\n{stderr}");
        }
        Err(e) => {
            let stderr = child.kill_for_error();
            bail!("{e}; stderr:\n{stderr}");
        }
    }
}

/// Runs a consumer to its end; fails unless it exits successfully. Echoes its lines with
/// `label`.
pub fn run_to_end(command: Command, label: &str) -> Result<()> {
    let mut child = spawn(command)?;
    match child.follow(label) {
        Ok(Ended::Exited) => {}
        Ok(Ended::AtCrashPoint(_)) => {
            let stderr = child.kill_for_error();
            bail!("{label}: a run to the end stopped at a crash point; stderr:\n{stderr}");
        }
        Err(e) => {
            let stderr = child.kill_for_error();
            bail!("{e}; stderr:\n{stderr}");
        }
    }
    let status = child.process.wait()?;
    let stderr = child.stderr.join().unwrap_or_default();
    ensure!(
        status.success(),
        "{label}: the consumer failed ({status}); stderr:\n{stderr}"
    );
    Ok(())
}

// ---------------------------------------------------------------- the demo

/// What a guarantee promises about the payment a crash interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// At-most-once: it has no receipt.
    Lost,
    /// At-least-once: it has two receipts.
    Duplicated,
    /// Exactly-once: read_committed, it has one receipt like every other payment; the log
    /// also holds the aborted receipt of the killed run, which only read_uncommitted shows.
    ExactlyOnce,
}

/// The receipts a reader sees after a crash at payment `k` and a run to the end:
/// (read_committed, read_uncommitted), payment numbers in log order.
pub fn expected_receipts(promise: Promise, records: i64, k: i64) -> (Vec<i64>, Vec<i64>) {
    let once: Vec<i64> = (0..records).collect();
    let lost: Vec<i64> = (0..records).filter(|&i| i != k).collect();
    let twice: Vec<i64> = (0..=k).chain(k..records).collect();
    match promise {
        Promise::Lost => (lost.clone(), lost),
        Promise::Duplicated => (twice.clone(), twice),
        Promise::ExactlyOnce => (once, twice),
    }
}

/// The consumer settings the three native examples share; each sets what its guarantee
/// needs on top (the exactly-once one: read_committed).
pub fn consumer_config(group: &str) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.into()),
        // Static membership (KIP-345): the restarted consumer takes over the killed one's
        // partition at once instead of waiting for its session to time out.
        group_instance_id: Some(format!("{group}-1")),
        auto_offset_reset: OffsetReset::Earliest,
        // The commits are the example's, where its guarantee needs them: auto-commit commits
        // what was polled on a timer, whether or not it was processed.
        enable_auto_commit: false,
        // One record per poll, so a crash interrupts exactly one; with the default (500) it
        // loses or repeats what is left of a whole poll.
        max_poll_records: 1,
        ..ConsumerConfig::default()
    }
}

/// Prints what became of a payment: its receipt's place in the log, and `how` it was committed.
pub fn print_receipt(payment: &ConsumerRecord, receipt: &RecordMetadata, how: &str) {
    println!(
        "{} (offset {}) -> receipt at {}@{}{how}",
        key_of(payment),
        payment.offset,
        receipt.topic,
        receipt.offset
    );
}

/// An example's `main`: with `--consume DATA_DIR`, the consumer process (see
/// [`run_consumer`]); otherwise the demo, titled `title`, checked against `promise`.
pub fn main(
    name: &'static str,
    about: &'static str,
    title: &str,
    promise: Promise,
    consume: impl AsyncFnOnce(&Cluster, &Path, Option<i64>) -> Result<()>,
) -> Result<()> {
    init_tracing();
    let args = Args::parse_for(name, about);
    match (&args.data_dir, args.consume) {
        (Some(dir), true) => runtime()?.block_on(run_consumer(dir, args.crash_at, consume)),
        _ => demo(&args, title, promise),
    }
}

/// The consumer process: opens the cluster in `dir`, runs the example's `consume` on it (with
/// `dir`, where the streams example keeps its state, and the crash point), and closes the
/// cluster whether or not it succeeded.
pub async fn run_consumer(
    dir: &Path,
    crash_at: Option<i64>,
    consume: impl AsyncFnOnce(&Cluster, &Path, Option<i64>) -> Result<()>,
) -> Result<()> {
    let cluster = open_cluster(dir).await?;
    let result = consume(&cluster, dir, crash_at).await;
    cluster.shutdown().await;
    result
}

/// The demo every example runs by default: payments into a fresh directory, the example's
/// consumer run as a child process (this executable with `--consume`) and SIGKILLed at its
/// worst moment for payment K, run again to the end, and the receipts checked against what the
/// guarantee promises.
pub fn demo(args: &Args, title: &str, promise: Promise) -> Result<()> {
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let k = args.crash_at.unwrap_or(4);
    ensure!(
        (0..args.records - 1).contains(&k),
        "--crash-at must be a payment before the last one (0 to {})",
        args.records - 2
    );
    println!("Runnel delivery semantics: {title} — data in {}\n", dir.display());
    let runtime = runtime()?;
    runtime.block_on(create_input(&dir, args.records))?;
    println!(
        "produced {} payments (payment-0 .. payment-{}) to `{INPUT}`\n",
        args.records,
        args.records - 1
    );

    let exe = std::env::current_exe()?;
    let consumer = |crash_at: Option<i64>| {
        let mut command = Command::new(&exe);
        command.arg(&dir).arg("--consume");
        if let Some(k) = crash_at {
            command.arg("--crash-at").arg(k.to_string());
        }
        command.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        );
        command
    };
    println!("run 1: the consumer, killed at its worst moment for payment-{k}");
    run_until_crash(consumer(Some(k)), "run 1")?;
    println!("\nrun 2: the consumer again, on the same data, to the end of the input");
    run_to_end(consumer(None), "run 2")?;

    let (committed, uncommitted) = runtime.block_on(async {
        let cluster = open_cluster(&dir).await?;
        let committed = read_receipts(&cluster, IsolationLevel::ReadCommitted).await;
        let uncommitted = read_receipts(&cluster, IsolationLevel::ReadUncommitted).await;
        cluster.shutdown().await;
        anyhow::Ok((committed?, uncommitted?))
    })?;
    let show = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" ");
    println!("\nreceipts, payment numbers in log order:");
    println!("  read_committed:   {}", show(&committed));
    println!("  read_uncommitted: {}", show(&uncommitted));
    let (want_committed, want_uncommitted) = expected_receipts(promise, args.records, k);
    ensure!(
        committed == want_committed && uncommitted == want_uncommitted,
        "the receipts are not what {title} promises: read_committed should be {}, read_uncommitted {}",
        show(&want_committed),
        show(&want_uncommitted)
    );
    println!(
        "\n{}",
        match promise {
            Promise::Lost => format!(
                "payment-{k} has no receipt: its offset was committed before it was processed, and \
                 the crash came in between. At-most-once never repeats a record; this loss is its price."
            ),
            Promise::Duplicated => format!(
                "payment-{k} has two receipts: its receipt was written before its offset was \
                 committed, and the crash came in between. At-least-once never loses a record; this \
                 duplicate is its price."
            ),
            Promise::ExactlyOnce => format!(
                "every payment has one receipt for read_committed readers. The killed run's receipt for \
                 payment-{k} is in the log too, but in a transaction that was aborted when the consumer \
                 restarted: only read_uncommitted readers see it."
            ),
        }
    );
    Ok(())
}
