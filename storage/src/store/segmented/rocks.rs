//! RocksDB segments: one database per store in `dir/name/`, one column family per segment.
//!
//! ```text
//!   dir/name/                     one RocksDB database
//!   ├── column family "default"   the store's own entries: segment interval,
//!   │                             observed stream time, last sequence number
//!   ├── column family "segment.0"         timestamps [0, interval)
//!   ├── column family "segment.300000"    timestamps [300000, 600000)
//!   └── ...                       named by first timestamp, as Kafka names its segments
//! ```
//!
//! Kafka opens one RocksDB database per segment (`KeyValueSegment`, `dir/name/name.<start>`).
//! Column families give the same whole-segment drop (`drop_cf` releases the segment's files;
//! no key is deleted one by one, no range tombstone waits for compaction) and more: a restore
//! batch that spans segments is one atomic write, the store is one database under the memory
//! budget rather than one per segment, and with `atomic_flush` the segments and the store's
//! own entries reach disk together, so after a crash they agree.
//!
//! The own entries (stream time, sequence number) are written when the store flushes and when
//! it closes, and reach disk in the same atomic flush as the segments. A clean reopen thus
//! finds exactly what the store had. After a crash they are those of the last flush, which is
//! what the task's changelog checkpoint was taken after: the replay from that checkpoint
//! brings both up to date again, as it does the entries. (Writing them with every put kept
//! a memtable busy per store for a few bytes, which the memory budget felt.)
//!
//! A store reopened with another segment interval than it was created with is refused
//! ([`StoreError::SegmentIntervalChanged`]): its segments would cover the wrong times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rocksdb::perf::MemoryUsageBuilder;
use rocksdb::{
    BoundColumnFamily, ColumnFamilyDescriptor, DBRawIteratorWithThreadMode, DBWithThreadMode, FlushOptions,
    MultiThreaded, Options, ReadOptions, WriteBatch, WriteOptions, properties,
};

use super::{Checkpoint, SegmentWrite, Segments};
use crate::store::budget::{Member, Registration};
use crate::store::{KvIter, MemoryBudget, StoreError, StoreResult};

/// Column families are created and dropped through a shared reference while other threads
/// (the budget's relief) may flush them.
type Db = DBWithThreadMode<MultiThreaded>;

const DEFAULT_CF: &str = "default";
const SEGMENT_PREFIX: &str = "segment.";
const META_SEGMENT_INTERVAL: &[u8] = b"segment-interval";
const META_STREAM_TIME: &[u8] = b"observed-stream-time";
const META_SEQNUM: &[u8] = b"seqnum";

pub(crate) struct RocksSegments {
    name: String,
    path: PathBuf,
    interval: i64,
    budget: MemoryBudget,
    cf_options: Options,
    write_opts: WriteOptions,
    /// The checkpoint not yet written, if it changed since the last flush.
    unwritten: Option<Checkpoint>,
    /// Before `db`, so that it drops first (see `Registration`).
    _registration: Registration,
    db: Arc<SegmentDb>,
}

/// The database and the segments in it, shared with the memory budget, which may flush it.
struct SegmentDb {
    name: String,
    db: Db,
    /// Segment id to column family name. Held while a segment is created or dropped and while
    /// the budget flushes, so that a flush never meets a half-dropped segment.
    segments: Mutex<BTreeMap<i64, String>>,
}

impl SegmentDb {
    fn segments(&self) -> MutexGuard<'_, BTreeMap<i64, String>> {
        self.segments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cf(&self, name: &str) -> Option<Arc<BoundColumnFamily<'_>>> {
        self.db.cf_handle(name)
    }

    /// Flushes the store's own entries and every segment together (`atomic_flush`).
    fn flush_all(&self) -> Result<(), rocksdb::Error> {
        let segments = self.segments();
        let handles: Vec<_> = std::iter::once(DEFAULT_CF)
            .chain(segments.values().map(String::as_str))
            .filter_map(|name| self.cf(name))
            .collect();
        let refs: Vec<_> = handles.iter().collect();
        self.db.flush_cfs_opt(&refs, &FlushOptions::default())
    }
}

impl Member for SegmentDb {
    fn store_name(&self) -> &str {
        &self.name
    }

    fn add_to<'a>(&'a self, usage: &mut MemoryUsageBuilder<'a>) {
        usage.add_db(&self.db);
    }

    fn flush_memtables(&self) -> Result<(), rocksdb::Error> {
        self.flush_all()
    }
}

impl RocksSegments {
    /// Opens (creating if missing) the segmented store in `dir/name/`, rediscovering its
    /// segments and its checkpoint.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        interval: i64,
        budget: &MemoryBudget,
    ) -> StoreResult<(RocksSegments, Checkpoint)> {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let rocks = |op| {
            move |source| StoreError::Rocks {
                store: name.to_owned(),
                op,
                source,
            }
        };
        let mut db_options = budget.options();
        db_options.create_missing_column_families(true);
        db_options.set_atomic_flush(true);
        let cf_options = budget.options();
        let names = if path.join("CURRENT").exists() {
            Db::list_cf(&db_options, &path).map_err(rocks("list column families"))?
        } else {
            vec![DEFAULT_CF.to_owned()]
        };
        let mut starts = BTreeMap::new();
        for cf in names.iter().filter(|n| *n != DEFAULT_CF) {
            starts.insert(parse_segment_name(name, cf)?, cf.clone());
        }
        // The default family is listed explicitly: left out, the crate would open it with
        // default options, outside the budget.
        let descriptors = std::iter::once(DEFAULT_CF.to_owned())
            .chain(starts.values().cloned())
            .map(|cf| ColumnFamilyDescriptor::new(cf, cf_options.clone()));
        let db = Db::open_cf_descriptors(&db_options, &path, descriptors).map_err(rocks("open"))?;
        let mut write_opts = WriteOptions::default();
        write_opts.disable_wal(true);

        let meta = |key: &[u8]| db.get(key).map_err(rocks("read metadata"));
        match meta(META_SEGMENT_INTERVAL)? {
            Some(stored) => {
                let stored = be_i64(name, "segment interval", &stored)?;
                if stored != interval {
                    return Err(StoreError::SegmentIntervalChanged {
                        store: name.to_owned(),
                        stored,
                        configured: interval,
                    });
                }
            }
            None if !starts.is_empty() => {
                return Err(StoreError::CorruptMetadata {
                    store: name.to_owned(),
                    what: "segment interval",
                    detail: format!("missing, with {} segments present", starts.len()),
                });
            }
            None => db
                .put_opt(META_SEGMENT_INTERVAL, interval.to_be_bytes(), &write_opts)
                .map_err(rocks("write metadata"))?,
        }
        let mut segments = BTreeMap::new();
        for (start, cf) in starts {
            if start % interval != 0 {
                return Err(StoreError::CorruptMetadata {
                    store: name.to_owned(),
                    what: "segment name",
                    detail: format!("{cf} does not start on a multiple of the {interval} ms interval"),
                });
            }
            segments.insert(start / interval, cf);
        }
        let checkpoint = Checkpoint {
            stream_time: meta(META_STREAM_TIME)?
                .map(|bytes| be_i64(name, "observed stream time", &bytes))
                .transpose()?,
            seqnum: match meta(META_SEQNUM)? {
                Some(bytes) => u32::from_be_bytes(bytes.as_slice().try_into().map_err(|_| {
                    StoreError::CorruptMetadata {
                        store: name.to_owned(),
                        what: "sequence number",
                        detail: format!("{} bytes, not 4", bytes.len()),
                    }
                })?),
                None => 0,
            },
        };

        let db = Arc::new(SegmentDb {
            name: name.to_owned(),
            db,
            segments: Mutex::new(segments),
        });
        let member: Arc<dyn Member> = db.clone();
        let registration = budget.register(Arc::downgrade(&member));
        let segments = RocksSegments {
            name: name.to_owned(),
            path,
            interval,
            budget: budget.clone(),
            cf_options,
            write_opts,
            unwritten: None,
            _registration: registration,
            db,
        };
        budget.rebalance_soon();
        Ok((segments, checkpoint))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the checkpoint into the store's own entries if it changed. The next flush, or
    /// the close, takes it to disk with the segments.
    fn write_checkpoint(&mut self) -> StoreResult<()> {
        let Some(checkpoint) = self.unwritten else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        if let Some(stream_time) = checkpoint.stream_time {
            batch.put(META_STREAM_TIME, stream_time.to_be_bytes());
        }
        batch.put(META_SEQNUM, checkpoint.seqnum.to_be_bytes());
        self.db
            .db
            .write_opt(batch, &self.write_opts)
            .map_err(self.rocks("write metadata"))?;
        self.unwritten = None;
        Ok(())
    }

    /// The column family of a segment, created when `create` says so and it is missing.
    fn segment_cf(&self, id: i64, create: bool) -> StoreResult<Option<Arc<BoundColumnFamily<'_>>>> {
        let mut segments = self.db.segments();
        let name = match segments.get(&id) {
            Some(name) => name.clone(),
            None if !create => return Ok(None),
            None => {
                let name = format!("{SEGMENT_PREFIX}{}", id.saturating_mul(self.interval));
                self.db
                    .db
                    .create_cf(&name, &self.cf_options)
                    .map_err(self.rocks("create segment"))?;
                segments.insert(id, name.clone());
                name
            }
        };
        Ok(self.db.cf(&name))
    }

    fn rocks(&self, op: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError + '_ {
        move |source| StoreError::Rocks {
            store: self.name.clone(),
            op,
            source,
        }
    }
}

impl Segments for RocksSegments {
    fn persistent(&self) -> bool {
        true
    }

    fn ids(&self, from: i64, to: i64) -> Vec<i64> {
        if from > to {
            return Vec::new();
        }
        self.db.segments().range(from..=to).map(|(id, _)| *id).collect()
    }

    fn drop_below(&mut self, min_live: i64) -> StoreResult<()> {
        let mut segments = self.db.segments();
        while let Some(entry) = segments.first_entry() {
            if *entry.key() >= min_live {
                break;
            }
            self.db
                .db
                .drop_cf(entry.get())
                .map_err(self.rocks("drop segment"))?;
            entry.remove();
        }
        Ok(())
    }

    fn get(&self, segment: i64, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        match self.segment_cf(segment, false)? {
            Some(cf) => self.db.db.get_cf(&cf, key).map_err(self.rocks("get")),
            None => Ok(None),
        }
    }

    fn write(&mut self, writes: &[SegmentWrite<'_>], checkpoint: Option<Checkpoint>) -> StoreResult<()> {
        let mut batch = WriteBatch::default();
        // In segment and key order: RocksDB's memtable insert resumes its search where the
        // previous key went, so a sorted batch costs less than one in the caller's order (a
        // cache's eviction order). Stable, so a key written twice keeps its last write last.
        let mut sorted: Vec<&SegmentWrite<'_>> = writes.iter().collect();
        if sorted.len() > 1 {
            sorted.sort_by(|a, b| (a.segment, a.key).cmp(&(b.segment, b.key)));
        }
        // A restore batch touches a few segments many times: look each up once.
        let mut handles: Vec<(i64, Option<Arc<BoundColumnFamily<'_>>>)> = Vec::new();
        for write in sorted {
            let cf = match handles.iter().position(|(id, _)| *id == write.segment) {
                Some(i) if handles[i].1.is_some() || write.value.is_none() => handles[i].1.clone(),
                found => {
                    let cf = self.segment_cf(write.segment, write.value.is_some())?;
                    match found {
                        Some(i) => handles[i].1 = cf.clone(),
                        None => handles.push((write.segment, cf.clone())),
                    }
                    cf
                }
            };
            match (write.value, cf) {
                (Some(value), Some(cf)) => batch.put_cf(&cf, write.key, value),
                (None, Some(cf)) => batch.delete_cf(&cf, write.key),
                // A delete in a segment that does not exist: nothing to delete.
                (_, None) => {}
            }
        }
        drop(handles);
        if !batch.is_empty() {
            self.db
                .db
                .write_opt(batch, &self.write_opts)
                .map_err(self.rocks("write"))?;
            self.budget.relieve();
        }
        if checkpoint.is_some() {
            self.unwritten = checkpoint;
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
        let Some(cf) = self.segment_cf(segment, false)? else {
            return Ok(Box::new(std::iter::empty()));
        };
        if matches!((lower, upper), (Some(lower), Some(upper)) if lower > upper) {
            return Ok(Box::new(std::iter::empty()));
        }
        let mut opts = ReadOptions::default();
        if let Some(lower) = lower {
            opts.set_iterate_lower_bound(lower.to_vec());
        }
        if let Some(upper) = upper {
            // The upper bound is exclusive; `upper ++ [0]` is the smallest key above `upper`.
            let mut bound = Vec::with_capacity(upper.len() + 1);
            bound.extend_from_slice(upper);
            bound.push(0);
            opts.set_iterate_upper_bound(bound);
        }
        let mut raw = self.db.db.raw_iterator_cf_opt(&cf, opts);
        if forward {
            raw.seek_to_first();
        } else {
            raw.seek_to_last();
        }
        Ok(Box::new(RawScan {
            raw,
            forward,
            store: &self.name,
            done: false,
        }))
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        let names: Vec<String> = self.db.segments().values().cloned().collect();
        let mut total = 0u64;
        for name in names {
            if let Some(cf) = self.db.cf(&name) {
                let estimate = self
                    .db
                    .db
                    .property_int_value_cf(&cf, properties::ESTIMATE_NUM_KEYS)
                    .map_err(self.rocks("estimate entries"))?;
                total = total.saturating_add(estimate.unwrap_or(0));
            }
        }
        Ok(total)
    }

    /// Writes the memtables of every segment and of the store's own entries to SST files and
    /// waits: with the WAL off, this is what makes the writes so far survive a crash.
    fn flush(&mut self) -> StoreResult<()> {
        self.write_checkpoint()?;
        self.db.flush_all().map_err(self.rocks("flush"))?;
        self.budget.rebalance_soon();
        Ok(())
    }
}

impl Drop for RocksSegments {
    /// The database flushes its memtables when it closes, right after this; the checkpoint
    /// must be among them.
    fn drop(&mut self) {
        if let Err(error) = self.write_checkpoint() {
            tracing::error!(store = %self.name, %error, "writing the checkpoint at close failed; stream time restarts from the last flush");
        }
    }
}

impl std::fmt::Debug for RocksSegments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksSegments")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("interval", &self.interval)
            .field("segments", &self.db.segments().len())
            .finish()
    }
}

/// A scan of one segment, either direction. The `&self` borrow keeps writers out while it
/// lives, and RocksDB pins a consistent view for it anyway.
struct RawScan<'a> {
    raw: DBRawIteratorWithThreadMode<'a, Db>,
    forward: bool,
    store: &'a str,
    done: bool,
}

impl Iterator for RawScan<'_> {
    type Item = StoreResult<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some((key, value)) = self.raw.item() {
            let entry = (key.to_vec(), value.to_vec());
            if self.forward {
                self.raw.next();
            } else {
                self.raw.prev();
            }
            return Some(Ok(entry));
        }
        // An invalid iterator is either the end of the range or an I/O or corruption error.
        self.done = true;
        self.raw.status().err().map(|source| {
            Err(StoreError::Rocks {
                store: self.store.to_owned(),
                op: "scan",
                source,
            })
        })
    }
}

/// `segment.<first timestamp>`, as written by `segment_cf`.
fn parse_segment_name(store: &str, cf: &str) -> StoreResult<i64> {
    cf.strip_prefix(SEGMENT_PREFIX)
        .and_then(|start| start.parse::<i64>().ok())
        .ok_or_else(|| StoreError::CorruptMetadata {
            store: store.to_owned(),
            what: "column family",
            detail: format!("{cf:?} is neither the default family nor a segment"),
        })
}

fn be_i64(store: &str, what: &'static str, bytes: &[u8]) -> StoreResult<i64> {
    bytes
        .try_into()
        .map(i64::from_be_bytes)
        .map_err(|_| StoreError::CorruptMetadata {
            store: store.to_owned(),
            what,
            detail: format!("{} bytes, not 8", bytes.len()),
        })
}
