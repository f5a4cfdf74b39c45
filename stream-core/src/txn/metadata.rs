//! One transactional id's state, as the coordinator keeps it and `__transaction_state`
//! stores it.

use std::collections::BTreeSet;
use std::fmt;

use crate::topic::TopicPartition;

/// Kafka's `TransactionState`, with its wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    /// A producer id and epoch, no transaction.
    Empty,
    /// A transaction has added partitions or offsets.
    Ongoing,
    /// Committing: the decision is stored, the markers are being written.
    PrepareCommit,
    /// Aborting: the decision is stored, the markers are being written.
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    /// The transactional id expired (not used here: ids do not expire yet).
    Dead,
    /// Aborting because the epoch was bumped (a new producer or a timeout).
    PrepareEpochFence,
}

impl TxnState {
    pub fn code(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_code(code: i8) -> Option<TxnState> {
        Some(match code {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's names, as ListTransactions / DescribeTransactions print them.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The decision is stored but its markers may not all be written.
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transactional id's producer and transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// `transaction.timeout.ms` the producer asked for.
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions of the open (or completing) transaction, including the
    /// `__consumer_offsets` partitions of groups whose offsets it commits.
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_ms: i64,
    /// When the open transaction added its first partition; its timeout runs from here.
    pub start_ms: i64,
}

impl TxnMetadata {
    pub fn new(
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        timeout_ms: i32,
        now_ms: i64,
    ) -> Self {
        TxnMetadata {
            transactional_id,
            producer_id,
            producer_epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            last_update_ms: now_ms,
            start_ms: -1,
        }
    }

    /// Whether the open transaction has outlived its timeout at `now_ms`.
    pub fn timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.start_ms + i64::from(self.timeout_ms) <= now_ms
    }
}
