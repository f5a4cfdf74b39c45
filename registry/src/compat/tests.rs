//! The compatibility matrix: the classic schema changes under all seven levels, each with the
//! verdict Confluent documents for it in "Schema Evolution and Compatibility"
//! (https://docs.confluent.io/platform/current/schema-registry/fundamentals/schema-evolution.html,
//! its summary table: BACKWARD allows "delete fields, add optional fields", FORWARD "add
//! fields, delete optional fields", FULL "add optional fields, delete optional fields", NONE
//! "all changes are accepted"; the `_TRANSITIVE` levels check all previous versions instead of
//! the last one), and the Avro specification's resolution rules for what the table does not
//! spell out (https://avro.apache.org/docs/1.12.0/specification/#schema-resolution).
//!
//! With one earlier version a transitive level judges like its plain one, so a two-version
//! case is fixed by two facts: can the new schema read the old one's data (backward), and can
//! the old one read the new one's (forward). `assert_levels` derives all seven verdicts from
//! them and checks each.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};

use super::resolution::incompatibilities;
use super::{CompatibilityLevel, check};
use crate::AvroSchema;

const ALL_LEVELS: [CompatibilityLevel; 7] = [
    CompatibilityLevel::Backward,
    CompatibilityLevel::BackwardTransitive,
    CompatibilityLevel::Forward,
    CompatibilityLevel::ForwardTransitive,
    CompatibilityLevel::Full,
    CompatibilityLevel::FullTransitive,
    CompatibilityLevel::None,
];

fn schema(text: &str) -> AvroSchema {
    AvroSchema::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A record `R` with the given fields (JSON).
fn record(fields: &str) -> AvroSchema {
    schema(&format!(
        r#"{{"type":"record","name":"R","namespace":"shop","fields":[{fields}]}}"#
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Compatible,
    Incompatible,
}
use Verdict::{Compatible, Incompatible};

/// Asserts the verdict of registering `new` after `old` under every level, given whether the
/// new schema reads the old data (`backward`) and the old schema reads the new data
/// (`forward`).
fn assert_levels(old: &AvroSchema, new: &AvroSchema, backward: Verdict, forward: Verdict) {
    let full = if backward == Compatible && forward == Compatible {
        Compatible
    } else {
        Incompatible
    };
    for level in ALL_LEVELS {
        let expected = match level {
            CompatibilityLevel::Backward | CompatibilityLevel::BackwardTransitive => backward,
            CompatibilityLevel::Forward | CompatibilityLevel::ForwardTransitive => forward,
            CompatibilityLevel::Full | CompatibilityLevel::FullTransitive => full,
            CompatibilityLevel::None => Compatible,
        };
        let messages = check(level, new, std::slice::from_ref(old));
        let got = if messages.is_empty() {
            Compatible
        } else {
            Incompatible
        };
        assert_eq!(got, expected, "{}: {messages:#?}", level.as_str());
    }
}

/// The messages of `check`, without the trailing `{oldSchema…}`/`{compatibility…}` lines.
fn findings(level: CompatibilityLevel, new: &AvroSchema, existing: &[AvroSchema]) -> Vec<String> {
    check(level, new, existing)
        .into_iter()
        .filter(|m| m.starts_with("{errorType"))
        .collect()
}

const ID: &str = r#"{"name":"id","type":"long"}"#;

// ---- fields ----

#[test]
fn adding_a_field_with_a_default_is_fully_compatible() {
    // Confluent: "add optional fields" is allowed by BACKWARD, FORWARD and FULL.
    let old = record(ID);
    let new = record(&format!(r#"{ID},{{"name":"note","type":"string","default":""}}"#));
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn adding_a_field_without_a_default_is_forward_only() {
    // Confluent: FORWARD allows "add fields"; BACKWARD only "add optional fields".
    let old = record(ID);
    let new = record(&format!(r#"{ID},{{"name":"note","type":"string"}}"#));
    assert_levels(&old, &new, Incompatible, Compatible);
    assert_eq!(
        findings(CompatibilityLevel::Backward, &new, &[old]),
        [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'note' at path '/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'note'}"
        ]
    );
}

#[test]
fn removing_a_field_with_a_default_is_fully_compatible() {
    // Confluent: "delete optional fields" is allowed by FORWARD and FULL; BACKWARD allows
    // deleting any field.
    let old = record(&format!(r#"{ID},{{"name":"note","type":"string","default":""}}"#));
    let new = record(ID);
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn removing_a_field_without_a_default_is_backward_only() {
    // Confluent: BACKWARD allows "delete fields"; FORWARD only "delete optional fields".
    let old = record(&format!(r#"{ID},{{"name":"note","type":"string"}}"#));
    let new = record(ID);
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'note' at path '/fields/1' in the old schema has no default value and is missing in the new schema', additionalInfo:'note'}"
        ]
    );
}

#[test]
fn renaming_a_field_with_the_old_name_as_alias_is_backward_only() {
    // Avro: the reader's field aliases match writer field names, the writer's aliases do not
    // count, so the old schema (reader) finds no `name` in new data.
    let old = record(r#"{"name":"name","type":"string"}"#);
    let new = record(r#"{"name":"full_name","type":"string","aliases":["name"]}"#);
    assert_levels(&old, &new, Compatible, Incompatible);
}

#[test]
fn renaming_a_field_without_an_alias_is_incompatible_both_ways() {
    // Confluent: a rename is a delete plus an add of a field without a default.
    let old = record(r#"{"name":"name","type":"string"}"#);
    let new = record(r#"{"name":"full_name","type":"string"}"#);
    assert_levels(&old, &new, Incompatible, Incompatible);
}

// ---- types ----

#[test]
fn widening_int_to_long_is_backward_only() {
    // Avro: int is promotable to long; a long cannot be read as an int.
    let old = record(r#"{"name":"n","type":"int"}"#);
    let new = record(r#"{"name":"n","type":"long"}"#);
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old schema does not match with the new schema', additionalInfo:'reader type: INT not compatible with writer type: LONG'}"
        ]
    );
}

#[test]
fn narrowing_long_to_int_is_forward_only() {
    let old = record(r#"{"name":"n","type":"long"}"#);
    let new = record(r#"{"name":"n","type":"int"}"#);
    assert_levels(&old, &new, Incompatible, Compatible);
}

#[test]
fn changing_string_to_int_is_incompatible_both_ways() {
    // Confluent's documented TYPE_MISMATCH: no level but NONE accepts a changed type.
    let old = record(r#"{"name":"n","type":"string"}"#);
    let new = record(r#"{"name":"n","type":"int"}"#);
    assert_levels(&old, &new, Incompatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Full, &new, &[old]),
        [
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old schema does not match with the new schema', additionalInfo:'reader type: STRING not compatible with writer type: INT'}",
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the new schema does not match with the old schema', additionalInfo:'reader type: INT not compatible with writer type: STRING'}",
        ]
    );
}

#[test]
fn string_and_bytes_are_interchangeable() {
    let old = record(r#"{"name":"n","type":"string"}"#);
    let new = record(r#"{"name":"n","type":"bytes"}"#);
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn numeric_promotions_follow_the_specification() {
    let promotable = [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
    ];
    let all = ["int", "long", "float", "double"];
    for writer in all {
        for reader in all {
            let allowed = writer == reader || promotable.contains(&(writer, reader));
            let found = incompatibilities(
                schema(&format!(r#""{reader}""#)).schema(),
                schema(&format!(r#""{writer}""#)).schema(),
            );
            assert_eq!(found.is_empty(), allowed, "{writer} read as {reader}: {found:?}");
        }
    }
}

// ---- unions ----

#[test]
fn adding_a_union_branch_is_backward_only() {
    // Avro: every branch the writer may use must be readable; the old union lacks `int`.
    let old = record(r#"{"name":"v","type":["null","string"],"default":null}"#);
    let new = record(r#"{"name":"v","type":["null","string","int"],"default":null}"#);
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'MISSING_UNION_BRANCH', description:'The old schema is missing a type inside a union field at path '/fields/0/type/2' in the new schema', additionalInfo:'reader union lacking writer type: INT'}"
        ]
    );
}

#[test]
fn removing_a_union_branch_is_forward_only() {
    let old = record(r#"{"name":"v","type":["null","string","int"],"default":null}"#);
    let new = record(r#"{"name":"v","type":["null","string"],"default":null}"#);
    assert_levels(&old, &new, Incompatible, Compatible);
}

#[test]
fn making_a_field_nullable_is_backward_only() {
    // Avro: a reader union reads a non-union writer through a matching branch; a plain
    // string reader cannot read the `null` branch.
    let old = record(r#"{"name":"v","type":"string"}"#);
    let new = record(r#"{"name":"v","type":["null","string"],"default":null}"#);
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old schema does not match with the new schema', additionalInfo:'reader type: STRING not compatible with writer type: NULL'}"
        ]
    );
}

#[test]
fn a_reader_union_without_the_written_type_is_incompatible() {
    let old = record(r#"{"name":"v","type":"long"}"#);
    let new = record(r#"{"name":"v","type":["null","string"],"default":null}"#);
    assert_levels(&old, &new, Incompatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Backward, &new, &[old]),
        [
            "{errorType:'MISSING_UNION_BRANCH', description:'The new schema is missing a type inside a union field at path '/fields/0/type' in the old schema', additionalInfo:'reader union lacking writer type: LONG'}"
        ]
    );
}

// ---- enums ----

const COLOR_RG: &str = r#"{"type":"enum","name":"Color","symbols":["RED","GREEN"]}"#;
const COLOR_RGB: &str = r#"{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}"#;
const COLOR_RG_DEFAULT: &str = r#"{"type":"enum","name":"Color","symbols":["RED","GREEN"],"default":"RED"}"#;
const COLOR_RGB_DEFAULT: &str =
    r#"{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"],"default":"RED"}"#;

fn color_field(color: &str) -> AvroSchema {
    record(&format!(r#"{{"name":"c","type":{color}}}"#))
}

#[test]
fn adding_an_enum_symbol_is_backward_only() {
    // Avro: a symbol the reader does not know is an error unless the reader has a default.
    let (old, new) = (color_field(COLOR_RG), color_field(COLOR_RGB));
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'MISSING_ENUM_SYMBOLS', description:'The old schema is missing enum symbols '[BLUE]' at path '/fields/0/type/symbols' in the new schema', additionalInfo:'[BLUE]'}"
        ]
    );
}

#[test]
fn adding_an_enum_symbol_to_an_enum_with_a_default_is_fully_compatible() {
    let (old, new) = (color_field(COLOR_RG_DEFAULT), color_field(COLOR_RGB_DEFAULT));
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn removing_an_enum_symbol_is_forward_only() {
    let (old, new) = (color_field(COLOR_RGB), color_field(COLOR_RG));
    assert_levels(&old, &new, Incompatible, Compatible);
}

#[test]
fn removing_an_enum_symbol_when_the_new_enum_has_a_default_is_fully_compatible() {
    let (old, new) = (color_field(COLOR_RGB), color_field(COLOR_RG_DEFAULT));
    assert_levels(&old, &new, Compatible, Compatible);
}

// ---- named types ----

const ADDRESS_V1: &str = r#"{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}"#;

fn with_address(address: &str) -> AvroSchema {
    record(&format!(r#"{ID},{{"name":"address","type":{address}}}"#))
}

#[test]
fn adding_a_field_without_default_to_a_nested_record_is_forward_only() {
    let old = with_address(ADDRESS_V1);
    let new = with_address(
        r#"{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}"#,
    );
    assert_levels(&old, &new, Incompatible, Compatible);
    assert_eq!(
        findings(CompatibilityLevel::Backward, &new, &[old]),
        [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'zip' at path '/fields/1/type/fields/1' in the new schema has no default value and is missing in the old schema', additionalInfo:'zip'}"
        ]
    );
}

#[test]
fn adding_a_field_with_default_to_a_nested_record_is_fully_compatible() {
    let old = with_address(ADDRESS_V1);
    let new = with_address(
        r#"{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string","default":""}]}"#,
    );
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn renaming_a_record_with_the_old_name_as_alias_is_backward_only() {
    // Avro: named types match by name or by a reader alias equal to the writer's full name.
    let old = with_address(ADDRESS_V1);
    let new = with_address(
        r#"{"type":"record","name":"Location","aliases":["Address"],"fields":[{"name":"city","type":"string"}]}"#,
    );
    assert_levels(&old, &new, Compatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Forward, &new, &[old]),
        [
            "{errorType:'NAME_MISMATCH', description:'The name of the schema has changed (path '/fields/1/type/name')', additionalInfo:'expected: shop.Location'}"
        ]
    );
}

#[test]
fn a_namespace_change_alone_is_compatible() {
    // Avro Java compares the unqualified names of named types.
    let old = schema(r#"{"type":"record","name":"a.R","fields":[{"name":"x","type":"int"}]}"#);
    let new = schema(r#"{"type":"record","name":"b.R","fields":[{"name":"x","type":"int"}]}"#);
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn fixed_types_must_agree_on_size() {
    let old = record(r#"{"name":"h","type":{"type":"fixed","name":"Hash","size":16}}"#);
    let new = record(r#"{"name":"h","type":{"type":"fixed","name":"Hash","size":32}}"#);
    assert_levels(&old, &new, Incompatible, Incompatible);
    assert_eq!(
        findings(CompatibilityLevel::Backward, &new, &[old]),
        [
            "{errorType:'FIXED_SIZE_MISMATCH', description:'The size of FIXED type field at path '/fields/0/type/size' in the new schema does not match with the old schema', additionalInfo:'expected: 16, found: 32'}"
        ]
    );
}

#[test]
fn arrays_and_maps_are_checked_element_by_element() {
    let old = record(
        r#"{"name":"xs","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"float"}}"#,
    );
    let new = record(
        r#"{"name":"xs","type":{"type":"array","items":"long"}},{"name":"m","type":{"type":"map","values":"double"}}"#,
    );
    assert_levels(&old, &new, Compatible, Incompatible);
    let paths: Vec<String> = findings(CompatibilityLevel::Forward, &new, &[old]);
    assert!(paths[0].contains("'/fields/0/type/items'"), "{paths:?}");
    assert!(paths[1].contains("'/fields/1/type/values'"), "{paths:?}");
}

#[test]
fn logical_types_are_ignored_as_avro_java_ignores_them() {
    let old = record(r#"{"name":"t","type":"long"}"#);
    let new = record(r#"{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}"#);
    assert_levels(&old, &new, Compatible, Compatible);
}

// ---- recursion and references ----

fn linked_list(extra: &str) -> AvroSchema {
    schema(&format!(
        r#"{{"type":"record","name":"Node","fields":[{{"name":"value","type":"int"}},
            {{"name":"next","type":["null","Node"],"default":null}}{extra}]}}"#
    ))
}

#[test]
fn recursive_schemas_are_checked_without_looping() {
    let old = linked_list("");
    assert_levels(
        &old,
        &linked_list(r#",{"name":"label","type":"string","default":""}"#),
        Compatible,
        Compatible,
    );
    assert_levels(
        &old,
        &linked_list(r#",{"name":"label","type":"string"}"#),
        Incompatible,
        Compatible,
    );
}

/// Two fields sharing one record type: the first use defines it, the second refers to it.
fn two_addresses(first: &str, second: &str) -> AvroSchema {
    record(&format!(
        r#"{{"name":"{first}","type":{ADDRESS_V1}}},{{"name":"{second}","type":"Address"}}"#
    ))
}

#[test]
fn reordering_fields_that_share_a_named_type_is_compatible() {
    let old = two_addresses("home", "work");
    let new = two_addresses("work", "home");
    assert_levels(&old, &new, Compatible, Compatible);
}

#[test]
fn a_change_seen_only_through_references_is_found() {
    // The writer defines Address in a field the reader lacks; the shared field `home` is a
    // reference on both sides.
    let old = record(&format!(
        r#"{{"name":"spare","type":["null",{ADDRESS_V1}],"default":null}},{{"name":"home","type":"Address"}}"#
    ));
    let new = record(
        r#"{"name":"other","type":["null",{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}],"default":null},
           {"name":"home","type":"Address"}"#,
    );
    assert_levels(&old, &new, Incompatible, Compatible);
}

#[test]
fn a_reader_field_matching_two_writer_fields_is_incompatible() {
    let old = record(r#"{"name":"a","type":"int"},{"name":"b","type":"int"}"#);
    let new = record(r#"{"name":"a","type":"int","aliases":["b"]}"#);
    let found = findings(CompatibilityLevel::Backward, &new, &[old]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("AMBIGUOUS_FIELD") && found[0].contains("additionalInfo:'a, b'"),
        "{found:?}"
    );
}

// ---- levels over several versions ----

#[test]
fn transitive_levels_check_every_version_and_plain_ones_the_latest() {
    // Confluent: BACKWARD compares with the last version, BACKWARD_TRANSITIVE with all.
    // v2 adds `note` with a default, v3 drops the default: v3 reads v2's data (which has
    // `note`) but not v1's.
    let v1 = record(ID);
    let v2 = record(&format!(r#"{ID},{{"name":"note","type":"string","default":""}}"#));
    let v3 = record(&format!(r#"{ID},{{"name":"note","type":"string"}}"#));
    let history = [v1, v2];
    for (level, expected) in [
        (CompatibilityLevel::Backward, Compatible),
        (CompatibilityLevel::BackwardTransitive, Incompatible),
        (CompatibilityLevel::Forward, Compatible),
        (CompatibilityLevel::ForwardTransitive, Compatible),
        (CompatibilityLevel::Full, Compatible),
        (CompatibilityLevel::FullTransitive, Incompatible),
        (CompatibilityLevel::None, Compatible),
    ] {
        let messages = check(level, &v3, &history);
        let got = if messages.is_empty() {
            Compatible
        } else {
            Incompatible
        };
        assert_eq!(got, expected, "{}: {messages:#?}", level.as_str());
    }
}

#[test]
fn forward_transitive_protects_readers_of_every_version() {
    // v1 requires `note`; v2 gives it a default; v3 removes it: v2 readers cope, v1 readers
    // do not.
    let v1 = record(&format!(r#"{ID},{{"name":"note","type":"string"}}"#));
    let v2 = record(&format!(r#"{ID},{{"name":"note","type":"string","default":""}}"#));
    let v3 = record(ID);
    let history = [v1, v2];
    for (level, expected) in [
        (CompatibilityLevel::Backward, Compatible),
        (CompatibilityLevel::BackwardTransitive, Compatible),
        (CompatibilityLevel::Forward, Compatible),
        (CompatibilityLevel::ForwardTransitive, Incompatible),
        (CompatibilityLevel::Full, Compatible),
        (CompatibilityLevel::FullTransitive, Incompatible),
        (CompatibilityLevel::None, Compatible),
    ] {
        let messages = check(level, &v3, &history);
        let got = if messages.is_empty() {
            Compatible
        } else {
            Incompatible
        };
        assert_eq!(got, expected, "{}: {messages:#?}", level.as_str());
    }
}

#[test]
fn report_names_the_newest_version_broken_and_the_level() {
    let v1 = record(ID);
    let v2 = record(r#"{"name":"id","type":"string"}"#);
    let v3 = record(r#"{"name":"id","type":"int"}"#);
    let messages = check(CompatibilityLevel::BackwardTransitive, &v3, &[v1, v2.clone()]);
    // Newest first: v3 breaks with v2 (string), and the report stops there.
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].contains("writer type: STRING"), "{messages:#?}");
    assert_eq!(messages[1], format!("{{oldSchema: '{}'}}", v2.canonical()));
    assert_eq!(messages[2], "{compatibility: 'BACKWARD_TRANSITIVE'}");
}

#[test]
fn first_version_is_compatible_under_every_level() {
    let new = record(ID);
    for level in ALL_LEVELS {
        assert!(check(level, &new, &[]).is_empty(), "{}", level.as_str());
    }
}

#[test]
fn none_accepts_any_change() {
    let old = record(ID);
    let new = schema(r#""string""#);
    assert!(check(CompatibilityLevel::None, &new, std::slice::from_ref(&old)).is_empty());
    assert!(!check(CompatibilityLevel::Backward, &new, &[old]).is_empty());
}

#[test]
fn level_names_round_trip_case_insensitively() {
    for level in ALL_LEVELS {
        assert_eq!(CompatibilityLevel::parse(level.as_str()).ok(), Some(level));
        assert_eq!(
            CompatibilityLevel::parse(&level.as_str().to_lowercase()).ok(),
            Some(level)
        );
    }
    assert!(CompatibilityLevel::parse("SIDEWAYS").is_err());
}

// ---- why not apache-avro's SchemaCompatibility (see the module doc) ----

#[test]
fn crate_refuses_a_record_renamed_with_an_alias() {
    let old = with_address(ADDRESS_V1);
    let new = with_address(
        r#"{"type":"record","name":"Location","aliases":["Address"],"fields":[{"name":"city","type":"string"}]}"#,
    );
    assert!(SchemaCompatibility::can_read(old.schema(), new.schema()).is_err());
    assert!(incompatibilities(new.schema(), old.schema()).is_empty());
}

#[test]
fn crate_calls_a_removed_enum_symbol_partial_not_an_error() {
    let (old, new) = (color_field(COLOR_RGB), color_field(COLOR_RG));
    assert_eq!(
        SchemaCompatibility::can_read(old.schema(), new.schema()),
        Ok(Compatibility::Partial)
    );
    assert!(!incompatibilities(new.schema(), old.schema()).is_empty());
}

#[test]
fn crate_calls_an_unreadable_writer_union_branch_partial_not_an_error() {
    let old = record(r#"{"name":"v","type":["null","string"],"default":null}"#);
    let new = record(r#"{"name":"v","type":"string"}"#);
    assert_eq!(
        SchemaCompatibility::can_read(old.schema(), new.schema()),
        Ok(Compatibility::Partial)
    );
    assert!(!incompatibilities(new.schema(), old.schema()).is_empty());
}

#[test]
fn crate_refuses_reordered_fields_that_share_a_named_type() {
    let (old, new) = (two_addresses("home", "work"), two_addresses("work", "home"));
    assert!(SchemaCompatibility::can_read(old.schema(), new.schema()).is_err());
}

#[test]
fn crate_misses_a_change_seen_only_through_references() {
    let old = record(&format!(
        r#"{{"name":"spare","type":["null",{ADDRESS_V1}],"default":null}},{{"name":"home","type":"Address"}}"#
    ));
    let new = record(
        r#"{"name":"other","type":["null",{"type":"record","name":"Address","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string"}]}],"default":null},
           {"name":"home","type":"Address"}"#,
    );
    assert_eq!(
        SchemaCompatibility::can_read(old.schema(), new.schema()),
        Ok(Compatibility::Full)
    );
}
