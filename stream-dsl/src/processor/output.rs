//! A task's records on their way to the producer: sink, repartition and changelog records
//! queue here between a poll's processing and the thread's send.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::record::Header;
use crate::serde::{Serde, SerdeError};

/// A record on its way out of a task, owned: what the test driver hands to users.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutRecord {
    pub topic: Arc<str>,
    /// `None`: the producer's partitioner decides (murmur2 of the key, as Kafka's).
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Vec<Header>,
}

/// A queued record as the producer sees it, borrowed from the [`Output`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutRef<'a> {
    pub topic: &'a Arc<str>,
    /// The topic's number in this queue (the same for every record of the topic in one
    /// [`Output::send_each`]): a sender resolves the topic once per number.
    pub topic_id: u32,
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
    pub headers: &'a [Header],
}

#[derive(Debug)]
struct Queued {
    /// Index into [`Output::topics`].
    topic: u32,
    partition: Option<i32>,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    timestamp: i64,
    headers: Vec<Header>,
}

/// The queue: every key and value serialized into one buffer, each record naming its bytes by
/// position, and its topic by index. A sink's record then costs no allocation, no reference
/// count and no atomic operation of its own (a `Bytes` cut from a shared buffer per key and
/// per value, and an `Arc` clone of the topic, were each paid per record and per drop). The
/// queue keeps its capacity between polls; the producer copies the bytes into its batches.
#[derive(Debug, Default)]
pub(crate) struct Output {
    records: Vec<Queued>,
    bytes: BytesMut,
    topics: Vec<Arc<str>>,
}

/// A buffer grown past this by one outsized poll is given back when the queue empties.
const KEEP_BYTES: usize = 8 << 20;

impl Output {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Serializes `value` at the end of the buffer; its position, or `None` for a null. On
    /// an error the buffer is as it was.
    pub fn serialize<T: 'static>(
        &mut self,
        serde: &dyn Serde<T>,
        topic: &str,
        value: &T,
    ) -> Result<Option<Range<usize>>, SerdeError> {
        let start = self.bytes.len();
        match serde.serialize_into(topic, value, &mut self.bytes) {
            Ok(true) => Ok(Some(start..self.bytes.len())),
            Ok(false) => {
                self.bytes.truncate(start);
                Ok(None)
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// The buffer's length: a mark to [`Output::rewind`] to when a record serialized in parts
    /// fails part-way.
    pub fn mark(&self) -> usize {
        self.bytes.len()
    }

    /// Drops the bytes serialized since `mark`.
    pub fn rewind(&mut self, mark: usize) {
        self.bytes.truncate(mark);
    }

    /// Queues a record whose key and value [`Output::serialize`] placed.
    pub fn push_serialized(
        &mut self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
        timestamp: i64,
        headers: Vec<Header>,
    ) {
        let topic = self.topic_index(topic);
        self.records.push(Queued {
            topic,
            partition,
            key,
            value,
            timestamp,
            headers,
        });
    }

    /// Queues a record without headers, copying its bytes into the buffer (a changelog write).
    pub fn push(
        &mut self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) {
        let key = key.map(|k| self.append(k));
        let value = value.map(|v| self.append(v));
        self.push_serialized(topic, partition, key, value, timestamp, Vec::new());
    }

    fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// A sink writes to one topic, a task to a few: the last one is almost always the one.
    fn topic_index(&mut self, topic: &Arc<str>) -> u32 {
        if let Some(i) = self
            .topics
            .iter()
            .rposition(|t| Arc::ptr_eq(t, topic) || **t == **topic)
        {
            return i as u32;
        }
        self.topics.push(topic.clone());
        (self.topics.len() - 1) as u32
    }

    /// Hands each queued record to `send`, in order, and empties the queue (all of it, even
    /// when `send` fails part-way).
    pub fn send_each<E>(&mut self, mut send: impl FnMut(OutRef<'_>) -> Result<(), E>) -> Result<(), E> {
        let bytes = &self.bytes[..];
        let sent = self.records.iter().try_for_each(|q| {
            send(OutRef {
                topic: &self.topics[q.topic as usize],
                topic_id: q.topic,
                partition: q.partition,
                key: q.key.clone().map(|r| &bytes[r]),
                value: q.value.clone().map(|r| &bytes[r]),
                timestamp: q.timestamp,
                headers: &q.headers,
            })
        });
        self.clear();
        sent
    }

    /// Owned copies of the queued records, in order; empties the queue.
    pub fn take(&mut self) -> Vec<OutRecord> {
        let mut out = Vec::with_capacity(self.records.len());
        let _ = self.send_each(|r| {
            out.push(OutRecord {
                topic: r.topic.clone(),
                partition: r.partition,
                key: r.key.map(Bytes::copy_from_slice),
                value: r.value.map(Bytes::copy_from_slice),
                timestamp: r.timestamp,
                headers: r.headers.to_vec(),
            });
            Ok::<(), std::convert::Infallible>(())
        });
        out
    }

    /// Empties the queue, keeping its room (unless one poll made it outsized).
    pub fn clear(&mut self) {
        self.records.clear();
        if self.topics.len() > 64 {
            self.topics.clear();
        }
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes = BytesMut::new();
        } else {
            self.bytes.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::{I64Serde, JsonSerde, StringSerde};

    /// (topic, partition, key, value, timestamp, header count) of each record sent.
    type Sent = (String, Option<i32>, Option<Vec<u8>>, Option<Vec<u8>>, i64, usize);

    fn drain(out: &mut Output) -> Vec<Sent> {
        let mut seen = Vec::new();
        out.send_each(|r| {
            seen.push((
                r.topic.to_string(),
                r.partition,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
                r.timestamp,
                r.headers.len(),
            ));
            Ok::<(), ()>(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn serialized_and_owned_records_come_out_in_order_with_their_bytes() {
        let mut out = Output::default();
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let k = out.serialize(&StringSerde, "a", &"key".to_string()).unwrap();
        let v = out.serialize(&I64Serde, "a", &258i64).unwrap();
        out.push_serialized(&a, None, k, v, 5, vec![Header::new("h", Some(&b"x"[..]))]);
        out.push(&b, Some(3), Some(b"k2"), None, 6);
        let null = out.serialize::<Option<i64>>(&I64Serde, "a", &None).unwrap();
        // A topic equal by name but another allocation is the same topic.
        out.push_serialized(&Arc::from("a"), None, None, null, 7, Vec::new());
        assert_eq!(out.len(), 3);
        assert_eq!(
            drain(&mut out),
            [
                (
                    "a".into(),
                    None,
                    Some(b"key".to_vec()),
                    Some(vec![0, 0, 0, 0, 0, 0, 1, 2]),
                    5,
                    1
                ),
                ("b".into(), Some(3), Some(b"k2".to_vec()), None, 6, 0),
                ("a".into(), None, None, None, 7, 0),
            ]
        );
        assert!(out.is_empty());
        assert_eq!(out.topics.len(), 2);
        // Emptied, it is reused from the start.
        let k = out.serialize(&StringSerde, "b", &"again".to_string()).unwrap();
        assert_eq!(k, Some(0..5));
    }

    #[test]
    fn a_failed_serialization_or_a_rewind_leaves_no_bytes_behind() {
        let mut out = Output::default();
        let t: Arc<str> = Arc::from("t");
        let mark = out.mark();
        let k = out.serialize(&StringSerde, "t", &"first".to_string()).unwrap();
        assert_eq!(k, Some(0..5));
        let serde = JsonSerde::<std::collections::BTreeMap<Vec<u8>, u8>>::new();
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1u8], 2u8)].into_iter().collect();
        assert!(out.serialize(&serde, "t", &bad).is_err());
        assert_eq!(out.mark(), 5);
        out.rewind(mark);
        let k = out.serialize(&StringSerde, "t", &"next".to_string()).unwrap();
        out.push_serialized(&t, None, k, None, 1, Vec::new());
        assert_eq!(
            drain(&mut out),
            [("t".into(), None, Some(b"next".to_vec()), None, 1, 0)]
        );
    }

    #[test]
    fn take_hands_out_owned_copies_and_empties_the_queue() {
        let mut out = Output::default();
        let t: Arc<str> = Arc::from("t");
        let v = out.serialize(&StringSerde, "t", &"v".to_string()).unwrap();
        out.push_serialized(&t, Some(1), None, v, 9, Vec::new());
        let taken = out.take();
        assert!(out.is_empty());
        assert_eq!(
            taken,
            [OutRecord {
                topic: t,
                partition: Some(1),
                key: None,
                value: Some(Bytes::from_static(b"v")),
                timestamp: 9,
                headers: Vec::new(),
            }]
        );
    }
}
