//! `runnel consume`: a topic's records to stdout, like Kafka's `kafka-console-consumer.sh`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::progress::Progress;
use super::{Connection, Quiet, REQUEST_TIMEOUT, Rd};

/// How long one poll waits, so that the idle timeout is checked this often.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Args, Debug)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Consume as a member of this group, committing the offsets of printed records.
    /// Without it, every partition is read and nothing is committed.
    #[arg(long, value_name = "G")]
    pub group: Option<String>,
    /// Start at the earliest offset (in a group: only where the group has no committed offset).
    #[arg(long)]
    pub from_beginning: bool,
    /// Exit after printing this many records.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Print `key<TAB>value` (the console consumer's `print.key` layout); a null key is `null`.
    #[arg(long)]
    pub print_key: bool,
    /// Exit when no record has arrived for this long.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    #[command(flatten)]
    pub connection: Connection,
}

pub fn run(args: ConsumeArgs) -> Result<()> {
    let consumer = connect(&args)?;
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut progress = Progress::new("consumed");
    let mut count = 0u64;
    let mut last_record = Instant::now();
    while args.max_messages.is_none_or(|max| count < max) {
        if idle_limit.is_some_and(|limit| last_record.elapsed() >= limit) {
            break;
        }
        let Some(message) = consumer.poll(POLL_INTERVAL) else {
            continue;
        };
        let message = message
            .map_err(Rd)
            .with_context(|| format!("consuming from {}", args.topic))?;
        print(&mut out, &message, args.print_key).context("writing stdout")?;
        if args.group.is_some() {
            consumer
                .store_offset_from_message(&message)
                .map_err(Rd)
                .context("storing the offset")?;
        }
        count += 1;
        last_record = Instant::now();
        progress.update(count);
    }
    out.flush().context("writing stdout")?;
    progress.finish();
    if args.group.is_some() {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            // Nothing was consumed, so there is nothing to commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            result => result.map_err(Rd).context("committing offsets")?,
        }
    }
    eprintln!("Processed a total of {count} messages");
    Ok(())
}

fn connect(args: &ConsumeArgs) -> Result<BaseConsumer<Quiet>> {
    let mut config = args.connection.config();
    let reset = if args.from_beginning { "earliest" } else { "latest" };
    config.set("auto.offset.reset", reset);
    match &args.group {
        Some(group) => {
            // Offsets are stored only for records printed, so a run cut short by
            // `--max-messages` commits exactly what it printed (auto-commit plus a final sync
            // commit); records fetched but not printed are read again by the next member.
            config
                .set("group.id", group)
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false");
        }
        None => {
            // librdkafka's assign() needs a group id even though an assigned consumer never
            // joins the group; with auto-commit off, this one never reaches the broker.
            config
                .set("group.id", format!("runnel-cli-{}", std::process::id()))
                .set("enable.auto.commit", "false");
        }
    }
    let consumer: BaseConsumer<Quiet> = config
        .create_with_context(Quiet)
        .map_err(Rd)
        .context("creating the consumer")?;
    match &args.group {
        Some(_) => consumer
            .subscribe(&[&args.topic])
            .map_err(Rd)
            .context("subscribing")?,
        None => {
            let metadata = consumer
                .fetch_metadata(None, REQUEST_TIMEOUT)
                .map_err(Rd)
                .context("fetching metadata")?;
            let topic = metadata
                .topics()
                .iter()
                .find(|t| t.name() == args.topic)
                .ok_or_else(|| anyhow!("topic {:?} does not exist", args.topic))?;
            let start = if args.from_beginning {
                Offset::Beginning
            } else {
                Offset::End
            };
            let mut assignment = TopicPartitionList::new();
            for partition in topic.partitions() {
                assignment.add_partition_offset(&args.topic, partition.id(), start)?;
            }
            consumer
                .assign(&assignment)
                .map_err(Rd)
                .context("assigning partitions")?;
        }
    }
    Ok(consumer)
}

fn print(out: &mut impl Write, message: &BorrowedMessage<'_>, print_key: bool) -> std::io::Result<()> {
    if print_key {
        out.write_all(message.key().unwrap_or(b"null"))?;
        out.write_all(b"\t")?;
    }
    out.write_all(message.payload().unwrap_or(b"null"))?;
    out.write_all(b"\n")
}
