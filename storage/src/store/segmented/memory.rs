//! In-memory segments: one `BTreeMap` per segment, whose `Vec<u8>` order is RocksDB's
//! unsigned byte order, so both backends scan alike.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{Checkpoint, SegmentWrite, Segments};
use crate::store::{KvIter, StoreResult};

#[derive(Debug, Default)]
pub(crate) struct MemorySegments {
    segments: BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Segments for MemorySegments {
    fn persistent(&self) -> bool {
        false
    }

    fn ids(&self, from: i64, to: i64) -> Vec<i64> {
        if from > to {
            return Vec::new();
        }
        self.segments.range(from..=to).map(|(id, _)| *id).collect()
    }

    fn drop_below(&mut self, min_live: i64) -> StoreResult<()> {
        // `split_off` keeps `min_live..` and hands back the rest, dropped here whole.
        self.segments = self.segments.split_off(&min_live);
        Ok(())
    }

    fn get(&self, segment: i64, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.segments.get(&segment).and_then(|s| s.get(key)).cloned())
    }

    /// Atomic for free: nothing in it can fail.
    fn write(&mut self, writes: &[SegmentWrite<'_>], _checkpoint: Option<Checkpoint>) -> StoreResult<()> {
        for write in writes {
            match write.value {
                Some(value) => {
                    self.segments
                        .entry(write.segment)
                        .or_default()
                        .insert(write.key.to_vec(), value.to_vec());
                }
                None => {
                    if let Some(segment) = self.segments.get_mut(&write.segment) {
                        segment.remove(write.key);
                        if segment.is_empty() {
                            self.segments.remove(&write.segment);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        forward: bool,
    ) -> StoreResult<KvIter<'_>> {
        let Some(entries) = self.segments.get(&segment) else {
            return Ok(Box::new(std::iter::empty()));
        };
        // `BTreeMap::range` panics on inverted bounds; an inverted range is empty.
        if matches!((lower, upper), (Some(lower), Some(upper)) if lower > upper) {
            return Ok(Box::new(std::iter::empty()));
        }
        let bounds = (
            lower.map_or(Bound::Unbounded, Bound::Included),
            upper.map_or(Bound::Unbounded, Bound::Included),
        );
        let range = entries
            .range::<[u8], _>(bounds)
            .map(|(k, v)| Ok((k.clone(), v.clone())));
        Ok(if forward {
            Box::new(range)
        } else {
            Box::new(range.rev())
        })
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        Ok(self.segments.values().map(|s| s.len() as u64).sum())
    }

    fn flush(&mut self) -> StoreResult<()> {
        Ok(())
    }
}
