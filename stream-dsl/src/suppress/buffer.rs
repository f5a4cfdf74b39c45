//! The suppression buffer: the latest update per key, in the order keys entered it, with the
//! time each becomes due; Kafka Streams' `InMemoryTimeOrderedKeyValueChangeBuffer`, and its
//! changelog value layout (version 3, header `v` = `[3]`), so a buffer written by either
//! restores into the other:
//!
//! ```text
//! record context: i64 timestamp | i64 offset | i32 topic length | topic | i32 partition |
//!                 i32 header count | (i32 key length | key | i32 value length (-1: null) | value)*
//! prior value:    i32 length (-1: null) | bytes
//! old value:      i32 length (-1: null, -2: the same bytes as the prior value) | bytes
//! new value:      i32 length (-1: null) | bytes
//! buffer time:    i64
//! ```

use std::collections::{BTreeSet, HashMap};

use bytes::{BufMut, Bytes, BytesMut};

use crate::record::Header;

/// Where and when an update was made: what the emitted record carries (Kafka's
/// `ProcessorRecordContext`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordContext {
    pub timestamp: i64,
    pub offset: i64,
    pub topic: String,
    pub partition: i32,
    pub headers: Vec<Header>,
}

/// One key's buffered update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Buffered {
    /// When it becomes due (its window's end, or its first update's time).
    pub time: i64,
    /// What downstream last saw of the key: the old value of the first update buffered since
    /// the key was last emitted.
    pub prior: Option<Bytes>,
    /// The latest update's old and new values.
    pub old: Option<Bytes>,
    pub new: Option<Bytes>,
    pub context: RecordContext,
}

/// Why a changelog value is not a buffer entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("suppression buffer changelog value: {reason} at byte {at}")]
pub(crate) struct DecodeError {
    pub at: usize,
    pub reason: &'static str,
}

impl Buffered {
    fn size(&self, key: &[u8]) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .context
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
            .sum();
        8 + key.len()
            + len(&self.prior)
            + len(&self.old)
            + len(&self.new)
            + 8
            + 8
            + 4
            + self.context.topic.len()
            + headers
    }

    /// The version-3 changelog value (see the module docs).
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        let c = &self.context;
        b.put_i64(c.timestamp);
        b.put_i64(c.offset);
        put_bytes(&mut b, Some(c.topic.as_bytes()));
        b.put_i32(c.partition);
        b.put_i32(c.headers.len() as i32);
        for h in &c.headers {
            put_bytes(&mut b, Some(h.key.as_bytes()));
            put_bytes(&mut b, h.value.as_deref());
        }
        put_bytes(&mut b, self.prior.as_deref());
        if self.old.is_some() && self.old == self.prior {
            b.put_i32(-2);
        } else {
            put_bytes(&mut b, self.old.as_deref());
        }
        put_bytes(&mut b, self.new.as_deref());
        b.put_i64(self.time);
        b.freeze()
    }

    /// Reads a version-3 changelog value.
    pub fn decode(data: &[u8]) -> Result<Buffered, DecodeError> {
        let mut r = Reader { data, at: 0 };
        let timestamp = r.i64()?;
        let offset = r.i64()?;
        let topic = r.bytes()?.ok_or(DecodeError {
            at: r.at,
            reason: "a null topic",
        })?;
        let topic = String::from_utf8(topic.to_vec()).map_err(|_| DecodeError {
            at: r.at,
            reason: "a topic that is not UTF-8",
        })?;
        let partition = r.i32()?;
        let count = r.i32()?;
        if count < 0 || count as usize > data.len() {
            return Err(DecodeError {
                at: r.at,
                reason: "an invalid header count",
            });
        }
        let mut headers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let key = r.bytes()?.ok_or(DecodeError {
                at: r.at,
                reason: "a null header key",
            })?;
            let key = String::from_utf8(key.to_vec()).map_err(|_| DecodeError {
                at: r.at,
                reason: "a header key that is not UTF-8",
            })?;
            let value = r.bytes()?.map(Bytes::copy_from_slice);
            headers.push(Header { key, value });
        }
        let prior = r.bytes()?.map(Bytes::copy_from_slice);
        let old = match r.peek_i32()? {
            -2 => {
                r.i32()?;
                prior.clone()
            }
            _ => r.bytes()?.map(Bytes::copy_from_slice),
        };
        let new = r.bytes()?.map(Bytes::copy_from_slice);
        let time = r.i64()?;
        Ok(Buffered {
            time,
            prior,
            old,
            new,
            context: RecordContext {
                timestamp,
                offset,
                topic,
                partition,
                headers,
            },
        })
    }
}

fn put_bytes(b: &mut BytesMut, v: Option<&[u8]>) {
    match v {
        None => b.put_i32(-1),
        Some(v) => {
            b.put_i32(v.len() as i32);
            b.put_slice(v);
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(DecodeError {
                at: self.at,
                reason: "truncated",
            })?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(b))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(i32::from_be_bytes(b))
    }

    fn peek_i32(&self) -> Result<i32, DecodeError> {
        let mut copy = Reader {
            data: self.data,
            at: self.at,
        };
        copy.i32()
    }

    /// A length-prefixed run; `None` for length -1.
    fn bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError {
                at: self.at,
                reason: "a negative length",
            }),
            n => self.take(n as usize).map(Some),
        }
    }
}

/// The buffer: entries by key, and keys by (due time, key bytes) for eviction oldest first.
/// Keys due at the same time leave in the order of their serialized bytes (unsigned,
/// lexicographic), not in the order they arrived: Kafka's buffer is a `TreeMap` of
/// `BufferKey(time, key)`, so windows closing together are emitted in that order.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    entries: HashMap<Bytes, Buffered>,
    by_time: BTreeSet<(i64, Bytes)>,
    bytes: usize,
}

impl Buffer {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// Buffers an update of `key`: a key already buffered keeps its due time and its prior
    /// value (Kafka's non-resetting semantics), and takes the update's old and new values and
    /// context; a new one is due at `time`, its prior value the update's old one.
    pub fn put(
        &mut self,
        key: Bytes,
        time: i64,
        old: Option<Bytes>,
        new: Option<Bytes>,
        context: RecordContext,
    ) {
        if let Some(entry) = self.entries.get_mut(&key) {
            self.bytes -= entry.size(&key);
            entry.old = old;
            entry.new = new;
            entry.context = context;
            self.bytes += entry.size(&key);
            return;
        }
        let entry = Buffered {
            time,
            prior: old.clone(),
            old,
            new,
            context,
        };
        self.insert(key, entry);
    }

    /// Puts a restored entry back as it was.
    pub fn restore(&mut self, key: Bytes, entry: Buffered) {
        self.remove(&key);
        self.insert(key, entry);
    }

    fn insert(&mut self, key: Bytes, entry: Buffered) {
        self.bytes += entry.size(&key);
        self.by_time.insert((entry.time, key.clone()));
        self.entries.insert(key, entry);
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Buffered> {
        let (key, entry) = self.entries.remove_entry(key)?;
        self.by_time.remove(&(entry.time, key.clone()));
        self.bytes -= entry.size(&key);
        Some(entry)
    }

    /// The due time of the oldest entry.
    pub fn min_time(&self) -> Option<i64> {
        self.by_time.first().map(|(time, _)| *time)
    }

    /// Removes and returns the oldest entry (of those due first, the smallest key).
    pub fn pop_oldest(&mut self) -> Option<(Bytes, Buffered)> {
        let (_, key) = self.by_time.pop_first()?;
        let entry = self.entries.remove(&key)?;
        self.bytes -= entry.size(&key);
        Some((key, entry))
    }

    pub fn get(&self, key: &[u8]) -> Option<&Buffered> {
        self.entries.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> RecordContext {
        RecordContext {
            timestamp: 1,
            offset: 0,
            topic: "in".into(),
            partition: 0,
            headers: vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(&[1])),
            }],
        }
    }

    #[test]
    fn values_are_laid_out_as_kafkas_version_3() {
        // Kafka's own bytes for a count's first update of window [0, 10) of key "A" (count 1
        // from a record at 1, offset 0 of topic "in", header h=[1]; old equals prior: -2).
        let expected = "0000000000000001 0000000000000000 00000002 696e 00000000 00000001 00000001 68 \
                        00000001 01 00000008 0000000000000000 fffffffe 00000008 0000000000000001 \
                        000000000000000a";
        let expected: Vec<u8> = expected
            .split_whitespace()
            .flat_map(|chunk| {
                (0..chunk.len())
                    .step_by(2)
                    .map(move |i| u8::from_str_radix(&chunk[i..i + 2], 16).unwrap())
            })
            .collect();
        let entry = Buffered {
            time: 10,
            prior: Some(Bytes::from(0i64.to_be_bytes().to_vec())),
            old: Some(Bytes::from(0i64.to_be_bytes().to_vec())),
            new: Some(Bytes::from(1i64.to_be_bytes().to_vec())),
            context: context(),
        };
        assert_eq!(&entry.encode()[..], &expected[..]);
        assert_eq!(Buffered::decode(&expected).unwrap(), entry);
    }

    #[test]
    fn truncated_or_garbled_values_are_errors() {
        let entry = Buffered {
            time: 10,
            prior: None,
            old: Some(Bytes::from_static(b"o")),
            new: None,
            context: context(),
        };
        let bytes = entry.encode();
        assert_eq!(Buffered::decode(&bytes).unwrap(), entry);
        for cut in 0..bytes.len() {
            assert!(Buffered::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = bytes.to_vec();
        bad[16..20].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(Buffered::decode(&bad).is_err());
    }

    #[test]
    fn a_key_keeps_its_place_and_prior_value_across_updates() {
        let mut b = Buffer::default();
        let v = |s: &'static str| Some(Bytes::from_static(s.as_bytes()));
        b.put(Bytes::from_static(b"a"), 10, v("a0"), v("a1"), context());
        b.put(Bytes::from_static(b"b"), 5, None, v("b1"), context());
        b.put(Bytes::from_static(b"a"), 99, v("a1"), v("a2"), context());
        assert_eq!(b.len(), 2);
        let a = b.get(b"a").unwrap();
        assert_eq!((a.time, a.prior.clone(), a.new.clone()), (10, v("a0"), v("a2")));
        assert_eq!(b.min_time(), Some(5));
        assert_eq!(b.pop_oldest().unwrap().0, Bytes::from_static(b"b"));
        assert_eq!(b.pop_oldest().unwrap().0, Bytes::from_static(b"a"));
        assert_eq!(b.size_bytes(), 0);
    }

    #[test]
    fn keys_due_together_leave_in_the_order_of_their_bytes_not_of_arrival() {
        let mut b = Buffer::default();
        let v = Some(Bytes::from_static(b"v"));
        for key in [&b"b"[..], b"\xff", b"", b"a"] {
            b.put(Bytes::copy_from_slice(key), 10, None, v.clone(), context());
        }
        b.put(Bytes::from_static(b"z"), 5, None, v.clone(), context());
        let order: Vec<Bytes> = std::iter::from_fn(|| b.pop_oldest().map(|(k, _)| k)).collect();
        assert_eq!(order, [&b"z"[..], b"", b"a", b"b", b"\xff"]);
    }
}
