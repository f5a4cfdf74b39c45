//! [`Registry`]: Confluent's Schema Registry operations over the `_schemas` topic.
//!
//! Every write follows one path — decide (against the current state), append the records to
//! `_schemas` as one batch, apply them with `State::apply` — under one write lock, so two
//! concurrent registrations cannot both take an id, and what a restart replays is exactly
//! what the running registry applied. Reads take the state's read lock only; a write blocks
//! them only while it applies, not while it appends.

use std::sync::{Mutex, RwLock, RwLockReadGuard};

use crate::RegistryError;
use crate::client::{RegisteredSchema, SchemaRegistryClient};
use crate::compat::{self, CompatibilityLevel};
use crate::mode::Mode;
use crate::record::{Record, SchemaValue};
use crate::schema::AvroSchema;
use crate::state::State;
use crate::store::SchemasTopic;
use crate::version::VersionSpec;
use stream_core::Broker;

/// A registration as the REST API receives it (`POST /subjects/{s}/versions`).
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    /// The schema text (Avro JSON).
    pub schema: Option<String>,
    /// `AVRO` when absent; anything else is refused (Runnel's registry is Avro-only).
    pub schema_type: Option<String>,
    /// Schema references; refused when non-empty (not supported).
    pub references: usize,
    /// The id to use, in IMPORT mode only.
    pub id: Option<u32>,
    /// The version to use (IMPORT mode), or the one expected next.
    pub version: Option<u32>,
}

impl RegisterRequest {
    /// Refuses what this registry does not store: a schema type other than Avro (422 with
    /// Confluent's invalid-schema code) and schema references (422). Registration, lookup and
    /// the compatibility test all check this first.
    pub fn check_supported(&self) -> Result<(), RegistryError> {
        if let Some(t) = self.schema_type.as_deref() {
            if !t.eq_ignore_ascii_case("AVRO") {
                return Err(RegistryError::InvalidSchema(format!(
                    "schema type {t} is not supported: this registry stores AVRO schemas only"
                )));
            }
        }
        if self.references > 0 {
            return Err(RegistryError::Unprocessable(
                "schema references are not supported by this registry; inline the referenced types"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

impl RegisterRequest {
    /// A plain Avro registration.
    pub fn avro(schema: &str) -> RegisterRequest {
        RegisterRequest {
            schema: Some(schema.to_string()),
            ..RegisterRequest::default()
        }
    }
}

/// One version of a subject, as `GET /subjects/{s}/versions/{v}` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
    pub deleted: bool,
}

/// The schema registry, embedded in the broker's process.
#[derive(Debug)]
pub struct Registry {
    topic: SchemasTopic,
    /// Held from deciding a write to applying it.
    write: Mutex<()>,
    state: RwLock<State>,
}

impl Registry {
    /// Opens the registry on `broker`: creates `_schemas` if missing and rebuilds the state from
    /// it. Undecodable records are skipped with a warning, so one bad record written by another
    /// tool does not keep the registry down.
    pub fn open(broker: &Broker) -> Result<Registry, RegistryError> {
        let topic = SchemasTopic::open(broker)?;
        let replay = topic.read_all()?;
        for (offset, error) in &replay.skipped {
            tracing::warn!(offset, %error, "skipped an unreadable _schemas record");
        }
        let mut state = State::default();
        for record in &replay.records {
            state.apply(record);
        }
        if state.unparsable > 0 {
            tracing::warn!(
                count = state.unparsable,
                "_schemas holds schemas that do not parse as Avro; they are served but not checked"
            );
        }
        tracing::info!(
            records = replay.records.len(),
            subjects = state.subjects(true).len(),
            max_id = state.max_id(),
            "schema registry loaded _schemas"
        );
        Ok(Registry {
            topic,
            write: Mutex::new(()),
            state: RwLock::new(state),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends `records` and applies them. The caller holds the write lock and decided the
    /// records on the state it read under it.
    fn commit(&self, records: Vec<Record>) -> Result<(), RegistryError> {
        self.topic.append(&records)?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        for r in &records {
            state.apply(r);
        }
        Ok(())
    }

    /// Before records that tombstone SCHEMA keys: the watermark, so the ids they carry stay
    /// counted after compaction removes them (see `record.rs`).
    fn watermark_if_needed(state: &State, records: &mut Vec<Record>) {
        if state.max_id() > state.watermark() {
            records.insert(
                0,
                Record::IdWatermark {
                    max_id: Some(state.max_id()),
                },
            );
        }
    }

    fn writable(state: &State, subject: Option<&str>) -> Result<(), RegistryError> {
        let mode = match subject {
            Some(s) => state.mode_in_scope(s),
            None => state.global_mode(),
        };
        if mode == Mode::ReadOnly {
            let what = subject.map_or_else(|| "The registry".to_string(), |s| format!("Subject {s}"));
            return Err(RegistryError::OperationNotPermitted(format!(
                "{what} is in read-only mode"
            )));
        }
        Ok(())
    }

    // ---- subjects and versions ------------------------------------------------------------

    /// Registers a schema under `subject`; returns (id, version). Confluent's semantics: an
    /// identical schema already live under the subject returns its id and version without a
    /// write; the same schema anywhere else reuses its global id; a new schema gets the next
    /// id after the largest ever handed out; the subject's compatibility rule (its own level,
    /// else the global one) is checked against its live versions.
    pub fn register(&self, subject: &str, request: &RegisterRequest) -> Result<(u32, u32), RegistryError> {
        check_subject(subject)?;
        request.check_supported()?;
        let text = match request.schema.as_deref() {
            Some(t) if !t.trim().is_empty() => t,
            _ => return Err(RegistryError::InvalidSchema("Empty schema".to_string())),
        };
        let parsed = AvroSchema::parse(text)?;

        let _write = self.write_lock();
        let state = self.read();
        let mode = state.mode_in_scope(subject);
        Self::writable(&state, Some(subject))?;
        match (request.id, mode) {
            (Some(_), Mode::Import) | (None, Mode::ReadWrite) => {}
            (Some(_), _) => {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is not in import mode"
                )));
            }
            (None, _) => {
                return Err(RegistryError::OperationNotPermitted(format!(
                    "Subject {subject} is not in read-write mode"
                )));
            }
        }

        let mut id = None;
        if let Some(existing) = state.id_of(&parsed) {
            if request.id.is_none_or(|i| i == existing) {
                if request.version.is_none() {
                    if let Some(version) = state.version_with_id(subject, existing, false) {
                        return Ok((existing, version));
                    }
                }
                id = Some(existing);
            }
        }

        if mode != Mode::Import {
            let messages = compat::check(
                state.level_in_scope(subject),
                &parsed,
                &state.live_schemas(subject),
            );
            if !messages.is_empty() {
                return Err(RegistryError::Incompatible(messages));
            }
        }

        let next = state.max_version(subject).map_or(Some(1), |v| v.checked_add(1));
        let version = match (request.version, mode) {
            (Some(v), Mode::Import) => {
                if state.version(subject, VersionSpec::Number(v), true).is_some() {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} already has a version {v}"
                    )));
                }
                v
            }
            (Some(v), _) if Some(v) != next => {
                return Err(RegistryError::InvalidSchema(format!(
                    "Version {v} is not one more than previous version"
                )));
            }
            _ => next
                .filter(|v| *v <= i32::MAX as u32)
                .ok_or_else(|| RegistryError::StoreState(format!("subject {subject} has no version left")))?,
        };
        let id = match (id, request.id) {
            (Some(existing), _) => existing,
            (None, Some(imported)) => {
                if state.id(imported).is_some() {
                    return Err(RegistryError::IdDoesNotMatch(imported));
                }
                imported
            }
            (None, None) => state
                .max_id()
                .checked_add(1)
                .filter(|i| *i <= i32::MAX as u32)
                .ok_or_else(|| RegistryError::StoreState("schema ids are exhausted".to_string()))?,
        };
        // Every record of one id stores the id's first text (see `State`).
        let schema = state
            .id(id)
            .map_or_else(|| text.to_string(), |e| e.schema.to_string());

        // Confluent tombstones soft-deleted versions of this subject that carry the same id:
        // the schema is live again under the new version.
        let mut records: Vec<Record> = state
            .deleted_versions_with_id(subject, id)
            .into_iter()
            .filter(|v| *v < version)
            .map(|v| Record::Schema {
                subject: subject.to_string(),
                version: v,
                value: None,
            })
            .collect();
        if !records.is_empty() {
            Self::watermark_if_needed(&state, &mut records);
        }
        records.push(Record::Schema {
            subject: subject.to_string(),
            version,
            value: Some(SchemaValue {
                subject: subject.to_string(),
                version,
                id,
                schema_type: None,
                schema,
                deleted: false,
            }),
        });
        drop(state);
        self.commit(records)?;
        Ok((id, version))
    }

    /// Finds `schema` under `subject` without registering it (`POST /subjects/{s}`).
    pub fn lookup(
        &self,
        subject: &str,
        schema: &str,
        include_deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let parsed = AvroSchema::parse(schema)?;
        let state = self.read();
        if !state.has_subject(subject, include_deleted) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let found = state
            .id_of(&parsed)
            .and_then(|id| Some((id, state.version_with_id(subject, id, include_deleted)?)));
        match found {
            Some((_, version)) => self.version_in(&state, subject, VersionSpec::Number(version), true),
            None => Err(RegistryError::SchemaNotFound(String::new())),
        }
    }

    /// Subjects with a live version (with `include_deleted`, also those with only deleted ones).
    pub fn subjects(&self, include_deleted: bool) -> Vec<String> {
        self.read().subjects(include_deleted)
    }

    /// A subject's versions, ascending; 40401 if it has none.
    pub fn versions(&self, subject: &str, include_deleted: bool) -> Result<Vec<u32>, RegistryError> {
        let state = self.read();
        if !state.has_subject(subject, include_deleted) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        Ok(state.versions(subject, include_deleted))
    }

    /// One version of a subject; 40401 if the subject has none, 40402 if not this one.
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        self.version_in(&self.read(), subject, spec, include_deleted)
    }

    fn version_in(
        &self,
        state: &State,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        let Some((version, entry)) = state.version(subject, spec, include_deleted) else {
            return Err(if state.has_subject(subject, include_deleted) {
                RegistryError::VersionNotFound(spec.to_string())
            } else {
                RegistryError::SubjectNotFound(subject.to_string())
            });
        };
        let schema = state.id(entry.id).map(|e| e.schema.to_string()).ok_or_else(|| {
            RegistryError::StoreState(format!("id {} of {subject} v{version} is unknown", entry.id))
        })?;
        Ok(SubjectVersion {
            subject: subject.to_string(),
            version,
            id: entry.id,
            schema,
            deleted: entry.deleted,
        })
    }

    /// Deletes a subject: soft (its live versions become deleted; returns them) or permanent
    /// (after a soft delete: tombstones every version and the subject's config and mode;
    /// returns the versions).
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<u32>, RegistryError> {
        let _write = self.write_lock();
        let state = self.read();
        Self::writable(&state, Some(subject))?;
        if !state.has_subject(subject, true) {
            return Err(RegistryError::SubjectNotFound(subject.to_string()));
        }
        let (records, versions) = if !permanent {
            let live = state.versions(subject, false);
            if live.is_empty() {
                return Err(RegistryError::SubjectSoftDeleted(subject.to_string()));
            }
            let records = vec![Record::DeleteSubject {
                subject: subject.to_string(),
                version: state.max_version(subject),
            }];
            (records, live)
        } else {
            if state.has_subject(subject, false) {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.to_string()));
            }
            let all = state.versions(subject, true);
            let mut records: Vec<Record> = all
                .iter()
                .map(|v| Record::Schema {
                    subject: subject.to_string(),
                    version: *v,
                    value: None,
                })
                .collect();
            Self::watermark_if_needed(&state, &mut records);
            records.extend(Self::subject_settings_tombstones(&state, subject));
            (records, all)
        };
        drop(state);
        self.commit(records)?;
        Ok(versions)
    }

    /// Confluent drops a subject's config and mode with its last version.
    fn subject_settings_tombstones(state: &State, subject: &str) -> Vec<Record> {
        let mut records = Vec::new();
        if state.subject_level(subject).is_some() {
            records.push(Record::Config {
                subject: Some(subject.to_string()),
                level: None,
            });
        }
        if state.subject_mode(subject).is_some() {
            records.push(Record::Mode {
                subject: Some(subject.to_string()),
                mode: None,
            });
        }
        records
    }

    /// Deletes one version: soft (40406 if already soft-deleted) or permanent (40407 unless
    /// soft-deleted first). `latest` means the highest version, deleted or not, as Confluent
    /// resolves it for deletes. Returns the version deleted.
    pub fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<u32, RegistryError> {
        let _write = self.write_lock();
        let state = self.read();
        let current = self.version_in(&state, subject, spec, true)?;
        Self::writable(&state, Some(subject))?;
        let version = current.version;
        let records = match (permanent, current.deleted) {
            (false, true) => {
                return Err(RegistryError::VersionSoftDeleted {
                    subject: subject.to_string(),
                    version,
                });
            }
            (true, false) => {
                return Err(RegistryError::VersionNotSoftDeleted {
                    subject: subject.to_string(),
                    version,
                });
            }
            (false, false) => vec![Record::Schema {
                subject: subject.to_string(),
                version,
                value: Some(SchemaValue {
                    subject: subject.to_string(),
                    version,
                    id: current.id,
                    schema_type: None,
                    schema: current.schema,
                    deleted: true,
                }),
            }],
            (true, true) => {
                let mut records = vec![Record::Schema {
                    subject: subject.to_string(),
                    version,
                    value: None,
                }];
                Self::watermark_if_needed(&state, &mut records);
                if state.versions(subject, true) == [version] {
                    records.extend(Self::subject_settings_tombstones(&state, subject));
                }
                records
            }
        };
        drop(state);
        self.commit(records)?;
        Ok(version)
    }

    // ---- ids ------------------------------------------------------------------------------

    /// The schema text of a global id (also when all its versions are soft-deleted: consumers
    /// still need it to read old records).
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        self.read()
            .id(id)
            .map(|e| e.schema.to_string())
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
    }

    /// The (subject, version) pairs registered with `id`.
    pub fn versions_of_id(
        &self,
        id: u32,
        include_deleted: bool,
    ) -> Result<Vec<(String, u32)>, RegistryError> {
        let state = self.read();
        let entry = state
            .id(id)
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))?;
        Ok(entry
            .refs
            .iter()
            .filter(|(s, v)| include_deleted || state.version(s, VersionSpec::Number(*v), false).is_some())
            .cloned()
            .collect())
    }

    /// The subjects `id` is registered under.
    pub fn subjects_of_id(&self, id: u32, include_deleted: bool) -> Result<Vec<String>, RegistryError> {
        let mut subjects: Vec<String> = self
            .versions_of_id(id, include_deleted)?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        subjects.dedup();
        Ok(subjects)
    }

    // ---- compatibility --------------------------------------------------------------------

    /// Checks `schema` against one version of the subject (`Some`), or against all its live
    /// versions (`None`), with the subject's level; returns the violations (empty: compatible).
    /// Against `latest` of a subject without live versions anything is compatible.
    pub fn test_compatibility(
        &self,
        subject: &str,
        schema: &str,
        version: Option<VersionSpec>,
    ) -> Result<Vec<String>, RegistryError> {
        let parsed = AvroSchema::parse(schema)?;
        let state = self.read();
        let level = state.level_in_scope(subject);
        let against = match version {
            None => state.live_schemas(subject),
            Some(VersionSpec::Latest) if !state.has_subject(subject, false) => return Ok(Vec::new()),
            Some(spec) => {
                let v = self.version_in(&state, subject, spec, false)?;
                state
                    .id(v.id)
                    .and_then(|e| e.parsed.as_deref().cloned())
                    .into_iter()
                    .collect()
            }
        };
        Ok(compat::check(level, &parsed, &against))
    }

    /// The global level.
    pub fn global_compatibility(&self) -> CompatibilityLevel {
        self.read().global_level()
    }

    /// The subject's own level; with `default_to_global`, the global one when it has none.
    pub fn subject_compatibility(
        &self,
        subject: &str,
        default_to_global: bool,
    ) -> Result<CompatibilityLevel, RegistryError> {
        let state = self.read();
        match state.subject_level(subject) {
            Some(l) => Ok(l),
            None if default_to_global => Ok(state.global_level()),
            None => Err(RegistryError::SubjectCompatibilityNotConfigured(
                subject.to_string(),
            )),
        }
    }

    /// Sets the global level (`None`) or a subject's.
    pub fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            check_subject(s)?;
        }
        let _write = self.write_lock();
        Self::writable(&self.read(), subject)?;
        self.commit(vec![Record::Config {
            subject: subject.map(str::to_string),
            level: Some(level),
        }])
    }

    /// Removes a subject's own level; returns it. 40401 if it had none (Confluent's code).
    pub fn delete_subject_compatibility(&self, subject: &str) -> Result<CompatibilityLevel, RegistryError> {
        let _write = self.write_lock();
        let state = self.read();
        let level = state
            .subject_level(subject)
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
        Self::writable(&state, Some(subject))?;
        drop(state);
        self.commit(vec![Record::Config {
            subject: Some(subject.to_string()),
            level: None,
        }])?;
        Ok(level)
    }

    // ---- modes ----------------------------------------------------------------------------

    /// The global mode (`None`) or a subject's own mode (40409 if it has none, unless
    /// `default_to_global`).
    pub fn mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<Mode, RegistryError> {
        let state = self.read();
        match subject {
            None => Ok(state.global_mode()),
            Some(s) => match state.subject_mode(s) {
                Some(m) => Ok(m),
                None if default_to_global => Ok(state.global_mode()),
                None => Err(RegistryError::SubjectModeNotConfigured(s.to_string())),
            },
        }
    }

    /// Sets the global mode or a subject's. Switching to IMPORT requires that no live subject
    /// is in its scope, unless `force` (Confluent's rule: imported ids must not collide).
    pub fn set_mode(&self, subject: Option<&str>, mode: Mode, force: bool) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            check_subject(s)?;
        }
        let _write = self.write_lock();
        let state = self.read();
        let current = subject.map_or_else(|| state.global_mode(), |s| state.mode_in_scope(s));
        if mode == Mode::Import && current != Mode::Import && !force {
            let occupied = match subject {
                Some(s) => state.has_subject(s, false),
                None => !state.subjects(false).is_empty(),
            };
            if occupied {
                return Err(RegistryError::OperationNotPermitted(
                    "Cannot import since found existing subjects".to_string(),
                ));
            }
        }
        drop(state);
        self.commit(vec![Record::Mode {
            subject: subject.map(str::to_string),
            mode: Some(mode),
        }])
    }

    /// Removes a subject's own mode; returns it (40401 if it had none).
    pub fn delete_subject_mode(&self, subject: &str) -> Result<Mode, RegistryError> {
        let _write = self.write_lock();
        let mode = self
            .read()
            .subject_mode(subject)
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_string()))?;
        self.commit(vec![Record::Mode {
            subject: Some(subject.to_string()),
            mode: None,
        }])?;
        Ok(mode)
    }

    /// The state rendered as text: what the restart tests compare.
    pub fn snapshot(&self) -> String {
        self.read().snapshot()
    }
}

/// Confluent refuses subject names with control characters (42208).
fn check_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(RegistryError::InvalidSubject(subject.escape_debug().to_string()));
    }
    Ok(())
}

impl SchemaRegistryClient for Registry {
    fn register(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        let (id, version) = Registry::register(self, subject, &RegisterRequest::avro(schema))?;
        Ok(RegisteredSchema {
            id,
            version: Some(version),
            schema: self.schema_by_id(id)?,
        })
    }

    fn lookup(&self, subject: &str, schema: &str) -> Result<RegisteredSchema, RegistryError> {
        let v = Registry::lookup(self, subject, schema, false)?;
        Ok(RegisteredSchema {
            id: v.id,
            version: Some(v.version),
            schema: v.schema,
        })
    }

    fn schema_by_id(&self, id: u32) -> Result<RegisteredSchema, RegistryError> {
        Ok(RegisteredSchema {
            id,
            version: None,
            schema: Registry::schema_by_id(self, id)?,
        })
    }

    fn latest(&self, subject: &str) -> Result<RegisteredSchema, RegistryError> {
        let v = self.version(subject, VersionSpec::Latest, false)?;
        Ok(RegisteredSchema {
            id: v.id,
            version: Some(v.version),
            schema: v.schema,
        })
    }
}

#[cfg(test)]
mod tests;
