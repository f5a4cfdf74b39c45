//! Confluent Schema Registry's REST API over a [`Registry`], with axum: the paths, status
//! codes, `{"error_code", "message"}` errors and JSON shapes Confluent's clients expect, so
//! they work unchanged.
//!
//! Requests may be `application/vnd.schemaregistry.v1+json`, `application/vnd.schemaregistry+json`,
//! `application/json`, `application/octet-stream` (Confluent's "generic request") or carry no
//! content type; replies are `application/vnd.schemaregistry.v1+json`. Bodies above
//! [`MAX_REQUEST_BYTES`] are refused with 413: on their declared Content-Length before any
//! byte is read, or (chunked) as soon as the bytes read pass the limit, never buffering more. Handlers run the registry's
//! synchronous calls on the blocking pool; a panic there becomes a 500, not a dead server.
//!
//! ```no_run
//! # async fn demo(cluster: stream_core::Cluster) -> Result<(), Box<dyn std::error::Error>> {
//! use registry::SchemaRegistryExt;
//! let registry = cluster.schema_registry()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! registry::rest::serve(registry, listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::RegistryError;
use crate::compat::CompatibilityLevel;
use crate::mode::Mode;
use crate::registry::{RegisterRequest, Registry};
use crate::version::VersionSpec;

/// The largest request body the API reads (1 MiB): far above any sensible Avro schema, and
/// below `_schemas`' record size limit, so an accepted schema always fits in one record.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The content type of every reply.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Request content types the API takes (besides none at all).
const ACCEPTED_TYPES: [&str; 4] = [
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

type Shared = Arc<Registry>;
type Params = Query<HashMap<String, String>>;

/// The API's routes over `registry`.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(|| async { reply(StatusCode::OK, json!({})) }))
        .route("/subjects", get(list_subjects))
        .route(
            "/subjects/{subject}",
            axum::routing::post(lookup).delete(delete_subject),
        )
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(schema_by_id_raw))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route(
            "/schemas/types",
            get(|| async { reply(StatusCode::OK, json!(["AVRO"])) }),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            axum::routing::post(compatibility_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            axum::routing::post(compatibility_version),
        )
        .route("/config", get(get_global_config).put(put_global_config))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .fallback(|| async { error_reply(RegistryError::NoSuchPath) })
        .method_not_allowed_fallback(not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .layer(axum::middleware::map_response(json_rejections))
        .with_state(registry)
}

/// Extractor rejections (a path segment that is not valid percent-encoded UTF-8, a query
/// string that does not parse) come from axum as plain text; clients of Confluent's API
/// parse every error body as `{"error_code", "message"}`, so those become that shape too.
async fn json_rejections(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 << 10)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("request failed").to_owned(),
        false => text,
    };
    reply(status, json!({"error_code": status.as_u16(), "message": message}))
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. Embeddable: `runnel serve --registry-listen` runs it next to the Kafka listener.
pub async fn serve(
    registry: Arc<Registry>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A body whose Content-Length is above the limit is refused before any of it is read; a
/// chunked one is cut off by `DefaultBodyLimit` once it passes the limit.
async fn refuse_declared_oversize(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return error_reply(RegistryError::BodyTooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    next.run(request).await
}

// ---- replies ------------------------------------------------------------------------------

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body.to_string(),
    )
        .into_response()
}

fn error_reply(e: RegistryError) -> Response {
    let (status, code) = e.status_and_code();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(error = %e, "schema registry request failed");
    }
    reply(status, json!({"error_code": code, "message": e.message()}))
}

fn respond(result: Result<Value, RegistryError>) -> Response {
    match result {
        Ok(v) => reply(StatusCode::OK, v),
        Err(e) => error_reply(e),
    }
}

async fn not_allowed() -> Response {
    error_reply(RegistryError::MethodNotAllowed)
}

/// Runs a registry call on the blocking pool: writes append to the log, and a panic (a bug)
/// must cost one request, not the server.
async fn call<T: Send + 'static>(
    registry: &Shared,
    f: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    let registry = registry.clone();
    tokio::task::spawn_blocking(move || f(&registry))
        .await
        .map_err(|e| RegistryError::Internal(format!("request handler failed: {e}")))?
}

// ---- request parsing ----------------------------------------------------------------------

/// Java's `Boolean.parseBoolean`, as Jersey reads query flags: `true` in any case, else false
/// (the Python client sends `normalize=False`).
fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The body as JSON of type `T`, after the content type and size checks.
fn body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<T, RegistryError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let text = ct.to_str().unwrap_or("");
        let media = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if !ACCEPTED_TYPES.contains(&media.as_str()) {
            return Err(RegistryError::UnsupportedMediaType(text.to_string()));
        }
    }
    let bytes = bytes.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RegistryError::BodyTooLarge {
                limit: MAX_REQUEST_BYTES,
            }
        } else {
            RegistryError::BadRequest(r.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(RegistryError::Unprocessable(
            "Request body is missing".to_string(),
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| RegistryError::BadRequest(format!("Invalid JSON request body: {e}")))
}

/// `POST /subjects/{s}/versions` and friends: Confluent's `RegisterSchemaRequest`.
#[derive(Debug, Deserialize)]
struct SchemaBody {
    schema: Option<String>,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    references: Option<Vec<Value>>,
    id: Option<i64>,
    version: Option<i64>,
}

impl SchemaBody {
    fn request(self) -> Result<RegisterRequest, RegistryError> {
        // Confluent's defaults: id -1 and version 0 mean "not given".
        let positive = |n: Option<i64>, what: &str| match n {
            None => Ok(None),
            Some(n) if n <= 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n <= i32::MAX as u32)
                .map(Some)
                .ok_or_else(|| RegistryError::BadRequest(format!("{what} {n} is out of range"))),
        };
        Ok(RegisterRequest {
            schema: self.schema,
            schema_type: self.schema_type,
            references: self.references.map_or(0, |r| r.len()),
            id: positive(self.id, "id")?,
            version: positive(self.version, "version")?,
        })
    }

    /// The Avro text of a lookup or compatibility test, with the same checks as a
    /// registration.
    fn avro_text(self) -> Result<String, RegistryError> {
        let request = self.request()?;
        request.check_supported()?;
        request
            .schema
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| RegistryError::InvalidSchema("Empty schema".to_string()))
    }
}

fn parse_id(id: &str) -> Result<u32, RegistryError> {
    id.trim()
        .parse::<u32>()
        .ok()
        .filter(|i| *i >= 1)
        .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
}

fn version_json(v: crate::registry::SubjectVersion) -> Value {
    // Confluent omits schemaType for AVRO.
    json!({"subject": v.subject, "version": v.version, "id": v.id, "schema": v.schema})
}

// ---- subjects -----------------------------------------------------------------------------

async fn list_subjects(State(r): State<Shared>, Query(q): Params) -> Response {
    let deleted = flag(&q, "deleted") || flag(&q, "deletedOnly");
    let deleted_only = flag(&q, "deletedOnly");
    let prefix = q.get("subjectPrefix").cloned().unwrap_or_default();
    respond(
        call(&r, move |r| {
            let live = r.subjects(false);
            let mut subjects = r.subjects(deleted);
            if deleted_only {
                subjects.retain(|s| !live.contains(s));
            }
            subjects.retain(|s| s.starts_with(&prefix));
            Ok(json!(subjects))
        })
        .await,
    )
}

async fn lookup(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let deleted = flag(&q, "deleted");
    let text = match body::<SchemaBody>(&headers, bytes).and_then(SchemaBody::avro_text) {
        Ok(t) => t,
        Err(e) => return error_reply(e),
    };
    respond(call(&r, move |r| r.lookup(&subject, &text, deleted).map(version_json)).await)
}

async fn delete_subject(State(r): State<Shared>, Path(subject): Path<String>, Query(q): Params) -> Response {
    let permanent = flag(&q, "permanent");
    respond(
        call(&r, move |r| {
            r.delete_subject(&subject, permanent).map(|v| json!(v))
        })
        .await,
    )
}

async fn list_versions(State(r): State<Shared>, Path(subject): Path<String>, Query(q): Params) -> Response {
    let deleted = flag(&q, "deleted") || flag(&q, "deletedOnly");
    let deleted_only = flag(&q, "deletedOnly");
    respond(
        call(&r, move |r| {
            let mut versions = r.versions(&subject, deleted)?;
            if deleted_only {
                let live = r.versions(&subject, false).unwrap_or_default();
                versions.retain(|v| !live.contains(v));
            }
            Ok(json!(versions))
        })
        .await,
    )
}

async fn register(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let request = match body::<SchemaBody>(&headers, bytes).and_then(SchemaBody::request) {
        Ok(req) => req,
        Err(e) => return error_reply(e),
    };
    let s = subject.clone();
    match call(&r, move |r| r.register(&s, &request)).await {
        Ok((id, _version)) => reply(StatusCode::OK, json!({ "id": id })),
        // Confluent's wording, which names the subject.
        Err(RegistryError::Incompatible(messages)) => reply(
            StatusCode::CONFLICT,
            json!({
                "error_code": 409,
                "message": format!(
                    "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                    messages.join(", ")
                ),
            }),
        ),
        Err(e) => error_reply(e),
    }
}

async fn get_version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let deleted = flag(&q, "deleted");
    respond(
        call(&r, move |r| {
            let spec = VersionSpec::parse(&version)?;
            r.version(&subject, spec, deleted).map(version_json)
        })
        .await,
    )
}

/// The schema text alone, unescaped (it is JSON itself).
async fn get_version_schema(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let deleted = flag(&q, "deleted");
    let result = call(&r, move |r| {
        let spec = VersionSpec::parse(&version)?;
        r.version(&subject, spec, deleted).map(|v| v.schema)
    })
    .await;
    match result {
        Ok(text) => raw_schema(text),
        Err(e) => error_reply(e),
    }
}

fn raw_schema(text: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}

/// Schemas referencing this one: none ever, as references are not supported.
async fn referenced_by(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    respond(
        call(&r, move |r| {
            let spec = VersionSpec::parse(&version)?;
            r.version(&subject, spec, true).map(|_| json!([]))
        })
        .await,
    )
}

async fn delete_version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let permanent = flag(&q, "permanent");
    respond(
        call(&r, move |r| {
            let spec = VersionSpec::parse(&version)?;
            r.delete_version(&subject, spec, permanent).map(|v| json!(v))
        })
        .await,
    )
}

// ---- ids ----------------------------------------------------------------------------------

async fn schema_by_id(State(r): State<Shared>, Path(id): Path<String>) -> Response {
    respond(
        call(&r, move |r| {
            r.schema_by_id(parse_id(&id)?).map(|s| json!({ "schema": s }))
        })
        .await,
    )
}

async fn schema_by_id_raw(State(r): State<Shared>, Path(id): Path<String>) -> Response {
    match call(&r, move |r| r.schema_by_id(parse_id(&id)?)).await {
        Ok(text) => raw_schema(text),
        Err(e) => error_reply(e),
    }
}

async fn subjects_of_id(State(r): State<Shared>, Path(id): Path<String>, Query(q): Params) -> Response {
    let deleted = flag(&q, "deleted");
    respond(
        call(&r, move |r| {
            r.subjects_of_id(parse_id(&id)?, deleted).map(|s| json!(s))
        })
        .await,
    )
}

async fn versions_of_id(State(r): State<Shared>, Path(id): Path<String>, Query(q): Params) -> Response {
    let deleted = flag(&q, "deleted");
    respond(
        call(&r, move |r| {
            let pairs = r.versions_of_id(parse_id(&id)?, deleted)?;
            Ok(Value::Array(
                pairs
                    .into_iter()
                    .map(|(subject, version)| json!({"subject": subject, "version": version}))
                    .collect(),
            ))
        })
        .await,
    )
}

// ---- compatibility ------------------------------------------------------------------------

async fn compatibility_version(
    State(r): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let spec = match VersionSpec::parse(&version) {
        Ok(s) => s,
        Err(e) => return error_reply(e),
    };
    compatibility(r, subject, Some(spec), flag(&q, "verbose"), &headers, bytes).await
}

async fn compatibility_all(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    compatibility(r, subject, None, flag(&q, "verbose"), &headers, bytes).await
}

async fn compatibility(
    r: Shared,
    subject: String,
    version: Option<VersionSpec>,
    verbose: bool,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let text = match body::<SchemaBody>(headers, bytes).and_then(SchemaBody::avro_text) {
        Ok(t) => t,
        Err(e) => return error_reply(e),
    };
    respond(
        call(&r, move |r| {
            let messages = r.test_compatibility(&subject, &text, version)?;
            let mut out = json!({ "is_compatible": messages.is_empty() });
            if verbose {
                out["messages"] = json!(messages);
            }
            Ok(out)
        })
        .await,
    )
}

// ---- config -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

impl ConfigBody {
    fn level(&self) -> Result<CompatibilityLevel, RegistryError> {
        let name = self
            .compatibility
            .as_deref()
            .or(self.compatibility_level.as_deref());
        CompatibilityLevel::parse(name.unwrap_or(""))
    }
}

async fn get_global_config(State(r): State<Shared>) -> Response {
    respond(
        call(&r, |r| {
            Ok(json!({"compatibilityLevel": r.global_compatibility().as_str()}))
        })
        .await,
    )
}

async fn get_subject_config(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Response {
    let to_global = flag(&q, "defaultToGlobal");
    respond(
        call(&r, move |r| {
            r.subject_compatibility(&subject, to_global)
                .map(|l| json!({"compatibilityLevel": l.as_str()}))
        })
        .await,
    )
}

async fn put_config(
    r: Shared,
    subject: Option<String>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let level = match body::<ConfigBody>(&headers, bytes).and_then(|b| b.level()) {
        Ok(l) => l,
        Err(e) => return error_reply(e),
    };
    respond(
        call(&r, move |r| {
            r.set_compatibility(subject.as_deref(), level)
                .map(|()| json!({"compatibility": level.as_str()}))
        })
        .await,
    )
}

async fn put_global_config(
    State(r): State<Shared>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    put_config(r, None, headers, bytes).await
}

async fn put_subject_config(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    put_config(r, Some(subject), headers, bytes).await
}

async fn delete_subject_config(State(r): State<Shared>, Path(subject): Path<String>) -> Response {
    respond(
        call(&r, move |r| {
            r.delete_subject_compatibility(&subject)
                .map(|l| json!({"compatibilityLevel": l.as_str()}))
        })
        .await,
    )
}

// ---- mode ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

async fn get_global_mode(State(r): State<Shared>) -> Response {
    respond(call(&r, |r| r.mode(None, false).map(|m| json!({"mode": m.as_str()}))).await)
}

async fn get_subject_mode(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Response {
    let to_global = flag(&q, "defaultToGlobal");
    respond(
        call(&r, move |r| {
            r.mode(Some(&subject), to_global)
                .map(|m| json!({"mode": m.as_str()}))
        })
        .await,
    )
}

async fn put_mode(
    r: Shared,
    subject: Option<String>,
    force: bool,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let mode =
        match body::<ModeBody>(&headers, bytes).and_then(|b| Mode::parse(b.mode.as_deref().unwrap_or(""))) {
            Ok(m) => m,
            Err(e) => return error_reply(e),
        };
    respond(
        call(&r, move |r| {
            r.set_mode(subject.as_deref(), mode, force)
                .map(|()| json!({"mode": mode.as_str()}))
        })
        .await,
    )
}

async fn put_global_mode(
    State(r): State<Shared>,
    Query(q): Params,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    put_mode(r, None, flag(&q, "force"), headers, bytes).await
}

async fn put_subject_mode(
    State(r): State<Shared>,
    Path(subject): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    put_mode(r, Some(subject), flag(&q, "force"), headers, bytes).await
}

async fn delete_subject_mode(State(r): State<Shared>, Path(subject): Path<String>) -> Response {
    respond(
        call(&r, move |r| {
            r.delete_subject_mode(&subject)
                .map(|m| json!({"mode": m.as_str()}))
        })
        .await,
    )
}
