//! CreatePartitions: grows a topic to `count` partitions (or only validates it). Manual
//! assignments may name only this node.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::super::request::Request;
use super::{blocking, code, str_bytes};
use crate::error::BrokerError;

pub(crate) async fn handle(request: &Request<'_>, body: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let broker = request.context.broker.clone();
    let node = broker.node_id();
    let mut results = Vec::with_capacity(body.topics.len());
    for topic in body.topics {
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let foreign = topic
            .assignments
            .iter()
            .flatten()
            .any(|a| a.broker_ids.iter().any(|b| b.0 != node));
        let outcome: Result<(), (i16, String)> = if foreign {
            Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!("this cluster has one broker, {node}"),
            ))
        } else if body.validate_only {
            broker
                .partition_count(topic.name.as_str())
                .and_then(|count| {
                    if topic.count > count {
                        Ok(())
                    } else {
                        Err(BrokerError::InvalidPartitions {
                            count: topic.count,
                            reason: "a topic's partition count can only grow",
                        })
                    }
                })
                .map_err(|e| (code(&e), e.to_string()))
        } else {
            let broker = broker.clone();
            let name = topic.name.to_string();
            let count = topic.count;
            blocking(move || broker.create_partitions(&name, count))
                .await
                .map_err(|e| (code(&e), e.to_string()))
        };
        results.push(match outcome {
            Ok(()) => result,
            Err((error_code, message)) => result
                .with_error_code(error_code)
                .with_error_message(Some(str_bytes(message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
