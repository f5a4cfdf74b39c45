//! Can a reader schema read what a writer schema wrote? Avro's schema-resolution rules
//! (<https://avro.apache.org/docs/1.12.0/specification/#schema-resolution>), checked and
//! reported the way Avro Java's `SchemaCompatibility` — and so Confluent — does it: every
//! incompatibility found, each with a JSON-pointer path into the reader schema.
//!
//! Logical types are ignored, as Avro Java ignores them: a `timestamp-millis` long reads a
//! plain long, a decimal reads a decimal of another scale. Named types compare by unqualified
//! name (or a reader alias equal to the writer's full name), as in Avro Java.

use std::collections::{BTreeSet, HashMap};

use apache_avro::Schema;
use apache_avro::schema::{
    Aliases, DecimalSchema, EnumSchema, FixedSchema, InnerDecimalSchema, RecordField, RecordSchema,
    UuidSchema,
};

/// One reason a reader cannot read a writer, with Confluent's error types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Incompatibility {
    pub kind: Kind,
    /// JSON pointer into the reader schema, e.g. `/fields/1/type`.
    pub path: String,
    /// Confluent's `additionalInfo`: the field name, missing symbols, or the two types.
    pub info: String,
}

/// Avro Java's `SchemaIncompatibilityType`, plus one case where Avro Java throws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    NameMismatch,
    FixedSizeMismatch,
    MissingEnumSymbols,
    ReaderFieldMissingDefaultValue,
    TypeMismatch,
    MissingUnionBranch,
    /// A reader field whose name and aliases match more than one writer field.
    AmbiguousField,
}

impl Incompatibility {
    /// Confluent's message, `{errorType:'…', description:'…', additionalInfo:'…'}`, with the
    /// reader and writer called `reader` and `writer` ("new"/"old" depending on the direction).
    pub fn describe(&self, reader: &str, writer: &str) -> String {
        let path = &self.path;
        let info = &self.info;
        let (error_type, description) = match self.kind {
            Kind::NameMismatch => (
                "NAME_MISMATCH",
                format!("The name of the schema has changed (path '{path}')"),
            ),
            Kind::FixedSizeMismatch => (
                "FIXED_SIZE_MISMATCH",
                format!(
                    "The size of FIXED type field at path '{path}' in the {reader} schema does not match with the {writer} schema"
                ),
            ),
            Kind::MissingEnumSymbols => (
                "MISSING_ENUM_SYMBOLS",
                format!(
                    "The {reader} schema is missing enum symbols '{info}' at path '{path}' in the {writer} schema"
                ),
            ),
            Kind::ReaderFieldMissingDefaultValue => (
                "READER_FIELD_MISSING_DEFAULT_VALUE",
                format!(
                    "The field '{info}' at path '{path}' in the {reader} schema has no default value and is missing in the {writer} schema"
                ),
            ),
            Kind::TypeMismatch => (
                "TYPE_MISMATCH",
                format!(
                    "The type (path '{path}') of a field in the {reader} schema does not match with the {writer} schema"
                ),
            ),
            Kind::MissingUnionBranch => (
                "MISSING_UNION_BRANCH",
                format!(
                    "The {reader} schema is missing a type inside a union field at path '{path}' in the {writer} schema"
                ),
            ),
            Kind::AmbiguousField => (
                "AMBIGUOUS_FIELD",
                format!(
                    "The field at path '{path}' in the {reader} schema matches several fields of the {writer} schema by name and aliases"
                ),
            ),
        };
        format!("{{errorType:'{error_type}', description:'{description}', additionalInfo:'{info}'}}")
    }
}

/// Everything that keeps `reader` from reading data written with `writer`; empty if it can.
pub(super) fn incompatibilities(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    let mut checker = Checker {
        reader_names: names(reader),
        writer_names: names(writer),
        memo: HashMap::new(),
    };
    let mut found = checker.check(reader, writer, &mut Vec::new());
    // A named pair met twice reports its (memoized) findings twice.
    let mut seen = Vec::with_capacity(found.len());
    found.retain(|i| {
        let new = !seen.contains(i);
        if new {
            seen.push(i.clone());
        }
        new
    });
    found
}

/// A schema seen through its logical type (which resolution ignores) and its references.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a [Schema]),
    Record(&'a RecordSchema),
    Enum(&'a EnumSchema),
    Fixed(&'a FixedSchema),
}

impl Shape<'_> {
    /// Avro Java's type name, as its messages print it.
    fn type_name(&self) -> &'static str {
        match self {
            Shape::Null => "NULL",
            Shape::Boolean => "BOOLEAN",
            Shape::Int => "INT",
            Shape::Long => "LONG",
            Shape::Float => "FLOAT",
            Shape::Double => "DOUBLE",
            Shape::Bytes => "BYTES",
            Shape::String => "STRING",
            Shape::Array(_) => "ARRAY",
            Shape::Map(_) => "MAP",
            Shape::Union(_) => "UNION",
            Shape::Record(_) => "RECORD",
            Shape::Enum(_) => "ENUM",
            Shape::Fixed(_) => "FIXED",
        }
    }

    /// The full name of a named type: the key of recursion.
    fn full_name(&self) -> Option<String> {
        match self {
            Shape::Record(r) => Some(r.name.fullname(None)),
            Shape::Enum(e) => Some(e.name.fullname(None)),
            Shape::Fixed(f) => Some(f.name.fullname(None)),
            _ => None,
        }
    }
}

/// The named types of a schema by full name (aliases too: apache-avro resolves a reference
/// to an alias), so that a `Schema::Ref` can be followed.
fn names(schema: &Schema) -> HashMap<String, &Schema> {
    fn walk<'a>(schema: &'a Schema, out: &mut HashMap<String, &'a Schema>) {
        let (name, aliases) = match schema {
            Schema::Record(r) => (&r.name, &r.aliases),
            Schema::Enum(e) => (&e.name, &e.aliases),
            Schema::Fixed(f)
            | Schema::Duration(f)
            | Schema::Uuid(UuidSchema::Fixed(f))
            | Schema::Decimal(DecimalSchema {
                inner: InnerDecimalSchema::Fixed(f),
                ..
            }) => (&f.name, &f.aliases),
            Schema::Array(a) => return walk(&a.items, out),
            Schema::Map(m) => return walk(&m.types, out),
            Schema::Union(u) => return u.variants().iter().for_each(|v| walk(v, out)),
            _ => return,
        };
        let full = name.fullname(None);
        if out.contains_key(&full) {
            return;
        }
        out.insert(full, schema);
        for alias in aliases.iter().flatten() {
            out.entry(alias.fullname(None)).or_insert(schema);
        }
        if let Schema::Record(r) = schema {
            r.fields.iter().for_each(|f| walk(&f.schema, out));
        }
    }
    let mut out = HashMap::new();
    walk(schema, &mut out);
    out
}

/// Where a pair of named types stands: being checked (recursion assumes it compatible, as
/// Avro Java does) or checked, with the findings.
enum Memo {
    InProgress,
    Done(Vec<Incompatibility>),
}

struct Checker<'a> {
    reader_names: HashMap<String, &'a Schema>,
    writer_names: HashMap<String, &'a Schema>,
    memo: HashMap<(String, String), Memo>,
}

impl<'a> Checker<'a> {
    fn check(
        &mut self,
        reader: &'a Schema,
        writer: &'a Schema,
        path: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        let r = shape(reader, &self.reader_names);
        let w = shape(writer, &self.writer_names);
        self.resolve(r, w, path)
    }

    /// `compare` through the memo when both sides are named types, which is where recursive
    /// schemas come back to a pair already being checked.
    fn resolve(
        &mut self,
        reader: Option<Shape<'a>>,
        writer: Option<Shape<'a>>,
        path: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        let (Some(r), Some(w)) = (reader, writer) else {
            // A reference to an undefined name: the parser does not produce one.
            let name = |s: Option<Shape<'_>>| s.map_or("UNRESOLVED", |s| s.type_name());
            return vec![mismatch(name(reader), name(writer), path)];
        };
        let (Some(r_name), Some(w_name)) = (r.full_name(), w.full_name()) else {
            return self.compare(r, w, path);
        };
        let key = (r_name, w_name);
        match self.memo.get(&key) {
            Some(Memo::InProgress) => return Vec::new(),
            Some(Memo::Done(found)) => return found.clone(),
            None => {}
        }
        self.memo.insert(key.clone(), Memo::InProgress);
        let found = self.compare(r, w, path);
        self.memo.insert(key, Memo::Done(found.clone()));
        found
    }

    fn compare(
        &mut self,
        reader: Shape<'a>,
        writer: Shape<'a>,
        path: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        use Shape as S;
        match (reader, writer) {
            (S::Null, S::Null)
            | (S::Boolean, S::Boolean)
            | (S::Int, S::Int)
            | (S::Long, S::Long)
            | (S::Float, S::Float)
            | (S::Double, S::Double)
            | (S::Bytes, S::Bytes)
            | (S::String, S::String) => Vec::new(),
            (S::Array(r), S::Array(w)) => self.nested("items", r, w, path),
            (S::Map(r), S::Map(w)) => self.nested("values", r, w, path),
            (S::Fixed(r), S::Fixed(w)) => {
                let mut found = check_names(&r.name, &r.aliases, &w.name, path);
                if r.size != w.size {
                    path.push("size".into());
                    found.push(incompatibility(
                        Kind::FixedSizeMismatch,
                        path,
                        format!("expected: {}, found: {}", w.size, r.size),
                    ));
                    path.pop();
                }
                found
            }
            (S::Enum(r), S::Enum(w)) => {
                let mut found = check_names(&r.name, &r.aliases, &w.name, path);
                let missing: BTreeSet<&String> =
                    w.symbols.iter().filter(|s| !r.symbols.contains(s)).collect();
                // The reader's default symbol stands in for the symbols it does not know.
                let has_default = r.default.as_ref().is_some_and(|d| r.symbols.contains(d));
                if !missing.is_empty() && !has_default {
                    path.push("symbols".into());
                    let missing: Vec<&str> = missing.into_iter().map(String::as_str).collect();
                    found.push(incompatibility(
                        Kind::MissingEnumSymbols,
                        path,
                        format!("[{}]", missing.join(", ")),
                    ));
                    path.pop();
                }
                found
            }
            (S::Record(r), S::Record(w)) => {
                let mut found = check_names(&r.name, &r.aliases, &w.name, path);
                found.extend(self.fields(r, w, path));
                found
            }
            (S::Union(_), S::Union(w)) => {
                // Each branch the writer may have written must be readable by the reader union.
                let mut found = Vec::new();
                for (i, branch) in w.iter().enumerate() {
                    path.push(i.to_string());
                    let branch = shape(branch, &self.writer_names);
                    if !self.resolve(Some(reader), branch, path).is_empty() {
                        let written = branch.map_or("UNRESOLVED", |b| b.type_name());
                        let info = format!("reader union lacking writer type: {written}");
                        found.push(incompatibility(Kind::MissingUnionBranch, path, info));
                    }
                    path.pop();
                }
                found
            }
            (_, S::Union(w)) => {
                let mut found = Vec::new();
                for branch in w {
                    let branch = shape(branch, &self.writer_names);
                    found.extend(self.resolve(Some(reader), branch, path));
                }
                found
            }
            (S::Union(r), _) => {
                // The first branch that reads the writer is the one resolution picks.
                for branch in r {
                    let branch = shape(branch, &self.reader_names);
                    if self.resolve(branch, Some(writer), path).is_empty() {
                        return Vec::new();
                    }
                }
                let info = format!("reader union lacking writer type: {}", writer.type_name());
                vec![incompatibility(Kind::MissingUnionBranch, path, info)]
            }
            // The promotions of the specification.
            (S::Long, S::Int)
            | (S::Float, S::Int | S::Long)
            | (S::Double, S::Int | S::Long | S::Float)
            | (S::Bytes, S::String)
            | (S::String, S::Bytes) => Vec::new(),
            (r, w) => vec![mismatch(r.type_name(), w.type_name(), path)],
        }
    }

    fn nested(
        &mut self,
        key: &str,
        r: &'a Schema,
        w: &'a Schema,
        path: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        path.push(key.into());
        let found = self.check(r, w, path);
        path.pop();
        found
    }

    /// Reader fields are looked up in the writer by name, then by the reader field's aliases;
    /// a reader field the writer lacks needs a default; writer fields the reader lacks are
    /// skipped.
    fn fields(
        &mut self,
        r: &'a RecordSchema,
        w: &'a RecordSchema,
        path: &mut Vec<String>,
    ) -> Vec<Incompatibility> {
        let mut found = Vec::new();
        path.push("fields".into());
        for (position, field) in r.fields.iter().enumerate() {
            path.push(position.to_string());
            let matches = writer_fields(field, w);
            match matches.as_slice() {
                [] if field.default.is_none() => {
                    found.push(incompatibility(
                        Kind::ReaderFieldMissingDefaultValue,
                        path,
                        field.name.clone(),
                    ));
                }
                [] => {}
                [written] => found.extend(self.nested("type", &field.schema, &written.schema, path)),
                several => {
                    let names: Vec<&str> = several.iter().map(|f| f.name.as_str()).collect();
                    found.push(incompatibility(Kind::AmbiguousField, path, names.join(", ")));
                }
            }
            path.pop();
        }
        path.pop();
        found
    }
}

/// The writer fields a reader field reads: the one of the same name and those named by its
/// aliases (Avro Java's `lookupWriterField`; writer aliases play no part).
fn writer_fields<'a>(field: &RecordField, writer: &'a RecordSchema) -> Vec<&'a RecordField> {
    let mut matches: Vec<&RecordField> = Vec::new();
    for name in std::iter::once(&field.name).chain(&field.aliases) {
        if let Some(w) = writer.fields.iter().find(|w| &w.name == name) {
            if !matches.iter().any(|m| std::ptr::eq(*m, w)) {
                matches.push(w);
            }
        }
    }
    matches
}

/// Avro Java's `schemaNameEquals`: same unqualified name, or a reader alias that is the
/// writer's full name.
fn check_names(
    reader: &apache_avro::schema::Name,
    reader_aliases: &Aliases,
    writer: &apache_avro::schema::Name,
    path: &mut Vec<String>,
) -> Vec<Incompatibility> {
    let writer_full = writer.fullname(None);
    let alias_matches = reader_aliases
        .iter()
        .flatten()
        .any(|a| a.fullname(None) == writer_full);
    if reader.name() == writer.name() || alias_matches {
        return Vec::new();
    }
    path.push("name".into());
    let found = incompatibility(Kind::NameMismatch, path, format!("expected: {writer_full}"));
    path.pop();
    vec![found]
}

fn mismatch(reader: &str, writer: &str, path: &[String]) -> Incompatibility {
    incompatibility(
        Kind::TypeMismatch,
        path,
        format!("reader type: {reader} not compatible with writer type: {writer}"),
    )
}

fn incompatibility(kind: Kind, path: &[String], info: String) -> Incompatibility {
    let pointer: Vec<String> = path
        .iter()
        .map(|p| p.replace('~', "~0").replace('/', "~1"))
        .collect();
    Incompatibility {
        kind,
        path: format!("/{}", pointer.join("/")),
        info,
    }
}

/// The shape of a schema: references followed, logical types reduced to the type they
/// annotate. `None` for a reference to a name the schema does not define.
fn shape<'a>(schema: &'a Schema, names: &HashMap<String, &'a Schema>) -> Option<Shape<'a>> {
    Some(match schema {
        Schema::Ref { name } => {
            let target = names.get(&name.fullname(None))?;
            // The table holds only named types, so this does not recurse further.
            return match target {
                Schema::Ref { .. } => None,
                named => shape(named, names),
            };
        }
        Schema::Null => Shape::Null,
        Schema::Boolean => Shape::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => Shape::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => Shape::Long,
        Schema::Float => Shape::Float,
        Schema::Double => Shape::Double,
        Schema::Bytes
        | Schema::BigDecimal
        | Schema::Uuid(UuidSchema::Bytes)
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Bytes,
            ..
        }) => Shape::Bytes,
        Schema::String | Schema::Uuid(UuidSchema::String) => Shape::String,
        Schema::Array(a) => Shape::Array(&a.items),
        Schema::Map(m) => Shape::Map(&m.types),
        Schema::Union(u) => Shape::Union(u.variants()),
        Schema::Record(r) => Shape::Record(r),
        Schema::Enum(e) => Shape::Enum(e),
        Schema::Fixed(f)
        | Schema::Duration(f)
        | Schema::Uuid(UuidSchema::Fixed(f))
        | Schema::Decimal(DecimalSchema {
            inner: InnerDecimalSchema::Fixed(f),
            ..
        }) => Shape::Fixed(f),
    })
}
