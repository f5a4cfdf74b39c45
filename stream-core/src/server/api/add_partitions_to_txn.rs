//! AddPartitionsToTxn: the producer names the partitions its open transaction will write to,
//! before it writes (the broker refuses transactional batches for partitions not added, KIP-890).
//!
//! Every partition must exist: if one does not, nothing is added, and the answer is
//! UNKNOWN_TOPIC_OR_PARTITION for it and OPERATION_NOT_ATTEMPTED for the others, as Kafka answers.
//! A coordinator error (unknown producer id, stale epoch, a transaction completing) is every
//! partition's. v2 introduced PRODUCER_FENCED (KIP-588): older clients are told
//! INVALID_PRODUCER_EPOCH.
//!
//! Only v0–v3, the versions clients send, are served. v4+ is the batched form with
//! `verify_only` that brokers send to a transaction coordinator to check a transactional write
//! (KIP-890): on one node the broker asks its coordinator in-process, and Kafka's clients never
//! send v4+ (v5 only adds TRANSACTION_ABORTABLE to v4).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName as WireTopic,
};

use super::super::request::Request;
use super::{TxnCodes, blocking_txn, none, txn_code};
use crate::broker::Broker;
use crate::topic::{TopicName, TopicPartition};

/// KIP-588's PRODUCER_FENCED from v2; this API adds partitions rather than writing to them, so
/// TRANSACTION_ABORTABLE does not apply.
const CODES: TxnCodes = TxnCodes {
    producer_fenced_since: Some(2),
    transaction_abortable_since: None,
};

/// One requested topic: its name as sent, and each partition with its broker name if it exists.
type Wanted = (WireTopic, Vec<(i32, Option<TopicPartition>)>);

/// The requested partitions, in request order.
fn parse(broker: &Broker, body: &AddPartitionsToTxnRequest) -> Vec<Wanted> {
    body.v3_and_below_topics
        .iter()
        .map(|topic| {
            // A name that is not a valid topic name cannot name an existing topic.
            let name = TopicName::new(topic.name.as_str()).ok();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = name
                        .clone()
                        .map(|name| TopicPartition::new(name, *p))
                        .filter(|tp| broker.has_partition(tp));
                    (*p, tp)
                })
                .collect();
            (topic.name.clone(), partitions)
        })
        .collect()
}

pub(crate) async fn handle(
    request: &Request<'_>,
    body: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let context = request.context;
    let wanted = parse(&context.broker, &body);
    let known: Option<Vec<TopicPartition>> = wanted
        .iter()
        .flat_map(|(_, partitions)| partitions.iter().map(|(_, tp)| tp.clone()))
        .collect();
    // `Err(None)`: some partition does not exist, so the coordinator was not asked;
    // `Err(Some(code))`: the coordinator refused the whole request.
    let outcome = match known {
        None => Err(None),
        Some(partitions) => {
            let txns = context.txns.clone();
            let transactional_id = body.v3_and_below_transactional_id.to_string();
            let (producer_id, epoch) = (body.v3_and_below_producer_id.0, body.v3_and_below_producer_epoch);
            blocking_txn(move || txns.add_partitions(&transactional_id, producer_id, epoch, &partitions))
                .await
                .map_err(|e| Some(txn_code(&e, request.version, CODES)))
        }
    };
    let results = wanted
        .into_iter()
        .map(|(name, partitions)| {
            let results = partitions
                .into_iter()
                .map(|(index, tp)| {
                    let error_code = match (&outcome, tp) {
                        (Ok(()), _) => none(),
                        (Err(Some(error_code)), _) => *error_code,
                        (Err(None), None) => ResponseError::UnknownTopicOrPartition.code(),
                        (Err(None), Some(_)) => ResponseError::OperationNotAttempted.code(),
                    };
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(index)
                        .with_partition_error_code(error_code)
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(results)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
