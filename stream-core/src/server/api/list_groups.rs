//! ListGroups: every group, filtered by state from v4 (KIP-518).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::super::request::Request;
use super::{group_code, str_bytes};
use crate::group::GroupState;

const STATES: [GroupState; 5] = [
    GroupState::Empty,
    GroupState::PreparingRebalance,
    GroupState::CompletingRebalance,
    GroupState::Stable,
    GroupState::Dead,
];

pub(crate) async fn handle(request: &Request<'_>, body: ListGroupsRequest) -> ListGroupsResponse {
    // Kafka matches state names case-insensitively; an unknown name matches nothing.
    let wanted: Vec<GroupState> = body
        .states_filter
        .iter()
        .filter_map(|name| STATES.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(name)))
        .collect();
    if !body.states_filter.is_empty() && wanted.is_empty() {
        return ListGroupsResponse::default();
    }
    match request.context.groups.list_groups(&wanted).await {
        Ok(groups) => ListGroupsResponse::default().with_groups(
            groups
                .into_iter()
                .map(|g| {
                    let listed = ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(g.group_id)))
                        .with_protocol_type(str_bytes(g.protocol_type));
                    if request.version >= 4 {
                        listed.with_group_state(str_bytes(g.state.as_str()))
                    } else {
                        listed
                    }
                })
                .collect(),
        ),
        Err(error) => ListGroupsResponse::default().with_error_code(group_code(&error)),
    }
}
