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

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runnel::prelude::*;

#[path = "common/mod.rs"]
mod common;
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
    common::init_tracing();
    let args = Args::parse();
    let (root, _temp) = common::data_dir(args.data_dir.as_deref())?;
    println!("Runnel word count — data in {}\n", root.display());
    let cluster = common::open_cluster(&root).await?;
    let result = run(&cluster, &root, &args).await;
    cluster.shutdown().await;
    result
}

async fn run(cluster: &Cluster, root: &Path, args: &Args) -> Result<()> {
    let admin = cluster.admin();
    common::create_input(cluster, root, INPUT, PARTITIONS)?;
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
    common::wait_until_caught_up(cluster, &streams, APP_ID, &[INPUT], TIMEOUT).await?;
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
    for (key, value) in common::read_latest(cluster, OUTPUT, TIMEOUT).await? {
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
            common::first_diffs(&diffs)
        );
    }
    Ok(())
}
