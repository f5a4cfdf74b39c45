//! DeleteRecords: moves each partition's log start to the given offset (-1: the high
//! watermark) and answers the new low watermark.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::super::request::Request;
use super::{blocking, code};
use crate::topic::{TopicName, TopicPartition};

pub(crate) async fn handle(request: &Request<'_>, body: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(body.topics.len());
    for topic in body.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let broker = request.context.broker.clone();
            let name = topic.name.to_string();
            let (partition, offset) = (p.partition_index, p.offset);
            let deleted = blocking(move || {
                let tp = TopicPartition::new(TopicName::new(&name)?, partition);
                broker.delete_records(&tp, offset)
            })
            .await;
            let result = DeleteRecordsPartitionResult::default().with_partition_index(partition);
            partitions.push(match deleted {
                Ok(low_watermark) => result.with_low_watermark(low_watermark),
                Err(e) => result.with_error_code(code(&e)).with_low_watermark(-1),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
