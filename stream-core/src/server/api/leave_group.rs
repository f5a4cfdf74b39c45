//! LeaveGroup: one member before v3, a batch of members (KIP-345, by member id or by
//! `group.instance.id`) from v3, each with its own result.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::super::request::Request;
use super::{group_code, none, str_bytes};
use crate::group::{LeaveRequest, MemberIdentity};

fn parse(version: i16, body: LeaveGroupRequest) -> LeaveRequest {
    let members = if version < 3 {
        vec![MemberIdentity {
            member_id: body.member_id.to_string(),
            group_instance_id: None,
        }]
    } else {
        body.members
            .into_iter()
            .map(|m| MemberIdentity {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.map(|s| s.to_string()),
            })
            .collect()
    };
    LeaveRequest {
        group_id: body.group_id.to_string(),
        members,
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: LeaveGroupRequest) -> LeaveGroupResponse {
    let version = request.version;
    match request.context.groups.leave_group(parse(version, body)).await {
        Err(error) => LeaveGroupResponse::default().with_error_code(group_code(&error)),
        // Before v3 the one member's result is the answer's.
        Ok(results) if version < 3 => {
            let error_code = results
                .first()
                .and_then(|r| r.result.as_ref().err())
                .map_or(none(), group_code);
            LeaveGroupResponse::default().with_error_code(error_code)
        }
        Ok(results) => LeaveGroupResponse::default().with_members(
            results
                .into_iter()
                .map(|r| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(r.member_id))
                        .with_group_instance_id(r.group_instance_id.map(str_bytes))
                        .with_error_code(r.result.as_ref().err().map_or(none(), group_code))
                })
                .collect(),
        ),
    }
}
