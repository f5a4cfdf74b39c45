//! Serialized keys and values cut from one reused buffer instead of one allocation each.

use bytes::{Bytes, BytesMut};

use super::{Serde, SerdeError};

/// Room taken at a time. A sink's records are copied into the producer's batch and dropped
/// within one poll, so the chunk is soon unshared again and `reserve` reclaims it in place:
/// in the steady state serializing allocates nothing.
const CHUNK: usize = 64 * 1024;

/// Below this much spare room, a new chunk is taken before serializing (a value that needs
/// more still fits: the buffer grows).
const MIN_SPARE: usize = 1024;

/// Serializes into one growing buffer and hands each result out as a [`Bytes`] that shares
/// it. Replaces an allocation and a free per key and per value with a reference count, for
/// bytes that live briefly (records on their way to the producer). Not for long-lived bytes
/// such as cache entries: one of them would pin a whole chunk.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    buf: BytesMut,
}

impl Arena {
    pub fn serialize<T: 'static>(
        &mut self,
        serde: &dyn Serde<T>,
        topic: &str,
        value: &T,
    ) -> Result<Option<Bytes>, SerdeError> {
        if self.buf.capacity() < MIN_SPARE {
            self.buf.reserve(CHUNK);
        }
        if !serde.serialize_into(topic, value, &mut self.buf)? {
            self.buf.clear();
            return Ok(None);
        }
        Ok(Some(self.buf.split().freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::{I64Serde, StringSerde};

    #[test]
    fn each_value_gets_its_own_bytes_and_nulls_none() {
        let mut arena = Arena::default();
        let a = arena.serialize(&StringSerde, "t", &"alpha".to_string()).unwrap();
        let b = arena.serialize(&I64Serde, "t", &258i64).unwrap();
        let none = arena.serialize::<Option<i64>>(&I64Serde, "t", &None).unwrap();
        let big = "x".repeat(3 * CHUNK);
        let c = arena.serialize(&StringSerde, "t", &big).unwrap();
        assert_eq!(a.as_deref(), Some(&b"alpha"[..]));
        assert_eq!(b.as_deref(), Some(&[0, 0, 0, 0, 0, 0, 1, 2][..]));
        assert_eq!(none, None);
        assert_eq!(c.as_deref(), Some(big.as_bytes()));
    }

    #[test]
    fn a_failed_value_leaves_nothing_for_the_next() {
        let mut arena = Arena::default();
        let serde = crate::serde::JsonSerde::<std::collections::BTreeMap<Vec<u8>, u8>>::new();
        let bad: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1u8], 2u8)].into_iter().collect();
        assert!(arena.serialize(&serde, "t", &bad).is_err());
        let next = arena.serialize(&StringSerde, "t", &"next".to_string()).unwrap();
        assert_eq!(next.as_deref(), Some(&b"next"[..]));
    }
}
