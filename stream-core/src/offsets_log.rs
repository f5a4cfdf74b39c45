//! The group coordinator's records in the compacted `__consumer_offsets` topic: appended
//! through the broker like any produce, and replayed at startup.

use std::sync::Arc;

use bytes::Bytes;
use storage::record::{BatchBuilder, Compression};

use crate::broker::{Broker, OFFSETS_TOPIC};
use crate::error::{BrokerError, Result};
use crate::group::{GroupError, OffsetsEntry, OffsetsLog};
use crate::loader::Entry;
use crate::partition::Acks;
use crate::topic::TopicPartition;

/// Java's `String.hashCode` over UTF-16 code units, as Kafka uses to place a group.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of `group_id`: Kafka's
/// `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`.
pub fn partition_for_group(group_id: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

/// [`OffsetsLog`] over the broker's `__consumer_offsets` topic.
#[derive(Debug)]
pub struct BrokerOffsetsLog {
    broker: Broker,
}

impl BrokerOffsetsLog {
    pub fn new(broker: Broker) -> Arc<BrokerOffsetsLog> {
        Arc::new(BrokerOffsetsLog { broker })
    }
}

impl OffsetsLog for BrokerOffsetsLog {
    fn append(&self, group_id: &str, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), GroupError> {
        let storage_error = |e: BrokerError| GroupError::KafkaStorageError { source: Arc::new(e) };
        let topic = self.broker.offsets_topic().map_err(storage_error)?;
        let tp = TopicPartition::new(
            topic.name.clone(),
            partition_for_group(group_id, topic.partition_count()),
        );
        let now = self.broker.clock().now_ms();
        let mut batch = BatchBuilder::new(Compression::None);
        for (key, value) in &records {
            batch.append(now, Some(key), value.as_deref(), &[]);
        }
        self.broker
            .produce(&tp, &mut batch.build(), Acks::All)
            .map(|_| ())
            .map_err(storage_error)
    }

    fn append_transactional(
        &self,
        group_id: &str,
        (producer_id, producer_epoch): (i64, i16),
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), GroupError> {
        let storage_error = |e: BrokerError| GroupError::KafkaStorageError { source: Arc::new(e) };
        let topic = self.broker.offsets_topic().map_err(storage_error)?;
        let tp = TopicPartition::new(
            topic.name.clone(),
            partition_for_group(group_id, topic.partition_count()),
        );
        let now = self.broker.clock().now_ms();
        let mut batch = BatchBuilder::new(Compression::None)
            .with_producer(producer_id, producer_epoch, storage::record::NO_SEQUENCE)
            .with_transactional(true);
        for (key, value) in &records {
            batch.append(now, Some(key), value.as_deref(), &[]);
        }
        self.broker
            .produce_as_coordinator(&tp, &mut batch.build())
            .map(|_| ())
            .map_err(storage_error)
    }
}

/// Every entry of `__consumer_offsets` — plain records, records of transactional batches, and
/// transaction markers — partition by partition, in log order: what the coordinator replays
/// at startup (see [`crate::group::OffsetsEntry`]). Records without a key mean nothing to the
/// coordinator and are left out.
pub fn read_offsets_entries(broker: &Broker) -> Result<Vec<OffsetsEntry>> {
    let mut out = Vec::new();
    crate::loader::replay_topic(broker, OFFSETS_TOPIC, &mut |entry| match entry {
        Entry::Marker { producer_id, commit } => out.push(OffsetsEntry::Marker { producer_id, commit }),
        Entry::Record { key: None, .. } => {}
        Entry::Record {
            producer_id,
            transactional,
            key: Some(key),
            value,
            ..
        } => out.push(if transactional {
            OffsetsEntry::Transactional {
                producer_id,
                key,
                value,
            }
        } else {
            OffsetsEntry::Record { key, value }
        }),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_on_the_partition_kafka_picks() {
        // Known values of Java's String.hashCode ("polygenelubricants" is the classic one
        // that hashes to Integer.MIN_VALUE, which Kafka's Utils.abs maps to 0).
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for_group("polygenelubricants", 50), 0);
        assert_eq!(partition_for_group("hello", 50), 99_162_322 % 50);
    }
}
