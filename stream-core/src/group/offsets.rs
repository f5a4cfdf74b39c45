//! Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete. Offsets live in memory,
//! keyed by group and partition, and in `__consumer_offsets`; a commit becomes visible (and is
//! acknowledged) only once its records are appended, so an acknowledged commit survives a
//! restart.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::api::{
    CommitRequest, FetchOffsetsRequest, Generation, Output, PartitionOffset, PartitionResults, ReplyId,
};
use super::coordinator::{GroupCoordinatorState, PendingAppend};
use super::error::{GroupError, RecordError};
use super::group::{Group, GroupState};
use super::records::{self, OffsetValue, RecordKey};
use crate::topic::TopicPartition;

/// One partition of a commit: the offset to store, or why it is refused.
pub(crate) type PartitionOutcome = (TopicPartition, Result<CommittedOffset, GroupError>);

/// A committed position of a group in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

impl GroupCoordinatorState {
    /// OffsetCommit. A member of the group commits with its member id and the current
    /// generation; a consumer outside group management commits with [`Generation::NONE`] and
    /// no member id, which Kafka allows only while the group has no members. The answer, an
    /// `Output::Commit` for `reply`, comes once the records are stored (`append_done`), or at
    /// once if nothing is to be stored.
    pub fn commit_offsets(&mut self, req: CommitRequest, reply: ReplyId, now_ms: i64) -> Vec<Output> {
        let mut out = Vec::new();
        let validation = if req.group_id.len() > i16::MAX as usize {
            Err(GroupError::InvalidGroupId {
                group_id: req.group_id.chars().take(256).collect(),
            })
        } else {
            self.with_group(&req.group_id, |_, g| validate_commit(g, &req, now_ms))
                .unwrap_or(
                    // No such group: only a standalone consumer may create one by committing.
                    if req.generation.0 < 0 {
                        Ok(())
                    } else {
                        Err(GroupError::IllegalGeneration {
                            requested: req.generation,
                            current: Generation::NONE,
                        })
                    },
                )
        };
        if let Err(error) = validation {
            let result = req
                .offsets
                .into_iter()
                .map(|p| (p.topic_partition, Err(error.clone())))
                .collect();
            out.push(Output::Commit { reply, result });
            return out;
        }
        let (records, partitions) = self.offset_records(&req.group_id, req.offsets, now_ms);
        if records.is_empty() {
            out.push(Output::Commit {
                reply,
                result: commit_outcome(partitions, &Ok(())),
            });
        } else {
            let then = PendingAppend::Commit {
                reply,
                group_id: req.group_id.clone(),
                partitions,
            };
            self.append(&req.group_id, records, Some(then), &mut out);
        }
        out
    }

    /// The commit's records were appended (or not): apply and acknowledge it.
    pub(crate) fn complete_commit(
        &mut self,
        reply: ReplyId,
        group_id: String,
        partitions: Vec<PartitionOutcome>,
        stored: Result<(), GroupError>,
        now_ms: i64,
        out: &mut Vec<Output>,
    ) {
        if stored.is_ok() {
            // The group may have been deleted since; the log now holds these offsets after the
            // deletion's tombstones, so the group exists again, as a replay would find it.
            if !self.groups.contains_key(&group_id) {
                self.put_group(Group::new(group_id.clone(), now_ms));
            }
            self.with_group(&group_id, |_, g| {
                for (tp, committed) in &partitions {
                    if let Ok(committed) = committed {
                        g.offsets.insert(tp.clone(), committed.clone());
                    }
                }
            });
        }
        out.push(Output::Commit {
            reply,
            result: commit_outcome(partitions, &stored),
        });
    }

    /// The `__consumer_offsets` records of a commit's offsets, and each partition's offset
    /// or why it is refused (metadata over `offset.metadata.max.bytes`, or not encodable).
    /// Shared by OffsetCommit and TxnOffsetCommit.
    pub(crate) fn offset_records(
        &self,
        group_id: &str,
        offsets: Vec<PartitionOffset>,
        now_ms: i64,
    ) -> (Vec<(Bytes, Option<Bytes>)>, Vec<PartitionOutcome>) {
        let max = self.config.offset_metadata_max_bytes;
        let mut records = Vec::new();
        let mut partitions = Vec::with_capacity(offsets.len());
        for p in offsets {
            if p.metadata.len() > max {
                let error = GroupError::OffsetMetadataTooLarge {
                    size: p.metadata.len(),
                    max,
                };
                partitions.push((p.topic_partition, Err(error)));
                continue;
            }
            let committed = CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata,
                commit_timestamp_ms: now_ms,
            };
            match offset_record(group_id, &p.topic_partition, &committed) {
                Ok(record) => {
                    records.push(record);
                    partitions.push((p.topic_partition, Ok(committed)));
                }
                Err(error) => {
                    let error = GroupError::InvalidRequest {
                        reason: error.to_string(),
                    };
                    partitions.push((p.topic_partition, Err(error)));
                }
            }
        }
        (records, partitions)
    }

    /// OffsetFetch, whatever the group's state (it may not use group management at all).
    /// Partitions without a committed offset answer offset -1, as in Kafka.
    pub fn fetch_offsets(&self, req: &FetchOffsetsRequest) -> Vec<PartitionOffset> {
        let group = self.groups.get(&req.group_id);
        let found = |tp: &TopicPartition, committed: &CommittedOffset| PartitionOffset {
            topic_partition: tp.clone(),
            offset: committed.offset,
            leader_epoch: committed.leader_epoch,
            metadata: committed.metadata.clone(),
        };
        match &req.partitions {
            None => group
                .map(|g| g.offsets.iter().map(|(tp, c)| found(tp, c)).collect())
                .unwrap_or_default(),
            Some(partitions) => partitions
                .iter()
                .map(|tp| match group.and_then(|g| g.offsets.get(tp)) {
                    Some(committed) => found(tp, committed),
                    None => PartitionOffset {
                        topic_partition: tp.clone(),
                        offset: -1,
                        leader_epoch: None,
                        metadata: String::new(),
                    },
                })
                .collect(),
        }
    }

    /// OffsetDelete (KIP-496). An Empty group may delete any offsets; a consumer group with
    /// members only those of topics none of its members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC
    /// otherwise), read from Kafka's consumer-protocol subscriptions; if these do not parse,
    /// every topic counts as subscribed. Groups of other protocol types with members answer
    /// NON_EMPTY_GROUP. The tombstones are appended behind, as Kafka does.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: Vec<TopicPartition>,
        _now_ms: i64,
    ) -> (Result<PartitionResults, GroupError>, Vec<Output>) {
        let mut out = Vec::new();
        let result = self.with_group(group_id, |s, g| {
            let subscribed: Option<Option<BTreeSet<String>>> = match g.state {
                GroupState::Empty => None,
                GroupState::PreparingRebalance | GroupState::CompletingRebalance | GroupState::Stable
                    if g.protocol_type.as_deref() == Some("consumer") =>
                {
                    Some(g.subscribed_topics())
                }
                _ => return Err(GroupError::NonEmptyGroup),
            };
            let mut results = Vec::with_capacity(partitions.len());
            let mut tombstones = Vec::new();
            for tp in partitions {
                let in_use = match &subscribed {
                    None => false,
                    Some(None) => true,
                    Some(Some(topics)) => topics.contains(tp.topic.as_str()),
                };
                if in_use {
                    results.push((tp, Err(GroupError::GroupSubscribedToTopic)));
                    continue;
                }
                if g.offsets.remove(&tp).is_some() {
                    match offset_key(&g.id, &tp) {
                        Ok(key) => tombstones.push((key, None)),
                        Err(error) => {
                            tracing::error!(group = %g.id, %error, "cannot encode an offset tombstone")
                        }
                    }
                }
                results.push((tp, Ok(())));
            }
            if !tombstones.is_empty() {
                s.append(&g.id, tombstones, None, &mut out);
            }
            Ok(results)
        });
        (result.unwrap_or(Err(GroupError::GroupIdNotFound)), out)
    }
}

impl From<OffsetValue> for CommittedOffset {
    /// The offset an `__consumer_offsets` value records.
    fn from(value: OffsetValue) -> CommittedOffset {
        CommittedOffset {
            offset: value.offset,
            leader_epoch: value.leader_epoch,
            metadata: value.metadata,
            commit_timestamp_ms: value.commit_timestamp_ms,
        }
    }
}

/// Each partition's answer to a commit whose records were `stored` (or not): refused up front,
/// failed with the append, or committed.
pub(crate) fn commit_outcome(
    partitions: Vec<PartitionOutcome>,
    stored: &Result<(), GroupError>,
) -> PartitionResults {
    partitions
        .into_iter()
        .map(|(tp, refused)| {
            let outcome = match (refused, stored) {
                (Err(error), _) => Err(error),
                (Ok(_), Err(error)) => Err(error.clone()),
                (Ok(_), Ok(())) => Ok(()),
            };
            (tp, outcome)
        })
        .collect()
}

fn validate_commit(g: &mut Group, req: &CommitRequest, now_ms: i64) -> Result<(), GroupError> {
    if req.generation.0 >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        g.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation != g.generation {
            return Err(GroupError::IllegalGeneration {
                requested: req.generation,
                current: g.generation,
            });
        }
    } else if g.state != GroupState::Empty {
        // A standalone commit into a group with members would race with their commits.
        return Err(GroupError::UnknownMemberId);
    }
    match g.state {
        // During PreparingRebalance members still commit what they consumed before rejoining;
        // the heartbeat answer tells them to rejoin.
        GroupState::Stable | GroupState::PreparingRebalance => {
            if let Some(member) = g.members.get_mut(&req.member_id) {
                member.last_heartbeat_ms = now_ms;
            }
            Ok(())
        }
        GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
        GroupState::Empty => Ok(()),
        GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
    }
}

pub(crate) fn offset_key(group_id: &str, tp: &TopicPartition) -> Result<Bytes, RecordError> {
    records::encode_key(&RecordKey::Offset {
        group_id: group_id.to_owned(),
        topic_partition: tp.clone(),
    })
}

/// The `__consumer_offsets` record of a committed offset.
pub(crate) fn offset_record(
    group_id: &str,
    tp: &TopicPartition,
    committed: &CommittedOffset,
) -> Result<(Bytes, Option<Bytes>), RecordError> {
    let value = OffsetValue {
        offset: committed.offset,
        leader_epoch: committed.leader_epoch,
        metadata: committed.metadata.clone(),
        commit_timestamp_ms: committed.commit_timestamp_ms,
        expire_timestamp_ms: None,
    };
    Ok((
        offset_key(group_id, tp)?,
        Some(records::encode_offset_value(&value)?),
    ))
}
