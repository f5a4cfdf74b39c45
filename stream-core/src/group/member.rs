//! One member of a group, and how member ids are made.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use bytes::Bytes;

use super::api::{JoinRequest, Protocol, ReplyId};

/// A member as the coordinator knows it (Kafka's `MemberMetadata`).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<Protocol>,
    /// What the leader assigned in the last completed SyncGroup.
    pub(crate) assignment: Bytes,
    /// The JoinGroup this member waits on, during PreparingRebalance.
    pub(crate) awaiting_join: Option<ReplyId>,
    /// The SyncGroup this member waits on, during CompletingRebalance.
    pub(crate) awaiting_sync: Option<ReplyId>,
    pub(crate) last_heartbeat_ms: i64,
}

impl Member {
    pub(crate) fn new(id: String, request: &JoinRequest, reply: ReplyId, now_ms: i64) -> Member {
        Member {
            id,
            instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: effective_rebalance_timeout(request),
            protocol_type: request.protocol_type.clone(),
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(reply),
            awaiting_sync: None,
            last_heartbeat_ms: now_ms,
        }
    }

    pub(crate) fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| &p.metadata)
    }

    pub(crate) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    /// Same protocols with the same metadata in the same order: a rejoin that changes nothing.
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's favourite among the protocols every member supports.
    pub(crate) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// When the session expires, if it can now. Members waiting on a JoinGroup or SyncGroup
    /// answer are kept alive: they cannot heartbeat while their request is parked, and the
    /// rebalance and pending-sync timeouts bound that wait instead (Kafka's `shouldKeepAlive`).
    pub(crate) fn session_deadline(&self) -> Option<i64> {
        if self.awaiting_join.is_some() || self.awaiting_sync.is_some() {
            None
        } else {
            Some(self.last_heartbeat_ms + i64::from(self.session_timeout_ms))
        }
    }

    /// Takes the new protocols and timeouts of a rejoin.
    pub(crate) fn update(&mut self, request: &JoinRequest) {
        self.protocols = request.protocols.clone();
        self.session_timeout_ms = request.session_timeout_ms;
        self.rebalance_timeout_ms = effective_rebalance_timeout(request);
    }
}

/// JoinGroup v0 has no rebalance timeout: the session timeout stands in, as in Kafka.
fn effective_rebalance_timeout(request: &JoinRequest) -> i32 {
    if request.rebalance_timeout_ms > 0 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    }
}

/// Makes member ids like Kafka's: `{client.id or group.instance.id}-{uuid}`. The uuid-like part
/// is a bijective mix of a per-process random seed and a counter, so ids never repeat within a
/// process and are unguessable across restarts, without a random-number dependency.
#[derive(Debug, Clone)]
pub(crate) struct MemberIdGenerator {
    seed: u64,
    counter: u64,
}

impl MemberIdGenerator {
    pub(crate) fn with_seed(seed: u64) -> MemberIdGenerator {
        MemberIdGenerator { seed, counter: 0 }
    }

    /// Seeded from the process's random hash keys.
    pub(crate) fn random() -> MemberIdGenerator {
        MemberIdGenerator::with_seed(RandomState::new().hash_one(0x9e37_79b9_u64))
    }

    pub(crate) fn next(&mut self, prefix: &str) -> String {
        self.counter = self.counter.wrapping_add(1);
        // Both steps are bijections of the counter, so `high` never repeats for one seed.
        let high = splitmix64(
            self.seed
                .wrapping_add(self.counter.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        );
        let low = splitmix64(high ^ self.seed.rotate_left(29));
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xffff,
            low >> 48,
            low & 0xffff_ffff_ffff
        )
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn member_ids_are_prefixed_uuid_like_and_unique() {
        let mut ids = MemberIdGenerator::with_seed(7);
        let all: HashSet<String> = (0..10_000).map(|_| ids.next("consumer-1")).collect();
        assert_eq!(all.len(), 10_000);
        let one = all.iter().next().unwrap();
        let uuid = one.strip_prefix("consumer-1-").unwrap();
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn differently_seeded_generators_make_different_ids() {
        assert_ne!(
            MemberIdGenerator::with_seed(1).next("c"),
            MemberIdGenerator::with_seed(2).next("c")
        );
    }
}
