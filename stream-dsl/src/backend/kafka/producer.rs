//! A librdkafka producer for a stream thread: idempotent, or transactional under
//! exactly-once. Delivery failures are kept by the delivery callback until the thread asks
//! for them (at its commit), as the embedded producer keeps them.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use stream_core::TopicPartition;

use super::{KafkaCluster, REQUEST_TIMEOUT};
use crate::backend::{ClientError, ErrorKind, GroupMetadata, LogProducer};
use crate::error::Result;
use crate::processor::{OutRef, RecordQueue, RecordSink, SinkRecord, SinkTopic};

#[derive(Default)]
pub(super) struct DeliveryContext {
    first_failure: Mutex<Option<KafkaError>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.first_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.clone());
        }
    }
}

pub(super) struct KafkaProducer {
    /// Shared with its tasks' sinks, which send through it.
    producer: Arc<ThreadedProducer<DeliveryContext>>,
}

impl KafkaProducer {
    pub fn new(
        cluster: &KafkaCluster,
        client_id: &str,
        transactional: Option<(String, Duration)>,
    ) -> Result<KafkaProducer> {
        let mut settings = vec![
            ("client.id", client_id.to_owned()),
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".to_owned()),
            ("linger.ms", "100".to_owned()),
            ("partitioner", "murmur2_random".to_owned()),
        ];
        if let Some((id, timeout)) = transactional {
            settings.push(("transactional.id", id));
            settings.push(("transaction.timeout.ms", timeout.as_millis().to_string()));
        }
        let producer = cluster.create(&settings, DeliveryContext::default(), "create a producer")?;
        Ok(KafkaProducer {
            producer: Arc::new(producer),
        })
    }
}

impl LogProducer for KafkaProducer {
    fn init_transactions(&mut self) -> Result<(), ClientError> {
        self.producer.init_transactions(REQUEST_TIMEOUT).map_err(classify)
    }

    fn begin_transaction(&mut self) -> Result<(), ClientError> {
        self.producer.begin_transaction().map_err(classify)
    }

    fn sink(&self) -> Box<dyn RecordSink> {
        Box::new(KafkaSink {
            producer: Arc::downgrade(&self.producer),
        })
    }

    fn take_failure(&mut self) -> Option<ClientError> {
        self.producer
            .context()
            .first_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(classify)
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        self.producer.flush(REQUEST_TIMEOUT).map_err(classify)
    }

    fn send_offsets_to_transaction(
        &mut self,
        offsets: &[(TopicPartition, i64)],
        group: &GroupMetadata,
    ) -> Result<(), ClientError> {
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in offsets {
            tpl.add_partition_offset(tp.topic.as_str(), tp.partition, Offset::Offset(*offset))
                .map_err(classify)?;
        }
        self.producer
            .send_offsets_to_transaction(&tpl, group.kafka()?, REQUEST_TIMEOUT)
            .map_err(classify)
    }

    fn commit_transaction(&mut self) -> Result<(), ClientError> {
        self.producer
            .commit_transaction(REQUEST_TIMEOUT)
            .map_err(classify)
    }

    fn abort_transaction(&mut self) -> Result<(), ClientError> {
        self.producer.abort_transaction(REQUEST_TIMEOUT).map_err(classify)
    }
}

/// A task's [`RecordSink`]: it takes no topic as records are written, so they queue in the
/// task's output and go to librdkafka one by one when the stream thread sends (librdkafka
/// batches them itself).
struct KafkaSink {
    /// Weak: a producer replaced after a failed abort takes no more records from the tasks
    /// it served (the stream thread drops them: `ThreadProducer::abort`).
    producer: Weak<ThreadedProducer<DeliveryContext>>,
}

impl RecordSink for KafkaSink {
    fn take_topic(&mut self, _topic: &Arc<str>) -> Option<SinkTopic> {
        None
    }

    fn write(&mut self, _topic: SinkTopic, _record: SinkRecord<'_>) -> bool {
        false
    }

    fn send(&mut self, queued: &mut RecordQueue) -> Result<(), (Arc<str>, ClientError)> {
        let producer = self.producer.upgrade();
        queued.send_each(|r| {
            let Some(producer) = &producer else {
                return Err((r.topic.clone(), ClientError::producer_replaced()));
            };
            send(producer, r).map_err(|e| (r.topic.clone(), e))
        })
    }

    fn clear(&mut self) {}
}

/// Queues a record in librdkafka; a failure to store it shows in the delivery callback.
fn send(producer: &ThreadedProducer<DeliveryContext>, out: OutRef<'_>) -> Result<(), ClientError> {
    let r = out.record;
    let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
    for h in r.headers {
        headers = headers.insert(Header {
            key: &h.key,
            value: h.value.as_deref(),
        });
    }
    let mut record: BaseRecord<'_, [u8], [u8]> =
        BaseRecord::to(out.topic).timestamp(r.timestamp).headers(headers);
    if let Some(p) = r.partition {
        record = record.partition(p);
    }
    if let Some(k) = r.key {
        record = record.key(k);
    }
    if let Some(v) = r.value {
        record = record.payload(v);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            // The local queue is full: wait for deliveries to make room.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(classify(e)),
        }
    }
}

/// Sorts a librdkafka error as the runtime handles it: fencing, and fatal errors (after
/// which the producer must be replaced), mean another owner; the rest abort the transaction.
fn classify(e: KafkaError) -> ClientError {
    use RDKafkaErrorCode::*;
    let fatal = matches!(&e, KafkaError::Transaction(t) if t.is_fatal());
    let kind = match e.rdkafka_error_code() {
        _ if fatal => ErrorKind::Fenced,
        Some(
            ProducerFenced
            | InvalidProducerEpoch
            | InvalidProducerIdMapping
            | Fenced
            | IllegalGeneration
            | UnknownMemberId
            | FencedInstanceId,
        ) => ErrorKind::Fenced,
        Some(ConcurrentTransactions) => ErrorKind::ConcurrentTransactions,
        _ => ErrorKind::Other,
    };
    ClientError {
        kind,
        source: Arc::new(e),
    }
}
