//! One group's membership and committed offsets (Kafka's `GroupMetadata`): who is in it, which
//! generation and protocol it is at, and the bookkeeping of the rebalance in progress. The
//! decisions that span requests (when to rebalance, when it completes) live in
//! [`rebalance`](super::rebalance); this file keeps the group consistent.
//!
//! ```text
//!            join                      all rejoined / timeout            leader's SyncGroup stored
//!   Empty ─────────► PreparingRebalance ─────────────────► CompletingRebalance ───────► Stable
//!     ▲                 ▲      │ no member left                   │    member joins, leaves, │
//!     └─────────────────┼──────┘                                  │    changes or times out  │
//!                       └─────────────────────────────────────────┴──────────────────────────┘
//!   Empty ──DeleteGroups──► Dead (removed)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::api::{Generation, JoinedMember, Protocol, ReplyId};
use super::error::GroupError;
use super::member::Member;
use super::offsets::CommittedOffset;
use super::records::consumer_subscription_topics;
use crate::topic::TopicPartition;

/// Kafka's group states, named as Kafka names them in ListGroups and DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// The members joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted, or never existed.
    Dead,
}

impl GroupState {
    /// The name Kafka's tools print.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Kafka's table of legal transitions (`GroupState.validPreviousStates`).
    fn can_follow(self, previous: GroupState) -> bool {
        use GroupState::*;
        match self {
            Empty => matches!(previous, PreparingRebalance),
            PreparingRebalance => matches!(previous, Stable | CompletingRebalance | Empty),
            CompletingRebalance => matches!(previous, PreparingRebalance),
            Stable => matches!(previous, CompletingRebalance),
            Dead => true,
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JoinGroup and SyncGroup a replaced member was waiting on.
pub(crate) type Parked = (Option<ReplyId>, Option<ReplyId>);

/// The timer of a rebalance in PreparingRebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JoinTimer {
    pub(crate) deadline_ms: i64,
    /// Set for the first rebalance of an empty group (Kafka's `InitialDelayedJoin`): it never
    /// completes early, and is extended while new members keep arriving.
    pub(crate) initial: Option<InitialDelay>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InitialDelay {
    pub(crate) delay_ms: i64,
    /// How much of the rebalance timeout is left for further extensions.
    pub(crate) remaining_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) state_since_ms: i64,
    pub(crate) generation: Generation,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id of the static members.
    pub(crate) static_members: BTreeMap<String, String>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with when they lapse unused. A
    /// rebalance waits for them, as for members.
    pub(crate) pending_members: BTreeMap<String, i64>,
    /// Members that got their JoinGroup answer but have not sent SyncGroup yet.
    pub(crate) pending_sync: BTreeSet<String>,
    /// When the members in `pending_sync` are dropped (Kafka's `DelayedSync`).
    pub(crate) sync_deadline_ms: Option<i64>,
    pub(crate) join_timer: Option<JoinTimer>,
    /// A member joined during the initial delay, which then extends once more.
    pub(crate) new_member_added: bool,
    pub(crate) offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// The deadline under which the coordinator indexes this group.
    pub(crate) scheduled: Option<i64>,
}

impl Group {
    pub(crate) fn new(id: String, now_ms: i64) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            generation: Generation(0),
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            join_timer: None,
            new_member_added: false,
            offsets: BTreeMap::new(),
            scheduled: None,
        }
    }

    pub(crate) fn transition(&mut self, to: GroupState, now_ms: i64) {
        debug_assert!(
            to.can_follow(self.state),
            "group {}: {} -> {to}",
            self.id,
            self.state
        );
        self.state = to;
        self.state_since_ms = now_ms;
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader.as_deref() == Some(member_id)
    }

    /// Whether nothing distinguishes this group from one never created: it can be forgotten.
    pub(crate) fn is_blank(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
            && self.generation == Generation(0)
            && self.protocol_type.is_none()
    }

    pub(crate) fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        if let Some(instance) = &member.instance_id {
            self.static_members.insert(instance.clone(), member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member; the caller answers its parked requests.
    pub(crate) fn remove(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.instance_id {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.is_leader(member_id) {
            self.leader = self.members.keys().next().cloned();
        }
        Some(member)
    }

    /// KIP-345: a static member restarted under a new member id; it keeps its place (and
    /// assignment, and leadership). Returns the member as it was, for its parked requests.
    pub(crate) fn replace_static(&mut self, old_id: &str, new_id: &str) -> Option<Parked> {
        let mut member = self.members.remove(old_id)?;
        let parked = (member.awaiting_join.take(), member.awaiting_sync.take());
        member.id = new_id.to_owned();
        if let Some(instance) = &member.instance_id {
            self.static_members.insert(instance.clone(), new_id.to_owned());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_owned());
        }
        if self.is_leader(old_id) {
            self.leader = Some(new_id.to_owned());
        }
        self.members.insert(new_id.to_owned(), member);
        Some(parked)
    }

    /// Checks the member id, and that a static member's instance id still maps to it (Kafka's
    /// `validateCurrentMember`).
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => return Err(GroupError::FencedInstanceId),
                Some(_) => {}
                None => return Err(GroupError::UnknownMemberId),
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(GroupError::UnknownMemberId)
        }
    }

    /// Whether a member with these protocols may be in the group: the same protocol type, and
    /// at least one protocol every other member supports. `rejoining` is the member's own id
    /// (or the id it replaces), whose old protocols do not count.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[Protocol],
        rejoining: Option<&str>,
    ) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let mut others = self
            .members
            .values()
            .filter(|m| Some(m.id.as_str()) != rejoining)
            .peekable();
        if others.peek().is_none() {
            return true;
        }
        let others: Vec<&Member> = others.collect();
        protocols
            .iter()
            .any(|p| others.iter().all(|m| m.supports(&p.name)))
    }

    /// Kafka's vote: among the protocols every member supports, each member votes for its
    /// favourite and the most votes win; a tie goes to the protocol voted for first.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in self.members.values() {
            let Some(choice) = member.vote(&candidates) else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == choice) {
                Some((_, count)) => *count += 1,
                None => votes.push((choice, 1)),
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, most)| count > most) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_owned())
    }

    /// Every member waits on a JoinGroup and no handed-out member id is still unused.
    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// A rebalance waits as long as the most patient member allows.
    pub(crate) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Keeps or moves the leadership to a member that rejoined; false when none did.
    pub(crate) fn elect_joined_leader(&mut self) -> bool {
        let current_rejoined = self
            .leader
            .as_ref()
            .and_then(|id| self.members.get(id))
            .is_some_and(|m| m.awaiting_join.is_some());
        if current_rejoined {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(member) => {
                self.leader = Some(member.id.clone());
                true
            }
            None => false,
        }
    }

    /// What the leader computes the assignment from.
    pub(crate) fn joined_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol).cloned().unwrap_or_default(),
            })
            .collect()
    }

    /// The topics the members subscribe to, read from Kafka's consumer-protocol subscriptions;
    /// `None` when unknown (another protocol type, or metadata that does not parse), which
    /// callers take as "every topic".
    pub(crate) fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let protocol = self.protocol.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let metadata = member.metadata(protocol)?;
            topics.extend(consumer_subscription_topics(metadata).ok()?);
        }
        Some(topics)
    }

    /// The earliest moment something in this group times out.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        let sessions = self.members.values().filter_map(Member::session_deadline);
        let pending = self.pending_members.values().copied();
        let join = self.join_timer.map(|t| t.deadline_ms);
        let sync = if self.pending_sync.is_empty() {
            None
        } else {
            self.sync_deadline_ms
        };
        sessions.chain(pending).chain(join).chain(sync).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    use crate::group::api::JoinRequest;

    fn member(id: &str, protocols: &[&str]) -> Member {
        let request = JoinRequest::new(
            "g",
            "c",
            "consumer",
            protocols
                .iter()
                .map(|p| Protocol::new(*p, Bytes::new()))
                .collect(),
        );
        Member::new(id.into(), &request, ReplyId(0), 0)
    }

    #[test]
    fn the_protocol_most_members_prefer_among_the_common_ones_wins() {
        let mut group = Group::new("g".into(), 0);
        group.add(member("a", &["range", "roundrobin", "sticky"]));
        group.add(member("b", &["sticky", "roundrobin"]));
        group.add(member("c", &["roundrobin", "sticky"]));
        group.add(member("d", &["sticky", "range", "roundrobin"]));
        // Common: roundrobin, sticky. Votes: a→roundrobin, b→sticky, c→roundrobin, d→sticky.
        // Tie: roundrobin was voted for first.
        assert_eq!(group.select_protocol().as_deref(), Some("roundrobin"));
        group.remove("c");
        assert_eq!(group.select_protocol().as_deref(), Some("sticky"));
    }

    #[test]
    fn a_member_without_a_common_protocol_is_not_supported() {
        let mut group = Group::new("g".into(), 0);
        group.add(member("a", &["range"]));
        let protocols = [Protocol::new("sticky", Bytes::new())];
        assert!(!group.supports_protocols("consumer", &protocols, None));
        assert!(
            group.supports_protocols("consumer", &protocols, Some("a")),
            "a alone may change"
        );
        assert!(
            !group.supports_protocols("connect", &protocols, Some("a")),
            "but not its protocol type"
        );
    }

    #[test]
    fn removing_the_leader_hands_leadership_to_another_member() {
        let mut group = Group::new("g".into(), 0);
        group.add(member("a", &["range"]));
        group.add(member("b", &["range"]));
        assert!(group.is_leader("a"));
        group.remove("a");
        assert!(group.is_leader("b"));
        group.remove("b");
        assert_eq!(group.leader, None);
    }
}
