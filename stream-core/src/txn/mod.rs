//! The transaction coordinator (KIP-98, with KIP-447's group-metadata fencing and KIP-890's
//! write verification): transactional ids, their producer ids and epochs, and the life of each
//! transaction, stored in the compacted `__transaction_state` topic.
//!
//! ```text
//!  wire server / Producer ──► TransactionCoordinator (driver.rs: stores, writes markers, timer)
//!                                  │ plan_*                          │ write_marker
//!                                  ▼                                 ▼
//!                     TxnCoordinatorState (pure)        Broker ─► Partition (LSO, aborted index)
//!                       coordinator.rs                      │
//!                       metadata.rs records.rs              └─► GroupCoordinator::complete_txn
//! ```
//!
//! A transaction: InitProducerId gives the transactional id's producer id and a new epoch
//! (fencing older producers of the id, and aborting their open transaction);
//! AddPartitionsToTxn / AddOffsetsToTxn add partitions before the producer writes to them (the
//! broker refuses transactional writes to partitions not added, KIP-890); TxnOffsetCommit
//! stores consumer offsets in the transaction; EndTxn stores PrepareCommit or PrepareAbort,
//! writes a marker to every partition, and stores CompleteCommit or CompleteAbort. A
//! transaction open past its `transaction.timeout.ms` is aborted with the epoch bumped, so its
//! producer is fenced. After a restart, transactions whose decision was stored are completed.
//!
//! # Where this departs from Kafka
//!
//! - EndTxn is answered after the markers are written, not right after PrepareCommit is
//!   stored: there is no marker channel to another broker, and a late marker can never meet
//!   the producer's next transaction.
//! - Transaction version 2 (KIP-890 part 2: an epoch bump per transaction, EndTxn v5+) is not
//!   offered, so a network-delayed duplicate of an EndTxn could still end the producer's next
//!   transaction; clients send EndTxn once per transaction and wait for it, so this needs a
//!   duplicate delivered after a newer request, which one TCP connection does not do.
//! - Transactional ids never expire (`transactional.id.expiration.ms`).

mod coordinator;
mod driver;
mod error;
mod metadata;
pub(crate) mod records;

#[cfg(test)]
mod tests;

/// The coordinator as an I/O-free state machine, public so that it can be driven and tested
/// without a broker.
pub use coordinator::{EndPlan, InitPlan, TxnConfig, TxnCoordinatorState};
pub use driver::{TRANSACTION_STATE_TOPIC, TransactionCoordinator};
pub use error::TxnError;
pub use metadata::{TxnMetadata, TxnState};
