//! The coordinator's vocabulary: requests, responses and the [`Output`]s of the state machine.
//!
//! These are plain structs with the fields of Kafka's requests that the coordinator uses; the
//! wire server converts from and to `kafka_protocol` messages, and in-process clients build them
//! directly. Protocol metadata and assignments are opaque bytes: the group leader's client
//! computes the assignment, the coordinator only carries it.

use std::fmt;

use bytes::Bytes;

use super::error::GroupError;
use super::group::GroupState;
use crate::topic::{TopicName, TopicPartition};

/// A group's generation: bumped by every completed rebalance. Requests carry the generation the
/// member believes in, and a stale one is refused with ILLEGAL_GENERATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub i32);

impl Generation {
    /// What a client outside any group sends (Kafka's -1), e.g. for a standalone offset commit.
    pub const NONE: Generation = Generation(-1);

    pub(crate) fn next(self) -> Generation {
        Generation(self.0.saturating_add(1))
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Names one delayed reply (JoinGroup, SyncGroup, OffsetCommit): the caller picks it, the state
/// machine hands it back in the [`Output`] that answers it, maybe during a later call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyId(pub u64);

/// Names one [`Append`] so its completion can be reported with
/// [`GroupCoordinatorState::append_done`](super::GroupCoordinatorState::append_done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppendId(pub(crate) u64);

/// One protocol a member supports (for consumers, an assignor name) and its metadata (for
/// consumers, the subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

impl Protocol {
    pub fn new(name: impl Into<String>, metadata: impl Into<Bytes>) -> Protocol {
        Protocol {
            name: name.into(),
            metadata: metadata.into(),
        }
    }
}

/// JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// KIP-394: true for JoinGroup v4+, whose clients handle MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// How long the group waits for members to rejoin. Zero or negative (JoinGroup v0 has no
    /// such field) means the session timeout.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
}

impl JoinRequest {
    /// A first join with Kafka's consumer defaults: a 45 s session, a 5 min rebalance timeout
    /// (`max.poll.interval.ms`), member id required.
    pub fn new(
        group_id: impl Into<String>,
        client_id: impl Into<String>,
        protocol_type: impl Into<String>,
        protocols: Vec<Protocol>,
    ) -> JoinRequest {
        JoinRequest {
            group_id: group_id.into(),
            member_id: String::new(),
            group_instance_id: None,
            require_known_member_id: true,
            client_id: client_id.into(),
            client_host: String::new(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            protocol_type: protocol_type.into(),
            protocols,
        }
    }

    pub fn with_member_id(mut self, member_id: impl Into<String>) -> JoinRequest {
        self.member_id = member_id.into();
        self
    }

    pub fn with_group_instance_id(mut self, instance_id: impl Into<String>) -> JoinRequest {
        self.group_instance_id = Some(instance_id.into());
        self
    }

    pub fn with_require_known_member_id(mut self, required: bool) -> JoinRequest {
        self.require_known_member_id = required;
        self
    }

    pub fn with_client_host(mut self, host: impl Into<String>) -> JoinRequest {
        self.client_host = host.into();
        self
    }

    pub fn with_session_timeout_ms(mut self, ms: i32) -> JoinRequest {
        self.session_timeout_ms = ms;
        self
    }

    pub fn with_rebalance_timeout_ms(mut self, ms: i32) -> JoinRequest {
        self.rebalance_timeout_ms = ms;
        self
    }

    pub fn with_protocols(mut self, protocols: Vec<Protocol>) -> JoinRequest {
        self.protocols = protocols;
        self
    }
}

/// A successful JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub member_id: String,
    pub generation: Generation,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    /// For the leader only: every member with its metadata for the chosen protocol, to compute
    /// the assignment from. Empty for followers.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    /// Whether this member must compute the assignment and send it in its SyncGroup.
    pub fn is_leader(&self) -> bool {
        self.member_id == self.leader
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation: Generation,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    /// SyncGroup v5+: checked against the group's when present.
    pub protocol_name: Option<String>,
    /// The leader's assignment for every member; empty from followers.
    pub assignments: Vec<MemberAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAssignment {
    pub member_id: String,
    pub assignment: Bytes,
}

/// A successful SyncGroup: this member's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// Heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation: Generation,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// LeaveGroup (v3+: a batch of members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveRequest {
    pub group_id: String,
    pub members: Vec<MemberIdentity>,
}

/// A member leaving: by member id, or (an administrator removing a static member, KIP-345) by
/// `group.instance.id` with an empty member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLeaveResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub result: Result<(), GroupError>,
}

/// One partition's committed position, in an OffsetCommit or an OffsetFetch answer. OffsetFetch
/// answers offset -1 for a partition without a committed offset, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic_partition: TopicPartition,
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
}

impl PartitionOffset {
    pub fn new(topic: TopicName, partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset {
            topic_partition: TopicPartition::new(topic, partition),
            offset,
            leader_epoch: None,
            metadata: String::new(),
        }
    }
}

/// OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub group_id: String,
    /// [`Generation::NONE`] with an empty member id for a standalone ("simple") consumer.
    pub generation: Generation,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<PartitionOffset>,
}

impl CommitRequest {
    /// A commit by a consumer that does not use group membership (`assign()` rather than
    /// `subscribe()`): accepted only while the group has no members.
    pub fn standalone(group_id: impl Into<String>, offsets: Vec<PartitionOffset>) -> CommitRequest {
        CommitRequest {
            group_id: group_id.into(),
            generation: Generation::NONE,
            member_id: String::new(),
            group_instance_id: None,
            offsets,
        }
    }
}

/// TxnOffsetCommit (KIP-98, with KIP-447's group metadata): offsets that become committed
/// when the producer's transaction commits, and vanish if it aborts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCommitRequest {
    pub group_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// [`Generation::NONE`] and an empty member id skip the member check (clients before
    /// KIP-447 send no group metadata).
    pub generation: Generation,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<PartitionOffset>,
}

/// Per-partition outcome of OffsetCommit or OffsetDelete.
pub type PartitionResults = Vec<(TopicPartition, Result<(), GroupError>)>;

/// Per-group outcome of DeleteGroups.
pub type GroupResults = Vec<(String, Result<(), GroupError>)>;

/// OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOffsetsRequest {
    pub group_id: String,
    /// `None` for every partition the group committed.
    pub partitions: Option<Vec<TopicPartition>>,
}

/// One group in ListGroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// Empty when the group never had members (offsets only).
    pub protocol_type: String,
    pub state: GroupState,
}

/// One group in DescribeGroups. A group that does not exist is described as `Dead` with no
/// members, as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The chosen protocol; empty unless the group is Stable.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A member in DescribeGroups; metadata and assignment are empty unless the group is Stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// What the state machine asks its caller to do: deliver an answer or append records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Answers the JoinGroup of `reply`.
    Join {
        reply: ReplyId,
        result: Result<JoinResponse, GroupError>,
    },
    /// Answers the SyncGroup of `reply`.
    Sync {
        reply: ReplyId,
        result: Result<SyncResponse, GroupError>,
    },
    /// Answers the OffsetCommit of `reply`.
    Commit {
        reply: ReplyId,
        result: PartitionResults,
    },
    /// Records to append to `__consumer_offsets`; report the outcome with `append_done`. Some
    /// answers wait for it (a commit is acknowledged only once stored).
    Append(Append),
}

/// Records for `__consumer_offsets`, all of one group (so of one partition of the topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub id: AppendId,
    pub group_id: String,
    /// Key and value; a `None` value is a tombstone.
    pub records: Vec<(Bytes, Option<Bytes>)>,
    /// For a TxnOffsetCommit: the transaction's producer id and epoch. The records go into a
    /// transactional batch and count only once the transaction's commit marker follows.
    pub producer: Option<(i64, i16)>,
}
