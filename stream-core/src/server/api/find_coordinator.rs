//! FindCoordinator: this node coordinates every group (key type 0) and every transactional id
//! (key type 1). Any other key type is INVALID_REQUEST, as Kafka answers an unknown coordinator
//! type (share groups, key type 2, exist from v6, which is not served). v4 batches keys
//! (KIP-699): each gets its own entry.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::super::request::Request;
use super::str_bytes;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
const UNKNOWN_TYPE: &str = "unknown coordinator key type";

pub(crate) async fn handle(request: &Request<'_>, body: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let context = request.context;
    let node = BrokerId(context.broker.node_id());
    let known = matches!(body.key_type, GROUP | TRANSACTION);
    if request.version >= 4 {
        let coordinators = body
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let entry = Coordinator::default().with_key(key);
                if known {
                    entry
                        .with_node_id(node)
                        .with_host(context.advertised_host())
                        .with_port(context.advertised_port())
                } else {
                    entry
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(UNKNOWN_TYPE)))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if known {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(context.advertised_host())
            .with_port(context.advertised_port())
    } else {
        let response = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(ResponseError::InvalidRequest.code());
        if request.version >= 1 {
            response.with_error_message(Some(str_bytes(UNKNOWN_TYPE)))
        } else {
            response
        }
    }
}
