//! Heartbeat: keeps a member's session alive and tells it (REBALANCE_IN_PROGRESS) to rejoin.

use kafka_protocol::messages::{HeartbeatRequest as WireHeartbeat, HeartbeatResponse};

use super::super::request::Request;
use super::group_code;
use crate::group::{Generation, HeartbeatRequest};

pub(crate) async fn handle(request: &Request<'_>, body: WireHeartbeat) -> HeartbeatResponse {
    let heartbeat = HeartbeatRequest {
        group_id: body.group_id.to_string(),
        generation: Generation(body.generation_id),
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.map(|s| s.to_string()),
    };
    match request.context.groups.heartbeat(heartbeat).await {
        Ok(()) => HeartbeatResponse::default(),
        Err(error) => HeartbeatResponse::default().with_error_code(group_code(&error)),
    }
}
