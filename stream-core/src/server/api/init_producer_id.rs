//! InitProducerId for idempotent producers: a fresh producer id with epoch 0, every time
//! (Kafka too hands a non-transactional producer a new id rather than bumping an epoch).
//!
//! A transactional id is refused with COORDINATOR_NOT_AVAILABLE — the same answer
//! FindCoordinator gives for transaction coordinators — until transactions are implemented.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::super::request::Request;
use super::{blocking, code};

pub(crate) async fn handle(request: &Request<'_>, body: InitProducerIdRequest) -> InitProducerIdResponse {
    let refused = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match body.transactional_id.as_deref().map(|id| id.as_str()) {
        None => {}
        // Kafka refuses an empty transactional id as malformed.
        Some("") => return refused.with_error_code(ResponseError::InvalidRequest.code()),
        Some(_) => return refused.with_error_code(ResponseError::CoordinatorNotAvailable.code()),
    }
    // Reserving a new block of ids writes the broker's metadata file.
    let broker = request.context.broker.clone();
    match blocking(move || broker.init_producer_id()).await {
        Ok((id, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Err(e) => refused.with_error_code(code(&e)),
    }
}
