//! Kafka's `RangeAssignor`: each topic on its own, split into contiguous ranges.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Assignment, Assignor, MemberSubscription, RebalanceProtocol, empty_lists, kafka_member_order,
    partition_count, unique_members,
};

/// Per topic, the members subscribed to it in Kafka's member order (static members by
/// `group.instance.id`, then dynamic ones by member id) take contiguous ranges of partitions; the
/// first `partitions % members` of them take one extra.
///
/// As Kafka's own documentation warns, the remainders of all topics land on the same first
/// members, so with many topics the load is uneven; that is the point of co-partitioning (`t0p1`
/// and `t1p1` go to the same member).
///
/// Kafka 3.5 made this assignor rack-aware (KIP-881), preferring members in the rack of a
/// partition's replicas. That needs partition replica racks, which [`Assignor::assign`] is not
/// given, so this is the rack-oblivious algorithm Kafka also falls back to when racks are unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range;

impl Assignor for Range {
    fn name(&self) -> &'static str {
        "range"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment {
        let members = unique_members(members);
        let mut lists = empty_lists(&members);
        let mut members_per_topic: BTreeMap<&str, Vec<&MemberSubscription>> = BTreeMap::new();
        for &member in &members {
            let topics: BTreeSet<&str> = member.topics.iter().map(String::as_str).collect();
            for topic in topics {
                members_per_topic.entry(topic).or_default().push(member);
            }
        }
        for (topic, mut subscribers) in members_per_topic {
            let Some(count) = partition_count(partitions_per_topic, topic) else {
                continue;
            };
            subscribers.sort_by(|a, b| kafka_member_order(a, b));
            let count = count as usize;
            let per_member = count / subscribers.len();
            let with_extra = count % subscribers.len();
            for (i, member) in subscribers.iter().enumerate() {
                let start = per_member * i + i.min(with_extra);
                let len = per_member + usize::from(i < with_extra);
                let list = lists.entry(member.member_id.clone()).or_default();
                list.extend((start..start + len).map(|p| (topic.to_string(), p as i32)));
            }
        }
        Assignment::from(lists)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::test_support::{arb_members, arb_topics, check_complete, topics, tp};
    use super::*;

    #[test]
    fn kafka_documented_example_two_consumers_two_topics_of_three() {
        let partitions = topics(&[("t0", 3), ("t1", 3)]);
        let members = [
            MemberSubscription::new("C0", ["t0", "t1"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
        ];
        let assignment = Range.assign(&partitions, &members);
        assert_eq!(
            assignment.partitions("C0"),
            [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
        assert_eq!(assignment.partitions("C1"), [tp("t0", 2), tp("t1", 2)]);
    }

    #[test]
    fn the_first_members_take_the_remainder() {
        let partitions = topics(&[("t", 7)]);
        let members = [
            MemberSubscription::new("c", ["t"]),
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]),
        ];
        let assignment = Range.assign(&partitions, &members);
        assert_eq!(assignment.partitions("a"), [tp("t", 0), tp("t", 1), tp("t", 2)]);
        assert_eq!(assignment.partitions("b"), [tp("t", 3), tp("t", 4)]);
        assert_eq!(assignment.partitions("c"), [tp("t", 5), tp("t", 6)]);
    }

    #[test]
    fn static_members_are_ordered_by_instance_id_ahead_of_dynamic_members() {
        let partitions = topics(&[("t", 3)]);
        let members = [
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]).with_group_instance_id("z"),
            MemberSubscription::new("c", ["t"]).with_group_instance_id("y"),
        ];
        let assignment = Range.assign(&partitions, &members);
        assert_eq!(assignment.partitions("c"), [tp("t", 0)]);
        assert_eq!(assignment.partitions("b"), [tp("t", 1)]);
        assert_eq!(assignment.partitions("a"), [tp("t", 2)]);
    }

    #[test]
    fn each_topic_is_split_among_its_own_subscribers() {
        let partitions = topics(&[("t0", 2), ("t1", 2)]);
        let members = [
            MemberSubscription::new("C0", ["t0"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
        ];
        let assignment = Range.assign(&partitions, &members);
        assert_eq!(assignment.partitions("C0"), [tp("t0", 0)]);
        assert_eq!(
            assignment.partitions("C1"),
            [tp("t0", 1), tp("t1", 0), tp("t1", 1)]
        );
    }

    #[test]
    fn unknown_and_empty_topics_are_skipped_and_every_member_gets_an_entry() {
        let partitions = topics(&[("t0", 1), ("empty", 0)]);
        let members = [
            MemberSubscription::new("C0", ["t0", "missing", "empty"]),
            MemberSubscription::new("C1", ["missing"]),
        ];
        let assignment = Range.assign(&partitions, &members);
        assert_eq!(assignment.partitions("C0"), [tp("t0", 0)]);
        assert_eq!(assignment.as_map().get("C1"), Some(&Vec::new()));
    }

    proptest! {
        #[test]
        fn every_subscribed_partition_goes_to_exactly_one_subscriber(
            partitions in arb_topics(),
            members in arb_members(),
        ) {
            let assignment = Range.assign(&partitions, &members);
            check_complete(&assignment, &partitions, &members)?;
            // Per topic, the subscribers' shares differ by at most one.
            for topic in partitions.keys() {
                let shares: Vec<usize> = members
                    .iter()
                    .filter(|m| m.topics.contains(topic))
                    .map(|m| assignment.partitions(&m.member_id).iter().filter(|(t, _)| t == topic).count())
                    .collect();
                if let (Some(max), Some(min)) = (shares.iter().max(), shares.iter().min()) {
                    prop_assert!(max - min <= 1, "{topic}: {shares:?}");
                }
            }
        }
    }
}
