//! Fetch: a long poll over the requested partitions (`broker.fetch_located` waits up to
//! max_wait for min_bytes), answered with the stored batches as they lie on disk: each
//! partition's batches go from the segment file to the socket with `sendfile` (see
//! [`super::super::frame`]); runs under [`SPLICE_MIN`] are read and copied.
//!
//! Fetch sessions (KIP-227) are declined: every answer carries session id 0, which tells the
//! client to keep sending full fetch requests. Topic ids (v13+) are resolved to names.
//!
//! The isolation level is the broker's: read_uncommitted reads up to the high watermark and is
//! sent a null aborted-transaction list; read_committed reads up to the last stable offset (the
//! first offset of the oldest open transaction) and is sent the aborted transactions the
//! returned batches overlap, so the client can drop their records (KIP-98). Every answer
//! carries the partition's last stable offset.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId, TopicName as WireTopic};

use storage::FileSlice;

use super::super::frame::{Part, SPLICE_MIN, Splice};
use super::super::request::Request;
use super::super::stand_in::stand_in;
use super::{code, str_bytes, topic_uuid};
use crate::broker::{FetchPartition, FetchRequest as BrokerFetch};
use crate::error::BrokerError;
use crate::partition::{AbortedTxn, FetchedPartition, IsolationLevel};
use crate::topic::{TopicName, TopicPartition};

/// KIP-227's epochs: 0 asks to open a session, -1 is a sessionless full fetch.
const INITIAL_EPOCH: i32 = 0;
const FINAL_EPOCH: i32 = -1;

/// One requested topic: its name (resolved from the id in v13+) or why it cannot be served.
struct WantedTopic {
    name: Result<TopicName, i16>,
    /// Echoed back: the name up to v12, the id (hex) from v13.
    wire_name: String,
    wire_id: String,
    partitions: Vec<(i32, i64, i32)>,
}

fn parse(request: &Request<'_>, body: &FetchRequest) -> Vec<WantedTopic> {
    body.topics
        .iter()
        .map(|topic| {
            let (name, wire_id) = if request.version >= 13 {
                let id = topic.topic_id.simple().to_string();
                let name = request
                    .context
                    .topic_by_id(&id)
                    .ok_or(super::error(ResponseError::UnknownTopicId));
                (name, id)
            } else {
                // A name that is not a valid topic name cannot name an existing topic.
                let name = TopicName::new(topic.topic.as_str())
                    .map_err(|_| super::error(ResponseError::UnknownTopicOrPartition));
                (name, String::new())
            };
            WantedTopic {
                name,
                wire_name: topic.topic.to_string(),
                wire_id,
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| (p.partition, p.fetch_offset, p.partition_max_bytes))
                    .collect(),
            }
        })
        .collect()
}

/// The response, and the file slices its records fields stand for (to be spliced in when the
/// frame is encoded).
pub(crate) async fn handle(request: &Request<'_>, body: FetchRequest) -> (FetchResponse, Vec<Splice>) {
    if request.version >= 7 {
        let session_error = if body.session_id != 0 {
            Some(ResponseError::FetchSessionIdNotFound)
        } else if body.session_epoch != INITIAL_EPOCH && body.session_epoch != FINAL_EPOCH {
            Some(ResponseError::InvalidFetchSessionEpoch)
        } else {
            None
        };
        if let Some(error) = session_error {
            return (FetchResponse::default().with_error_code(error.code()), Vec::new());
        }
    }
    let wanted = parse(request, &body);
    let isolation = IsolationLevel::from_kafka(body.isolation_level);
    let fetch = BrokerFetch {
        max_wait: Duration::from_millis(u64::try_from(body.max_wait_ms).unwrap_or(0)),
        min_bytes: usize::try_from(body.min_bytes).unwrap_or(0),
        max_bytes: usize::try_from(body.max_bytes).unwrap_or(0),
        isolation,
        partitions: wanted
            .iter()
            .filter_map(|t| t.name.as_ref().ok().map(|name| (name, &t.partitions)))
            .flat_map(|(name, partitions)| {
                partitions
                    .iter()
                    .map(|(partition, offset, max_bytes)| FetchPartition {
                        tp: TopicPartition::new(name.clone(), *partition),
                        offset: *offset,
                        max_bytes: usize::try_from(*max_bytes).unwrap_or(0),
                    })
            })
            .collect(),
    };
    let mut fetched = request.context.broker.fetch_located(&fetch).await.into_iter();
    let mut splices = Vec::new();
    let read_committed = isolation == IsolationLevel::ReadCommitted;
    let topics = wanted
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|(partition, _, _)| {
                    let result = match &topic.name {
                        // The broker answers the partitions in the order they were asked.
                        Ok(_) => fetched
                            .next()
                            .map(|(_, r)| r.and_then(|f| records(f, &mut splices)).map_err(|e| code(&e))),
                        Err(error_code) => Some(Err(*error_code)),
                    };
                    partition_data(*partition, result, read_committed)
                })
                .collect();
            let response = FetchableTopicResponse::default().with_partitions(partitions);
            if request.version >= 13 {
                response.with_topic_id(topic_uuid(&topic.wire_id))
            } else {
                response.with_topic(WireTopic(str_bytes(topic.wire_name)))
            }
        })
        .collect();
    // Session id 0: no session was created; the client keeps sending full requests.
    (
        FetchResponse::default().with_session_id(0).with_responses(topics),
        splices,
    )
}

/// The partition's records field: a stand-in for its file slice (recorded in `splices`), or
/// the batches read when the run is short or no stand-in is left (spliced in as bytes when
/// long enough).
fn records(
    fetched: FetchedPartition<Option<FileSlice>>,
    splices: &mut Vec<Splice>,
) -> Result<FetchedPartition, BrokerError> {
    let records = match fetched.records {
        None => Bytes::new(),
        Some(slice) => match (slice.len() >= SPLICE_MIN)
            .then(|| stand_in(splices.len(), slice.len()))
            .flatten()
        {
            Some(stand_in) => {
                splices.push(Splice {
                    stand_in: stand_in.clone(),
                    part: Part::File(slice),
                });
                stand_in
            }
            None => {
                let bytes = slice.read()?;
                if bytes.len() >= SPLICE_MIN {
                    // Not copied into the frame either.
                    splices.push(Splice::bytes(bytes.clone()));
                }
                bytes
            }
        },
    };
    Ok(FetchedPartition {
        high_watermark: fetched.high_watermark,
        last_stable_offset: fetched.last_stable_offset,
        log_start_offset: fetched.log_start_offset,
        records,
        aborted: fetched.aborted,
    })
}

fn partition_data(
    partition: i32,
    result: Option<Result<FetchedPartition, i16>>,
    read_committed: bool,
) -> PartitionData {
    let data = PartitionData::default().with_partition_index(partition);
    // Kafka sends a null aborted-transaction list to read_uncommitted consumers.
    let aborted = read_committed.then(Vec::new);
    match result {
        Some(Ok(fetched)) => data
            .with_high_watermark(fetched.high_watermark)
            .with_last_stable_offset(fetched.last_stable_offset)
            .with_log_start_offset(fetched.log_start_offset)
            .with_aborted_transactions(
                fetched
                    .aborted
                    .map(|list| list.iter().map(aborted_transaction).collect()),
            )
            .with_records(Some(fetched.records)),
        Some(Err(error_code)) => data
            .with_error_code(error_code)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_aborted_transactions(aborted)
            .with_records(Some(Bytes::new())),
        None => data
            .with_error_code(super::error(ResponseError::UnknownServerError))
            .with_records(Some(Bytes::new())),
    }
}

/// The wire's entry for one aborted transaction: the client drops the records of
/// `producer_id` from `first_offset` on until it meets the producer's abort marker.
fn aborted_transaction(aborted: &AbortedTxn) -> AbortedTransaction {
    AbortedTransaction::default()
        .with_producer_id(ProducerId(aborted.producer_id))
        .with_first_offset(aborted.first_offset)
}
