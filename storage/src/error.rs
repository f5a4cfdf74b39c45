//! The storage crate's error type. Variants that a client can cause are named after the Kafka
//! error a broker answers with (`CorruptMessage`, `InvalidRecord`, `MessageTooLarge`,
//! `OffsetOutOfRange`); the rest say which file and which operation failed.

use std::path::PathBuf;

use crate::record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Kafka's CORRUPT_MESSAGE: a batch of an append failed its checksum or its framing.
    /// `position` is the byte within the appended buffer where the batch starts.
    #[error("corrupt batch at byte {position} of the append: {source}")]
    CorruptMessage {
        position: usize,
        #[source]
        source: RecordError,
    },
    /// Kafka's INVALID_RECORD: the batch's checksum holds but its contents break the format.
    #[error("invalid batch at byte {position} of the append: {source}")]
    InvalidRecord {
        position: usize,
        #[source]
        source: RecordError,
    },
    /// Kafka's MESSAGE_TOO_LARGE: a batch larger than `max.message.bytes` (or the segment).
    #[error("batch at byte {position} is {size} bytes, above the limit of {max}")]
    MessageTooLarge {
        position: usize,
        size: usize,
        max: usize,
    },
    /// Kafka's OFFSET_OUT_OF_RANGE.
    #[error("offset {offset} is outside the log's range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    /// Stored bytes that fail validation when read back.
    #[error("corrupt data in {} at byte {position}: {source}", path.display())]
    CorruptSegment {
        path: PathBuf,
        position: u64,
        #[source]
        source: RecordError,
    },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid value {value:?} for config {key}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("unknown config {0}")]
    UnknownConfig(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Attaches the operation and path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| StorageError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

impl StorageError {
    /// Maps a format fault in an appended batch to the Kafka error a producer expects: framing
    /// and checksum faults are CORRUPT_MESSAGE, the rest INVALID_RECORD.
    pub(crate) fn from_append(position: usize, source: RecordError) -> StorageError {
        match source {
            RecordError::Truncated { .. }
            | RecordError::BadBatchLength { .. }
            | RecordError::CrcMismatch { .. } => StorageError::CorruptMessage { position, source },
            _ => StorageError::InvalidRecord { position, source },
        }
    }
}
