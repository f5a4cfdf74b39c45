//! What an Avro serde needs from a schema registry, behind one trait so the same serde works
//! with the embedded [`Registry`](crate::Registry) (direct calls) and a remote registry over
//! HTTP ([`HttpRegistryClient`], Confluent's REST API — a `runnel serve --registry-listen` or
//! a Confluent Schema Registry).
//!
//! The trait is synchronous: serdes run on stream threads, record by record, and cache what
//! they learn, so the registry is consulted once per schema, not once per record.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::RegistryError;
use crate::version::VersionSpec;

/// A registered schema as a serde sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// The global id (the 4 bytes after the magic byte in Confluent's wire format).
    pub id: u32,
    /// The subject's version number, when the schema was looked up under a subject.
    pub version: Option<u32>,
    /// The schema text (Avro JSON, as registered: Confluent returns the registered text).
    pub schema: String,
}

/// The calls an Avro serde makes to a schema registry.
pub trait SchemaRegistryClient: Send + Sync + std::fmt::Debug {
    /// Registers `schema` under `subject` (a no-op returning the existing id when an identical
    /// schema is already registered there); checks the subject's compatibility rule.
    fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError>;
    /// Finds `schema` under `subject` without registering it (`POST /subjects/{s}`).
    fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError>;
    /// The schema with global id `id` (`GET /schemas/ids/{id}`).
    fn schema_by_id(&self, id: u32) -> Result<RegisteredSchema, RegistryError>;
    /// The latest version under `subject` (`GET /subjects/{s}/versions/latest`).
    fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError>;
}

/// One version of a subject as a remote registry returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RemoteVersion {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
}

/// A blocking client of Confluent's Schema Registry REST API (plain HTTP), for the serdes and
/// `runnel schemas`. Error responses come back as the [`RegistryError`] variant of their
/// Confluent error code.
#[derive(Debug, Clone)]
pub struct HttpRegistryClient {
    base: String,
    agent: ureq::Agent,
}

/// What a request was about, to fill in the error variants that name it.
#[derive(Debug, Default, Clone, Copy)]
struct About<'a> {
    subject: Option<&'a str>,
    version: Option<VersionSpec>,
    id: Option<u32>,
}

const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";

impl HttpRegistryClient {
    /// A client of the registry at `base_url` (e.g. `http://127.0.0.1:8081`), with a 30 s
    /// limit per request.
    pub fn new(base_url: &str) -> HttpRegistryClient {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        HttpRegistryClient {
            base: base_url.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Every subject with a live version, sorted.
    pub fn subjects(&self) -> Result<Vec<String>, RegistryError> {
        self.get("/subjects", About::default())
    }

    /// A subject's live versions.
    pub fn versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        let about = About {
            subject: Some(subject),
            ..About::default()
        };
        self.get(&format!("/subjects/{}/versions", encode(subject)), about)
    }

    /// One version of a subject.
    pub fn version(&self, subject: &str, version: VersionSpec) -> Result<RemoteVersion, RegistryError> {
        let about = About {
            subject: Some(subject),
            version: Some(version),
            ..About::default()
        };
        self.get(
            &format!("/subjects/{}/versions/{version}", encode(subject)),
            about,
        )
    }

    /// Tests `schema` against one version of the subject (or all, with `None`); returns the
    /// violations, empty when compatible.
    pub fn test_compatibility(
        &self,
        subject: &str,
        schema: &str,
        version: Option<VersionSpec>,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Answer {
            is_compatible: bool,
            #[serde(default)]
            messages: Vec<String>,
        }
        let about = About {
            subject: Some(subject),
            version,
            ..About::default()
        };
        let path = match version {
            Some(v) => format!(
                "/compatibility/subjects/{}/versions/{v}?verbose=true",
                encode(subject)
            ),
            None => format!(
                "/compatibility/subjects/{}/versions?verbose=true",
                encode(subject)
            ),
        };
        let a: Answer = self.send("POST", &path, Some(json!({ "schema": schema })), about)?;
        Ok(match (a.is_compatible, a.messages.is_empty()) {
            (true, _) => Vec::new(),
            (false, false) => a.messages,
            (false, true) => vec!["incompatible (the registry gave no details)".to_string()],
        })
    }

    /// The global compatibility level (`None`) or a subject's (falling back to the global).
    pub fn compatibility(&self, subject: Option<&str>) -> Result<String, RegistryError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "compatibilityLevel")]
            level: String,
        }
        let path = match subject {
            Some(s) => format!("/config/{}?defaultToGlobal=true", encode(s)),
            None => "/config".to_string(),
        };
        let about = About {
            subject,
            ..About::default()
        };
        Ok(self.get::<Answer>(&path, about)?.level)
    }

    /// Sets the global compatibility level (`None`) or a subject's.
    pub fn set_compatibility(&self, subject: Option<&str>, level: &str) -> Result<(), RegistryError> {
        let path = match subject {
            Some(s) => format!("/config/{}", encode(s)),
            None => "/config".to_string(),
        };
        let about = About {
            subject,
            ..About::default()
        };
        self.send::<Value>("PUT", &path, Some(json!({ "compatibility": level })), about)
            .map(|_| ())
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, path: &str, about: About<'_>) -> Result<T, RegistryError> {
        self.send("GET", path, None, about)
    }

    fn send<T: for<'de> Deserialize<'de>>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
        about: About<'_>,
    ) -> Result<T, RegistryError> {
        let url = format!("{}{path}", self.base);
        let transport = |source: ureq::Error| RegistryError::Transport {
            method,
            url: url.clone(),
            source: Box::new(source),
        };
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Accept", ACCEPT).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Accept", ACCEPT).call(),
            (m, body) => {
                let builder = if m == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                builder
                    .header("Accept", ACCEPT)
                    .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                    .send(body.unwrap_or(Value::Null).to_string())
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map_err(|e| RegistryError::BadResponse {
                url,
                status,
                detail: e.to_string(),
            });
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            error_code: u32,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) => Err(from_code(status, e.error_code, e.message, about)),
            Err(_) => Err(RegistryError::BadResponse {
                url,
                status,
                detail: text.chars().take(200).collect(),
            }),
        }
    }
}

/// Maps a Confluent error response back to its variant.
fn from_code(status: u16, code: u32, message: String, about: About<'_>) -> RegistryError {
    let subject = || about.subject.unwrap_or_default().to_string();
    match code {
        40401 => RegistryError::SubjectNotFound(subject()),
        40402 => RegistryError::VersionNotFound(about.version.map(|v| v.to_string()).unwrap_or_default()),
        40403 => RegistryError::SchemaNotFound(about.id.map(|i| i.to_string()).unwrap_or_default()),
        40404 => RegistryError::SubjectSoftDeleted(subject()),
        40405 => RegistryError::SubjectNotSoftDeleted(subject()),
        40408 => RegistryError::SubjectCompatibilityNotConfigured(subject()),
        40409 => RegistryError::SubjectModeNotConfigured(subject()),
        // Confluent's message repeats the prefix our Display adds; keep its details.
        409 | 40901 => RegistryError::Incompatible(vec![match message.split_once("details: ") {
            Some((_, details)) => details.to_string(),
            None => message,
        }]),
        42201 => RegistryError::InvalidSchema(message),
        42202 => RegistryError::InvalidVersion(about.version.map(|v| v.to_string()).unwrap_or(message)),
        42203 => RegistryError::InvalidCompatibilityLevel(message),
        42204 => RegistryError::InvalidMode(message),
        42205 => RegistryError::OperationNotPermitted(message),
        42208 => RegistryError::InvalidSubject(subject()),
        422 => RegistryError::Unprocessable(message),
        400 => RegistryError::BadRequest(message),
        _ => RegistryError::Remote {
            status,
            code,
            message,
        },
    }
}

/// Percent-encodes a path segment (everything but RFC 3986's unreserved characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SchemaRegistryClient for HttpRegistryClient {
    fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        #[derive(Deserialize)]
        struct Answer {
            id: u32,
            version: Option<u32>,
        }
        let about = About {
            subject: Some(subject),
            ..About::default()
        };
        let a: Answer = self.send(
            "POST",
            &format!("/subjects/{}/versions", encode(subject)),
            Some(json!({ "schema": schema })),
            about,
        )?;
        Ok(RegisteredSchema {
            id: a.id,
            version: a.version,
            schema: schema.to_string(),
        })
    }

    fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        let about = About {
            subject: Some(subject),
            ..About::default()
        };
        let v: RemoteVersion = self.send(
            "POST",
            &format!("/subjects/{}", encode(subject)),
            Some(json!({ "schema": schema })),
            about,
        )?;
        Ok(RegisteredSchema {
            id: v.id,
            version: Some(v.version),
            schema: v.schema,
        })
    }

    fn schema_by_id(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        #[derive(Deserialize)]
        struct Answer {
            schema: String,
        }
        let about = About {
            id: Some(id),
            ..About::default()
        };
        let a: Answer = self.get(&format!("/schemas/ids/{id}"), about)?;
        Ok(RegisteredSchema {
            id,
            version: None,
            schema: a.schema,
        })
    }

    fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let v = self.version(subject, VersionSpec::Latest)?;
        Ok(RegisteredSchema {
            id: v.id,
            version: Some(v.version),
            schema: v.schema,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("orders-value"), "orders-value");
        assert_eq!(encode("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn error_codes_map_back_to_their_variants() {
        let about = About {
            subject: Some("s"),
            version: Some(VersionSpec::Number(3)),
            id: Some(9),
        };
        assert!(matches!(
            from_code(404, 40401, String::new(), about),
            RegistryError::SubjectNotFound(s) if s == "s"
        ));
        assert!(matches!(
            from_code(404, 40402, String::new(), about),
            RegistryError::VersionNotFound(v) if v == "3"
        ));
        assert!(matches!(
            from_code(404, 40403, String::new(), about),
            RegistryError::SchemaNotFound(i) if i == "9"
        ));
        assert!(matches!(
            from_code(409, 409, "no".into(), about),
            RegistryError::Incompatible(m) if m == ["no"]
        ));
        assert!(matches!(
            from_code(422, 42201, "bad".into(), about),
            RegistryError::InvalidSchema(_)
        ));
        assert!(matches!(
            from_code(500, 50001, "disk".into(), about),
            RegistryError::Remote { code: 50001, .. }
        ));
        // Every code the server sends maps to the variant it came from.
        for e in [
            RegistryError::SubjectNotFound("s".into()),
            RegistryError::InvalidSchema("x".into()),
            RegistryError::OperationNotPermitted("x".into()),
            RegistryError::InvalidCompatibilityLevel("x".into()),
            RegistryError::BadRequest("x".into()),
        ] {
            let (status, code) = e.status_and_code();
            let back = from_code(status, code, e.message(), about);
            assert_eq!(back.status_and_code(), (status, code), "{e}");
        }
    }
}
