//! The transaction coordinator's errors, each named after the Kafka error it stands for (the
//! wire server maps them to codes, by request version where Kafka does).

use std::sync::Arc;

use crate::error::BrokerError;
use crate::group::GroupError;

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
    /// The group coordinator refused the transaction's offsets (TxnOffsetCommit): the member or
    /// generation of KIP-447's check, or its own storage.
    #[error("the transaction's offsets were refused: {source}")]
    Offsets {
        #[source]
        source: GroupError,
    },
    #[error("transaction state could not be stored: {source}")]
    Storage {
        #[source]
        source: Arc<BrokerError>,
    },
}

impl TxnError {
    pub(crate) fn storage(e: BrokerError) -> TxnError {
        TxnError::Storage { source: Arc::new(e) }
    }
}
