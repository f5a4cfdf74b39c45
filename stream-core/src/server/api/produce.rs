//! Produce: each partition's record set is appended as it came (the broker validates it and
//! rewrites only the base offset and leader epoch) and answered with its own error code, so one
//! corrupt batch fails its partition only. With acks=0 nothing is answered, and a failure
//! closes the connection — the only way Kafka has to tell a fire-and-forget producer.
//!
//! Transactional batches are checked by the broker against the transaction coordinator before
//! they are appended (KIP-890 part 1): the producer's transaction must be open at the batch's
//! epoch and have added the partition. A partition it did not add is INVALID_TXN_STATE, or
//! TRANSACTION_ABORTABLE from v11 (what v11 says the client understands); a fenced producer is
//! INVALID_PRODUCER_EPOCH at every version, as Kafka answers produce requests. v12+ (the
//! partition added by the produce itself, transaction version 2) is not served.
//!
//! Where this departs from Kafka: the request's `transactional_id` is not consulted — the batch's
//! producer id finds its transaction — so a batch sent under another transactional id than its
//! producer's is not refused with INVALID_PRODUCER_ID_MAPPING.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName as WireTopic};

use super::super::request::Request;
use super::{blocking, code, str_bytes};
use crate::error::BrokerError;
use crate::partition::{Acks, ProduceResult};
use crate::topic::{TopicName, TopicPartition};

/// Offset of the magic byte in a record batch (after base offset, length and leader epoch).
const MAGIC_OFFSET: usize = 16;

/// The wire code of a failed append at `version`.
fn append_code(error: &BrokerError, version: i16) -> i16 {
    crate::server::error_codes::produce_code(error, version).code()
}

pub(crate) enum Answer {
    Respond(ProduceResponse),
    /// acks=0 and every partition was written.
    Silent,
    /// acks=0 and some partition failed.
    Failed,
}

/// One partition's record set, copied out of the request frame: the broker writes the offsets
/// into it, so it needs bytes of its own.
struct Append {
    topic: String,
    partition: i32,
    records: Result<Vec<u8>, (ResponseError, &'static str)>,
}

type Outcome = Result<ProduceResult, (i16, String)>;

fn parse(body: ProduceRequest) -> Vec<Append> {
    let mut appends = Vec::new();
    for topic in body.topic_data {
        for partition in topic.partition_data {
            appends.push(Append {
                topic: topic.name.to_string(),
                partition: partition.index,
                records: check_records(partition.records),
            });
        }
    }
    appends
}

/// Produce v3+ carries v2 record batches only (Kafka answers anything else INVALID_RECORD).
fn check_records(records: Option<Bytes>) -> Result<Vec<u8>, (ResponseError, &'static str)> {
    let records = records.filter(|r| !r.is_empty()).ok_or((
        ResponseError::InvalidRecord,
        "the partition's record set is empty",
    ))?;
    if records.get(MAGIC_OFFSET).is_some_and(|magic| *magic != 2) {
        return Err((
            ResponseError::InvalidRecord,
            "produce v3 and above must carry v2 record batches (magic 2)",
        ));
    }
    Ok(records.to_vec())
}

/// Appends every partition in request order, on the blocking pool.
async fn apply(request: &Request<'_>, acks: Acks, appends: Vec<Append>) -> Vec<(String, i32, Outcome)> {
    let keys: Vec<(String, i32)> = appends.iter().map(|a| (a.topic.clone(), a.partition)).collect();
    let broker = request.context.broker.clone();
    let version = request.version;
    let work = move || {
        let append_one = |append: Append| -> Outcome {
            let mut records = append
                .records
                .map_err(|(error, message)| (error.code(), message.to_string()))?;
            let appended = TopicName::new(&append.topic)
                .map(|name| TopicPartition::new(name, append.partition))
                .and_then(|tp| broker.produce(&tp, &mut records, acks));
            appended.map_err(|e| (append_code(&e, version), e.to_string()))
        };
        Ok(appends
            .into_iter()
            .map(|append| (append.topic.clone(), append.partition, append_one(append)))
            .collect())
    };
    match blocking(work).await {
        Ok(outcomes) => outcomes,
        Err(e) => keys
            .into_iter()
            .map(|(topic, partition)| (topic, partition, Err((code(&e), e.to_string()))))
            .collect(),
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: ProduceRequest) -> Answer {
    let acks = Acks::from_kafka(body.acks);
    let appends = parse(body);
    let fire_and_forget = matches!(acks, Ok(Acks::None));
    let outcomes = match acks {
        Ok(acks) => apply(request, acks, appends).await,
        Err(e) => appends
            .into_iter()
            .map(|a| (a.topic, a.partition, Err((code(&e), e.to_string()))))
            .collect(),
    };
    if fire_and_forget {
        return if outcomes.iter().all(|(_, _, outcome)| outcome.is_ok()) {
            Answer::Silent
        } else {
            Answer::Failed
        };
    }
    Answer::Respond(encode(request.version, outcomes))
}

fn encode(version: i16, outcomes: Vec<(String, i32, Outcome)>) -> ProduceResponse {
    let mut topics: Vec<TopicProduceResponse> = Vec::new();
    for (topic, partition, outcome) in outcomes {
        let response = match outcome {
            Ok(result) => PartitionProduceResponse::default()
                .with_index(partition)
                .with_base_offset(result.base_offset)
                .with_log_append_time_ms(result.log_append_time)
                .with_log_start_offset(result.log_start_offset),
            Err((error_code, message)) => {
                let response = PartitionProduceResponse::default()
                    .with_index(partition)
                    .with_error_code(error_code)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                if version >= 8 {
                    response.with_error_message(Some(str_bytes(message)))
                } else {
                    response
                }
            }
        };
        // Partitions of one topic arrive together; keep them in one entry.
        match topics.last_mut() {
            Some(last) if last.name.as_str() == topic => last.partition_responses.push(response),
            _ => topics.push(
                TopicProduceResponse::default()
                    .with_name(WireTopic(str_bytes(topic)))
                    .with_partition_responses(vec![response]),
            ),
        }
    }
    ProduceResponse::default().with_responses(topics)
}
