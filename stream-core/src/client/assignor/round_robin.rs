//! Kafka's `RoundRobinAssignor`: all partitions dealt out one at a time.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Assignment, Assignor, MemberSubscription, RebalanceProtocol, empty_lists, kafka_member_order,
    partition_count, unique_members,
};

/// All subscribed partitions, sorted by (topic, partition), are dealt to the members in Kafka's
/// member order (static members by `group.instance.id`, then dynamic ones by member id), a member
/// being skipped when it does not subscribe to the partition's topic. With identical
/// subscriptions, member loads differ by at most one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundRobin;

impl Assignor for RoundRobin {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment {
        let mut members = unique_members(members);
        let mut lists = empty_lists(&members);
        members.sort_by(|a, b| kafka_member_order(a, b));
        let subscriptions: Vec<BTreeSet<&str>> = members
            .iter()
            .map(|m| m.topics.iter().map(String::as_str).collect())
            .collect();
        let topics: BTreeSet<&str> = subscriptions.iter().flatten().copied().collect();

        // The dealer's position survives across partitions and topics (Kafka's CircularIterator).
        let mut next = 0;
        for topic in topics {
            let Some(count) = partition_count(partitions_per_topic, topic) else {
                continue;
            };
            for partition in 0..count {
                // Someone subscribes to `topic`, or it would not be in `topics`: the search ends.
                let Some(offset) =
                    (0..members.len()).find(|k| subscriptions[(next + k) % members.len()].contains(topic))
                else {
                    break;
                };
                let chosen = (next + offset) % members.len();
                let list = lists.entry(members[chosen].member_id.clone()).or_default();
                list.push((topic.to_string(), partition));
                next = (chosen + 1) % members.len();
            }
        }
        Assignment::from(lists)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::test_support::{
        arb_members, arb_topics, check_complete, identical_members, load_spread, topics, tp,
    };
    use super::*;

    #[test]
    fn kafka_documented_example_two_consumers_two_topics_of_three() {
        let partitions = topics(&[("t0", 3), ("t1", 3)]);
        let members = [
            MemberSubscription::new("C0", ["t0", "t1"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
        ];
        let assignment = RoundRobin.assign(&partitions, &members);
        assert_eq!(
            assignment.partitions("C0"),
            [tp("t0", 0), tp("t0", 2), tp("t1", 1)]
        );
        assert_eq!(
            assignment.partitions("C1"),
            [tp("t0", 1), tp("t1", 0), tp("t1", 2)]
        );
    }

    /// The second example of `RoundRobinAssignor`'s javadoc: unequal subscriptions.
    #[test]
    fn kafka_documented_example_with_unequal_subscriptions() {
        let partitions = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let members = [
            MemberSubscription::new("C0", ["t0"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
            MemberSubscription::new("C2", ["t0", "t1", "t2"]),
        ];
        let assignment = RoundRobin.assign(&partitions, &members);
        assert_eq!(assignment.partitions("C0"), [tp("t0", 0)]);
        assert_eq!(assignment.partitions("C1"), [tp("t1", 0)]);
        assert_eq!(
            assignment.partitions("C2"),
            [tp("t1", 1), tp("t2", 0), tp("t2", 1), tp("t2", 2)]
        );
    }

    #[test]
    fn static_members_are_dealt_to_first() {
        let partitions = topics(&[("t", 3)]);
        let members = [
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]).with_group_instance_id("x"),
        ];
        let assignment = RoundRobin.assign(&partitions, &members);
        assert_eq!(assignment.partitions("b"), [tp("t", 0), tp("t", 2)]);
        assert_eq!(assignment.partitions("a"), [tp("t", 1)]);
    }

    #[test]
    fn unknown_and_empty_topics_are_skipped() {
        let partitions = topics(&[("t0", 2), ("empty", 0)]);
        let members = [
            MemberSubscription::new("C0", ["empty", "missing"]),
            MemberSubscription::new("C1", ["t0", "missing"]),
        ];
        let assignment = RoundRobin.assign(&partitions, &members);
        assert_eq!(assignment.partitions("C0"), []);
        assert_eq!(assignment.partitions("C1"), [tp("t0", 0), tp("t0", 1)]);
    }

    proptest! {
        #[test]
        fn every_subscribed_partition_goes_to_exactly_one_subscriber(
            partitions in arb_topics(),
            members in arb_members(),
        ) {
            check_complete(&RoundRobin.assign(&partitions, &members), &partitions, &members)?;
        }

        #[test]
        fn identical_subscriptions_are_balanced(partitions in arb_topics(), count in 1..=8usize) {
            let members = identical_members(count, &partitions);
            let assignment = RoundRobin.assign(&partitions, &members);
            check_complete(&assignment, &partitions, &members)?;
            prop_assert!(load_spread(&assignment) <= 1);
        }
    }
}
