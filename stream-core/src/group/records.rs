//! The records of `__consumer_offsets`, byte for byte as Kafka writes them, so Kafka's tools
//! (`kafka-console-consumer --formatter ...OffsetsMessageFormatter`) can read our topic and we
//! can read theirs.
//!
//! ```text
//! key   v0/v1  offset commit   [i16 version][STRING group][STRING topic][i32 partition]
//! key   v2     group metadata  [i16 2][STRING group]
//! value v3     offset commit   [i16 3][i64 offset][i32 leaderEpoch][STRING metadata][i64 commitTimestamp]
//!              (v0: no epoch, v1: + i64 expireTimestamp, v2: no epoch; all decoded)
//! value v3     group metadata  [i16 3][STRING protocolType][i32 generation][NULLABLE_STRING protocol]
//!                              [NULLABLE_STRING leader][i64 currentStateTimestamp]
//!                              [i32 n] n × [STRING memberId][NULLABLE_STRING groupInstanceId]
//!                                          [STRING clientId][STRING clientHost][i32 rebalanceTimeout]
//!                                          [i32 sessionTimeout][BYTES subscription][BYTES assignment]
//!              (v0: no rebalance timeout, timestamp or instance id; v1: + rebalance timeout;
//!               v2: + timestamp; all decoded)
//! a null value (tombstone) deletes the offset or the group
//! ```
//!
//! STRING is an i16 length and UTF-8 bytes (-1 for a null NULLABLE_STRING), BYTES an i32 length
//! and bytes, all big-endian. The flexible v4 values of Kafka 4 are not decoded (Kafka itself
//! still writes v3). Decoding never panics: any malformed input is a [`RecordError`].

use bytes::{BufMut, Bytes, BytesMut};

use super::error::RecordError;
use crate::topic::{TopicName, TopicPartition};

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// The key of a `__consumer_offsets` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset {
        group_id: String,
        topic_partition: TopicPartition,
    },
    GroupMetadata {
        group_id: String,
    },
}

/// A committed offset as stored (Kafka's `OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Only in v1 values (clients of OffsetCommit v1 could set a retention); never written by us.
    pub expire_timestamp_ms: Option<i64>,
}

/// A group's membership as stored after each rebalance (Kafka's `GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (before v2).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadataValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

pub fn encode_key(key: &RecordKey) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::new();
    match key {
        RecordKey::Offset {
            group_id,
            topic_partition,
        } => {
            buf.put_i16(OFFSET_KEY_VERSION);
            put_string(&mut buf, "group", group_id)?;
            put_string(&mut buf, "topic", topic_partition.topic.as_str())?;
            buf.put_i32(topic_partition.partition);
        }
        RecordKey::GroupMetadata { group_id } => {
            buf.put_i16(GROUP_KEY_VERSION);
            put_string(&mut buf, "group", group_id)?;
        }
    }
    Ok(buf.freeze())
}

pub fn decode_key(bytes: &[u8]) -> Result<RecordKey, RecordError> {
    let mut r = Reader::new(bytes);
    match r.i16("key version")? {
        0 | 1 => Ok(RecordKey::Offset {
            group_id: r.string("group")?,
            topic_partition: TopicPartition {
                topic: {
                    let topic = r.string("topic")?;
                    TopicName::new(&topic).map_err(|_| RecordError::InvalidTopicName { topic })?
                },
                partition: r.i32("partition")?,
            },
        }),
        2 => Ok(RecordKey::GroupMetadata {
            group_id: r.string("group")?,
        }),
        version => Err(RecordError::UnknownKeyVersion { version }),
    }
}

/// Writes v3, or v1 when the value carries an expire timestamp (as Kafka does).
pub fn encode_offset_value(value: &OffsetValue) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::new();
    match value.expire_timestamp_ms {
        Some(expire) => {
            buf.put_i16(1);
            buf.put_i64(value.offset);
            put_string(&mut buf, "metadata", &value.metadata)?;
            buf.put_i64(value.commit_timestamp_ms);
            buf.put_i64(expire);
        }
        None => {
            buf.put_i16(OFFSET_VALUE_VERSION);
            buf.put_i64(value.offset);
            buf.put_i32(value.leader_epoch.unwrap_or(-1));
            put_string(&mut buf, "metadata", &value.metadata)?;
            buf.put_i64(value.commit_timestamp_ms);
        }
    }
    Ok(buf.freeze())
}

pub fn decode_offset_value(bytes: &[u8]) -> Result<OffsetValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnsupportedValueVersion {
            record: "offset commit",
            version,
        });
    }
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        Some(r.i32("leader epoch")?).filter(|e| *e >= 0)
    } else {
        None
    };
    let metadata = r.string("metadata")?;
    let commit_timestamp_ms = r.i64("commit timestamp")?;
    let expire_timestamp_ms = if version == 1 {
        Some(r.i64("expire timestamp")?)
    } else {
        None
    };
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

pub fn encode_group_value(value: &GroupMetadataValue) -> Result<Bytes, RecordError> {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut buf, "protocol type", &value.protocol_type)?;
    buf.put_i32(value.generation);
    put_nullable_string(&mut buf, "protocol", value.protocol.as_deref())?;
    put_nullable_string(&mut buf, "leader", value.leader.as_deref())?;
    buf.put_i64(value.current_state_timestamp_ms);
    put_len(&mut buf, "members", value.members.len())?;
    for m in &value.members {
        put_string(&mut buf, "member id", &m.member_id)?;
        put_nullable_string(&mut buf, "group instance id", m.group_instance_id.as_deref())?;
        put_string(&mut buf, "client id", &m.client_id)?;
        put_string(&mut buf, "client host", &m.client_host)?;
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_len(&mut buf, "subscription", m.subscription.len())?;
        buf.put_slice(&m.subscription);
        put_len(&mut buf, "assignment", m.assignment.len())?;
        buf.put_slice(&m.assignment);
    }
    Ok(buf.freeze())
}

pub fn decode_group_value(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.i16("value version")?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnsupportedValueVersion {
            record: "group metadata",
            version,
        });
    }
    let protocol_type = r.string("protocol type")?;
    let generation = r.i32("generation")?;
    let protocol = r.nullable_string("protocol")?;
    let leader = r.nullable_string("leader")?;
    let current_state_timestamp_ms = if version >= 2 {
        r.i64("current state timestamp")?
    } else {
        -1
    };
    let count = r.array_len("members")?;
    // Never trust a count for an allocation: each member takes at least 16 bytes.
    let mut members = Vec::with_capacity(count.min(r.remaining() / 16));
    for _ in 0..count {
        let member_id = r.string("member id")?;
        let group_instance_id = if version >= 3 {
            r.nullable_string("group instance id")?
        } else {
            None
        };
        let client_id = r.string("client id")?;
        let client_host = r.string("client host")?;
        let rebalance_timeout = if version >= 1 {
            Some(r.i32("rebalance timeout")?)
        } else {
            None
        };
        let session_timeout_ms = r.i32("session timeout")?;
        members.push(MemberMetadataValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
            session_timeout_ms,
            subscription: r.bytes("subscription")?,
            assignment: r.bytes("assignment")?,
        });
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    })
}

/// The topics of a Kafka consumer-protocol subscription (`ConsumerProtocolSubscription`, every
/// version starts `[i16 version][i32 n] n × STRING topic`).
pub fn consumer_subscription_topics(metadata: &[u8]) -> Result<Vec<String>, RecordError> {
    let mut r = Reader::new(metadata);
    let version = r.i16("subscription version")?;
    if version < 0 {
        return Err(RecordError::UnsupportedValueVersion {
            record: "consumer subscription",
            version,
        });
    }
    let count = r.array_len("topics")?;
    let mut topics = Vec::with_capacity(count.min(r.remaining() / 2));
    for _ in 0..count {
        topics.push(r.string("topic")?);
    }
    Ok(topics)
}

fn put_string(buf: &mut BytesMut, field: &'static str, s: &str) -> Result<(), RecordError> {
    if s.len() > i16::MAX as usize {
        return Err(RecordError::StringTooLong { field, len: s.len() });
    }
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
    Ok(())
}

fn put_nullable_string(buf: &mut BytesMut, field: &'static str, s: Option<&str>) -> Result<(), RecordError> {
    match s {
        Some(s) => put_string(buf, field, s),
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

fn put_len(buf: &mut BytesMut, field: &'static str, len: usize) -> Result<(), RecordError> {
    if len > i32::MAX as usize {
        return Err(RecordError::BytesTooLong { field, len });
    }
    buf.put_i32(len as i32);
    Ok(())
}

/// A cursor over a record that reports where and what it failed to read.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, field: &'static str, need: usize) -> Result<&'a [u8], RecordError> {
        let have = self.remaining();
        if need > have {
            return Err(RecordError::Truncated {
                field,
                position: self.pos,
                need,
                have,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + need];
        self.pos += need;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, RecordError> {
        self.array(field).map(i16::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        self.array(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        self.array(field).map(i64::from_be_bytes)
    }

    fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let position = self.pos;
        let len = self.i16(field)?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(RecordError::NegativeLength {
                field,
                position,
                length: len.into(),
            });
        }
        let bytes = self.take(field, len as usize)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(source) => Err(RecordError::InvalidUtf8 {
                field,
                position: position + 2,
                source,
            }),
        }
    }

    fn string(&mut self, field: &'static str) -> Result<String, RecordError> {
        let position = self.pos;
        self.nullable_string(field)?
            .ok_or(RecordError::UnexpectedNull { field, position })
    }

    fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordError> {
        let position = self.pos;
        let len = self.i32(field)?;
        if len == -1 {
            return Err(RecordError::UnexpectedNull { field, position });
        }
        if len < 0 {
            return Err(RecordError::NegativeLength {
                field,
                position,
                length: len,
            });
        }
        Ok(Bytes::copy_from_slice(self.take(field, len as usize)?))
    }

    fn array_len(&mut self, field: &'static str) -> Result<usize, RecordError> {
        let position = self.pos;
        let len = self.i32(field)?;
        if len < 0 {
            return Err(RecordError::NegativeLength {
                field,
                position,
                length: len,
            });
        }
        Ok(len as usize)
    }
}
