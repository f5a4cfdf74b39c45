//! EndTxn: commits or aborts the producer's open transaction. Answered once the coordinator has
//! stored its decision and written a marker to every partition of the transaction (Kafka
//! answers once the decision is stored and writes the markers behind; see `crate::txn`), so a
//! read_committed consumer that fetches after the answer sees the outcome.
//!
//! A retry of an EndTxn that completed is answered success; ending a transaction the other way
//! than it ended, or one that never started, is INVALID_TXN_STATE; one being completed is
//! CONCURRENT_TRANSACTIONS (retriable). v2 introduced PRODUCER_FENCED (KIP-588): older clients
//! are told INVALID_PRODUCER_EPOCH. v4 only says the client knows TRANSACTION_ABORTABLE
//! (KIP-890). v5 (transaction version 2: an epoch bump per transaction, the new epoch in the
//! answer) is not served: the coordinator implements transaction version 1.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::super::request::Request;
use super::{TxnCodes, blocking_txn, none, txn_code};

const CODES: TxnCodes = TxnCodes {
    producer_fenced_since: Some(2),
    transaction_abortable_since: None,
};

pub(crate) async fn handle(request: &Request<'_>, body: EndTxnRequest) -> EndTxnResponse {
    let txns = request.context.txns.clone();
    let transactional_id = body.transactional_id.to_string();
    let (producer_id, epoch, commit) = (body.producer_id.0, body.producer_epoch, body.committed);
    let ended = blocking_txn(move || txns.end_txn(&transactional_id, producer_id, epoch, commit)).await;
    let error_code = match ended {
        Ok(()) => none(),
        Err(e) => txn_code(&e, request.version, CODES),
    };
    EndTxnResponse::default().with_error_code(error_code)
}
