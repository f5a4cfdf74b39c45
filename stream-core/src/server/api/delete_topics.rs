//! DeleteTopics: by name (v1–v5) or by name or id (v6). Internal topics (`__consumer_offsets`)
//! are refused: the group coordinator's state lives there.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName as WireTopic};

use super::super::request::Request;
use super::{blocking, code, str_bytes, topic_uuid};

/// A topic to delete: the name to delete by (if it resolved) and what to echo back.
struct Target {
    name: Option<String>,
    id: Option<String>,
}

fn parse(request: &Request<'_>, body: &DeleteTopicsRequest) -> Vec<Target> {
    if request.version < 6 {
        return body
            .topic_names
            .iter()
            .map(|n| Target {
                name: Some(n.to_string()),
                id: None,
            })
            .collect();
    }
    body.topics
        .iter()
        .map(|t| match &t.name {
            Some(name) => Target {
                name: Some(name.to_string()),
                id: None,
            },
            None => {
                let id = t.topic_id.simple().to_string();
                Target {
                    name: request.context.topic_by_id(&id).map(|t| t.to_string()),
                    id: Some(id),
                }
            }
        })
        .collect()
}

pub(crate) async fn handle(request: &Request<'_>, body: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let version = request.version;
    let mut responses = Vec::new();
    for target in parse(request, &body) {
        let mut result =
            DeletableTopicResult::default().with_name(target.name.clone().map(|n| WireTopic(str_bytes(n))));
        if version >= 6 {
            let id = target.id.clone().or_else(|| {
                target
                    .name
                    .as_ref()
                    .and_then(|n| request.context.broker.topic(n).ok())
                    .map(|t| t.id.clone())
            });
            if let Some(id) = id {
                result = result.with_topic_id(topic_uuid(&id));
            }
        }
        let outcome: Result<(), (i16, String)> = match target.name {
            None => Err((
                ResponseError::UnknownTopicId.code(),
                "no topic has this id".into(),
            )),
            Some(name) if name.starts_with("__") => Err((
                ResponseError::InvalidRequest.code(),
                format!("internal topic {name} cannot be deleted"),
            )),
            Some(name) => {
                let broker = request.context.broker.clone();
                blocking(move || broker.delete_topic(&name))
                    .await
                    .map_err(|e| (code(&e), e.to_string()))
            }
        };
        if let Err((error_code, message)) = outcome {
            result = result.with_error_code(error_code);
            if version >= 5 {
                result = result.with_error_message(Some(str_bytes(message)));
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
