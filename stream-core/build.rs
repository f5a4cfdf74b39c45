//! Generates the request schemas the broker's precheck walks (`src/server/precheck/schemas.rs`
//! includes them) from Kafka's JSON message specs in `protocol/`, so that no field table is
//! maintained by hand: covering another request is copying its spec there.
//!
//! Each spec becomes a module with one `&[Field]` table per struct — the request and every
//! struct its arrays carry — listing each field's `Kind` and the versions in which it sits in
//! the positional part of the body, plus one `Schema` entry in `SCHEMAS` (sorted by api key).
//! The rules follow Kafka's own generator (`generator/src/main/java/org/apache/kafka/message/`):
//! `Versions.parse`, `FieldType.parse`, `StructRegistry`, and `MessageDataGenerator`, which
//! writes a field positionally in its `versions` minus its `taggedVersions`.
//!
//! A spec the walker cannot express (an unknown type, a struct field outside the tagged
//! section, a field-level `flexibleVersions` override, an array of bytes) fails the build with
//! the file and field named: a table that differs from the wire would let the precheck pass
//! bodies that kafka-protocol then decodes unchecked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

use serde_json::{Map, Value};

/// The spec directory, relative to the crate root.
const SPEC_DIR: &str = "protocol";
/// The generated file, in `OUT_DIR`.
const OUTPUT: &str = "request_schemas.rs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // A directory here makes cargo rerun the script when any file under it changes.
    println!("cargo:rerun-if-changed={SPEC_DIR}");

    let manifest =
        env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    let dir = Path::new(&manifest).join(SPEC_DIR);
    let mut messages = spec_files(&dir)
        .iter()
        .map(|path| {
            let text =
                fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let file = path
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
            Message::parse(&file, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect::<Vec<_>>();
    messages.sort_by_key(|message| message.api_key);
    for pair in messages.windows(2) {
        if pair[0].api_key == pair[1].api_key {
            panic!(
                "{SPEC_DIR}/{} and {SPEC_DIR}/{} both have apiKey {}",
                pair[0].file, pair[1].file, pair[0].api_key
            );
        }
    }

    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts")).join(OUTPUT);
    fs::write(&out, render(&messages)).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

/// The `*.json` files in `dir`, in name order so the output does not depend on the file system.
fn spec_files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect::<Vec<_>>();
    files.sort();
    if files.is_empty() {
        panic!("no *.json message specs in {}", dir.display());
    }
    files
}

/// A version range as Kafka's `Versions`: inclusive, empty when `lowest > highest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Versions {
    lowest: i16,
    highest: i16,
}

impl Versions {
    const NONE: Versions = Versions {
        lowest: 0,
        highest: -1,
    };

    /// Parses "none", "V", "A-B" or "A+" (up to `i16::MAX`); an absent or blank value is
    /// `default`, as in Kafka's `Versions.parse`.
    fn parse(value: Option<&Value>, default: Option<Versions>, what: &str) -> Result<Versions, String> {
        let text = match value {
            None => None,
            Some(Value::String(text)) => Some(text.trim()),
            Some(other) => return Err(format!("{what}: {other} is not a version string")),
        };
        let Some(text) = text.filter(|text| !text.is_empty()) else {
            return default.ok_or_else(|| format!("{what} is missing"));
        };
        let version = |part: &str| {
            part.trim()
                .parse::<i16>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| format!("{what}: \"{text}\" is not a version range"))
        };
        Ok(if text == "none" {
            Versions::NONE
        } else if let Some(lowest) = text.strip_suffix('+') {
            Versions {
                lowest: version(lowest)?,
                highest: i16::MAX,
            }
        } else if let Some((lowest, highest)) = text.split_once('-') {
            Versions {
                lowest: version(lowest)?,
                highest: version(highest)?,
            }
        } else {
            let single = version(text)?;
            Versions {
                lowest: single,
                highest: single,
            }
        })
    }

    fn is_empty(self) -> bool {
        self.lowest > self.highest
    }

    fn intersect(self, other: Versions) -> Versions {
        Versions {
            lowest: self.lowest.max(other.lowest),
            highest: self.highest.min(other.highest),
        }
    }
}

/// One request spec, ready to render.
struct Message {
    file: String,
    name: String,
    api_key: i16,
    valid: Versions,
    /// The first flexible version (KIP-482), `i16::MAX` when none is.
    first_flexible: i16,
    /// The request's own table first, then each struct at its first use.
    tables: Vec<Table>,
}

/// One struct's fields, as the walker's `&[Field]`.
struct Table {
    /// The spec's struct name (the message's own name for the request).
    name: String,
    fields: Vec<Entry>,
}

/// One positional field: `f(kind, since, until)` in the generated table.
struct Entry {
    /// The spec's field name, kept as a comment.
    name: String,
    kind: String,
    since: i16,
    until: i16,
}

impl Message {
    fn parse(file: &str, text: &str) -> Result<Message, String> {
        // Kafka reads its specs with comments allowed; serde_json does not. Comment lines
        // become blank lines, so serde_json's line numbers still point into the file.
        let json = text
            .lines()
            .map(|line| {
                if line.trim_start().starts_with("//") {
                    ""
                } else {
                    line
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let spec: Value = serde_json::from_str(&json)
            .map_err(|e| format!("not JSON once the // lines are dropped: {e}"))?;
        let spec = spec.as_object().ok_or("the spec is not a JSON object")?;
        let name = string(spec, "name", "the message")?.to_string();
        let kind = string(spec, "type", &name)?;
        if kind != "request" {
            return Err(format!(
                "{name} is a {kind} spec; the precheck walks requests only"
            ));
        }
        let api_key = spec
            .get("apiKey")
            .and_then(Value::as_i64)
            .and_then(|key| i16::try_from(key).ok())
            .ok_or_else(|| format!("{name}: apiKey is missing or not an int16"))?;
        let valid = Versions::parse(spec.get("validVersions"), None, &format!("{name}.validVersions"))?;
        if valid.is_empty() {
            return Err(format!("{name}: validVersions is empty"));
        }
        let flexible = Versions::parse(
            spec.get("flexibleVersions"),
            None,
            &format!("{name}.flexibleVersions"),
        )?;
        let first_flexible = if flexible.is_empty() {
            i16::MAX
        } else if flexible.highest == i16::MAX {
            flexible.lowest
        } else {
            // As Kafka's MessageSpec: a version once flexible stays flexible.
            return Err(format!(
                "{name}: flexibleVersions must be \"none\" or open-ended (\"N+\")"
            ));
        };

        let mut common = BTreeMap::new();
        for common_struct in array(spec, "commonStructs", &name)? {
            let common_struct = object(common_struct, &format!("{name}.commonStructs"))?;
            let struct_name = string(common_struct, "name", &format!("{name}.commonStructs"))?;
            let fields = array(common_struct, "fields", struct_name)?;
            if common.insert(struct_name.to_string(), fields).is_some() {
                return Err(format!("common struct {struct_name} is specified twice"));
            }
        }
        let mut tables = Tables {
            valid,
            common,
            inline: BTreeSet::new(),
            done: Vec::new(),
        };
        tables.add(&name, array(spec, "fields", &name)?)?;
        Ok(Message {
            file: file.to_string(),
            name,
            api_key,
            valid,
            first_flexible,
            tables: tables.done,
        })
    }
}

/// The tables of one message, built as its fields reference structs.
struct Tables<'a> {
    valid: Versions,
    common: BTreeMap<String, &'a [Value]>,
    /// Inline structs seen: Kafka's `StructRegistry` allows each to be defined once.
    inline: BTreeSet<String>,
    done: Vec<Table>,
}

impl<'a> Tables<'a> {
    /// Adds the table of struct `name` with `fields` and returns its constant's name.
    fn add(&mut self, name: &str, fields: &'a [Value]) -> Result<String, String> {
        // Reserve the slot first, so the parent precedes its children in the output.
        let slot = self.done.len();
        self.done.push(Table {
            name: name.to_string(),
            fields: Vec::new(),
        });
        let mut entries = Vec::new();
        for field in fields {
            if let Some(entry) = self.entry(name, object(field, name)?)? {
                entries.push(entry);
            }
        }
        self.done[slot].fields = entries;
        Ok(constant(name))
    }

    /// The table entry of `field` of struct `owner`, `None` if it is never positional.
    fn entry(&mut self, owner: &str, field: &'a Map<String, Value>) -> Result<Option<Entry>, String> {
        let name = string(field, "name", owner)?;
        let path = format!("{owner}.{name}");
        let tagged = Versions::parse(
            field.get("taggedVersions"),
            Some(Versions::NONE),
            &format!("{path}.taggedVersions"),
        )?;
        // Kafka: without `versions`, a tagged field exists in its tagged versions.
        let versions = Versions::parse(
            field.get("versions"),
            (!tagged.is_empty()).then_some(tagged),
            &format!("{path}.versions"),
        )?;
        if field.contains_key("tag") == tagged.is_empty() {
            return Err(format!("{path}: a tag and taggedVersions go together"));
        }
        if field.contains_key("flexibleVersions") {
            // Kafka allows it on strings and bytes to keep an old, non-compact encoding in
            // flexible versions; the walker picks one encoding per message version.
            return Err(format!(
                "{path}: a field-level flexibleVersions is not supported by the walker"
            ));
        }
        let nullable = Versions::parse(
            field.get("nullableVersions"),
            Some(Versions::NONE),
            &format!("{path}.nullableVersions"),
        )?;
        // Tagged fields sit in the tagged-field section, which the walker skips by size.
        let positional = if tagged.is_empty() {
            versions
        } else if tagged.highest == i16::MAX && tagged.intersect(versions) == tagged {
            Versions {
                lowest: versions.lowest,
                highest: tagged.lowest - 1,
            }
        } else {
            return Err(format!(
                "{path}: taggedVersions must be open-ended and within versions, as Kafka requires"
            ));
        }
        .intersect(self.valid);
        if positional.is_empty() {
            return Ok(None);
        }
        let kind = self.kind(&path, field)?;
        // A null string, bytes or array has the same length prefix as a value (-1 classic,
        // 0 compact), which the walker reads as empty: nullability changes no table entry.
        if !nullable.is_empty() && kind.starts_with("Fixed") {
            return Err(format!("{path}: a fixed-size type cannot be nullable"));
        }
        Ok(Some(Entry {
            name: name.to_string(),
            kind,
            since: positional.lowest,
            until: positional.highest,
        }))
    }

    /// The walker's `Kind` for `field`'s type, as Rust source.
    fn kind(&mut self, path: &str, field: &'a Map<String, Value>) -> Result<String, String> {
        let ty = string(field, "type", path)?.trim();
        if let Some(element) = ty.strip_prefix("[]") {
            return match primitive(element) {
                Some(Primitive::Fixed(width)) => Ok(format!("ArrayOf({width})")),
                Some(Primitive::Str) => Ok("ArrayOfStr".to_string()),
                Some(Primitive::Bytes) => Err(format!(
                    "{path}: the walker has no Kind for an array of {element}"
                )),
                None if is_struct_name(element) => {
                    Ok(format!("Array({})", self.element(path, element, field)?))
                }
                None => Err(format!("{path}: unknown type {ty}")),
            };
        }
        match primitive(ty) {
            Some(Primitive::Fixed(width)) => Ok(format!("Fixed({width})")),
            Some(Primitive::Str) => Ok("Str".to_string()),
            Some(Primitive::Bytes) => Ok("Bytes".to_string()),
            None if is_struct_name(ty) => Err(format!(
                "{path}: a struct outside the tagged section has no Kind in the walker (no request \
                 it covers had one); add one, with the presence byte of a nullable struct"
            )),
            None => Err(format!("{path}: unknown type {ty}")),
        }
    }

    /// The table of struct `element`, which `field` (at `path`) carries in an array: a common
    /// struct, or one defined inline by its `fields`.
    fn element(
        &mut self,
        path: &str,
        element: &str,
        field: &'a Map<String, Value>,
    ) -> Result<String, String> {
        let inline = array(field, "fields", path)?;
        if let Some(&fields) = self.common.get(element) {
            if !inline.is_empty() {
                return Err(format!("{path}: re-specifies the common struct {element} inline"));
            }
            if self.done.iter().any(|table| table.name == element) {
                return Ok(constant(element));
            }
            return self.add(element, fields);
        }
        if !self.inline.insert(element.to_string()) {
            return Err(format!("{path}: struct {element} is specified twice"));
        }
        self.add(element, inline)
    }
}

enum Primitive {
    Fixed(usize),
    Str,
    /// `bytes` and `records`: both an int32 (or compact) length and that many bytes.
    Bytes,
}

/// The non-struct types of Kafka's `FieldType`.
fn primitive(ty: &str) -> Option<Primitive> {
    Some(match ty {
        "bool" | "int8" => Primitive::Fixed(1),
        "int16" | "uint16" => Primitive::Fixed(2),
        "int32" | "uint32" => Primitive::Fixed(4),
        "int64" | "float64" => Primitive::Fixed(8),
        "uuid" => Primitive::Fixed(16),
        "string" => Primitive::Str,
        "bytes" | "records" => Primitive::Bytes,
        _ => return None,
    })
}

/// Kafka's struct type names are capitalized (`MessageGenerator.firstIsCapitalized`).
fn is_struct_name(ty: &str) -> bool {
    ty.starts_with(|c: char| c.is_ascii_uppercase()) && ty.chars().all(|c| c.is_ascii_alphanumeric())
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what}: {value} is not an object"))
}

fn string<'a>(object: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: \"{key}\" is missing or not a string"))
}

/// An optional array: absent is empty, as Kafka reads `fields` and `commonStructs`.
fn array<'a>(object: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a [Value], String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{what}: \"{key}\" is not an array")),
    }
}

/// `FetchTopic` → `FETCH_TOPIC`, `V3AndBelowTopics` → `V3_AND_BELOW_TOPICS`.
fn constant(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// `FetchRequest` → `fetch_request`.
fn snake(name: &str) -> String {
    let chars = name.chars().collect::<Vec<_>>();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        let after_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
        let ends_acronym = i > 0
            && chars[i - 1].is_ascii_uppercase()
            && chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
        if c.is_ascii_uppercase() && (after_lower || ends_acronym) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn range(versions: Versions) -> String {
    if versions.lowest == versions.highest {
        format!("v{}", versions.lowest)
    } else {
        format!("v{}-{}", versions.lowest, versions.highest)
    }
}

fn render(messages: &[Message]) -> String {
    let mut out = String::new();
    // `write!` to a String cannot fail; the results are ignored with `let _`.
    let _ = writeln!(
        out,
        "// @generated by stream-core/build.rs from stream-core/{SPEC_DIR}/*.json. Do not edit.\n"
    );
    let _ = writeln!(
        out,
        "/// Every request spec in `stream-core/{SPEC_DIR}/`, by api key."
    );
    let _ = writeln!(out, "pub(super) const SCHEMAS: &[Schema] = &[");
    for message in messages {
        let first_flexible = match message.first_flexible {
            i16::MAX => "i16::MAX".to_string(),
            version => version.to_string(),
        };
        let _ = writeln!(
            out,
            "    Schema {{ api_key: {}, versions: {}..={}, first_flexible: {first_flexible}, fields: {}::{} }}, // {}",
            message.api_key,
            message.valid.lowest,
            message.valid.highest,
            snake(&message.name),
            constant(&message.name),
            message.name,
        );
    }
    let _ = writeln!(out, "];");
    for message in messages {
        render_message(&mut out, message);
    }
    out
}

fn render_message(out: &mut String, message: &Message) {
    let flexible = if message.first_flexible == i16::MAX {
        "never flexible".to_string()
    } else {
        format!("flexible from v{}", message.first_flexible)
    };
    let _ = writeln!(
        out,
        "\n/// `{}` (`{SPEC_DIR}/{}`): api key {}, {}, {flexible}.",
        message.name,
        message.file,
        message.api_key,
        range(message.valid),
    );
    let _ = writeln!(out, "mod {} {{", snake(&message.name));
    let mut variants = BTreeSet::new();
    for entry in message.tables.iter().flat_map(|table| &table.fields) {
        variants.insert(entry.kind.split('(').next().unwrap_or_default());
    }
    if variants.is_empty() {
        let _ = writeln!(out, "    use super::Field;");
    } else {
        let _ = writeln!(out, "    use super::{{Field, f}};");
        let variants = variants.into_iter().collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "    use super::Kind::{{{variants}}};");
    }
    for (i, table) in message.tables.iter().enumerate() {
        let visibility = if i == 0 { "pub(super) " } else { "" };
        let _ = writeln!(out, "\n    /// `{}`.", table.name);
        let _ = writeln!(
            out,
            "    {visibility}const {}: &[Field] = &[",
            constant(&table.name)
        );
        for entry in &table.fields {
            let _ = writeln!(
                out,
                "        f({}, {}, {}), // {}",
                entry.kind, entry.since, entry.until, entry.name
            );
        }
        let _ = writeln!(out, "    ];");
    }
    let _ = writeln!(out, "}}");
}
