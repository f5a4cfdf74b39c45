//! Word count, the "hello world" of stream processing, run end to end on the embedded
//! cluster: lines go into a topic, a `Streams` application splits them into words, groups
//! them by word (through a repartition topic) and counts them in a RocksDB store, and the
//! counts come out as a changelog on the `word-counts` topic. The final table read back from
//! that topic is checked against a plain `HashMap` count of the same lines; a mismatch exits
//! non-zero.
//!
//! ```text
//! cargo run --example word_count -- [DATA_DIR] [--lines N] [--threads N]
//!
//!   lines ─▶ flat_map_values(split, lowercase) ─▶ group_by(word) ─▶ <app>-word-counts-repartition
//!         ─▶ count ("word-counts" store) ─▶ to_stream ─▶ word-counts
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::group::GroupConfig;

const APP_ID: &str = "word-count";
const INPUT: &str = "lines";
const OUTPUT: &str = "word-counts";
const PARTITIONS: i32 = 4;
const TIMEOUT: Duration = Duration::from_secs(300);

/// Few enough words that every one is counted many times; the first are the most frequent
/// (see `random_line`).
const VOCABULARY: &str = "the stream of a table is and record to key in value log partition offset broker \
    topic state store commit group consumer producer window join changelog task thread batch segment index \
    replica leader epoch cache punctuate repartition aggregate tombstone compaction";

#[derive(Parser, Debug)]
#[command(about = "Word count on Runnel's embedded cluster, checked against a HashMap count")]
struct Args {
    /// Where the broker and the state stores keep their data (default: a temporary directory).
    data_dir: Option<PathBuf>,
    /// How many lines to produce.
    #[arg(long, default_value_t = 20_000)]
    lines: usize,
    /// Stream threads of the application.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let temp;
    let root = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!("Runnel word count — data in {}\n", root.display());

    // One application instance: Kafka's wait for more members to join a new group
    // (group.initial.rebalance.delay.ms, 3 s) would only delay the start.
    let cluster = Cluster::embedded_with(
        BrokerConfig::new(root.join("broker")),
        GroupConfig::default().with_group_initial_rebalance_delay_ms(0),
    )
    .await?;
    let result = run(&cluster, &root, &args).await;
    cluster.shutdown().await;
    result
}

async fn run(cluster: &Cluster, root: &Path, args: &Args) -> Result<()> {
    let admin = cluster.admin();
    match admin.create_topic(INPUT, PARTITIONS, []) {
        Err(BrokerError::TopicAlreadyExists(_)) => {
            bail!(
                "{} already holds a run of this example; pass an empty directory",
                root.display()
            )
        }
        other => other?,
    };
    admin.create_topic(OUTPUT, PARTITIONS, [])?;

    // 1. Input: deterministic lines, and the reference count of the same lines.
    let mut rng = StdRng::seed_from_u64(42);
    let vocabulary: Vec<&str> = VOCABULARY.split_whitespace().collect();
    let lines: Vec<String> = (0..args.lines)
        .map(|_| random_line(&mut rng, &vocabulary))
        .collect();
    let mut expected: HashMap<String, i64> = HashMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *expected.entry(word.to_lowercase()).or_default() += 1;
    }
    let words: i64 = expected.values().sum();
    let started = Instant::now();
    produce_lines(cluster, &lines).await?;
    println!(
        "produced {} lines ({words} words) to `{INPUT}` in {:.2} s",
        lines.len(),
        started.elapsed().as_secs_f64()
    );

    // 2. The application.
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>(INPUT, Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
        .group_by(
            |_, word: &String| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("word-counts"))
        .to_stream()
        .to(OUTPUT, Produced::with(Serdes::string(), Serdes::i64()));
    let topology = builder.build()?;
    let config = StreamsConfig::new(APP_ID)
        .with_state_dir(root.join("state"))
        .with_threads(args.threads)
        .with_commit_interval(Duration::from_millis(200));
    let mut streams = Streams::new(topology, config, cluster);
    let started = Instant::now();
    streams.start().await?;
    streams.wait_until_running(Duration::from_secs(30)).await?;
    let startup = started.elapsed();
    wait_until_caught_up(cluster, &streams, &[INPUT]).await?;
    let elapsed = started.elapsed();
    let metrics = streams.metrics();
    streams.close().await?;
    println!(
        "counted  {words} words in {:.2} s (running after {:.2} s) — {:.0} words/s ({} records processed \
         incl. repartition, {} commits)",
        elapsed.as_secs_f64(),
        startup.as_secs_f64(),
        words as f64 / elapsed.as_secs_f64(),
        metrics.processed_records,
        metrics.commits
    );

    // 3. The final table is the latest count per word on the output topic.
    let mut counts: HashMap<String, i64> = HashMap::new();
    for (key, value) in read_latest(cluster, OUTPUT).await? {
        let word = String::from_utf8(key.to_vec()).context("a word that is not UTF-8")?;
        let value = value.with_context(|| format!("a tombstone for {word}: counts are never deleted"))?;
        let bytes: [u8; 8] = value[..]
            .try_into()
            .with_context(|| format!("the count of {word} is {} bytes, not 8", value.len()))?;
        counts.insert(word, i64::from_be_bytes(bytes));
    }
    print_top(&counts, 20);
    check(&counts, &expected)?;
    println!("\nall {} word counts match the reference count", expected.len());
    Ok(())
}

/// About ten words, Zipf-like: squaring a uniform number favours the vocabulary's start. A few
/// words are capitalized, for the pipeline's lowercasing to matter.
fn random_line(rng: &mut StdRng, vocabulary: &[&str]) -> String {
    let n = rng.random_range(8..=12);
    let words: Vec<String> = (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            let word = vocabulary[(u * u * vocabulary.len() as f64) as usize];
            match rng.random_range(0..20) {
                0 => word.to_uppercase(),
                1 => word[..1].to_uppercase() + &word[1..],
                _ => word.to_string(),
            }
        })
        .collect();
    words.join(" ")
}

async fn produce_lines(cluster: &Cluster, lines: &[String]) -> Result<()> {
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut deliveries = Vec::with_capacity(lines.len());
    for line in lines {
        deliveries.push(producer.send(ProducerRecord::new(INPUT, Bytes::from(line.clone())))?);
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close().await;
    Ok(())
}

/// Waits until the application has committed every record of its input topics and of its
/// repartition topics. Under at-least-once a commit comes after the caches are flushed and
/// the output is acknowledged, so by then every result is on the output topics.
async fn wait_until_caught_up(cluster: &Cluster, streams: &Streams, inputs: &[&str]) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(error) = streams.error() {
            bail!("the application failed: {error}");
        }
        let pending = unprocessed(cluster, inputs).await?;
        if pending == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the application has not caught up after {TIMEOUT:?}: {pending} records to go, {:?}",
            streams.metrics()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records of `inputs` and of the application's repartition topics not yet committed. The
/// committed offsets are read before the end offsets: a zero then means nothing was left
/// unprocessed when the offsets were read, including the repartition records that the input
/// had produced by then.
async fn unprocessed(cluster: &Cluster, inputs: &[&str]) -> Result<i64> {
    let admin = cluster.admin();
    let committed: HashMap<TopicPartition, i64> = admin
        .describe_group(APP_ID)
        .await?
        .partitions
        .into_iter()
        .map(|p| (p.partition, p.committed))
        .collect();
    let repartition = admin
        .list_topics()
        .into_iter()
        .filter(|t| t.as_str().starts_with(&format!("{APP_ID}-")) && t.as_str().ends_with("-repartition"));
    let topics: Vec<TopicName> = inputs
        .iter()
        .map(|t| TopicName::new(t))
        .collect::<Result<_, _>>()?;
    let mut pending = 0;
    for topic in topics.into_iter().chain(repartition) {
        for p in 0..admin.describe_topic(topic.as_str())?.partitions.len() as i32 {
            let tp = TopicPartition::new(topic.clone(), p);
            let end = cluster.broker().list_offset(&tp, -1)?.0;
            pending += (end - committed.get(&tp).copied().unwrap_or(0)).max(0);
        }
    }
    Ok(pending)
}

/// The latest value of every key of `topic`, read from the start to the end offsets.
async fn read_latest(cluster: &Cluster, topic: &str) -> Result<HashMap<Bytes, Option<Bytes>>> {
    let name = TopicName::new(topic)?;
    let partitions = cluster.admin().describe_topic(topic)?.partitions.len() as i32;
    let assignment: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(name.clone(), p))
        .collect();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for tp in &assignment {
        let end = cluster.broker().list_offset(tp, -1)?.0;
        if end > 0 {
            remaining.insert(tp.partition, end);
        }
    }
    let mut consumer = cluster.consumer(ConsumerConfig {
        group_id: None,
        auto_offset_reset: OffsetReset::Earliest,
        enable_auto_commit: false,
        ..ConsumerConfig::default()
    });
    consumer.assign(assignment)?;
    let deadline = Instant::now() + TIMEOUT;
    let mut latest = HashMap::new();
    while !remaining.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "could not read {topic} to its end in {TIMEOUT:?}"
        );
        for record in consumer.poll(Duration::from_millis(500)).await? {
            if remaining
                .get(&record.partition)
                .is_some_and(|&end| record.offset + 1 >= end)
            {
                remaining.remove(&record.partition);
            }
            if let Some(key) = record.key {
                latest.insert(key, record.value);
            }
        }
    }
    Ok(latest)
}

fn print_top(counts: &HashMap<String, i64>, n: usize) {
    let mut rows: Vec<(&String, &i64)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let total: i64 = counts.values().sum();
    let width = rows
        .iter()
        .take(n)
        .map(|(w, _)| w.len())
        .max()
        .unwrap_or(0)
        .max("word".len());
    println!(
        "\n{:>4}  {:<width$}  {:>9}  {:>6}",
        "rank", "word", "count", "share"
    );
    for (rank, (word, count)) in rows.iter().take(n).enumerate() {
        let share = **count as f64 * 100.0 / total as f64;
        println!("{:>4}  {word:<width$}  {count:>9}  {share:>5.1}%", rank + 1);
    }
    println!(
        "{:>4}  {:<width$}  {total:>9}  ({} distinct words)",
        "",
        "total",
        counts.len()
    );
}

fn check(actual: &HashMap<String, i64>, expected: &HashMap<String, i64>) -> Result<()> {
    let mut diffs: Vec<String> = Vec::new();
    for (word, want) in expected {
        match actual.get(word) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("  {word}: pipeline {got}, reference {want}")),
            None => diffs.push(format!(
                "  {word}: missing from the pipeline's output, reference {want}"
            )),
        }
    }
    for (word, got) in actual {
        if !expected.contains_key(word) {
            diffs.push(format!("  {word}: pipeline {got}, not in the input"));
        }
    }
    if !diffs.is_empty() {
        diffs.sort();
        bail!(
            "{} word counts differ from the reference:\n{}",
            diffs.len(),
            first_diffs(&diffs)
        );
    }
    Ok(())
}

/// The first differences, one a line, and how many more there are.
fn first_diffs(diffs: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = diffs[..diffs.len().min(SHOWN)].join("\n");
    if diffs.len() > SHOWN {
        text += &format!("\n  … and {} more", diffs.len() - SHOWN);
    }
    text
}
