//! ListOffsets: per partition, the offset for a timestamp — -2 the log start, -1 the end, -3
//! the record with the largest timestamp (KIP-734, v7), otherwise the first record at or after
//! it. The end is the high watermark for read_uncommitted and the last stable offset for
//! read_committed (`isolation_level`, v2+; v1 reads uncommitted), and a read_committed lookup
//! finds nothing past the last stable offset, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::super::request::Request;
use super::code;
use crate::error::BrokerError;
use crate::partition::IsolationLevel;
use crate::topic::{TopicName, TopicPartition};

pub(crate) async fn handle(request: &Request<'_>, body: ListOffsetsRequest) -> ListOffsetsResponse {
    let broker = &request.context.broker;
    let isolation = IsolationLevel::from_kafka(body.isolation_level);
    let topics = body
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = lookup(
                        broker,
                        topic.name.as_str(),
                        p.partition_index,
                        p.timestamp,
                        p.current_leader_epoch,
                        isolation,
                    );
                    encode_partition(request.version, p.partition_index, answer)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn lookup(
    broker: &crate::broker::Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
    requested_epoch: i32,
    isolation: IsolationLevel,
) -> Result<(i64, i64, i32), Failure> {
    let tp = TopicPartition::new(TopicName::new(topic)?, partition);
    let epoch = broker.leader_epoch(&tp)?;
    check_epoch(requested_epoch, epoch)?;
    let (offset, timestamp) = broker.list_offset_with(&tp, timestamp, isolation)?;
    Ok((offset, timestamp, epoch))
}

/// v4+: a client that names the leader epoch it knows is told when that epoch is stale
/// (FENCED_LEADER_EPOCH) or newer than ours (UNKNOWN_LEADER_EPOCH); -1 skips the check.
fn check_epoch(requested: i32, current: i32) -> Result<(), EpochMismatch> {
    match requested {
        -1 => Ok(()),
        r if r < current => Err(EpochMismatch(ResponseError::FencedLeaderEpoch)),
        r if r > current => Err(EpochMismatch(ResponseError::UnknownLeaderEpoch)),
        _ => Ok(()),
    }
}

#[derive(Debug)]
struct EpochMismatch(ResponseError);

/// Lets `?` carry either failure out of one partition's lookup.
#[derive(Debug)]
enum Failure {
    Broker(BrokerError),
    Epoch(EpochMismatch),
}

impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Failure {
        Failure::Broker(e)
    }
}

impl From<EpochMismatch> for Failure {
    fn from(e: EpochMismatch) -> Failure {
        Failure::Epoch(e)
    }
}

fn encode_partition(
    version: i16,
    partition: i32,
    answer: Result<(i64, i64, i32), Failure>,
) -> ListOffsetsPartitionResponse {
    let response = ListOffsetsPartitionResponse::default().with_partition_index(partition);
    let response = match answer {
        // No record at or after the timestamp: offset -1, and no epoch to go with it.
        Ok((-1, timestamp, _)) => response
            .with_offset(-1)
            .with_timestamp(timestamp)
            .with_leader_epoch(-1),
        Ok((offset, timestamp, epoch)) => response
            .with_offset(offset)
            .with_timestamp(timestamp)
            .with_leader_epoch(epoch),
        Err(failure) => {
            let error_code = match failure {
                Failure::Broker(e) => code(&e),
                Failure::Epoch(EpochMismatch(e)) => e.code(),
            };
            response
                .with_error_code(error_code)
                .with_offset(-1)
                .with_timestamp(-1)
                .with_leader_epoch(-1)
        }
    };
    // The leader epoch exists from v4; before, only its default may be set.
    if version < 4 {
        response.with_leader_epoch(-1)
    } else {
        response
    }
}
