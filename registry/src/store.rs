//! The `_schemas` topic as the registry's source of truth: a single-partition compacted topic
//! on the embedded broker, read from its start at open and appended to (one batch per
//! registry operation, so an operation's records land together or not at all).

use std::collections::BTreeMap;

use storage::record::{BatchBuilder, Compression};

use crate::RegistryError;
use crate::record::{DecodeError, Record};
use stream_core::loader::Entry;
use stream_core::partition::Acks;
use stream_core::{Broker, BrokerError, TopicName, TopicPartition};

/// Confluent's default `kafkastore.topic`.
pub const SCHEMAS_TOPIC: &str = "_schemas";

/// The largest batch `_schemas` accepts: above the REST body limit, so any schema the API
/// takes fits in one record.
const MAX_MESSAGE_BYTES: &str = "8388608";

/// A handle on the `_schemas` partition.
#[derive(Debug)]
pub struct SchemasTopic {
    broker: Broker,
    tp: TopicPartition,
}

/// What reading `_schemas` from its start found.
#[derive(Debug, Default)]
pub struct Replay {
    pub records: Vec<Record>,
    /// Records that could not be decoded, with their offsets; skipped.
    pub skipped: Vec<(i64, DecodeError)>,
}

impl SchemasTopic {
    /// Opens `_schemas`, creating it (one partition, compacted) if it does not exist. A topic
    /// of that name with several partitions is refused, as Confluent refuses it: the order of
    /// the registry's writes must be one log's order.
    pub fn open(broker: &Broker) -> Result<SchemasTopic, RegistryError> {
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("max.message.bytes".to_string(), MAX_MESSAGE_BYTES.to_string()),
        ]);
        match broker.create_topic(SCHEMAS_TOPIC, 1, -1, configs) {
            Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => {}
            Err(e) => return Err(RegistryError::store("create the _schemas topic", e)),
        }
        let topic = broker
            .topic(SCHEMAS_TOPIC)
            .map_err(|e| RegistryError::store("open the _schemas topic", e))?;
        if topic.partition_count() != 1 {
            return Err(RegistryError::StoreState(format!(
                "the {SCHEMAS_TOPIC} topic has {} partitions; the registry needs exactly one",
                topic.partition_count()
            )));
        }
        let name = TopicName::new(SCHEMAS_TOPIC).map_err(|e| RegistryError::store("name _schemas", e))?;
        Ok(SchemasTopic {
            broker: broker.clone(),
            tp: TopicPartition::new(name, 0),
        })
    }

    /// Every record from the log start to the end, oldest first.
    pub fn read_all(&self) -> Result<Replay, RegistryError> {
        let mut replay = Replay::default();
        stream_core::loader::replay_topic(&self.broker, SCHEMAS_TOPIC, &mut |entry| {
            // The registry writes no transactions: markers mean nothing here.
            let Entry::Record {
                offset,
                key: Some(key),
                value,
                ..
            } = entry
            else {
                return;
            };
            match Record::decode(&key, value.as_deref()) {
                Ok(record) => replay.records.push(record),
                Err(e) => replay.skipped.push((offset, e)),
            }
        })
        .map_err(|e| RegistryError::store("read the _schemas topic", e))?;
        Ok(replay)
    }

    /// Appends `records` as one batch (acks=all): all of them are in the log, or none.
    pub fn append(&self, records: &[Record]) -> Result<(), RegistryError> {
        if records.is_empty() {
            return Ok(());
        }
        let now = self.broker.clock().now_ms();
        let mut batch = BatchBuilder::new(Compression::None);
        for record in records {
            let (key, value) = record.encode();
            batch.append(now, Some(&key), value.as_deref(), &[]);
        }
        self.broker
            .produce(&self.tp, &mut batch.build(), Acks::All)
            .map(|_| ())
            .map_err(|e| RegistryError::store("write to the _schemas topic", e))
    }

    /// Raw key/value pairs, for tests that look at the topic as a Kafka consumer would.
    #[cfg(test)]
    pub fn raw(&self) -> Vec<(bytes::Bytes, Option<bytes::Bytes>)> {
        let mut out = Vec::new();
        let read = stream_core::loader::replay_topic(&self.broker, SCHEMAS_TOPIC, &mut |entry| {
            if let Entry::Record {
                key: Some(key),
                value,
                ..
            } = entry
            {
                out.push((key, value));
            }
        });
        read.map(|()| out).unwrap_or_default()
    }
}
