//! CreateTopics: creates each topic (or only validates it, with `validate_only`). This node is
//! the only replica: the replication factor must be 1 or -1 (the default), and a manual
//! assignment may name only this node. From v5 a created topic is answered with its partition
//! count, replication factor and configs; from v7 with its id.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::super::request::Request;
use super::describe_configs::topic_entries;
use super::{blocking, code, str_bytes, topic_uuid};
use crate::broker::Broker;
use crate::error::BrokerError;

/// One topic to create, in the broker's terms.
struct Creation {
    name: String,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
}

/// A refusal decided before the broker is asked.
type Refusal = (i16, String);

fn parse(node: i32, topic: &CreatableTopic) -> Result<Creation, Refusal> {
    let mut partitions = topic.num_partitions;
    if !topic.assignments.is_empty() {
        // Kafka: a manual assignment replaces the partition count and replication factor.
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest.code(),
                "both a replica assignment and a partition count or replication factor were given".into(),
            ));
        }
        if topic
            .assignments
            .iter()
            .any(|a| a.broker_ids.iter().any(|b| b.0 != node))
        {
            return Err((
                ResponseError::InvalidReplicaAssignment.code(),
                format!("this cluster has one broker, {node}"),
            ));
        }
        partitions = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
    }
    let configs = topic
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_deref().unwrap_or("").to_string()))
        .collect();
    Ok(Creation {
        name: topic.name.to_string(),
        partitions,
        replication_factor: if topic.assignments.is_empty() {
            topic.replication_factor
        } else {
            -1
        },
        configs,
    })
}

/// What `create_topic` would refuse, without creating anything.
fn validate(broker: &Broker, creation: &Creation) -> Result<(), BrokerError> {
    broker.validate_new_topic(
        &creation.name,
        creation.partitions,
        creation.replication_factor,
        &creation.configs,
    )
}

pub(crate) async fn handle(request: &Request<'_>, body: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = request.context.broker.clone();
    let mut results = Vec::with_capacity(body.topics.len());
    for topic in &body.topics {
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let creation = match parse(broker.node_id(), topic) {
            Ok(creation) => creation,
            Err((error_code, message)) => {
                results.push(refused(result, error_code, message));
                continue;
            }
        };
        let outcome = if body.validate_only {
            validate(&broker, &creation).map(|()| None)
        } else {
            let broker = broker.clone();
            blocking(move || {
                broker
                    .create_topic(
                        &creation.name,
                        creation.partitions,
                        creation.replication_factor,
                        creation.configs,
                    )
                    .map(Some)
            })
            .await
        };
        results.push(match outcome {
            Err(e) => refused(result, code(&e), e.to_string()),
            Ok(None) => result,
            Ok(Some(created)) => describe_created(request, &broker, result, created),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn refused(result: CreatableTopicResult, error_code: i16, message: String) -> CreatableTopicResult {
    result
        .with_error_code(error_code)
        .with_error_message(Some(str_bytes(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

fn describe_created(
    request: &Request<'_>,
    broker: &Broker,
    result: CreatableTopicResult,
    created: crate::broker::TopicDescription,
) -> CreatableTopicResult {
    let version = request.version;
    if version < 5 {
        return result;
    }
    let configs = topic_entries(broker, created.name.as_str(), None)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            CreatableTopicConfigs::default()
                .with_name(e.name())
                .with_value(e.value())
                .with_config_source(e.source())
        })
        .collect();
    let result = result
        .with_num_partitions(i32::try_from(created.partitions.len()).unwrap_or(i32::MAX))
        .with_replication_factor(1)
        .with_configs(Some(configs));
    if version >= 7 {
        result.with_topic_id(topic_uuid(&created.id))
    } else {
        result
    }
}
