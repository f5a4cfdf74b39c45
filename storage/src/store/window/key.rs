//! The window store key, byte for byte Kafka's `WindowKeySchema.toStoreKeyBinary`: the key
//! bytes, the window start as an 8-byte big-endian integer, a 4-byte big-endian sequence
//! number. The same bytes are the store's RocksDB keys and its changelog keys, so a Kafka
//! Streams window-store changelog restores into our stores and ours into Kafka's.
//!
//! ```text
//!   ┌──── key (any length) ────┬── window start i64 BE ──┬─ seqnum u32 BE ─┐
//! ```
//!
//! The sequence number is 0 unless the store retains duplicates, where every put takes the
//! next one (`RocksDBWindowStore.maybeUpdateSeqnumForDups`: `(seqnum + 1) & 0x7FFFFFFF`), so
//! that puts of one key into one window become distinct entries.

use crate::store::{KeyError, KeyKind};

/// Bytes after the key: the window start and the sequence number.
pub const WINDOW_KEY_SUFFIX: usize = 8 + 4;

/// A decoded window store key, borrowing the key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowKey<'a> {
    pub key: &'a [u8],
    /// Window start, in milliseconds.
    pub start: i64,
    pub seqnum: u32,
}

/// Encodes a window store key: `key ++ start ++ seqnum`.
pub fn encode_window_key(key: &[u8], start: i64, seqnum: u32) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(key.len() + WINDOW_KEY_SUFFIX);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&start.to_be_bytes());
    bytes.extend_from_slice(&seqnum.to_be_bytes());
    bytes
}

/// Decodes a window store key. Refuses bytes too short to hold the suffix and a negative
/// window start, which no Kafka Streams store writes. Any sequence number is accepted.
pub fn decode_window_key(bytes: &[u8]) -> Result<WindowKey<'_>, KeyError> {
    let Some(key_len) = bytes.len().checked_sub(WINDOW_KEY_SUFFIX) else {
        return Err(KeyError::TooShort {
            kind: KeyKind::Window,
            len: bytes.len(),
            need: WINDOW_KEY_SUFFIX,
        });
    };
    let (key, suffix) = bytes.split_at(key_len);
    let (start, seqnum) = suffix.split_at(8);
    let start = i64::from_be_bytes(fixed(start));
    if start < 0 {
        return Err(KeyError::NegativeTimestamp {
            kind: KeyKind::Window,
            field: "window start",
            value: start,
        });
    }
    Ok(WindowKey {
        key,
        start,
        seqnum: u32::from_be_bytes(fixed(seqnum)),
    })
}

/// The largest suffix a store key of a window starting at or before `time_to` can have.
pub(crate) fn max_suffix(time_to: i64) -> [u8; WINDOW_KEY_SUFFIX] {
    let mut suffix = [0xff; WINDOW_KEY_SUFFIX];
    suffix[..8].copy_from_slice(&time_to.to_be_bytes());
    suffix
}

/// Copies a slice whose length the caller has fixed by splitting.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_kafkas_window_key_schema() {
        // WindowKeySchema.toStoreKeyBinary(Bytes.wrap("ab"), 0x0102030405060708, 9).
        assert_eq!(
            encode_window_key(b"ab", 0x0102_0304_0506_0708, 9),
            b"ab\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x09"
        );
        let decoded = decode_window_key(b"ab\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x09").unwrap();
        assert_eq!(
            decoded,
            WindowKey {
                key: b"ab",
                start: 0x0102_0304_0506_0708,
                seqnum: 9
            }
        );
    }

    #[test]
    fn empty_key_and_largest_seqnum_round_trip() {
        let bytes = encode_window_key(b"", 0, u32::MAX);
        assert_eq!(bytes.len(), WINDOW_KEY_SUFFIX);
        let decoded = decode_window_key(&bytes).unwrap();
        assert_eq!(
            (decoded.key, decoded.start, decoded.seqnum),
            (&b""[..], 0, u32::MAX)
        );
    }

    #[test]
    fn short_bytes_are_an_error_not_a_panic() {
        for len in 0..WINDOW_KEY_SUFFIX {
            assert_eq!(
                decode_window_key(&vec![0; len]),
                Err(KeyError::TooShort {
                    kind: KeyKind::Window,
                    len,
                    need: WINDOW_KEY_SUFFIX
                })
            );
        }
    }

    #[test]
    fn negative_start_is_refused() {
        let bytes = encode_window_key(b"k", -1, 0);
        assert!(matches!(
            decode_window_key(&bytes),
            Err(KeyError::NegativeTimestamp { value: -1, .. })
        ));
    }
}
