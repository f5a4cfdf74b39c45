//! SyncGroup: the leader hands in the assignment; every member gets its own once it is stored
//! (a follower's request waits for the leader's).

use bytes::Bytes;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::super::request::Request;
use super::{group_code, str_bytes};
use crate::group::{Generation, MemberAssignment, SyncRequest};

fn parse(body: SyncGroupRequest) -> SyncRequest {
    SyncRequest {
        group_id: body.group_id.to_string(),
        generation: Generation(body.generation_id),
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.map(|s| s.to_string()),
        protocol_type: body.protocol_type.map(|s| s.to_string()),
        protocol_name: body.protocol_name.map(|s| s.to_string()),
        assignments: body
            .assignments
            .into_iter()
            .map(|a| MemberAssignment {
                member_id: a.member_id.to_string(),
                assignment: a.assignment,
            })
            .collect(),
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: SyncGroupRequest) -> SyncGroupResponse {
    match request.context.groups.sync_group(parse(body)).await {
        Ok(synced) => {
            let response = SyncGroupResponse::default().with_assignment(synced.assignment);
            if request.version >= 5 {
                response
                    .with_protocol_type(synced.protocol_type.map(str_bytes))
                    .with_protocol_name(synced.protocol_name.map(str_bytes))
            } else {
                response
            }
        }
        Err(error) => SyncGroupResponse::default()
            .with_error_code(group_code(&error))
            .with_assignment(Bytes::new()),
    }
}
