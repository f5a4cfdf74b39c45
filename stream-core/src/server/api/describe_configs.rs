//! DescribeConfigs: a topic's configs with the value in effect and where it comes from
//! (DYNAMIC_TOPIC_CONFIG for overrides, DEFAULT_CONFIG otherwise). Broker resources are
//! answered with an empty list: broker settings are not exposed over the wire yet.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::super::request::Request;
use super::{code, str_bytes};
use crate::broker::Broker;
use crate::error::Result;
use crate::topic::TopicConfig;

/// Kafka's `ConfigResource.Type`.
pub(crate) const TOPIC: i8 = 2;
pub(crate) const BROKER: i8 = 4;

/// Kafka's `ConfigSource`.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

/// One config of a topic as the admin APIs report it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    name: String,
    value: String,
    overridden: bool,
}

impl Entry {
    pub(crate) fn name(&self) -> StrBytes {
        str_bytes(self.name.clone())
    }

    pub(crate) fn value(&self) -> Option<StrBytes> {
        Some(str_bytes(self.value.clone()))
    }

    pub(crate) fn source(&self) -> i8 {
        if self.overridden {
            DYNAMIC_TOPIC_CONFIG
        } else {
            DEFAULT_CONFIG
        }
    }
}

/// A topic's configs, all of them or only `keys`.
pub(crate) fn topic_entries(broker: &Broker, topic: &str, keys: Option<&[String]>) -> Result<Vec<Entry>> {
    let config = broker.topic_config(topic)?;
    Ok(TopicConfig::keys()
        .filter(|key| keys.is_none_or(|keys| keys.iter().any(|k| k == key)))
        .filter_map(|key| {
            config.value_of(key).map(|value| Entry {
                name: key.to_string(),
                value,
                overridden: config.overrides.contains_key(key),
            })
        })
        .collect())
}

pub(crate) async fn handle(request: &Request<'_>, body: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let broker = &request.context.broker;
    let results = body
        .resources
        .into_iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let keys: Option<Vec<String>> = resource
                .configuration_keys
                .map(|keys| keys.iter().map(|k| k.to_string()).collect());
            match resource.resource_type {
                TOPIC => match topic_entries(broker, resource.resource_name.as_str(), keys.as_deref()) {
                    Ok(entries) => result.with_configs(
                        entries
                            .into_iter()
                            .map(|e| {
                                DescribeConfigsResourceResult::default()
                                    .with_name(e.name())
                                    .with_value(e.value())
                                    .with_config_source(e.source())
                            })
                            .collect(),
                    ),
                    Err(e) => result
                        .with_error_code(code(&e))
                        .with_error_message(Some(str_bytes(e.to_string()))),
                },
                BROKER => result,
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!("unsupported resource type {other}")))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
