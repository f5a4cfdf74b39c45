//! The records of the `_schemas` topic, in Confluent Schema Registry's format, so the topic
//! reads the same as one a Confluent registry wrote:
//!
//! ```text
//! key                                                           value (null = tombstone)
//! {"keytype":"SCHEMA","subject":"s","version":1,"magic":1}      {"subject":"s","version":1,"id":7,"schema":"…","deleted":false}
//! {"keytype":"CONFIG","subject":"s","magic":0}                  {"compatibilityLevel":"FULL"}       (no subject: global)
//! {"keytype":"MODE","subject":"s","magic":0}                    {"mode":"READONLY"}                 (no subject: global)
//! {"keytype":"DELETE_SUBJECT","subject":"s","magic":0}          {"subject":"s","version":3}         (soft-deletes versions <= 3)
//! {"keytype":"NOOP","magic":0}                                  ignored
//! {"keytype":"RUNNEL_ID_WATERMARK","magic":0}                   {"maxId":42}                        (Runnel's own, see below)
//! ```
//!
//! **Departure from Confluent's format:** `RUNNEL_ID_WATERMARK`. Confluent derives the next id
//! from the largest id among the SCHEMA records it reads, so once a permanent delete
//! tombstones the only record carrying the largest id and compaction removes it, a restarted
//! Confluent registry hands that id out again. Runnel promises ids are never reused: before a
//! batch that tombstones a SCHEMA record, the registry writes the largest id it ever gave out
//! under this one key (compaction keeps the latest), and replay takes the maximum of it and
//! every SCHEMA record's id. A Confluent registry reading the topic would not know this key
//! type; nothing else in the topic differs.
//!
//! Keys are written with a fixed field order, so every write of one logical key has the same
//! bytes and compaction keeps only the latest.

use serde::{Deserialize, Serialize};

use crate::compat::CompatibilityLevel;
use crate::mode::Mode;

/// One decoded record of `_schemas`. `None` values are tombstones.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Schema {
        subject: String,
        version: u32,
        value: Option<SchemaValue>,
    },
    /// `subject: None` is the global level.
    Config {
        subject: Option<String>,
        level: Option<CompatibilityLevel>,
    },
    /// `subject: None` is the global mode.
    Mode {
        subject: Option<String>,
        mode: Option<Mode>,
    },
    /// Soft-deletes the subject's versions up to `version`. A tombstone (`None`) changes
    /// nothing: the versions' own records say whether they are deleted.
    DeleteSubject { subject: String, version: Option<u32> },
    /// The largest id ever handed out (see the module doc).
    IdWatermark { max_id: Option<u32> },
    /// A key type the registry does not act on (NOOP, CONTEXT, CLEAR_SUBJECT, ...).
    Ignored { keytype: String },
}

/// A SCHEMA record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    /// `AVRO` when absent, as Confluent writes it.
    #[serde(rename = "schemaType", default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

/// Why a record of `_schemas` could not be read; replay skips it and says so.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("key is not JSON of a known shape: {0}")]
    Key(#[source] serde_json::Error),
    #[error("{keytype} value is not JSON of the expected shape: {source}")]
    Value {
        keytype: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{keytype} key lacks field {field}")]
    MissingField {
        keytype: &'static str,
        field: &'static str,
    },
    #[error("{keytype} value: {reason}")]
    BadValue { keytype: &'static str, reason: String },
}

/// The key's fields in Confluent's order (`keytype`, `subject`, `version`, `magic`).
#[derive(Debug, Serialize, Deserialize)]
struct RawKey {
    keytype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(default)]
    magic: u8,
}

#[derive(Debug, Serialize, Deserialize)]
struct ConfigValue {
    #[serde(
        rename = "compatibilityLevel",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    compatibility_level: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ModeValue {
    mode: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct DeleteSubjectValue {
    subject: String,
    version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct WatermarkValue {
    #[serde(rename = "maxId")]
    max_id: u32,
}

const SCHEMA: &str = "SCHEMA";
const CONFIG: &str = "CONFIG";
const MODE: &str = "MODE";
const DELETE_SUBJECT: &str = "DELETE_SUBJECT";
const ID_WATERMARK: &str = "RUNNEL_ID_WATERMARK";

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs of strings and integers cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

impl Record {
    /// The key and value bytes as written to `_schemas`.
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let key = |keytype: &str, subject: Option<&str>, version: Option<u32>, magic: u8| {
            to_json(&RawKey {
                keytype: keytype.to_string(),
                subject: subject.map(str::to_string),
                version,
                magic,
            })
        };
        match self {
            Record::Schema {
                subject,
                version,
                value,
            } => (
                key(SCHEMA, Some(subject), Some(*version), 1),
                value.as_ref().map(to_json),
            ),
            Record::Config { subject, level } => (
                key(CONFIG, subject.as_deref(), None, 0),
                level.map(|l| {
                    to_json(&ConfigValue {
                        compatibility_level: Some(l.as_str().to_string()),
                    })
                }),
            ),
            Record::Mode { subject, mode } => (
                key(MODE, subject.as_deref(), None, 0),
                mode.map(|m| {
                    to_json(&ModeValue {
                        mode: m.as_str().to_string(),
                    })
                }),
            ),
            Record::DeleteSubject { subject, version } => (
                key(DELETE_SUBJECT, Some(subject), None, 0),
                version.map(|version| {
                    to_json(&DeleteSubjectValue {
                        subject: subject.clone(),
                        version,
                    })
                }),
            ),
            Record::IdWatermark { max_id } => (
                key(ID_WATERMARK, None, None, 0),
                max_id.map(|max_id| to_json(&WatermarkValue { max_id })),
            ),
            Record::Ignored { keytype } => (key(keytype, None, None, 0), None),
        }
    }

    /// Reads one record of `_schemas`.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Record, DecodeError> {
        let raw: RawKey = serde_json::from_slice(key).map_err(DecodeError::Key)?;
        let subject = |keytype: &'static str| {
            raw.subject.clone().ok_or(DecodeError::MissingField {
                keytype,
                field: "subject",
            })
        };
        fn value_of<T: for<'de> Deserialize<'de>>(
            keytype: &'static str,
            value: Option<&[u8]>,
        ) -> Result<Option<T>, DecodeError> {
            value
                .map(|v| serde_json::from_slice(v).map_err(|source| DecodeError::Value { keytype, source }))
                .transpose()
        }
        Ok(match raw.keytype.as_str() {
            SCHEMA => Record::Schema {
                subject: subject(SCHEMA)?,
                version: raw.version.ok_or(DecodeError::MissingField {
                    keytype: SCHEMA,
                    field: "version",
                })?,
                value: value_of(SCHEMA, value)?,
            },
            CONFIG => {
                let v: Option<ConfigValue> = value_of(CONFIG, value)?;
                let level = match v.and_then(|v| v.compatibility_level) {
                    None => None,
                    Some(l) => Some(CompatibilityLevel::parse(&l).map_err(|e| DecodeError::BadValue {
                        keytype: CONFIG,
                        reason: format!("{l:?}: {e}"),
                    })?),
                };
                Record::Config {
                    subject: raw.subject,
                    level,
                }
            }
            MODE => {
                let v: Option<ModeValue> = value_of(MODE, value)?;
                let mode = match v {
                    None => None,
                    // A Confluent registry's READONLY_OVERRIDE refuses writes like READONLY.
                    Some(v) if v.mode.eq_ignore_ascii_case("READONLY_OVERRIDE") => Some(Mode::ReadOnly),
                    Some(v) => Some(Mode::parse(&v.mode).map_err(|e| DecodeError::BadValue {
                        keytype: MODE,
                        reason: e.to_string(),
                    })?),
                };
                Record::Mode {
                    subject: raw.subject,
                    mode,
                }
            }
            DELETE_SUBJECT => {
                let v: Option<DeleteSubjectValue> = value_of(DELETE_SUBJECT, value)?;
                Record::DeleteSubject {
                    subject: subject(DELETE_SUBJECT)?,
                    version: v.map(|v| v.version),
                }
            }
            ID_WATERMARK => {
                let v: Option<WatermarkValue> = value_of(ID_WATERMARK, value)?;
                Record::IdWatermark {
                    max_id: v.map(|v| v.max_id),
                }
            }
            _ => Record::Ignored { keytype: raw.keytype },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap_or("<not utf-8>")
    }

    #[test]
    fn keys_and_values_have_confluents_shape() {
        let schema = Record::Schema {
            subject: "orders-value".into(),
            version: 2,
            value: Some(SchemaValue {
                subject: "orders-value".into(),
                version: 2,
                id: 7,
                schema_type: None,
                schema: "\"string\"".into(),
                deleted: false,
            }),
        };
        let (k, v) = schema.encode();
        assert_eq!(
            text(&k),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":2,"magic":1}"#
        );
        assert_eq!(
            text(&v.unwrap_or_default()),
            r#"{"subject":"orders-value","version":2,"id":7,"schema":"\"string\"","deleted":false}"#
        );
        let (k, v) = Record::Config {
            subject: None,
            level: Some(CompatibilityLevel::Full),
        }
        .encode();
        assert_eq!(text(&k), r#"{"keytype":"CONFIG","magic":0}"#);
        assert_eq!(text(&v.unwrap_or_default()), r#"{"compatibilityLevel":"FULL"}"#);
        let (k, v) = Record::DeleteSubject {
            subject: "s".into(),
            version: Some(3),
        }
        .encode();
        assert_eq!(
            text(&k),
            r#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#
        );
        assert_eq!(text(&v.unwrap_or_default()), r#"{"subject":"s","version":3}"#);
        let (k, v) = Record::Mode {
            subject: Some("s".into()),
            mode: None,
        }
        .encode();
        assert_eq!(text(&k), r#"{"keytype":"MODE","subject":"s","magic":0}"#);
        assert_eq!(v, None, "a tombstone");
    }

    #[test]
    fn every_record_decodes_to_itself() {
        let records = [
            Record::Schema {
                subject: "a".into(),
                version: 1,
                value: Some(SchemaValue {
                    subject: "a".into(),
                    version: 1,
                    id: 3,
                    schema_type: None,
                    schema: "\"int\"".into(),
                    deleted: true,
                }),
            },
            Record::Schema {
                subject: "a".into(),
                version: 1,
                value: None,
            },
            Record::Config {
                subject: Some("a".into()),
                level: Some(CompatibilityLevel::ForwardTransitive),
            },
            Record::Config {
                subject: Some("a".into()),
                level: None,
            },
            Record::Mode {
                subject: None,
                mode: Some(Mode::Import),
            },
            Record::DeleteSubject {
                subject: "a".into(),
                version: Some(4),
            },
            Record::IdWatermark { max_id: Some(99) },
        ];
        for r in records {
            let (k, v) = r.encode();
            let back = Record::decode(&k, v.as_deref());
            assert_eq!(back.ok(), Some(r));
        }
    }

    #[test]
    fn records_written_by_confluent_decode_and_unknown_key_types_are_ignored() {
        // Field order and extra fields as a Confluent registry writes them.
        let r = Record::decode(
            br#"{"magic":1,"keytype":"SCHEMA","subject":"t-value","version":1}"#,
            Some(br#"{"subject":"t-value","version":1,"id":1,"schemaType":"AVRO","references":[],"schema":"\"long\"","deleted":false}"#),
        );
        assert!(
            matches!(
                r,
                Ok(Record::Schema {
                    value: Some(SchemaValue { id: 1, .. }),
                    ..
                })
            ),
            "{r:?}"
        );
        let r = Record::decode(br#"{"keytype":"NOOP","magic":0}"#, None);
        assert!(matches!(r, Ok(Record::Ignored { .. })));
        assert!(Record::decode(b"not json", None).is_err());
        assert!(Record::decode(br#"{"keytype":"SCHEMA","magic":1}"#, None).is_err());
        assert!(
            Record::decode(
                br#"{"keytype":"CONFIG","magic":0}"#,
                Some(br#"{"compatibilityLevel":"SIDEWAYS"}"#)
            )
            .is_err()
        );
    }
}
