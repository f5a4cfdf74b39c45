//! OffsetDelete (KIP-496): drops a group's committed offsets for some partitions, refusing
//! (GROUP_SUBSCRIBED_TO_TOPIC) topics the group's members consume.

use std::collections::HashMap;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::super::request::Request;
use super::{group_code, none, partition_codes};
use crate::group::TopicPartition;

pub(crate) async fn handle(request: &Request<'_>, body: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<TopicPartition> = body
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.name.to_string(), p.partition_index))
        })
        .collect();
    let results = request
        .context
        .groups
        .delete_offsets(body.group_id.as_str(), partitions)
        .await;
    let codes: HashMap<TopicPartition, i16> = match results {
        Ok(results) => partition_codes(results),
        Err(error) => return OffsetDeleteResponse::default().with_error_code(group_code(&error)),
    };
    let topics = body
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let tp = TopicPartition::new(topic.name.to_string(), p.partition_index);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.get(&tp).copied().unwrap_or(none()))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
