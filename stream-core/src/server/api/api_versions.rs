//! ApiVersions: the APIs and versions this broker serves, straight from the version table.
//!
//! A client that opens with a version newer than ours gets UNSUPPORTED_VERSION and our ranges
//! in a v0 response (KIP-511), then retries with the highest version both sides know.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::super::request::Request;
use super::super::versions::SUPPORTED_APIS;

pub(crate) async fn handle(_request: &Request<'_>, _body: ApiVersionsRequest) -> ApiVersionsResponse {
    encode(super::none())
}

/// The answer to a supported request, or (with UNSUPPORTED_VERSION) to an unsupported one.
pub(crate) fn encode(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|(api, min, max)| {
            ApiVersion::default()
                .with_api_key(*api as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}

pub(crate) fn unsupported() -> ApiVersionsResponse {
    encode(super::error(ResponseError::UnsupportedVersion))
}
