//! Specifications of the coordinator, run against the pure state machine with an injected
//! `now`, plus the driver under Tokio's paused clock.

mod driver;
mod membership;
mod offsets;
mod random;
mod record_format;
mod static_members;

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::group::{Group, GroupState};
use super::*;
pub(crate) use crate::topic::TopicPartition;

/// The invariants every group keeps between calls.
pub(crate) fn check_group(g: &Group) -> Result<(), String> {
    let fail = |what: String| Err(format!("group {}: {what}", g.id));
    if g.scheduled != g.next_deadline() {
        return fail(format!(
            "scheduled {:?} but next deadline {:?}",
            g.scheduled,
            g.next_deadline()
        ));
    }
    match &g.leader {
        Some(leader) if !g.members.contains_key(leader) => {
            return fail(format!("leader {leader} is no member"));
        }
        None if !g.members.is_empty() => return fail("members but no leader".into()),
        _ => {}
    }
    for (instance, member_id) in &g.static_members {
        if g.members.get(member_id).and_then(|m| m.instance_id.as_ref()) != Some(instance) {
            return fail(format!(
                "static {instance} maps to {member_id}, which does not have it"
            ));
        }
    }
    if g.members.values().filter(|m| m.instance_id.is_some()).count() != g.static_members.len() {
        return fail("a static member is missing from the instance map".into());
    }
    let state = g.state;
    if state == GroupState::Empty && !g.members.is_empty() {
        return fail("Empty with members".into());
    }
    if matches!(state, GroupState::Stable | GroupState::CompletingRebalance) && g.members.is_empty() {
        return fail(format!("{state} without members"));
    }
    if (state == GroupState::PreparingRebalance) != g.join_timer.is_some() {
        return fail(format!("{state} with join timer {:?}", g.join_timer));
    }
    for m in g.members.values() {
        if m.awaiting_join.is_some() && state != GroupState::PreparingRebalance {
            return fail(format!("{} awaits a join in {state}", m.id));
        }
        if m.awaiting_sync.is_some() && state != GroupState::CompletingRebalance {
            return fail(format!("{} awaits a sync in {state}", m.id));
        }
        if g.protocol_type.as_deref() != Some(m.protocol_type.as_str()) {
            return fail(format!("{} has protocol type {}", m.id, m.protocol_type));
        }
    }
    if !g.pending_sync.iter().all(|id| g.members.contains_key(id)) {
        return fail("a pending sync member is no member".into());
    }
    if !g.pending_sync.is_empty() && !matches!(state, GroupState::CompletingRebalance | GroupState::Stable) {
        return fail(format!("pending syncs in {state}"));
    }
    if matches!(state, GroupState::CompletingRebalance | GroupState::Stable) {
        let Some(protocol) = &g.protocol else {
            return fail(format!("{state} without a protocol"));
        };
        if !g.members.values().all(|m| m.supports(protocol)) {
            return fail(format!("not every member supports {protocol}"));
        }
    }
    Ok(())
}

/// Kafka's consumer-protocol subscription (v0) to the given topics.
/// A topic name the tests know to be valid.
pub(crate) fn topic(name: &str) -> crate::topic::TopicName {
    crate::topic::TopicName::new(name).unwrap()
}

pub(crate) fn subscription(topics: &[&str]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i32(topics.len() as i32);
    for topic in topics {
        buf.put_i16(topic.len() as i16);
        buf.put_slice(topic.as_bytes());
    }
    buf.put_i32(-1);
    buf.freeze()
}

pub(crate) fn test_config() -> GroupConfig {
    GroupConfig::default()
        .with_group_initial_rebalance_delay_ms(0)
        .with_group_min_session_timeout_ms(10)
        .build()
        .unwrap()
}

pub(crate) const SESSION_MS: i32 = 10_000;
pub(crate) const REBALANCE_MS: i32 = 30_000;

pub(crate) fn join_request(group: &str, client: &str) -> JoinRequest {
    JoinRequest::new(
        group,
        client,
        "consumer",
        vec![Protocol::new("range", subscription(&["t"]))],
    )
    .with_session_timeout_ms(SESSION_MS)
    .with_rebalance_timeout_ms(REBALANCE_MS)
}

/// Drives the state machine like the driver does — appends succeed at once unless told
/// otherwise — and keeps every answer for the test to pick up.
pub(crate) struct Harness {
    pub(crate) state: GroupCoordinatorState,
    pub(crate) now: i64,
    next_reply: u64,
    pub(crate) answers: BTreeMap<ReplyId, Output>,
    /// Everything appended, in order: the `__consumer_offsets` partition.
    pub(crate) log: Vec<(Bytes, Option<Bytes>)>,
    /// Appends held back (`hold_appends`), to complete later with `complete_appends`.
    pub(crate) held: Vec<Append>,
    pub(crate) hold_appends: bool,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness::with_config(test_config())
    }

    pub(crate) fn with_config(config: GroupConfig) -> Harness {
        Harness {
            state: GroupCoordinatorState::with_seed(config, 42),
            now: 1_000_000,
            next_reply: 0,
            answers: BTreeMap::new(),
            log: Vec::new(),
            held: Vec::new(),
            hold_appends: false,
        }
    }

    fn reply(&mut self) -> ReplyId {
        self.next_reply += 1;
        ReplyId(self.next_reply)
    }

    pub(crate) fn handle(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Append(append) if self.hold_appends => self.held.push(append),
                Output::Append(append) => {
                    self.log.extend(append.records);
                    let more = self.state.append_done(append.id, Ok(()), self.now);
                    self.handle(more);
                }
                Output::Join { reply, .. } | Output::Sync { reply, .. } | Output::Commit { reply, .. } => {
                    assert!(!self.answers.contains_key(&reply), "{reply:?} answered twice");
                    self.answers.insert(reply, output);
                }
            }
        }
        self.state.check_invariants().unwrap();
    }

    /// Completes the held appends with `result`.
    pub(crate) fn complete_appends(&mut self, result: Result<(), GroupError>) {
        for append in std::mem::take(&mut self.held) {
            if result.is_ok() {
                self.log.extend(append.records);
            }
            let more = self.state.append_done(append.id, result.clone(), self.now);
            self.handle(more);
        }
    }

    pub(crate) fn join(&mut self, req: JoinRequest) -> ReplyId {
        let reply = self.reply();
        let outputs = self.state.join(req, reply, self.now);
        self.handle(outputs);
        reply
    }

    pub(crate) fn joined(&mut self, reply: ReplyId) -> Option<Result<JoinResponse, GroupError>> {
        match self.answers.remove(&reply)? {
            Output::Join { result, .. } => Some(result),
            other => panic!("not a join answer: {other:?}"),
        }
    }

    /// A dynamic member's first join, through MEMBER_ID_REQUIRED; returns its member id and
    /// the reply its (parked) second JoinGroup will be answered on.
    pub(crate) fn join_new(&mut self, req: JoinRequest) -> (String, ReplyId) {
        let first = self.join(req.clone());
        let member_id = match self.joined(first) {
            Some(Err(GroupError::MemberIdRequired { member_id })) => member_id,
            other => panic!("expected MEMBER_ID_REQUIRED, got {other:?}"),
        };
        (member_id.clone(), self.join(req.with_member_id(member_id)))
    }

    pub(crate) fn sync(&mut self, req: SyncRequest) -> ReplyId {
        let reply = self.reply();
        let outputs = self.state.sync(req, reply, self.now);
        self.handle(outputs);
        reply
    }

    pub(crate) fn synced(&mut self, reply: ReplyId) -> Option<Result<SyncResponse, GroupError>> {
        match self.answers.remove(&reply)? {
            Output::Sync { result, .. } => Some(result),
            other => panic!("not a sync answer: {other:?}"),
        }
    }

    pub(crate) fn commit(&mut self, req: CommitRequest) -> ReplyId {
        let reply = self.reply();
        let outputs = self.state.commit_offsets(req, reply, self.now);
        self.handle(outputs);
        reply
    }

    pub(crate) fn committed(&mut self, reply: ReplyId) -> Option<PartitionResults> {
        match self.answers.remove(&reply)? {
            Output::Commit { result, .. } => Some(result),
            other => panic!("not a commit answer: {other:?}"),
        }
    }

    pub(crate) fn heartbeat(&mut self, group: &str, member: &JoinResponse) -> Result<(), GroupError> {
        let req = HeartbeatRequest {
            group_id: group.into(),
            generation: member.generation,
            member_id: member.member_id.clone(),
            group_instance_id: None,
        };
        let result = self.state.heartbeat(req, self.now);
        self.state.check_invariants().unwrap();
        result
    }

    pub(crate) fn leave(
        &mut self,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), GroupError> {
        let req = LeaveRequest {
            group_id: group.into(),
            members: vec![MemberIdentity {
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_owned),
            }],
        };
        let (result, outputs) = self.state.leave(req, self.now);
        self.handle(outputs);
        result.unwrap().remove(0).result
    }

    /// Moves time forward and runs the timeouts due.
    pub(crate) fn advance(&mut self, ms: i64) {
        self.now += ms;
        let outputs = self.state.tick(self.now);
        self.handle(outputs);
    }

    /// Runs the timeouts due now.
    pub(crate) fn tick_due(&mut self) {
        let outputs = self.state.tick(self.now);
        self.handle(outputs);
    }

    pub(crate) fn state_of(&self, group: &str) -> Option<GroupState> {
        self.state.group_state(group)
    }

    /// `n` dynamic members join `group` and complete a rebalance; returns their JoinGroup
    /// answers (the leader's first) and the assignment each got (`a-<member id>`).
    pub(crate) fn stable_group(&mut self, group: &str, n: usize) -> Vec<JoinResponse> {
        let parked: Vec<ReplyId> = (0..n)
            .map(|i| self.join_new(join_request(group, &format!("client-{i}"))).1)
            .collect();
        self.tick_due();
        let mut joined: Vec<JoinResponse> = parked
            .into_iter()
            .map(|r| self.joined(r).unwrap().unwrap())
            .collect();
        joined.sort_by_key(|j| !j.is_leader());
        self.sync_all(group, &joined);
        assert_eq!(self.state_of(group), Some(GroupState::Stable));
        joined
    }

    /// Every member of `joined` syncs, the leader first with `a-<member id>` for everyone.
    pub(crate) fn sync_all(&mut self, group: &str, joined: &[JoinResponse]) {
        let replies: Vec<(ReplyId, &JoinResponse)> = joined
            .iter()
            .map(|j| (self.sync(sync_request(group, j)), j))
            .collect();
        for (reply, j) in replies {
            let synced = self.synced(reply).unwrap().unwrap();
            assert_eq!(synced.assignment, Bytes::from(format!("a-{}", j.member_id)));
        }
    }
}

/// The SyncGroup of a joined member; the leader assigns `a-<member id>` to everybody.
pub(crate) fn sync_request(group: &str, joined: &JoinResponse) -> SyncRequest {
    SyncRequest {
        group_id: group.into(),
        generation: joined.generation,
        member_id: joined.member_id.clone(),
        group_instance_id: None,
        protocol_type: joined.protocol_type.clone(),
        protocol_name: joined.protocol_name.clone(),
        assignments: joined
            .members
            .iter()
            .map(|m| MemberAssignment {
                member_id: m.member_id.clone(),
                assignment: Bytes::from(format!("a-{}", m.member_id)),
            })
            .collect(),
    }
}
