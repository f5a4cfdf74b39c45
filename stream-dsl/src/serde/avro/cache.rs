//! The registry calls of an Avro serde, made once per schema and remembered, so the per-record
//! path only takes a read lock and clones an `Arc`.
//!
//! Writing needs the schema id for a topic's subject (one `register`, `lookup` or `latest`
//! call per subject); reading needs the writer schema for the id in a record's header (one
//! `schema_by_id` call per id). Registry ids are immutable — an id always names the same
//! schema — so nothing here ever expires. Two threads that miss at once both ask the registry
//! (both get the same answer): the lock is not held across the call, which may be HTTP.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};

use apache_avro::Schema;
use apache_avro::schema::ResolvedSchema;
use registry::{RegisteredSchema, RegistryError};

use super::{AvroConfig, AvroError};

/// A parsed schema, and its JSON form to compare schemas exactly.
///
/// apache-avro's encoder and decoder resolve the schema's named types into a map on every
/// call (its owned, resolved-once form is private to the crate); for the small schemas of
/// records that is a short walk, and no registry call.
pub(crate) struct ParsedSchema {
    schema: Schema,
    /// What the serde registers: the text as given (docs and formatting kept, as Confluent's
    /// Python serializer does), or the JSON of a schema built in code.
    text: String,
    /// `serde_json` form of the parsed schema: equal for schemas that encode and decode alike,
    /// logical types and defaults included (unlike Avro's Parsing Canonical Form).
    json: String,
}

impl std::fmt::Debug for ParsedSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedSchema").field("json", &self.json).finish()
    }
}

impl ParsedSchema {
    pub(crate) fn parse(text: &str) -> Result<ParsedSchema, apache_avro::Error> {
        ParsedSchema::new(Schema::parse_str(text)?, text.to_owned())
    }

    pub(crate) fn from_schema(schema: Schema) -> Result<ParsedSchema, apache_avro::Error> {
        let text = json_of(&schema)?;
        ParsedSchema::new(schema, text)
    }

    fn new(schema: Schema, text: String) -> Result<ParsedSchema, apache_avro::Error> {
        let json = json_of(&schema)?;
        // Fail here, once, if a named reference does not resolve, not on every record.
        ResolvedSchema::new(&schema)?;
        Ok(ParsedSchema { schema, text, json })
    }

    pub(crate) fn schema(&self) -> &Schema {
        &self.schema
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

fn json_of(schema: &Schema) -> Result<String, apache_avro::Error> {
    serde_json::to_string(schema)
        .map_err(|e| apache_avro::Error::new(apache_avro::error::Details::ConvertJsonToString(e)))
}

/// Where a serializer writes for a topic: the schema id for the header and the schema to
/// encode with (the serde's own, or the subject's latest under `use.latest.version`).
#[derive(Debug, Clone)]
pub(crate) struct WriteTarget {
    pub(crate) id: u32,
    pub(crate) schema: Arc<ParsedSchema>,
}

/// How to read the data of one writer schema id.
#[derive(Debug)]
pub(crate) struct ReadPlan {
    pub(crate) id: u32,
    pub(crate) writer: Arc<ParsedSchema>,
    /// Whether the data must be resolved into the serde's own (reader) schema: false when the
    /// serde has none (generic, read as written) or when the writer schema is the same.
    pub(crate) resolve: bool,
    /// Whether to try decoding straight into the Rust type (see `datum::read_ser`).
    pub(crate) direct: AtomicBool,
}

/// The serde's own schema, its config, and what it learned from the registry.
#[derive(Debug)]
pub(crate) struct SchemaCache {
    config: AvroConfig,
    own: Option<Arc<ParsedSchema>>,
    /// Topic → target. Keyed by topic, not subject, so a hit needs no string formatting; with
    /// RecordNameStrategy every topic maps to the same subject and the registry call repeats
    /// once per topic (it is idempotent).
    writes: RwLock<HashMap<String, WriteTarget>>,
    reads: RwLock<HashMap<u32, Arc<ReadPlan>>>,
}

impl SchemaCache {
    pub(crate) fn new(config: AvroConfig, own: Option<Arc<ParsedSchema>>) -> SchemaCache {
        SchemaCache {
            config,
            own,
            writes: RwLock::new(HashMap::new()),
            reads: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn config(&self) -> &AvroConfig {
        &self.config
    }

    /// The id and schema to write a record for `topic` with; asks the registry on a miss.
    pub(crate) fn write_target(&self, topic: &str) -> Result<WriteTarget, AvroError> {
        if let Some(target) = read_lock(&self.writes).get(topic) {
            return Ok(target.clone());
        }
        let own = self.own.as_ref().ok_or(AvroError::NoWriterSchema)?;
        let subject = self
            .config
            .strategy
            .subject(topic, self.config.is_key, own.schema())?;
        let client = &self.config.client;
        let target = if self.config.use_latest_version {
            let latest = client.latest(&subject).map_err(|source| AvroError::Latest {
                subject: subject.clone(),
                source: Box::new(source),
            })?;
            WriteTarget {
                id: latest.id,
                schema: self.adopt(&latest)?,
            }
        } else if self.config.auto_register {
            let registered = client
                .register(&subject, own.text())
                .map_err(|source| AvroError::Register {
                    subject: subject.clone(),
                    source: Box::new(source),
                })?;
            WriteTarget {
                id: registered.id,
                schema: own.clone(),
            }
        } else {
            let found = client
                .lookup(&subject, own.text())
                .map_err(|source| match source {
                    RegistryError::SubjectNotFound(_) | RegistryError::SchemaNotFound(_) => {
                        AvroError::NotRegistered {
                            subject: subject.clone(),
                        }
                    }
                    source => AvroError::Lookup {
                        subject: subject.clone(),
                        source: Box::new(source),
                    },
                })?;
            WriteTarget {
                id: found.id,
                schema: own.clone(),
            }
        };
        // What we write we may read back (a store's values, a test): remember the id's schema
        // now rather than fetch it later.
        self.remember_plan(target.id, target.schema.clone());
        write_lock(&self.writes).insert(topic.to_owned(), target.clone());
        Ok(target)
    }

    /// How to read data of writer schema `id`; fetches the schema on a miss.
    pub(crate) fn read_plan(&self, id: u32) -> Result<Arc<ReadPlan>, AvroError> {
        if let Some(plan) = read_lock(&self.reads).get(&id) {
            return Ok(plan.clone());
        }
        let fetched = self
            .config
            .client
            .schema_by_id(id)
            .map_err(|source| match source {
                RegistryError::SchemaNotFound(_) => AvroError::UnknownSchemaId { id },
                source => AvroError::FetchSchema {
                    id,
                    source: Box::new(source),
                },
            })?;
        let writer = self.adopt(&fetched)?;
        Ok(self.remember_plan(id, writer))
    }

    /// Parses a schema from the registry; the serde's own parsed copy when it is the same.
    fn adopt(&self, registered: &RegisteredSchema) -> Result<Arc<ParsedSchema>, AvroError> {
        let parsed =
            ParsedSchema::parse(&registered.schema).map_err(|source| AvroError::InvalidRegisteredSchema {
                id: registered.id,
                source,
            })?;
        Ok(match &self.own {
            Some(own) if own.json == parsed.json => own.clone(),
            _ => Arc::new(parsed),
        })
    }

    fn remember_plan(&self, id: u32, writer: Arc<ParsedSchema>) -> Arc<ReadPlan> {
        let resolve = self.own.as_ref().is_some_and(|own| own.json != writer.json);
        let plan = Arc::new(ReadPlan {
            id,
            writer,
            resolve,
            direct: AtomicBool::new(true),
        });
        write_lock(&self.reads).entry(id).or_insert(plan).clone()
    }
}

// A poisoned lock only means another thread panicked mid-insert into a map of immutable
// entries; the map itself is still consistent, so keep using it.
fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
