//! IncrementalAlterConfigs: SET and DELETE of topic configs (APPEND and SUBTRACT, for list
//! configs, are refused). `validate_only` resolves the result without applying it. Broker
//! configs are static and refused.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::super::request::Request;
use super::describe_configs::TOPIC;
use super::{blocking, code, str_bytes};
use crate::broker::AlterConfigOp;

const SET: i8 = 0;
const DELETE: i8 = 1;

fn parse(resource: &AlterConfigsResource) -> Result<Vec<AlterConfigOp>, (i16, String)> {
    if resource.resource_type != TOPIC {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!("resource type {} cannot be altered", resource.resource_type),
        ));
    }
    resource
        .configs
        .iter()
        .map(|c| match c.config_operation {
            SET => Ok(AlterConfigOp::Set(
                c.name.to_string(),
                c.value.as_deref().unwrap_or("").to_string(),
            )),
            DELETE => Ok(AlterConfigOp::Delete(c.name.to_string())),
            op => Err((
                ResponseError::InvalidRequest.code(),
                format!("config operation {op} on {} is not supported", c.name.as_str()),
            )),
        })
        .collect()
}

pub(crate) async fn handle(
    request: &Request<'_>,
    body: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = request.context.broker.clone();
    let mut responses = Vec::with_capacity(body.resources.len());
    for resource in &body.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        let name = resource.resource_name.to_string();
        let outcome = match parse(resource) {
            Err(refusal) => Err(refusal),
            Ok(ops) if body.validate_only => validate(&broker, &name, &ops),
            Ok(ops) => {
                let broker = broker.clone();
                blocking(move || broker.alter_topic_config(&name, &ops).map(|_| ()))
                    .await
                    .map_err(|e| (code(&e), e.to_string()))
            }
        };
        responses.push(match outcome {
            Ok(()) => response,
            Err((error_code, message)) => response
                .with_error_code(error_code)
                .with_error_message(Some(str_bytes(message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

fn validate(broker: &crate::broker::Broker, name: &str, ops: &[AlterConfigOp]) -> Result<(), (i16, String)> {
    broker
        .config_change(name, ops)
        .map(|_| ())
        .map_err(|e| (code(&e), e.to_string()))
}
