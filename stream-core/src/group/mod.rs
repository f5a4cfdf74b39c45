//! The group coordinator: Kafka's classic consumer-group protocol on the broker side —
//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete,
//! ListGroups, DescribeGroups, DeleteGroups — with KIP-345 static membership and KIP-394's
//! MEMBER_ID_REQUIRED, following Apache Kafka's `GroupCoordinator` (3.x).
//!
//! ```text
//!  wire server / Consumer ──► GroupCoordinator (driver.rs: async, Mutex, oneshot replies, timer task)
//!                                   │  requests + now_ms            ▲ Output::{Join, Sync, Commit}
//!                                   ▼                               │
//!                      GroupCoordinatorState (pure: no I/O, no clock) ── Output::Append ──►
//!                        coordinator.rs  tick / next_deadline / append_done       OffsetsLog
//!                        membership.rs   join sync heartbeat leave          (__consumer_offsets,
//!                        rebalance.rs    the protocol they share             records.rs format)
//!                        offsets.rs admin.rs replay.rs                              │
//!                        group.rs member.rs  one group, one member      ◄── replay at startup
//! ```
//!
//! The state machine takes events and returns [`Output`]s. JoinGroup and SyncGroup answers are
//! delayed — a JoinGroup waits for the others to rejoin, a follower's SyncGroup for the leader's
//! — so each such request carries a [`ReplyId`] and its answer comes out of whichever later
//! call (or [`tick`](GroupCoordinatorState::tick)) completes it. Records to persist come out as
//! [`Output::Append`]; an offset commit is acknowledged, and a leader's assignment handed out,
//! only after the caller reports the append with
//! [`append_done`](GroupCoordinatorState::append_done). The assignment itself is computed by
//! the leader's client; metadata and assignments are opaque bytes here.
//!
//! ```
//! use stream_core::group::*;
//!
//! let config = GroupConfig::default().with_group_initial_rebalance_delay_ms(0);
//! let mut coordinator = GroupCoordinatorState::with_seed(config, 1);
//! let join = JoinRequest::new("g", "client-1", "consumer", vec![Protocol::new("range", &b"topics"[..])]);
//!
//! // KIP-394: a new member is first handed its member id.
//! let out = coordinator.join(join.clone(), ReplyId(1), 0);
//! let [Output::Join { result: Err(GroupError::MemberIdRequired { member_id }), .. }] = &out[..] else {
//!     panic!("{out:?}")
//! };
//! // It rejoins with it; the first rebalance of an empty group completes when its delay is up.
//! assert!(coordinator.join(join.with_member_id(member_id.clone()), ReplyId(2), 0).is_empty());
//! let out = coordinator.tick(coordinator.next_deadline().unwrap());
//! let [Output::Join { reply: ReplyId(2), result: Ok(joined) }] = &out[..] else { panic!("{out:?}") };
//! assert!(joined.is_leader());
//! assert_eq!(joined.generation, Generation(1));
//!
//! // The leader sends the assignment; it is handed out once stored.
//! let sync = SyncRequest {
//!     group_id: "g".into(),
//!     generation: joined.generation,
//!     member_id: member_id.clone(),
//!     group_instance_id: None,
//!     protocol_type: None,
//!     protocol_name: None,
//!     assignments: vec![MemberAssignment { member_id: member_id.clone(), assignment: "p0".into() }],
//! };
//! let out = coordinator.sync(sync, ReplyId(3), 0);
//! let [Output::Append(append)] = &out[..] else { panic!("{out:?}") };
//! let out = coordinator.append_done(append.id, Ok(()), 0);
//! let [Output::Sync { result: Ok(synced), .. }] = &out[..] else { panic!("{out:?}") };
//! assert_eq!(synced.assignment, "p0");
//! assert_eq!(coordinator.group_state("g"), Some(GroupState::Stable));
//! ```
//!
//! # Kafka rules worth knowing
//!
//! - A static member that restarts (same `group.instance.id`, no member id) into a Stable group
//!   causes no rebalance as long as the group's chosen protocol stays the same, even if its
//!   subscription changed: it gets its previous assignment, and the leader sees the new
//!   subscription at the next rebalance. (Comparing the metadata instead would rebalance on
//!   every restart: Kafka's consumer subscriptions carry the owned partitions and generation.)
//! - When a rebalance times out, the dynamic members that did not rejoin are removed; static
//!   ones stay (KIP-345) and are listed to the leader, until their session expires or they
//!   miss the SyncGroup deadline (one rebalance timeout after the join completed).
//! - A rebalance also waits for the member ids handed out with MEMBER_ID_REQUIRED, until they
//!   are used or lapse after the session timeout.
//! - OffsetDelete refuses (GROUP_SUBSCRIBED_TO_TOPIC) the topics a consumer group's members
//!   subscribe to, read from their consumer-protocol subscriptions.
//!
//! # Where this departs from Kafka
//!
//! - When a member sends a JoinGroup (or SyncGroup) while a previous one is still parked, the
//!   previous one is answered REBALANCE_IN_PROGRESS instead of being dropped unanswered, so no
//!   waiter leaks.
//! - The group metadata record is awaited only for the leader's SyncGroup. Kafka also waits
//!   for it before answering a static member's rejoin to a Stable group; here that record (and
//!   the empty-group record after a rebalance, and all tombstones) are written behind.
//! - DeleteGroups and OffsetDelete answer before their tombstones are stored (Kafka only logs
//!   such a failure too). A commit completing after the deletion of its group recreates the
//!   group, consistently with the log, where its records come after the tombstones.
//! - `group.max.size` is checked only for new members (Kafka also sheds members of a group
//!   that is over a lowered limit).
//! - Not implemented: offset retention (`offsets.retention.minutes`) and the expiry of empty
//!   groups, the
//!   5-minute join timeout of new members (the rebalance timeout bounds their wait here),
//!   the partitioning of groups over `__consumer_offsets` partitions (one coordinator owns
//!   every group; the `OffsetsLog` decides where a group's records go), and the flexible v4
//!   record values of Kafka 4.

mod admin;
mod api;
mod config;
mod coordinator;
mod driver;
mod error;
#[allow(clippy::module_inception)]
mod group;
mod member;
mod membership;
mod offsets;
mod rebalance;
pub(crate) mod records;
mod replay;
mod txn_offsets;

#[cfg(test)]
mod tests;

pub use api::{
    Append, AppendId, CommitRequest, FetchOffsetsRequest, Generation, GroupDescription, GroupListing,
    GroupResults, HeartbeatRequest, JoinRequest, JoinResponse, JoinedMember, LeaveRequest, MemberAssignment,
    MemberDescription, MemberIdentity, MemberLeaveResult, Output, PartitionOffset, PartitionResults,
    Protocol, ReplyId, SyncRequest, SyncResponse, TxnCommitRequest,
};
pub use config::GroupConfig;
/// The coordinator as an I/O-free state machine (above), public so that it can be driven and
/// tested without a broker.
pub use coordinator::GroupCoordinatorState;
pub use driver::{GroupCoordinator, LoadReport, OffsetsEntry, OffsetsLog};
pub use error::{ConfigError, GroupError, RecordError};
pub use group::GroupState;
pub use offsets::CommittedOffset;
