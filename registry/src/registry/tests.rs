//! The registry against a real broker in a temporary directory: replay equals live state,
//! id allocation, and Confluent's delete rules.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::store::SchemasTopic;
use stream_core::BrokerConfig;

fn record(name: &str, fields: &[(&str, &str)]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(n, t)| match t.split_once('=') {
            Some((t, default)) => format!(r#"{{"name":"{n}","type":"{t}","default":{default}}}"#),
            None => format!(r#"{{"name":"{n}","type":"{t}"}}"#),
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"{name}","fields":[{}]}}"#,
        fields.join(",")
    )
}

fn open(dir: &std::path::Path) -> (Broker, Registry) {
    let broker = Broker::open(BrokerConfig::new(dir)).unwrap();
    let registry = Registry::open(&broker).unwrap();
    (broker, registry)
}

fn reg(r: &Registry, subject: &str, schema: &str) -> Result<(u32, u32), RegistryError> {
    r.register(subject, &RegisterRequest::avro(schema))
}

/// A history touching every record type: registrations across subjects, an evolution, a
/// shared id, configs, modes, soft and permanent deletes of versions and subjects, and a
/// re-registration of a soft-deleted schema.
fn busy_history(r: &Registry) {
    let a1 = record("A", &[("x", "int")]);
    let a2 = record("A", &[("x", "int"), ("y", "string=\"\"")]);
    let b1 = record("B", &[("z", "long")]);
    reg(r, "a", &a1).unwrap();
    reg(r, "a", &a2).unwrap();
    reg(r, "shared", &a1).unwrap();
    reg(r, "b", &b1).unwrap();
    r.set_compatibility(None, CompatibilityLevel::Full).unwrap();
    r.set_compatibility(Some("a"), CompatibilityLevel::None).unwrap();
    r.set_compatibility(Some("b"), CompatibilityLevel::Forward)
        .unwrap();
    r.set_mode(Some("shared"), Mode::ReadWrite, false).unwrap();
    r.delete_version("a", VersionSpec::Number(1), false).unwrap();
    r.delete_subject("b", false).unwrap();
    r.delete_subject("b", true).unwrap();
    reg(r, "c", &record("C", &[("w", "double")])).unwrap();
    r.delete_version("c", VersionSpec::Latest, false).unwrap();
    r.delete_version("c", VersionSpec::Number(1), true).unwrap();
    // a1 was soft-deleted as a/1: registering it again gives a/3 with the same id.
    reg(r, "a", &a1).unwrap();
}

#[test]
fn a_restarted_registry_has_exactly_the_state_the_running_one_had() {
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let (_broker, r) = open(dir.path());
        busy_history(&r);
        r.snapshot()
    };
    let (_broker, r) = open(dir.path());
    assert_eq!(r.snapshot(), live);
    assert_eq!(r.subjects(false), vec!["a", "shared"]);
    assert_eq!(
        r.versions("a", true).unwrap(),
        vec![2, 3],
        "a/1 was tombstoned when a1 came back"
    );
    assert_eq!(
        r.subject_compatibility("a", false).unwrap(),
        CompatibilityLevel::None
    );
    assert!(matches!(
        r.subject_compatibility("b", false),
        Err(RegistryError::SubjectCompatibilityNotConfigured(_))
    ));
    assert_eq!(r.global_compatibility(), CompatibilityLevel::Full);
}

/// Compaction keeps the latest record of each key (in offset order) and, after
/// `delete.retention.ms`, drops tombstones: a replay of what it leaves must give the same
/// subjects, ids and the same next id.
#[test]
fn replaying_the_compacted_topic_gives_the_same_state_and_never_reuses_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(BrokerConfig::new(dir.path())).unwrap();
    let r = Registry::open(&broker).unwrap();
    busy_history(&r);
    // The highest id belongs to subject c's schema, permanently deleted above.
    let max_before = r.read().max_id();
    assert_eq!(r.schema_by_id(max_before).ok(), None, "c's id is gone");

    let raw = SchemasTopic::open(&broker).unwrap().raw();
    let mut latest: HashMap<Vec<u8>, usize> = HashMap::new();
    for (i, (k, _)) in raw.iter().enumerate() {
        latest.insert(k.to_vec(), i);
    }
    let mut compacted = State::default();
    for (i, (k, v)) in raw.iter().enumerate() {
        if latest[&k.to_vec()] == i && v.is_some() {
            compacted.apply(&Record::decode(k, v.as_deref()).unwrap());
        }
    }
    assert_eq!(compacted.snapshot(), r.snapshot());
    assert_eq!(
        compacted.max_id(),
        max_before,
        "the watermark kept the deleted id counted"
    );
}

#[test]
fn one_canonical_schema_has_one_id_across_subjects_and_new_schemas_get_the_next_id() {
    let dir = tempfile::tempdir().unwrap();
    let (_b, r) = open(dir.path());
    let s = record("S", &[("a", "int")]);
    let (id, v) = reg(&r, "one", &s).unwrap();
    assert_eq!((id, v), (1, 1));
    // Same schema, other whitespace: same id, and the idempotent answer under "one".
    let spaced = s.replace(',', " , ");
    assert_eq!(reg(&r, "one", &spaced).unwrap(), (1, 1));
    assert_eq!(reg(&r, "two", &spaced).unwrap(), (1, 1));
    assert_eq!(
        r.schema_by_id(1).unwrap(),
        s,
        "every record of an id keeps its first text"
    );
    let (id2, v2) = reg(&r, "one", &record("S", &[("a", "int"), ("b", "int=0")])).unwrap();
    assert_eq!((id2, v2), (2, 2));
    assert_eq!(r.subjects_of_id(1, false).unwrap(), vec!["one", "two"]);
}

#[test]
fn ids_are_not_reused_after_a_permanent_delete_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_b, r) = open(dir.path());
        reg(&r, "s", &record("R", &[("a", "int")])).unwrap();
        reg(&r, "t", &record("T", &[("a", "int")])).unwrap();
        r.delete_subject("t", false).unwrap();
        r.delete_subject("t", true).unwrap();
    }
    let (_b, r) = open(dir.path());
    assert!(matches!(r.schema_by_id(2), Err(RegistryError::SchemaNotFound(_))));
    let (id, version) = reg(&r, "t", &record("T", &[("a", "int")])).unwrap();
    assert_eq!(
        (id, version),
        (3, 1),
        "id 2 is never handed out again; versions restart"
    );
}

#[test]
fn concurrent_registrations_of_distinct_schemas_get_distinct_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (_b, r) = open(dir.path());
    // Unrelated schemas under shared subjects: only NONE lets them all in.
    r.set_compatibility(None, CompatibilityLevel::None).unwrap();
    let r = Arc::new(r);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let r = r.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        reg(
                            &r,
                            &format!("s{}", i % 3),
                            &record(&format!("R{t}x{i}"), &[("a", "int")]),
                        )
                        .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=80).collect::<Vec<_>>());
    let versions: usize = (0..3)
        .map(|i| r.versions(&format!("s{i}"), false).unwrap().len())
        .sum();
    assert_eq!(versions, 80, "every registration got its own version");
}

#[test]
fn deletes_follow_confluents_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (_b, r) = open(dir.path());
    let s1 = record("D", &[("a", "int")]);
    let s2 = record("D", &[("a", "int"), ("b", "int=1")]);
    reg(&r, "d", &s1).unwrap();
    reg(&r, "d", &s2).unwrap();
    assert!(matches!(
        r.delete_subject("nope", false),
        Err(RegistryError::SubjectNotFound(_))
    ));
    assert!(matches!(
        r.delete_version("d", VersionSpec::Number(9), false),
        Err(RegistryError::VersionNotFound(_))
    ));
    assert!(matches!(
        r.delete_version("d", VersionSpec::Number(1), true),
        Err(RegistryError::VersionNotSoftDeleted { version: 1, .. })
    ));
    assert_eq!(r.delete_version("d", VersionSpec::Number(1), false).unwrap(), 1);
    assert!(matches!(
        r.delete_version("d", VersionSpec::Number(1), false),
        Err(RegistryError::VersionSoftDeleted { version: 1, .. })
    ));
    // A soft-deleted version is still readable with deleted=true, and its id still serves.
    assert!(r.version("d", VersionSpec::Number(1), false).is_err());
    assert!(r.version("d", VersionSpec::Number(1), true).unwrap().deleted);
    assert_eq!(r.schema_by_id(1).unwrap(), s1);
    assert!(matches!(
        r.delete_subject("d", true),
        Err(RegistryError::SubjectNotSoftDeleted(_))
    ));
    assert_eq!(r.delete_subject("d", false).unwrap(), vec![2]);
    assert!(matches!(
        r.delete_subject("d", false),
        Err(RegistryError::SubjectSoftDeleted(_))
    ));
    assert!(matches!(
        r.versions("d", false),
        Err(RegistryError::SubjectNotFound(_))
    ));
    assert_eq!(r.subjects(true), vec!["d"]);
    assert_eq!(r.delete_subject("d", true).unwrap(), vec![1, 2]);
    assert_eq!(r.subjects(true), Vec::<String>::new());
    assert!(matches!(r.schema_by_id(1), Err(RegistryError::SchemaNotFound(_))));
}

#[test]
fn incompatible_schemas_and_read_only_mode_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_b, r) = open(dir.path());
    reg(&r, "s", &record("S", &[("a", "int")])).unwrap();
    let before = r.snapshot();
    // BACKWARD: a new field without a default cannot read old data.
    assert!(matches!(
        reg(&r, "s", &record("S", &[("a", "int"), ("b", "int")])),
        Err(RegistryError::Incompatible(_))
    ));
    assert!(matches!(
        reg(&r, "s", "{not avro"),
        Err(RegistryError::InvalidSchema(_))
    ));
    r.set_mode(None, Mode::ReadOnly, false).unwrap();
    let ro = r.snapshot();
    assert!(matches!(
        reg(&r, "s", &record("S", &[("a", "int"), ("b", "int=0")])),
        Err(RegistryError::OperationNotPermitted(_))
    ));
    assert!(matches!(
        r.delete_subject("s", false),
        Err(RegistryError::OperationNotPermitted(_))
    ));
    assert!(matches!(
        r.set_compatibility(None, CompatibilityLevel::None),
        Err(RegistryError::OperationNotPermitted(_))
    ));
    assert_eq!(r.snapshot(), ro);
    assert_ne!(before, ro, "only the mode changed");
}

#[test]
fn import_mode_takes_the_given_ids_and_fresh_ids_continue_above_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_b, r) = open(dir.path());
    let imported = RegisterRequest {
        id: Some(100),
        version: Some(4),
        ..RegisterRequest::avro(&record("I", &[("a", "int")]))
    };
    assert!(matches!(
        r.register("i", &imported),
        Err(RegistryError::OperationNotPermitted(_))
    ));
    r.set_mode(None, Mode::Import, false).unwrap();
    assert_eq!(r.register("i", &imported).unwrap(), (100, 4));
    assert!(matches!(
        r.register(
            "j",
            &RegisterRequest {
                id: Some(100),
                ..RegisterRequest::avro("\"int\"")
            }
        ),
        Err(RegistryError::IdDoesNotMatch(100))
    ));
    r.set_mode(None, Mode::ReadWrite, false).unwrap();
    assert!(matches!(
        r.set_mode(None, Mode::Import, false),
        Err(RegistryError::OperationNotPermitted(_))
    ));
    assert_eq!(reg(&r, "k", "\"string\"").unwrap(), (101, 1));
}
