//! Idempotent producers: per partition, each producer id's epoch and its last five batches'
//! sequence ranges, so a retried batch is acknowledged with its original offsets instead of
//! being written twice (Kafka's DUPLICATE_SEQUENCE_NUMBER semantics), and a gap is refused
//! (OUT_OF_ORDER_SEQUENCE_NUMBER).
//!
//! The state is rebuilt at open from a snapshot (written at close and periodically) plus the
//! batch headers the log holds after the snapshot's offset — the same scheme as Kafka's
//! `ProducerStateManager`, with one JSON snapshot file per partition instead of one per
//! segment.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};
use storage::record::BatchHeader;

use crate::error::{BrokerError, Result};

/// How many recent batches per producer are remembered for deduplication (Kafka: 5, matching
/// `max.in.flight.requests.per.connection` ≤ 5 for idempotence).
pub const CACHED_BATCHES: usize = 5;
const SNAPSHOT: &str = "producer-state.json";

/// One appended batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What to do with a batch from an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Not from an idempotent producer, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already in the log: acknowledge it with these offsets.
    Duplicate(BatchMeta),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// The log end offset the snapshot reflects; replay continues from here.
    offset: i64,
    state: ProducerStates,
    /// Producer id → first offset of its open transaction in this partition.
    #[serde(default)]
    ongoing: BTreeMap<i64, i64>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX { 0 } else { seq + 1 }
}

impl ProducerStates {
    /// Checks a batch's producer id, epoch and sequence range against what this partition has
    /// seen.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<SequenceCheck> {
        if producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        // A producer this partition knows nothing of may start at any sequence, as in Kafka:
        // its state may have gone with the segments that held it (retention, DeleteRecords),
        // and refusing would wedge a live producer for good.
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(BrokerError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if epoch > entry.epoch {
            // A bumped epoch starts its sequences again at zero.
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(BrokerError::OutOfOrderSequenceNumber {
                    producer_id,
                    expected: 0,
                    got: first_seq,
                })
            };
        }
        if let Some(meta) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*meta));
        }
        let expected = entry.batches.back().map_or(0, |b| next_seq(b.last_seq));
        if first_seq != expected {
            return Err(BrokerError::OutOfOrderSequenceNumber {
                producer_id,
                expected,
                got: first_seq,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended batch.
    pub fn update(&mut self, producer_id: i64, epoch: i16, meta: BatchMeta) {
        if producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(meta);
        while entry.batches.len() > CACHED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// A transaction marker of `producer_id` at `epoch` was written. A coordinator that
    /// bumped the epoch (to fence a zombie or after a timeout) starts the producer's
    /// sequences again, and from now on its older epoch is refused here.
    pub fn on_marker(&mut self, producer_id: i64, epoch: i16) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
    }

    /// The epoch this partition last saw of `producer_id`.
    pub fn epoch(&self, producer_id: i64) -> Option<i16> {
        self.producers.get(&producer_id).map(|e| e.epoch)
    }

    /// Replays a stored batch's header (at open, after the snapshot).
    pub fn replay(&mut self, header: &BatchHeader) {
        if header.producer_id < 0 || header.attributes.control {
            return;
        }
        let meta = BatchMeta {
            first_seq: header.base_sequence,
            last_seq: header.base_sequence.wrapping_add(header.last_offset_delta),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
        };
        self.update(header.producer_id, header.producer_epoch, meta);
    }

    /// Writes a snapshot of the state at log end `offset` (atomically: temp file, fsync,
    /// rename).
    pub fn write_snapshot(&self, dir: &Path, offset: i64, ongoing: BTreeMap<i64, i64>) -> Result<()> {
        let path = dir.join(SNAPSHOT);
        let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
        let body = serde_json::to_vec(&Snapshot {
            version: 1,
            offset,
            state: self.clone(),
            ongoing,
        })
        .map_err(|e| BrokerError::io("encode producer snapshot", &path, std::io::Error::other(e)))?;
        std::fs::write(&tmp, body).map_err(|e| BrokerError::io("write producer snapshot", &tmp, e))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| BrokerError::io("fsync producer snapshot", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| BrokerError::io("rename producer snapshot", &path, e))
    }

    /// Reads the snapshot: the state, the offset to replay from and the open transactions. A
    /// missing, unreadable or future snapshot yields `None`, and the caller replays the whole
    /// log instead.
    pub fn read_snapshot(dir: &Path, log_end: i64) -> Option<(ProducerStates, i64, BTreeMap<i64, i64>)> {
        let bytes = std::fs::read(dir.join(SNAPSHOT)).ok()?;
        let snap: Snapshot = serde_json::from_slice(&bytes).ok()?;
        (snap.version == 1 && snap.offset <= log_end).then_some((snap.state, snap.offset, snap.ongoing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        BatchMeta {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + i64::from(last_seq - first_seq),
            max_timestamp: 0,
        }
    }

    #[test]
    fn retries_of_the_last_five_batches_are_duplicates_and_gaps_are_refused() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(7, 0, 0, 9).unwrap(), SequenceCheck::Append);
        for i in 0..6 {
            s.update(7, 0, meta(i * 10, i * 10 + 9, i64::from(i) * 10));
        }
        assert_eq!(s.check(7, 0, 60, 69).unwrap(), SequenceCheck::Append);
        assert_eq!(
            s.check(7, 0, 50, 59).unwrap(),
            SequenceCheck::Duplicate(meta(50, 59, 50))
        );
        assert_eq!(
            s.check(7, 0, 10, 19).unwrap(),
            SequenceCheck::Duplicate(meta(10, 19, 10))
        );
        assert!(matches!(
            s.check(7, 0, 0, 9),
            Err(BrokerError::OutOfOrderSequenceNumber {
                expected: 60,
                got: 0,
                ..
            })
        ));
        assert!(matches!(
            s.check(7, 0, 70, 79),
            Err(BrokerError::OutOfOrderSequenceNumber { expected: 60, .. })
        ));
        assert_eq!(
            s.check(8, 0, 5, 9).unwrap(),
            SequenceCheck::Append,
            "an unknown producer may start at any sequence"
        );
        assert_eq!(s.check(-1, -1, -1, -1).unwrap(), SequenceCheck::Append);
    }

    #[test]
    fn an_older_epoch_is_fenced_and_a_newer_one_restarts_at_zero() {
        let mut s = ProducerStates::default();
        s.update(7, 3, meta(0, 4, 0));
        assert!(matches!(
            s.check(7, 2, 5, 9),
            Err(BrokerError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert_eq!(s.check(7, 4, 0, 4).unwrap(), SequenceCheck::Append);
        assert!(s.check(7, 4, 5, 9).is_err());
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        let mut s = ProducerStates::default();
        s.update(1, 0, meta(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(s.check(1, 0, 0, 3).unwrap(), SequenceCheck::Append);
    }

    #[test]
    fn snapshots_round_trip_and_stale_ones_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStates::default();
        s.update(1, 0, meta(0, 9, 100));
        s.write_snapshot(dir.path(), 110, BTreeMap::from([(1, 104)]))
            .unwrap();
        let (back, offset, ongoing) = ProducerStates::read_snapshot(dir.path(), 200).unwrap();
        assert_eq!((back, offset, ongoing), (s, 110, BTreeMap::from([(1, 104)])));
        assert!(
            ProducerStates::read_snapshot(dir.path(), 50).is_none(),
            "snapshot ahead of the log"
        );
        std::fs::write(dir.path().join(SNAPSHOT), b"{garbage").unwrap();
        assert!(ProducerStates::read_snapshot(dir.path(), 200).is_none());
    }
}
