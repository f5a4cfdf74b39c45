//! OffsetFetch: committed offsets (-1 where none) of one group, or of several (v8+, KIP-709).
//! A null topic list (v2+) asks for every partition the group committed.

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

/// Committed offsets grouped by topic, in the order they came.
fn by_topic(offsets: Vec<PartitionOffset>) -> Vec<(String, Vec<PartitionOffset>)> {
    let mut topics: Vec<(String, Vec<PartitionOffset>)> = Vec::new();
    for offset in offsets {
        let topic = offset.topic_partition.topic.clone();
        match topics.iter_mut().find(|(name, _)| *name == topic) {
            Some((_, partitions)) => partitions.push(offset),
            None => topics.push((topic, vec![offset])),
        }
    }
    topics
}

pub(crate) async fn handle(request: &Request<'_>, body: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = request.version;
    let mut answers = Vec::new();
    for (group_id, partitions) in parse(version, body) {
        let lookup = FetchOffsetsRequest {
            group_id: group_id.clone(),
            partitions,
        };
        let result = request.context.groups.fetch_offsets(lookup).await;
        answers.push((group_id, result.map(by_topic).map_err(|e| group_code(&e))));
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
                        .map(|o| {
                            OffsetFetchResponsePartition::default()
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

fn batched(
    group_id: String,
    result: Result<Vec<(String, Vec<PartitionOffset>)>, i16>,
) -> OffsetFetchResponseGroup {
    let group = OffsetFetchResponseGroup::default().with_group_id(GroupId(str_bytes(group_id)));
    match result {
        Err(error_code) => group.with_error_code(error_code),
        Ok(topics) => group.with_error_code(none()).with_topics(
            topics
                .into_iter()
                .map(|(name, offsets)| {
                    let partitions = offsets
                        .into_iter()
                        .map(|o| {
                            OffsetFetchResponsePartitions::default()
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
