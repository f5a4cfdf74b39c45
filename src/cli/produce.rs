//! `runnel produce`: stdin lines to a topic, like Kafka's `kafka-console-producer.sh`.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::progress::Progress;
use super::{Connection, Rd};

/// How long the final flush may take before the command reports the records as undelivered.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args, Debug)]
pub struct ProduceArgs {
    pub topic: String,
    /// Split each line at the first SEP into key and value; without it, records have no key.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

pub fn run(args: ProduceArgs) -> Result<()> {
    let producer: BaseProducer<Deliveries> = args
        .connection
        .config()
        // murmur2 on the key, as the Java client: a keyed record lands on the partition any
        // Kafka client would choose (`partition_for_key`); unkeyed ones are spread at random.
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create_with_context(Deliveries::default())
        .map_err(Rd)
        .context("creating the producer")?;
    let mut progress = Progress::new("produced");
    let mut sent = 0u64;
    for (number, line) in std::io::stdin().lock().split(b'\n').enumerate() {
        let mut line = line.context("reading stdin")?;
        // Like the console producer's readLine: a CRLF ending is a line ending too.
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let (key, value) = match &args.key_separator {
            None => (None, &line[..]),
            Some(sep) => match find(&line, sep.as_bytes()) {
                Some(at) => (Some(&line[..at]), &line[at + sep.len()..]),
                None => bail!("line {}: no key separator {sep:?}", number + 1),
            },
        };
        let mut record = BaseRecord::<[u8], [u8]>::to(&args.topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        send(&producer, record)?;
        sent += 1;
        progress.update(producer.context().delivered.load(Ordering::Relaxed));
    }
    let flushed = producer.flush(FLUSH_TIMEOUT);
    progress.finish();
    let context = producer.context();
    let delivered = context.delivered.load(Ordering::Relaxed);
    if let Some(error) = context
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        bail!(
            "{} of {sent} records not delivered to {}: {error}",
            sent - delivered,
            args.topic
        );
    }
    flushed.map_err(Rd).with_context(|| {
        format!(
            "{} of {sent} records not delivered within {FLUSH_TIMEOUT:?}",
            sent - delivered
        )
    })?;
    eprintln!("{delivered} records produced to {}", args.topic);
    Ok(())
}

/// Hands a record to librdkafka, serving delivery reports while its queue is full.
fn send<'a>(producer: &BaseProducer<Deliveries>, mut record: BaseRecord<'a, [u8], [u8]>) -> Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(50));
            }
            Err((e, _)) => return Err(Rd(e)).context("producing"),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Counts delivery reports and keeps the first failure, which the command reports.
#[derive(Debug, Default)]
struct Deliveries {
    delivered: AtomicU64,
    first_error: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        super::Quiet.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        super::Quiet.error(error, reason);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.clone());
                }
            }
        }
    }
}
