//! DeleteGroups: removes empty groups and their offsets (NON_EMPTY_GROUP while members remain).

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use super::super::request::Request;
use super::{group_code, none, str_bytes};

pub(crate) async fn handle(request: &Request<'_>, body: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let ids: Vec<String> = body.groups_names.iter().map(|g| g.to_string()).collect();
    let results: Vec<(String, i16)> = match request.context.groups.delete_groups(&ids).await {
        Ok(results) => results
            .into_iter()
            .map(|(id, result)| (id, result.as_ref().err().map_or(none(), group_code)))
            .collect(),
        Err(error) => ids.into_iter().map(|id| (id, group_code(&error))).collect(),
    };
    DeleteGroupsResponse::default().with_results(
        results
            .into_iter()
            .map(|(id, error_code)| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(str_bytes(id)))
                    .with_error_code(error_code)
            })
            .collect(),
    )
}
