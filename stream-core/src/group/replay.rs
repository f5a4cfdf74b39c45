//! Rebuilding the coordinator from `__consumer_offsets` at startup.
//!
//! Records are replayed in log order, so the last record of a key wins, as compaction would
//! leave it. A group whose last metadata record has members comes back Stable with their
//! assignments, and their sessions restart at load time: members that are still alive just
//! carry on heartbeating, the others expire and the group rebalances without them.

use super::api::{Generation, Protocol};
use super::coordinator::GroupCoordinatorState;
use super::error::RecordError;
use super::group::{Group, GroupState};
use super::member::Member;
use super::offsets::CommittedOffset;
use super::records::{self, GroupMetadataValue, RecordKey};
use crate::topic::TopicPartition;

impl GroupCoordinatorState {
    /// Applies one record of `__consumer_offsets` (`None` value: a tombstone). A record that
    /// does not decode changes nothing and is reported. Meant for startup, before requests;
    /// `now_ms` starts the sessions of loaded members.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>, now_ms: i64) -> Result<(), RecordError> {
        match records::decode_key(key)? {
            RecordKey::Offset {
                group_id,
                topic_partition,
            } => match value {
                Some(value) => {
                    let committed = CommittedOffset::from(records::decode_offset_value(value)?);
                    self.load_offset(group_id, topic_partition, Some(committed), now_ms);
                }
                None => self.load_offset(group_id, topic_partition, None, now_ms),
            },
            RecordKey::GroupMetadata { group_id } => match value {
                Some(value) => {
                    let value = records::decode_group_value(value)?;
                    let loaded = loaded_group(&group_id, value, now_ms)?;
                    let offsets = self
                        .remove_group(&group_id)
                        .map(|g| g.offsets)
                        .unwrap_or_default();
                    self.put_group(Group { offsets, ..loaded });
                }
                None => {
                    // The membership is gone; offsets have tombstones of their own.
                    if let Some(old) = self.remove_group(&group_id) {
                        let group = Group {
                            offsets: old.offsets,
                            ..Group::new(group_id, now_ms)
                        };
                        if !group.is_blank() {
                            self.put_group(group);
                        }
                    }
                }
            },
        }
        Ok(())
    }

    fn load_offset(
        &mut self,
        group_id: String,
        tp: TopicPartition,
        committed: Option<CommittedOffset>,
        now_ms: i64,
    ) {
        if !self.groups.contains_key(&group_id) {
            if committed.is_none() {
                return;
            }
            self.put_group(Group::new(group_id.clone(), now_ms));
        }
        let blank = self.with_group(&group_id, |_, g| {
            match committed {
                Some(committed) => g.offsets.insert(tp, committed),
                None => g.offsets.remove(&tp),
            };
            g.is_blank()
        });
        if blank == Some(true) {
            self.remove_group(&group_id);
        }
    }
}

/// The group a metadata record describes. Members get the group's protocol with their stored
/// subscription as their only protocol, as Kafka loads them.
fn loaded_group(group_id: &str, value: GroupMetadataValue, now_ms: i64) -> Result<Group, RecordError> {
    let inconsistent = |reason| RecordError::InconsistentGroupMetadata {
        group_id: group_id.to_owned(),
        reason,
    };
    let mut group = Group::new(group_id.to_owned(), now_ms);
    group.generation = Generation(value.generation);
    group.protocol_type = Some(value.protocol_type.clone()).filter(|t| !t.is_empty());
    if value.members.is_empty() {
        return Ok(group);
    }
    if value.protocol_type.is_empty() {
        return Err(inconsistent("members but no protocol type"));
    }
    let protocol = value
        .protocol
        .ok_or_else(|| inconsistent("members but no protocol"))?;
    for m in value.members {
        if group.members.contains_key(&m.member_id) {
            return Err(inconsistent("a member id appears twice"));
        }
        if m.group_instance_id
            .as_ref()
            .is_some_and(|instance| group.static_members.contains_key(instance))
        {
            return Err(inconsistent("a group.instance.id appears twice"));
        }
        group.add(Member {
            id: m.member_id,
            instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            session_timeout_ms: m.session_timeout_ms,
            rebalance_timeout_ms: m.rebalance_timeout_ms,
            protocol_type: value.protocol_type.clone(),
            protocols: vec![Protocol {
                name: protocol.clone(),
                metadata: m.subscription,
            }],
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            last_heartbeat_ms: now_ms,
        });
    }
    if let Some(leader) = value.leader.filter(|leader| group.members.contains_key(leader)) {
        group.leader = Some(leader);
    }
    group.protocol = Some(protocol);
    group.state = GroupState::Stable;
    Ok(group)
}
