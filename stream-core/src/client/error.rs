//! What the in-process clients return: the error of whichever part of the broker refused.

use crate::error::BrokerError;
use crate::group::GroupError;
use crate::txn::TxnError;

/// An error of a [`Producer`](super::Producer), [`Consumer`](super::Consumer) or
/// [`Admin`](super::Admin) call. The clients sit above the broker and both coordinators, so
/// their error is one of those three, unchanged: a caller matches on the part that answered
/// (`ClientError::Txn(TxnError::ProducerFenced { .. })`), as a Java client catches the
/// exception class Kafka's error code maps to.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Txn(#[from] TxnError),
}

impl From<storage::StorageError> for ClientError {
    fn from(e: storage::StorageError) -> ClientError {
        ClientError::Broker(BrokerError::Storage(e))
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
