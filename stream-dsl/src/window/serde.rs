//! Windowed keys on topics, in Kafka Streams' byte formats, so that a consumer using Kafka's
//! `WindowedSerdes` reads what Runnel writes and the other way round:
//!
//! - time windows (`TimeWindowedSerializer`): the inner key's bytes, then the window start as
//!   8 big-endian bytes. The end is not written: a reader rebuilds it from the window size it
//!   is given (`start + size`, saturating at `i64::MAX`, as Kafka truncates it).
//! - session windows (`SessionWindowedSerializer`): the inner key's bytes, then the session
//!   end, then its start, 8 big-endian bytes each.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use storage::store::{Window, Windowed};

use crate::serde::{Serde, SerdeError, SharedSerde};

/// Constructors of the windowed-key serdes, named as Kafka's `WindowedSerdes`.
#[derive(Debug, Clone, Copy)]
pub struct WindowedSerdes;

impl WindowedSerdes {
    /// Keys of time windows (tumbling, hopping, sliding) of `window_size_ms` (for sliding
    /// windows: their time difference, as Kafka's `SlidingWindowedKStreamImpl` uses).
    pub fn time_windowed<K>(inner: impl Serde<K>, window_size_ms: i64) -> TimeWindowedSerde<K> {
        TimeWindowedSerde {
            inner: Arc::new(inner),
            size_ms: window_size_ms,
        }
    }

    /// Keys of session windows.
    pub fn session_windowed<K>(inner: impl Serde<K>) -> SessionWindowedSerde<K> {
        SessionWindowedSerde {
            inner: Arc::new(inner),
        }
    }
}

/// See [`WindowedSerdes::time_windowed`].
pub struct TimeWindowedSerde<K> {
    pub(crate) inner: SharedSerde<K>,
    size_ms: i64,
}

impl<K> TimeWindowedSerde<K> {
    pub(crate) fn new(inner: SharedSerde<K>, size_ms: i64) -> TimeWindowedSerde<K> {
        TimeWindowedSerde { inner, size_ms }
    }
}

impl<K> std::fmt::Debug for TimeWindowedSerde<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedSerde")
            .field("size_ms", &self.size_ms)
            .finish()
    }
}

/// The start (and with `with_end`, the end before it) at the tail of `data`; the inner key's
/// bytes before them.
fn split_tail<'a>(
    data: &'a [u8],
    longs: usize,
    ty: &'static str,
) -> Result<(&'a [u8], [i64; 2]), SerdeError> {
    let tail = 8 * longs;
    if data.len() < tail {
        return Err(SerdeError::Size {
            ty,
            expected: tail,
            got: data.len(),
        });
    }
    let (key, rest) = data.split_at(data.len() - tail);
    let mut out = [0i64; 2];
    for (i, chunk) in rest.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        out[i] = i64::from_be_bytes(b);
    }
    Ok((key, out))
}

impl<K: 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize(&self, topic: &str, value: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let mut buf = BytesMut::new();
        Ok(self.serialize_into(topic, value, &mut buf)?.then(|| buf.freeze()))
    }

    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        buf: &mut BytesMut,
    ) -> Result<bool, SerdeError> {
        // A null inner key has no windowed form; Kafka's serializer would write just the
        // start, which no reader can tell from a key; refuse it.
        if !self.inner.serialize_into(topic, &value.key, buf)? {
            return Err(SerdeError::Null { ty: "windowed key" });
        }
        buf.put_i64(value.window.start);
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let data = data.ok_or(SerdeError::Null { ty: "windowed key" })?;
        let (key, [start, _]) = split_tail(data, 1, "time-windowed key")?;
        let end = start.checked_add(self.size_ms).unwrap_or_else(|| {
            tracing::warn!(
                start,
                size = self.size_ms,
                "window end time was truncated to i64::MAX"
            );
            i64::MAX
        });
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(start, end),
        ))
    }
}

/// See [`WindowedSerdes::session_windowed`].
pub struct SessionWindowedSerde<K> {
    pub(crate) inner: SharedSerde<K>,
}

impl<K> SessionWindowedSerde<K> {
    pub(crate) fn new(inner: SharedSerde<K>) -> SessionWindowedSerde<K> {
        SessionWindowedSerde { inner }
    }
}

impl<K> std::fmt::Debug for SessionWindowedSerde<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionWindowedSerde")
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, topic: &str, value: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let mut buf = BytesMut::new();
        Ok(self.serialize_into(topic, value, &mut buf)?.then(|| buf.freeze()))
    }

    fn serialize_into(
        &self,
        topic: &str,
        value: &Windowed<K>,
        buf: &mut BytesMut,
    ) -> Result<bool, SerdeError> {
        if !self.inner.serialize_into(topic, &value.key, buf)? {
            return Err(SerdeError::Null {
                ty: "session-windowed key",
            });
        }
        buf.put_i64(value.window.end);
        buf.put_i64(value.window.start);
        Ok(true)
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let data = data.ok_or(SerdeError::Null {
            ty: "session-windowed key",
        })?;
        let (key, [end, start]) = split_tail(data, 2, "session-windowed key")?;
        Ok(Windowed::new(
            self.inner.deserialize(topic, Some(key))?,
            Window::new(start, end),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;

    #[test]
    fn time_windowed_keys_are_the_key_then_the_start_as_kafka_writes_them() {
        let serde = WindowedSerdes::time_windowed::<String>(Serdes::string(), 10);
        let key = Windowed::new("A".to_string(), Window::new(0, 10));
        let bytes = serde.serialize("t", &key).unwrap().unwrap();
        assert_eq!(&bytes[..], [0x41, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(serde.deserialize("t", Some(&bytes)).unwrap(), key);
        // The end comes from the size the reader is given.
        let wide = WindowedSerdes::time_windowed::<String>(Serdes::string(), 60_000);
        assert_eq!(wide.deserialize("t", Some(&bytes)).unwrap().window.end, 60_000);
        let near_max = [&b"k"[..], &(i64::MAX - 1).to_be_bytes()].concat();
        assert_eq!(
            serde.deserialize("t", Some(&near_max)).unwrap().window.end,
            i64::MAX
        );
        assert!(matches!(
            serde.deserialize("t", Some(&[1, 2])),
            Err(SerdeError::Size { .. })
        ));
    }

    #[test]
    fn session_windowed_keys_are_the_key_then_end_then_start() {
        let serde = WindowedSerdes::session_windowed::<String>(Serdes::string());
        let key = Windowed::new("A".to_string(), Window::new(10, 12));
        let bytes = serde.serialize("t", &key).unwrap().unwrap();
        let mut expected = vec![0x41];
        expected.extend_from_slice(&12i64.to_be_bytes());
        expected.extend_from_slice(&10i64.to_be_bytes());
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(serde.deserialize("t", Some(&bytes)).unwrap(), key);
        assert!(serde.deserialize("t", Some(&[0; 15])).is_err());
    }
}
