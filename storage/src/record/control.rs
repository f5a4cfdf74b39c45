//! Control records: the transaction markers a transaction coordinator writes to every partition
//! of a transaction when it commits or aborts (KIP-98).
//!
//! A marker is a batch of one record with the control and transactional attribute bits set,
//! the transaction's producer id and epoch, and no sequence. Its key is `version: i16 (0)`,
//! `type: i16` (0 abort, 1 commit); its value is `version: i16 (0)`, `coordinatorEpoch: i32` —
//! Kafka's `ControlRecordType` and `EndTransactionMarker` layouts, so Kafka clients read ours.

use bytes::Bytes;

use super::{BatchBuilder, BatchHeader, Compression, RecordError, decode_records};

/// What a transaction marker ends its transaction with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }

    /// `true` for [`ControlType::Commit`].
    pub fn from_commit(commit: bool) -> ControlType {
        if commit {
            ControlType::Commit
        } else {
            ControlType::Abort
        }
    }
}

/// Builds a transaction marker batch (offset 0; the log assigns the real one).
pub fn build_marker(
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    control: ControlType,
    timestamp: i64,
) -> Vec<u8> {
    let key = [0, 0, 0, control.code() as u8];
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let mut builder = BatchBuilder::new(Compression::None)
        .with_producer(producer_id, producer_epoch, -1)
        .with_transactional(true)
        .with_control(true);
    builder.append(timestamp, Some(&key), Some(&value), &[]);
    builder.build()
}

/// The marker type of a control batch (the whole batch's bytes), or `None` if it is no
/// control batch. Unknown control types (Kafka reserves others, e.g. for KRaft) are `None`.
pub fn marker_type(batch: &Bytes) -> Result<Option<ControlType>, RecordError> {
    let header = BatchHeader::parse(batch)?;
    if !header.attributes.control {
        return Ok(None);
    }
    let (_, records) = decode_records(batch, 1 << 20)?;
    let Some(key) = records.first().and_then(|r| r.key.as_ref()) else {
        return Ok(None);
    };
    if key.len() < 4 {
        return Err(RecordError::MalformedRecord {
            index: 0,
            reason: format!("control record key of {} bytes", key.len()),
        });
    }
    Ok(match i16::from_be_bytes([key[2], key[3]]) {
        0 => Some(ControlType::Abort),
        1 => Some(ControlType::Commit),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_carry_the_producer() {
        for control in [ControlType::Abort, ControlType::Commit] {
            let batch = Bytes::from(build_marker(42, 3, 7, control, 1_000));
            let header = BatchHeader::parse(&batch).unwrap();
            assert!(header.attributes.control && header.attributes.transactional);
            assert_eq!((header.producer_id, header.producer_epoch), (42, 3));
            assert_eq!(header.base_sequence, -1);
            assert_eq!(marker_type(&batch).unwrap(), Some(control));
        }
    }

    #[test]
    fn a_data_batch_is_no_marker() {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(0, Some(b"k"), Some(b"v"), &[]);
        assert_eq!(marker_type(&Bytes::from(b.build())).unwrap(), None);
    }

    #[test]
    fn marker_layout_matches_kafkas_end_transaction_marker() {
        let batch = Bytes::from(build_marker(1, 0, 5, ControlType::Commit, 0));
        let (_, records) = decode_records(&batch, 1 << 20).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
        assert_eq!(records[0].value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 5][..]));
    }
}
