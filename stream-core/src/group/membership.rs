//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup, as Kafka's classic coordinator (3.x)
//! answers them, with KIP-345 static membership and KIP-394's MEMBER_ID_REQUIRED.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::api::{
    HeartbeatRequest, JoinRequest, JoinResponse, LeaveRequest, MemberLeaveResult, Output, ReplyId,
    SyncRequest, SyncResponse,
};
use super::coordinator::GroupCoordinatorState;
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::member::Member;

impl GroupCoordinatorState {
    /// JoinGroup. The answer (an `Output::Join` for `reply`) comes when the rebalance
    /// completes: in the returned outputs, or in those of a later call or `tick`.
    pub fn join(&mut self, req: JoinRequest, reply: ReplyId, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if let Err(error) = self.validate_join(&req) {
            out.push(Output::Join {
                reply,
                result: Err(error),
            });
            return out;
        }
        let group_id = req.group_id.clone();
        if !self.groups.contains_key(&group_id) {
            // Only a new member creates a group, and only with protocols a group can have.
            let error = if !req.member_id.is_empty() {
                Some(GroupError::UnknownMemberId)
            } else if req.protocol_type.is_empty() || req.protocols.is_empty() {
                Some(GroupError::InconsistentGroupProtocol)
            } else {
                None
            };
            if let Some(error) = error {
                out.push(Output::Join {
                    reply,
                    result: Err(error),
                });
                return out;
            }
            self.put_group(Group::new(group_id.clone(), now_ms));
        }
        self.with_group(&group_id, |s, g| {
            if req.member_id.is_empty() {
                s.join_new_member(g, req, reply, now_ms, &mut out);
            } else {
                s.join_known_member(g, req, reply, now_ms, &mut out);
            }
            if g.state == GroupState::PreparingRebalance {
                s.try_complete_join(g, now_ms, &mut out);
            }
        });
        out
    }

    fn validate_join(&self, req: &JoinRequest) -> Result<(), GroupError> {
        validate_group_id(&req.group_id)?;
        let (min_ms, max_ms) = (
            self.config.group_min_session_timeout_ms,
            self.config.group_max_session_timeout_ms,
        );
        if !(min_ms..=max_ms).contains(&req.session_timeout_ms) {
            return Err(GroupError::InvalidSessionTimeout {
                requested_ms: req.session_timeout_ms,
                min_ms,
                max_ms,
            });
        }
        if req.group_instance_id.as_deref() == Some("") {
            return Err(GroupError::InvalidRequest {
                reason: "empty group.instance.id".into(),
            });
        }
        // They go into the group metadata record, whose strings are at most i16::MAX long.
        let strings = [
            ("member id", Some(&req.member_id)),
            ("client id", Some(&req.client_id)),
            ("client host", Some(&req.client_host)),
            ("group instance id", req.group_instance_id.as_ref()),
        ];
        let protocol_names = req.protocols.iter().map(|p| ("protocol name", Some(&p.name)));
        for (field, value) in strings.into_iter().chain(protocol_names) {
            if value.is_some_and(|v| v.len() > i16::MAX as usize) {
                return Err(GroupError::InvalidRequest {
                    reason: format!("{field} longer than 32767 bytes"),
                });
            }
        }
        Ok(())
    }

    /// A JoinGroup without a member id: a new member, or a static member after a restart.
    fn join_new_member(
        &mut self,
        g: &mut Group,
        req: JoinRequest,
        reply: ReplyId,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let known_static = req
            .group_instance_id
            .as_ref()
            .and_then(|instance| g.static_members.get(instance))
            .cloned();
        if !g.supports_protocols(&req.protocol_type, &req.protocols, known_static.as_deref()) {
            out.push(Output::Join {
                reply,
                result: Err(GroupError::InconsistentGroupProtocol),
            });
            return;
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let mut member_id = self.member_ids.next(prefix);
        while g.members.contains_key(&member_id) || g.pending_members.contains_key(&member_id) {
            member_id = self.member_ids.next(prefix);
        }
        if let Some(old_id) = known_static {
            self.rejoin_static_member(g, &old_id, member_id, req, reply, now, out);
        } else if g.members.len() >= self.config.group_max_size {
            out.push(Output::Join {
                reply,
                result: Err(GroupError::GroupMaxSizeReached),
            });
        } else if req.group_instance_id.is_none() && req.require_known_member_id {
            // KIP-394: the member id is handed out first, so a client that retries after a
            // lost answer does not leave a stray member behind.
            g.pending_members
                .insert(member_id.clone(), now + i64::from(req.session_timeout_ms));
            out.push(Output::Join {
                reply,
                result: Err(GroupError::MemberIdRequired { member_id }),
            });
        } else {
            self.add_member_and_rebalance(g, member_id, &req, reply, now, out);
        }
    }

    fn join_known_member(
        &mut self,
        g: &mut Group,
        req: JoinRequest,
        reply: ReplyId,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        if !g.supports_protocols(&req.protocol_type, &req.protocols, Some(&req.member_id)) {
            out.push(Output::Join {
                reply,
                result: Err(GroupError::InconsistentGroupProtocol),
            });
            return;
        }
        if g.pending_members.contains_key(&req.member_id) {
            // The second step of KIP-394. Static members never get a pending id.
            let error = if req.group_instance_id.is_some() {
                Some(GroupError::UnknownMemberId)
            } else if g.members.len() >= self.config.group_max_size {
                g.pending_members.remove(&req.member_id);
                Some(GroupError::GroupMaxSizeReached)
            } else {
                None
            };
            match error {
                Some(error) => out.push(Output::Join {
                    reply,
                    result: Err(error),
                }),
                None => self.add_member_and_rebalance(g, req.member_id.clone(), &req, reply, now, out),
            }
            return;
        }
        if let Err(error) = g.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            out.push(Output::Join {
                reply,
                result: Err(error),
            });
            return;
        }
        let Some(member) = g.members.get(&req.member_id) else {
            return;
        };
        let unchanged = member.matches(&req.protocols);
        match g.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(g, &req, reply, now, out),
            // The member lost its JoinGroup answer and asks again: same answer.
            GroupState::CompletingRebalance if unchanged => {
                Self::answer_current(g, &req.member_id, reply, out)
            }
            // A follower rejoining unchanged needs no rebalance; the leader rejoining asks for
            // one (Kafka lets it trigger rebalances for changes only it sees, like metadata).
            GroupState::Stable if unchanged && !g.is_leader(&req.member_id) => {
                Self::answer_current(g, &req.member_id, reply, out);
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(g, &req, reply, now, out);
            }
            GroupState::Empty | GroupState::Dead => {
                out.push(Output::Join {
                    reply,
                    result: Err(GroupError::UnknownMemberId),
                });
            }
        }
    }

    fn answer_current(g: &Group, member_id: &str, reply: ReplyId, out: &mut Vec<Output>) {
        let leader = g.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            g.joined_members()
        } else {
            Vec::new()
        };
        let response = JoinResponse {
            member_id: member_id.to_owned(),
            generation: g.generation,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            leader,
            members,
        };
        out.push(Output::Join {
            reply,
            result: Ok(response),
        });
    }

    fn add_member_and_rebalance(
        &mut self,
        g: &mut Group,
        member_id: String,
        req: &JoinRequest,
        reply: ReplyId,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        if g.state == GroupState::PreparingRebalance && g.generation.0 == 0 {
            g.new_member_added = true;
        }
        g.add(Member::new(member_id, req, reply, now));
        self.maybe_prepare_rebalance(g, now, out);
    }

    fn update_member_and_rebalance(
        &mut self,
        g: &mut Group,
        req: &JoinRequest,
        reply: ReplyId,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        Self::park_join(g, &req.member_id, req, reply, out);
        self.maybe_prepare_rebalance(g, now, out);
    }

    /// Takes a rejoin's protocols and parks its JoinGroup. A JoinGroup already parked for the
    /// member is answered REBALANCE_IN_PROGRESS: its client gave up on it when it sent this
    /// one (Kafka drops it unanswered).
    fn park_join(g: &mut Group, member_id: &str, req: &JoinRequest, reply: ReplyId, out: &mut Vec<Output>) {
        let Some(member) = g.members.get_mut(member_id) else {
            return;
        };
        member.update(req);
        if let Some(superseded) = member.awaiting_join.replace(reply) {
            out.push(Output::Join {
                reply: superseded,
                result: Err(GroupError::RebalanceInProgress),
            });
        }
    }

    /// KIP-345: a static member restarted (new process, no member id) and takes over its old
    /// member id's place. The old process, if it still runs, is fenced.
    #[allow(clippy::too_many_arguments)]
    fn rejoin_static_member(
        &mut self,
        g: &mut Group,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        reply: ReplyId,
        now: i64,
        out: &mut Vec<Output>,
    ) {
        let previous_leader = g.leader.clone().unwrap_or_default();
        let Some((old_join, old_sync)) = g.replace_static(old_id, &new_id) else {
            return;
        };
        if let Some(parked) = old_join {
            out.push(Output::Join {
                reply: parked,
                result: Err(GroupError::FencedInstanceId),
            });
        }
        if let Some(parked) = old_sync {
            out.push(Output::Sync {
                reply: parked,
                result: Err(GroupError::FencedInstanceId),
            });
        }
        tracing::info!(group = %g.id, old = %old_id, new = %new_id, "static member rejoined as a new id");
        if let Some(member) = g.members.get_mut(&new_id) {
            member.last_heartbeat_ms = now;
        }
        Self::park_join(g, &new_id, &req, reply, out);
        // As Kafka: a rebalance only if the group would pick another protocol. A new process
        // always sends changed metadata (Kafka's subscriptions carry the owned partitions and
        // generation), so comparing metadata would make every restart rebalance.
        let same_protocol = g.select_protocol() == g.protocol;
        match g.state {
            GroupState::Stable if same_protocol => {
                // No rebalance: the member gets its old assignment from SyncGroup. The answer
                // names the previous leader id, so a restarted leader does not believe it must
                // compute an assignment that a Stable group would not hand out.
                if let Some(member) = g.members.get_mut(&new_id) {
                    member.awaiting_join = None;
                }
                self.store_group(g, None, now, out);
                let response = JoinResponse {
                    member_id: new_id,
                    generation: g.generation,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol.clone(),
                    leader: previous_leader,
                    members: Vec::new(),
                };
                out.push(Output::Join {
                    reply,
                    result: Ok(response),
                });
            }
            // The assignment being computed names the old member id: start over.
            GroupState::CompletingRebalance => self.prepare_rebalance(g, now, out),
            _ => self.maybe_prepare_rebalance(g, now, out),
        }
    }

    /// SyncGroup. Followers wait (in `CompletingRebalance`) until the leader's assignment is
    /// stored; the answer is an `Output::Sync` for `reply`, now or later.
    pub fn sync(&mut self, req: SyncRequest, reply: ReplyId, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        if let Err(error) = validate_group_id(&req.group_id) {
            out.push(Output::Sync {
                reply,
                result: Err(error),
            });
            return out;
        }
        let group_id = req.group_id.clone();
        let found = self.with_group(&group_id, |s, g| s.sync_in(g, req, reply, now_ms, &mut out));
        if found.is_none() {
            out.push(Output::Sync {
                reply,
                result: Err(GroupError::UnknownMemberId),
            });
        }
        out
    }

    fn sync_in(&mut self, g: &mut Group, req: SyncRequest, reply: ReplyId, now: i64, out: &mut Vec<Output>) {
        let fail = |out: &mut Vec<Output>, error| {
            out.push(Output::Sync {
                reply,
                result: Err(error),
            })
        };
        if let Err(error) = g.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return fail(out, error);
        }
        if req.generation != g.generation {
            return fail(
                out,
                GroupError::IllegalGeneration {
                    requested: req.generation,
                    current: g.generation,
                },
            );
        }
        let mismatch = |asked: &Option<String>, ours: &Option<String>| asked.is_some() && asked != ours;
        if mismatch(&req.protocol_type, &g.protocol_type) || mismatch(&req.protocol_name, &g.protocol) {
            return fail(out, GroupError::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::Empty => fail(out, GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => fail(out, GroupError::RebalanceInProgress),
            GroupState::Dead => fail(out, GroupError::CoordinatorNotAvailable),
            GroupState::CompletingRebalance => {
                g.pending_sync.remove(&req.member_id);
                if let Some(member) = g.members.get_mut(&req.member_id) {
                    if let Some(superseded) = member.awaiting_sync.replace(reply) {
                        out.push(Output::Sync {
                            reply: superseded,
                            result: Err(GroupError::RebalanceInProgress),
                        });
                    }
                }
                if g.is_leader(&req.member_id) {
                    tracing::info!(group = %g.id, generation = %g.generation, "assignment from the leader");
                    // Members the leader left out get an empty assignment; ids that are not
                    // members are ignored.
                    let given: BTreeMap<&str, &Bytes> = req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.as_str(), &a.assignment))
                        .collect();
                    let assignment = g
                        .members
                        .keys()
                        .map(|id| {
                            (
                                id.clone(),
                                given.get(id.as_str()).map(|b| (*b).clone()).unwrap_or_default(),
                            )
                        })
                        .collect();
                    self.store_group(g, Some(assignment), now, out);
                }
            }
            GroupState::Stable => {
                g.pending_sync.remove(&req.member_id);
                if let Some(member) = g.members.get_mut(&req.member_id) {
                    member.last_heartbeat_ms = now;
                    let response = SyncResponse {
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol.clone(),
                        assignment: member.assignment.clone(),
                    };
                    out.push(Output::Sync {
                        reply,
                        result: Ok(response),
                    });
                }
            }
        }
    }

    /// Heartbeat: keeps the session alive, and tells the member whether it must rejoin.
    pub fn heartbeat(&mut self, req: HeartbeatRequest, now_ms: i64) -> Result<(), GroupError> {
        validate_group_id(&req.group_id)?;
        self.with_group(&req.group_id, |_, g| {
            g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
            if req.generation != g.generation {
                return Err(GroupError::IllegalGeneration {
                    requested: req.generation,
                    current: g.generation,
                });
            }
            let rebalancing = match g.state {
                GroupState::Empty => return Err(GroupError::UnknownMemberId),
                GroupState::Dead => return Err(GroupError::CoordinatorNotAvailable),
                GroupState::PreparingRebalance => true,
                GroupState::CompletingRebalance | GroupState::Stable => false,
            };
            if let Some(member) = g.members.get_mut(&req.member_id) {
                member.last_heartbeat_ms = now_ms;
            }
            if rebalancing {
                Err(GroupError::RebalanceInProgress)
            } else {
                Ok(())
            }
        })
        .unwrap_or(Err(GroupError::UnknownMemberId))
    }

    /// LeaveGroup (v3+ batch). Members leave at once and the group rebalances without them;
    /// an empty member id with an instance id removes that static member (KIP-345's admin
    /// removal). The outputs answer requests the departure completes or cancels.
    pub fn leave(
        &mut self,
        req: LeaveRequest,
        now_ms: i64,
    ) -> (Result<Vec<MemberLeaveResult>, GroupError>, Vec<Output>) {
        let mut out = Vec::new();
        if let Err(error) = validate_group_id(&req.group_id) {
            return (Err(error), out);
        }
        let results = self.with_group(&req.group_id, |s, g| {
            let mut results = Vec::with_capacity(req.members.len());
            for identity in &req.members {
                let result = s.leave_one(
                    g,
                    &identity.member_id,
                    identity.group_instance_id.as_deref(),
                    now_ms,
                    &mut out,
                );
                results.push(MemberLeaveResult {
                    member_id: identity.member_id.clone(),
                    group_instance_id: identity.group_instance_id.clone(),
                    result,
                });
            }
            results
        });
        let results = results.unwrap_or_else(|| {
            let unknown = |identity: &super::api::MemberIdentity| MemberLeaveResult {
                member_id: identity.member_id.clone(),
                group_instance_id: identity.group_instance_id.clone(),
                result: Err(GroupError::UnknownMemberId),
            };
            req.members.iter().map(unknown).collect()
        });
        (Ok(results), out)
    }

    fn leave_one(
        &mut self,
        g: &mut Group,
        member_id: &str,
        instance_id: Option<&str>,
        now: i64,
        out: &mut Vec<Output>,
    ) -> Result<(), GroupError> {
        let leaving = if member_id.is_empty() {
            instance_id
                .and_then(|instance| g.static_members.get(instance))
                .cloned()
                .ok_or(GroupError::UnknownMemberId)?
        } else if g.pending_members.remove(member_id).is_some() {
            if g.state == GroupState::PreparingRebalance {
                self.try_complete_join(g, now, out);
            }
            return Ok(());
        } else {
            g.validate_member(member_id, instance_id)?;
            member_id.to_owned()
        };
        tracing::info!(group = %g.id, member = %leaving, "member left");
        self.remove_member_and_update(g, &leaving, now, out);
        Ok(())
    }
}

/// The membership APIs need a group id; Kafka strings hold at most 32767 bytes.
pub(crate) fn validate_group_id(group_id: &str) -> Result<(), GroupError> {
    if group_id.is_empty() || group_id.len() > i16::MAX as usize {
        return Err(GroupError::InvalidGroupId {
            group_id: group_id.chars().take(256).collect(),
        });
    }
    Ok(())
}
