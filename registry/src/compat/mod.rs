//! Compatibility levels and the check a new schema passes before it is registered.
//!
//! A level says who must be able to read whom: BACKWARD — the new schema reads data written
//! with the latest version; FORWARD — the latest version reads data written with the new
//! schema; FULL — both; the `_TRANSITIVE` variants ask the same of every live version, not
//! just the latest; NONE checks nothing. Like Confluent's `SchemaValidatorBuilder`, versions
//! are checked newest first and the check stops at the first version the new schema breaks
//! with, whose incompatibilities it reports, each in Confluent's `{errorType:…}` form.
//!
//! The reader/writer rules are in `resolution.rs`, our own checker rather than apache-avro's
//! `SchemaCompatibility::can_read`, because the crate (0.22) is wrong for a registry in ways a
//! wrapper cannot fix (the `crate_*` tests in `tests.rs` pin each one down):
//! - it ignores named-type aliases, so renaming a record with the old name as an alias is
//!   refused (the Avro spec and Avro Java accept it);
//! - a `Schema::Ref` (each use of a named type after its definition) is compared by name
//!   only, and never matches the definition it points to, so reordering two fields that share
//!   a record type is refused, while an incompatible change to a type met only through
//!   references passes;
//! - a removed enum symbol (reader without a default) and a writer union branch the reader
//!   cannot read come back as `Ok(Compatibility::Partial)`, not as errors;
//! - it stops at the first problem and describes it with the schemas' `Debug` dumps, where
//!   Confluent lists every incompatibility with a path such as `/fields/1/type`.

mod resolution;
#[cfg(test)]
mod tests;

use crate::RegistryError;
use crate::schema::AvroSchema;

/// A subject's (or the global) compatibility rule, Confluent's names and semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompatibilityLevel {
    /// Consumers using the new schema can read data written with the latest registered one.
    #[default]
    Backward,
    /// ... with every live version.
    BackwardTransitive,
    /// Consumers using the latest registered schema can read data written with the new one.
    Forward,
    /// Consumers using any live version can read data written with the new one.
    ForwardTransitive,
    /// Backward and forward, against the latest version.
    Full,
    /// Backward and forward, against every live version.
    FullTransitive,
    /// No check.
    None,
}

impl CompatibilityLevel {
    /// Parses Confluent's names (`BACKWARD`, `full_transitive`, ...), case-insensitively.
    pub fn parse(s: &str) -> Result<CompatibilityLevel, RegistryError> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "BACKWARD" => CompatibilityLevel::Backward,
            "BACKWARD_TRANSITIVE" => CompatibilityLevel::BackwardTransitive,
            "FORWARD" => CompatibilityLevel::Forward,
            "FORWARD_TRANSITIVE" => CompatibilityLevel::ForwardTransitive,
            "FULL" => CompatibilityLevel::Full,
            "FULL_TRANSITIVE" => CompatibilityLevel::FullTransitive,
            "NONE" => CompatibilityLevel::None,
            _ => return Err(RegistryError::InvalidCompatibilityLevel(s.to_string())),
        })
    }

    /// Confluent's name, as the REST API writes it.
    pub fn as_str(&self) -> &'static str {
        match self {
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
            CompatibilityLevel::None => "NONE",
        }
    }

    /// Whether the new schema must read the old ones (backward) and be read by them (forward).
    fn directions(self) -> (bool, bool) {
        use CompatibilityLevel as L;
        match self {
            L::Backward | L::BackwardTransitive => (true, false),
            L::Forward | L::ForwardTransitive => (false, true),
            L::Full | L::FullTransitive => (true, true),
            L::None => (false, false),
        }
    }

    fn is_transitive(self) -> bool {
        use CompatibilityLevel as L;
        matches!(
            self,
            L::BackwardTransitive | L::ForwardTransitive | L::FullTransitive
        )
    }
}

/// Confluent truncates the old schema it quotes in a message at 10 KiB.
const MAX_QUOTED_SCHEMA: usize = 10 * 1024;

/// Checks `new` against a subject's live versions (`existing`, oldest first) under `level`.
/// Returns one message per violation, then `{oldSchema: '…'}` and `{compatibility: '…'}`
/// lines naming the version it breaks with; empty means compatible. Non-transitive levels
/// compare with the latest version only.
pub fn check(level: CompatibilityLevel, new: &AvroSchema, existing: &[AvroSchema]) -> Vec<String> {
    let (backward, forward) = level.directions();
    let against = if level.is_transitive() {
        existing
    } else {
        existing.last().map_or(&[][..], std::slice::from_ref)
    };
    for old in against.iter().rev() {
        let mut messages = Vec::new();
        // Confluent's mutual-read strategy lists the forward findings first.
        if forward {
            let found = resolution::incompatibilities(old.schema(), new.schema());
            messages.extend(found.iter().map(|i| i.describe("old", "new")));
        }
        if backward {
            let found = resolution::incompatibilities(new.schema(), old.schema());
            messages.extend(found.iter().map(|i| i.describe("new", "old")));
        }
        if !messages.is_empty() {
            messages.push(format!("{{oldSchema: '{}'}}", quoted(old.canonical())));
            messages.push(format!("{{compatibility: '{}'}}", level.as_str()));
            return messages;
        }
    }
    Vec::new()
}

fn quoted(schema: &str) -> String {
    if schema.len() <= MAX_QUOTED_SCHEMA {
        return schema.to_string();
    }
    let mut end = MAX_QUOTED_SCHEMA;
    while !schema.is_char_boundary(end) {
        end -= 1;
    }
    format!("<truncated> {}...", &schema[..end])
}
