//! Why an Avro serde could not write or read a record. Each variant names the schema id or
//! subject involved, so a failed record in a log points at the registry entry to look at.
//! Registry errors are boxed: they can carry a broker error, and the serdes' `Result`s (and
//! the runtime's, through `SerdeError`) stay small.

use registry::RegistryError;

/// An error of the Avro serdes; it becomes [`SerdeError::Avro`](crate::serde::SerdeError).
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// Fewer bytes than the 5-byte header: not Confluent Avro data.
    #[error("Confluent Avro data needs at least 5 bytes (magic byte and schema id), got {len}")]
    TooShort { len: usize },
    /// The first byte is not `0`: not Confluent Avro data (JSON, a string, another format).
    #[error("unknown magic byte {byte:#04x}: not Confluent Avro data (expected 0x00)")]
    UnknownMagicByte { byte: u8 },
    /// The registry has no schema with the id in the header (40403).
    #[error("schema id {id} in the record header is not known to the schema registry")]
    UnknownSchemaId { id: u32 },
    /// Fetching the writer schema of id `id` failed for another reason (registry unreachable).
    #[error("cannot fetch writer schema id {id} from the schema registry: {source}")]
    FetchSchema {
        id: u32,
        #[source]
        source: Box<RegistryError>,
    },
    /// The registry refused to register the schema (incompatible, invalid, unreachable).
    #[error("cannot register the schema under subject {subject}: {source}")]
    Register {
        subject: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// `auto.register.schemas` is off and the schema is not registered under the subject.
    #[error("schema not registered under subject {subject} (auto-registration is off)")]
    NotRegistered { subject: String },
    /// Looking the schema up under `subject` failed for another reason.
    #[error("cannot look up the schema under subject {subject}: {source}")]
    Lookup {
        subject: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// `use.latest.version` is on and the subject's latest version could not be fetched.
    #[error("cannot fetch the latest schema of subject {subject}: {source}")]
    Latest {
        subject: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// The schema given to the serde is not valid Avro.
    #[error("invalid Avro schema: {source}")]
    InvalidSchema {
        #[source]
        source: apache_avro::Error,
    },
    /// The registry returned a schema (for id `id`) that does not parse.
    #[error("schema id {id} from the registry is not a valid Avro schema: {source}")]
    InvalidRegisteredSchema {
        id: u32,
        #[source]
        source: apache_avro::Error,
    },
    /// RecordNameStrategy and TopicRecordNameStrategy name subjects after a named type.
    #[error("{strategy} needs a named schema (record, enum or fixed), got a {kind:?} schema")]
    UnnamedSchema {
        strategy: &'static str,
        kind: apache_avro::schema::SchemaKind,
    },
    /// A generic serde built without a schema can read but has nothing to write with.
    #[error("this generic Avro serde has no writer schema; build it with one to serialize")]
    NoWriterSchema,
    /// The value does not fit the writer schema (schema id `id`).
    #[error("value does not match writer schema id {id}: {source}")]
    Encode {
        id: u32,
        #[source]
        source: apache_avro::Error,
    },
    /// The datum is not valid Avro binary for its writer schema (truncated, corrupt, or the
    /// header names the wrong schema).
    #[error("corrupt Avro datum for writer schema id {id}: {source}")]
    Decode {
        id: u32,
        #[source]
        source: apache_avro::Error,
    },
    /// Bytes left over after the datum: the header's schema id does not describe the data.
    #[error("{extra} bytes left after the Avro datum of writer schema id {id}")]
    TrailingBytes { id: u32, extra: usize },
    /// The writer schema cannot be resolved into the reader schema (incompatible change).
    #[error("data written with schema id {id} cannot be read with the reader schema: {source}")]
    Resolve {
        id: u32,
        #[source]
        source: apache_avro::Error,
    },
    /// The decoded Avro value does not fit the Rust type.
    #[error("Avro value of writer schema id {id} does not fit {ty}: {source}")]
    IntoType {
        id: u32,
        ty: &'static str,
        #[source]
        source: apache_avro::Error,
    },
}
