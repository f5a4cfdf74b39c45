//! A task's records on their way out: sink, repartition and changelog records go from its
//! processors through the [`Output`] to the task's [`RecordSink`], which either takes them as
//! they come or finds them queued here when the stream thread sends (see [`super::sink`]).

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{RecordSink, SinkRecord, SinkTopic};
use crate::backend::ClientError;
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

/// A queued record as a sink sends it, borrowed from the [`Output`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutRef<'a> {
    pub topic: &'a Arc<str>,
    /// The topic's number in the task's output (the same for every record of the topic in
    /// one [`RecordQueue::send_each`]): a sender resolves the topic once per number.
    pub topic_id: u32,
    pub record: SinkRecord<'a>,
}

#[derive(Debug)]
struct Queued {
    /// Index into [`RecordQueue::topics`].
    topic: u32,
    partition: Option<i32>,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    timestamp: i64,
    headers: Vec<Header>,
}

/// The queued records: every key and value serialized into one buffer, each record naming
/// its bytes by position, and its topic by index. A record then costs no allocation, no
/// reference count and no atomic operation of its own (a `Bytes` cut from a shared buffer per
/// key and per value, and an `Arc` clone of the topic, were each paid per record and per
/// drop). The queue keeps its capacity between polls. Its buffer is also where a record a
/// sink takes is serialized before the sink copies it.
#[derive(Debug, Default)]
pub(crate) struct RecordQueue {
    records: Vec<Queued>,
    bytes: BytesMut,
    topics: Vec<Topic>,
}

/// A topic of the output, numbered by its place in [`RecordQueue::topics`].
#[derive(Debug)]
struct Topic {
    name: Arc<str>,
    /// The sink's name of the topic, for a topic the sink takes the records of as they are
    /// written.
    route: Option<SinkTopic>,
}

/// A buffer grown past this by one outsized poll is given back when the queue empties.
const KEEP_BYTES: usize = 8 << 20;

impl RecordQueue {
    /// Hands each queued record to `send`, in order, and empties the queue (all of it, even
    /// when `send` fails part-way).
    pub fn send_each<E>(&mut self, mut send: impl FnMut(OutRef<'_>) -> Result<(), E>) -> Result<(), E> {
        let bytes = &self.bytes[..];
        let sent = self.records.iter().try_for_each(|q| {
            send(OutRef {
                topic: &self.topics[q.topic as usize].name,
                topic_id: q.topic,
                record: SinkRecord {
                    partition: q.partition,
                    key: q.key.clone().map(|r| &bytes[r]),
                    value: q.value.clone().map(|r| &bytes[r]),
                    timestamp: q.timestamp,
                    headers: &q.headers,
                },
            })
        });
        self.clear();
        sent
    }

    fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// Empties the queue, keeping its room (unless one poll made it outsized) and its topics.
    pub fn clear(&mut self) {
        self.records.clear();
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes = BytesMut::new();
        } else {
            self.bytes.clear();
        }
    }
}

/// A task's output: its queue, and the sink its records go to.
#[derive(Default)]
pub(crate) struct Output {
    queue: RecordQueue,
    /// `None` (the test driver): every record queues, for [`Output::take`].
    sink: Option<Box<dyn RecordSink>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("queued", &self.queue.records.len())
            .field("topics", &self.queue.topics.len())
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Output {
    pub fn new(sink: Option<Box<dyn RecordSink>>) -> Output {
        Output {
            sink,
            ..Output::default()
        }
    }

    /// Records queued.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queue.records.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.records.is_empty()
    }

    /// Serializes `value` at the end of the buffer; its position, or `None` for a null. On
    /// an error the buffer is as it was.
    pub fn serialize<T: 'static>(
        &mut self,
        serde: &dyn Serde<T>,
        topic: &str,
        value: &T,
    ) -> Result<Option<Range<usize>>, SerdeError> {
        let bytes = &mut self.queue.bytes;
        let start = bytes.len();
        match serde.serialize_into(topic, value, bytes) {
            Ok(true) => Ok(Some(start..bytes.len())),
            Ok(false) => {
                bytes.truncate(start);
                Ok(None)
            }
            Err(e) => {
                bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// The buffer's length: a mark to [`Output::rewind`] to when a record serialized in parts
    /// fails part-way.
    pub fn mark(&self) -> usize {
        self.queue.bytes.len()
    }

    /// Drops the bytes serialized since `mark`.
    pub fn rewind(&mut self, mark: usize) {
        self.queue.bytes.truncate(mark);
    }

    /// Writes a record whose key and value [`Output::serialize`] placed (the last bytes
    /// serialized): to the sink, if it takes it, else to the queue.
    pub fn push_serialized(
        &mut self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<Range<usize>>,
        value: Option<Range<usize>>,
        timestamp: i64,
        headers: Vec<Header>,
    ) {
        let (topic, route) = self.topic_index(topic);
        if let (Some(to), Some(sink)) = (route, &mut self.sink) {
            let bytes = &self.queue.bytes;
            let record = SinkRecord {
                partition,
                key: key.clone().map(|r| &bytes[r]),
                value: value.clone().map(|r| &bytes[r]),
                timestamp,
                headers: &headers,
            };
            if sink.write(to, record) {
                // The record's bytes were the last ones serialized; the sink has them now.
                if let Some(start) = key.or(value).map(|r| r.start) {
                    self.queue.bytes.truncate(start);
                }
                crate::record::drop_headers(headers);
                return;
            }
        }
        self.queue.records.push(Queued {
            topic,
            partition,
            key,
            value,
            timestamp,
            headers,
        });
    }

    /// Writes a record without headers from borrowed bytes (a changelog write): to the sink,
    /// if it takes it, else copied into the queue (through [`Output::push_serialized`], which
    /// looks the topic up again: a queued changelog record is rare on the embedded backend,
    /// and librdkafka copies each once more anyway).
    pub fn push(
        &mut self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) {
        self.push_with_headers(topic, partition, key, value, timestamp, &[]);
    }

    /// [`push`](Self::push) of a record with headers.
    pub fn push_with_headers(
        &mut self,
        topic: &Arc<str>,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: &[Header],
    ) {
        let (_, route) = self.topic_index(topic);
        let record = SinkRecord {
            partition,
            key,
            value,
            timestamp,
            headers,
        };
        if let (Some(to), Some(sink)) = (route, &mut self.sink)
            && sink.write(to, record)
        {
            return;
        }
        let key = key.map(|k| self.queue.append(k));
        let value = value.map(|v| self.queue.append(v));
        self.push_serialized(topic, partition, key, value, timestamp, headers.to_vec());
    }

    /// The topic's number and route. A sink writes to one topic, a task to a few: the last
    /// one is almost always the one. Inlined into both writers: a call was a tenth of a sink
    /// record's cost here.
    #[inline(always)]
    fn topic_index(&mut self, topic: &Arc<str>) -> (u32, Option<SinkTopic>) {
        let topics = &self.queue.topics;
        match topics
            .iter()
            .rposition(|t| Arc::ptr_eq(&t.name, topic) || *t.name == **topic)
        {
            Some(i) => (i as u32, topics[i].route),
            None => self.add_topic(topic),
        }
    }

    /// Numbers a topic seen for the first time, asking the sink whether it takes its records.
    #[cold]
    #[inline(never)]
    fn add_topic(&mut self, topic: &Arc<str>) -> (u32, Option<SinkTopic>) {
        let route = self.sink.as_mut().and_then(|sink| sink.take_topic(topic));
        self.queue.topics.push(Topic {
            name: topic.clone(),
            route,
        });
        ((self.queue.topics.len() - 1) as u32, route)
    }

    /// Has the sink send what it took and what is queued (see [`RecordSink::send`]), and
    /// empties the output, all of it, even when sending fails part-way. Without a sink
    /// nothing is sent: the queued records are dropped.
    pub fn send(&mut self) -> Result<(), (Arc<str>, ClientError)> {
        let sent = match &mut self.sink {
            Some(sink) => sink.send(&mut self.queue),
            None => Ok(()),
        };
        self.clear();
        sent
    }

    /// Owned copies of the queued records, in order; empties the queue. Records a sink took
    /// are not among them: its one user, the test driver, gives its tasks no sink.
    pub fn take(&mut self) -> Vec<OutRecord> {
        let mut out = Vec::with_capacity(self.queue.records.len());
        let _ = self.queue.send_each(|r| {
            let record = r.record;
            out.push(OutRecord {
                topic: r.topic.clone(),
                partition: record.partition,
                key: record.key.map(Bytes::copy_from_slice),
                value: record.value.map(Bytes::copy_from_slice),
                timestamp: record.timestamp,
                headers: record.headers.to_vec(),
            });
            Ok::<(), std::convert::Infallible>(())
        });
        out
    }

    /// Empties the output, the sink's unsent records included, keeping its room. The topics
    /// are forgotten (and the sink asked again) only past 64 of them, and only here, with
    /// nothing queued: a topic's route never changes under its queued records.
    pub fn clear(&mut self) {
        self.queue.clear();
        if let Some(sink) = &mut self.sink {
            sink.clear();
        }
        if self.queue.topics.len() > 64 {
            self.queue.topics.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::backend::ErrorKind;
    use crate::serde::{I64Serde, JsonSerde, StringSerde};

    /// (topic, partition, key, value, timestamp, header count) of a record.
    type Sent = (String, Option<i32>, Option<Vec<u8>>, Option<Vec<u8>>, i64, usize);

    fn sent(topic: &str, r: SinkRecord<'_>) -> Sent {
        (
            topic.to_string(),
            r.partition,
            r.key.map(<[u8]>::to_vec),
            r.value.map(<[u8]>::to_vec),
            r.timestamp,
            r.headers.len(),
        )
    }

    fn drain(out: &mut Output) -> Vec<Sent> {
        let mut seen = Vec::new();
        out.queue
            .send_each(|r| {
                seen.push(sent(r.topic, r.record));
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
        assert_eq!(out.queue.topics.len(), 2);
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

    /// What a [`TestSink`] takes, was asked and was given.
    #[derive(Debug, Default)]
    struct Log {
        /// The topics it takes (a test may change them).
        takes: Vec<&'static str>,
        /// The topics it was asked about, in order.
        asked: Vec<String>,
        /// Records taken and not sent or cleared yet.
        taken: Vec<Sent>,
        /// What it sent: its own records first, then the queued ones.
        sent: Vec<Sent>,
    }

    /// A sink that takes the log's topics but not partition 7, and fails its send when
    /// `fail` is set.
    struct TestSink {
        fail: bool,
        log: Rc<RefCell<Log>>,
    }

    impl RecordSink for TestSink {
        fn take_topic(&mut self, topic: &Arc<str>) -> Option<SinkTopic> {
            let mut log = self.log.borrow_mut();
            log.asked.push(topic.to_string());
            let i = log.takes.iter().position(|t| **t == **topic)?;
            Some(SinkTopic(i as u32))
        }

        fn write(&mut self, topic: SinkTopic, record: SinkRecord<'_>) -> bool {
            if record.partition == Some(7) {
                return false;
            }
            let mut log = self.log.borrow_mut();
            let taken = sent(log.takes[topic.0 as usize], record);
            log.taken.push(taken);
            true
        }

        fn send(&mut self, queued: &mut RecordQueue) -> Result<(), (Arc<str>, ClientError)> {
            let mut log = self.log.borrow_mut();
            let taken = std::mem::take(&mut log.taken);
            log.sent.extend(taken);
            let fail = self.fail;
            queued.send_each(|r| {
                if fail {
                    return Err((r.topic.clone(), ClientError::other("refused")));
                }
                log.sent.push(sent(r.topic, r.record));
                Ok(())
            })
        }

        fn clear(&mut self) {
            self.log.borrow_mut().taken.clear();
        }
    }

    fn with_sink(takes: &[&'static str], fail: bool) -> (Output, Rc<RefCell<Log>>) {
        let log = Rc::new(RefCell::new(Log {
            takes: takes.to_vec(),
            ..Log::default()
        }));
        let sink = TestSink {
            fail,
            log: log.clone(),
        };
        (Output::new(Some(Box::new(sink))), log)
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

    fn record(topic: &str, partition: Option<i32>, key: &str, value: &str, ts: i64) -> Sent {
        (
            topic.into(),
            partition,
            Some(key.as_bytes().to_vec()),
            Some(value.as_bytes().to_vec()),
            ts,
            0,
        )
    }

    #[test]
    fn a_topic_the_sink_takes_goes_to_it_as_written_and_the_rest_queue_for_its_send() {
        let (mut out, log) = with_sink(&["t"], false);
        let t: Arc<str> = Arc::from("t");
        let other: Arc<str> = Arc::from("other");
        push_string(&mut out, &t, None, Some("a"), "v0", 0);
        push_string(&mut out, &other, None, Some("a"), "queued", 1);
        // A record the sink does not take stays a record, for the producer to refuse.
        push_string(&mut out, &t, Some(7), Some("b"), "no such partition", 2);
        out.push(&t, Some(1), Some(b"c"), Some(b"changelog"), 3);
        push_string(&mut out, &t, Some(2), Some("d"), "pinned", 4);
        assert_eq!(log.borrow().asked, ["t", "other"], "each topic asked once");
        assert_eq!(
            log.borrow().taken,
            [
                record("t", None, "a", "v0", 0),
                record("t", Some(1), "c", "changelog", 3),
                record("t", Some(2), "d", "pinned", 4),
            ]
        );
        assert_eq!(
            out.len(),
            2,
            "only the other topic's record and the bad partition queue"
        );
        // The sink took its records' bytes along: the buffer holds the queued records' only.
        assert_eq!(
            out.mark(),
            "a".len() + "queued".len() + "b".len() + "no such partition".len()
        );
        out.send().unwrap();
        assert_eq!(
            log.borrow().sent,
            [
                record("t", None, "a", "v0", 0),
                record("t", Some(1), "c", "changelog", 3),
                record("t", Some(2), "d", "pinned", 4),
                record("other", None, "a", "queued", 1),
                record("t", Some(7), "b", "no such partition", 2),
            ],
            "what the sink took, then the queue, each in order"
        );
        assert!(out.is_empty() && log.borrow().taken.is_empty());
        assert_eq!(out.mark(), 0);
    }

    #[test]
    fn a_topics_route_is_kept_while_its_records_queue_and_asked_again_only_once_forgotten() {
        let (mut out, log) = with_sink(&[], false);
        let t: Arc<str> = Arc::from("t");
        push_string(&mut out, &t, None, Some("k"), "queued first", 1);
        // A sink that would take the topic now still finds its later records queued behind
        // the first: the route was decided by the topic's first record.
        log.borrow_mut().takes = vec!["t"];
        push_string(&mut out, &t, None, Some("k"), "still queued", 2);
        assert_eq!(out.len(), 2);
        assert_eq!(log.borrow().asked, ["t"]);
        out.send().unwrap();
        push_string(&mut out, &t, None, Some("k"), "queued again", 3);
        assert_eq!(out.len(), 1, "the route outlives a send");
        out.clear();
        // Past 64 topics the output forgets them when it empties, and asks again.
        for i in 0..64 {
            push_string(&mut out, &Arc::from(format!("t{i}")), None, None, "v", 4);
        }
        out.clear();
        push_string(&mut out, &t, None, Some("k"), "taken", 5);
        assert!(out.is_empty());
        assert_eq!(log.borrow().asked.iter().filter(|a| *a == "t").count(), 2);
        assert_eq!(log.borrow().taken, [record("t", None, "k", "taken", 5)]);
    }

    #[test]
    fn clear_and_a_failed_send_leave_nothing_behind_in_the_sink_or_the_queue() {
        let (mut out, log) = with_sink(&["t"], false);
        let (t, other): (Arc<str>, Arc<str>) = (Arc::from("t"), Arc::from("other"));
        out.push(&t, Some(0), Some(b"k"), Some(b"taken"), 1);
        out.push(&other, Some(0), Some(b"k"), Some(b"queued"), 2);
        out.clear();
        assert!(
            out.is_empty() && log.borrow().taken.is_empty(),
            "a cleared record is gone"
        );
        out.send().unwrap();
        assert!(log.borrow().sent.is_empty());

        let (mut out, log) = with_sink(&["t"], true);
        push_string(&mut out, &t, None, Some("k"), "taken", 1);
        push_string(&mut out, &other, None, Some("k"), "queued", 2);
        push_string(&mut out, &other, None, Some("k"), "queued too", 3);
        let (topic, e) = out.send().unwrap_err();
        assert_eq!((&*topic, e.kind), ("other", ErrorKind::Other));
        assert!(out.is_empty() && log.borrow().taken.is_empty());
        assert_eq!(out.mark(), 0);
    }
}
