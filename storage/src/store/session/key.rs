//! The session store key, byte for byte Kafka's `SessionKeySchema.toBinary`: the key bytes,
//! the session end, then the session start, both 8-byte big-endian. The same bytes are the
//! store's RocksDB keys and its changelog keys.
//!
//! ```text
//!   ┌──── key (any length) ────┬── end i64 BE ──┬── start i64 BE ──┐
//! ```
//!
//! End before start is Kafka's choice: a search for sessions overlapping
//! `[earliest end, latest start]` then runs over one byte range of each key, from
//! `key ++ earliest end ++ 0` to `key ++ max ++ latest start`.

use crate::store::{KeyError, KeyKind, Window, Windowed};

/// Bytes after the key: the session end and start.
pub const SESSION_KEY_SUFFIX: usize = 8 + 8;

/// Encodes a session store key: `key ++ end ++ start`.
pub fn encode_session_key(key: &[u8], window: Window) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(key.len() + SESSION_KEY_SUFFIX);
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(&window.end.to_be_bytes());
    bytes.extend_from_slice(&window.start.to_be_bytes());
    bytes
}

/// Decodes a session store key. Refuses bytes too short for the suffix, negative times and a
/// start after the end, none of which a Kafka Streams session store writes.
pub fn decode_session_key(bytes: &[u8]) -> Result<Windowed<&[u8]>, KeyError> {
    let Some(key_len) = bytes.len().checked_sub(SESSION_KEY_SUFFIX) else {
        return Err(KeyError::TooShort {
            kind: KeyKind::Session,
            len: bytes.len(),
            need: SESSION_KEY_SUFFIX,
        });
    };
    let (key, suffix) = bytes.split_at(key_len);
    let (end, start) = suffix.split_at(8);
    let (end, start) = (i64::from_be_bytes(fixed(end)), i64::from_be_bytes(fixed(start)));
    for (field, value) in [("session start", start), ("session end", end)] {
        if value < 0 {
            return Err(KeyError::NegativeTimestamp {
                kind: KeyKind::Session,
                field,
                value,
            });
        }
    }
    if start > end {
        return Err(KeyError::StartAfterEnd { start, end });
    }
    Ok(Windowed::new(key, Window::new(start, end)))
}

/// The largest suffix of a session that starts at or before `latest_start`: any end, then
/// `latest_start` (Kafka's `SessionKeySchema.upperRange`).
pub(crate) fn max_suffix(latest_start: i64) -> [u8; SESSION_KEY_SUFFIX] {
    let mut suffix = [0; SESSION_KEY_SUFFIX];
    suffix[..8].copy_from_slice(&i64::MAX.to_be_bytes());
    suffix[8..].copy_from_slice(&latest_start.to_be_bytes());
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
    fn layout_is_kafkas_session_key_schema() {
        // SessionKeySchema.toBinary(Bytes.wrap("k"), start 1, end 2): end first.
        let bytes = encode_session_key(b"k", Window::new(1, 2));
        assert_eq!(bytes, b"k\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0\x01");
        assert_eq!(
            decode_session_key(&bytes).unwrap(),
            Windowed::new(&b"k"[..], Window::new(1, 2))
        );
    }

    #[test]
    fn malformed_keys_are_errors_not_panics() {
        for len in 0..SESSION_KEY_SUFFIX {
            assert!(matches!(
                decode_session_key(&vec![0; len]),
                Err(KeyError::TooShort {
                    kind: KeyKind::Session,
                    need: SESSION_KEY_SUFFIX,
                    ..
                })
            ));
        }
        let start_after_end = encode_session_key(b"k", Window::new(5, 4));
        assert_eq!(
            decode_session_key(&start_after_end),
            Err(KeyError::StartAfterEnd { start: 5, end: 4 })
        );
        let negative = encode_session_key(b"k", Window::new(-3, 4));
        assert!(matches!(
            decode_session_key(&negative),
            Err(KeyError::NegativeTimestamp {
                field: "session start",
                value: -3,
                ..
            })
        ));
    }

    #[test]
    fn a_point_session_round_trips() {
        let bytes = encode_session_key(b"", Window::new(7, 7));
        assert_eq!(
            decode_session_key(&bytes).unwrap(),
            Windowed::new(&b""[..], Window::new(7, 7))
        );
    }
}
