//! The registry's state as a pure function of the `_schemas` records applied in order:
//! [`State::apply`] is the only way it changes, used both at startup (replay) and after each
//! live write, so a restarted registry has exactly the state the running one had.
//!
//! Everything derived (ids by canonical schema, the subjects of an id, the largest id) is
//! maintained by `apply` from the latest record of each key, which is also what compaction
//! keeps; the one record that touches other keys, DELETE_SUBJECT, only marks versions that
//! exist when it is applied, and compaction preserves the order of the records it keeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::compat::CompatibilityLevel;
use crate::mode::Mode;
use crate::record::{Record, SchemaValue};
use crate::schema::AvroSchema;
use crate::version::VersionSpec;

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub id: u32,
    pub deleted: bool,
}

/// One global id: its schema and where it is registered.
#[derive(Debug, Clone)]
pub struct IdEntry {
    /// The text registered first under this id; every later registration of the same schema
    /// stores this same text (as Confluent stores one canonical string per id), so the text of
    /// an id never depends on which of its records survive.
    pub schema: Arc<str>,
    /// `None` when the stored text does not parse (a record written by another registry or an
    /// older parser): the id still serves its text, it takes no part in compatibility checks.
    pub parsed: Option<Arc<AvroSchema>>,
    canonical: String,
    /// (subject, version) pairs whose record carries this id, deleted or not.
    pub refs: BTreeSet<(String, u32)>,
}

/// The registry's state.
#[derive(Debug, Default)]
pub struct State {
    subjects: BTreeMap<String, BTreeMap<u32, VersionEntry>>,
    ids: BTreeMap<u32, IdEntry>,
    by_canonical: HashMap<String, u32>,
    global_level: Option<CompatibilityLevel>,
    levels: BTreeMap<String, CompatibilityLevel>,
    global_mode: Option<Mode>,
    modes: BTreeMap<String, Mode>,
    /// The largest id any record ever carried, or the watermark said.
    max_id: u32,
    /// The largest id a RUNNEL_ID_WATERMARK record holds.
    watermark: u32,
    /// Records skipped because their schema text does not parse (counted, not fatal).
    pub unparsable: usize,
}

impl State {
    /// Applies one record. Never fails: a record that contradicts the state (a tombstone of
    /// something absent, a DELETE_SUBJECT of an unknown subject) changes nothing, as in
    /// Confluent's store.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Schema {
                subject,
                version,
                value,
            } => {
                self.remove_version(subject, *version);
                if let Some(v) = value {
                    self.put_version(subject, *version, v);
                }
            }
            Record::Config { subject: None, level } => self.global_level = *level,
            Record::Config {
                subject: Some(s),
                level,
            } => match level {
                Some(l) => {
                    self.levels.insert(s.clone(), *l);
                }
                None => {
                    self.levels.remove(s);
                }
            },
            Record::Mode { subject: None, mode } => self.global_mode = *mode,
            Record::Mode {
                subject: Some(s),
                mode,
            } => match mode {
                Some(m) => {
                    self.modes.insert(s.clone(), *m);
                }
                None => {
                    self.modes.remove(s);
                }
            },
            Record::DeleteSubject {
                subject,
                version: Some(upto),
            } => {
                if let Some(versions) = self.subjects.get_mut(subject) {
                    for (_, entry) in versions.range_mut(..=*upto) {
                        entry.deleted = true;
                    }
                }
            }
            Record::DeleteSubject { version: None, .. } => {}
            Record::IdWatermark { max_id } => {
                let w = max_id.unwrap_or(0);
                self.watermark = self.watermark.max(w);
                self.max_id = self.max_id.max(w);
            }
            Record::Ignored { .. } => {}
        }
    }

    fn remove_version(&mut self, subject: &str, version: u32) {
        let Some(versions) = self.subjects.get_mut(subject) else {
            return;
        };
        let Some(old) = versions.remove(&version) else {
            return;
        };
        if versions.is_empty() {
            self.subjects.remove(subject);
        }
        if let Some(entry) = self.ids.get_mut(&old.id) {
            entry.refs.remove(&(subject.to_string(), version));
            if entry.refs.is_empty() {
                // No record carries the id any more: a permanent delete. The id stays counted
                // in `max_id` (and in the watermark written before the tombstone).
                if self.by_canonical.get(&entry.canonical) == Some(&old.id) {
                    self.by_canonical.remove(&entry.canonical);
                }
                self.ids.remove(&old.id);
            }
        }
    }

    fn put_version(&mut self, subject: &str, version: u32, value: &SchemaValue) {
        self.max_id = self.max_id.max(value.id);
        let entry = self.ids.entry(value.id).or_insert_with(|| {
            let parsed = AvroSchema::parse(&value.schema).ok();
            let canonical = match &parsed {
                Some(p) => p.canonical().to_string(),
                None => value.schema.clone(),
            };
            IdEntry {
                schema: Arc::from(value.schema.as_str()),
                parsed: parsed.map(Arc::new),
                canonical,
                refs: BTreeSet::new(),
            }
        });
        if entry.parsed.is_none() && entry.refs.is_empty() {
            self.unparsable += 1;
        }
        entry.refs.insert((subject.to_string(), version));
        // The lowest id wins when two ids hold one canonical schema (possible only with
        // imported ids), so the choice does not depend on the order records were read in.
        let canonical = entry.canonical.clone();
        let id = self.by_canonical.entry(canonical).or_insert(value.id);
        *id = (*id).min(value.id);
        self.subjects.entry(subject.to_string()).or_default().insert(
            version,
            VersionEntry {
                id: value.id,
                deleted: value.deleted,
            },
        );
    }

    // ---- queries ------------------------------------------------------------------------

    /// Subjects with a live version (and with only deleted ones too, if asked), sorted.
    pub fn subjects(&self, include_deleted: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, v)| include_deleted || v.values().any(|e| !e.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Whether the subject has a live version (or any version, if `include_deleted`).
    pub fn has_subject(&self, subject: &str, include_deleted: bool) -> bool {
        self.subjects
            .get(subject)
            .is_some_and(|v| include_deleted || v.values().any(|e| !e.deleted))
    }

    /// The subject's version numbers, ascending.
    pub fn versions(&self, subject: &str, include_deleted: bool) -> Vec<u32> {
        self.subjects
            .get(subject)
            .map(|v| {
                v.iter()
                    .filter(|(_, e)| include_deleted || !e.deleted)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One version of a subject; `Latest` is the highest among those included.
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        include_deleted: bool,
    ) -> Option<(u32, &VersionEntry)> {
        let versions = self.subjects.get(subject)?;
        match spec {
            VersionSpec::Latest => versions
                .iter()
                .rev()
                .find(|(_, e)| include_deleted || !e.deleted)
                .map(|(n, e)| (*n, e)),
            VersionSpec::Number(n) => versions
                .get(&n)
                .filter(|e| include_deleted || !e.deleted)
                .map(|e| (n, e)),
        }
    }

    /// The highest version number the subject has, deleted or not.
    pub fn max_version(&self, subject: &str) -> Option<u32> {
        self.subjects.get(subject)?.keys().next_back().copied()
    }

    /// The highest version of `subject` whose record carries `id`.
    pub fn version_with_id(&self, subject: &str, id: u32, include_deleted: bool) -> Option<u32> {
        self.subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, e)| e.id == id && (include_deleted || !e.deleted))
            .map(|(n, _)| *n)
    }

    /// Soft-deleted versions of `subject` carrying `id`.
    pub fn deleted_versions_with_id(&self, subject: &str, id: u32) -> Vec<u32> {
        self.subjects
            .get(subject)
            .map(|v| {
                v.iter()
                    .filter(|(_, e)| e.deleted && e.id == id)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The parsed schemas of the subject's live versions, oldest first: what a new schema is
    /// checked against.
    pub fn live_schemas(&self, subject: &str) -> Vec<AvroSchema> {
        self.versions(subject, false)
            .into_iter()
            .filter_map(|v| self.version(subject, VersionSpec::Number(v), false))
            .filter_map(|(_, e)| self.ids.get(&e.id)?.parsed.as_deref().cloned())
            .collect()
    }

    pub fn id(&self, id: u32) -> Option<&IdEntry> {
        self.ids.get(&id)
    }

    /// The id of a schema with this canonical form, if one is registered anywhere.
    pub fn id_of(&self, schema: &AvroSchema) -> Option<u32> {
        self.by_canonical.get(schema.canonical()).copied()
    }

    /// The subject's own level, if it has one.
    pub fn subject_level(&self, subject: &str) -> Option<CompatibilityLevel> {
        self.levels.get(subject).copied()
    }

    /// The global level (BACKWARD unless set).
    pub fn global_level(&self) -> CompatibilityLevel {
        self.global_level.unwrap_or_default()
    }

    /// The level a registration under `subject` is checked with.
    pub fn level_in_scope(&self, subject: &str) -> CompatibilityLevel {
        self.subject_level(subject).unwrap_or_else(|| self.global_level())
    }

    pub fn subject_mode(&self, subject: &str) -> Option<Mode> {
        self.modes.get(subject).copied()
    }

    /// The global mode (READWRITE unless set).
    pub fn global_mode(&self) -> Mode {
        self.global_mode.unwrap_or_default()
    }

    pub fn mode_in_scope(&self, subject: &str) -> Mode {
        self.subject_mode(subject).unwrap_or_else(|| self.global_mode())
    }

    /// The largest id ever handed out; the next fresh id is one more.
    pub fn max_id(&self) -> u32 {
        self.max_id
    }

    /// The largest id a watermark record holds.
    pub fn watermark(&self) -> u32 {
        self.watermark
    }

    /// A summary for tests and logs: every subject's versions with id and deleted flag,
    /// every id's text, the levels and modes, and the largest id.
    pub fn snapshot(&self) -> String {
        format!(
            "subjects={:?} ids={:?} global_level={:?} levels={:?} global_mode={:?} modes={:?} max_id={}",
            self.subjects,
            self.ids
                .iter()
                .map(|(id, e)| (id, &*e.schema, &e.refs))
                .collect::<Vec<_>>(),
            self.global_level,
            self.levels,
            self.global_mode,
            self.modes,
            self.max_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(subject: &str, version: u32, id: u32, schema: &str, deleted: bool) -> Record {
        Record::Schema {
            subject: subject.into(),
            version,
            value: Some(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: None,
                schema: schema.into(),
                deleted,
            }),
        }
    }

    fn tombstone(subject: &str, version: u32) -> Record {
        Record::Schema {
            subject: subject.into(),
            version,
            value: None,
        }
    }

    #[test]
    fn delete_subject_marks_only_versions_up_to_its_watermark() {
        let mut s = State::default();
        s.apply(&put("a", 1, 1, "\"int\"", false));
        s.apply(&put("a", 2, 2, "\"long\"", false));
        s.apply(&Record::DeleteSubject {
            subject: "a".into(),
            version: Some(1),
        });
        assert_eq!(s.versions("a", false), vec![2]);
        assert_eq!(s.versions("a", true), vec![1, 2]);
        s.apply(&put("a", 3, 3, "\"string\"", false));
        s.apply(&Record::DeleteSubject {
            subject: "a".into(),
            version: Some(3),
        });
        assert!(!s.has_subject("a", false));
        assert!(s.has_subject("a", true));
        assert_eq!(s.subjects(false), Vec::<String>::new());
        assert_eq!(s.subjects(true), vec!["a".to_string()]);
    }

    #[test]
    fn a_permanently_deleted_id_is_forgotten_but_stays_counted() {
        let mut s = State::default();
        s.apply(&put("a", 1, 5, "\"int\"", true));
        let int = AvroSchema::parse("\"int\"").unwrap();
        assert_eq!(s.id_of(&int), Some(5));
        s.apply(&Record::IdWatermark { max_id: Some(5) });
        s.apply(&tombstone("a", 1));
        assert!(s.id(5).is_none());
        assert_eq!(s.id_of(&int), None);
        assert!(!s.has_subject("a", true));
        assert_eq!(s.max_id(), 5, "the id is never handed out again");
    }

    #[test]
    fn an_id_shared_by_subjects_lives_while_one_record_carries_it() {
        let mut s = State::default();
        s.apply(&put("a", 1, 1, "\"int\"", false));
        s.apply(&put("b", 1, 1, "\"int\"", false));
        s.apply(&tombstone("a", 1));
        let e = s.id(1).unwrap();
        assert_eq!(&*e.schema, "\"int\"");
        assert_eq!(
            e.refs.iter().cloned().collect::<Vec<_>>(),
            vec![("b".to_string(), 1)]
        );
    }

    #[test]
    fn levels_and_modes_fall_back_to_global_then_to_defaults() {
        let mut s = State::default();
        assert_eq!(s.level_in_scope("x"), CompatibilityLevel::Backward);
        assert_eq!(s.mode_in_scope("x"), Mode::ReadWrite);
        s.apply(&Record::Config {
            subject: None,
            level: Some(CompatibilityLevel::Full),
        });
        s.apply(&Record::Config {
            subject: Some("x".into()),
            level: Some(CompatibilityLevel::None),
        });
        s.apply(&Record::Mode {
            subject: None,
            mode: Some(Mode::ReadOnly),
        });
        assert_eq!(s.level_in_scope("x"), CompatibilityLevel::None);
        assert_eq!(s.level_in_scope("y"), CompatibilityLevel::Full);
        assert_eq!(s.mode_in_scope("y"), Mode::ReadOnly);
        s.apply(&Record::Config {
            subject: Some("x".into()),
            level: None,
        });
        assert_eq!(s.level_in_scope("x"), CompatibilityLevel::Full);
    }
}
