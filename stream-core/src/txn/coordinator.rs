//! [`TxnCoordinatorState`]: every transactional id of the coordinator as a pure state
//! machine. It reads no clock and does no I/O: each request is checked against the state and
//! answered with the [`TxnMetadata`] to store next (or a plan of steps); the driver stores it,
//! then calls [`apply`](TxnCoordinatorState::apply), so the state never runs ahead of
//! `__transaction_state`.
//!
//! The transitions are Kafka's (`TransactionCoordinator`, transaction version 1):
//!
//! ```text
//!            InitProducerId (epoch + 1)            AddPartitions / AddOffsets
//!   (none) ───────────────────────────► Empty ──────────────────────────────► Ongoing
//!                                         ▲                                     │ EndTxn(commit | abort),
//!               InitProducerId (epoch + 1)│                                     │ timeout (epoch + 1),
//!                                         │                                     │ InitProducerId (epoch + 1)
//!                        CompleteCommit / CompleteAbort ◄── markers written ── PrepareCommit / PrepareAbort
//! ```

use std::collections::{BTreeMap, HashMap};

use super::error::TxnError;
use super::metadata::{TxnMetadata, TxnState};
use crate::topic::TopicPartition;

/// Transaction coordinator settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms` (15 min): the longest `transaction.timeout.ms` accepted.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s): how often timed
    /// out transactions are looked for.
    pub abort_check_interval_ms: u64,
    /// `transaction.state.log.num.partitions` (50).
    pub state_log_partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            abort_check_interval_ms: 10_000,
            state_log_partitions: 50,
        }
    }
}

/// What InitProducerId needs done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitPlan {
    /// A new producer id is needed (a new transactional id, or the epoch is exhausted): the
    /// driver allocates one and stores [`TxnMetadata::new`] for it with epoch 0.
    NewProducerId { timeout_ms: i32 },
    /// Store this (the epoch bumped) and answer with its producer id and epoch.
    Bump(TxnMetadata),
    /// An open transaction is aborted first, with the epoch bumped so its producer is fenced:
    /// store this PrepareAbort, complete it, then plan again.
    AbortFirst(TxnMetadata),
}

/// What EndTxn needs done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndPlan {
    /// A retry of an EndTxn that completed: answer success, do nothing.
    AlreadyDone,
    /// Store this PrepareCommit / PrepareAbort, write its markers, then complete it.
    Prepare(TxnMetadata),
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct TxnCoordinatorState {
    config: TxnConfig,
    txns: BTreeMap<String, TxnMetadata>,
    /// Producer id → its transactional id.
    by_producer: HashMap<i64, String>,
}

impl TxnCoordinatorState {
    pub fn new(config: TxnConfig) -> TxnCoordinatorState {
        TxnCoordinatorState {
            config,
            ..TxnCoordinatorState::default()
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    pub fn transactions(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    /// Makes a stored state current (after the driver stored it, or during replay).
    pub fn apply(&mut self, meta: TxnMetadata) {
        if let Some(old) = self.txns.get(&meta.transactional_id)
            && old.producer_id != meta.producer_id
        {
            self.by_producer.remove(&old.producer_id);
        }
        self.by_producer
            .insert(meta.producer_id, meta.transactional_id.clone());
        self.txns.insert(meta.transactional_id.clone(), meta);
    }

    /// Replays a record of `__transaction_state` (`None`: a tombstone).
    pub fn replay(&mut self, transactional_id: &str, meta: Option<TxnMetadata>) {
        match meta {
            Some(meta) => self.apply(meta),
            None => {
                if let Some(old) = self.txns.remove(transactional_id) {
                    self.by_producer.remove(&old.producer_id);
                }
            }
        }
    }

    /// InitProducerId with a transactional id. `expected` is the producer id and epoch a
    /// client that lost its state resumes with (KIP-360), `None` for a fresh producer.
    pub fn plan_init(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
    ) -> Result<InitPlan, TxnError> {
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidTransactionalId);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(TxnError::InvalidTransactionTimeout {
                timeout_ms,
                max_ms: self.config.max_timeout_ms,
            });
        }
        let Some(meta) = self.txns.get(transactional_id) else {
            return Ok(InitPlan::NewProducerId { timeout_ms });
        };
        if let Some((pid, epoch)) = expected
            && (pid, epoch) != (meta.producer_id, meta.producer_epoch)
        {
            return Err(TxnError::ProducerFenced {
                transactional_id: transactional_id.to_string(),
                producer_id: pid,
                epoch,
                current: meta.producer_epoch,
            });
        }
        match meta.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(TxnError::ConcurrentTransactions {
                    transactional_id: transactional_id.to_string(),
                    state: meta.state.name(),
                })
            }
            TxnState::Ongoing => Ok(InitPlan::AbortFirst(self.fenced_abort(meta, now_ms))),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort | TxnState::Dead => {
                if meta.producer_epoch >= i16::MAX - 1 {
                    return Ok(InitPlan::NewProducerId { timeout_ms });
                }
                Ok(InitPlan::Bump(TxnMetadata {
                    producer_epoch: meta.producer_epoch + 1,
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: Default::default(),
                    last_update_ms: now_ms,
                    start_ms: -1,
                    ..meta.clone()
                }))
            }
        }
    }

    /// A PrepareAbort of `meta`'s open transaction with the epoch bumped: the markers carry
    /// the new epoch, so the partitions refuse the old producer from then on.
    fn fenced_abort(&self, meta: &TxnMetadata, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            producer_epoch: meta.producer_epoch.saturating_add(1),
            state: TxnState::PrepareAbort,
            last_update_ms: now_ms,
            ..meta.clone()
        }
    }

    /// Checks a request's producer id and epoch against the transactional id's.
    fn check(&self, transactional_id: &str, producer_id: i64, epoch: i16) -> Result<&TxnMetadata, TxnError> {
        let mapping = || TxnError::InvalidProducerIdMapping {
            transactional_id: transactional_id.to_string(),
            producer_id,
        };
        let meta = self.txns.get(transactional_id).ok_or_else(mapping)?;
        if meta.producer_id != producer_id {
            return Err(mapping());
        }
        if meta.producer_epoch != epoch {
            return Err(TxnError::ProducerFenced {
                transactional_id: transactional_id.to_string(),
                producer_id,
                epoch,
                current: meta.producer_epoch,
            });
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, whose partition is the group's
    /// `__consumer_offsets` partition). `None`: nothing to store, all were added already.
    pub fn plan_add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, TxnError> {
        let meta = self.check(transactional_id, producer_id, epoch)?;
        if meta.state.is_preparing() {
            return Err(TxnError::ConcurrentTransactions {
                transactional_id: transactional_id.to_string(),
                state: meta.state.name(),
            });
        }
        if meta.state == TxnState::Ongoing && partitions.iter().all(|tp| meta.partitions.contains(tp)) {
            return Ok(None);
        }
        let mut next = meta.clone();
        if next.state != TxnState::Ongoing {
            next.partitions.clear();
            next.start_ms = now_ms;
            next.state = TxnState::Ongoing;
        }
        next.partitions.extend(partitions.iter().cloned());
        next.last_update_ms = now_ms;
        Ok(Some(next))
    }

    /// EndTxn.
    pub fn plan_end(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<EndPlan, TxnError> {
        let meta = self.check(transactional_id, producer_id, epoch)?;
        let invalid = |operation| TxnError::InvalidTxnState {
            transactional_id: transactional_id.to_string(),
            state: meta.state.name(),
            operation,
        };
        let operation = if commit { "commit" } else { "abort" };
        match (meta.state, commit) {
            (TxnState::Ongoing, _) => Ok(EndPlan::Prepare(TxnMetadata {
                state: if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                },
                last_update_ms: now_ms,
                ..meta.clone()
            })),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(EndPlan::AlreadyDone),
            (TxnState::PrepareCommit, true)
            | (TxnState::PrepareAbort, false)
            | (TxnState::PrepareEpochFence, _) => Err(TxnError::ConcurrentTransactions {
                transactional_id: transactional_id.to_string(),
                state: meta.state.name(),
            }),
            _ => Err(invalid(operation)),
        }
    }

    /// The state after a prepared transaction's markers are written.
    pub fn completed(prepared: &TxnMetadata, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            state: if prepared.state == TxnState::PrepareCommit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            },
            partitions: Default::default(),
            last_update_ms: now_ms,
            start_ms: -1,
            ..prepared.clone()
        }
    }

    /// Open transactions past their timeout at `now_ms`, each as the PrepareAbort (epoch
    /// bumped, fencing the producer, as Kafka does) to store and complete.
    pub fn timed_out(&self, now_ms: i64) -> Vec<TxnMetadata> {
        self.txns
            .values()
            .filter(|m| m.timed_out(now_ms))
            .map(|m| self.fenced_abort(m, now_ms))
            .collect()
    }

    /// Transactions whose decision is stored but whose markers may be missing (after a
    /// restart, or after a failed marker write): the driver completes them.
    pub fn preparing(&self) -> Vec<TxnMetadata> {
        self.txns
            .values()
            .filter(|m| m.state.is_preparing())
            .cloned()
            .map(|m| {
                if m.state == TxnState::PrepareEpochFence {
                    TxnMetadata {
                        state: TxnState::PrepareAbort,
                        ..m
                    }
                } else {
                    m
                }
            })
            .collect()
    }

    /// KIP-890's check of a transactional write: `producer_id` at `epoch` has an open
    /// transaction that added `tp`.
    pub fn verify(&self, tp: &TopicPartition, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        let not_in = || TxnError::PartitionNotInTransaction {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            producer_id,
        };
        let txn_id = self.by_producer.get(&producer_id).ok_or_else(not_in)?;
        let meta = self.check(txn_id, producer_id, epoch)?;
        if meta.state == TxnState::Ongoing && meta.partitions.contains(tp) {
            Ok(())
        } else {
            Err(not_in())
        }
    }

    /// The transactional id of a producer id, if it has one here.
    pub fn transactional_id_of(&self, producer_id: i64) -> Option<&str> {
        self.by_producer.get(&producer_id).map(String::as_str)
    }
}
