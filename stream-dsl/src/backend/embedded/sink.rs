//! The embedded backend's [`RecordSink`]: a task's records of every topic its producer takes
//! built batches for go into [`Batches`] as they are written, and reach the producer as whole
//! batches when the stream thread sends.

use std::sync::{Arc, Weak};

use stream_core::client::producer::{Appender, Producer, TopicSlot};

use super::batches::Batches;
use super::classify;
use crate::backend::ClientError;
use crate::processor::{RecordQueue, RecordSink, SinkRecord, SinkTopic};

/// One task's sink, on its stream thread's producer.
pub(super) struct BatchingSink {
    /// Weak: a producer replaced after a failed abort takes no more records from the tasks
    /// it served (the stream thread drops them: `ThreadProducer::abort`).
    producer: Weak<Producer>,
    batches: Batches,
    /// Indexed as the batches' topics: the topic on the producer, once looked up.
    slots: Vec<Option<TopicSlot>>,
}

impl BatchingSink {
    pub fn new(producer: &Arc<Producer>) -> BatchingSink {
        BatchingSink {
            producer: Arc::downgrade(producer),
            batches: Batches::default(),
            slots: Vec::new(),
        }
    }
}

impl RecordSink for BatchingSink {
    /// A topic that exists when the task first writes to it; one that does not (the producer
    /// may create it on a first send) stays queued.
    fn take_topic(&mut self, topic: &Arc<str>) -> Option<SinkTopic> {
        let format = self.producer.upgrade()?.batch_format(topic)?;
        self.batches.add_topic(topic, format).map(SinkTopic)
    }

    fn write(&mut self, topic: SinkTopic, record: SinkRecord<'_>) -> bool {
        self.batches.append(topic.0, record)
    }

    /// The built batches, then the queued records, under one lock of the producer's batches
    /// (taking it per record was a tenth of a word count's send path), each topic looked up
    /// once, not by name per record.
    fn send(&mut self, queued: &mut RecordQueue) -> Result<(), (Arc<str>, ClientError)> {
        let producer = self.producer.upgrade();
        let mut appender = producer.as_deref().map(Producer::appender);
        let slots = &mut self.slots;
        let batches = self.batches.drain(|topic, i, partition, batch| {
            let fail = |e| (topic.clone(), e);
            let appender = appender
                .as_mut()
                .ok_or_else(|| fail(ClientError::producer_replaced()))?;
            let slot = slot_of(appender, slots, i, topic).map_err(fail)?;
            appender
                .send_built(slot, partition, batch)
                .map_err(|e| fail(classify(e)))
        });
        if let Err(e) = batches {
            queued.clear();
            return Err(e);
        }
        // The queue numbers its own topics: their slots are looked up once per send.
        let mut queued_slots: Vec<Option<TopicSlot>> = Vec::new();
        queued.send_each(|r| {
            let fail = |e| (r.topic.clone(), e);
            let appender = appender
                .as_mut()
                .ok_or_else(|| fail(ClientError::producer_replaced()))?;
            let slot = slot_of(appender, &mut queued_slots, r.topic_id, r.topic).map_err(fail)?;
            let record = r.record;
            let (key, value, headers) = (record.key, record.value, record.headers);
            appender
                .send_unobserved_to(
                    slot,
                    record.partition,
                    key,
                    value,
                    headers,
                    Some(record.timestamp),
                )
                .map_err(|e| fail(classify(e)))
        })
    }

    fn clear(&mut self) {
        self.batches.clear();
    }
}

/// The slot of topic `topic`, numbered `i`, on the producer: looked up into `slots` the
/// first time.
fn slot_of(
    appender: &mut Appender<'_>,
    slots: &mut Vec<Option<TopicSlot>>,
    i: u32,
    topic: &str,
) -> Result<TopicSlot, ClientError> {
    let i = i as usize;
    if let Some(slot) = slots.get(i).copied().flatten() {
        return Ok(slot);
    }
    let slot = appender.topic(topic).map_err(classify)?;
    if slots.len() <= i {
        slots.resize(i + 1, None);
    }
    slots[i] = Some(slot);
    Ok(slot)
}
