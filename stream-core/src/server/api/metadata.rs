//! Metadata: this node as the only broker and the leader of every partition, the cluster id,
//! and the requested topics (all of them for a null list, or an empty one before v1), creating
//! missing ones when the client allows it (v4+) and `auto.create.topics.enable` is on.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName as WireTopic};

use super::super::request::Request;
use super::{blocking, code, str_bytes, topic_uuid};
use crate::broker::TopicDescription;

/// Which topics a request asks about.
#[derive(Debug)]
enum Wanted {
    All,
    Some(Vec<Lookup>),
}

#[derive(Debug)]
enum Lookup {
    Name(String),
    /// v10+: a topic named by id only (32 hex digits).
    Id(String),
}

fn parse(version: i16, request: &MetadataRequest) -> Wanted {
    match &request.topics {
        None => Wanted::All,
        // Before v1 there is no null list: an empty one means every topic.
        Some(topics) if topics.is_empty() && version == 0 => Wanted::All,
        Some(topics) => Wanted::Some(
            topics
                .iter()
                .map(|t| match &t.name {
                    Some(name) => Lookup::Name(name.to_string()),
                    None => Lookup::Id(t.topic_id.simple().to_string()),
                })
                .collect(),
        ),
    }
}

pub(crate) async fn handle(request: &Request<'_>, body: MetadataRequest) -> MetadataResponse {
    let version = request.version;
    let context = request.context;
    // Before v4 there is no flag and Kafka auto-creates; the broker still checks its own config.
    let allow_create = version < 4 || body.allow_auto_topic_creation;
    let topics = match parse(version, &body) {
        Wanted::All => context
            .broker
            .list_topics()
            .into_iter()
            .map(|name| describe(request, name.to_string(), false))
            .collect::<Vec<_>>(),
        Wanted::Some(lookups) => {
            let mut out = Vec::with_capacity(lookups.len());
            for lookup in lookups {
                let topic = match lookup {
                    Lookup::Name(name) if allow_create => {
                        let broker = context.broker.clone();
                        let created = blocking(move || broker.ensure_topic(&name).map(|t| t.to_string()));
                        match created.await {
                            Ok(name) => describe(request, name, false),
                            Err(e) => failed(Some(lookup_name(&e)), code(&e)),
                        }
                    }
                    Lookup::Name(name) => describe(request, name, false),
                    Lookup::Id(id) => match context.topic_by_id(&id) {
                        Some(name) => describe(request, name.to_string(), true),
                        None => failed(None, super::error(ResponseError::UnknownTopicId))
                            .with_topic_id(topic_uuid(&id)),
                    },
                };
                out.push(topic);
            }
            out
        }
    };
    encode(request, topics)
}

/// The name carried by a broker error, to echo back with its code.
fn lookup_name(error: &crate::error::BrokerError) -> String {
    match error {
        crate::error::BrokerError::UnknownTopicOrPartition { topic, .. } => topic.clone(),
        crate::error::BrokerError::InvalidTopic { name, .. } => name.clone(),
        _ => String::new(),
    }
}

fn describe(request: &Request<'_>, name: String, by_id: bool) -> MetadataResponseTopic {
    match request.context.broker.describe_topic(&name) {
        Ok(description) => topic(request.version, description),
        Err(e) => {
            let echoed = (!by_id).then_some(name);
            failed(echoed, code(&e))
        }
    }
}

fn failed(name: Option<String>, error_code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error_code)
        .with_name(name.map(|n| WireTopic(str_bytes(n))))
}

fn topic(version: i16, description: TopicDescription) -> MetadataResponseTopic {
    let partitions = description
        .partitions
        .into_iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(if version >= 7 { p.leader_epoch } else { -1 })
                .with_replica_nodes(p.replicas.into_iter().map(BrokerId).collect())
                .with_isr_nodes(p.isr.into_iter().map(BrokerId).collect())
        })
        .collect();
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(WireTopic(str_bytes(description.name.to_string()))))
        .with_is_internal(description.internal)
        .with_partitions(partitions);
    if version >= 10 {
        topic = topic.with_topic_id(topic_uuid(&description.id));
    }
    topic
}

fn encode(request: &Request<'_>, topics: Vec<MetadataResponseTopic>) -> MetadataResponse {
    let context = request.context;
    let node = context.broker.node_id();
    let this_broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(node))
        .with_host(context.advertised_host())
        .with_port(context.advertised_port());
    MetadataResponse::default()
        .with_brokers(vec![this_broker])
        .with_cluster_id(Some(str_bytes(context.broker.cluster_id())))
        .with_controller_id(BrokerId(node))
        .with_topics(topics)
}
