//! Encoding and decoding one datum against the schemas a [`SchemaCache`](super::cache) found:
//! the code shared by the specific and the generic serde.

use std::sync::atomic::Ordering;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AvroError;
use super::cache::{ReadPlan, WriteTarget};
use super::wire;

/// Header and datum of a `serde` value, encoded straight from the value against the schema
/// (no intermediate `Value`); fields the value lacks take the schema's defaults.
pub(crate) fn write_ser<T: Serialize>(target: &WriteTarget, value: &T) -> Result<Bytes, AvroError> {
    let encode = |source| AvroError::Encode {
        id: target.id,
        source,
    };
    let writer = GenericDatumWriter::builder(target.schema.schema())
        .build()
        .map_err(encode)?;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&wire::header(target.id));
    writer.write_ser(&mut out, value).map_err(encode)?;
    Ok(Bytes::from(out))
}

/// Header and datum of a generic value, validated against the schema first: an invalid value
/// would otherwise be written as bytes no reader can decode.
pub(crate) fn write_value(target: &WriteTarget, value: &Value) -> Result<Bytes, AvroError> {
    let encode = |source| AvroError::Encode {
        id: target.id,
        source,
    };
    let writer = GenericDatumWriter::builder(target.schema.schema())
        .build()
        .map_err(encode)?;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&wire::header(target.id));
    writer.write_value_ref(&mut out, value).map_err(encode)?;
    Ok(Bytes::from(out))
}

/// Decodes a datum into a generic value: as written, or resolved into `reader` when the plan
/// says the schemas differ (Avro's resolution rules: defaults for fields the writer lacked,
/// writer fields the reader lacks skipped, promotions such as int → long).
pub(crate) fn read_value(plan: &ReadPlan, reader: Option<&Schema>, datum: &[u8]) -> Result<Value, AvroError> {
    let reader = reader.filter(|_| plan.resolve);
    let decoder = GenericDatumReader::builder(plan.writer.schema())
        .maybe_reader_schema(reader)
        .build()
        .map_err(|source| AvroError::Resolve { id: plan.id, source })?;
    let mut rest = datum;
    let value = decoder.read_value(&mut rest).map_err(|source| match reader {
        // Decoding and resolving happen in one call; a datum that decodes with the writer
        // schema alone failed in the resolution step.
        Some(_) if decodes(plan, datum) => AvroError::Resolve { id: plan.id, source },
        _ => AvroError::Decode { id: plan.id, source },
    })?;
    consumed(plan.id, rest)?;
    Ok(value)
}

/// Decodes a datum into `T`. apache-avro can build `T` straight from the bytes, but only when
/// `T` mirrors the schema closely (a struct must be named as its record); otherwise, and when
/// the data must be resolved into the reader schema, it goes through a generic value. The
/// plan remembers when the direct way failed but the generic one worked, so a type that does
/// not fit the direct way pays for the attempt once, not per record.
pub(crate) fn read_ser<T: DeserializeOwned>(
    plan: &ReadPlan,
    reader: &Schema,
    datum: &[u8],
) -> Result<T, AvroError> {
    if !plan.resolve && plan.direct.load(Ordering::Relaxed) {
        if let Ok(value) = read_direct(plan, datum) {
            return Ok(value);
        }
    }
    // Also the path that names an error precisely (corrupt datum or a type that does not fit).
    let value = read_value(plan, Some(reader), datum)?;
    let typed = apache_avro::from_value(&value).map_err(|source| AvroError::IntoType {
        id: plan.id,
        ty: std::any::type_name::<T>(),
        source,
    })?;
    plan.direct.store(false, Ordering::Relaxed);
    Ok(typed)
}

fn read_direct<T: DeserializeOwned>(plan: &ReadPlan, datum: &[u8]) -> Result<T, AvroError> {
    let decode = |source| AvroError::Decode { id: plan.id, source };
    let decoder = GenericDatumReader::builder(plan.writer.schema())
        .build()
        .map_err(decode)?;
    let mut rest = datum;
    let value = decoder.read_deser::<T>(&mut rest).map_err(decode)?;
    consumed(plan.id, rest)?;
    Ok(value)
}

/// Whether `datum` decodes with the plan's writer schema alone (only called on the error path).
fn decodes(plan: &ReadPlan, datum: &[u8]) -> bool {
    let Ok(decoder) = GenericDatumReader::builder(plan.writer.schema()).build() else {
        return false;
    };
    decoder.read_value(&mut &datum[..]).is_ok()
}

/// Leftover bytes mean the header's schema id does not describe the data: Confluent's Java
/// deserializer ignores them, but a datum that decodes with the wrong schema yields wrong
/// values silently, so we refuse it.
fn consumed(id: u32, rest: &[u8]) -> Result<(), AvroError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(AvroError::TrailingBytes {
            id,
            extra: rest.len(),
        })
    }
}
