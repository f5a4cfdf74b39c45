//! Random sequences of client requests, appends and passing time: the coordinator never
//! panics, keeps its invariants after every step, and answers every parked request.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const CLIENTS: usize = 5;
/// Clients 0 and 1 are static members.
const STATIC: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// The client does what a well-behaved consumer would do next.
    Step {
        client: usize,
    },
    Join {
        client: usize,
        protocols: usize,
    },
    /// The client's process restarts: it forgets its member id (static ones keep their
    /// instance id, so this is how an instance gets fenced or replaced).
    Restart {
        client: usize,
    },
    Sync {
        client: usize,
    },
    Heartbeat {
        client: usize,
    },
    Leave {
        client: usize,
    },
    Commit {
        client: usize,
    },
    Advance {
        ms: i64,
    },
    CompleteAppend {
        ok: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        30 => client.clone().prop_map(|client| Op::Step { client }),
        2 => (client.clone(), 0..3usize).prop_map(|(client, protocols)| Op::Join { client, protocols }),
        1 => client.clone().prop_map(|client| Op::Restart { client }),
        1 => client.clone().prop_map(|client| Op::Sync { client }),
        1 => client.clone().prop_map(|client| Op::Heartbeat { client }),
        1 => client.clone().prop_map(|client| Op::Leave { client }),
        2 => client.prop_map(|client| Op::Commit { client }),
        // Mostly less than a session, sometimes past a session or rebalance timeout.
        3 => prop_oneof![6 => 0..1_000i64, 1 => 0..20_000i64].prop_map(|ms| Op::Advance { ms }),
        // Most appends succeed.
        5 => prop_oneof![6 => Just(true), 1 => Just(false)].prop_map(|ok| Op::CompleteAppend { ok }),
    ]
}

#[derive(Debug, Default, Clone)]
struct Client {
    member_id: String,
    generation: Option<Generation>,
    members: Vec<JoinedMember>,
    synced: Option<Generation>,
    rejoin: bool,
    outstanding: Option<ReplyId>,
    /// Bumped when the process restarts: answers to an earlier incarnation are ignored.
    incarnation: u32,
}

impl Client {
    fn restart(&mut self) {
        *self = Client {
            incarnation: self.incarnation + 1,
            ..Client::default()
        };
    }
}

fn protocols(variant: usize) -> Vec<Protocol> {
    let range = Protocol::new("range", subscription(&["t"]));
    let sticky = Protocol::new("sticky", subscription(&["t", "u"]));
    match variant {
        0 => vec![range],
        1 => vec![sticky, range],
        _ => vec![range, sticky],
    }
}

struct World {
    h: Harness,
    clients: Vec<Client>,
    /// Which client (and incarnation) each parked request belongs to.
    issued: BTreeMap<ReplyId, (usize, u32)>,
    answered: BTreeSet<ReplyId>,
    last_generation: Generation,
}

impl World {
    fn new(initial_delay: i32) -> World {
        let mut h = Harness::with_config(test_config().with_group_initial_rebalance_delay_ms(initial_delay));
        h.hold_appends = true;
        World {
            h,
            clients: vec![Client::default(); CLIENTS],
            issued: BTreeMap::new(),
            answered: BTreeSet::new(),
            last_generation: Generation(0),
        }
    }

    fn instance(client: usize) -> Option<String> {
        (client < STATIC).then(|| format!("i{client}"))
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Step { client } => {
                let c = &self.clients[client];
                let next = if c.outstanding.is_some() {
                    if c.generation.is_none() {
                        return;
                    }
                    Op::Heartbeat { client }
                } else if c.generation.is_none() || c.rejoin {
                    Op::Join { client, protocols: 0 }
                } else if c.synced != c.generation {
                    Op::Sync { client }
                } else {
                    Op::Heartbeat { client }
                };
                return self.apply(&next);
            }
            Op::Join {
                client,
                protocols: variant,
            } => {
                let mut req = join_request("g", &format!("c{client}"))
                    .with_member_id(self.clients[client].member_id.clone())
                    .with_protocols(protocols(variant))
                    .with_rebalance_timeout_ms(5_000);
                req.group_instance_id = World::instance(client);
                self.clients[client].rejoin = false;
                let reply = self.h.join(req);
                self.issued
                    .insert(reply, (client, self.clients[client].incarnation));
                self.clients[client].outstanding = Some(reply);
            }
            Op::Restart { client } => self.clients[client].restart(),
            Op::Sync { client } => {
                let c = &self.clients[client];
                let Some(generation) = c.generation else { return };
                let req = SyncRequest {
                    group_id: "g".into(),
                    generation,
                    member_id: c.member_id.clone(),
                    group_instance_id: World::instance(client),
                    protocol_type: None,
                    protocol_name: None,
                    assignments: c
                        .members
                        .iter()
                        .map(|m| MemberAssignment {
                            member_id: m.member_id.clone(),
                            assignment: Bytes::from("x"),
                        })
                        .collect(),
                };
                let reply = self.h.sync(req);
                self.issued
                    .insert(reply, (client, self.clients[client].incarnation));
                self.clients[client].outstanding = Some(reply);
            }
            Op::Heartbeat { client } => {
                let c = &self.clients[client];
                let req = HeartbeatRequest {
                    group_id: "g".into(),
                    generation: c.generation.unwrap_or(Generation::NONE),
                    member_id: c.member_id.clone(),
                    group_instance_id: World::instance(client),
                };
                match self.h.state.heartbeat(req, self.h.now) {
                    Err(GroupError::RebalanceInProgress | GroupError::IllegalGeneration { .. }) => {
                        self.clients[client].rejoin = true;
                    }
                    Err(GroupError::UnknownMemberId | GroupError::FencedInstanceId) => {
                        self.clients[client].generation = None;
                        self.clients[client].member_id.clear();
                    }
                    _ => {}
                }
            }
            Op::Leave { client } => {
                let instance = World::instance(client);
                let _ = self
                    .h
                    .leave("g", &self.clients[client].member_id.clone(), instance.as_deref());
                self.clients[client].restart();
            }
            Op::Commit { client } => {
                let c = &self.clients[client];
                let req = CommitRequest {
                    group_id: "g".into(),
                    generation: c.generation.unwrap_or(Generation::NONE),
                    member_id: c.member_id.clone(),
                    group_instance_id: if c.member_id.is_empty() {
                        None
                    } else {
                        World::instance(client)
                    },
                    offsets: vec![PartitionOffset::new(topic("t"), client as i32, 1)],
                };
                let reply = self.h.commit(req);
                self.issued
                    .insert(reply, (client, self.clients[client].incarnation));
            }
            Op::Advance { ms } => self.h.advance(ms),
            Op::CompleteAppend { ok } => {
                if self.h.held.is_empty() {
                    return;
                }
                let append = self.h.held.remove(0);
                let result = if ok {
                    Ok(())
                } else {
                    Err(GroupError::NotCoordinator)
                };
                let more = self.h.state.append_done(append.id, result, self.h.now);
                self.h.handle(more);
            }
        }
        self.route_answers();
        self.check();
    }

    /// Gives each client what it was answered, as a real client would take it.
    fn route_answers(&mut self) {
        for (reply, output) in std::mem::take(&mut self.h.answers) {
            assert!(self.answered.insert(reply), "{reply:?} answered twice");
            let (index, incarnation) = self.issued[&reply];
            let client = &mut self.clients[index];
            if client.incarnation != incarnation {
                continue;
            }
            if client.outstanding == Some(reply) {
                client.outstanding = None;
            }
            match output {
                Output::Join {
                    result: Ok(joined), ..
                } => {
                    client.member_id = joined.member_id;
                    client.generation = Some(joined.generation);
                    client.members = joined.members;
                    client.rejoin = false;
                }
                Output::Join {
                    result: Err(GroupError::MemberIdRequired { member_id }),
                    ..
                } => {
                    client.member_id = member_id;
                    client.rejoin = true;
                }
                Output::Join {
                    result: Err(GroupError::UnknownMemberId | GroupError::FencedInstanceId),
                    ..
                }
                | Output::Sync {
                    result: Err(GroupError::UnknownMemberId | GroupError::FencedInstanceId),
                    ..
                } => {
                    client.restart();
                }
                Output::Sync { result: Ok(_), .. } => client.synced = client.generation,
                Output::Join { result: Err(_), .. } | Output::Sync { result: Err(_), .. } => {
                    client.rejoin = true
                }
                Output::Commit { .. } | Output::Append(_) => {}
            }
        }
    }

    fn check(&mut self) {
        self.h.state.check_invariants().unwrap();
        if let Some(generation) = self.h.state.generation("g") {
            assert!(
                generation >= self.last_generation,
                "generation went from {} to {generation}",
                self.last_generation
            );
            self.last_generation = generation;
        }
        if let Some(group) = self.h.state.groups.get("g") {
            if group.state == GroupState::Stable {
                for member in group.members.values() {
                    assert!(
                        !member.assignment.is_empty(),
                        "{} has no assignment in Stable",
                        member.id
                    );
                }
            }
        }
    }

    /// Stores what is pending and lets every timeout run out: every member ends up gone and
    /// every parked request answered.
    fn drain(&mut self) {
        while !self.h.held.is_empty() {
            self.apply(&Op::CompleteAppend { ok: true });
        }
        for _ in 0..10 {
            self.apply(&Op::Advance { ms: 60_000 });
        }
        let members = self.h.state.groups.get("g").map_or(0, |g| g.members.len());
        assert_eq!(members, 0, "every member timed out");
        let unanswered: Vec<&ReplyId> = self
            .issued
            .keys()
            .filter(|r| !self.answered.contains(r))
            .collect();
        assert!(unanswered.is_empty(), "never answered: {unanswered:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_client_behaviour_never_breaks_the_coordinator(
        initial_delay in prop_oneof![Just(0), Just(3_000)],
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let mut world = World::new(initial_delay);
        for op in &ops {
            world.apply(op);
        }
        world.drain();
    }
}

#[test]
fn well_behaved_clients_reach_a_stable_group() {
    let mut world = World::new(0);
    for client in 0..CLIENTS {
        world.apply(&Op::Join { client, protocols: 0 });
    }
    // The dynamic ones were handed a member id; they join again with it.
    for client in STATIC..CLIENTS {
        world.apply(&Op::Join { client, protocols: 0 });
    }
    world.apply(&Op::Advance { ms: 0 });
    for client in 0..CLIENTS {
        world.apply(&Op::Sync { client });
    }
    world.apply(&Op::CompleteAppend { ok: true });
    assert_eq!(world.h.state_of("g"), Some(GroupState::Stable));
    assert_eq!(world.h.state.groups["g"].members.len(), CLIENTS);
    world.drain();
}
