//! Kafka's variable-length integers: zigzag-encoded, 7 bits a byte, least significant group
//! first (the protobuf encoding). Records use `varint` (≤ 5 bytes) for lengths and offset
//! deltas and `varlong` (≤ 10 bytes) for timestamp deltas.

use super::RecordError;

#[inline]
pub(crate) fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline]
pub(crate) fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Byte by byte: most varints of small records are one byte, and copying a scratch array
/// in was a call to `memmove` per varint (five per record).
#[inline]
fn put_unsigned(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Writes `v` as an unsigned varint at the front of `out`, which must have room; returns
/// the bytes written. For encoders that write a whole record into a slice at once.
#[inline]
pub(crate) fn put_unsigned_at(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// An unsigned varint of one or two bytes at `buf[*at]`, moving `at` past it; `None` for a
/// longer one or the end of `buf`. For a decoder's short path, which leaves anything else
/// to [`Reader`].
#[inline(always)]
pub(crate) fn short_unsigned(buf: &[u8], at: &mut usize) -> Option<u64> {
    let &first = buf.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(u64::from(first));
    }
    let &second = buf.get(*at + 1)?;
    if second >= 0x80 {
        return None;
    }
    *at += 2;
    Some(u64::from(first & 0x7f) | u64::from(second) << 7)
}

/// The signed value of a zigzag-encoded `raw`.
#[inline(always)]
pub(crate) fn unzigzag64(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

#[inline]
fn unsigned_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 still takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a zigzag varint.
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, v: i32) {
    put_unsigned(buf, u64::from(zigzag32(v)));
}

/// Appends `v` as a zigzag varlong.
#[inline]
pub fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    put_unsigned(buf, zigzag64(v));
}

/// Encoded size of `v` as a varint.
#[inline]
pub fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Encoded size of `v` as a varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

/// A cursor over a record's bytes that reports where it failed.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// A reader at byte `pos` of `buf` (at its end if `pos` lies beyond).
    pub fn starting_at(buf: &'a [u8], pos: usize) -> Self {
        Reader {
            buf,
            pos: pos.min(buf.len()),
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordError> {
        // Most lengths and deltas of small records fit one byte.
        if let Some(&byte) = self.buf.get(self.pos)
            && byte < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(byte));
        }
        self.unsigned_slow(max_bytes)
    }

    #[cold]
    fn unsigned_slow(&mut self, max_bytes: usize) -> Result<u64, RecordError> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(RecordError::Truncated { at: self.pos });
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::VarintTooLong { at: self.pos })
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<i32, RecordError> {
        let raw = self.unsigned(5)?;
        let raw = u32::try_from(raw).map_err(|_| RecordError::VarintTooLong { at: self.pos })?;
        // Within i32: a 32-bit zigzag decodes to a 32-bit value.
        Ok(unzigzag64(u64::from(raw)) as i32)
    }

    #[inline(always)]
    pub fn varlong(&mut self) -> Result<i64, RecordError> {
        Ok(unzigzag64(self.unsigned(10)?))
    }

    #[inline(always)]
    pub fn i8(&mut self) -> Result<i8, RecordError> {
        // `let else`, not `ok_or(error)?`: an eagerly built error was dropped (a call to its
        // drop glue) on every successful read.
        let Some(&byte) = self.buf.get(self.pos) else {
            return Err(RecordError::Truncated { at: self.pos });
        };
        self.pos += 1;
        Ok(byte as i8)
    }

    /// Reads `len` bytes; returns their range within the underlying buffer.
    #[inline(always)]
    pub fn take(&mut self, len: usize) -> Result<std::ops::Range<usize>, RecordError> {
        let Some(end) = self.pos.checked_add(len).filter(|&end| end <= self.buf.len()) else {
            return Err(RecordError::Truncated { at: self.pos });
        };
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    /// Reads a varint length followed by that many bytes; -1 means null.
    #[inline(always)]
    pub fn nullable_bytes(&mut self) -> Result<Option<std::ops::Range<usize>>, RecordError> {
        let at = self.pos;
        match self.varint()? {
            -1 => Ok(None),
            len if len < 0 => Err(RecordError::NegativeLength { at, len }),
            len => self.take(len as usize).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN, 300, -300] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            assert_eq!(Reader::new(&buf).varint().ok(), Some(v));
        }
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            assert_eq!(buf.len(), varlong_len(v), "{v}");
            assert_eq!(Reader::new(&buf).varlong().ok(), Some(v));
        }
    }

    #[test]
    fn known_encodings_match_kafka() {
        // From Kafka's ByteUtilsTest: zigzag(-1) = 1, zigzag(1) = 2, 300 → ac 02 unsigned.
        let mut buf = Vec::new();
        put_varint(&mut buf, -1);
        put_varint(&mut buf, 1);
        put_varint(&mut buf, 150);
        assert_eq!(buf, [0x01, 0x02, 0xac, 0x02]);
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        assert!(matches!(
            Reader::new(&[0xff; 6]).varint(),
            Err(RecordError::VarintTooLong { .. })
        ));
        assert!(matches!(
            Reader::new(&[0x80]).varint(),
            Err(RecordError::Truncated { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff; 11]).varlong(),
            Err(RecordError::VarintTooLong { .. })
        ));
    }
}
