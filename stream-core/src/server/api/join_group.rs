//! JoinGroup: parked in the coordinator until the rebalance completes, then answered with the
//! generation, the leader and (to the leader only) every member's subscription. A new member of
//! v4+ first gets MEMBER_ID_REQUIRED with its id (KIP-394) and rejoins with it.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::super::request::Request;
use super::{group_code, str_bytes};
use crate::group::{GroupError, JoinRequest, Protocol};

fn parse(request: &Request<'_>, body: JoinGroupRequest) -> JoinRequest {
    let protocols = body
        .protocols
        .into_iter()
        .map(|p| Protocol::new(p.name.to_string(), p.metadata))
        .collect();
    let mut join = JoinRequest::new(
        body.group_id.to_string(),
        request.header.client_id.as_deref().unwrap_or(""),
        body.protocol_type.to_string(),
        protocols,
    )
    .with_member_id(body.member_id.to_string())
    .with_require_known_member_id(request.version >= 4)
    .with_client_host(request.client_host)
    .with_session_timeout_ms(body.session_timeout_ms)
    .with_rebalance_timeout_ms(body.rebalance_timeout_ms);
    if let Some(instance) = body.group_instance_id {
        join = join.with_group_instance_id(instance.to_string());
    }
    join
}

pub(crate) async fn handle(request: &Request<'_>, body: JoinGroupRequest) -> JoinGroupResponse {
    let requested_member = body.member_id.clone();
    let join = parse(request, body);
    let result = request.context.groups.join_group(join).await;
    // The protocol name is nullable from v7 only; older clients get an empty string.
    let protocol_name = |name: Option<String>| match name {
        Some(name) => Some(str_bytes(name)),
        None if request.version < 7 => Some(StrBytes::default()),
        None => None,
    };
    match result {
        Ok(joined) => {
            let members = joined
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(str_bytes))
                        .with_metadata(m.metadata)
                })
                .collect();
            let response = JoinGroupResponse::default()
                .with_generation_id(joined.generation.0)
                .with_protocol_name(protocol_name(joined.protocol_name))
                .with_leader(str_bytes(joined.leader))
                .with_member_id(str_bytes(joined.member_id))
                .with_members(members);
            if request.version >= 7 {
                response.with_protocol_type(joined.protocol_type.map(str_bytes))
            } else {
                response
            }
        }
        Err(error) => {
            // KIP-394: the id to rejoin with travels in the error answer.
            let member_id = match &error {
                GroupError::MemberIdRequired { member_id } => str_bytes(member_id.clone()),
                _ => requested_member,
            };
            JoinGroupResponse::default()
                .with_error_code(group_code(&error))
                .with_generation_id(-1)
                .with_protocol_name(protocol_name(None))
                .with_member_id(member_id)
        }
    }
}
