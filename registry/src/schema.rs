//! A parsed Avro schema and its canonical text, the key the registry deduplicates on.
//!
//! Confluent (in its default, non-normalized mode) keys a schema on Avro Java's
//! `Schema.toString()`: the text is parsed and printed again. Whitespace, JSON key order and
//! equivalent spellings (`"name":"a.b.C"` or `"namespace":"a.b","name":"C"`; `{"type":"int"}`
//! or `"int"`; `"order":"ascending"` or no order) therefore give one schema and one global id,
//! while everything a schema *says* — defaults, aliases, docs, field order, logical types and
//! custom properties such as Kafka Connect's `connect.name` — makes a different one.
//!
//! The canonical text is printed here from the JSON rather than with
//! `serde_json::to_string(&apache_avro::Schema)`, because apache-avro 0.22 parses away part of
//! the meaning: properties and unknown logical types on primitive types (`{"type":"long",
//! "logicalType":"timestamp-millis","connect.name":"…"}` keeps only the logical type), the
//! properties of known logical types, and `logicalType` on named types. A schema printed that
//! way is not the one registered: Connect's AvroConverter reads `connect.name` back, and
//! two schemas that differ only there would share an id. (The tests pin these losses down.)
//!
//! apache-avro still parses and validates (names, duplicate fields and symbols, unions,
//! defaults); this module adds what Avro Java checks and the crate (0.22) lets through: a named
//! type defined twice, a field that is not a JSON object, a field `order` outside
//! ascending/descending/ignore, a schema object whose `type` is not a string, and defaults
//! checked by Avro Java's rules (the crate lets an enum field default to any string when the
//! enum has a default symbol).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::RegistryError;

/// A parsed, valid Avro schema. Two texts that parse to the same schema (whitespace, key
/// order, equivalent name spellings) share one canonical form, and so one global id.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    parsed: apache_avro::Schema,
    canonical: String,
}

impl AvroSchema {
    /// Parses `text` as an Avro schema (JSON); [`RegistryError::InvalidSchema`] if it is not one.
    pub fn parse(text: &str) -> Result<AvroSchema, RegistryError> {
        let json: Value = serde_json::from_str(text)
            .map_err(|e| RegistryError::InvalidSchema(format!("the schema is not valid JSON: {e}")))?;
        let parsed =
            apache_avro::Schema::parse(&json).map_err(|e| RegistryError::InvalidSchema(error_chain(&e)))?;
        let canonical = Printer::default()
            .schema(&json, "")
            .map_err(RegistryError::InvalidSchema)?;
        Ok(AvroSchema { parsed, canonical })
    }

    /// The canonical text: equal for equal schemas, and itself a valid schema that parses to
    /// the same one.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The parsed schema.
    pub fn schema(&self) -> &apache_avro::Schema {
        &self.parsed
    }
}

/// Same schema means same canonical text.
impl PartialEq for AvroSchema {
    fn eq(&self, other: &AvroSchema) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for AvroSchema {}

/// An apache-avro error with its sources: the outer message alone ("Failed to parse schema
/// from JSON") often hides the part that says what is wrong.
fn error_chain(e: &apache_avro::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// Keys with a meaning on a schema object (Avro Java's `SCHEMA_RESERVED`): never printed as
/// custom properties, and dropped where the type does not use them (`doc` on an array).
const SCHEMA_RESERVED: [&str; 10] = [
    "type",
    "name",
    "namespace",
    "doc",
    "aliases",
    "fields",
    "symbols",
    "size",
    "items",
    "values",
];

/// Keys with a meaning on a record field (Avro Java's `FIELD_RESERVED`).
const FIELD_RESERVED: [&str; 6] = ["name", "type", "doc", "default", "order", "aliases"];

/// How deep a default value is followed into record fields that fall back on their own
/// defaults; only a record that contains itself without a union can get there.
const MAX_DEFAULT_DEPTH: usize = 64;

/// A named type seen so far: its JSON definition and its own namespace ("" for none).
#[derive(Debug)]
struct Named<'a> {
    definition: &'a Map<String, Value>,
    namespace: String,
}

/// A named type just registered: its full name, its namespace ("" for none) and its printed
/// `type`, `name`, `namespace` and `doc` keys.
#[derive(Debug)]
struct Defined {
    full: String,
    namespace: String,
    head: Vec<(&'static str, String)>,
}

/// Prints a schema's canonical text while checking what apache-avro leaves unchecked.
///
/// Namespaces are printed the way Avro Java prints them: a named type says its namespace only
/// where it differs from the enclosing one, and a reference is short when the referenced type
/// lives in the enclosing namespace. Custom properties are printed sorted by key.
#[derive(Debug, Default)]
struct Printer<'a> {
    named: HashMap<String, Named<'a>>,
}

impl<'a> Printer<'a> {
    /// `ns` is the enclosing namespace, "" for none.
    fn schema(&mut self, json: &'a Value, ns: &str) -> Result<String, String> {
        match json {
            Value::String(name) => self.reference(name, ns),
            Value::Array(branches) => {
                let printed = branches
                    .iter()
                    .map(|b| self.schema(b, ns))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!("[{}]", printed.join(",")))
            }
            Value::Object(object) => self.object(object, ns),
            other => Err(format!(
                "{other} is not a schema: a schema is a JSON string, object or array"
            )),
        }
    }

    fn reference(&self, name: &str, ns: &str) -> Result<String, String> {
        if PRIMITIVES.contains(&name) {
            return Ok(quote(name));
        }
        let full = full_name(name, ns);
        if !self.named.contains_key(&full) {
            return Err(format!(
                "unknown type '{name}' (full name '{full}'): a named type must be defined before it is used"
            ));
        }
        Ok(quote(relative_name(&full, ns)))
    }

    fn object(&mut self, object: &'a Map<String, Value>, ns: &str) -> Result<String, String> {
        let ty = match object.get("type") {
            Some(Value::String(ty)) => ty.as_str(),
            // Avro Java rejects these ("No type"); apache-avro would read a nested schema.
            Some(other) => {
                return Err(format!(
                    "\"type\" must be a string in a schema object, not {other}"
                ));
            }
            None => {
                return Err(format!(
                    "a schema object needs a \"type\": {}",
                    Value::Object(object.clone())
                ));
            }
        };
        match ty {
            "record" => self.record(object, ns),
            "enum" => self.enumeration(object, ns),
            "fixed" => self.fixed(object, ns),
            "array" | "map" => {
                let key = if ty == "array" { "items" } else { "values" };
                let inner = object
                    .get(key)
                    .ok_or_else(|| format!("an {ty} needs \"{key}\""))?;
                let head = vec![("type", quote(ty)), (key, self.schema(inner, ns)?)];
                Ok(print_object(head, properties(object, &SCHEMA_RESERVED), None))
            }
            primitive if PRIMITIVES.contains(&primitive) => {
                let properties = properties(object, &SCHEMA_RESERVED);
                if properties.is_empty() {
                    Ok(quote(primitive))
                } else {
                    Ok(print_object(vec![("type", quote(primitive))], properties, None))
                }
            }
            // `{"type":"Foo"}` is a reference to Foo (Avro Java drops the other keys).
            name => self.reference(name, ns),
        }
    }

    /// Registers a named type.
    fn define(
        &mut self,
        object: &'a Map<String, Value>,
        ns: &str,
        ty: &'static str,
    ) -> Result<Defined, String> {
        let name = match object.get("name") {
            Some(Value::String(name)) => name,
            _ => return Err(format!("a {ty} needs a string \"name\"")),
        };
        let declared_ns = match object.get("namespace") {
            None => ns,
            Some(Value::String(declared)) => declared,
            Some(other) => {
                return Err(format!(
                    "the namespace of {ty} '{name}' must be a string, not {other}"
                ));
            }
        };
        let full = full_name(name, declared_ns);
        if self.named.contains_key(&full) {
            return Err(format!("the type '{full}' is defined twice"));
        }
        let (own_ns, short) = split_name(&full);
        let own_ns = own_ns.to_string();
        let mut head = vec![("type", quote(ty)), ("name", quote(short))];
        if own_ns != ns {
            head.push(("namespace", quote(&own_ns)));
        }
        if let Some(doc) = optional_string(object, "doc", &full)? {
            head.push(("doc", quote(doc)));
        }
        self.named.insert(
            full.clone(),
            Named {
                definition: object,
                namespace: own_ns.clone(),
            },
        );
        Ok(Defined {
            full,
            namespace: own_ns,
            head,
        })
    }

    fn record(&mut self, object: &'a Map<String, Value>, ns: &str) -> Result<String, String> {
        let Defined {
            full,
            namespace: own_ns,
            head: mut printed,
        } = self.define(object, ns, "record")?;
        let Some(Value::Array(fields)) = object.get("fields") else {
            return Err(format!("the record '{full}' needs a \"fields\" array"));
        };
        let mut printed_fields = Vec::with_capacity(fields.len());
        for field in fields {
            let Value::Object(field) = field else {
                return Err(format!(
                    "a field of record '{full}' is not a JSON object: {field}"
                ));
            };
            printed_fields.push(self.field(field, &own_ns, &full)?);
        }
        printed.push(("fields", format!("[{}]", printed_fields.join(","))));
        let aliases = type_aliases(object, &own_ns, &full)?;
        Ok(print_object(
            printed,
            properties(object, &SCHEMA_RESERVED),
            aliases.map(|a| ("aliases", a)),
        ))
    }

    fn field(&mut self, field: &'a Map<String, Value>, ns: &str, record: &str) -> Result<String, String> {
        let Some(Value::String(name)) = field.get("name") else {
            return Err(format!("a field of record '{record}' needs a string \"name\""));
        };
        let what = format!("field '{name}' of record '{record}'");
        let ty = field
            .get("type")
            .ok_or_else(|| format!("the {what} needs a \"type\""))?;
        let mut printed = vec![("name", quote(name)), ("type", self.schema(ty, ns)?)];
        if let Some(doc) = optional_string(field, "doc", &what)? {
            printed.push(("doc", quote(doc)));
        }
        if let Some(default) = field.get("default") {
            if !self.default_is_valid(ty, ns, default, 0) {
                return Err(format!(
                    "the default value {default} of the {what} does not match its type"
                ));
            }
            printed.push(("default", print_json(default)));
        }
        match optional_string(field, "order", &what)? {
            None | Some("ascending") => {}
            Some(order @ ("descending" | "ignore")) => printed.push(("order", quote(order))),
            Some(other) => {
                return Err(format!(
                    "the order '{other}' of the {what} is not one of ascending, descending, ignore"
                ));
            }
        }
        if let Some(aliases) = string_list(field, "aliases", &what)? {
            if !aliases.is_empty() {
                printed.push(("aliases", print_strings(aliases.iter().copied())));
            }
        }
        Ok(print_object(printed, properties(field, &FIELD_RESERVED), None))
    }

    fn enumeration(&mut self, object: &'a Map<String, Value>, ns: &str) -> Result<String, String> {
        let Defined {
            full,
            namespace: own_ns,
            head: mut printed,
        } = self.define(object, ns, "enum")?;
        let symbols = string_list(object, "symbols", &format!("enum '{full}'"))?
            .ok_or_else(|| format!("the enum '{full}' needs a \"symbols\" array"))?;
        printed.push(("symbols", print_strings(symbols.iter().copied())));
        let aliases = type_aliases(object, &own_ns, &full)?;
        let mut reserved = SCHEMA_RESERVED.to_vec();
        reserved.push("default");
        // apache-avro checked that the default is one of the symbols.
        let default = optional_string(object, "default", &full)?.map(|d| ("default", quote(d)));
        let tail = aliases.map(|a| ("aliases", a)).into_iter().chain(default);
        Ok(print_object(printed, properties(object, &reserved), tail))
    }

    fn fixed(&mut self, object: &'a Map<String, Value>, ns: &str) -> Result<String, String> {
        let Defined {
            full,
            namespace: own_ns,
            head: mut printed,
        } = self.define(object, ns, "fixed")?;
        let size = object
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("the fixed '{full}' needs a non-negative integer \"size\""))?;
        printed.push(("size", size.to_string()));
        let aliases = type_aliases(object, &own_ns, &full)?;
        Ok(print_object(
            printed,
            properties(object, &SCHEMA_RESERVED),
            aliases.map(|a| ("aliases", a)),
        ))
    }

    /// Whether `value` is a valid default for the schema `json` (seen in namespace `ns`), by
    /// Avro Java's `isValidDefault`, except that a union's default may match any branch, as
    /// the Avro 1.12 specification and apache-avro have it.
    fn default_is_valid(&self, json: &'a Value, ns: &str, value: &Value, depth: usize) -> bool {
        if depth > MAX_DEFAULT_DEPTH {
            return false;
        }
        match json {
            Value::String(ty) => self.default_is_valid_for(ty, None, ns, value, depth),
            Value::Array(branches) => branches
                .iter()
                .any(|b| self.default_is_valid(b, ns, value, depth)),
            Value::Object(object) => match object.get("type") {
                Some(Value::String(ty)) => self.default_is_valid_for(ty, Some(object), ns, value, depth),
                _ => false,
            },
            _ => false,
        }
    }

    fn default_is_valid_for(
        &self,
        ty: &str,
        object: Option<&'a Map<String, Value>>,
        ns: &str,
        value: &Value,
        depth: usize,
    ) -> bool {
        let items = |key: &str| object.and_then(|o| o.get(key));
        match ty {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "long" => value.is_i64(),
            "float" | "double" => {
                value.is_number()
                    || matches!(
                        value.as_str(),
                        Some("NaN" | "Infinity" | "-Infinity" | "INF" | "-INF")
                    )
            }
            "bytes" | "string" => value.is_string(),
            "array" => match (items("items"), value) {
                (Some(items), Value::Array(values)) => values
                    .iter()
                    .all(|v| self.default_is_valid(items, ns, v, depth + 1)),
                _ => false,
            },
            "map" => match (items("values"), value) {
                (Some(values_type), Value::Object(values)) => values
                    .values()
                    .all(|v| self.default_is_valid(values_type, ns, v, depth + 1)),
                _ => false,
            },
            "record" | "enum" | "fixed" => {
                // An inline definition: find it by the name it was registered under.
                let name = object
                    .and_then(|o| o.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let declared_ns = object
                    .and_then(|o| o.get("namespace"))
                    .and_then(Value::as_str)
                    .unwrap_or(ns);
                self.default_is_valid_for_named(&full_name(name, declared_ns), value, depth)
            }
            name => self.default_is_valid_for_named(&full_name(name, ns), value, depth),
        }
    }

    fn default_is_valid_for_named(&self, full: &str, value: &Value, depth: usize) -> bool {
        let Some(named) = self.named.get(full) else {
            return false;
        };
        let definition = named.definition;
        match definition.get("type").and_then(Value::as_str) {
            Some("enum") => match (value.as_str(), definition.get("symbols")) {
                (Some(symbol), Some(Value::Array(symbols))) => {
                    symbols.iter().any(|s| s.as_str() == Some(symbol))
                }
                _ => false,
            },
            Some("fixed") => value.is_string(),
            Some("record") => {
                let (Value::Object(given), Some(Value::Array(fields))) = (value, definition.get("fields"))
                else {
                    return false;
                };
                fields.iter().all(|field| {
                    let name = field.get("name").and_then(Value::as_str).unwrap_or_default();
                    match (
                        field.get("type"),
                        given.get(name).or_else(|| field.get("default")),
                    ) {
                        (Some(ty), Some(v)) => self.default_is_valid(ty, &named.namespace, v, depth + 1),
                        _ => false,
                    }
                })
            }
            _ => false,
        }
    }
}

/// The full name of `name` seen in namespace `ns`: a dotted name is already full, a leading
/// dot means no namespace, and an empty namespace is no namespace (apache-avro's reading of
/// the spec).
fn full_name(name: &str, ns: &str) -> String {
    if let Some(rest) = name.strip_prefix('.') {
        rest.to_string()
    } else if name.contains('.') || ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}.{name}")
    }
}

/// (namespace, short name) of a full name.
fn split_name(full: &str) -> (&str, &str) {
    match full.rfind('.') {
        Some(dot) => (&full[..dot], &full[dot + 1..]),
        None => ("", full),
    }
}

/// How a reference to `full` is printed inside namespace `ns`.
fn relative_name<'n>(full: &'n str, ns: &str) -> &'n str {
    let (own_ns, short) = split_name(full);
    if own_ns == ns { short } else { full }
}

/// The `aliases` of a named type, printed relative to its namespace (so that `"a.Old"` and
/// `"Old"` in namespace `a` are the same alias).
fn type_aliases(object: &Map<String, Value>, own_ns: &str, full: &str) -> Result<Option<String>, String> {
    let Some(aliases) = string_list(object, "aliases", &format!("type '{full}'"))? else {
        return Ok(None);
    };
    if aliases.is_empty() {
        return Ok(None);
    }
    let resolved: Vec<String> = aliases
        .iter()
        .map(|a| relative_name(&full_name(a, own_ns), own_ns).to_string())
        .collect();
    Ok(Some(print_strings(resolved.iter().map(String::as_str))))
}

fn optional_string<'v>(
    object: &'v Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'v str>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("\"{key}\" of {what} must be a string, not {other}")),
    }
}

fn string_list<'v>(
    object: &'v Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<Vec<&'v str>>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .ok_or_else(|| format!("\"{key}\" of {what} must hold strings, not {item}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!(
            "\"{key}\" of {what} must be an array of strings, not {other}"
        )),
    }
}

/// The custom properties of an object (the keys not in `reserved`), printed, sorted by key.
fn properties(object: &Map<String, Value>, reserved: &[&str]) -> Vec<(String, String)> {
    let mut properties: Vec<(String, String)> = object
        .iter()
        .filter(|(key, _)| !reserved.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), print_json(value)))
        .collect();
    properties.sort();
    properties
}

/// A JSON object of already printed values: the `head` keys in the given order, then the
/// custom properties, then the `tail` keys (Avro Java prints `aliases` after the properties).
fn print_object<'k>(
    head: Vec<(&str, String)>,
    properties: Vec<(String, String)>,
    tail: impl IntoIterator<Item = (&'k str, String)>,
) -> String {
    let entries: Vec<String> = head
        .into_iter()
        .map(|(key, value)| format!("{}:{value}", quote(key)))
        .chain(
            properties
                .into_iter()
                .map(|(key, value)| format!("{}:{value}", quote(&key))),
        )
        .chain(
            tail.into_iter()
                .map(|(key, value)| format!("{}:{value}", quote(key))),
        )
        .collect();
    format!("{{{}}}", entries.join(","))
}

fn print_strings<'s>(items: impl Iterator<Item = &'s str>) -> String {
    format!("[{}]", items.map(quote).collect::<Vec<_>>().join(","))
}

/// Any JSON value (a default or a property), with object keys sorted, so that key order in
/// the input never shows, whatever `serde_json`'s map type is.
fn print_json(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let entries: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", quote(key), print_json(&object[key])))
                .collect();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(print_json).collect::<Vec<_>>().join(",")),
        scalar => scalar.to_string(),
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        match AvroSchema::parse(text) {
            Ok(schema) => schema.canonical().to_string(),
            Err(e) => panic!("{text} should parse: {e}"),
        }
    }

    fn rejection(text: &str) -> String {
        match AvroSchema::parse(text) {
            Ok(schema) => panic!("{text} should be rejected, parsed as {}", schema.canonical()),
            Err(RegistryError::InvalidSchema(message)) => message,
            Err(other) => panic!("{text} should be an InvalidSchema, got {other:?}"),
        }
    }

    const USER: &str = r#"{"type":"record","name":"User","namespace":"shop","doc":"a customer",
        "fields":[{"name":"id","type":"long"},
                  {"name":"email","type":["null","string"],"default":null,"aliases":["mail"]}]}"#;

    #[test]
    fn whitespace_and_key_order_do_not_change_the_canonical_form() {
        let reordered = r#"{ "fields" : [ { "type" : "long", "name" : "id" },
            { "default" : null, "aliases" : [ "mail" ], "type" : [ "null", "string" ], "name" : "email" } ],
            "doc" : "a customer", "namespace" : "shop", "name" : "User", "type" : "record" }"#;
        assert_eq!(canonical(USER), canonical(reordered));
        assert_eq!(
            canonical(USER),
            r#"{"type":"record","name":"User","namespace":"shop","doc":"a customer","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null,"aliases":["mail"]}]}"#
        );
    }

    #[test]
    fn equivalent_spellings_share_a_canonical_form() {
        let pairs = [
            (
                r#"{"type":"record","name":"a.b.C","fields":[]}"#,
                r#"{"type":"record","namespace":"a.b","name":"C","fields":[]}"#,
            ),
            (r#"{"type":"int"}"#, r#""int""#),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"string"},"order":"ascending"}]}"#,
                r#"{"type":"record","name":"R","fields":[{"name":"f","type":"string"}]}"#,
            ),
            (
                r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":{"type":"enum","name":"E","symbols":["A"]}}],"aliases":["n.Old"]}"#,
                r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"f","type":{"type":"enum","name":"n.E","symbols":["A"]}}],"aliases":["Old"]}"#,
            ),
            (
                r#"{"type":"string","connect":{"b":1,"a":[{"y":2,"x":1}]}}"#,
                r#"{"connect":{"a":[{"x":1,"y":2}],"b":1},"type":"string"}"#,
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(canonical(a), canonical(b), "{a} and {b}");
        }
    }

    #[test]
    fn what_a_schema_says_makes_a_different_schema() {
        let base = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":"string"}]}"#;
        let variants = [
            // another default
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":2},{"name":"b","type":"string"}]}"#,
            // an alias
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"aliases":["x"]},{"name":"b","type":"string"}]}"#,
            // field order
            r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"a","type":"int","default":1}]}"#,
            // a doc
            r#"{"type":"record","name":"R","doc":"d","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":"string"}]}"#,
            // a logical type
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"int","logicalType":"date"},"default":1},{"name":"b","type":"string"}]}"#,
            // a custom property
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1},{"name":"b","type":{"type":"string","avro.java.string":"String"}}]}"#,
            // a sort order
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1,"order":"descending"},{"name":"b","type":"string"}]}"#,
        ];
        for variant in variants {
            assert_ne!(canonical(base), canonical(variant), "{variant}");
        }
    }

    #[test]
    fn canonical_form_keeps_the_properties_the_crate_serialization_drops() {
        // Kafka Connect's timestamp, as its AvroConverter registers it.
        let text = r#"{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}"#;
        let schema = AvroSchema::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            schema.canonical(),
            r#"{"type":"long","connect.name":"org.apache.kafka.connect.data.Timestamp","connect.version":1,"logicalType":"timestamp-millis"}"#
        );
        // Why the canonical form is not `serde_json::to_string(&apache_avro::Schema)`:
        let crate_text = serde_json::to_string(schema.schema()).unwrap_or_default();
        assert_eq!(crate_text, r#"{"type":"long","logicalType":"timestamp-millis"}"#);
        let custom = AvroSchema::parse(r#"{"type":"string","logicalType":"custom"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_string(custom.schema()).unwrap_or_default(),
            r#""string""#
        );
        assert_eq!(custom.canonical(), r#"{"type":"string","logicalType":"custom"}"#);
    }

    #[test]
    fn canonical_form_parses_back_to_itself() {
        let text = r#"{"type":"record","name":"Order","namespace":"shop",
            "fields":[
              {"name":"customer","type":{"type":"record","name":"Customer","fields":[{"name":"id","type":"long"}]}},
              {"name":"payer","type":["null","Customer"],"default":null},
              {"name":"other","type":{"type":"record","name":"billing.Invoice","fields":[
                  {"name":"back","type":["null","shop.Order"],"default":null},
                  {"name":"nobody","type":{"type":"fixed","name":"Hash","namespace":"","size":4}},
                  {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}}]}},
              {"name":"again","type":"billing.Invoice"},
              {"name":"tags","type":{"type":"map","values":{"type":"array","items":"string"}},"default":{"b":["x"],"a":[]}}]}"#;
        let first = canonical(text);
        assert_eq!(canonical(&first), first);
        // Inner types say their namespace only where it changes, references are relative.
        assert!(
            first.contains(r#"{"type":"record","name":"Customer","fields""#),
            "{first}"
        );
        assert!(first.contains(r#"["null","Customer"]"#), "{first}");
        assert!(
            first.contains(r#""name":"Invoice","namespace":"billing""#),
            "{first}"
        );
        assert!(first.contains(r#"["null","shop.Order"]"#), "{first}");
        assert!(first.contains(r#""name":"Hash","namespace":"""#), "{first}");
        assert!(first.contains(r#""type":"billing.Invoice""#), "{first}");
        assert!(first.contains(r#""default":{"a":[],"b":["x"]}"#), "{first}");
    }

    #[test]
    fn recursive_schema_parses() {
        let list = r#"{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},
            {"name":"next","type":["null","Node"],"default":null}]}"#;
        assert_eq!(
            canonical(list),
            r#"{"type":"record","name":"Node","fields":[{"name":"value","type":"int"},{"name":"next","type":["null","Node"],"default":null}]}"#
        );
    }

    #[test]
    fn text_that_is_not_json_is_rejected() {
        assert!(rejection(r#"{"type":"record""#).starts_with("the schema is not valid JSON"));
    }

    #[test]
    fn unknown_type_is_rejected() {
        let message = rejection(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"integer"}]}"#);
        assert!(message.contains("integer"), "{message}");
    }

    #[test]
    fn default_that_does_not_match_its_type_is_rejected() {
        for (ty, default) in [
            (r#""int""#, r#""one""#),
            (r#""int""#, "1.5"),
            (r#""int""#, "3000000000"),
            (r#""string""#, "null"),
            (r#"["null","string"]"#, "1"),
            (r#"{"type":"array","items":"int"}"#, r#"["a"]"#),
            (
                r#"{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}"#,
                "{}",
            ),
        ] {
            let text = format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{ty},"default":{default}}}]}}"#
            );
            let message = rejection(&text);
            assert!(message.contains("default"), "{text}: {message}");
        }
    }

    #[test]
    fn enum_field_default_must_be_a_symbol_even_when_the_enum_has_a_default() {
        // apache-avro accepts this one (it resolves "Z" to the enum's default); Avro Java does not.
        let text = r#"{"type":"record","name":"R","fields":[{"name":"e","default":"Z",
            "type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}]}"#;
        assert!(apache_avro::Schema::parse_str(text).is_ok());
        assert_eq!(
            rejection(text),
            r#"the default value "Z" of the field 'e' of record 'R' does not match its type"#
        );
    }

    #[test]
    fn valid_defaults_are_accepted() {
        for (ty, default) in [
            (r#"["null","string"]"#, "null"),
            (r#"["string","null"]"#, "null"),
            (r#""long""#, "3000000000"),
            (r#""double""#, "1"),
            (r#""bytes""#, r#""\u00ff""#),
            (
                r#"{"type":"record","name":"In","fields":[{"name":"x","type":"int","default":0}]}"#,
                "{}",
            ),
            (r#"{"type":"map","values":"boolean"}"#, r#"{"k":true}"#),
        ] {
            let text = format!(
                r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{ty},"default":{default}}}]}}"#
            );
            canonical(&text);
        }
    }

    #[test]
    fn duplicate_field_names_are_rejected() {
        let message = rejection(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"long"}]}"#,
        );
        assert!(message.contains("Duplicate field name a"), "{message}");
    }

    #[test]
    fn bad_names_are_rejected() {
        for text in [
            r#"{"type":"record","name":"1R","fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a-b","type":"int"}]}"#,
            r#"{"type":"enum","name":"E","symbols":["A","B-"]}"#,
            r#"{"type":"record","name":"R","aliases":["bad name"],"fields":[]}"#,
        ] {
            rejection(text);
        }
    }

    #[test]
    fn a_type_defined_twice_is_rejected() {
        let text = r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"fixed","name":"F","size":2}},
            {"name":"b","type":{"type":"fixed","name":"F","size":4}}]}"#;
        // apache-avro keeps the second definition.
        assert!(apache_avro::Schema::parse_str(text).is_ok());
        assert_eq!(rejection(text), "the type 'F' is defined twice");
    }

    #[test]
    fn malformed_records_are_rejected() {
        for (text, expected) in [
            (r#"{"type":"record","name":"R"}"#, "fields"),
            (
                r#"{"type":"record","name":"R","fields":[1]}"#,
                "is not a JSON object",
            ),
            (
                r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"up"}]}"#,
                "order 'up'",
            ),
            (
                r#"{"type":{"type":"record","name":"R","fields":[]}}"#,
                "\"type\" must be a string",
            ),
        ] {
            let message = rejection(text);
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[test]
    fn bad_unions_are_rejected() {
        rejection(r#"["int","int"]"#);
        rejection(r#"["null",["int","string"]]"#);
    }
}
