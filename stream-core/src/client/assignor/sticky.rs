//! Kafka's sticky assignors: `StickyAssignor` (KIP-54) and `CooperativeStickyAssignor` (KIP-429).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{Assignment, Assignor, MemberSubscription, RebalanceProtocol, partition_count, unique_members};

/// A balanced assignment that moves as few owned partitions as it can.
///
/// - **Balanced.** Loads are as even as the subscriptions allow: with identical subscriptions
///   they differ by at most one; with different ones no member could pass a partition, directly
///   or along a chain of members each subscribed to the topic it receives, to a member with two
///   fewer. For restricted assignment that is the optimum (Harvey, Ladner, Lovász and Tamir,
///   *Semi-matchings for bipartite graphs and load balancing*, 2006): no other assignment has a
///   smaller maximum load or sum of squared loads.
/// - **Sticky.** A member keeps the partitions it owns (`owned_partitions`) unless balance needs
///   them elsewhere, and then the fewest are taken; with identical subscriptions, the fewest
///   possible.
/// - **Cooperative** ([`Sticky::cooperative`], `cooperative-sticky`). A partition whose owner is
///   still in the group and that must go to another member is left out of this assignment (KIP-429:
///   "the assignor removes partitions that are being transferred from the assignment"): its owner,
///   not assigned it any more, revokes it and rejoins, and the follow-up rebalance, in which nobody
///   owns it, assigns it. If the group does not change in between, that follow-up assigns
///   everything withheld and revokes nothing more: the rebalance settles in two rounds.
///   [`Sticky::eager`] (`sticky`) assigns such a partition at once.
///
/// Claims on the same partition are settled by generation: the claim made in the highest
/// generation stands. Claims tied at the highest generation contradict each other and all are
/// dropped, leaving the partition unowned and free to assign at once, as Kafka does with
/// partitions it finds "claimed by multiple consumers in the same generation".
///
/// How it assigns: each member keeps what it owns and still subscribes to; the rest goes, topics
/// with the fewest subscribers first, to the least-loaded subscriber; then, while a member holds
/// two more than some member it can reach by such a chain, the chain is applied, preferring
/// chains that revoke nothing, then those that revoke the fewest owned partitions. Each chain
/// lowers the sum of squared loads, so this ends. Why two rounds suffice: the follow-up round
/// keeps everything the first assigned and must only place what it withheld; the first round's
/// target is a balanced way to do that moving nothing owned, and while such a way exists, so does
/// a revoke-free chain (the semi-matching optimality condition applied to the withheld partitions
/// alone).
///
/// Departures from Kafka's `AbstractStickyAssignor`:
/// - One algorithm for all subscriptions. Kafka has a quota-based path for identical subscriptions
///   and a heuristic one, which is not always balanced, for the rest. Both keep the same owned
///   partitions where balance allows, but which partitions move can differ from Kafka's choice.
/// - Generations are compared per partition. Kafka's identical-subscription path ignores every
///   claim of a member whose generation is below the group's highest (its general path compares
///   per partition, as here).
/// - A partition owned by a member that no longer subscribes to its topic is withheld for one
///   round in cooperative mode; Kafka assigns it at once, trusting that the consumer revoked it
///   before rejoining.
/// - The eager `sticky` reads the previous assignment from `owned_partitions`; Kafka's
///   `StickyAssignor` also keeps it in its user data (`StickyAssignorUserData`), which we neither
///   read nor write, nor the generation Kafka writes into user data for v0/v1 subscriptions.
/// - No rack awareness (KIP-881): partition replica racks are not an input here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sticky {
    protocol: RebalanceProtocol,
}

impl Sticky {
    /// `cooperative-sticky`: Kafka's `CooperativeStickyAssignor`.
    pub const fn cooperative() -> Self {
        Sticky {
            protocol: RebalanceProtocol::Cooperative,
        }
    }

    /// `sticky`: Kafka's eager `StickyAssignor`.
    pub const fn eager() -> Self {
        Sticky {
            protocol: RebalanceProtocol::Eager,
        }
    }
}

impl Default for Sticky {
    fn default() -> Self {
        Sticky::cooperative()
    }
}

impl Assignor for Sticky {
    fn name(&self) -> &'static str {
        match self.protocol {
            RebalanceProtocol::Eager => "sticky",
            RebalanceProtocol::Cooperative => "cooperative-sticky",
        }
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment {
        let mut plan = Plan::new(partitions_per_topic, &unique_members(members));
        plan.keep_owned();
        plan.place_unassigned();
        plan.balance();
        plan.into_assignment(self.protocol)
    }
}

/// One member's partitions of one topic, split by what moving one costs.
#[derive(Debug, Clone, Default)]
struct Holding {
    /// Held by their previous owner: moving one revokes it.
    kept: BTreeSet<usize>,
    /// New to the holder in this rebalance: moving one costs nothing.
    fresh: BTreeSet<usize>,
}

/// Whether a relief chain may take partitions from their owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revoking {
    No,
    Allowed,
}

/// A hand-off along a chain: `partition` goes to member `to`.
#[derive(Debug, Clone, Copy)]
struct Move {
    partition: usize,
    to: usize,
}

/// The assignment being built. Members, topics and partitions are numbered: members by member id,
/// topics by name (only those that exist and someone subscribes to), and partitions globally, a
/// topic's partitions being `first[t]..first[t + 1]`.
#[derive(Debug)]
struct Plan<'a> {
    members: Vec<&'a MemberSubscription>,
    topics: Vec<&'a str>,
    first: Vec<usize>,
    topic_of: Vec<usize>,
    /// `subscribes[member][topic]`.
    subscribes: Vec<Vec<bool>>,
    /// Per topic, its subscribers in member order.
    subscribers: Vec<Vec<usize>>,
    /// Per partition, its previous owner once claims are settled.
    owner: Vec<Option<usize>>,
    /// Per partition, the member it is planned for.
    holder: Vec<Option<usize>>,
    load: Vec<usize>,
    /// Per member, its planned partitions by topic.
    held: Vec<BTreeMap<usize, Holding>>,
}

impl<'a> Plan<'a> {
    fn new(partitions_per_topic: &'a BTreeMap<String, i32>, members: &[&'a MemberSubscription]) -> Self {
        let mut members = members.to_vec();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let wanted: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        let mut topics = Vec::new();
        let mut first = Vec::new();
        let mut topic_of = Vec::new();
        for (topic, count) in wanted
            .into_iter()
            .filter_map(|topic| Some((topic, partition_count(partitions_per_topic, topic)?)))
        {
            first.push(topic_of.len());
            topic_of.extend(std::iter::repeat_n(topics.len(), count as usize));
            topics.push(topic);
        }
        first.push(topic_of.len());
        let subscribes: Vec<Vec<bool>> = members
            .iter()
            .map(|member| {
                let mut row = vec![false; topics.len()];
                for topic in &member.topics {
                    if let Ok(t) = topics.binary_search(&topic.as_str()) {
                        row[t] = true;
                    }
                }
                row
            })
            .collect();
        let subscribers = (0..topics.len())
            .map(|t| (0..members.len()).filter(|&m| subscribes[m][t]).collect())
            .collect();
        let partitions = topic_of.len();
        let mut plan = Plan {
            load: vec![0; members.len()],
            held: vec![BTreeMap::new(); members.len()],
            members,
            topics,
            first,
            topic_of,
            subscribes,
            subscribers,
            owner: Vec::new(),
            holder: vec![None; partitions],
        };
        plan.owner = plan.settle_claims();
        plan
    }

    fn partition_index(&self, topic: &str, partition: i32) -> Option<usize> {
        let t = self.topics.binary_search(&topic).ok()?;
        let partition = usize::try_from(partition).ok()?;
        let q = self.first[t] + partition;
        (q < self.first[t + 1]).then_some(q)
    }

    /// Each partition's previous owner: the member whose claim has the highest generation, or
    /// nobody when two members claim it in that generation. Claims on partitions that no longer
    /// exist, or of topics nobody subscribes to any more, are ignored.
    fn settle_claims(&self) -> Vec<Option<usize>> {
        #[derive(Clone, Copy)]
        struct Claim {
            generation: i32,
            member: usize,
            contested: bool,
        }
        let mut claims: Vec<Option<Claim>> = vec![None; self.topic_of.len()];
        for (member, subscription) in self.members.iter().enumerate() {
            let generation = subscription.generation;
            for (topic, partition) in &subscription.owned_partitions {
                let Some(q) = self.partition_index(topic, *partition) else {
                    continue;
                };
                let mine = Claim {
                    generation,
                    member,
                    contested: false,
                };
                claims[q] = Some(match claims[q] {
                    None => mine,
                    Some(claim) if claim.member == member || generation < claim.generation => claim,
                    Some(claim) if generation == claim.generation => Claim {
                        contested: true,
                        ..claim
                    },
                    Some(_) => mine,
                });
            }
        }
        claims
            .into_iter()
            .map(|claim| claim.filter(|c| !c.contested).map(|c| c.member))
            .collect()
    }

    fn place(&mut self, partition: usize, member: usize) {
        self.holder[partition] = Some(member);
        self.load[member] += 1;
        let holding = self.held[member].entry(self.topic_of[partition]).or_default();
        if self.owner[partition] == Some(member) {
            holding.kept.insert(partition);
        } else {
            holding.fresh.insert(partition);
        }
    }

    fn unplace(&mut self, partition: usize) {
        let Some(member) = self.holder[partition].take() else {
            return;
        };
        self.load[member] -= 1;
        let topic = self.topic_of[partition];
        if let Some(holding) = self.held[member].get_mut(&topic) {
            holding.kept.remove(&partition);
            holding.fresh.remove(&partition);
            if holding.kept.is_empty() && holding.fresh.is_empty() {
                self.held[member].remove(&topic);
            }
        }
    }

    /// Stickiness first: every owner keeps what it owns and still subscribes to, however many.
    /// Balancing then takes away only what it must.
    fn keep_owned(&mut self) {
        for partition in 0..self.owner.len() {
            let Some(member) = self.owner[partition] else {
                continue;
            };
            if self.subscribes[member][self.topic_of[partition]] {
                self.place(partition, member);
            }
        }
    }

    /// Every partition not kept goes to its least-loaded subscriber, the topics with the fewest
    /// subscribers first, while the others can still make up for it.
    fn place_unassigned(&mut self) {
        let mut order: Vec<usize> = (0..self.topics.len()).collect();
        order.sort_by_key(|&t| (self.subscribers[t].len(), t));
        for topic in order {
            for partition in self.first[topic]..self.first[topic + 1] {
                if self.holder[partition].is_some() {
                    continue;
                }
                let least_loaded = self.subscribers[topic]
                    .iter()
                    .copied()
                    .min_by_key(|&m| (self.load[m], m));
                if let Some(member) = least_loaded {
                    self.place(partition, member);
                }
            }
        }
    }

    /// Applies relief chains, from the most loaded members down, until there is none.
    fn balance(&mut self) {
        let receivers: Vec<usize> = (0..self.members.len())
            .filter(|&m| self.subscribes[m].contains(&true))
            .collect();
        loop {
            let Some(least) = receivers.iter().map(|&m| self.load[m]).min() else {
                return;
            };
            let mut sources: Vec<usize> = receivers
                .iter()
                .copied()
                .filter(|&m| self.load[m] >= least + 2)
                .collect();
            sources.sort_by_key(|&m| (Reverse(self.load[m]), m));
            // Chains that revoke nothing first, from any source: if this rebalance only places what
            // the last one withheld, they alone reach balance (the last target is one such way),
            // and the follow-up round revokes nothing more.
            let Some(chain) = self
                .first_relief_chain(&sources, Revoking::No)
                .or_else(|| self.first_relief_chain(&sources, Revoking::Allowed))
            else {
                return;
            };
            for hand_off in chain {
                self.unplace(hand_off.partition);
                self.place(hand_off.partition, hand_off.to);
            }
        }
    }

    /// The relief chain of the first of `sources` that has one.
    fn first_relief_chain(&self, sources: &[usize], revoking: Revoking) -> Option<Vec<Move>> {
        // A member reached from a source without relief, and loaded no more than it, has no
        // relief either: all it reaches, the source reaches, and none of that is two below it.
        let mut hopeless = vec![false; self.members.len()];
        for &source in sources {
            if hopeless[source] {
                continue;
            }
            match self.relief_chain(source, revoking) {
                Ok(chain) => return Some(chain),
                Err(reached) => {
                    for member in reached {
                        hopeless[member] |= self.load[member] <= self.load[source];
                    }
                }
            }
        }
        None
    }

    /// The cheapest chain of hand-offs by which `source` passes one partition's worth of load to
    /// a member holding at least two fewer, each member along it handing a partition of a topic
    /// the next one subscribes to. Its cost is the number of owners it takes a partition from
    /// (0-1 breadth-first search); among the cheapest, the least-loaded receiver wins. With
    /// `Revoking::No`, only partitions new to their holder are handed on. Without a chain, the
    /// members `source` reaches.
    fn relief_chain(&self, source: usize, revoking: Revoking) -> Result<Vec<Move>, Vec<usize>> {
        let Some(limit) = self.load[source].checked_sub(2) else {
            return Err(vec![source]);
        };
        let members = self.members.len();
        let mut cost = vec![usize::MAX; members];
        let mut via: Vec<Option<(usize, usize)>> = vec![None; members];
        let mut done = vec![false; members];
        let mut queue = VecDeque::from([(0, source)]);
        cost[source] = 0;
        let mut best: Option<(usize, usize, usize)> = None;
        while let Some((reached_at, member)) = queue.pop_front() {
            // The queue holds costs in order: nothing behind this can beat what was found.
            if best.is_some_and(|(found_at, ..)| found_at <= reached_at) {
                break;
            }
            if done[member] || reached_at > cost[member] {
                continue;
            }
            done[member] = true;
            for (&topic, holding) in &self.held[member] {
                let (partition, step) = match (holding.fresh.first(), holding.kept.first(), revoking) {
                    (Some(&partition), _, _) => (partition, 0),
                    (None, Some(&partition), Revoking::Allowed) => (partition, 1),
                    _ => continue,
                };
                let next_cost = reached_at + step;
                for &next in &self.subscribers[topic] {
                    if next_cost >= cost[next] {
                        continue;
                    }
                    cost[next] = next_cost;
                    via[next] = Some((member, partition));
                    if step == 0 {
                        queue.push_front((next_cost, next));
                    } else {
                        queue.push_back((next_cost, next));
                    }
                    let candidate = (next_cost, self.load[next], next);
                    if self.load[next] <= limit && best.is_none_or(|b| candidate < b) {
                        best = Some(candidate);
                    }
                }
            }
        }
        let Some((_, _, receiver)) = best else {
            return Err((0..members).filter(|&m| done[m]).collect());
        };
        let mut chain = Vec::new();
        let mut to = receiver;
        while let Some((from, partition)) = via[to] {
            chain.push(Move { partition, to });
            to = from;
        }
        Ok(chain)
    }

    fn into_assignment(self, protocol: RebalanceProtocol) -> Assignment {
        let mut lists: BTreeMap<String, Vec<(String, i32)>> = self
            .members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        for (partition, holder) in self.holder.iter().enumerate() {
            let Some(member) = *holder else {
                continue;
            };
            // KIP-429: a partition changing hands is first revoked, in this round, and assigned in
            // the next, so that two members never consume it at once.
            let transferring = self.owner[partition].is_some_and(|owner| owner != member);
            if protocol == RebalanceProtocol::Cooperative && transferring {
                continue;
            }
            let topic = self.topic_of[partition];
            let number = (partition - self.first[topic]) as i32;
            if let Some(list) = lists.get_mut(&self.members[member].member_id) {
                list.push((self.topics[topic].to_string(), number));
            }
        }
        Assignment::from(lists)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::super::test_support::{
        arb_members, arb_topics, assignable, check_complete, check_valid, identical_members, load_spread,
        topics, tp,
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
    fn check_no_transfer(
        assignment: &Assignment,
        members: &[MemberSubscription],
    ) -> Result<(), TestCaseError> {
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
            .map(|(member, (owned, generation))| {
                member.with_owned_partitions(owned).with_generation(generation)
            })
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
}
