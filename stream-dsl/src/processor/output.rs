//! A task's records on their way to the producer: sink, repartition and changelog records
//! queue here between a poll's processing and the thread's send.
//!
//! For a topic whose producer takes built batches (the embedded cluster's, see
//! [`Output::batch_topic`]), the queue partitions each record as the producer would and
//! encodes it straight into that partition's batch; the producer then appends whole batches.
//! A record is then copied once, from its serialized bytes into its batch. Queued and handed
//! over record by record, it was copied into this queue, walked again and copied into the
//! producer's batch: a fifth of a word count's stream-thread time went to that send path.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use storage::record::BatchBuilder;
use stream_core::client::BatchFormat;
use stream_core::client::partitioner::partition_for_key;

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
    /// Indexed as `topics`: the topic's batches, for a topic in batch mode.
    batched: Vec<Option<Batched>>,
    /// The topics to put in batch mode when they first get a record (see
    /// [`Output::batch_topic`]).
    formats: Vec<(Arc<str>, BatchFormat)>,
    /// Batches that filled, in the order they did: (topic index, partition, batch).
    full: Vec<(u32, i32, BatchBuilder)>,
}

/// A topic in batch mode: each partition's open batch.
#[derive(Debug)]
struct Batched {
    format: BatchFormat,
    open: Vec<Option<BatchBuilder>>,
    /// Where keyless records without a partition go; it moves on when its batch fills, as
    /// Kafka's sticky partitioner does (KIP-480), in turn rather than at random.
    sticky: i32,
}

impl Batched {
    fn new(format: BatchFormat) -> Batched {
        Batched {
            format,
            open: (0..format.partitions).map(|_| None).collect(),
            sticky: 0,
        }
    }
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

    /// Has records to `topic` encoded into batches of `format` (see the module docs) from
    /// now on, for a producer that takes them ([`Output::send_batches`]).
    pub fn batch_topic(&mut self, topic: Arc<str>, format: BatchFormat) {
        if format.partitions <= 0 || self.formats.iter().any(|(t, _)| *t == topic) {
            return;
        }
        self.formats.push((topic, format));
        // A topic with records queued switches once they are sent: its batches would go out
        // before them.
        if self.records.is_empty() {
            self.apply_formats();
        }
    }

    /// Puts the topics named so far that have a format in batch mode.
    fn apply_formats(&mut self) {
        for (topic, batched) in self.topics.iter().zip(&mut self.batched) {
            if batched.is_none()
                && let Some(&(_, format)) = self.formats.iter().find(|(t, _)| **t == **topic)
            {
                *batched = Some(Batched::new(format));
            }
        }
    }

    /// Queues a record whose key and value [`Output::serialize`] placed (the last bytes
    /// serialized).
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
        if let Some(Some(batched)) = self.batched.get_mut(topic as usize) {
            let bytes = &self.bytes[..];
            let key_bytes = key.clone().map(|r| &bytes[r]);
            let value_bytes = value.clone().map(|r| &bytes[r]);
            let p = match (partition, key_bytes) {
                (Some(p), _) => p,
                (None, Some(k)) => partition_for_key(k, batched.format.partitions),
                (None, None) => batched.sticky,
            };
            // A partition the topic lacks is queued as a record, for the producer to refuse.
            if let Some(i) = usize::try_from(p).ok().filter(|&i| i < batched.open.len()) {
                let format = batched.format;
                let size = key_bytes.map_or(0, <[u8]>::len) + value_bytes.map_or(0, <[u8]>::len);
                // As the producer's accumulator: a record that does not fit closes the batch
                // first, and a batch that reaches the size closes after it.
                if batched.open[i]
                    .as_ref()
                    .is_some_and(|b| !b.is_empty() && b.estimated_size() + size + 64 > format.batch_size)
                {
                    Self::close_batch(&mut self.full, batched, topic, p);
                }
                let batch = batched.open[i].get_or_insert_with(|| {
                    BatchBuilder::with_capacity(format.compression, format.batch_size)
                });
                batch.append(timestamp, key_bytes, value_bytes, &headers);
                if batch.estimated_size() >= format.batch_size {
                    Self::close_batch(&mut self.full, batched, topic, p);
                }
                // The record's bytes were the last ones serialized; they are in its batch now.
                if let Some(start) = key.or(value).map(|r| r.start) {
                    self.bytes.truncate(start);
                }
                crate::record::drop_headers(headers);
                return;
            }
        }
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

    /// Moves partition `p`'s open batch of topic `topic` to the full ones.
    fn close_batch(full: &mut Vec<(u32, i32, BatchBuilder)>, batched: &mut Batched, topic: u32, p: i32) {
        if let Some(batch) = batched.open[p as usize].take() {
            full.push((topic, p, batch));
        }
        if batched.sticky == p {
            batched.sticky = (p + 1) % batched.format.partitions;
        }
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
        let format = self.formats.iter().find(|(t, _)| **t == **topic).map(|&(_, f)| f);
        self.batched.push(format.map(Batched::new));
        (self.topics.len() - 1) as u32
    }

    /// Hands each batch of the topics in batch mode to `send`, with its topic, the topic's
    /// number (as [`OutRef::topic_id`]) and its partition: the full ones in the order they
    /// filled, then the open ones; afterwards no batch is left, even when `send` fails
    /// part-way. A partition's batches come in the order their records were queued. Call it
    /// before [`Output::send_each`], which drops what is left.
    pub fn send_batches<E>(
        &mut self,
        mut send: impl FnMut(&Arc<str>, u32, i32, BatchBuilder) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        let open = self.batched.iter_mut().enumerate().flat_map(|(t, b)| {
            b.iter_mut()
                .flat_map(|b| b.open.iter_mut().enumerate())
                .filter_map(move |(p, batch)| Some((t as u32, p as i32, batch.take()?)))
        });
        for (topic, p, batch) in self.full.drain(..).chain(open) {
            if result.is_ok() {
                result = send(&self.topics[topic as usize], topic, p, batch);
            }
        }
        result
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

    /// Owned copies of the queued records, in order; empties the queue. Records encoded into
    /// batches are not among them: its one user, the test driver, puts no topic in batch mode.
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

    /// Empties the queue, batches included, keeping its room (unless one poll made it
    /// outsized).
    pub fn clear(&mut self) {
        self.records.clear();
        self.full.clear();
        for batched in self.batched.iter_mut().flatten() {
            batched.open.iter_mut().for_each(|b| *b = None);
        }
        if self.topics.len() > 64 {
            self.topics.clear();
            self.batched.clear();
        }
        self.apply_formats();
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

    fn format(partitions: i32, batch_size: usize) -> BatchFormat {
        BatchFormat {
            partitions,
            batch_size,
            compression: storage::record::Compression::None,
        }
    }

    /// (topic, partition, [(key, value, timestamp)]) of each batch handed out.
    type SentBatch = (String, i32, Vec<(Option<Vec<u8>>, Option<Vec<u8>>, i64)>);

    fn drain_batches(out: &mut Output) -> Vec<SentBatch> {
        let mut seen = Vec::new();
        out.send_batches(|topic, _, p, batch| {
            let bytes = Bytes::from(batch.build());
            let records = storage::record::decode_all(&bytes, 1 << 20).unwrap();
            let records = records
                .into_iter()
                .map(|r| {
                    (
                        r.key.map(|k| k.to_vec()),
                        r.value.map(|v| v.to_vec()),
                        r.timestamp,
                    )
                })
                .collect();
            seen.push((topic.to_string(), p, records));
            Ok::<(), ()>(())
        })
        .unwrap();
        seen
    }

    fn push_string(
        out: &mut Output,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<&str>,
        value: &str,
        ts: i64,
    ) {
        let k = key.and_then(|k| out.serialize(&StringSerde, topic, &k.to_string()).unwrap());
        let v = out.serialize(&StringSerde, topic, &value.to_string()).unwrap();
        out.push_serialized(topic, partition, k, v, ts, Vec::new());
    }

    #[test]
    fn a_topic_in_batch_mode_is_partitioned_as_the_producer_would_and_keeps_each_partitions_order() {
        let mut out = Output::default();
        let t: Arc<str> = Arc::from("t");
        let other: Arc<str> = Arc::from("other");
        out.batch_topic(t.clone(), format(3, 16 << 10));
        let keys = ["a", "b", "c", "d", "e", "f", "a", "c"];
        for (i, k) in keys.iter().enumerate() {
            push_string(&mut out, &t, None, Some(k), &format!("v{i}"), i as i64);
        }
        push_string(&mut out, &t, Some(2), Some("a"), "pinned", 20);
        push_string(&mut out, &other, None, Some("a"), "queued", 21);
        // A partition the topic lacks stays a record, for the producer to refuse.
        push_string(&mut out, &t, Some(7), None, "no such partition", 22);
        assert_eq!(
            out.len(),
            2,
            "only the other topic's record and the bad partition queue"
        );
        let batches = drain_batches(&mut out);
        let mut expected: Vec<SentBatch> = (0..3).map(|p| ("t".to_string(), p, Vec::new())).collect();
        for (i, k) in keys.iter().enumerate() {
            let p = partition_for_key(k.as_bytes(), 3) as usize;
            expected[p].2.push((
                Some(k.as_bytes().to_vec()),
                Some(format!("v{i}").into_bytes()),
                i as i64,
            ));
        }
        expected[2]
            .2
            .push((Some(b"a".to_vec()), Some(b"pinned".to_vec()), 20));
        expected.retain(|(_, _, records)| !records.is_empty());
        assert_eq!(batches, expected);
        // The batches took their bytes along: the queue's bytes are the queued records' only.
        assert_eq!(
            drain(&mut out),
            [
                (
                    "other".into(),
                    None,
                    Some(b"a".to_vec()),
                    Some(b"queued".to_vec()),
                    21,
                    0
                ),
                (
                    "t".into(),
                    Some(7),
                    None,
                    Some(b"no such partition".to_vec()),
                    22,
                    0
                ),
            ]
        );
        assert!(drain_batches(&mut out).is_empty(), "handed out once");
    }

    #[test]
    fn a_batch_closes_at_batch_size_as_the_producers_do_and_keyless_records_move_on() {
        let mut out = Output::default();
        let t: Arc<str> = Arc::from("t");
        out.batch_topic(t.clone(), format(2, 300));
        for i in 0..40 {
            push_string(&mut out, &t, Some(0), Some("k"), &format!("value-{i:03}"), i);
        }
        let batches = drain_batches(&mut out);
        assert!(
            batches.len() > 2,
            "300 bytes hold a few of these records: {}",
            batches.len()
        );
        assert!(
            batches
                .iter()
                .all(|(_, p, records)| *p == 0 && !records.is_empty())
        );
        let values: Vec<i64> = batches
            .iter()
            .flat_map(|(_, _, r)| r.iter().map(|r| r.2))
            .collect();
        assert_eq!(values, (0..40).collect::<Vec<_>>(), "in order across the batches");

        // Keyless records stick to a partition until its batch fills, then take the next.
        for i in 0..40 {
            push_string(&mut out, &t, None, None, &format!("value-{i:03}"), i);
        }
        let batches = drain_batches(&mut out);
        let partitions: Vec<i32> = batches.iter().map(|(_, p, _)| *p).collect();
        assert!(
            partitions.contains(&0) && partitions.contains(&1),
            "{partitions:?}"
        );
        let mut values: Vec<i64> = batches
            .iter()
            .flat_map(|(_, _, r)| r.iter().map(|r| r.2))
            .collect();
        values.sort();
        assert_eq!(values, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn clear_drops_the_batches_and_a_topic_switches_only_once_its_records_are_gone() {
        let mut out = Output::default();
        let t: Arc<str> = Arc::from("t");
        push_string(&mut out, &t, None, Some("early"), "queued first", 1);
        out.batch_topic(t.clone(), format(1, 16 << 10));
        // Records already queued go out after batches: the topic waits for them to leave.
        push_string(&mut out, &t, None, Some("k"), "still queued", 2);
        assert_eq!(out.len(), 2);
        assert!(drain_batches(&mut out).is_empty());
        assert_eq!(drain(&mut out).len(), 2);
        push_string(&mut out, &t, None, Some("k"), "batched", 3);
        assert!(out.is_empty());
        out.clear();
        assert!(drain_batches(&mut out).is_empty(), "a cleared batch is gone");
        push_string(&mut out, &t, None, Some("k"), "after", 4);
        let batches = drain_batches(&mut out);
        assert_eq!(
            batches,
            [(
                "t".into(),
                0,
                vec![(Some(b"k".to_vec()), Some(b"after".to_vec()), 4)]
            )]
        );
    }
}
