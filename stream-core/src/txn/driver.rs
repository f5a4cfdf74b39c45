//! [`TransactionCoordinator`]: the I/O around [`TxnCoordinatorState`]. It stores each state
//! change in `__transaction_state` before applying it, writes the markers of a completing
//! transaction to its partitions through the broker, hands the outcome of transactional
//! offset commits to the group coordinator, aborts timed-out transactions from a timer task,
//! and at startup replays `__transaction_state` and completes what a crash left half done.
//!
//! Every operation is blocking file I/O (appends to local logs), so the methods are plain
//! functions: async callers run them on the blocking pool. Operations are serialized by one
//! ordering mutex held across their appends (as the group coordinator's `appends` lock is);
//! the state itself is locked only to plan and to apply. A single node owns every
//! transactional id, so there is no coordinator epoch to fence: markers carry epoch 0.
//!
//! EndTxn is answered once the markers are written (Kafka answers after storing the
//! PrepareCommit and writes markers behind). A producer's next transaction can therefore
//! never meet markers of its previous one still in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use storage::record::{BatchBuilder, Compression};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::coordinator::{EndPlan, InitPlan, TxnConfig, TxnCoordinatorState};
use super::error::TxnError;
use super::metadata::{TxnMetadata, TxnState};
use super::records;
use crate::broker::{Broker, OFFSETS_TOPIC, TxnRefusal, TxnVerifier};
use crate::error::{BrokerError, Result};
use crate::group::{GroupCoordinator, PartitionResults, TxnCommitRequest};
use crate::loader::Entry;
use crate::offsets_log::partition_for_group;
use crate::partition::Acks;
use crate::topic::Topic;
use crate::topic::TopicPartition;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";
/// One node is the coordinator of every transactional id, for ever.
const COORDINATOR_EPOCH: i32 = 0;

/// See the module docs. Dropping it stops the timer task.
#[derive(Debug)]
pub struct TransactionCoordinator {
    shared: Arc<Shared>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    broker: Broker,
    groups: Arc<GroupCoordinator>,
    state: Mutex<TxnCoordinatorState>,
    ops: Mutex<()>,
    closed: AtomicBool,
    stop: Notify,
}

/// The broker's view of the coordinator for KIP-890 checks; weak, so the broker does not keep
/// its coordinator (and so itself) alive.
#[derive(Debug)]
struct Verifier(Weak<Shared>);

impl TxnVerifier for Verifier {
    fn verify(&self, tp: &TopicPartition, producer_id: i64, producer_epoch: i16) -> Result<(), TxnRefusal> {
        let shared = self.0.upgrade().ok_or(TxnRefusal::CoordinatorNotAvailable)?;
        let state = shared.lock_state();
        state
            .verify(tp, producer_id, producer_epoch)
            .map_err(|e| match e {
                TxnError::PartitionNotInTransaction { .. } => TxnRefusal::NotInTransaction,
                TxnError::ProducerFenced { epoch, current, .. } => {
                    TxnRefusal::ProducerFenced { epoch, current }
                }
                TxnError::InvalidProducerIdMapping { .. } => TxnRefusal::UnknownProducerId,
                TxnError::NotCoordinator => TxnRefusal::CoordinatorNotAvailable,
                // `verify` answers none of these; named so that a new answer is decided here.
                TxnError::InvalidTransactionalId
                | TxnError::InvalidTransactionTimeout { .. }
                | TxnError::ConcurrentTransactions { .. }
                | TxnError::InvalidTxnState { .. }
                | TxnError::Offsets { .. }
                | TxnError::Storage { .. } => TxnRefusal::NotInTransaction,
            })
    }
}

impl TransactionCoordinator {
    /// Replays `__transaction_state`, completes the transactions whose decision was stored
    /// but whose markers may be missing, installs the broker's write check, and starts the
    /// timeout task. Open transactions stay open: their producer may still finish them, or
    /// their timeout aborts them.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn start(
        broker: Broker,
        groups: Arc<GroupCoordinator>,
        config: TxnConfig,
    ) -> Result<TransactionCoordinator> {
        let interval = Duration::from_millis(config.abort_check_interval_ms.max(1));
        let mut state = TxnCoordinatorState::new(config);
        let loaded = replay(&broker, &mut state)?;
        let shared = Arc::new(Shared {
            broker: broker.clone(),
            groups,
            state: Mutex::new(state),
            ops: Mutex::new(()),
            closed: AtomicBool::new(false),
            stop: Notify::new(),
        });
        broker.set_txn_verifier(Arc::new(Verifier(Arc::downgrade(&shared))));
        if loaded > 0 {
            tracing::info!(transactional_ids = loaded, "loaded __transaction_state");
        }
        shared.complete_preparing();
        // The task holds the coordinator until it is stopped: by `shutdown`, or by the drop of
        // the `TransactionCoordinator`, which aborts it.
        let ticker = Arc::clone(&shared);
        let timer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = ticker.stop.notified() => return,
                    () = tokio::time::sleep(interval) => {}
                }
                if ticker.closed.load(Ordering::SeqCst) {
                    return;
                }
                let work = Arc::clone(&ticker);
                let _ = tokio::task::spawn_blocking(move || {
                    work.abort_timed_out();
                    work.complete_preparing();
                })
                .await;
            }
        });
        Ok(TransactionCoordinator {
            shared,
            timer: Mutex::new(Some(timer)),
        })
    }

    /// InitProducerId with a transactional id: the producer id and a new epoch, which fences
    /// every older producer of the id. An open transaction of the id is aborted first.
    pub fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        self.shared
            .init_producer_id(transactional_id, timeout_ms, expected)
    }

    /// AddPartitionsToTxn. The partitions must exist (the caller checks).
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<(), TxnError> {
        self.shared
            .add_partitions(transactional_id, producer_id, epoch, partitions)
    }

    /// AddOffsetsToTxn: the transaction will commit offsets of `group_id`, so its
    /// `__consumer_offsets` partition joins the transaction.
    pub fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
    ) -> Result<(), TxnError> {
        let tp = self.shared.offsets_partition(group_id)?;
        self.shared
            .add_partitions(transactional_id, producer_id, epoch, &[tp])
    }

    /// TxnOffsetCommit: checks that the transaction added the group's offsets partition, then
    /// has the group coordinator store the offsets in the transaction.
    pub async fn txn_offset_commit(
        &self,
        transactional_id: &str,
        request: TxnCommitRequest,
    ) -> Result<PartitionResults, TxnError> {
        let tp = self.shared.offsets_partition(&request.group_id)?;
        {
            let state = self.shared.lock_state();
            match state.transactional_id_of(request.producer_id) {
                Some(id) if id == transactional_id => {}
                _ => {
                    return Err(TxnError::InvalidProducerIdMapping {
                        transactional_id: transactional_id.to_string(),
                        producer_id: request.producer_id,
                    });
                }
            }
            state.verify(&tp, request.producer_id, request.producer_epoch)?;
        }
        self.shared
            .groups
            .txn_commit_offsets(request)
            .await
            .map_err(|source| TxnError::Offsets { source })
    }

    /// EndTxn: commits or aborts the open transaction; returns once its markers are written.
    pub fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), TxnError> {
        self.shared.end_txn(transactional_id, producer_id, epoch, commit)
    }

    /// Aborts the open transactions past their timeout now (the timer task does it every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub fn abort_timed_out(&self) {
        self.shared.abort_timed_out();
    }

    /// A transactional id's current state.
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.shared.lock_state().get(transactional_id).cloned()
    }

    /// Every transactional id's state (ListTransactions).
    pub fn list(&self) -> Vec<TxnMetadata> {
        self.shared.lock_state().transactions().cloned().collect()
    }

    /// Stops the timer task; later operations fail with NOT_COORDINATOR.
    pub async fn shutdown(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
        let timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(timer) = timer {
            let _ = timer.await;
        }
    }
}

impl Drop for TransactionCoordinator {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.stop.notify_one();
        if let Some(timer) = self
            .timer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            timer.abort();
        }
    }
}

impl Shared {
    fn lock_state(&self) -> MutexGuard<'_, TxnCoordinatorState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn order(&self) -> Result<MutexGuard<'_, ()>, TxnError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(TxnError::NotCoordinator);
        }
        Ok(self.ops.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn now(&self) -> i64 {
        self.broker.clock().now_ms()
    }

    fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        mut expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        let _order = self.order()?;
        // At most: abort the open transaction, then bump.
        for _ in 0..3 {
            let now = self.now();
            let plan = self
                .lock_state()
                .plan_init(transactional_id, timeout_ms, expected, now)?;
            match plan {
                InitPlan::NewProducerId { timeout_ms } => {
                    let (producer_id, _) = self.broker.init_producer_id().map_err(TxnError::storage)?;
                    let meta =
                        TxnMetadata::new(transactional_id.to_string(), producer_id, 0, timeout_ms, now);
                    self.store(&meta)?;
                    self.lock_state().apply(meta);
                    return Ok((producer_id, 0));
                }
                InitPlan::Bump(meta) => {
                    self.store(&meta)?;
                    let answer = (meta.producer_id, meta.producer_epoch);
                    self.lock_state().apply(meta);
                    return Ok(answer);
                }
                InitPlan::AbortFirst(prepare) => {
                    tracing::info!(
                        transactional_id,
                        producer_id = prepare.producer_id,
                        epoch = prepare.producer_epoch,
                        "a new producer fences the open transaction; aborting it"
                    );
                    self.prepare_and_complete(prepare)?;
                    // The caller's expectation was checked against the epoch it knew.
                    expected = None;
                }
            }
        }
        Err(TxnError::ConcurrentTransactions {
            transactional_id: transactional_id.to_string(),
            state: "completing",
        })
    }

    fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
    ) -> Result<(), TxnError> {
        let _order = self.order()?;
        let now = self.now();
        let next =
            self.lock_state()
                .plan_add_partitions(transactional_id, producer_id, epoch, partitions, now)?;
        if let Some(next) = next {
            self.store(&next)?;
            self.lock_state().apply(next);
        }
        Ok(())
    }

    fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), TxnError> {
        let _order = self.order()?;
        let now = self.now();
        let plan = self
            .lock_state()
            .plan_end(transactional_id, producer_id, epoch, commit, now)?;
        match plan {
            EndPlan::AlreadyDone => Ok(()),
            EndPlan::Prepare(prepare) => self.prepare_and_complete(prepare),
        }
    }

    fn abort_timed_out(&self) {
        let Ok(_order) = self.order() else { return };
        let now = self.now();
        let expired = self.lock_state().timed_out(now);
        for prepare in expired {
            tracing::info!(
                transactional_id = %prepare.transactional_id,
                producer_id = prepare.producer_id,
                timeout_ms = prepare.timeout_ms,
                "aborting a transaction past its timeout"
            );
            if let Err(error) = self.prepare_and_complete(prepare) {
                tracing::warn!(%error, "aborting a timed-out transaction failed; will retry");
            }
        }
    }

    /// Completes the transactions left preparing (at startup, or after a failed marker write).
    fn complete_preparing(&self) {
        let Ok(_order) = self.order() else { return };
        let preparing = self.lock_state().preparing();
        for prepared in preparing {
            if let Err(error) = self.complete(&prepared) {
                tracing::warn!(
                    transactional_id = %prepared.transactional_id,
                    %error,
                    "completing a transaction failed; will retry"
                );
            }
        }
    }

    fn prepare_and_complete(&self, prepare: TxnMetadata) -> Result<(), TxnError> {
        self.store(&prepare)?;
        self.lock_state().apply(prepare.clone());
        self.complete(&prepare)
    }

    /// Writes a prepared transaction's markers, settles its offsets, stores its completion.
    /// Safe to repeat: a second marker where the transaction already ended changes nothing.
    fn complete(&self, prepared: &TxnMetadata) -> Result<(), TxnError> {
        let commit = prepared.state == TxnState::PrepareCommit;
        let mut offsets = false;
        for tp in &prepared.partitions {
            match self.broker.write_marker(
                tp,
                prepared.producer_id,
                prepared.producer_epoch,
                COORDINATOR_EPOCH,
                commit,
            ) {
                Ok(_) => {}
                // Deleted since it was added: nothing is left to mark (Kafka drops these too).
                Err(BrokerError::UnknownTopicOrPartition { .. }) => {}
                Err(e @ BrokerError::InvalidProducerEpoch { .. }) => {
                    tracing::warn!(partition = %tp, error = %e, "marker refused: a newer epoch wrote here");
                }
                Err(e) => return Err(TxnError::storage(e)),
            }
            offsets |= tp.topic.as_str() == OFFSETS_TOPIC;
        }
        if offsets {
            self.groups.complete_txn(prepared.producer_id, commit);
        }
        let done = TxnCoordinatorState::completed(prepared, self.now());
        self.store(&done)?;
        self.lock_state().apply(done);
        Ok(())
    }

    /// Appends a state record to the id's partition of `__transaction_state`.
    fn store(&self, meta: &TxnMetadata) -> Result<(), TxnError> {
        let topic = self.state_topic().map_err(TxnError::storage)?;
        let tp = TopicPartition::new(
            topic.name.clone(),
            partition_for_group(&meta.transactional_id, topic.partition_count()),
        );
        let mut batch = BatchBuilder::new(Compression::None);
        batch.append(
            self.now(),
            Some(&records::encode_key(&meta.transactional_id)),
            Some(&records::encode_value(meta)),
            &[],
        );
        self.broker
            .produce(&tp, &mut batch.build(), Acks::All)
            .map(drop)
            .map_err(TxnError::storage)
    }

    fn state_topic(&self) -> Result<Arc<Topic>> {
        match self.broker.topic(TRANSACTION_STATE_TOPIC) {
            Ok(t) => Ok(t),
            Err(BrokerError::UnknownTopicOrPartition { .. }) => {
                let partitions = self.lock_state().config().state_log_partitions;
                let configs = [("cleanup.policy", "compact"), ("segment.bytes", "104857600")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                match self
                    .broker
                    .create_topic(TRANSACTION_STATE_TOPIC, partitions, -1, configs)
                {
                    Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => {
                        self.broker.topic(TRANSACTION_STATE_TOPIC)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn offsets_partition(&self, group_id: &str) -> Result<TopicPartition, TxnError> {
        let topic = self.broker.offsets_topic().map_err(TxnError::storage)?;
        Ok(TopicPartition::new(
            topic.name.clone(),
            partition_for_group(group_id, topic.partition_count()),
        ))
    }
}

/// Replays `__transaction_state` into `state`; returns how many ids it holds. A record that
/// does not decode is logged and skipped.
fn replay(broker: &Broker, state: &mut TxnCoordinatorState) -> Result<usize> {
    crate::loader::replay_topic(broker, TRANSACTION_STATE_TOPIC, &mut |entry| {
        // The coordinator writes no transactions of its own here: markers mean nothing.
        let Entry::Record {
            key: Some(key),
            value,
            ..
        } = entry
        else {
            return;
        };
        let decoded = records::decode_key(&key).and_then(|id| {
            let meta = value
                .as_deref()
                .map(|v| records::decode_value(&id, v))
                .transpose()?;
            Ok((id, meta))
        });
        match decoded {
            Ok((id, meta)) => state.replay(&id, meta),
            Err(error) => tracing::warn!(%error, "skipping a malformed __transaction_state record"),
        }
    })?;
    Ok(state.transactions().count())
}
