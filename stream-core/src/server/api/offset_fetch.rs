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
use crate::group::{FetchOffsetsRequest, PartitionOffset};
use crate::topic::{TopicName, TopicPartition};

/// One group's lookup: its id, the partitions asked for (`None` for all), and those asked for
/// under names that are not valid topic names: no topic has such a name, so they have no
/// committed offset (-1), as Kafka answers a topic it never saw.
struct Lookup {
    group_id: String,
    partitions: Option<Vec<TopicPartition>>,
    unnamed: Vec<(String, Vec<i32>)>,
}

fn parse(version: i16, body: OffsetFetchRequest) -> Vec<Lookup> {
    let lookup = |group_id: String, topics: Option<Vec<(&str, &[i32])>>| {
        let mut unnamed = Vec::new();
        let partitions = topics.map(|topics| {
            let mut partitions = Vec::new();
            for (name, indexes) in topics {
                match TopicName::new(name) {
                    Ok(name) => {
                        partitions.extend(indexes.iter().map(|p| TopicPartition::new(name.clone(), *p)))
                    }
                    Err(_) => unnamed.push((name.to_string(), indexes.to_vec())),
                }
            }
            partitions
        });
        Lookup {
            group_id,
            partitions,
            unnamed,
        }
    };
    if version >= 8 {
        body.groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (t.name.as_str(), t.partition_indexes.as_slice()))
                        .collect()
                });
                lookup(g.group_id.to_string(), topics)
            })
            .collect()
    } else {
        let topics = body.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (t.name.as_str(), t.partition_indexes.as_slice()))
                .collect()
        });
        vec![lookup(body.group_id.to_string(), topics)]
    }
}

/// One partition's answer: its committed offset and error code.
struct Answer {
    offset: i64,
    leader_epoch: Option<i32>,
    metadata: String,
    code: i16,
}

impl Answer {
    fn of(o: PartitionOffset, code: i16) -> Answer {
        Answer {
            offset: o.offset,
            leader_epoch: o.leader_epoch,
            metadata: o.metadata,
            code,
        }
    }

    fn uncommitted() -> Answer {
        Answer {
            offset: -1,
            leader_epoch: None,
            metadata: String::new(),
            code: none(),
        }
    }
}

/// A topic's name and its partitions' answers.
type TopicAnswer = (String, Vec<(i32, Answer)>);

/// Committed offsets grouped by topic, in the order they came, then the partitions of names
/// that are no topic's, uncommitted.
fn by_topic(offsets: Vec<(PartitionOffset, i16)>, unnamed: Vec<(String, Vec<i32>)>) -> Vec<TopicAnswer> {
    let mut topics: Vec<TopicAnswer> = Vec::new();
    for (offset, code) in offsets {
        let topic = offset.topic_partition.topic.to_string();
        let partition = offset.topic_partition.partition;
        let answer = (partition, Answer::of(offset, code));
        match topics.iter_mut().find(|(name, _)| *name == topic) {
            Some((_, partitions)) => partitions.push(answer),
            None => topics.push((topic, vec![answer])),
        }
    }
    for (name, partitions) in unnamed {
        let uncommitted = partitions.into_iter().map(|p| (p, Answer::uncommitted()));
        topics.push((name, uncommitted.collect()));
    }
    topics
}

/// With `require_stable`, a partition whose offset an open transaction may still change is
/// answered UNSTABLE_OFFSET_COMMIT and offset -1 (Kafka's answer); otherwise as committed.
fn stable(
    request: &Request<'_>,
    group_id: &str,
    require_stable: bool,
    offset: PartitionOffset,
) -> (PartitionOffset, i16) {
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
    for Lookup {
        group_id,
        partitions,
        unnamed,
    } in parse(version, body)
    {
        let lookup = FetchOffsetsRequest {
            group_id: group_id.clone(),
            partitions,
        };
        let result = request.context.groups.fetch_offsets(lookup).await.map(|offsets| {
            let answers = offsets
                .into_iter()
                .map(|offset| stable(request, &group_id, require_stable, offset))
                .collect();
            by_topic(answers, unnamed)
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
                        .map(|(partition, o)| {
                            OffsetFetchResponsePartition::default()
                                .with_error_code(o.code)
                                .with_partition_index(partition)
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

fn batched(group_id: String, result: Result<Vec<TopicAnswer>, i16>) -> OffsetFetchResponseGroup {
    let group = OffsetFetchResponseGroup::default().with_group_id(GroupId(str_bytes(group_id)));
    match result {
        Err(error_code) => group.with_error_code(error_code),
        Ok(topics) => group.with_error_code(none()).with_topics(
            topics
                .into_iter()
                .map(|(name, offsets)| {
                    let partitions = offsets
                        .into_iter()
                        .map(|(partition, o)| {
                            OffsetFetchResponsePartitions::default()
                                .with_error_code(o.code)
                                .with_partition_index(partition)
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
