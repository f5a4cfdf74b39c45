//! A structural check of a request body, run before kafka-protocol decodes it.
//!
//! kafka-protocol 0.18 hands an array's element count, read off the wire, straight to
//! `Vec::with_capacity`. A 20-byte frame claiming two billion elements then asks for hundreds of
//! gigabytes, and an allocation failure aborts the process — no panic to catch. So every body is
//! first walked here against its schema: each array count, string and bytes length must fit in
//! the bytes that remain, and every element must actually be there. A body that passes decodes
//! into collections no larger than the elements it really carries.
//!
//! The schemas are generated at build time from Kafka's JSON message specs of the requests this
//! server accepts (`stream-core/protocol/`, see `schemas`). Tagged fields, known or not, are
//! skipped by their size. `tests` encodes requests with kafka-protocol at every served version
//! and checks the walk consumes exactly the encoded body.

use kafka_protocol::messages::ApiKey;

mod schemas;
#[cfg(test)]
mod tests;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("body ends at byte {at}: {need} more bytes needed")]
    Truncated { at: usize, need: usize },
    #[error("length or count {value} at byte {at} is invalid or exceeds the {remaining} bytes left")]
    BadLength { at: usize, value: i64, remaining: usize },
    #[error("varint at byte {at} is longer than 5 bytes")]
    BadVarint { at: usize },
    /// The api has no spec in `stream-core/protocol/`, or the version is outside its spec's
    /// `validVersions`.
    #[error("no schema for {api:?} v{version}")]
    NoSchema { api: ApiKey, version: i16 },
}

/// How a field is laid out. Strings, bytes and arrays use the compact (varint) encodings in the
/// message's flexible versions and the classic (int16/int32 length) ones before.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Ints, booleans, UUIDs: a fixed number of bytes.
    Fixed(usize),
    Str,
    Bytes,
    /// An array of structs.
    Array(&'static [Field]),
    /// An array of fixed-size items.
    ArrayOf(usize),
    ArrayOfStr,
}

/// A field of the positional part of a body and the versions it is there in; tagged fields
/// never are (they are skipped by size).
#[derive(Debug)]
struct Field {
    kind: Kind,
    since: i16,
    until: i16,
}

const fn f(kind: Kind, since: i16, until: i16) -> Field {
    Field { kind, since, until }
}

use Kind::{Array, ArrayOf, ArrayOfStr, Bytes, Fixed, Str};

/// Walks `body` (the bytes after the request header) as request `api` at `version`. Bytes
/// after the request are ignored, as kafka-protocol (and Kafka) ignore them.
pub fn check(api: ApiKey, version: i16, body: &[u8]) -> Result<(), Malformed> {
    consumed(api, version, body).map(|_| ())
}

/// How many bytes of `body` the request takes.
fn consumed(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, Malformed> {
    let schema = schemas::schema(api)
        .filter(|schema| schema.versions.contains(&version))
        .ok_or(Malformed::NoSchema { api, version })?;
    let mut walker = Walker {
        buf: body,
        pos: 0,
        version,
        compact: version >= schema.first_flexible,
    };
    walker.walk(schema.fields)?;
    Ok(walker.pos)
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    compact: bool,
}

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        if n > self.remaining() {
            return Err(Malformed::Truncated {
                at: self.pos,
                need: n - self.remaining(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn int16(&mut self) -> Result<i16, Malformed> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn int32(&mut self) -> Result<i32, Malformed> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Result<u32, Malformed> {
        let at = self.pos;
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.take(1)?[0];
            value |= u32::from(b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(Malformed::BadVarint { at })
    }

    /// A length of `value` bytes or items, each at least one byte, must fit in what is left.
    fn fits(&self, at: usize, value: i64) -> Result<usize, Malformed> {
        usize::try_from(value)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or(Malformed::BadLength {
                at,
                value,
                remaining: self.remaining(),
            })
    }

    /// A string's, bytes' or array's length: `None` for null.
    fn length(&mut self, classic_width: usize) -> Result<Option<usize>, Malformed> {
        let at = self.pos;
        let value = if self.compact {
            i64::from(self.uvarint()?) - 1
        } else if classic_width == 2 {
            i64::from(self.int16()?)
        } else {
            i64::from(self.int32()?)
        };
        if value == -1 {
            return Ok(None);
        }
        self.fits(at, value).map(Some)
    }

    fn walk(&mut self, fields: &[Field]) -> Result<(), Malformed> {
        for field in fields {
            if (field.since..=field.until).contains(&self.version) {
                self.field(field.kind)?;
            }
        }
        if self.compact {
            self.skip_tagged_fields()?;
        }
        Ok(())
    }

    fn field(&mut self, kind: Kind) -> Result<(), Malformed> {
        match kind {
            Fixed(n) => {
                self.take(n)?;
            }
            Str => {
                let n = self.length(2)?.unwrap_or(0);
                self.take(n)?;
            }
            Bytes => {
                let n = self.length(4)?.unwrap_or(0);
                self.take(n)?;
            }
            Array(element) => {
                for _ in 0..self.length(4)?.unwrap_or(0) {
                    self.walk(element)?;
                }
            }
            ArrayOf(width) => {
                let n = self.length(4)?.unwrap_or(0);
                self.take(n.saturating_mul(width))?;
            }
            ArrayOfStr => {
                for _ in 0..self.length(4)?.unwrap_or(0) {
                    self.field(Str)?;
                }
            }
        }
        Ok(())
    }

    fn skip_tagged_fields(&mut self) -> Result<(), Malformed> {
        let at = self.pos;
        let count = self.uvarint()?;
        // Each tagged field takes at least two bytes (tag and size).
        self.fits(at, i64::from(count))?;
        for _ in 0..count {
            self.uvarint()?;
            let at = self.pos;
            let size = self.uvarint()?;
            let size = self.fits(at, i64::from(size))?;
            self.take(size)?;
        }
        Ok(())
    }
}
