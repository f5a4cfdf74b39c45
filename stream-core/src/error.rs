//! The broker's error type. Every variant a client can see is named after the Kafka error it
//! stands for; the wire server maps it to that code (`server/error_codes.rs`), nothing else
//! does. The coordinators above the broker have their own errors (`GroupError`, `TxnError`),
//! which may hold a `BrokerError` as their source but never the other way round; the
//! in-process clients, above all three, return [`ClientError`](crate::client::ClientError).

use storage::StorageError;

use crate::broker::TxnRefusal;

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
    /// The transaction coordinator refused a transactional append (KIP-890's verification).
    #[error("transactional write to {topic}-{partition} by producer {producer_id} refused: {reason}")]
    TxnRefused {
        topic: String,
        partition: i32,
        producer_id: i64,
        reason: TxnRefusal,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
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
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> BrokerError {
        BrokerError::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
