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
    /// (0-1 breadth-first search); among the cheapest found, the least-loaded receiver wins. With
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
mod tests;
