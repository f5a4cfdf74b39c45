//! FindCoordinator: this node coordinates every group. Transaction coordinators do not exist
//! yet, so a transactional key is answered COORDINATOR_NOT_AVAILABLE with a message saying so
//! (clients retry it until their timeout rather than failing with a misleading error).
//! v4 batches keys (KIP-699): each gets its own entry.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::super::request::Request;
use super::str_bytes;

const GROUP: i8 = 0;
const NO_TRANSACTIONS: &str = "this broker does not support transactions yet";

pub(crate) async fn handle(request: &Request<'_>, body: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let context = request.context;
    let node = BrokerId(context.broker.node_id());
    let available = body.key_type == GROUP;
    if request.version >= 4 {
        let coordinators = body
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let entry = Coordinator::default().with_key(key);
                if available {
                    entry
                        .with_node_id(node)
                        .with_host(context.advertised_host())
                        .with_port(context.advertised_port())
                } else {
                    entry
                        .with_node_id(BrokerId(-1))
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                        .with_error_message(Some(str_bytes(NO_TRANSACTIONS)))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    if available {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(context.advertised_host())
            .with_port(context.advertised_port())
    } else {
        let response = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(ResponseError::CoordinatorNotAvailable.code());
        if request.version >= 1 {
            response.with_error_message(Some(str_bytes(NO_TRANSACTIONS)))
        } else {
            response
        }
    }
}
