//! Kafka's v2 record-batch format (magic 2), the unit of storage and of the wire.
//!
//! A batch is written once by a producer ([`BatchBuilder`]), validated by the log
//! ([`validate`]), stored and served as the same bytes, and decoded by a consumer
//! ([`decode_records`]). Only baseOffset and partitionLeaderEpoch are ever rewritten in place.

mod batch;
mod builder;
pub mod compression;
mod control;
mod decode;
pub(crate) mod varint;

pub use batch::{
    Attributes, BatchHeader, HEADER_LEN, LOG_OVERHEAD, MAGIC, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, PeekHeader, TimestampType, assign_offset, batch_peek, declared_size,
    set_log_append_time,
};
pub use builder::{BatchBuilder, BuiltBatch};
pub use compression::Compression;
pub use control::{ControlType, build_marker, marker_type};
pub use decode::{
    Header, HeaderRanges, Record, RecordCursor, RecordLayout, decode_all, decode_records, records_section,
    validate, walk_records,
};

/// What is wrong with a batch's bytes. Positions are relative to the start of the batch, or of
/// its (decompressed) records section for record-level faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("truncated at byte {at}")]
    Truncated { at: usize },
    #[error("unsupported magic {0} (only v2 record batches are accepted)")]
    UnsupportedMagic(i8),
    #[error("batch length {declared} is below the 49-byte minimum")]
    BadBatchLength { declared: i32 },
    #[error("CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("unknown compression codec {0}")]
    UnknownCompression(i16),
    #[error("record count {count} does not fit lastOffsetDelta {last_offset_delta}")]
    RecordCountMismatch { count: i32, last_offset_delta: i32 },
    #[error("baseOffset {base_offset} + lastOffsetDelta {last_offset_delta} overflows")]
    OffsetOverflow {
        base_offset: i64,
        last_offset_delta: i32,
    },
    #[error("varint longer than allowed at byte {at}")]
    VarintTooLong { at: usize },
    #[error("negative length {len} at byte {at}")]
    NegativeLength { at: usize, len: i32 },
    #[error("record {index}: {reason}")]
    MalformedRecord { index: i32, reason: String },
    #[error("{extra} bytes after the last record")]
    TrailingBytes { extra: usize },
    #[error("{codec} decompression failed: {reason}")]
    Decompression { codec: &'static str, reason: String },
    #[error("records decompress to more than {limit} bytes")]
    DecompressedTooLarge { limit: usize },
}
