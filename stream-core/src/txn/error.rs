//! The transaction coordinator's errors, each named after the Kafka error it becomes on the
//! wire.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use crate::error::BrokerError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum TxnError {
    #[error("transactional id must not be empty")]
    InvalidTransactionalId,
    #[error("transaction timeout {timeout_ms} ms is not within 1..={max_ms} (transaction.max.timeout.ms)")]
    InvalidTransactionTimeout { timeout_ms: i32, max_ms: i32 },
    #[error("producer id {producer_id} is not the current producer of transactional id {transactional_id:?}")]
    InvalidProducerIdMapping {
        transactional_id: String,
        producer_id: i64,
    },
    #[error("producer {producer_id} of {transactional_id:?} at epoch {epoch} is fenced by epoch {current}")]
    ProducerFenced {
        transactional_id: String,
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("transaction {transactional_id:?} is completing ({state}); retry")]
    ConcurrentTransactions {
        transactional_id: String,
        state: &'static str,
    },
    #[error("transaction {transactional_id:?} is {state}: cannot {operation}")]
    InvalidTxnState {
        transactional_id: String,
        state: &'static str,
        operation: &'static str,
    },
    #[error("partition {topic}-{partition} is not part of an open transaction of producer {producer_id}")]
    PartitionNotInTransaction {
        topic: String,
        partition: i32,
        producer_id: i64,
    },
    #[error("the transaction coordinator is shutting down")]
    NotCoordinator,
    #[error("transaction state could not be stored: {source}")]
    Storage {
        #[source]
        source: Arc<BrokerError>,
    },
}

impl TxnError {
    /// The Kafka error code this error becomes on the wire.
    pub fn code(&self) -> ResponseError {
        match self {
            TxnError::InvalidTransactionalId => ResponseError::InvalidRequest,
            TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
            TxnError::InvalidProducerIdMapping { .. } => ResponseError::InvalidProducerIdMapping,
            TxnError::ProducerFenced { .. } => ResponseError::ProducerFenced,
            TxnError::ConcurrentTransactions { .. } => ResponseError::ConcurrentTransactions,
            TxnError::InvalidTxnState { .. } | TxnError::PartitionNotInTransaction { .. } => {
                ResponseError::InvalidTxnState
            }
            TxnError::NotCoordinator => ResponseError::NotCoordinator,
            TxnError::Storage { source } => source.code(),
        }
    }

    /// The code for a client that predates PRODUCER_FENCED (KIP-588): such clients are sent
    /// INVALID_PRODUCER_EPOCH instead, as Kafka does.
    pub fn legacy_code(&self) -> ResponseError {
        match self {
            TxnError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch,
            other => other.code(),
        }
    }

    pub(crate) fn storage(e: BrokerError) -> TxnError {
        TxnError::Storage { source: Arc::new(e) }
    }
}
