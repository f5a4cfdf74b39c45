//! A task's records encoded straight into the batches its producer appends, as the task
//! writes them: each record is partitioned as the producer would and copied once, from its
//! serialized bytes into its partition's batch; the producer then appends whole batches
//! (`Appender::send_built`). Queued and handed over record by record, a record was copied into
//! the task's queue, walked again and copied into the producer's batch: a fifth of a word
//! count's stream-thread time went to that send path.

use std::sync::Arc;

use storage::record::BatchBuilder;
use stream_core::client::BatchFormat;
use stream_core::client::partitioner::partition_for_key;

use crate::processor::SinkRecord;

/// The batches of a task's topics: each partition's open one, and those that filled.
#[derive(Debug, Default)]
pub(super) struct Batches {
    topics: Vec<Batched>,
    /// Batches that filled, in the order they did: (topic index, partition, batch).
    full: Vec<(u32, i32, BatchBuilder)>,
}

/// A topic's batches.
#[derive(Debug)]
struct Batched {
    name: Arc<str>,
    format: BatchFormat,
    open: Vec<Option<BatchBuilder>>,
    /// Where keyless records without a partition go; it moves on when its batch fills, as
    /// Kafka's sticky partitioner does (KIP-480), in turn rather than at random.
    sticky: i32,
}

impl Batches {
    /// Batches `topic`'s records in `format` from now on; the topic's index, the same when it
    /// is added again. `None` for a format without partitions.
    pub fn add_topic(&mut self, topic: &Arc<str>, format: BatchFormat) -> Option<u32> {
        if format.partitions <= 0 {
            return None;
        }
        if let Some(i) = self.topics.iter().position(|t| *t.name == **topic) {
            return Some(i as u32);
        }
        self.topics.push(Batched {
            name: topic.clone(),
            format,
            open: (0..format.partitions).map(|_| None).collect(),
            sticky: 0,
        });
        Some((self.topics.len() - 1) as u32)
    }

    /// Encodes a record of topic `topic` (an index from [`Batches::add_topic`]) into its
    /// partition's batch: `partition` if given, else the key's (murmur2, as the producer's
    /// partitioner), else the sticky one. `false`, and nothing encoded, for a partition the
    /// topic lacks.
    #[inline]
    pub fn append(&mut self, topic: u32, record: SinkRecord<'_>) -> bool {
        let (key, value) = (record.key, record.value);
        let batched = &mut self.topics[topic as usize];
        let p = match (record.partition, key) {
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, batched.format.partitions),
            (None, None) => batched.sticky,
        };
        let Some(i) = usize::try_from(p).ok().filter(|&i| i < batched.open.len()) else {
            return false;
        };
        let format = batched.format;
        let size = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        // As the producer's accumulator: a record that does not fit closes the batch first,
        // and a batch that reaches the size closes after it.
        if batched.open[i]
            .as_ref()
            .is_some_and(|b| !b.is_empty() && b.estimated_size() + size + 64 > format.batch_size)
        {
            Self::close_batch(&mut self.full, batched, topic, p);
        }
        let batch = batched.open[i]
            .get_or_insert_with(|| BatchBuilder::with_capacity(format.compression, format.batch_size));
        batch.append(record.timestamp, key, value, record.headers);
        if batch.estimated_size() >= format.batch_size {
            Self::close_batch(&mut self.full, batched, topic, p);
        }
        true
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

    /// Hands each batch to `send` with its topic, the topic's index and its partition: the
    /// full ones in the order they filled, then the open ones; afterwards no batch is left,
    /// even when `send` fails part-way (it is not called after its first failure). A
    /// partition's batches come in the order their records were appended.
    pub fn drain<E>(
        &mut self,
        mut send: impl FnMut(&Arc<str>, u32, i32, BatchBuilder) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut result = Ok(());
        for (topic, p, batch) in self.full.drain(..) {
            if result.is_ok() {
                result = send(&self.topics[topic as usize].name, topic, p, batch);
            }
        }
        for (topic, batched) in self.topics.iter_mut().enumerate() {
            for (p, batch) in batched.open.iter_mut().enumerate() {
                if let Some(batch) = batch.take()
                    && result.is_ok()
                {
                    result = send(&batched.name, topic as u32, p as i32, batch);
                }
            }
        }
        result
    }

    /// Drops every batch, keeping the topics.
    pub fn clear(&mut self) {
        self.full.clear();
        for batched in &mut self.topics {
            batched.open.iter_mut().for_each(|b| *b = None);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn format(partitions: i32, batch_size: usize) -> BatchFormat {
        BatchFormat {
            partitions,
            batch_size,
            compression: storage::record::Compression::None,
        }
    }

    /// (topic, partition, [(key, value, timestamp)]) of each batch handed out.
    type SentBatch = (String, i32, Vec<(Option<Vec<u8>>, Option<Vec<u8>>, i64)>);

    fn decode(topic: &Arc<str>, p: i32, batch: BatchBuilder) -> SentBatch {
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
        (topic.to_string(), p, records)
    }

    fn drain(batches: &mut Batches) -> Vec<SentBatch> {
        let mut seen = Vec::new();
        batches
            .drain(|topic, _, p, batch| {
                seen.push(decode(topic, p, batch));
                Ok::<(), ()>(())
            })
            .unwrap();
        seen
    }

    fn append(
        batches: &mut Batches,
        topic: u32,
        partition: Option<i32>,
        key: Option<&str>,
        value: &str,
        ts: i64,
    ) -> bool {
        let record = SinkRecord {
            partition,
            key: key.map(str::as_bytes),
            value: Some(value.as_bytes()),
            timestamp: ts,
            headers: &[],
        };
        batches.append(topic, record)
    }

    #[test]
    fn records_are_partitioned_as_the_producer_would_and_keep_each_partitions_order() {
        let mut batches = Batches::default();
        let t: Arc<str> = Arc::from("t");
        let ti = batches.add_topic(&t, format(3, 16 << 10)).unwrap();
        assert_eq!(batches.add_topic(&Arc::from("t"), format(3, 16 << 10)), Some(ti));
        let keys = ["a", "b", "c", "d", "e", "f", "a", "c"];
        for (i, k) in keys.iter().enumerate() {
            assert!(append(
                &mut batches,
                ti,
                None,
                Some(k),
                &format!("v{i}"),
                i as i64
            ));
        }
        assert!(append(&mut batches, ti, Some(2), Some("a"), "pinned", 20));
        // A partition the topic lacks is not taken: the record stays one, for the producer
        // to refuse.
        assert!(!append(&mut batches, ti, Some(7), None, "no such partition", 22));
        assert!(!append(&mut batches, ti, Some(-1), None, "no such partition", 23));
        let sent = drain(&mut batches);
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
        assert_eq!(sent, expected);
        assert!(drain(&mut batches).is_empty(), "handed out once");
        assert_eq!(batches.add_topic(&Arc::from("empty"), format(0, 16 << 10)), None);
    }

    #[test]
    fn a_batch_closes_at_batch_size_as_the_producers_do_and_keyless_records_move_on() {
        let mut batches = Batches::default();
        let t = batches.add_topic(&Arc::from("t"), format(2, 300)).unwrap();
        for i in 0..40 {
            append(&mut batches, t, Some(0), Some("k"), &format!("value-{i:03}"), i);
        }
        let sent = drain(&mut batches);
        assert!(
            sent.len() > 2,
            "300 bytes hold a few of these records: {}",
            sent.len()
        );
        assert!(sent.iter().all(|(_, p, records)| *p == 0 && !records.is_empty()));
        let values: Vec<i64> = sent.iter().flat_map(|(_, _, r)| r.iter().map(|r| r.2)).collect();
        assert_eq!(values, (0..40).collect::<Vec<_>>(), "in order across the batches");

        // Keyless records stick to a partition until its batch fills, then take the next.
        for i in 0..40 {
            let value = format!("value-{i:03}");
            let record = SinkRecord {
                partition: None,
                key: None,
                value: Some(value.as_bytes()),
                timestamp: i,
                headers: &[],
            };
            batches.append(t, record);
        }
        let sent = drain(&mut batches);
        let partitions: Vec<i32> = sent.iter().map(|(_, p, _)| *p).collect();
        assert!(
            partitions.contains(&0) && partitions.contains(&1),
            "{partitions:?}"
        );
        let mut values: Vec<i64> = sent.iter().flat_map(|(_, _, r)| r.iter().map(|r| r.2)).collect();
        values.sort();
        assert_eq!(values, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn full_batches_go_first_and_none_is_left_after_a_failed_send_or_a_clear() {
        let mut batches = Batches::default();
        let a = batches.add_topic(&Arc::from("a"), format(1, 16 << 10)).unwrap();
        let b = batches.add_topic(&Arc::from("b"), format(1, 300)).unwrap();
        append(&mut batches, a, None, Some("k"), "open", 1);
        for i in 0..40 {
            append(&mut batches, b, None, Some("k"), &format!("value-{i:03}"), i);
        }
        let mut order = Vec::new();
        let failed = batches.drain(|topic, _, _, _| {
            order.push(topic.to_string());
            Err(())
        });
        assert!(failed.is_err());
        assert_eq!(order, ["b"], "the first full batch, then no more calls");
        assert!(drain(&mut batches).is_empty(), "nothing left after a failure");

        append(&mut batches, a, None, Some("k"), "cleared", 2);
        batches.clear();
        assert!(drain(&mut batches).is_empty(), "a cleared batch is gone");
        append(&mut batches, a, None, Some("k"), "after", 3);
        assert_eq!(
            drain(&mut batches),
            [(
                "a".into(),
                0,
                vec![(Some(b"k".to_vec()), Some(b"after".to_vec()), 3)]
            )]
        );
    }
}
