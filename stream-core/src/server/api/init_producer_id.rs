//! InitProducerId. Without a transactional id (an idempotent producer): a fresh producer id
//! with epoch 0, every time — Kafka too hands a non-transactional producer a new id rather than
//! bumping an epoch. With one: the transaction coordinator's producer id for it and a new epoch,
//! which fences every older producer of the id and aborts its open transaction.
//!
//! v3+ carries the producer id and epoch a client resumes with (KIP-360): both -1 for a fresh
//! producer, both set to be checked against the coordinator's, and one without the other is
//! INVALID_REQUEST, as in Kafka. v4 introduced PRODUCER_FENCED (KIP-588): older clients are told
//! INVALID_PRODUCER_EPOCH. v5 only says the client knows TRANSACTION_ABORTABLE (KIP-890), which
//! this API never answers.
//!
//! Where this departs from Kafka: an idempotent producer's v3+ producer id and epoch are
//! ignored, so a producer that resumes after UNKNOWN_PRODUCER_ID gets a new id rather than its
//! own with the epoch bumped. The records it had in flight are then retried under the new id.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::super::request::Request;
use super::{TxnCodes, blocking, blocking_txn, code, txn_code};

/// KIP-588's PRODUCER_FENCED from v4; TRANSACTION_ABORTABLE does not apply to this API.
const CODES: TxnCodes = TxnCodes {
    producer_fenced_since: Some(4),
    transaction_abortable_since: None,
};

/// The producer id and epoch to resume with: `Ok(None)` for a fresh producer.
fn expected(body: &InitProducerIdRequest) -> Result<Option<(i64, i16)>, ResponseError> {
    match (body.producer_id.0, body.producer_epoch) {
        (-1, -1) => Ok(None),
        (-1, _) | (_, -1) => Err(ResponseError::InvalidRequest),
        (id, epoch) => Ok(Some((id, epoch))),
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: InitProducerIdRequest) -> InitProducerIdResponse {
    let refused = |error_code: i16| {
        InitProducerIdResponse::default()
            .with_error_code(error_code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    let answer = |(id, epoch): (i64, i16)| {
        InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch)
    };
    let Some(transactional_id) = body.transactional_id.as_ref().map(|id| id.to_string()) else {
        // Reserving a new block of ids writes the broker's metadata file.
        let broker = request.context.broker.clone();
        return match blocking(move || broker.init_producer_id()).await {
            Ok(ids) => answer(ids),
            Err(e) => refused(code(&e)),
        };
    };
    let expected = match expected(&body) {
        Ok(expected) => expected,
        Err(error) => return refused(error.code()),
    };
    // The coordinator refuses an empty id (INVALID_REQUEST) and a timeout outside
    // 1..=transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT).
    let txns = request.context.txns.clone();
    let timeout_ms = body.transaction_timeout_ms;
    let result = blocking_txn(move || txns.init_producer_id(&transactional_id, timeout_ms, expected)).await;
    match result {
        Ok(ids) => answer(ids),
        Err(e) => refused(txn_code(&e, request.version, CODES)),
    }
}
