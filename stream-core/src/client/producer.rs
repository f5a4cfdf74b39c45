//! The native producer, shaped after Kafka's Java `KafkaProducer`: records are partitioned
//! (murmur2 of the key, or sticky for keyless records), accumulated per partition into v2
//! batches up to `batch.size`, and appended when a batch fills, after `linger.ms`, or on
//! [`Producer::flush`]. Idempotence is on by default, as in the Java client: every batch
//! carries the producer id, epoch and sequence, so the broker drops a batch sent twice.
//!
//! `send` returns at once with a [`DeliveryFuture`]; awaiting it is optional. The per-record
//! path allocates nothing but the record's bytes in the batch: the future shares its batch's
//! result slot.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage::record::{BatchBuilder, Compression, Header};

use super::partitioner::{Xorshift, partition_for_key};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::partition::Acks;
use crate::topic::{TopicName, TopicPartition};

/// Producer settings with the Java client's names and defaults.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub client_id: String,
    /// `acks` (default all).
    pub acks: Acks,
    /// `linger.ms` (default 5 ms since Kafka 4.0).
    pub linger: Duration,
    /// `batch.size` (default 16384).
    pub batch_size: usize,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `max.request.size` (default 1 MiB): the largest record accepted.
    pub max_request_size: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client_id: "producer".into(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16_384,
            compression: Compression::None,
            enable_idempotence: true,
            max_request_size: 1_048_576,
        }
    }
}

/// A record to send. Without a partition, the partitioner picks one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// CreateTime in ms; now when unset.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, Some(value.into())));
        self
    }

    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// A tombstone: a key with a null value.
    pub fn tombstone(topic: impl Into<String>, key: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: Some(key.into()),
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

/// Where a record was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: TopicName,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// Why a send failed. Shared by every record of the failed batch.
pub type SendError = Arc<BrokerError>;

/// The outcome of one batch, shared by the futures of its records.
#[derive(Debug)]
struct BatchSlot {
    topic: TopicName,
    partition: i32,
    /// (base offset, LogAppendTime or -1), or the error.
    result: OnceLock<Result<(i64, i64), SendError>>,
    wakers: Mutex<Vec<Waker>>,
}

impl BatchSlot {
    fn complete(&self, result: Result<(i64, i64), SendError>) {
        let _ = self.result.set(result);
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }
}

/// Resolves to the record's metadata once its batch is stored.
#[derive(Debug)]
#[must_use = "a send completes without being awaited, but its outcome is only seen through the future"]
pub struct DeliveryFuture {
    slot: Arc<BatchSlot>,
    delta: i32,
    timestamp: i64,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, SendError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ready = |r: &Result<(i64, i64), SendError>| {
            r.clone().map(|(base, append_time)| RecordMetadata {
                topic: self.slot.topic.clone(),
                partition: self.slot.partition,
                offset: base + i64::from(self.delta),
                timestamp: if append_time >= 0 {
                    append_time
                } else {
                    self.timestamp
                },
            })
        };
        if let Some(r) = self.slot.result.get() {
            return Poll::Ready(ready(r));
        }
        self.slot
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cx.waker().clone());
        match self.slot.result.get() {
            Some(r) => Poll::Ready(ready(r)),
            None => Poll::Pending,
        }
    }
}

#[derive(Debug)]
struct OpenBatch {
    builder: BatchBuilder,
    slot: Arc<BatchSlot>,
    created: Instant,
}

/// One partition's queue: its open batch and the next sequence number.
#[derive(Debug, Default)]
struct PartitionQueue {
    open: Option<OpenBatch>,
    next_sequence: i32,
}

#[derive(Debug)]
struct TopicQueues {
    name: TopicName,
    partitions: Vec<PartitionQueue>,
    /// Keyless records go to this partition until a batch fills (KIP-480).
    sticky: i32,
}

#[derive(Debug)]
struct Accumulator {
    topics: Vec<TopicQueues>,
    /// Topic name → index in `topics`.
    index: HashMap<String, usize>,
    /// The last topic sent to, checked before hashing: most producers write one topic.
    last: Option<usize>,
    rng: Xorshift,
}

impl Accumulator {
    fn topic_index(&mut self, broker: &Broker, topic: &str) -> Result<usize, BrokerError> {
        if let Some(i) = self.last
            && self.topics[i].name.as_str() == topic
        {
            return Ok(i);
        }
        let i = match self.index.get(topic) {
            Some(&i) => i,
            None => {
                let t = broker.topic_or_create(topic)?;
                let count = t.partition_count();
                self.topics.push(TopicQueues {
                    name: t.name.clone(),
                    partitions: (0..count).map(|_| PartitionQueue::default()).collect(),
                    sticky: self.rng.below(count),
                });
                self.index.insert(topic.to_string(), self.topics.len() - 1);
                self.topics.len() - 1
            }
        };
        self.last = Some(i);
        Ok(i)
    }
}

#[derive(Debug)]
struct Inner {
    broker: Broker,
    config: ProducerConfig,
    producer_id: i64,
    producer_epoch: i16,
    acc: Mutex<Accumulator>,
    /// The first batch failure since [`Producer::take_failure`] last looked: how senders that
    /// do not keep a future per record learn of failures (Kafka Streams' RecordCollector
    /// keeps the first send exception the same way).
    first_failure: Mutex<Option<SendError>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Producer {
    inner: Arc<Inner>,
    linger_task: Option<tokio::task::JoinHandle<()>>,
}

impl Producer {
    /// Creates a producer on `broker`. Must be called within a tokio runtime (the linger timer
    /// runs on it).
    pub fn new(broker: Broker, config: ProducerConfig) -> Result<Producer, BrokerError> {
        let (producer_id, producer_epoch) = if config.enable_idempotence {
            if config.acks != Acks::All {
                return Err(BrokerError::InvalidConfig {
                    key: "acks".into(),
                    value: format!("{:?}", config.acks),
                    reason: "idempotence requires acks=all, as in the Java client".into(),
                });
            }
            broker.init_producer_id()?
        } else {
            (-1, -1)
        };
        let inner = Arc::new(Inner {
            broker,
            config,
            producer_id,
            producer_epoch,
            acc: Mutex::new(Accumulator {
                topics: Vec::new(),
                index: HashMap::new(),
                last: None,
                rng: Xorshift::seeded(),
            }),
            first_failure: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let linger = inner.config.linger.max(Duration::from_millis(1));
        let linger_task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(linger).await;
                let Some(inner) = weak.upgrade() else { return };
                inner.send_due(linger);
            }
        });
        Ok(Producer {
            inner,
            linger_task: Some(linger_task),
        })
    }

    pub fn producer_id(&self) -> (i64, i16) {
        (self.inner.producer_id, self.inner.producer_epoch)
    }

    /// Queues `record` and returns a future for its metadata. Fails at once only for what
    /// can be known at once: an invalid or unknown topic or partition, or a record larger than
    /// `max.request.size`.
    pub fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, SendError> {
        self.inner.send(record).map_err(Arc::new)
    }

    /// Queues a record without a future for its outcome: a failure shows in
    /// [`Producer::take_failure`]. For senders of many records that only need to know, at
    /// their next commit, whether all were stored.
    pub fn send_unobserved(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(), SendError> {
        self.inner
            .append(topic, partition, key, value, headers, timestamp)
            .map(drop)
            .map_err(Arc::new)
    }

    /// The first batch that failed since the last call, if any.
    pub fn take_failure(&self) -> Option<SendError> {
        self.inner
            .first_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Sends every queued batch now and waits until all are stored.
    pub async fn flush(&self) {
        self.inner.send_due(Duration::ZERO);
    }

    /// Flushes and stops the linger timer.
    pub async fn close(mut self) {
        self.flush().await;
        if let Some(task) = self.linger_task.take() {
            task.abort();
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.inner.send_due(Duration::ZERO);
        if let Some(task) = self.linger_task.take() {
            task.abort();
        }
    }
}

impl Inner {
    fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, BrokerError> {
        let (slot, delta, timestamp) = self.append(
            &record.topic,
            record.partition,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
            record.timestamp,
        )?;
        Ok(DeliveryFuture {
            slot,
            delta,
            timestamp,
        })
    }

    /// Appends one record to its partition's open batch: (the batch's slot, the record's
    /// offset delta in it, its timestamp).
    fn append(
        &self,
        topic_name: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        timestamp: Option<i64>,
    ) -> Result<(Arc<BatchSlot>, i32, i64), BrokerError> {
        let timestamp = timestamp.unwrap_or_else(|| self.broker.clock().now_ms());
        let size = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        if size + 100 > self.config.max_request_size {
            return Err(BrokerError::Storage(storage::StorageError::MessageTooLarge {
                position: 0,
                size,
                max: self.config.max_request_size,
            }));
        }
        let mut acc = self.acc.lock().unwrap_or_else(|p| p.into_inner());
        let ti = acc.topic_index(&self.broker, topic_name)?;
        let count = acc.topics[ti].partitions.len() as i32;
        let partition = match (partition, key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                return Err(BrokerError::UnknownTopicOrPartition {
                    topic: topic_name.to_string(),
                    partition: p,
                });
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => acc.topics[ti].sticky,
        };
        let pi = partition as usize;
        // A record that does not fit the open batch closes it first.
        if let Some(open) = &acc.topics[ti].partitions[pi].open
            && !open.builder.is_empty()
            && open.builder.estimated_size() + size + 64 > self.config.batch_size
        {
            self.send_batch(&mut acc, ti, pi);
        }
        let topic = &mut acc.topics[ti];
        let name = &topic.name;
        let queue = &mut topic.partitions[pi];
        let seq = queue.next_sequence;
        let open = queue.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::with_capacity(self.config.compression, self.config.batch_size)
                .with_producer(
                    self.producer_id,
                    self.producer_epoch,
                    if self.producer_id >= 0 { seq } else { -1 },
                ),
            slot: Arc::new(BatchSlot {
                topic: name.clone(),
                partition,
                result: OnceLock::new(),
                wakers: Mutex::new(Vec::new()),
            }),
            created: Instant::now(),
        });
        let delta = open.builder.append(timestamp, key, value, headers);
        let slot = open.slot.clone();
        if open.builder.estimated_size() >= self.config.batch_size {
            self.send_batch(&mut acc, ti, pi);
        }
        Ok((slot, delta, timestamp))
    }

    /// Appends the open batch of a partition (holding the accumulator lock, so batches of a
    /// partition reach the log in sequence order).
    fn send_batch(&self, acc: &mut Accumulator, ti: usize, pi: usize) {
        let count_partitions = acc.topics[ti].partitions.len() as i32;
        let topic = &mut acc.topics[ti];
        let Some(open) = topic.partitions[pi].open.take() else {
            return;
        };
        let count = open.builder.count();
        if count == 0 {
            return;
        }
        let queue = &mut topic.partitions[pi];
        if self.producer_id >= 0 {
            let seq = queue.next_sequence;
            queue.next_sequence = if seq > i32::MAX - count {
                count - (i32::MAX - seq) - 1
            } else {
                seq + count
            };
        }
        // KIP-480: keyless records move to another partition once a batch is sent.
        if topic.sticky == pi as i32 {
            topic.sticky = acc.rng.below(count_partitions);
        }
        let topic = &mut acc.topics[ti];
        let tp = TopicPartition::new(topic.name.clone(), pi as i32);
        let mut bytes = open.builder.build();
        let result = self
            .broker
            .produce(&tp, &mut bytes, self.config.acks)
            .map(|r| (r.base_offset, r.log_append_time))
            .map_err(Arc::new);
        if let Err(e) = &result {
            self.first_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.clone());
        }
        if result.is_err() && self.producer_id >= 0 {
            // The broker took none of it: the sequence continues where it was.
            let queue = &mut topic.partitions[pi];
            queue.next_sequence = queue.next_sequence.wrapping_sub(count);
        }
        open.slot.complete(result);
    }

    /// Sends every open batch at least `age` old.
    fn send_due(&self, age: Duration) {
        let mut acc = self.acc.lock().unwrap_or_else(|p| p.into_inner());
        for ti in 0..acc.topics.len() {
            for pi in 0..acc.topics[ti].partitions.len() {
                if acc.topics[ti].partitions[pi]
                    .open
                    .as_ref()
                    .is_some_and(|b| b.created.elapsed() >= age)
                {
                    self.send_batch(&mut acc, ti, pi);
                }
            }
        }
    }
}
