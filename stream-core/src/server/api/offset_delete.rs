//! OffsetDelete (KIP-496): drops a group's committed offsets for some partitions, refusing
//! (GROUP_SUBSCRIBED_TO_TOPIC) topics the group's members consume.

use std::collections::HashMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::super::request::Request;
use super::{error, group_code, none, partition_codes};
use crate::topic::{TopicName, TopicPartition};

pub(crate) async fn handle(request: &Request<'_>, body: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<TopicPartition> = body
        .topics
        .iter()
        // A name that is not a valid topic name names no topic: answered below.
        .filter_map(|t| TopicName::new(t.name.as_str()).ok().map(|name| (name, t)))
        .flat_map(|(name, t)| {
            t.partitions
                .iter()
                .map(move |p| TopicPartition::new(name.clone(), p.partition_index))
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
            let name = TopicName::new(topic.name.as_str()).ok();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = match &name {
                        Some(name) => codes
                            .get(&TopicPartition::new(name.clone(), p.partition_index))
                            .copied()
                            .unwrap_or(none()),
                        None => error(ResponseError::UnknownTopicOrPartition),
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
