//! Client-side partition assignors of Kafka's consumer protocol, and the bytes they travel in.
//!
//! During a rebalance the broker's group coordinator only relays: every member sends its
//! [`MemberSubscription`] (encoded with [`encode_subscription`]) in JoinGroup, the coordinator
//! elects a leader and hands it all of them, and the leader runs an [`Assignor`] and returns one
//! assignment per member (encoded with [`encode_assignment`]) in SyncGroup.
//!
//! ```text
//!   member ──JoinGroup(subscription bytes)──► coordinator ──all subscriptions──► leader
//!                                                                               │ Assignor::assign
//!   member ◄──SyncGroup(assignment bytes)──── coordinator ◄──one per member─────┘
//! ```
//!
//! | name                   | type                   | protocol    | Kafka class                  |
//! |------------------------|------------------------|-------------|------------------------------|
//! | `range`                | [`Range`]              | eager       | `RangeAssignor`              |
//! | `roundrobin`           | [`RoundRobin`]         | eager       | `RoundRobinAssignor`         |
//! | `sticky`               | [`Sticky::eager`]      | eager       | `StickyAssignor`             |
//! | `cooperative-sticky`   | [`Sticky::cooperative`]| cooperative | `CooperativeStickyAssignor`  |
//!
//! ```
//! use std::collections::BTreeMap;
//! use stream_core::client::assignor::{assignor_by_name, MemberSubscription};
//!
//! let partitions = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
//! let members = [
//!     MemberSubscription::new("C0", ["t0", "t1"]),
//!     MemberSubscription::new("C1", ["t0", "t1"]),
//! ];
//! let range = assignor_by_name("range").expect("a Kafka assignor");
//! let assignment = range.assign(&partitions, &members);
//! let p = |t: &str, p| (t.to_string(), p);
//! assert_eq!(assignment.partitions("C0"), [p("t0", 0), p("t0", 1), p("t1", 0), p("t1", 1)]);
//! assert_eq!(assignment.partitions("C1"), [p("t0", 2), p("t1", 2)]);
//! ```

mod protocol;
mod range;
mod round_robin;
mod sticky;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

pub use protocol::{
    ASSIGNMENT_MAX_VERSION, MemberAssignment, Payload, ProtocolError, SUBSCRIPTION_MAX_VERSION, Subscription,
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
pub use range::Range;
pub use round_robin::RoundRobin;
pub use sticky::Sticky;

/// The generation a member reports before it has ever been assigned anything, and what decoding
/// a v0/v1 subscription (which has no generation field) yields: Kafka's `DEFAULT_GENERATION`.
pub const DEFAULT_GENERATION: i32 = -1;

/// What one member of a consumer group told the coordinator when it joined: the leader's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    pub topics: Vec<String>,
    /// The partitions the member holds now (KIP-429); the sticky assignors keep them where they
    /// can, and the cooperative one never hands one to another member in the same rebalance.
    pub owned_partitions: Vec<(String, i32)>,
    /// The generation in which `owned_partitions` were assigned; settles conflicting claims.
    pub generation: i32,
    pub rack: Option<String>,
    /// Opaque to the built-in assignors; carried for custom ones.
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// A dynamic member that owns nothing yet.
    pub fn new<T: Into<String>>(member_id: impl Into<String>, topics: impl IntoIterator<Item = T>) -> Self {
        MemberSubscription {
            member_id: member_id.into(),
            group_instance_id: None,
            topics: topics.into_iter().map(Into::into).collect(),
            owned_partitions: Vec::new(),
            generation: DEFAULT_GENERATION,
            rack: None,
            user_data: None,
        }
    }

    pub fn with_group_instance_id(mut self, group_instance_id: impl Into<String>) -> Self {
        self.group_instance_id = Some(group_instance_id.into());
        self
    }

    pub fn with_owned_partitions(mut self, owned: impl IntoIterator<Item = (String, i32)>) -> Self {
        self.owned_partitions = owned.into_iter().collect();
        self
    }

    pub fn with_generation(mut self, generation: i32) -> Self {
        self.generation = generation;
        self
    }

    pub fn with_rack(mut self, rack: impl Into<String>) -> Self {
        self.rack = Some(rack.into());
        self
    }

    pub fn with_user_data(mut self, user_data: Bytes) -> Self {
        self.user_data = Some(user_data);
        self
    }
}

/// How members move partitions between generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining; the assignment may move any partition.
    Eager,
    /// Members keep consuming what they own while rejoining (KIP-429); a partition changes hands
    /// over two rebalances: revoked from its owner in the first, assigned in the next.
    Cooperative,
}

/// The leader's answer: every member's partitions, each list sorted by (topic, partition). Every
/// member that subscribed has an entry, if only an empty one, as in Kafka.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment(BTreeMap<String, Vec<(String, i32)>>);

impl Assignment {
    /// The partitions assigned to `member_id`; empty for an unknown member.
    pub fn partitions(&self, member_id: &str) -> &[(String, i32)] {
        self.0.get(member_id).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[(String, i32)])> {
        self.0
            .iter()
            .map(|(member, partitions)| (member.as_str(), partitions.as_slice()))
    }

    /// Members of each assigned partition: one per partition unless the assignment is broken.
    pub fn owners(&self) -> BTreeMap<(&str, i32), Vec<&str>> {
        let mut owners: BTreeMap<(&str, i32), Vec<&str>> = BTreeMap::new();
        for (member, partitions) in self.iter() {
            for (topic, partition) in partitions {
                owners
                    .entry((topic.as_str(), *partition))
                    .or_default()
                    .push(member);
            }
        }
        owners
    }

    pub fn as_map(&self) -> &BTreeMap<String, Vec<(String, i32)>> {
        &self.0
    }

    pub fn into_map(self) -> BTreeMap<String, Vec<(String, i32)>> {
        self.0
    }
}

impl From<BTreeMap<String, Vec<(String, i32)>>> for Assignment {
    /// Sorts each member's list, which is all that makes an arbitrary map an `Assignment`.
    fn from(mut map: BTreeMap<String, Vec<(String, i32)>>) -> Self {
        map.values_mut().for_each(|partitions| partitions.sort_unstable());
        Assignment(map)
    }
}

impl From<Assignment> for BTreeMap<String, Vec<(String, i32)>> {
    fn from(assignment: Assignment) -> Self {
        assignment.0
    }
}

/// A partition assignment strategy, run by the group leader during a rebalance.
pub trait Assignor: fmt::Debug + Send + Sync {
    /// The name members advertise in JoinGroup (`partition.assignment.strategy`).
    fn name(&self) -> &'static str;

    fn rebalance_protocol(&self) -> RebalanceProtocol;

    /// Assigns the partitions of `partitions_per_topic` (topic → partition count, from metadata)
    /// to `members`. Topics that members subscribe to but metadata lacks, or that have no
    /// partitions, are skipped, as in Kafka. Member ids are expected to be unique; should one
    /// repeat, only its first subscription counts.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment;
}

static RANGE: Range = Range;
static ROUND_ROBIN: RoundRobin = RoundRobin;
static STICKY: Sticky = Sticky::eager();
static COOPERATIVE_STICKY: Sticky = Sticky::cooperative();

/// Kafka's built-in assignor of that name: `range`, `roundrobin`, `sticky` or
/// `cooperative-sticky`.
pub fn assignor_by_name(name: &str) -> Option<&'static dyn Assignor> {
    let assignor: &'static dyn Assignor = match name {
        "range" => &RANGE,
        "roundrobin" => &ROUND_ROBIN,
        "sticky" => &STICKY,
        "cooperative-sticky" => &COOPERATIVE_STICKY,
        _ => return None,
    };
    Some(assignor)
}

/// The order of Kafka's `AbstractPartitionAssignor.MemberInfo` (KIP-345): static members first,
/// by `group.instance.id`, then dynamic members by member id. Kafka leaves two static members with
/// the same instance id in hash-map order; we break that tie by member id to stay deterministic.
/// (Java compares strings by UTF-16 unit, Rust by code point: they differ only between
/// supplementary characters and U+E000..=U+FFFF.)
fn kafka_member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// The members with the first subscription of each member id, in input order.
fn unique_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut seen = BTreeSet::new();
    members
        .iter()
        .filter(|member| seen.insert(member.member_id.as_str()))
        .collect()
}

/// The partition count of a topic that can be assigned: known to metadata and not empty.
fn partition_count(partitions_per_topic: &BTreeMap<String, i32>, topic: &str) -> Option<i32> {
    partitions_per_topic
        .get(topic)
        .copied()
        .filter(|&count| count > 0)
}

/// An empty entry for every member, so that members who get nothing still hear so.
fn empty_lists(members: &[&MemberSubscription]) -> BTreeMap<String, Vec<(String, i32)>> {
    members
        .iter()
        .map(|member| (member.member_id.clone(), Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_resolve_to_their_assignors() {
        for (name, protocol) in [
            ("range", RebalanceProtocol::Eager),
            ("roundrobin", RebalanceProtocol::Eager),
            ("sticky", RebalanceProtocol::Eager),
            ("cooperative-sticky", RebalanceProtocol::Cooperative),
        ] {
            let assignor = assignor_by_name(name).expect("known name");
            assert_eq!(assignor.name(), name);
            assert_eq!(assignor.rebalance_protocol(), protocol);
        }
        assert!(assignor_by_name("Range").is_none());
        assert!(assignor_by_name("uniform").is_none());
    }

    #[test]
    fn static_members_sort_first_by_instance_id_then_dynamic_by_member_id() {
        let mut members = [
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]).with_group_instance_id("z"),
            MemberSubscription::new("c", ["t"]).with_group_instance_id("y"),
            MemberSubscription::new("0", ["t"]),
        ];
        members.sort_by(kafka_member_order);
        let order: Vec<_> = members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(order, ["c", "b", "0", "a"]);
    }

    #[test]
    fn a_repeated_member_id_counts_once() {
        let members = [
            MemberSubscription::new("a", ["t0"]),
            MemberSubscription::new("a", ["t1"]),
            MemberSubscription::new("b", ["t1"]),
        ];
        let unique = unique_members(&members);
        assert_eq!(unique.len(), 2);
        assert_eq!(unique[0].topics, ["t0"]);
    }
}

/// Generators and checks shared by the assignors' tests.
#[cfg(test)]
mod test_support {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::{Assignment, MemberSubscription};

    pub(super) fn tp(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    pub(super) fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
        counts
            .iter()
            .map(|&(topic, count)| (topic.to_string(), count))
            .collect()
    }

    /// Up to five topics `t0`.. of 0–12 partitions (an empty topic must be skipped).
    pub(super) fn arb_topics() -> impl Strategy<Value = BTreeMap<String, i32>> {
        prop::collection::vec(0..=12i32, 1..=5).prop_map(|counts| {
            counts
                .into_iter()
                .enumerate()
                .map(|(i, n)| (format!("t{i}"), n))
                .collect()
        })
    }

    /// 1–8 members, each subscribed to a non-empty subset of `t0..t5` (t5 never exists), some of
    /// them static. Member ids are unique.
    pub(super) fn arb_members() -> impl Strategy<Value = Vec<MemberSubscription>> {
        let member = (
            prop::collection::btree_set(0..6usize, 1..=6),
            prop::option::of(0..4u8),
        );
        prop::collection::vec(member, 1..=8).prop_map(|members| {
            members
                .into_iter()
                .enumerate()
                .map(|(i, (topics, instance))| {
                    let member =
                        MemberSubscription::new(format!("m{i}"), topics.iter().map(|t| format!("t{t}")));
                    match instance {
                        Some(instance) => member.with_group_instance_id(format!("i{instance}-{i}")),
                        None => member,
                    }
                })
                .collect()
        })
    }

    /// 1–8 members that all subscribe to every topic of `topics`.
    pub(super) fn identical_members(count: usize, topics: &BTreeMap<String, i32>) -> Vec<MemberSubscription> {
        (0..count)
            .map(|i| MemberSubscription::new(format!("m{i}"), topics.keys()))
            .collect()
    }

    /// The partitions that ought to be assigned: those of topics that exist and someone subscribes.
    pub(super) fn assignable(
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeSet<(String, i32)> {
        let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
        partitions_per_topic
            .iter()
            .filter(|(topic, _)| subscribed.contains(topic))
            .flat_map(|(topic, &count)| (0..count).map(move |p| (topic.clone(), p)))
            .collect()
    }

    /// Every member has an entry, no partition goes to two members, and a partition only goes to
    /// a member subscribed to its topic, and exists.
    pub(super) fn check_valid(
        assignment: &Assignment,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Result<(), TestCaseError> {
        let by_id: BTreeMap<&str, &MemberSubscription> =
            members.iter().map(|m| (m.member_id.as_str(), m)).collect();
        prop_assert_eq!(
            assignment.as_map().keys().map(String::as_str).collect::<Vec<_>>(),
            by_id.keys().copied().collect::<Vec<_>>()
        );
        let mut seen = BTreeSet::new();
        for (member, partitions) in assignment.iter() {
            for (topic, partition) in partitions {
                prop_assert!(
                    seen.insert((topic, partition)),
                    "{topic}-{partition} assigned twice"
                );
                prop_assert!(
                    by_id[member].topics.contains(topic),
                    "{member} got {topic}-{partition} unsubscribed"
                );
                let count = partitions_per_topic.get(topic).copied().unwrap_or(0);
                prop_assert!(
                    (0..count).contains(partition),
                    "{topic}-{partition} does not exist"
                );
            }
        }
        Ok(())
    }

    /// `check_valid`, and every assignable partition is assigned.
    pub(super) fn check_complete(
        assignment: &Assignment,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Result<(), TestCaseError> {
        check_valid(assignment, partitions_per_topic, members)?;
        let assigned: BTreeSet<(String, i32)> =
            assignment.iter().flat_map(|(_, ps)| ps.iter().cloned()).collect();
        prop_assert_eq!(assigned, assignable(partitions_per_topic, members));
        Ok(())
    }

    pub(super) fn load_spread(assignment: &Assignment) -> usize {
        let loads: Vec<usize> = assignment
            .iter()
            .map(|(_, partitions)| partitions.len())
            .collect();
        loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0)
    }
}
