//! The segmented byte store under both window and session stores, as Kafka's
//! `AbstractRocksDBSegmentedBytesStore` is under its `RocksDBWindowStore` and
//! `RocksDBSessionStore`.
//!
//! ```text
//!   WindowStore / SessionStore   key schema: which timestamp, which bytes, which bounds
//!              │
//!   Segmented<S>                 stream time, expiry, segment choice, merged scans, restore
//!              │
//!   S: Segments ──┬── RocksSegments   one column family per segment in one RocksDB
//!                 └── MemorySegments  one BTreeMap per segment
//! ```
//!
//! The rules of time (see [`time`]) live here once. Kafka implements them twice, in its
//! segmented RocksDB store and again in each in-memory store, and the copies disagree (which
//! writes are dropped, session removal and stream time, the order of range results); ours
//! cannot. The two backends differ only in where the bytes of a segment live.

pub(crate) mod bounds;
mod memory;
mod merge;
mod rocks;
pub(crate) mod time;

pub(crate) use memory::MemorySegments;
pub(crate) use rocks::RocksSegments;

use super::{KvIter, StoreResult};
use time::Retention;

/// What a segmented store records besides its entries, so that a persistent one picks up
/// where it left off: observed stream time and the window store's last sequence number.
/// Kafka keeps neither across a restart (its stores start again from no stream time, showing
/// expired entries until the next put, and from sequence number 0, overwriting duplicates
/// that the new numbers collide with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Checkpoint {
    pub(crate) stream_time: Option<i64>,
    pub(crate) seqnum: u32,
}

/// A changelog record to restore: its segment timestamp, its store key, its value.
pub(crate) type RestoreRecord<'a> = (i64, Vec<u8>, Option<&'a [u8]>);

/// A put found live, for [`Segmented::write_live`]: its timestamp, its store key, its value.
pub(crate) type LiveWrite<'a> = (i64, &'a [u8], Option<&'a [u8]>);

/// One write into one segment; `None` deletes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegmentWrite<'a> {
    pub(crate) segment: i64,
    pub(crate) key: &'a [u8],
    pub(crate) value: Option<&'a [u8]>,
}

/// Where the segments of a store live. Keys within a segment order as unsigned bytes.
pub(crate) trait Segments: Send + std::fmt::Debug {
    fn persistent(&self) -> bool;

    /// Ids of the existing segments in `from..=to`, ascending.
    fn ids(&self, from: i64, to: i64) -> Vec<i64>;

    /// Drops every segment below `min_live`, whole.
    fn drop_below(&mut self, min_live: i64) -> StoreResult<()>;

    fn get(&self, segment: i64, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;

    /// Applies the writes in order and atomically, creating the segments a put needs (a
    /// delete in a missing segment does nothing). A changed `checkpoint` comes along; a
    /// persistent backend writes it with its next flush or at close.
    fn write(&mut self, writes: &[SegmentWrite<'_>], checkpoint: Option<Checkpoint>) -> StoreResult<()>;

    /// The entries of one segment with `lower <= key <= upper` (`None`: unbounded), ascending
    /// or descending.
    fn scan(
        &self,
        segment: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        forward: bool,
    ) -> StoreResult<KvIter<'_>>;

    fn approximate_num_entries(&self) -> StoreResult<u64>;

    fn flush(&mut self) -> StoreResult<()>;
}

/// Stream time, expiry and segment choice over a [`Segments`] backend.
#[derive(Debug)]
pub(crate) struct Segmented<S> {
    name: String,
    retention: Retention,
    checkpoint: Checkpoint,
    segments: S,
}

impl<S: Segments> Segmented<S> {
    /// Takes over `segments` as found (with the checkpoint a persistent backend recorded) and
    /// drops what has expired by then, as Kafka's `openExisting` does.
    pub(crate) fn new(
        name: String,
        retention: Retention,
        segments: S,
        checkpoint: Checkpoint,
    ) -> StoreResult<Self> {
        let mut store = Segmented {
            name,
            retention,
            checkpoint,
            segments,
        };
        store.drop_expired()?;
        Ok(store)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn backend(&self) -> &S {
        &self.segments
    }

    pub(crate) fn backend_mut(&mut self) -> &mut S {
        &mut self.segments
    }

    pub(crate) fn observed_stream_time(&self) -> Option<i64> {
        self.checkpoint.stream_time
    }

    pub(crate) fn seqnum(&self) -> u32 {
        self.checkpoint.seqnum
    }

    /// The smallest timestamp a read may return.
    pub(crate) fn min_live(&self) -> i64 {
        self.retention.min_live(self.checkpoint.stream_time)
    }

    /// Number of segments that exist, for tests of the disk bound.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.ids(i64::MIN, i64::MAX).len()
    }

    /// Advances stream time to `timestamp`, then writes `key` into its segment unless
    /// `timestamp` has expired. `seqnum`, when given, becomes the checkpointed sequence
    /// number if the write happens. Returns whether it did.
    pub(crate) fn put(
        &mut self,
        timestamp: i64,
        key: &[u8],
        value: Option<&[u8]>,
        seqnum: Option<u32>,
    ) -> StoreResult<bool> {
        let before = self.checkpoint;
        self.observe(timestamp)?;
        let live = self.retention.is_live(timestamp, self.checkpoint.stream_time);
        if let (true, Some(seqnum)) = (live, seqnum) {
            self.checkpoint.seqnum = seqnum;
        }
        let changed = (self.checkpoint != before).then_some(self.checkpoint);
        let write = SegmentWrite {
            segment: self.retention.segment_id(timestamp),
            key,
            value,
        };
        let writes: &[SegmentWrite<'_>] = if live { &[write] } else { &[] };
        if !writes.is_empty() || changed.is_some() {
            self.segments.write(writes, changed)?;
        }
        Ok(live)
    }

    /// Whether each of a run of puts at `timestamps` would be live, put one after another:
    /// each advances stream time before its own check, as [`put`](Self::put) does.
    pub(crate) fn live_in_order(&self, timestamps: impl Iterator<Item = i64>) -> impl Iterator<Item = bool> {
        let retention = self.retention;
        let mut observed = self.checkpoint.stream_time;
        timestamps.map(move |timestamp| {
            observed = Some(observed.map_or(timestamp, |t| t.max(timestamp)));
            retention.is_live(timestamp, observed)
        })
    }

    /// Writes the puts [`live_in_order`](Self::live_in_order) found live, `(timestamp, store
    /// key, value)` in their order, in one write, leaving the store as the puts one after
    /// another would have: stream time ends at their latest timestamp (an expired put is
    /// never the latest), and a put whose segment expired by then is left out, as it would
    /// have been dropped with its segment. `seqnum`, when given, becomes the checkpointed
    /// sequence number.
    pub(crate) fn write_live(&mut self, writes: &[LiveWrite<'_>], seqnum: Option<u32>) -> StoreResult<()> {
        let before = self.checkpoint;
        if let Some(latest) = writes.iter().map(|(t, _, _)| *t).max() {
            self.observe(latest)?;
        }
        if let (Some(seqnum), false) = (seqnum, writes.is_empty()) {
            self.checkpoint.seqnum = seqnum;
        }
        let min_segment = self.retention.min_live_segment(self.checkpoint.stream_time);
        let writes: Vec<SegmentWrite<'_>> = writes
            .iter()
            .map(|(timestamp, key, value)| SegmentWrite {
                segment: self.retention.segment_id(*timestamp),
                key,
                value: *value,
            })
            .filter(|write| write.segment >= min_segment)
            .collect();
        let changed = (self.checkpoint != before).then_some(self.checkpoint);
        if !writes.is_empty() || changed.is_some() {
            self.segments.write(&writes, changed)?;
        }
        Ok(())
    }

    /// The value at `key` in `timestamp`'s segment, unless `timestamp` has expired.
    pub(crate) fn get(&self, timestamp: i64, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        if timestamp < self.min_live() {
            return Ok(None);
        }
        self.segments.get(self.retention.segment_id(timestamp), key)
    }

    /// Store keys within `lower..=upper` from the segments that can hold timestamps in
    /// `time_from..=time_to`, merged into one scan in store-key order. The caller filters
    /// by its key schema: bounds are bytes, and say nothing exact about time.
    pub(crate) fn scan(
        &self,
        time_from: i64,
        time_to: i64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        order: super::Order,
    ) -> StoreResult<KvIter<'_>> {
        let from = self.retention.segment_id(time_from.max(self.min_live()));
        let to = self.retention.segment_id(time_to);
        let forward = order.is_forward();
        let scans = self
            .segments
            .ids(from, to)
            .into_iter()
            .map(|id| self.segments.scan(id, lower, upper, forward))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(merge::merge(scans, forward))
    }

    /// Applies a batch of changelog records, `(timestamp, store key, value)`, as Kafka's
    /// `restoreAllInternal`: stream time first advances to the batch's largest timestamp, then
    /// the records that are live at that time are written in one atomic write. (Records that
    /// expire within the batch would have been invisible after the original puts too.)
    pub(crate) fn restore(&mut self, records: &[RestoreRecord<'_>], seqnum: Option<u32>) -> StoreResult<()> {
        let Some(latest) = records.iter().map(|(t, _, _)| *t).max() else {
            return Ok(());
        };
        let before = self.checkpoint;
        self.observe(latest)?;
        if let Some(seqnum) = seqnum {
            self.checkpoint.seqnum = seqnum;
        }
        let min_live = self.min_live();
        let writes: Vec<SegmentWrite<'_>> = records
            .iter()
            .filter(|(timestamp, _, _)| *timestamp >= min_live)
            .map(|(timestamp, key, value)| SegmentWrite {
                segment: self.retention.segment_id(*timestamp),
                key,
                value: *value,
            })
            .collect();
        let changed = (self.checkpoint != before).then_some(self.checkpoint);
        self.segments.write(&writes, changed)
    }

    pub(crate) fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.segments.approximate_num_entries()
    }

    pub(crate) fn flush(&mut self) -> StoreResult<()> {
        self.segments.flush()
    }

    /// Moves observed stream time up to `timestamp` and drops the segments that expire.
    fn observe(&mut self, timestamp: i64) -> StoreResult<()> {
        if self.checkpoint.stream_time.is_none_or(|t| t < timestamp) {
            self.checkpoint.stream_time = Some(timestamp);
            self.drop_expired()?;
        }
        Ok(())
    }

    fn drop_expired(&mut self) -> StoreResult<()> {
        self.segments
            .drop_below(self.retention.min_live_segment(self.checkpoint.stream_time))
    }
}

/// Keeps the entries of a raw scan that `f` maps to `Some`, as Kafka's `HasNextCondition`
/// skips the store keys that fall within the byte bounds but outside the query. An error,
/// from the scan or from `f`, is the last item.
pub(crate) fn filter_scan<'a, T: 'a>(
    raw: KvIter<'a>,
    f: impl FnMut(Vec<u8>, Vec<u8>) -> StoreResult<Option<T>> + 'a,
) -> Box<dyn Iterator<Item = StoreResult<T>> + 'a> {
    Box::new(FilterScan { raw, f, done: false })
}

struct FilterScan<'a, F> {
    raw: KvIter<'a>,
    f: F,
    done: bool,
}

impl<T, F: FnMut(Vec<u8>, Vec<u8>) -> StoreResult<Option<T>>> Iterator for FilterScan<'_, F> {
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let mapped = match self.raw.next()? {
                Ok((key, value)) => (self.f)(key, value),
                Err(e) => Err(e),
            };
            match mapped {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
