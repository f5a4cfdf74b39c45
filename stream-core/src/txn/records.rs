//! The records of `__transaction_state`, in Kafka's `TransactionLogKey` (v0) and
//! `TransactionLogValue` (v0) layouts, so the topic reads like Kafka's own:
//!
//! ```text
//! key:   version i16 = 0 | transactional_id string
//! value: version i16 = 0 | producer_id i64 | producer_epoch i16 | timeout_ms i32 | state i8
//!        | partitions [topic string | [partition i32]] | last_update_ms i64 | start_ms i64
//! ```
//!
//! Strings are an `i16` length and UTF-8 bytes; arrays an `i32` count.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::metadata::{TxnMetadata, TxnState};
use crate::topic::{TopicName, TopicPartition};

/// Why a record of `__transaction_state` did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __transaction_state record: {0}")]
pub struct TxnRecordError(pub String);

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + transactional_id.len());
    b.put_i16(0);
    put_str(&mut b, transactional_id);
    b.freeze()
}

pub fn encode_value(meta: &TxnMetadata) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i16(0);
    b.put_i64(meta.producer_id);
    b.put_i16(meta.producer_epoch);
    b.put_i32(meta.timeout_ms);
    b.put_i8(meta.state.code());
    let mut by_topic: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in &meta.partitions {
        match by_topic.last_mut() {
            Some((topic, parts)) if *topic == tp.topic.as_str() => parts.push(tp.partition),
            _ => by_topic.push((tp.topic.as_str(), vec![tp.partition])),
        }
    }
    b.put_i32(by_topic.len() as i32);
    for (topic, parts) in by_topic {
        put_str(&mut b, topic);
        b.put_i32(parts.len() as i32);
        for p in parts {
            b.put_i32(p);
        }
    }
    b.put_i64(meta.last_update_ms);
    b.put_i64(meta.start_ms);
    b.freeze()
}

pub fn decode_key(key: &[u8]) -> Result<String, TxnRecordError> {
    let mut r = Reader { b: key, at: 0 };
    let version = r.i16()?;
    if version != 0 {
        return Err(TxnRecordError(format!("key version {version}")));
    }
    r.string()
}

pub fn decode_value(transactional_id: &str, value: &[u8]) -> Result<TxnMetadata, TxnRecordError> {
    let mut r = Reader { b: value, at: 0 };
    let version = r.i16()?;
    if version != 0 {
        return Err(TxnRecordError(format!("value version {version}")));
    }
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let code = r.i8()?;
    let state = TxnState::from_code(code).ok_or_else(|| TxnRecordError(format!("state {code}")))?;
    let mut partitions = BTreeSet::new();
    let topics = r.i32()?;
    for _ in 0..topics.max(0) {
        let topic = r.string()?;
        let topic = TopicName::new(&topic).map_err(|e| TxnRecordError(e.to_string()))?;
        let count = r.i32()?;
        for _ in 0..count.max(0) {
            partitions.insert(TopicPartition::new(topic.clone(), r.i32()?));
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Ok(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
    })
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TxnRecordError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| TxnRecordError(format!("truncated at byte {}", self.at)))?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn i8(&mut self) -> Result<i8, TxnRecordError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, TxnRecordError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, TxnRecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, TxnRecordError> {
        let mut x = [0u8; 8];
        x.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(x))
    }
    fn string(&mut self) -> Result<String, TxnRecordError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| TxnRecordError(format!("string length {len}")))?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| TxnRecordError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let tp = |t: &str, p| TopicPartition::new(TopicName::new(t).unwrap(), p);
        let meta = TxnMetadata {
            transactional_id: "app-1".into(),
            producer_id: 4000,
            producer_epoch: 7,
            timeout_ms: 60_000,
            state: TxnState::PrepareCommit,
            partitions: [tp("a", 0), tp("a", 2), tp("b", 1)].into_iter().collect(),
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
        };
        let key = encode_key("app-1");
        assert_eq!(&key[..], b"\0\0\0\x05app-1");
        assert_eq!(decode_key(&key).unwrap(), "app-1");
        assert_eq!(decode_value("app-1", &encode_value(&meta)).unwrap(), meta);
    }

    #[test]
    fn truncated_or_unknown_records_are_errors_not_panics() {
        let meta = TxnMetadata::new("t".into(), 1, 0, 1000, 0);
        let value = encode_value(&meta);
        for cut in 0..value.len() {
            assert!(decode_value("t", &value[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = value.to_vec();
        bad[16] = 99; // the state
        assert!(decode_value("t", &bad).is_err());
        assert!(decode_key(b"\0\x01\0\0").is_err());
    }
}
