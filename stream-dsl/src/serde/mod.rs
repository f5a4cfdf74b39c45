//! Serdes: how keys and values become bytes on a topic and in a store.
//!
//! A Kafka record's key and value may be null; here a serde decides what null means for its
//! type. The built-in serdes read null as an error for plain types and as `None` for
//! `Option<T>` — every built-in serde implements both `Serde<T>` and `Serde<Option<T>>`, so
//! `KStream<Option<String>, String>` (a topic of lines without keys) and
//! `KStream<String, Option<i64>>` (a table's changes as a stream, deletes as `None`) take the
//! same `Serdes::string()` / `Serdes::i64()` as their plain forms.

pub mod avro;
mod builtin;
pub(crate) mod change;
mod json;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

pub use avro::{AvroConfig, AvroSerde, GenericAvroSerde, SubjectNameStrategy};
pub use builtin::{BytesSerde, F64Serde, I32Serde, I64Serde, StringSerde, U64Serde, UnitSerde};
pub use json::JsonSerde;

/// Why bytes could not become a value.
#[derive(Debug, thiserror::Error)]
pub enum SerdeError {
    /// A null key or value where the type has no null.
    #[error("null where a {ty} was expected (use an Option type to accept nulls)")]
    Null { ty: &'static str },
    #[error("{ty} needs {expected} bytes, got {got}")]
    Size {
        ty: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("invalid UTF-8 in a string")]
    Utf8(#[from] std::str::Utf8Error),
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Avro in Confluent's wire format: a bad header, an unknown schema id, a corrupt datum,
    /// a schema the registry refused. Boxed: its variants carry registry errors and subjects,
    /// and every `Result` of the runtime would otherwise grow to their size.
    #[error(transparent)]
    Avro(Box<avro::AvroError>),
    #[error("{0}")]
    Other(String),
}

impl From<avro::AvroError> for SerdeError {
    fn from(e: avro::AvroError) -> SerdeError {
        SerdeError::Avro(Box::new(e))
    }
}

/// Turns values of `T` into record bytes and back. `Ok(None)` from [`Serde::serialize`] is a
/// null key or value (a tombstone, for a value). Serializing can fail (a value JSON cannot
/// express, a schema registry that refuses the schema): the error stops the stream thread, as
/// a `SerializationException` does in Kafka Streams, rather than writing a wrong record.
pub trait Serde<T>: Send + Sync + 'static {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError>;
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError>;

    /// [`Serde::serialize`], appending the bytes to `buf` instead of returning them; `Ok(false)`
    /// is a null (nothing appended). The runtime's sinks and aggregations call this with a
    /// buffer they reuse, so that a record costs no allocation of its own: an allocation and a
    /// free per key and per value were a tenth of a word count's time. The default goes
    /// through `serialize`; the built-in serdes write in place.
    fn serialize_into(&self, topic: &str, value: &T, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        match self.serialize(topic, value)? {
            Some(bytes) => {
                buf.extend_from_slice(&bytes);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether `data` deserializes, without keeping the value. The runtime calls this for
    /// keys it only needs as bytes (a count after a key change keys its store by the bytes
    /// the repartition topic holds), so that a bad key still reaches the deserialization
    /// handler. The default deserializes and drops the value; the built-in serdes check in
    /// place.
    fn check(&self, topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        self.deserialize(topic, data).map(drop)
    }
}

impl<T, S: Serde<T> + ?Sized> Serde<T> for Arc<S> {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError> {
        (**self).serialize(topic, value)
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        (**self).deserialize(topic, data)
    }
    fn serialize_into(&self, topic: &str, value: &T, buf: &mut BytesMut) -> Result<bool, SerdeError> {
        (**self).serialize_into(topic, value, buf)
    }
    fn check(&self, topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        (**self).check(topic, data)
    }
}

/// A shared, type-erased serde, as the topology keeps them.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

/// Constructors for the built-in serdes, named as Kafka's `Serdes`.
#[derive(Debug, Clone, Copy)]
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings.
    pub fn string() -> StringSerde {
        StringSerde
    }
    /// Raw bytes, as `bytes::Bytes`.
    pub fn bytes() -> BytesSerde {
        BytesSerde
    }
    /// Big-endian 4-byte integers, as Kafka's IntegerSerializer.
    pub fn i32() -> I32Serde {
        I32Serde
    }
    /// Big-endian 8-byte integers, as Kafka's LongSerializer.
    pub fn i64() -> I64Serde {
        I64Serde
    }
    /// Big-endian 8-byte unsigned integers.
    pub fn u64() -> U64Serde {
        U64Serde
    }
    /// IEEE-754 doubles, big-endian, as Kafka's DoubleSerializer.
    pub fn f64() -> F64Serde {
        F64Serde
    }
    /// `()`: always null on the wire; any bytes read back as `()` (a topic without keys).
    pub fn unit() -> UnitSerde {
        UnitSerde
    }
    /// JSON through `serde`.
    pub fn json<T>() -> JsonSerde<T> {
        JsonSerde::new()
    }
    /// Avro in Confluent's wire format through `serde`, with the Avro JSON `schema`.
    pub fn avro<T>(config: AvroConfig, schema: &str) -> Result<AvroSerde<T>, SerdeError> {
        AvroSerde::new(config, schema)
    }
    /// Avro in Confluent's wire format as generic values, read as their writer wrote them.
    pub fn avro_generic(config: AvroConfig) -> GenericAvroSerde {
        GenericAvroSerde::new(config)
    }
}
