//! DescribeGroups: state, protocol and members (with their metadata and assignment when the
//! group is Stable). A group that does not exist is described as Dead with no members.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use super::super::request::Request;
use super::{group_code, str_bytes};

pub(crate) async fn handle(request: &Request<'_>, body: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let ids: Vec<String> = body.groups.iter().map(|g| g.to_string()).collect();
    let descriptions = match request.context.groups.describe_groups(&ids).await {
        Ok(descriptions) => descriptions,
        Err(error) => {
            let failed = ids
                .into_iter()
                .map(|id| {
                    DescribedGroup::default()
                        .with_group_id(GroupId(str_bytes(id)))
                        .with_error_code(group_code(&error))
                })
                .collect();
            return DescribeGroupsResponse::default().with_groups(failed);
        }
    };
    let groups = descriptions
        .into_iter()
        .map(|g| {
            let members = g
                .members
                .into_iter()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_client_id(str_bytes(m.client_id))
                        .with_client_host(str_bytes(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment);
                    if request.version >= 4 {
                        member.with_group_instance_id(m.group_instance_id.map(str_bytes))
                    } else {
                        member
                    }
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(GroupId(str_bytes(g.group_id)))
                .with_group_state(str_bytes(g.state.as_str()))
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_protocol_data(str_bytes(g.protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
