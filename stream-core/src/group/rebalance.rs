//! The rebalance protocol shared by every request handler: starting a rebalance, completing it
//! when every member rejoined (or its time is up), handing out the leader's assignment, and
//! removing members. Follows Kafka's classic `GroupCoordinator` (3.x), including KIP-345's
//! rule that an absent static member keeps its place until its session expires.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::api::{Generation, JoinResponse, Output, SyncResponse};
use super::coordinator::{GroupCoordinatorState, PendingAppend};
use super::error::GroupError;
use super::group::{Group, GroupState, InitialDelay, JoinTimer};
use super::records::{self, GroupMetadataValue, MemberMetadataValue, RecordKey};

impl GroupCoordinatorState {
    /// Starts a rebalance unless one is already under way.
    pub(crate) fn maybe_prepare_rebalance(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        if matches!(
            g.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(g, now, out);
        }
    }

    pub(crate) fn prepare_rebalance(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        if g.state == GroupState::CompletingRebalance {
            // Members waiting for an assignment that will not come must rejoin instead.
            Self::reset_and_propagate(g, GroupError::RebalanceInProgress, now, out);
        }
        g.pending_sync.clear();
        g.sync_deadline_ms = None;
        let rebalance_timeout = g.rebalance_timeout_ms();
        g.join_timer = Some(if g.state == GroupState::Empty {
            let delay = i64::from(self.config.group_initial_rebalance_delay_ms);
            JoinTimer {
                deadline_ms: now + delay,
                initial: Some(InitialDelay {
                    delay_ms: delay,
                    remaining_ms: (rebalance_timeout - delay).max(0),
                }),
            }
        } else {
            // Never zero: a timer due at the moment it is set would fire in the same tick.
            JoinTimer {
                deadline_ms: now + rebalance_timeout.max(1),
                initial: None,
            }
        });
        g.new_member_added = false;
        g.transition(GroupState::PreparingRebalance, now);
        tracing::info!(group = %g.id, generation = %g.generation, "preparing to rebalance");
        self.try_complete_join(g, now, out);
    }

    /// Completes the rebalance early if nobody else is expected. The initial delay of an empty
    /// group never completes early: its purpose is to wait.
    pub(crate) fn try_complete_join(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        let is_initial = g.join_timer.is_some_and(|timer| timer.initial.is_some());
        if g.state == GroupState::PreparingRebalance && !is_initial && g.has_all_members_joined() {
            self.complete_join(g, now, out);
        }
    }

    pub(crate) fn on_join_deadline(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        let Some(timer) = g.join_timer else { return };
        if let Some(initial) = timer.initial {
            if g.new_member_added && initial.remaining_ms > 0 {
                // Members are still arriving: wait one more delay, within the rebalance timeout.
                let delay = initial.delay_ms.min(initial.remaining_ms);
                g.new_member_added = false;
                g.join_timer = Some(JoinTimer {
                    deadline_ms: now + delay,
                    initial: Some(InitialDelay {
                        delay_ms: initial.delay_ms,
                        remaining_ms: initial.remaining_ms - delay,
                    }),
                });
                return;
            }
        }
        self.complete_join(g, now, out);
    }

    /// Kafka's `onCompleteJoin`: drops dynamic members that did not rejoin, bumps the
    /// generation, picks the protocol and answers every parked JoinGroup.
    fn complete_join(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        let absent: Vec<String> = g
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for member_id in absent {
            tracing::info!(group = %g.id, member = %member_id, "member did not rejoin in time, removing it");
            Self::drop_member(g, &member_id, out);
        }
        if !g.members.is_empty() && !g.elect_joined_leader() {
            // Only absent static members are left: wait for them to come back or for their
            // sessions to expire.
            g.join_timer = Some(JoinTimer {
                deadline_ms: now + g.rebalance_timeout_ms().max(1),
                initial: None,
            });
            return;
        }
        g.join_timer = None;
        g.new_member_added = false;
        g.generation = g.generation.next();
        if g.members.is_empty() {
            g.protocol = None;
            g.leader = None;
            g.transition(GroupState::Empty, now);
            tracing::info!(group = %g.id, generation = %g.generation, "group is now empty");
            self.store_group(g, None, now, out);
            return;
        }
        g.protocol = g.select_protocol();
        g.transition(GroupState::CompletingRebalance, now);
        tracing::info!(group = %g.id, generation = %g.generation, members = g.members.len(), "joined");
        let for_leader = g.joined_members();
        let leader = g.leader.clone().unwrap_or_default();
        for member in g.members.values_mut() {
            member.last_heartbeat_ms = now;
            if let Some(reply) = member.awaiting_join.take() {
                let response = JoinResponse {
                    member_id: member.id.clone(),
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: leader.clone(),
                    members: if member.id == leader {
                        for_leader.clone()
                    } else {
                        Vec::new()
                    },
                };
                out.push(Output::Join {
                    reply,
                    result: Ok(response),
                });
            }
        }
        g.pending_sync = g.members.keys().cloned().collect();
        g.sync_deadline_ms = Some(now + g.rebalance_timeout_ms().max(1));
    }

    /// Members that got their JoinGroup answer but sent no SyncGroup within the rebalance
    /// timeout are gone; the others rebalance without them.
    pub(crate) fn on_sync_deadline(&mut self, g: &mut Group, now: i64, out: &mut Vec<Output>) {
        g.sync_deadline_ms = None;
        if !matches!(g.state, GroupState::CompletingRebalance | GroupState::Stable)
            || g.pending_sync.is_empty()
        {
            return;
        }
        let missing: Vec<String> = std::mem::take(&mut g.pending_sync).into_iter().collect();
        for member_id in &missing {
            tracing::info!(group = %g.id, member = %member_id, "no SyncGroup in time, removing member");
            Self::drop_member(g, member_id, out);
        }
        self.prepare_rebalance(g, now, out);
    }

    /// Removes a member that left or whose session expired, and lets the group react.
    pub(crate) fn remove_member_and_update(
        &mut self,
        g: &mut Group,
        member_id: &str,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        Self::drop_member(g, member_id, out);
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance(g, now, out),
            GroupState::PreparingRebalance => self.try_complete_join(g, now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Removes a member, answering its parked requests with UNKNOWN_MEMBER_ID so that a client
    /// still alive rejoins from scratch.
    pub(crate) fn drop_member(g: &mut Group, member_id: &str, out: &mut Vec<Output>) {
        let Some(member) = g.remove(member_id) else { return };
        if let Some(reply) = member.awaiting_join {
            out.push(Output::Join {
                reply,
                result: Err(GroupError::UnknownMemberId),
            });
        }
        if let Some(reply) = member.awaiting_sync {
            out.push(Output::Sync {
                reply,
                result: Err(GroupError::UnknownMemberId),
            });
        }
    }

    /// The leader's assignment was stored (or not): hand it out and become Stable, or make
    /// everybody rejoin.
    pub(crate) fn complete_assignment(
        &mut self,
        g: &mut Group,
        generation: Generation,
        assignment: BTreeMap<String, Bytes>,
        result: Result<(), GroupError>,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        // The group may have moved on while the append was in flight.
        if g.state != GroupState::CompletingRebalance || g.generation != generation {
            return;
        }
        match result {
            Ok(()) => {
                for member in g.members.values_mut() {
                    member.assignment = assignment.get(&member.id).cloned().unwrap_or_default();
                }
                Self::propagate(g, None, now, out);
                g.transition(GroupState::Stable, now);
                tracing::info!(group = %g.id, generation = %g.generation, "group is stable");
            }
            Err(error) => {
                tracing::warn!(group = %g.id, %error, "could not store the assignment, rebalancing");
                Self::reset_and_propagate(g, error, now, out);
                self.maybe_prepare_rebalance(g, now, out);
            }
        }
    }

    fn reset_and_propagate(g: &mut Group, error: GroupError, now: i64, out: &mut Vec<Output>) {
        for member in g.members.values_mut() {
            member.assignment = Bytes::new();
        }
        Self::propagate(g, Some(error), now, out);
    }

    /// Answers every parked SyncGroup with the member's assignment, or with `error`.
    fn propagate(g: &mut Group, error: Option<GroupError>, now: i64, out: &mut Vec<Output>) {
        for member in g.members.values_mut() {
            let Some(reply) = member.awaiting_sync.take() else {
                continue;
            };
            // The session restarts now: the member could not heartbeat while it waited.
            member.last_heartbeat_ms = now;
            let result = match &error {
                Some(error) => Err(error.clone()),
                None => Ok(SyncResponse {
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    assignment: member.assignment.clone(),
                }),
            };
            out.push(Output::Sync { reply, result });
        }
    }

    /// Appends the group's metadata record. With `assignment` (the leader's SyncGroup), the
    /// group waits for the append before handing the assignment out; otherwise the record is
    /// written behind (Kafka waits for it in a few more places, see the module docs).
    pub(crate) fn store_group(
        &mut self,
        g: &mut Group,
        assignment: Option<BTreeMap<String, Bytes>>,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let protocol = g.protocol.clone().unwrap_or_default();
        let value = GroupMetadataValue {
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            generation: g.generation.0,
            protocol: g.protocol.clone(),
            leader: g.leader.clone(),
            current_state_timestamp_ms: g.state_since_ms,
            members: g
                .members
                .values()
                .map(|m| MemberMetadataValue {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(&protocol).cloned().unwrap_or_default(),
                    assignment: match &assignment {
                        Some(assignment) => assignment.get(&m.id).cloned().unwrap_or_default(),
                        None => m.assignment.clone(),
                    },
                })
                .collect(),
        };
        let key = records::encode_key(&RecordKey::GroupMetadata {
            group_id: g.id.clone(),
        });
        match key.and_then(|key| Ok((key, records::encode_group_value(&value)?))) {
            Ok((key, value)) => {
                let then = assignment.map(|assignment| PendingAppend::Assignment {
                    group_id: g.id.clone(),
                    generation: g.generation,
                    assignment,
                });
                self.append(&g.id, vec![(key, Some(value))], then, out);
            }
            Err(error) => {
                // Requests are validated so this cannot happen; fail the rebalance rather than
                // hand out an assignment that a restart would lose.
                tracing::error!(group = %g.id, %error, "cannot encode the group metadata");
                if assignment.is_some() {
                    let reason = error.to_string();
                    Self::reset_and_propagate(g, GroupError::UnknownServerError { reason }, now, out);
                    self.maybe_prepare_rebalance(g, now, out);
                }
            }
        }
    }
}
