//! The broker's error type. Every variant a client can see is named after the Kafka error it
//! becomes on the wire, and [`BrokerError::code`] maps it through kafka-protocol's table.

use kafka_protocol::error::ResponseError;
use storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition { topic: String, partition: i32 },
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    #[error("topic {0} already exists")]
    TopicAlreadyExists(String),
    #[error("invalid partition count {count}: {reason}")]
    InvalidPartitions { count: i32, reason: &'static str },
    #[error("invalid replication factor {0}: this broker has one node")]
    InvalidReplicationFactor(i16),
    #[error("invalid acks {0}: must be -1, 0 or 1")]
    InvalidRequiredAcks(i16),
    #[error("{isr} in-sync replicas, below min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    #[error("invalid config {key}={value}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("producer epoch {epoch} is older than the current epoch {current} of producer {producer_id}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id} sent sequence {got}, expected {expected}")]
    OutOfOrderSequenceNumber {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("record for a non-null key required on compacted topic {0}")]
    InvalidRecordCompacted(String),
    #[error("the broker is shutting down")]
    BrokerNotAvailable,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Group(#[from] crate::group::GroupError),
    #[error(transparent)]
    Txn(crate::txn::TxnError),
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt broker metadata {path}: {reason}")]
    CorruptMetadata { path: String, reason: String },
}

impl BrokerError {
    /// The Kafka error code this error becomes on the wire.
    pub fn code(&self) -> ResponseError {
        match self {
            BrokerError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
            BrokerError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
            BrokerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists,
            BrokerError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
            BrokerError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            BrokerError::InvalidRequiredAcks(_) => ResponseError::InvalidRequiredAcks,
            BrokerError::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            BrokerError::InvalidConfig { .. } => ResponseError::InvalidConfig,
            BrokerError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            BrokerError::OutOfOrderSequenceNumber { .. } => ResponseError::OutOfOrderSequenceNumber,
            BrokerError::InvalidRecordCompacted(_) => ResponseError::InvalidRecord,
            BrokerError::BrokerNotAvailable => ResponseError::BrokerNotAvailable,
            BrokerError::Storage(e) => match e {
                StorageError::CorruptMessage { .. } => ResponseError::CorruptMessage,
                StorageError::InvalidRecord { .. } => ResponseError::InvalidRecord,
                StorageError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
                StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
                StorageError::InvalidConfig { .. } | StorageError::UnknownConfig(_) => {
                    ResponseError::InvalidConfig
                }
                StorageError::CorruptSegment { .. } | StorageError::Io { .. } => {
                    ResponseError::KafkaStorageError
                }
            },
            BrokerError::Group(e) => e.code(),
            BrokerError::Txn(e) => e.code(),
            BrokerError::Io { .. } | BrokerError::CorruptMetadata { .. } => ResponseError::KafkaStorageError,
        }
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> BrokerError {
        BrokerError::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
