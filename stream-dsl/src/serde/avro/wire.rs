//! Confluent's wire format: one magic byte `0`, the writer schema's global id as a 4-byte
//! big-endian integer, then the Avro binary datum (no container file header, no sync marker).
//!
//! ```text
//!  ┌──────┬───────────────────┬──────────────────────────┐
//!  │ 0x00 │ schema id (u32 BE) │ Avro binary datum ...    │
//!  └──────┴───────────────────┴──────────────────────────┘
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::AvroError;

/// The only magic byte Confluent's serializers write; anything else is not this format.
pub const MAGIC_BYTE: u8 = 0;

/// Magic byte plus schema id.
pub const HEADER_LEN: usize = 5;

/// The header for schema `id`. Serializers write it first and encode the datum after it in
/// the same buffer, so a record costs one allocation and no copy.
pub fn header(id: u32) -> [u8; HEADER_LEN] {
    let id = id.to_be_bytes();
    [MAGIC_BYTE, id[0], id[1], id[2], id[3]]
}

/// Frames `datum` (already Avro-encoded) with the header for schema `id`.
pub fn frame(id: u32, datum: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER_LEN + datum.len());
    out.put_slice(&header(id));
    out.put_slice(datum);
    out.freeze()
}

/// Splits framed bytes into the writer schema's id and the datum. The datum may be empty (a
/// record of no fields, a `null` schema).
pub fn split(data: &[u8]) -> Result<(u32, &[u8]), AvroError> {
    if data.len() < HEADER_LEN {
        return Err(AvroError::TooShort { len: data.len() });
    }
    let (header, datum) = data.split_at(HEADER_LEN);
    if header[0] != MAGIC_BYTE {
        return Err(AvroError::UnknownMagicByte { byte: header[0] });
    }
    let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    Ok((id, datum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_magic_zero_then_big_endian_id() {
        let framed = frame(0x0102_0304, &[9, 8]);
        assert_eq!(&framed[..], &[0, 1, 2, 3, 4, 9, 8]);
        assert_eq!(split(&framed).unwrap(), (0x0102_0304, &[9u8, 8][..]));
    }

    #[test]
    fn a_header_alone_is_an_empty_datum() {
        assert_eq!(split(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
    }

    #[test]
    fn fewer_than_five_bytes_is_too_short() {
        for len in 0..HEADER_LEN {
            let data = vec![0u8; len];
            assert!(
                matches!(split(&data), Err(AvroError::TooShort { len: l }) if l == len),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn a_non_zero_first_byte_is_an_unknown_magic_byte() {
        // `{"a":1}` as JSON: a classic mix-up of a JSON topic with an Avro serde.
        let err = split(br#"{"a":1}"#).unwrap_err();
        assert!(matches!(err, AvroError::UnknownMagicByte { byte: b'{' }), "{err}");
    }
}
