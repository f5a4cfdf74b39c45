//! TxnOffsetCommit: consumer offsets committed inside the producer's transaction. They are
//! stored at once but become the group's committed offsets only when the transaction commits
//! (and vanish if it aborts); until then OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for them.
//!
//! Partitions of unknown topics are answered UNKNOWN_TOPIC_OR_PARTITION and the others are
//! committed, as Kafka does. The transaction must have added the group (AddOffsetsToTxn) first.
//! v3 carries the consumer's generation, member id and instance id (KIP-447), checked like a
//! member's OffsetCommit so a zombie of an older generation cannot commit; before v3 (generation
//! -1, no member) the check is skipped.
//!
//! Error codes: a fenced producer is INVALID_PRODUCER_EPOCH at every version — this API never
//! got KIP-588's PRODUCER_FENCED, and Kafka's check of the transaction answers
//! INVALID_PRODUCER_EPOCH here. A transaction that did not add the group is INVALID_TXN_STATE,
//! or TRANSACTION_ABORTABLE from v4 (KIP-890). v5 (transaction version 2, where this request
//! also adds the group) is not served.

use std::collections::{HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::super::request::Request;
use super::{TxnCodes, none, partition_codes, txn_code};
use crate::broker::Broker;
use crate::group::{Generation, PartitionOffset, TxnCommitRequest};
use crate::topic::{TopicName, TopicPartition};

const CODES: TxnCodes = TxnCodes {
    producer_fenced_since: None,
    transaction_abortable_since: Some(4),
};

/// The offsets of existing partitions, as the group coordinator's request, and the partitions
/// that do not exist (decided once, so a topic created meanwhile is not answered as committed).
fn parse(broker: &Broker, body: &TxnOffsetCommitRequest) -> (TxnCommitRequest, HashSet<TopicPartition>) {
    let mut offsets = Vec::new();
    let mut unknown = HashSet::new();
    for topic in &body.topics {
        // A name that is not a valid topic name names no partition: answered below.
        let Ok(name) = TopicName::new(topic.name.as_str()) else {
            continue;
        };
        for p in &topic.partitions {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            if !broker.has_partition(&tp) {
                unknown.insert(tp);
                continue;
            }
            offsets.push(PartitionOffset {
                topic_partition: tp,
                offset: p.committed_offset,
                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
            });
        }
    }
    let commit = TxnCommitRequest {
        group_id: body.group_id.to_string(),
        producer_id: body.producer_id.0,
        producer_epoch: body.producer_epoch,
        generation: Generation(body.generation_id),
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    };
    (commit, unknown)
}

pub(crate) async fn handle(request: &Request<'_>, body: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let context = request.context;
    let (commit, unknown) = parse(&context.broker, &body);
    // `None`: every partition is unknown, nothing was asked of the coordinator.
    let codes: Option<Result<HashMap<TopicPartition, i16>, i16>> = if commit.offsets.is_empty() {
        None
    } else {
        let committed = context
            .txns
            .txn_offset_commit(body.transactional_id.as_str(), commit)
            .await;
        Some(
            committed
                .map(partition_codes)
                .map_err(|e| txn_code(&e, request.version, CODES)),
        )
    };
    // Answered in the request's order.
    let topics = body
        .topics
        .into_iter()
        .map(|topic| {
            let name = TopicName::new(topic.name.as_str()).ok();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = name
                        .clone()
                        .map(|name| TopicPartition::new(name, p.partition_index));
                    let error_code = match tp {
                        None => ResponseError::UnknownTopicOrPartition.code(),
                        Some(tp) if unknown.contains(&tp) => ResponseError::UnknownTopicOrPartition.code(),
                        Some(tp) => match &codes {
                            Some(Ok(codes)) => codes.get(&tp).copied().unwrap_or(none()),
                            Some(Err(error_code)) => *error_code,
                            // Unreachable: an existing partition makes the request non-empty.
                            None => ResponseError::UnknownServerError.code(),
                        },
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
