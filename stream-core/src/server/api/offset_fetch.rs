//! OffsetFetch: committed offsets (-1 where none) of one group, or of several (v8+, KIP-709).
//! A null topic list (v2+) asks for every partition the group committed.
//!
//! `require_stable` (v7+, KIP-447): a partition for which an open transaction holds offsets
//! (TxnOffsetCommit not yet decided) is answered UNSTABLE_OFFSET_COMMIT with offset -1, so a
//! read_committed consumer retries rather than start from an offset about to change. As in
//! Kafka, the error is the partition's, at every version.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName as WireTopic};

use super::super::request::Request;
use super::{group_code, none, str_bytes};
use crate::group::{FetchOffsetsRequest, PartitionOffset, TopicPartition};

/// One group's lookup: its id and the partitions asked for (`None` for all).
type Lookup = (String, Option<Vec<TopicPartition>>);

fn parse(version: i16, body: OffsetFetchRequest) -> Vec<Lookup> {
    let partitions = |name: &str, indexes: &[i32]| {
        indexes
            .iter()
            .map(|p| TopicPartition::new(name, *p))
            .collect::<Vec<_>>()
    };
    if version >= 8 {
        body.groups
            .into_iter()
            .map(|g| {
                let wanted = g.topics.map(|topics| {
                    topics
                        .iter()
                        .flat_map(|t| partitions(t.name.as_str(), &t.partition_indexes))
                        .collect()
                });
                (g.group_id.to_string(), wanted)
            })
            .collect()
    } else {
        let wanted = body.topics.map(|topics| {
            topics
                .iter()
                .flat_map(|t| partitions(t.name.as_str(), &t.partition_indexes))
                .collect()
        });
        vec![(body.group_id.to_string(), wanted)]
    }
}

/// One partition's answer: its committed offset and error code.
type Answer = (PartitionOffset, i16);

/// Committed offsets grouped by topic, in the order they came.
fn by_topic(offsets: Vec<Answer>) -> Vec<(String, Vec<Answer>)> {
    let mut topics: Vec<(String, Vec<Answer>)> = Vec::new();
    for answer in offsets {
        let topic = answer.0.topic_partition.topic.clone();
        match topics.iter_mut().find(|(name, _)| *name == topic) {
            Some((_, partitions)) => partitions.push(answer),
            None => topics.push((topic, vec![answer])),
        }
    }
    topics
}

/// With `require_stable`, a partition whose offset an open transaction may still change is
/// answered UNSTABLE_OFFSET_COMMIT and offset -1 (Kafka's answer); otherwise as committed.
fn stable(request: &Request<'_>, group_id: &str, require_stable: bool, offset: PartitionOffset) -> Answer {
    let groups = &request.context.groups;
    if require_stable
        && groups.has_unstable_offsets(group_id, Some(std::slice::from_ref(&offset.topic_partition)))
    {
        let unstable = PartitionOffset {
            offset: -1,
            leader_epoch: None,
            metadata: String::new(),
            ..offset
        };
        return (unstable, ResponseError::UnstableOffsetCommit.code());
    }
    (offset, none())
}

pub(crate) async fn handle(request: &Request<'_>, body: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = request.version;
    // False before v7, where the field does not exist.
    let require_stable = body.require_stable;
    let mut answers = Vec::new();
    for (group_id, partitions) in parse(version, body) {
        let lookup = FetchOffsetsRequest {
            group_id: group_id.clone(),
            partitions,
        };
        let result = request.context.groups.fetch_offsets(lookup).await.map(|offsets| {
            let answers = offsets
                .into_iter()
                .map(|offset| stable(request, &group_id, require_stable, offset))
                .collect();
            by_topic(answers)
        });
        answers.push((group_id, result.map_err(|e| group_code(&e))));
    }
    if version >= 8 {
        let groups = answers
            .into_iter()
            .map(|(id, result)| batched(id, result))
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let Some((_, result)) = answers.pop() else {
        return OffsetFetchResponse::default();
    };
    match result {
        Ok(topics) => OffsetFetchResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(name, offsets)| {
                    let partitions = offsets
                        .into_iter()
                        .map(|(o, error_code)| {
                            OffsetFetchResponsePartition::default()
                                .with_error_code(error_code)
                                .with_partition_index(o.topic_partition.partition)
                                .with_committed_offset(o.offset)
                                .with_committed_leader_epoch(if version >= 5 {
                                    o.leader_epoch.unwrap_or(-1)
                                } else {
                                    -1
                                })
                                .with_metadata(Some(str_bytes(o.metadata)))
                        })
                        .collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(WireTopic(str_bytes(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        ),
        // The top-level error code exists from v2; v1 clients only see the (empty) answer.
        Err(error_code) if version >= 2 => OffsetFetchResponse::default().with_error_code(error_code),
        Err(_) => OffsetFetchResponse::default(),
    }
}

fn batched(group_id: String, result: Result<Vec<(String, Vec<Answer>)>, i16>) -> OffsetFetchResponseGroup {
    let group = OffsetFetchResponseGroup::default().with_group_id(GroupId(str_bytes(group_id)));
    match result {
        Err(error_code) => group.with_error_code(error_code),
        Ok(topics) => group.with_error_code(none()).with_topics(
            topics
                .into_iter()
                .map(|(name, offsets)| {
                    let partitions = offsets
                        .into_iter()
                        .map(|(o, error_code)| {
                            OffsetFetchResponsePartitions::default()
                                .with_error_code(error_code)
                                .with_partition_index(o.topic_partition.partition)
                                .with_committed_offset(o.offset)
                                .with_committed_leader_epoch(o.leader_epoch.unwrap_or(-1))
                                .with_metadata(Some(str_bytes(o.metadata)))
                        })
                        .collect();
                    OffsetFetchResponseTopics::default()
                        .with_name(WireTopic(str_bytes(name)))
                        .with_partitions(partitions)
                })
                .collect(),
        ),
    }
}
