//! The v2 record batch: its fixed 61-byte header, read and validated in place.
//!
//! ```text
//!  0 baseOffset            i64   ┐ outside the CRC: the broker rewrites
//!  8 batchLength           i32   │ baseOffset and partitionLeaderEpoch
//! 12 partitionLeaderEpoch  i32   ┘ without touching the checksum
//! 16 magic                 i8    = 2
//! 17 crc                   u32   CRC-32C of bytes 21..end
//! 21 attributes            i16   codec:3 | timestampType:1 | transactional:1 | control:1 | deleteHorizon:1
//! 23 lastOffsetDelta       i32
//! 27 baseTimestamp         i64   (the delete horizon when that flag is set, KIP-534)
//! 35 maxTimestamp          i64
//! 43 producerId            i64
//! 51 producerEpoch         i16
//! 53 baseSequence          i32
//! 57 recordCount           i32
//! 61 records…                    compressed as one unit when codec ≠ none
//! ```

use super::{Compression, RecordError};

/// Size of the fixed header.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength itself.
pub const LOG_OVERHEAD: usize = 12;
pub const MAGIC: i8 = 2;

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const LENGTH: usize = 8;
pub(crate) const LEADER_EPOCH: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
pub(crate) const LAST_OFFSET_DELTA: usize = 23;
pub(crate) const BASE_TIMESTAMP: usize = 27;
pub(crate) const MAX_TIMESTAMP: usize = 35;
pub(crate) const PRODUCER_ID: usize = 43;
pub(crate) const PRODUCER_EPOCH: usize = 51;
pub(crate) const BASE_SEQUENCE: usize = 53;
pub(crate) const RECORD_COUNT: usize = 57;

const TIMESTAMP_TYPE_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;
const DELETE_HORIZON_BIT: i16 = 1 << 6;

/// Kafka's "no producer" and "no sequence" sentinels.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_SEQUENCE: i32 = -1;
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Whether a batch's timestamps were set by the producer or by the broker at append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

/// The attributes field, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes {
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    pub transactional: bool,
    pub control: bool,
    /// KIP-534: `baseTimestamp` holds the time after which the cleaner may drop this batch's
    /// tombstones and markers.
    pub delete_horizon: bool,
}

impl Attributes {
    pub fn to_bits(self) -> i16 {
        let mut bits = self.compression.id();
        if self.timestamp_type == TimestampType::LogAppendTime {
            bits |= TIMESTAMP_TYPE_BIT;
        }
        if self.transactional {
            bits |= TRANSACTIONAL_BIT;
        }
        if self.control {
            bits |= CONTROL_BIT;
        }
        if self.delete_horizon {
            bits |= DELETE_HORIZON_BIT;
        }
        bits
    }

    pub fn from_bits(bits: i16) -> Result<Attributes, RecordError> {
        let codec = bits & 0x07;
        Ok(Attributes {
            compression: Compression::from_id(codec).ok_or(RecordError::UnknownCompression(codec))?,
            timestamp_type: if bits & TIMESTAMP_TYPE_BIT != 0 {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            transactional: bits & TRANSACTIONAL_BIT != 0,
            control: bits & CONTROL_BIT != 0,
            delete_horizon: bits & DELETE_HORIZON_BIT != 0,
        })
    }
}

/// Every field of a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field: the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: Attributes,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// Reads the whole length of the batch starting at `bytes[0]` from its first 12 bytes, or
/// `None` if fewer than 12 bytes are there. The value is as declared, not yet validated.
pub fn declared_size(bytes: &[u8]) -> Option<i64> {
    (bytes.len() >= LOG_OVERHEAD).then(|| i64::from(i32_at(bytes, LENGTH)) + LOG_OVERHEAD as i64)
}

/// The header fields needed to place a batch, read without the checksum or the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekHeader {
    pub base_offset: i64,
    /// The whole batch's size in bytes.
    pub size: usize,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
}

/// Reads the placement fields of the batch whose first [`HEADER_LEN`] bytes are `bytes`,
/// checking magic, length and lastOffsetDelta.
pub fn batch_peek(bytes: &[u8]) -> Result<PeekHeader, RecordError> {
    if bytes.len() < HEADER_LEN {
        return Err(RecordError::Truncated { at: bytes.len() });
    }
    let magic = bytes[MAGIC_AT] as i8;
    if magic != MAGIC {
        return Err(RecordError::UnsupportedMagic(magic));
    }
    let batch_length = i32_at(bytes, LENGTH);
    let size = i64::from(batch_length) + LOG_OVERHEAD as i64;
    if size < HEADER_LEN as i64 {
        return Err(RecordError::BadBatchLength {
            declared: batch_length,
        });
    }
    let last_offset_delta = i32_at(bytes, LAST_OFFSET_DELTA);
    if last_offset_delta < 0 {
        return Err(RecordError::RecordCountMismatch {
            count: i32_at(bytes, RECORD_COUNT),
            last_offset_delta,
        });
    }
    Ok(PeekHeader {
        base_offset: i64_at(bytes, BASE_OFFSET),
        size: size as usize,
        last_offset_delta,
        max_timestamp: i64_at(bytes, MAX_TIMESTAMP),
    })
}

impl BatchHeader {
    /// Parses the header at the start of `bytes` and checks the structure that can be checked
    /// without reading the records: magic, a sane length that `bytes` holds whole, a known
    /// codec, and a record count that fits the offset range.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader, RecordError> {
        if bytes.len() < HEADER_LEN {
            return Err(RecordError::Truncated { at: bytes.len() });
        }
        let magic = bytes[MAGIC_AT] as i8;
        if magic != MAGIC {
            return Err(RecordError::UnsupportedMagic(magic));
        }
        let batch_length = i32_at(bytes, LENGTH);
        let size = i64::from(batch_length) + LOG_OVERHEAD as i64;
        if size < HEADER_LEN as i64 {
            return Err(RecordError::BadBatchLength {
                declared: batch_length,
            });
        }
        if size > bytes.len() as i64 {
            return Err(RecordError::Truncated { at: bytes.len() });
        }
        let header = BatchHeader {
            base_offset: i64_at(bytes, BASE_OFFSET),
            batch_length,
            partition_leader_epoch: i32_at(bytes, LEADER_EPOCH),
            magic,
            crc: i32_at(bytes, CRC) as u32,
            attributes: Attributes::from_bits(i16_at(bytes, ATTRIBUTES))?,
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP),
            producer_id: i64_at(bytes, PRODUCER_ID),
            producer_epoch: i16_at(bytes, PRODUCER_EPOCH),
            base_sequence: i32_at(bytes, BASE_SEQUENCE),
            record_count: i32_at(bytes, RECORD_COUNT),
        };
        if header
            .base_offset
            .checked_add(i64::from(header.last_offset_delta))
            .is_none()
        {
            return Err(RecordError::OffsetOverflow {
                base_offset: header.base_offset,
                last_offset_delta: header.last_offset_delta,
            });
        }
        if header.last_offset_delta < 0
            || header.record_count < 0
            || header.record_count > header.last_offset_delta.saturating_add(1)
        {
            return Err(RecordError::RecordCountMismatch {
                count: header.record_count,
                last_offset_delta: header.last_offset_delta,
            });
        }
        Ok(header)
    }

    /// Size of the whole batch in bytes.
    pub fn size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record slot, including slots removed by compaction.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// The delete horizon (KIP-534) if the cleaner has set one.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.attributes.delete_horizon.then_some(self.base_timestamp)
    }

    /// Whether `bytes` (the whole batch) matches the stored checksum.
    pub fn verify_crc(&self, bytes: &[u8]) -> Result<(), RecordError> {
        let computed = crc32c::crc32c(&bytes[ATTRIBUTES..self.size()]);
        if computed == self.crc {
            Ok(())
        } else {
            Err(RecordError::CrcMismatch {
                stored: self.crc,
                computed,
            })
        }
    }
}

/// Sets baseOffset and partitionLeaderEpoch, the two fields outside the checksum.
pub fn assign_offset(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Marks a batch as LogAppendTime with `now` as its max timestamp and recomputes the checksum,
/// as Kafka does for topics with `message.timestamp.type=LogAppendTime`.
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = i16_at(batch, ATTRIBUTES) | TIMESTAMP_TYPE_BIT;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}
