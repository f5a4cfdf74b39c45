//! The registry's error type. Each variant is one of Confluent's error codes (or a transport
//! failure of the HTTP client): [`RegistryError::status_and_code`] is the one table the REST
//! server answers from and the HTTP client maps back from, so both sides agree.

use stream_core::BrokerError;

/// An error of the schema registry, named after Confluent's error codes.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 404 / 40401.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 404 / 40402.
    #[error("Version {0} not found.")]
    VersionNotFound(String),
    /// 404 / 40403. The payload names the id; empty when a lookup under a subject found nothing.
    #[error("{}", if .0.is_empty() { "Schema not found".to_string() } else { format!("Schema {} not found", .0) })]
    SchemaNotFound(String),
    /// 404 / 40404: a soft delete of a subject that is already soft-deleted.
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 404 / 40405: a permanent delete of a subject with live versions.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 404 / 40406: a soft delete of a version that is already soft-deleted.
    #[error(
        "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted { subject: String, version: u32 },
    /// 404 / 40407: a permanent delete of a live version.
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted { subject: String, version: u32 },
    /// 404 / 40408: `GET /config/{s}` without a subject-level level (and no `defaultToGlobal`).
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    /// 404 / 40409: `GET /mode/{s}` without a subject-level mode (and no `defaultToGlobal`).
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotConfigured(String),
    /// 409 / 409: the schema breaks the subject's compatibility rule; one message per violation.
    #[error("Schema being registered is incompatible with an earlier schema: {}", .0.join("; "))]
    Incompatible(Vec<String>),
    /// 422 / 42201.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 422 / 42202.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    /// 422 / 42203.
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
    )]
    InvalidCompatibilityLevel(String),
    /// 422 / 42204.
    #[error("Invalid mode. Valid values are READWRITE, READONLY, IMPORT: {0:?}")]
    InvalidMode(String),
    /// 422 / 42205: a write refused by the mode (READONLY, or an id given outside IMPORT).
    #[error("{0}")]
    OperationNotPermitted(String),
    /// 422 / 42207: an imported schema's id is taken by a different schema.
    #[error("Schema id {0} already exists with a different schema")]
    IdDoesNotMatch(u32),
    /// 422 / 42208: a subject name with control characters.
    #[error("The specified subject '{0}' is not a valid subject name")]
    InvalidSubject(String),
    /// 422 / 422: a well-formed request the registry cannot accept (e.g. schema references).
    #[error("{0}")]
    Unprocessable(String),
    /// 400 / 400: malformed JSON, or JSON of the wrong shape (Confluent's rest-utils answers
    /// both with 400).
    #[error("{0}")]
    BadRequest(String),
    /// 413 / 413: a request body above [`MAX_REQUEST_BYTES`](crate::rest::MAX_REQUEST_BYTES).
    #[error("Request body is above the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// 415 / 415: a request body in a content type the API does not take.
    #[error("Unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// 404 / 404: no such REST path.
    #[error("HTTP 404 Not Found")]
    NoSuchPath,
    /// 405 / 405: the path exists, not with this method.
    #[error("HTTP 405 Method Not Allowed")]
    MethodNotAllowed,
    /// 500 / 50001: the `_schemas` topic could not be read or written.
    #[error("Error in the backend data store: {action}")]
    Store {
        action: String,
        #[source]
        source: BrokerError,
    },
    /// 500 / 50001: a state the registry refuses to start from or work in (e.g. `_schemas`
    /// with several partitions).
    #[error("Error in the backend data store: {0}")]
    StoreState(String),
    /// 500 / 500: a request handler failed unexpectedly (it panicked); the server keeps going.
    #[error("Internal error: {0}")]
    Internal(String),
    /// A transport error of the HTTP client: no response.
    #[error("schema registry request {method} {url} failed")]
    Transport {
        method: &'static str,
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    /// A response of a remote registry the HTTP client cannot read.
    #[error("schema registry {url} answered {status} with an unreadable body: {detail}")]
    BadResponse {
        url: String,
        status: u16,
        detail: String,
    },
    /// An error response of a remote registry that matches no variant above.
    #[error("schema registry error {code} (HTTP {status}): {message}")]
    Remote { status: u16, code: u32, message: String },
}

impl RegistryError {
    /// The HTTP status and Confluent `error_code` this error becomes on the REST API.
    pub fn status_and_code(&self) -> (u16, u32) {
        match self {
            RegistryError::SubjectNotFound(_) => (404, 40401),
            RegistryError::VersionNotFound(_) => (404, 40402),
            RegistryError::SchemaNotFound(_) => (404, 40403),
            RegistryError::SubjectSoftDeleted(_) => (404, 40404),
            RegistryError::SubjectNotSoftDeleted(_) => (404, 40405),
            RegistryError::VersionSoftDeleted { .. } => (404, 40406),
            RegistryError::VersionNotSoftDeleted { .. } => (404, 40407),
            RegistryError::SubjectCompatibilityNotConfigured(_) => (404, 40408),
            RegistryError::SubjectModeNotConfigured(_) => (404, 40409),
            // Confluent answered 409 with error_code 409 for a decade (its newest releases
            // say 40901); clients key on the HTTP status.
            RegistryError::Incompatible(_) => (409, 409),
            RegistryError::InvalidSchema(_) => (422, 42201),
            RegistryError::InvalidVersion(_) => (422, 42202),
            RegistryError::InvalidCompatibilityLevel(_) => (422, 42203),
            RegistryError::InvalidMode(_) => (422, 42204),
            RegistryError::OperationNotPermitted(_) => (422, 42205),
            RegistryError::IdDoesNotMatch(_) => (422, 42207),
            RegistryError::InvalidSubject(_) => (422, 42208),
            RegistryError::Unprocessable(_) => (422, 422),
            RegistryError::BadRequest(_) => (400, 400),
            RegistryError::BodyTooLarge { .. } => (413, 413),
            RegistryError::UnsupportedMediaType(_) => (415, 415),
            RegistryError::NoSuchPath => (404, 404),
            RegistryError::MethodNotAllowed => (405, 405),
            RegistryError::Store { .. } | RegistryError::StoreState(_) => (500, 50001),
            RegistryError::Internal(_) => (500, 500),
            RegistryError::Transport { .. } => (503, 50003),
            RegistryError::BadResponse { status, .. } => (*status, 0),
            RegistryError::Remote { status, code, .. } => (*status, *code),
        }
    }

    /// The message Confluent puts in an error response: the display text, whole.
    pub fn message(&self) -> String {
        self.to_string()
    }

    pub(crate) fn store(action: impl Into<String>, source: BrokerError) -> RegistryError {
        RegistryError::Store {
            action: action.into(),
            source,
        }
    }
}
