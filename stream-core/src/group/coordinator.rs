//! [`GroupCoordinatorState`]: every group of the coordinator as one pure state machine. Requests
//! and the passing of time go in, [`Output`]s come out; it reads no clock and does no I/O, so
//! the driver (or a test) decides when "now" is and performs the appends.
//!
//! The request handlers are spread over the files of their concern — `membership.rs` (join,
//! sync, heartbeat, leave), `offsets.rs`, `admin.rs`, `replay.rs` — and the rebalance protocol
//! they share is in `rebalance.rs`. This file holds the struct, time (`tick`,
//! `next_deadline`) and the completion of appends.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::api::{Append, AppendId, Generation, Output, ReplyId};
use super::config::GroupConfig;
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::member::MemberIdGenerator;
use super::offsets::{CommittedOffset, PartitionOutcome};
use crate::topic::TopicPartition;

/// All groups of one coordinator. See the [module docs](super) for the request flow.
#[derive(Debug, Clone)]
pub struct GroupCoordinatorState {
    pub(crate) config: GroupConfig,
    pub(crate) groups: BTreeMap<String, Group>,
    /// Each group with a timeout pending, by its earliest deadline, so `tick` and
    /// `next_deadline` never scan every group.
    deadlines: BTreeSet<(i64, String)>,
    pub(crate) member_ids: MemberIdGenerator,
    next_append: u64,
    /// What to do when an append completes, for the appends something waits on.
    pending_appends: BTreeMap<AppendId, PendingAppend>,
    /// Offsets of open transactions, by producer id: committed by the transaction's commit
    /// marker, dropped by its abort (see `txn_offsets.rs`).
    pub(crate) txn_offsets: BTreeMap<i64, Vec<(String, TopicPartition, CommittedOffset)>>,
}

/// An answer or a transition waiting for its records to be stored.
#[derive(Debug, Clone)]
pub(crate) enum PendingAppend {
    /// An OffsetCommit: the offsets are applied, and the commit acknowledged, once stored.
    Commit {
        reply: ReplyId,
        group_id: String,
        /// In request order; `Ok` ones are in the append, `Err` ones were refused up front.
        partitions: Vec<PartitionOutcome>,
    },
    /// A TxnOffsetCommit: the offsets wait for the transaction's outcome once stored.
    TxnCommit {
        reply: ReplyId,
        producer_id: i64,
        group_id: String,
        partitions: Vec<PartitionOutcome>,
    },
    /// The leader's SyncGroup: the group becomes Stable once its assignment is stored.
    Assignment {
        group_id: String,
        generation: Generation,
        assignment: BTreeMap<String, Bytes>,
    },
}

impl GroupCoordinatorState {
    /// Member ids get a random (per-process) component.
    pub fn new(config: GroupConfig) -> GroupCoordinatorState {
        GroupCoordinatorState::with_member_ids(config, MemberIdGenerator::random())
    }

    /// Member ids derived from `seed`, for reproducible tests.
    pub fn with_seed(config: GroupConfig, seed: u64) -> GroupCoordinatorState {
        GroupCoordinatorState::with_member_ids(config, MemberIdGenerator::with_seed(seed))
    }

    fn with_member_ids(config: GroupConfig, member_ids: MemberIdGenerator) -> GroupCoordinatorState {
        GroupCoordinatorState {
            config,
            groups: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            member_ids,
            next_append: 0,
            pending_appends: BTreeMap::new(),
            txn_offsets: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The state of a group, `None` if it does not exist.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// The generation of a group, `None` if it does not exist.
    pub fn generation(&self, group_id: &str) -> Option<Generation> {
        self.groups.get(group_id).map(|g| g.generation)
    }

    /// When `tick` next has something to do: a session, a handed-out member id, a rebalance or
    /// a pending SyncGroup times out.
    pub fn next_deadline(&self) -> Option<i64> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Applies every timeout due at `now_ms`: expired sessions leave their group (which then
    /// rebalances), rebalances whose time is up complete without the members that did not
    /// rejoin, members that did not send SyncGroup in time are dropped.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let due: Vec<String> = self
            .deadlines
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .map(|(_, id)| id.clone())
            .collect();
        for group_id in due {
            self.with_group(&group_id, |s, g| s.expire(g, now_ms, &mut out));
        }
        out
    }

    fn expire(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        // Each round removes what is due or pushes its deadline past `now`; the bound only
        // guards against a bug turning into a hang.
        for _ in 0..16 {
            if g.next_deadline().is_none_or(|deadline| deadline > now) {
                return;
            }
            let pending_before = g.pending_members.len();
            g.pending_members.retain(|_, lapses| *lapses > now);
            if g.pending_members.len() != pending_before && g.state == GroupState::PreparingRebalance {
                self.try_complete_join(g, now, out);
            }
            let expired: Vec<String> = g
                .members
                .values()
                .filter(|m| m.session_deadline().is_some_and(|deadline| deadline <= now))
                .map(|m| m.id.clone())
                .collect();
            for member_id in expired {
                tracing::info!(group = %g.id, member = %member_id, "session expired, removing member");
                self.remove_member_and_update(g, &member_id, now, out);
            }
            if g.join_timer.is_some_and(|timer| timer.deadline_ms <= now) {
                self.on_join_deadline(g, now, out);
            }
            if g.sync_deadline_ms.is_some_and(|deadline| deadline <= now) {
                self.on_sync_deadline(g, now, out);
            }
        }
        tracing::error!(group = %g.id, "timeouts still due after 16 rounds");
    }

    /// Reports how an [`Append`] went. A commit is acknowledged (and its offsets become
    /// visible) only now; a leader's assignment is handed out only now. A failed append fails
    /// the commit, or sends the group back to rebalancing.
    pub fn append_done(&mut self, id: AppendId, result: Result<(), GroupError>, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        match self.pending_appends.remove(&id) {
            None => {
                if let Err(error) = result {
                    tracing::warn!(%error, "could not store group metadata or offset tombstones");
                }
            }
            Some(PendingAppend::Commit {
                reply,
                group_id,
                partitions,
            }) => {
                self.complete_commit(reply, group_id, partitions, result, now_ms, &mut out);
            }
            Some(PendingAppend::TxnCommit {
                reply,
                producer_id,
                group_id,
                partitions,
            }) => {
                self.complete_txn_commit(reply, producer_id, group_id, partitions, result, &mut out);
            }
            Some(PendingAppend::Assignment {
                group_id,
                generation,
                assignment,
            }) => {
                self.with_group(&group_id, |s, g| {
                    s.complete_assignment(g, generation, assignment, result, now_ms, &mut out);
                });
            }
        }
        out
    }

    /// Emits `records` for appending; `then` runs when the append completes.
    pub(crate) fn append(
        &mut self,
        group_id: &str,
        records: Vec<(Bytes, Option<Bytes>)>,
        then: Option<PendingAppend>,
        out: &mut Vec<Output>,
    ) {
        let id = AppendId(self.next_append);
        self.next_append += 1;
        if let Some(pending) = then {
            self.pending_appends.insert(id, pending);
        }
        out.push(Output::Append(Append {
            id,
            group_id: group_id.to_owned(),
            records,
            producer: None,
        }));
    }

    /// Emits `records` of a transaction for appending; `then` runs when the append completes.
    pub(crate) fn append_transactional(
        &mut self,
        group_id: &str,
        producer: (i64, i16),
        records: Vec<(Bytes, Option<Bytes>)>,
        then: PendingAppend,
        out: &mut Vec<Output>,
    ) {
        let id = AppendId(self.next_append);
        self.next_append += 1;
        self.pending_appends.insert(id, then);
        out.push(Output::Append(Append {
            id,
            group_id: group_id.to_owned(),
            records,
            producer: Some(producer),
        }));
    }

    /// Runs `f` on the group, then re-indexes its deadline. The group is taken out of the map
    /// meanwhile, so `f` can use the rest of the state freely.
    pub(crate) fn with_group<R>(
        &mut self,
        group_id: &str,
        f: impl FnOnce(&mut Self, &mut Group) -> R,
    ) -> Option<R> {
        let mut group = self.groups.remove(group_id)?;
        let result = f(self, &mut group);
        self.put_group(group);
        Some(result)
    }

    /// Inserts (or re-inserts) a group and indexes its next deadline.
    pub(crate) fn put_group(&mut self, mut group: Group) {
        let next = group.next_deadline();
        if group.scheduled != next {
            if let Some(old) = group.scheduled {
                self.deadlines.remove(&(old, group.id.clone()));
            }
            if let Some(new) = next {
                self.deadlines.insert((new, group.id.clone()));
            }
            group.scheduled = next;
        }
        self.groups.insert(group.id.clone(), group);
    }

    /// Forgets a group entirely.
    pub(crate) fn remove_group(&mut self, group_id: &str) -> Option<Group> {
        let group = self.groups.remove(group_id)?;
        if let Some(old) = group.scheduled {
            self.deadlines.remove(&(old, group.id.clone()));
        }
        Some(group)
    }

    /// Checks the invariants the rest of the module relies on; tests call it after every step.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let indexed: BTreeSet<(i64, String)> = self
            .groups
            .values()
            .filter_map(|g| g.scheduled.map(|d| (d, g.id.clone())))
            .collect();
        if indexed != self.deadlines {
            return Err(format!(
                "deadline index {:?} != groups' {:?}",
                self.deadlines, indexed
            ));
        }
        self.groups.values().try_for_each(super::tests::check_group)
    }
}
