//! The consumer's side of the classic group protocol: join, let the leader assign with the
//! chosen assignor, sync, heartbeat in the background, and apply eager or cooperative
//! (KIP-429) rebalances.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::assignor::{
    MemberSubscription, RebalanceProtocol, assignor_by_name, decode_assignment, decode_subscription,
    encode_assignment, encode_subscription,
};
use super::error::{ClientError, Result};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::group::{
    Generation, GroupCoordinator, GroupError, HeartbeatRequest, JoinRequest, LeaveRequest, MemberAssignment,
    MemberIdentity, Protocol, SyncRequest,
};
use crate::topic::{TopicName, TopicPartition};

const PROTOCOL_VERSION: i16 = 3;

/// Called when the group moves partitions to or from this consumer, from within `poll`.
pub trait RebalanceListener: Send + Sync {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
}

/// What the heartbeat task and `poll` share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub member_id: String,
    pub generation: Generation,
    pub need_rejoin: bool,
    pub last_poll: Instant,
    pub stopped: bool,
}

pub(crate) struct Membership {
    pub group_id: String,
    pub instance_id: Option<String>,
    pub topics: Vec<String>,
    pub owned: BTreeSet<TopicPartition>,
    pub protocol: RebalanceProtocol,
    pub strategies: Vec<String>,
    pub shared: Arc<Mutex<Shared>>,
    pub listener: Option<Box<dyn RebalanceListener>>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

/// What a completed rebalance changed.
#[derive(Debug, Default)]
pub(crate) struct Rebalanced {
    pub assigned: Vec<TopicPartition>,
    pub revoked: Vec<TopicPartition>,
}

pub(crate) fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Membership {
    pub fn new(group_id: String, instance_id: Option<String>, strategies: Vec<String>) -> Result<Membership> {
        let mut protocol = RebalanceProtocol::Cooperative;
        for name in &strategies {
            let assignor = assignor_by_name(name).ok_or_else(|| BrokerError::InvalidConfig {
                key: "partition.assignment.strategy".into(),
                value: name.clone(),
                reason: "expected range, roundrobin or cooperative-sticky".into(),
            })?;
            // Kafka: cooperative only when every configured assignor supports it.
            if assignor.rebalance_protocol() == RebalanceProtocol::Eager {
                protocol = RebalanceProtocol::Eager;
            }
        }
        Ok(Membership {
            group_id,
            instance_id,
            topics: Vec::new(),
            owned: BTreeSet::new(),
            protocol,
            strategies,
            shared: Arc::new(Mutex::new(Shared {
                member_id: String::new(),
                generation: Generation::NONE,
                need_rejoin: true,
                last_poll: Instant::now(),
                stopped: false,
            })),
            listener: None,
            heartbeat: None,
        })
    }

    pub fn start_heartbeat(
        &mut self,
        groups: Arc<GroupCoordinator>,
        interval: Duration,
        max_poll_interval: Duration,
    ) {
        if self.heartbeat.is_some() {
            return;
        }
        let shared = self.shared.clone();
        let group_id = self.group_id.clone();
        let instance_id = self.instance_id.clone();
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let (member_id, generation, overdue) = {
                    let s = lock(&shared);
                    if s.stopped {
                        return;
                    }
                    if s.need_rejoin || s.member_id.is_empty() {
                        continue;
                    }
                    (
                        s.member_id.clone(),
                        s.generation,
                        s.last_poll.elapsed() > max_poll_interval,
                    )
                };
                if overdue {
                    // max.poll.interval.ms passed without a poll: leave, as the Java client does,
                    // so the group can move this consumer's partitions.
                    let leave = LeaveRequest {
                        group_id: group_id.clone(),
                        members: vec![MemberIdentity {
                            member_id: member_id.clone(),
                            group_instance_id: instance_id.clone(),
                        }],
                    };
                    let _ = groups.leave_group(leave).await;
                    let mut s = lock(&shared);
                    s.member_id.clear();
                    s.need_rejoin = true;
                    continue;
                }
                let request = HeartbeatRequest {
                    group_id: group_id.clone(),
                    generation,
                    member_id,
                    group_instance_id: instance_id.clone(),
                };
                match groups.heartbeat(request).await {
                    Ok(()) => {}
                    Err(GroupError::UnknownMemberId) => {
                        let mut s = lock(&shared);
                        s.member_id.clear();
                        s.need_rejoin = true;
                    }
                    Err(_) => lock(&shared).need_rejoin = true,
                }
            }
        }));
    }

    pub fn stop_heartbeat(&mut self) {
        lock(&self.shared).stopped = true;
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }

    pub fn needs_rejoin(&self) -> bool {
        let s = lock(&self.shared);
        s.need_rejoin || s.member_id.is_empty()
    }

    pub fn identity(&self) -> (String, Generation) {
        let s = lock(&self.shared);
        (s.member_id.clone(), s.generation)
    }

    /// Joins (or rejoins) the group and returns what the rebalance changed. With the eager
    /// protocol, the caller has already revoked everything owned.
    pub async fn join(
        &mut self,
        broker: &Broker,
        groups: &GroupCoordinator,
        client_id: &str,
        session_timeout: Duration,
        rebalance_timeout: Duration,
    ) -> Result<Rebalanced> {
        loop {
            let (member_id, generation) = self.identity();
            let owned: Vec<(String, i32)> = self
                .owned
                .iter()
                .map(|tp| (tp.topic.to_string(), tp.partition))
                .collect();
            let mut protocols = Vec::new();
            for name in &self.strategies {
                let sub = MemberSubscription::new(member_id.clone(), self.topics.iter().cloned())
                    .with_owned_partitions(owned.clone())
                    .with_generation(generation.0);
                let bytes = encode_subscription(&sub, PROTOCOL_VERSION).map_err(protocol_error)?;
                protocols.push(Protocol::new(name.clone(), bytes));
            }
            let mut request = JoinRequest::new(self.group_id.clone(), client_id, "consumer", protocols)
                .with_member_id(member_id)
                .with_session_timeout_ms(session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(rebalance_timeout.as_millis() as i32);
            if let Some(id) = &self.instance_id {
                request = request.with_group_instance_id(id.clone());
            }
            let joined = match groups.join_group(request).await {
                Ok(joined) => joined,
                Err(GroupError::MemberIdRequired { member_id }) => {
                    lock(&self.shared).member_id = member_id;
                    continue;
                }
                Err(GroupError::UnknownMemberId) => {
                    lock(&self.shared).member_id.clear();
                    continue;
                }
                Err(GroupError::RebalanceInProgress) | Err(GroupError::IllegalGeneration { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            {
                let mut s = lock(&self.shared);
                s.member_id = joined.member_id.clone();
                s.generation = joined.generation;
            }
            let assignments = if joined.is_leader() {
                self.assign(
                    broker,
                    joined.protocol_name.as_deref().unwrap_or("range"),
                    &joined.members,
                )?
            } else {
                Vec::new()
            };
            let sync = SyncRequest {
                group_id: self.group_id.clone(),
                generation: joined.generation,
                member_id: joined.member_id.clone(),
                group_instance_id: self.instance_id.clone(),
                protocol_type: Some("consumer".into()),
                protocol_name: joined.protocol_name.clone(),
                assignments,
            };
            let synced = match groups.sync_group(sync).await {
                Ok(synced) => synced,
                Err(GroupError::UnknownMemberId) => {
                    lock(&self.shared).member_id.clear();
                    continue;
                }
                Err(GroupError::RebalanceInProgress) | Err(GroupError::IllegalGeneration { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let assignment = if synced.assignment.is_empty() {
                Vec::new()
            } else {
                decode_assignment(&synced.assignment)
                    .map_err(protocol_error)?
                    .partitions
            };
            let mut new = BTreeSet::new();
            for (topic, partition) in assignment {
                new.insert(TopicPartition::new(TopicName::new(&topic)?, partition));
            }
            let revoked: Vec<TopicPartition> = self.owned.difference(&new).cloned().collect();
            let assigned: Vec<TopicPartition> = new.difference(&self.owned).cloned().collect();
            self.owned = new;
            // KIP-429: partitions taken away in a cooperative round go to their new owner in a
            // follow-up rebalance, which this member triggers by rejoining.
            lock(&self.shared).need_rejoin =
                self.protocol == RebalanceProtocol::Cooperative && !revoked.is_empty();
            return Ok(Rebalanced { assigned, revoked });
        }
    }

    /// The leader's part: decode every member's subscription and run the chosen assignor.
    fn assign(
        &self,
        broker: &Broker,
        protocol: &str,
        members: &[crate::group::JoinedMember],
    ) -> Result<Vec<MemberAssignment>> {
        let assignor = assignor_by_name(protocol).ok_or_else(|| BrokerError::InvalidConfig {
            key: "partition.assignment.strategy".into(),
            value: protocol.into(),
            reason: "the group chose an assignor this consumer does not have".into(),
        })?;
        let mut subscriptions = Vec::with_capacity(members.len());
        for m in members {
            let sub = decode_subscription(&m.metadata).map_err(protocol_error)?;
            subscriptions.push(sub.into_member(m.member_id.clone(), m.group_instance_id.clone()));
        }
        let mut partitions_per_topic = BTreeMap::new();
        for topic in subscriptions.iter().flat_map(|s| s.topics.iter()) {
            if let Ok(t) = broker.topic(topic) {
                partitions_per_topic.insert(topic.clone(), t.partition_count());
            }
        }
        let assignment = assignor.assign(&partitions_per_topic, &subscriptions);
        subscriptions
            .iter()
            .map(|s| {
                let bytes = encode_assignment(assignment.partitions(&s.member_id), None, PROTOCOL_VERSION)
                    .map_err(protocol_error)?;
                Ok(MemberAssignment {
                    member_id: s.member_id.clone(),
                    assignment: bytes,
                })
            })
            .collect()
    }

    /// LeaveGroup for a dynamic member (static members keep their place until their session
    /// times out, as in Kafka).
    pub async fn leave(&mut self, groups: &GroupCoordinator) {
        let (member_id, _) = self.identity();
        if self.instance_id.is_none() && !member_id.is_empty() {
            let leave = LeaveRequest {
                group_id: self.group_id.clone(),
                members: vec![MemberIdentity {
                    member_id,
                    group_instance_id: None,
                }],
            };
            let _ = groups.leave_group(leave).await;
        }
        let mut s = lock(&self.shared);
        s.member_id.clear();
        s.need_rejoin = true;
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

fn protocol_error(e: super::assignor::ProtocolError) -> ClientError {
    ClientError::Group(GroupError::InvalidRequest {
        reason: format!("consumer protocol: {e}"),
    })
}
