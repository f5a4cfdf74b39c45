//! ListGroups, DescribeGroups and DeleteGroups.

use super::api::{GroupDescription, GroupListing, GroupResults, MemberDescription, Output};
use super::coordinator::GroupCoordinatorState;
use super::error::GroupError;
use super::group::{Group, GroupState};
use super::offsets::offset_key;
use super::records::{self, RecordKey};

impl GroupCoordinatorState {
    /// ListGroups, optionally only the groups in `states` (KIP-518); an empty filter lists all.
    pub fn list_groups(&self, states: &[GroupState]) -> Vec<GroupListing> {
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state))
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
            })
            .collect()
    }

    /// DescribeGroups. Member metadata and assignments are shown only for a Stable group (the
    /// others' are in flux), and a group that does not exist is Dead, as in Kafka.
    pub fn describe_groups(&self, group_ids: &[String]) -> Vec<GroupDescription> {
        group_ids
            .iter()
            .map(|id| match self.groups.get(id) {
                Some(group) => describe(group),
                None => GroupDescription {
                    group_id: id.clone(),
                    state: GroupState::Dead,
                    protocol_type: String::new(),
                    protocol: String::new(),
                    members: Vec::new(),
                },
            })
            .collect()
    }

    /// DeleteGroups: only groups without members (NON_EMPTY_GROUP otherwise), with their
    /// offsets. Tombstones for the group and each offset are appended behind.
    pub fn delete_groups(&mut self, group_ids: &[String], _now_ms: i64) -> (GroupResults, Vec<Output>) {
        let mut out = Vec::new();
        let mut results = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let result = match self.groups.get(group_id).map(|g| g.state) {
                None | Some(GroupState::Dead) => Err(GroupError::GroupIdNotFound),
                Some(GroupState::Empty) => {
                    if let Some(group) = self.remove_group(group_id) {
                        self.append_tombstones(&group, &mut out);
                    }
                    tracing::info!(group = %group_id, "group deleted");
                    Ok(())
                }
                Some(_) => Err(GroupError::NonEmptyGroup),
            };
            results.push((group_id.clone(), result));
        }
        (results, out)
    }

    fn append_tombstones(&mut self, group: &Group, out: &mut Vec<Output>) {
        let mut tombstones = Vec::with_capacity(group.offsets.len() + 1);
        for tp in group.offsets.keys() {
            match offset_key(&group.id, tp) {
                Ok(key) => tombstones.push((key, None)),
                Err(error) => tracing::error!(group = %group.id, %error, "cannot encode an offset tombstone"),
            }
        }
        match records::encode_key(&RecordKey::GroupMetadata {
            group_id: group.id.clone(),
        }) {
            Ok(key) => tombstones.push((key, None)),
            Err(error) => tracing::error!(group = %group.id, %error, "cannot encode the group tombstone"),
        }
        self.append(&group.id, tombstones, None, out);
    }
}

fn describe(g: &Group) -> GroupDescription {
    let stable = g.state == GroupState::Stable;
    let protocol = if stable {
        g.protocol.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let members = g
        .members
        .values()
        .map(|m| MemberDescription {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            metadata: if stable {
                m.metadata(&protocol).cloned().unwrap_or_default()
            } else {
                Default::default()
            },
            assignment: if stable {
                m.assignment.clone()
            } else {
                Default::default()
            },
        })
        .collect();
    GroupDescription {
        group_id: g.id.clone(),
        state: g.state,
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        protocol,
        members,
    }
}
