//! Where a task's records go on their way out of it: the runtime's side of the output path.
//!
//! ```text
//!  sink nodes ─────────┐          ┌─ a topic the sink took: write ──▶ RecordSink ── send ──▶ log
//!                      ├─▶ Output ┤                                     ▲
//!  stores' changelogs ─┘          └─ any other topic: queued ── send(queued)
//! ```
//!
//! The runtime owns [`RecordSink`] and each backend implements it. A sink may take a topic's
//! records as the processors write them, which is how the embedded backend encodes each one
//! straight into the batch its producer appends (one copy per record); the records of other
//! topics queue in the task's [`Output`] and reach the sink when the stream thread sends,
//! which is how the Kafka backend hands them to librdkafka, one by one. The runtime sees
//! records and topics only: how a backend batches, partitions and sends is its own.

use std::sync::Arc;

#[cfg(doc)]
use super::Output;
use super::RecordQueue;
use crate::backend::ClientError;
use crate::record::Header;

/// A record as a sink takes it, its bytes borrowed from the task's output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinkRecord<'a> {
    /// `None`: the sink's partitioner decides (murmur2 of the key, as Kafka's).
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
    pub headers: &'a [Header],
}

/// A topic as the sink that took it names it (see [`RecordSink::take_topic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SinkTopic(pub u32);

/// A task's way to the log. One per task, made by the stream thread's producer; the test
/// driver's tasks have none and keep their records queued.
pub(crate) trait RecordSink {
    /// Whether the sink takes `topic`'s records as they are written, and its name for the
    /// topic if so; `None`: they queue and come to [`RecordSink::send`]. The output asks once,
    /// before the topic's first record, and keeps the answer while records are queued: a
    /// topic's records go one way, so none overtakes another of its partition.
    fn take_topic(&mut self, topic: &Arc<str>) -> Option<SinkTopic>;

    /// Takes a record of a topic it took, copying its bytes (the caller reuses its buffer);
    /// `false` if it does not take this one (a partition the topic lacks, say), which then
    /// queues, for the producer to refuse.
    fn write(&mut self, topic: SinkTopic, record: SinkRecord<'_>) -> bool;

    /// Sends what it took, then the `queued` records in order (exactly-once: into the open
    /// transaction), and empties both, even when sending fails part-way; on a failure, the
    /// topic of the record or batch that failed. A partition's records reach the producer in
    /// the order they were written.
    fn send(&mut self, queued: &mut RecordQueue) -> Result<(), (Arc<str>, ClientError)>;

    /// Drops what it took and has not sent.
    fn clear(&mut self);
}
