//! OffsetCommit: answered once the offsets are stored in `__consumer_offsets`, per partition.
//! `retention_time_ms` (v2–v4) is ignored: offsets do not expire yet.

use std::collections::HashMap;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::super::request::Request;
use kafka_protocol::error::ResponseError;

use super::{error, group_code, none, partition_codes};
use crate::group::{CommitRequest, Generation, PartitionOffset};
use crate::topic::{TopicName, TopicPartition};

/// The request's offsets for topics with valid names: a name that is not a valid topic name
/// names no topic, and its partitions are answered UNKNOWN_TOPIC_OR_PARTITION, as Kafka
/// answers a commit for a topic it does not have.
fn parse(body: &OffsetCommitRequest) -> CommitRequest {
    let offsets = body
        .topics
        .iter()
        .filter_map(|topic| TopicName::new(topic.name.as_str()).ok().map(|name| (name, topic)))
        .flat_map(|(name, topic)| {
            topic.partitions.iter().map(move |p| PartitionOffset {
                topic_partition: TopicPartition::new(name.clone(), p.partition_index),
                offset: p.committed_offset,
                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                metadata: p.committed_metadata.as_deref().unwrap_or("").to_string(),
            })
        })
        .collect();
    CommitRequest {
        group_id: body.group_id.to_string(),
        generation: Generation(body.generation_id_or_member_epoch),
        member_id: body.member_id.to_string(),
        group_instance_id: body.group_instance_id.as_ref().map(|s| s.to_string()),
        offsets,
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: OffsetCommitRequest) -> OffsetCommitResponse {
    let commit = parse(&body);
    let codes: Result<HashMap<TopicPartition, i16>, i16> = request
        .context
        .groups
        .commit_offsets(commit)
        .await
        .map(partition_codes)
        .map_err(|e| group_code(&e));
    // Answered in the request's order; a group-level failure is every partition's.
    let topics = body
        .topics
        .into_iter()
        .map(|topic| {
            let name = TopicName::new(topic.name.as_str()).ok();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error_code = match (&name, &codes) {
                        (None, _) => error(ResponseError::UnknownTopicOrPartition),
                        (Some(name), Ok(codes)) => codes
                            .get(&TopicPartition::new(name.clone(), p.partition_index))
                            .copied()
                            .unwrap_or(none()),
                        (Some(_), Err(group_error)) => *group_error,
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
