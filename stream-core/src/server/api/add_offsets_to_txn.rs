//! AddOffsetsToTxn: the open transaction will commit consumer offsets of a group (the
//! TxnOffsetCommit that follows), so the group's `__consumer_offsets` partition joins it and
//! receives its marker. v2 introduced PRODUCER_FENCED (KIP-588): older clients are told
//! INVALID_PRODUCER_EPOCH. v4 only says the client knows TRANSACTION_ABORTABLE (KIP-890), which
//! this API never answers: it adds a partition rather than writing to one.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::super::request::Request;
use super::{TxnCodes, blocking_txn, none, txn_code};

const CODES: TxnCodes = TxnCodes {
    producer_fenced_since: Some(2),
    transaction_abortable_since: None,
};

pub(crate) async fn handle(request: &Request<'_>, body: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let txns = request.context.txns.clone();
    let transactional_id = body.transactional_id.to_string();
    let group_id = body.group_id.to_string();
    let (producer_id, epoch) = (body.producer_id.0, body.producer_epoch);
    let added =
        blocking_txn(move || txns.add_offsets(&transactional_id, producer_id, epoch, &group_id)).await;
    let error_code = match added {
        Ok(()) => none(),
        Err(e) => txn_code(&e, request.version, CODES),
    };
    AddOffsetsToTxnResponse::default().with_error_code(error_code)
}
