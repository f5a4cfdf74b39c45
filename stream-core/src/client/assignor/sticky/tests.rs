use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::super::test_support::{
    arb_members, arb_topics, assignable, check_complete, check_valid, identical_members, load_spread, topics,
    tp,
};
use super::*;

const COOPERATIVE: Sticky = Sticky::cooperative();
const EAGER: Sticky = Sticky::eager();

/// The members as they rejoin after `assignment`: owning what it gave them, one generation on.
fn rejoin(members: &[MemberSubscription], assignment: &Assignment) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| {
            m.clone()
                .with_owned_partitions(assignment.partitions(&m.member_id).to_vec())
                .with_generation(m.generation + 1)
        })
        .collect()
}

/// Rebalances, each fed the previous one's assignment, until one changes nothing (or
/// `max_rounds`); every round's assignment.
fn rebalance_until_stable(
    assignor: &Sticky,
    partitions: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    max_rounds: usize,
) -> Vec<Assignment> {
    let mut rounds: Vec<Assignment> = vec![assignor.assign(partitions, members)];
    let mut members = members.to_vec();
    while rounds.len() < max_rounds {
        let last = &rounds[rounds.len() - 1];
        members = rejoin(&members, last);
        let next = assignor.assign(partitions, &members);
        if &next == last {
            break;
        }
        rounds.push(next);
    }
    rounds
}

/// KIP-429: no partition is assigned to anyone but a member that owns it.
fn check_no_transfer(assignment: &Assignment, members: &[MemberSubscription]) -> Result<(), TestCaseError> {
    for (member, partitions) in assignment.iter() {
        for partition in partitions {
            for other in members.iter().filter(|m| m.member_id != member) {
                prop_assert!(
                    !other.owned_partitions.contains(partition),
                    "{partition:?} handed to {member} while {} owns it",
                    other.member_id
                );
            }
        }
    }
    Ok(())
}

/// No member could hand a partition straight to a subscriber of its topic holding two fewer.
fn check_no_direct_relief(
    assignment: &Assignment,
    members: &[MemberSubscription],
) -> Result<(), TestCaseError> {
    for (giver, partitions) in assignment.iter() {
        for taker in members {
            let gap = partitions.len() as i64 - assignment.partitions(&taker.member_id).len() as i64;
            let can_take = partitions.iter().any(|(topic, _)| taker.topics.contains(topic));
            prop_assert!(
                !(can_take && gap >= 2),
                "{giver} could pass one to {}",
                taker.member_id
            );
        }
    }
    Ok(())
}

/// The fewest owned partitions that must change owner for identical subscriptions to be
/// balanced, given how many each member owns and how many partitions there are: the
/// `total % members` ceiling slots go to the members that own most.
fn fewest_revocations(owned: &[usize], total: usize) -> usize {
    let (floor, ceiling_slots) = (total / owned.len(), total % owned.len());
    let mut owned = owned.to_vec();
    owned.sort_unstable_by(|a, b| b.cmp(a));
    owned
        .iter()
        .enumerate()
        .map(|(i, &count)| count.saturating_sub(floor + usize::from(i < ceiling_slots)))
        .sum()
}

/// Partitions that `members` owned and `assignment` does not leave with them.
fn revoked(members: &[MemberSubscription], assignment: &Assignment) -> usize {
    let kept = |m: &MemberSubscription| assignment.partitions(&m.member_id).to_vec();
    members
        .iter()
        .map(|m| m.owned_partitions.iter().filter(|p| !kept(m).contains(p)).count())
        .sum()
}

fn owners_of(assignment: &Assignment) -> BTreeMap<(String, i32), String> {
    assignment
        .iter()
        .flat_map(|(member, partitions)| partitions.iter().map(move |p| (p.clone(), member.to_string())))
        .collect()
}

/// `StickyAssignor`'s javadoc: C0 ⊂ C1 ⊂ C2 in subscriptions; sticky balances where round
/// robin gives C2 four.
#[test]
fn kafka_documented_example_with_nested_subscriptions() {
    let partitions = topics(&[("t0", 1), ("t1", 2), ("t2", 3)]);
    let members = [
        MemberSubscription::new("C0", ["t0"]),
        MemberSubscription::new("C1", ["t0", "t1"]),
        MemberSubscription::new("C2", ["t0", "t1", "t2"]),
    ];
    let first = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(first.partitions("C0"), [tp("t0", 0)]);
    assert_eq!(first.partitions("C1"), [tp("t1", 0), tp("t1", 1)]);
    assert_eq!(first.partitions("C2"), [tp("t2", 0), tp("t2", 1), tp("t2", 2)]);

    // C0 leaves: its partition goes to C1 in the same round, nothing else moves.
    let rest = rejoin(&members[1..], &first);
    let second = COOPERATIVE.assign(&partitions, &rest);
    assert_eq!(second.partitions("C1"), [tp("t0", 0), tp("t1", 0), tp("t1", 1)]);
    assert_eq!(second.partitions("C2"), [tp("t2", 0), tp("t2", 1), tp("t2", 2)]);
}

/// `StickyAssignor`'s javadoc: three consumers, four topics of two; C1 leaves and C0 and C2
/// keep everything they had.
#[test]
fn kafka_documented_example_a_member_leaves() {
    let partitions = topics(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
    let members = identical_members(3, &partitions);
    let first = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(first.partitions("m0"), [tp("t0", 0), tp("t1", 1), tp("t3", 0)]);
    assert_eq!(first.partitions("m1"), [tp("t0", 1), tp("t2", 0), tp("t3", 1)]);
    assert_eq!(first.partitions("m2"), [tp("t1", 0), tp("t2", 1)]);

    let rest = rejoin(&[members[0].clone(), members[2].clone()], &first);
    let second = COOPERATIVE.assign(&partitions, &rest);
    assert_eq!(
        second.partitions("m0"),
        [tp("t0", 0), tp("t1", 1), tp("t2", 0), tp("t3", 0)]
    );
    assert_eq!(
        second.partitions("m2"),
        [tp("t0", 1), tp("t1", 0), tp("t2", 1), tp("t3", 1)]
    );
}

#[test]
fn cooperative_join_revokes_first_and_assigns_in_the_next_round() {
    let partitions = topics(&[("t0", 3), ("t1", 3)]);
    let all: Vec<_> = (0..3).flat_map(|p| [tp("t0", p), tp("t1", p)]).collect();
    let members = [
        MemberSubscription::new("A", ["t0", "t1"])
            .with_owned_partitions(all)
            .with_generation(1),
        MemberSubscription::new("B", ["t0", "t1"]),
    ];
    let first = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(first.partitions("A"), [tp("t1", 0), tp("t1", 1), tp("t1", 2)]);
    assert_eq!(first.partitions("B"), []);

    let second = COOPERATIVE.assign(&partitions, &rejoin(&members, &first));
    assert_eq!(second.partitions("A"), [tp("t1", 0), tp("t1", 1), tp("t1", 2)]);
    assert_eq!(second.partitions("B"), [tp("t0", 0), tp("t0", 1), tp("t0", 2)]);
}

#[test]
fn eager_join_moves_partitions_at_once_and_keeps_the_rest() {
    let partitions = topics(&[("t0", 3), ("t1", 3)]);
    let all: Vec<_> = (0..3).flat_map(|p| [tp("t0", p), tp("t1", p)]).collect();
    let members = [
        MemberSubscription::new("A", ["t0", "t1"])
            .with_owned_partitions(all)
            .with_generation(1),
        MemberSubscription::new("B", ["t0", "t1"]),
    ];
    let assignment = EAGER.assign(&partitions, &members);
    assert_eq!(
        assignment.partitions("A"),
        [tp("t1", 0), tp("t1", 1), tp("t1", 2)]
    );
    assert_eq!(
        assignment.partitions("B"),
        [tp("t0", 0), tp("t0", 1), tp("t0", 2)]
    );
}

#[test]
fn the_claim_of_the_highest_generation_wins() {
    let partitions = topics(&[("t0", 2)]);
    let members = [
        MemberSubscription::new("A", ["t0"])
            .with_owned_partitions([tp("t0", 0)])
            .with_generation(3),
        MemberSubscription::new("B", ["t0"])
            .with_owned_partitions([tp("t0", 0), tp("t0", 1)])
            .with_generation(2),
    ];
    let assignment = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(assignment.partitions("A"), [tp("t0", 0)]);
    assert_eq!(assignment.partitions("B"), [tp("t0", 1)]);
}

#[test]
fn claims_tied_in_generation_leave_the_partition_free_to_assign() {
    let partitions = topics(&[("t0", 2)]);
    let members = [
        MemberSubscription::new("A", ["t0"])
            .with_owned_partitions([tp("t0", 0)])
            .with_generation(3),
        MemberSubscription::new("B", ["t0"])
            .with_owned_partitions([tp("t0", 0)])
            .with_generation(3),
        MemberSubscription::new("C", ["t0"])
            .with_owned_partitions([tp("t0", 1)])
            .with_generation(3),
    ];
    let assignment = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(assignment.partitions("A"), [tp("t0", 0)]);
    assert_eq!(assignment.partitions("B"), []);
    assert_eq!(assignment.partitions("C"), [tp("t0", 1)]);
}

#[test]
fn a_partition_whose_owner_unsubscribed_is_withheld_for_one_round() {
    let partitions = topics(&[("t0", 1), ("t1", 1)]);
    let members = [
        MemberSubscription::new("A", ["t0"])
            .with_owned_partitions([tp("t1", 0)])
            .with_generation(1),
        MemberSubscription::new("B", ["t0", "t1"]).with_generation(1),
    ];
    let first = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(first.partitions("A"), [tp("t0", 0)]);
    assert_eq!(first.partitions("B"), []);
    let second = COOPERATIVE.assign(&partitions, &rejoin(&members, &first));
    assert_eq!(second.partitions("A"), [tp("t0", 0)]);
    assert_eq!(second.partitions("B"), [tp("t1", 0)]);

    let eager = EAGER.assign(&partitions, &members);
    assert_eq!(eager, second);
}

#[test]
fn claims_on_missing_topics_and_partitions_are_ignored() {
    let partitions = topics(&[("t0", 2)]);
    let members = [
        MemberSubscription::new("A", ["t0"])
            .with_owned_partitions([tp("gone", 0), tp("t0", 7), tp("t0", -1), tp("t0", 1)])
            .with_generation(1),
        MemberSubscription::new("B", ["t0"]).with_generation(1),
    ];
    let assignment = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(assignment.partitions("A"), [tp("t0", 1)]);
    assert_eq!(assignment.partitions("B"), [tp("t0", 0)]);
}

#[test]
fn a_chain_of_hand_offs_balances_where_no_single_move_can() {
    // Loads A 3, B 2, C 1: A cannot reach C (no common topic) and a direct move to B would
    // only swap their loads. The chain A -t0-> B -t1-> C evens them out.
    let partitions = topics(&[("t0", 3), ("t1", 3)]);
    let members = [
        MemberSubscription::new("A", ["t0"])
            .with_owned_partitions([tp("t0", 0), tp("t0", 1), tp("t0", 2)])
            .with_generation(1),
        MemberSubscription::new("B", ["t0", "t1"])
            .with_owned_partitions([tp("t1", 0), tp("t1", 1)])
            .with_generation(1),
        MemberSubscription::new("C", ["t1"])
            .with_owned_partitions([tp("t1", 2)])
            .with_generation(1),
    ];
    let eager = EAGER.assign(&partitions, &members);
    assert_eq!(eager.partitions("A"), [tp("t0", 1), tp("t0", 2)]);
    assert_eq!(eager.partitions("B"), [tp("t0", 0), tp("t1", 1)]);
    assert_eq!(eager.partitions("C"), [tp("t1", 0), tp("t1", 2)]);

    let first = COOPERATIVE.assign(&partitions, &members);
    assert_eq!(first.partitions("A"), [tp("t0", 1), tp("t0", 2)]);
    assert_eq!(first.partitions("B"), [tp("t1", 1)]);
    assert_eq!(first.partitions("C"), [tp("t1", 2)]);
    assert_eq!(COOPERATIVE.assign(&partitions, &rejoin(&members, &first)), eager);
}

/// Claims drawn at random: some on missing topics or partitions, some contested.
fn arb_claims() -> impl Strategy<Value = Vec<(Vec<(String, i32)>, i32)>> {
    let claim = (0..6usize, -1..14i32).prop_map(|(t, p)| (format!("t{t}"), p));
    prop::collection::vec((prop::collection::vec(claim, 0..8), 0..3i32), 8)
}

fn with_claims(
    members: Vec<MemberSubscription>,
    claims: Vec<(Vec<(String, i32)>, i32)>,
) -> Vec<MemberSubscription> {
    members
        .into_iter()
        .zip(claims)
        .map(|(member, (owned, generation))| member.with_owned_partitions(owned).with_generation(generation))
        .collect()
}

proptest! {
    #[test]
    fn any_claims_yield_a_valid_assignment(
        partitions in arb_topics(),
        members in arb_members(),
        claims in arb_claims(),
    ) {
        let members = with_claims(members, claims);
        check_complete(&EAGER.assign(&partitions, &members), &partitions, &members)?;

        // Cooperative leaves out only partitions that someone claims.
        let assignment = COOPERATIVE.assign(&partitions, &members);
        check_valid(&assignment, &partitions, &members)?;
        let assigned: BTreeSet<(String, i32)> =
            assignment.iter().flat_map(|(_, ps)| ps.iter().cloned()).collect();
        let claimed: BTreeSet<&(String, i32)> =
            members.iter().flat_map(|m| &m.owned_partitions).collect();
        for partition in assignable(&partitions, &members).difference(&assigned) {
            prop_assert!(claimed.contains(partition), "{partition:?} left out though nobody owns it");
        }
    }

    /// From a settled group, members leave, join and change subscriptions: the first round
    /// hands no owned partition to another member, and the second settles the group, complete
    /// and with no member able to relieve another directly.
    #[test]
    fn cooperative_rebalances_revoke_before_reassigning_and_settle(
        partitions in arb_topics(),
        before in arb_members(),
        after in arb_members(),
        stays in prop::collection::vec(any::<bool>(), 8),
    ) {
        let settled = rebalance_until_stable(&COOPERATIVE, &partitions, &before, 10);
        let previous = &settled[settled.len() - 1];
        check_complete(previous, &partitions, &before)?;
        let after: Vec<MemberSubscription> = after
            .into_iter()
            .zip(stays)
            .map(|(member, stays)| {
                let owned = if stays {
                    previous.partitions(&member.member_id).to_vec()
                } else {
                    Vec::new()
                };
                member.with_owned_partitions(owned).with_generation(5)
            })
            .collect();

        let rounds = rebalance_until_stable(&COOPERATIVE, &partitions, &after, 3);
        prop_assert!(rounds.len() <= 2, "{} rounds", rounds.len());
        check_no_transfer(&rounds[0], &after)?;
        let last = &rounds[rounds.len() - 1];
        check_complete(last, &partitions, &after)?;
        check_no_direct_relief(last, &after)?;
        prop_assert_eq!(&COOPERATIVE.assign(&partitions, &rejoin(&after, last)), last, "not settled");
    }

    #[test]
    fn identical_subscriptions_settle_balanced_revoking_the_fewest(
        partitions in arb_topics(),
        count in 1..=8usize,
        owners in prop::collection::vec(0..10usize, 60),
    ) {
        // Partition i is owned by member owners[i] (none when that is past the last member).
        let all: Vec<(String, i32)> = partitions
            .iter()
            .flat_map(|(topic, &n)| (0..n).map(move |p| (topic.clone(), p)))
            .collect();
        let members: Vec<MemberSubscription> = identical_members(count, &partitions)
            .into_iter()
            .enumerate()
            .map(|(m, member)| {
                let owned = all.iter().zip(&owners).filter(|&(_, &o)| o == m).map(|(p, _)| p.clone());
                member.with_owned_partitions(owned).with_generation(1)
            })
            .collect();
        let rounds = rebalance_until_stable(&COOPERATIVE, &partitions, &members, 3);
        prop_assert!(rounds.len() <= 2, "{} rounds", rounds.len());
        check_no_transfer(&rounds[0], &members)?;
        let last = &rounds[rounds.len() - 1];
        check_complete(last, &partitions, &members)?;
        prop_assert!(load_spread(last) <= 1);
        prop_assert_eq!(&COOPERATIVE.assign(&partitions, &rejoin(&members, last)), last, "not settled");

        let owned: Vec<usize> = members.iter().map(|m| m.owned_partitions.len()).collect();
        let fewest = fewest_revocations(&owned, all.len());
        prop_assert_eq!(revoked(&members, &rounds[0]), fewest);

        let eager = EAGER.assign(&partitions, &members);
        check_complete(&eager, &partitions, &members)?;
        prop_assert!(load_spread(&eager) <= 1);
        prop_assert_eq!(revoked(&members, &eager), fewest);
    }

    /// A newcomer to a balanced group of identical subscriptions: exactly the partitions that
    /// balance requires change owner, revoked in the first round, assigned in the second.
    #[test]
    fn a_join_moves_the_fewest_partitions_balance_allows(
        partitions in arb_topics(),
        count in 1..=7usize,
    ) {
        let group = identical_members(count, &partitions);
        let balanced = COOPERATIVE.assign(&partitions, &group);
        check_complete(&balanced, &partitions, &group)?;
        prop_assert!(load_spread(&balanced) <= 1);
        let loads: Vec<usize> = group.iter().map(|m| balanced.partitions(&m.member_id).len()).collect();
        let fewest = fewest_revocations(&[loads.as_slice(), &[0]].concat(), loads.iter().sum());

        let mut joined = rejoin(&group, &balanced);
        joined.push(MemberSubscription::new("new", partitions.keys()).with_generation(1));
        let rounds = rebalance_until_stable(&COOPERATIVE, &partitions, &joined, 3);
        prop_assert!(rounds.len() <= 2, "{} rounds", rounds.len());
        let withheld = assignable(&partitions, &joined).len()
            - rounds[0].iter().map(|(_, ps)| ps.len()).sum::<usize>();
        prop_assert_eq!(withheld, fewest);

        let last = &rounds[rounds.len() - 1];
        check_complete(last, &partitions, &joined)?;
        prop_assert!(load_spread(last) <= 1);
        let before = owners_of(&balanced);
        let moved = owners_of(last).iter().filter(|(p, owner)| before.get(*p) != Some(owner)).count();
        prop_assert_eq!(moved, fewest);

        let eager = EAGER.assign(&partitions, &joined);
        let moved = owners_of(&eager).iter().filter(|(p, owner)| before.get(*p) != Some(owner)).count();
        prop_assert_eq!(moved, fewest);
        prop_assert!(load_spread(&eager) <= 1);
    }
}
