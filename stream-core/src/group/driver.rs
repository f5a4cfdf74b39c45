//! [`GroupCoordinator`]: the async face of [`GroupCoordinatorState`]. It reads the clock,
//! parks each delayed request on a `oneshot` until the state machine answers it, performs the
//! appends to `__consumer_offsets` through an [`OffsetsLog`], and runs a timer task that calls
//! `tick` at `next_deadline`.
//!
//! Locking: the state sits behind a `std::sync::Mutex` held only while the state machine runs.
//! Requests that may append also hold a second mutex, `appends`, from computing their outputs
//! until their appends are done and reported; so records reach the log in the order the state
//! machine produced them and completions are applied in log order. No lock is held across an
//! `.await`, which also makes every method cancel-safe: a caller that stops waiting (a client
//! that disconnected) leaves a consistent state behind, and its answer is simply discarded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::api::{
    CommitRequest, FetchOffsetsRequest, GroupDescription, GroupListing, GroupResults, HeartbeatRequest,
    JoinRequest, JoinResponse, LeaveRequest, MemberLeaveResult, Output, PartitionOffset, PartitionResults,
    ReplyId, SyncRequest, SyncResponse, TxnCommitRequest,
};
use super::config::GroupConfig;
use super::coordinator::GroupCoordinatorState;
use super::error::GroupError;
use super::group::GroupState;
use crate::topic::TopicPartition;

/// Where the coordinator's records go: the broker appends them to the partition of
/// `__consumer_offsets` that holds `group_id`. Called without any coordinator lock held except
/// the append-ordering one, and expected to return once the records are durable enough to
/// acknowledge a commit (the broker's `acks=all` equivalent).
pub trait OffsetsLog: Send + Sync + std::fmt::Debug {
    fn append(&self, group_id: &str, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), GroupError>;

    /// Appends the records of a TxnOffsetCommit as one transactional batch of `producer`.
    fn append_transactional(
        &self,
        group_id: &str,
        producer: (i64, i16),
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), GroupError>;
}

/// One entry of `__consumer_offsets` as the startup replay sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsEntry {
    /// A record of a plain batch.
    Record { key: Bytes, value: Option<Bytes> },
    /// A record of a transactional batch: pending until its producer's marker.
    Transactional {
        producer_id: i64,
        key: Bytes,
        value: Option<Bytes>,
    },
    /// A transaction marker.
    Marker { producer_id: i64, commit: bool },
}

/// What [`GroupCoordinator::load`] replayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub applied: usize,
    /// Records that did not decode; each is logged and skipped.
    pub malformed: usize,
}

/// The group coordinator of a broker. Share it behind an `Arc`; dropping the last one stops
/// the timer task.
#[derive(Debug)]
pub struct GroupCoordinator {
    shared: Arc<Shared>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    core: Mutex<Core>,
    appends: Mutex<()>,
    clock: Arc<dyn storage::Clock>,
    log: Arc<dyn OffsetsLog>,
    /// Wakes the timer task when the next deadline moved earlier than it sleeps.
    rescheduled: Notify,
    stop: Notify,
}

#[derive(Debug)]
struct Core {
    state: GroupCoordinatorState,
    waiters: HashMap<ReplyId, Waiter>,
    next_reply: u64,
    /// The deadline the timer task sleeps until.
    timer_deadline: Option<i64>,
    closed: bool,
}

#[derive(Debug)]
enum Waiter {
    Join(oneshot::Sender<Result<JoinResponse, GroupError>>),
    Sync(oneshot::Sender<Result<SyncResponse, GroupError>>),
    Commit(oneshot::Sender<PartitionResults>),
}

impl GroupCoordinator {
    /// Starts the coordinator and its timer task.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn new(
        config: GroupConfig,
        clock: Arc<dyn storage::Clock>,
        log: Arc<dyn OffsetsLog>,
    ) -> GroupCoordinator {
        GroupCoordinator::with_state(GroupCoordinatorState::new(config), clock, log)
    }

    /// Starts the coordinator on a given state machine (for instance one seeded for tests).
    pub fn with_state(
        state: GroupCoordinatorState,
        clock: Arc<dyn storage::Clock>,
        log: Arc<dyn OffsetsLog>,
    ) -> GroupCoordinator {
        let core = Core {
            state,
            waiters: HashMap::new(),
            next_reply: 0,
            timer_deadline: None,
            closed: false,
        };
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            appends: Mutex::new(()),
            clock,
            log,
            rescheduled: Notify::new(),
            stop: Notify::new(),
        });
        let timer = tokio::spawn(run_timer(Arc::clone(&shared)));
        GroupCoordinator {
            shared,
            timer: Mutex::new(Some(timer)),
        }
    }

    /// Replays `__consumer_offsets` (in log order) before serving. Malformed records are
    /// logged and skipped: one bad record must not keep every group of the partition down.
    pub fn load(&self, records: impl IntoIterator<Item = (Bytes, Option<Bytes>)>) -> LoadReport {
        let mut report = LoadReport::default();
        let now = self.shared.clock.now_ms();
        {
            let mut core = self.shared.lock_core();
            for (key, value) in records {
                match core.state.replay(&key, value.as_deref(), now) {
                    Ok(()) => report.applied += 1,
                    Err(error) => {
                        tracing::warn!(%error, "skipping a malformed __consumer_offsets record");
                        report.malformed += 1;
                    }
                }
            }
        }
        self.shared.reschedule();
        report
    }

    pub async fn join_group(&self, req: JoinRequest) -> Result<JoinResponse, GroupError> {
        let rx = self
            .shared
            .submit(Waiter::Join, |state, reply, now| state.join(req, reply, now))?;
        rx.await.unwrap_or(Err(GroupError::NotCoordinator))
    }

    pub async fn sync_group(&self, req: SyncRequest) -> Result<SyncResponse, GroupError> {
        let rx = self
            .shared
            .submit(Waiter::Sync, |state, reply, now| state.sync(req, reply, now))?;
        rx.await.unwrap_or(Err(GroupError::NotCoordinator))
    }

    pub async fn heartbeat(&self, req: HeartbeatRequest) -> Result<(), GroupError> {
        let now = self.shared.clock.now_ms();
        let mut core = self.shared.open_core()?;
        let result = core.state.heartbeat(req, now);
        self.shared.reschedule_locked(&mut core);
        result
    }

    pub async fn leave_group(&self, req: LeaveRequest) -> Result<Vec<MemberLeaveResult>, GroupError> {
        self.shared.mutate(|state, now| state.leave(req, now))?
    }

    /// Answers once the offsets are stored; per-partition results.
    pub async fn commit_offsets(&self, req: CommitRequest) -> Result<PartitionResults, GroupError> {
        let rx = self.shared.submit(Waiter::Commit, |state, reply, now| {
            state.commit_offsets(req, reply, now)
        })?;
        match rx.await {
            Ok(results) => Ok(results),
            // The waiter was dropped: the coordinator shut down before the commit completed.
            Err(_closed) => Err(GroupError::NotCoordinator),
        }
    }

    /// TxnOffsetCommit: stores the offsets in the producer's transaction (see
    /// `txn_offsets.rs`); they count once [`GroupCoordinator::complete_txn`] commits it.
    pub async fn txn_commit_offsets(&self, req: TxnCommitRequest) -> Result<PartitionResults, GroupError> {
        let rx = self.shared.submit(Waiter::Commit, |state, reply, now| {
            state.txn_commit_offsets(req, reply, now)
        })?;
        rx.await.map_err(|_closed| GroupError::NotCoordinator)
    }

    /// The transaction of `producer_id` ended with a marker in `__consumer_offsets`.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) {
        let now = self.shared.clock.now_ms();
        self.shared
            .lock_core()
            .state
            .complete_txn(producer_id, commit, now);
    }

    /// Whether open transactions hold offsets of the group (see
    /// [`GroupCoordinatorState::has_unstable_offsets`]).
    pub fn has_unstable_offsets(&self, group_id: &str, partitions: Option<&[TopicPartition]>) -> bool {
        self.shared
            .lock_core()
            .state
            .has_unstable_offsets(group_id, partitions)
    }

    /// Replays `__consumer_offsets` entries, transactional batches and markers included, in
    /// log order (what the broker's `offsets_log::read_offsets_entries` returns).
    pub fn load_entries(&self, entries: impl IntoIterator<Item = OffsetsEntry>) -> LoadReport {
        let mut report = LoadReport::default();
        let now = self.shared.clock.now_ms();
        {
            let mut core = self.shared.lock_core();
            for entry in entries {
                let result = match entry {
                    OffsetsEntry::Record { key, value } => core.state.replay(&key, value.as_deref(), now),
                    OffsetsEntry::Transactional {
                        producer_id,
                        key,
                        value,
                    } => core.state.replay_txn_record(producer_id, &key, value.as_deref()),
                    OffsetsEntry::Marker { producer_id, commit } => {
                        core.state.complete_txn(producer_id, commit, now);
                        Ok(())
                    }
                };
                match result {
                    Ok(()) => report.applied += 1,
                    Err(error) => {
                        tracing::warn!(%error, "skipping a malformed __consumer_offsets record");
                        report.malformed += 1;
                    }
                }
            }
        }
        self.shared.reschedule();
        report
    }

    pub async fn fetch_offsets(&self, req: FetchOffsetsRequest) -> Result<Vec<PartitionOffset>, GroupError> {
        Ok(self.shared.open_core()?.state.fetch_offsets(&req))
    }

    /// `states` filters (KIP-518); empty lists every group.
    pub async fn list_groups(&self, states: &[GroupState]) -> Result<Vec<GroupListing>, GroupError> {
        Ok(self.shared.open_core()?.state.list_groups(states))
    }

    pub async fn describe_groups(&self, group_ids: &[String]) -> Result<Vec<GroupDescription>, GroupError> {
        Ok(self.shared.open_core()?.state.describe_groups(group_ids))
    }

    pub async fn delete_groups(&self, group_ids: &[String]) -> Result<GroupResults, GroupError> {
        self.shared
            .mutate(|state, now| state.delete_groups(group_ids, now))
    }

    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
    ) -> Result<PartitionResults, GroupError> {
        self.shared
            .mutate(|state, now| state.delete_offsets(group_id, partitions, now))?
    }

    /// Stops the timer task and answers every parked request NOT_COORDINATOR; later calls get
    /// NOT_COORDINATOR too.
    pub async fn shutdown(&self) {
        self.shared.close();
        let timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(timer) = timer {
            if let Err(error) = timer.await {
                if error.is_panic() {
                    tracing::error!(%error, "the group coordinator's timer task panicked");
                }
            }
        }
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        self.shared.close();
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
    /// A poisoned lock means a panic in the state machine; its state is still the best there
    /// is, and refusing every later request would be worse.
    fn lock_core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_core(&self) -> Result<MutexGuard<'_, Core>, GroupError> {
        let core = self.lock_core();
        if core.closed {
            Err(GroupError::NotCoordinator)
        } else {
            Ok(core)
        }
    }

    /// Runs a request whose answer is delayed: registers its waiter, runs it, performs what it
    /// outputs.
    fn submit<T>(
        &self,
        waiter: impl FnOnce(oneshot::Sender<T>) -> Waiter,
        op: impl FnOnce(&mut GroupCoordinatorState, ReplyId, i64) -> Vec<Output>,
    ) -> Result<oneshot::Receiver<T>, GroupError> {
        let (tx, rx) = oneshot::channel();
        let _order = self.appends.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = {
            let mut core = self.open_core()?;
            let reply = ReplyId(core.next_reply);
            core.next_reply += 1;
            core.waiters.insert(reply, waiter(tx));
            let now = self.clock.now_ms();
            op(&mut core.state, reply, now)
        };
        self.perform(outputs);
        Ok(rx)
    }

    /// Runs a request answered at once, performing what it outputs.
    fn mutate<T>(
        &self,
        op: impl FnOnce(&mut GroupCoordinatorState, i64) -> (T, Vec<Output>),
    ) -> Result<T, GroupError> {
        let _order = self.appends.lock().unwrap_or_else(PoisonError::into_inner);
        let (result, outputs) = {
            let mut core = self.open_core()?;
            let now = self.clock.now_ms();
            op(&mut core.state, now)
        };
        self.perform(outputs);
        Ok(result)
    }

    fn tick(&self) {
        let _order = self.appends.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = {
            let mut core = self.lock_core();
            if core.closed {
                return;
            }
            let now = self.clock.now_ms();
            core.state.tick(now)
        };
        self.perform(outputs);
    }

    /// Delivers answers and performs appends, reporting each to the state machine, until
    /// nothing is left. The caller holds `appends`.
    fn perform(&self, mut outputs: Vec<Output>) {
        loop {
            let appends = {
                let mut core = self.lock_core();
                let appends = core.deliver(outputs);
                if appends.is_empty() {
                    self.reschedule_locked(&mut core);
                    return;
                }
                appends
            };
            outputs = Vec::new();
            for append in appends {
                let result = match append.producer {
                    None => self.log.append(&append.group_id, append.records),
                    Some(producer) => {
                        self.log
                            .append_transactional(&append.group_id, producer, append.records)
                    }
                };
                let now = self.clock.now_ms();
                outputs.extend(self.lock_core().state.append_done(append.id, result, now));
            }
        }
    }

    fn reschedule(&self) {
        let mut core = self.lock_core();
        self.reschedule_locked(&mut core);
    }

    /// Wakes the timer task if something now times out before it would wake.
    fn reschedule_locked(&self, core: &mut Core) {
        let next = core.state.next_deadline();
        let earlier = match (next, core.timer_deadline) {
            (Some(next), Some(sleeping)) => next < sleeping,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            core.timer_deadline = next;
            self.rescheduled.notify_one();
        }
    }

    fn close(&self) {
        let mut core = self.lock_core();
        core.closed = true;
        // Dropping the senders answers the parked requests NOT_COORDINATOR.
        core.waiters.clear();
        drop(core);
        self.stop.notify_one();
    }
}

impl Core {
    /// Answers the waiters of `outputs` and returns the appends to perform.
    fn deliver(&mut self, outputs: Vec<Output>) -> Vec<super::api::Append> {
        let mut appends = Vec::new();
        for output in outputs {
            // A send fails when the caller stopped waiting; nobody is left to tell.
            match output {
                Output::Append(append) => appends.push(append),
                Output::Join { reply, result } => {
                    if let Some(Waiter::Join(tx)) = self.waiters.remove(&reply) {
                        let _ = tx.send(result);
                    }
                }
                Output::Sync { reply, result } => {
                    if let Some(Waiter::Sync(tx)) = self.waiters.remove(&reply) {
                        let _ = tx.send(result);
                    }
                }
                Output::Commit { reply, result } => {
                    if let Some(Waiter::Commit(tx)) = self.waiters.remove(&reply) {
                        let _ = tx.send(result);
                    }
                }
            }
        }
        appends
    }
}

/// Sleeps until the next deadline (or until woken because it moved earlier), then ticks.
async fn run_timer(shared: Arc<Shared>) {
    // After a tick, a deadline still due means a bug in the state machine or a clock that
    // went backwards; waiting a millisecond keeps that from becoming a busy loop.
    let mut min_wait_ms = 0;
    loop {
        let (deadline, now) = {
            let mut core = shared.lock_core();
            if core.closed {
                return;
            }
            core.timer_deadline = core.state.next_deadline();
            (core.timer_deadline, shared.clock.now_ms())
        };
        let sleep = async {
            match deadline {
                Some(deadline) => {
                    let wait = u64::try_from(deadline.saturating_sub(now))
                        .unwrap_or(0)
                        .max(min_wait_ms);
                    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(wait)).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = shared.stop.notified() => return,
            () = shared.rescheduled.notified() => min_wait_ms = 0,
            () = sleep => {
                let ticked_at = shared.clock.now_ms();
                shared.tick();
                let still_due = shared.lock_core().state.next_deadline().is_some_and(|d| d <= ticked_at);
                min_wait_ms = u64::from(still_due);
            }
        }
    }
}
