//! The write-back record cache that sits in front of a state store: Kafka Streams'
//! `NamedCache`, sized by `statestore.cache.max.bytes`.
//!
//! ```text
//!   processor ──put/get──► RecordCache ──evicted dirty entries, flush()──► store + changelog
//!                              │  miss                                      + downstream
//!                              ▼
//!                         store read ──put_clean──► RecordCache
//! ```
//!
//! Reads and writes hit memory. A write marks its entry dirty; further writes to the same key
//! overwrite it in place, so consecutive updates to one key are collapsed into a single record
//! before they reach the store, the changelog and downstream processors. Dirty entries leave the
//! cache in two ways, and in both the cache *hands them back* to the caller, which writes them
//! out: when the least-recently-used entry is evicted to stay within the byte budget, and when
//! the task commits and calls [`RecordCache::flush`]. The cache itself does no I/O.
//!
//! Kafka Streams keeps one cache per stream thread and shares it between the thread's stores;
//! here each store has its own `RecordCache` and the runtime divides the thread's budget among
//! them with [`RecordCache::set_max_bytes`]. A budget of 0 turns caching off: every write comes
//! straight back out (write-through).
//!
//! # Layout
//!
//! Point operations are O(1) expected, plus O(log n) in the number of cached entries when an
//! entry is added or removed; `get` does not allocate:
//!
//! * three slabs indexed alike hold the entries — a one-line hot node per slot (what a probe
//!   compares and a hit reads), the cold rest, and the timestamps and recency links; freed
//!   slots are chained into a free list and reused;
//! * `slots`, a hash table of slot numbers, finds a key's slot for `get`, `put` and
//!   `put_clean`: a probe compares the key's full hash, kept in the node, before its bytes,
//!   and hashes the key in one call (a `HashMap<Bytes, slot>` through `Hasher` set up a
//!   streaming hash state per lookup, and its bytes comparisons were a fifth of an
//!   aggregation's time);
//! * `ordered: BTreeMap<Bytes, slot>` holds the same keys in order, for range reads (see
//!   [`RecordCache::dirty_and_cached_in_range`]). It is touched only when a key enters or leaves
//!   the cache. Looking keys up in it instead of the hash map made a cache hit about 3 times slower
//!   (every B-tree comparison chases a key pointer to another cache line), and hits are the
//!   common case on an aggregation's per-record path;
//! * an intrusive doubly-linked list through the slots (indices, not pointers) orders all
//!   entries from most- to least-recently used, for O(1) touch and eviction;
//! * a second intrusive list links only the dirty entries, in the order of their last writes
//!   since the last flush (as Kafka's `NamedCache` orders its `dirtyKeys`), for O(1)
//!   mark/unmark and an O(dirty) flush with no stale entries to skip.

use std::collections::BTreeMap;
use std::fmt;
use std::mem;
use std::ops::Bound;

use bytes::{Bytes, BytesMut};

use hashbrown::HashTable;

/// Kafka Streams' default `statestore.cache.max.bytes`: 10 MiB.
pub const DEFAULT_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Bytes charged per entry on top of its key and value, so that the budget tracks real memory
/// even for tiny records: the slot (184 bytes on 64-bit targets: a 64-byte hot node with the
/// key's length and short copy, the value — kept there up to 22 bytes, see `Value` — and the
/// dirty flag; 96 cold bytes with the key handle and hash, the dirty links and the stored
/// value of a dirty entry; 24 bytes of timestamp and recency links), a slot number in the hash index
/// (8 bytes), a key handle and slot in the ordered index (40 bytes), and a share of the hash
/// table's spare capacity and the B-tree's node headers. Kafka charges a similar constant per
/// entry.
pub const ENTRY_OVERHEAD_BYTES: usize = 256;

/// The smallest budget that [`RecordCache`] evicts in runs: a run of 1/64 of it is then at least
/// 16 KiB, some 60 entries.
pub const EVICTION_RUN_MIN_BUDGET: usize = 1 << 20;

/// What the cache holds for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheValue {
    /// The value, or `None` for a deletion (a tombstone). A cached tombstone is an answer:
    /// the key is absent, and the store must not be asked.
    pub value: Option<Bytes>,
    /// Written since the last flush and not yet in the store or the changelog.
    pub dirty: bool,
}

/// A write that leaves the cache, by eviction or flush, and that the caller must now apply to
/// the store and the changelog and forward downstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyEntry {
    /// The key as written.
    pub key: Bytes,
    /// The latest value written for the key, or `None` for a deletion.
    pub value: Option<Bytes>,
    /// The timestamp of the record that wrote it (Kafka keeps the record context per entry).
    pub timestamp: i64,
}

/// What [`RecordCache::update_in_place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    /// The cached value was updated; nothing else is to be done.
    Done,
    /// Nothing: the key is not cached, or cached clean, as a tombstone or with a long value.
    /// Read and write it the usual way.
    Skipped,
    /// The update made a value of another length, or a null (`present: false`), which is
    /// not written in place: the caller writes it, from the buffer, with
    /// [`RecordCache::put_slice`]. The cache is unchanged.
    Write { present: bool },
}

/// End of a list, and "no slot".
const NIL: usize = usize::MAX;

/// One slab slot's hot part: what a probe compares (the key's length and short copy)
/// and what a hit reads and updates (the value, the dirty flag), in one cache line. A slot's
/// other fields live in two more slabs of the same length, [`Cold`] and [`Meta`].
///
/// A slot used to be one 192-byte node over three lines, and a hit read two of them plus a
/// line of each recency neighbour: with a vocabulary of 10 000 words, the nodes (1.9 MB) did
/// not fit a core's 1 MB L2, and the hash probe's misses were a tenth of a word count's time.
/// Now the hot slab is 64 bytes a slot, and the recency links and timestamps a hit writes sit
/// in a dense slab of 24 bytes a slot.
#[repr(C, align(64))]
struct Node {
    /// A short key's bytes, zero-padded (see [`ShortKey`]).
    short: ShortKey,
    value: Option<Value>,
    /// The key's length (see [`Node::holds`]).
    key_len: u32,
    /// Written since the last flush.
    dirty: bool,
}

/// A slot's fields that only entering, leaving, a flush and a write to a clean entry touch.
/// A free slot holds an empty key.
struct Cold {
    key: Bytes,
    /// The key's hash in [`RecordCache::slots`]: a probe need not compare it (the table's
    /// control bytes hold 7 bits of it, and the node's length and short key settle the rest),
    /// so it stays out of the hot node, for growing the table and removing the entry.
    hash: u64,
    /// Neighbours in the dirty list, meaningful only while dirty.
    dirty_prev: usize,
    dirty_next: usize,
    /// While dirty: what the store holds for the key, when known (the entry was clean, so
    /// equal to the store, before this write). A flush hands it out with the entry, sparing
    /// a table that forwards old values a store read per flushed entry.
    stored: Option<Option<Value>>,
}

/// A slot's recency links and timestamp: written by every hit and write. A free slot
/// chains the free list through `older`.
#[derive(Clone, Copy)]
struct Meta {
    /// The timestamp of the latest write.
    timestamp: i64,
    /// Neighbours in the recency list.
    newer: usize,
    older: usize,
}

/// A removed entry's value and state.
struct Entry {
    value: Option<Value>,
    dirty: bool,
}

/// Values up to this long are kept in the node itself (see [`Value`]).
const INLINE_MAX: usize = 22;

/// A cached value's bytes. Values of up to [`INLINE_MAX`] bytes (an aggregation's counter or
/// sum, a short string) live in the node: a hit then reads no other cache line, and an update
/// is a copy in place. Each of those values used to be a `Bytes` of its own, and the word
/// count's profile showed the miss on its separate buffer (in `I64Serde::deserialize`, 2.8 %)
/// and the `Bytes` → `BytesMut` → `Bytes` round trip of an in-place update (4.7 %). Longer
/// values stay shared `Bytes`, handed out without copying.
#[derive(Clone)]
enum Value {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Heap(Bytes),
}

impl Value {
    fn copy_of(value: &[u8]) -> Value {
        match u8::try_from(value.len()) {
            Ok(len) if value.len() <= INLINE_MAX => {
                let mut bytes = [0u8; INLINE_MAX];
                bytes[..value.len()].copy_from_slice(value);
                Value::Inline { len, bytes }
            }
            _ => Value::Heap(Bytes::copy_from_slice(value)),
        }
    }

    fn from_bytes(value: Bytes) -> Value {
        if value.len() <= INLINE_MAX {
            Value::copy_of(&value)
        } else {
            Value::Heap(value)
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Value::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Value::Heap(b) => b,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn to_bytes(&self) -> Bytes {
        match self {
            Value::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Value::Heap(b) => b.clone(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Value::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Value::Heap(b) => b,
        }
    }

    /// Replaces the bytes with `new`: in the node when they fit, else in the shared buffer
    /// when nothing else holds it and the length matches, else in a new buffer.
    fn set(&mut self, new: &[u8]) {
        if new.len() <= INLINE_MAX {
            if let Value::Inline { len, bytes } = self {
                bytes[..new.len()].copy_from_slice(new);
                *len = new.len() as u8;
            } else {
                *self = Value::copy_of(new);
            }
            return;
        }
        let old = mem::replace(
            self,
            Value::Inline {
                len: 0,
                bytes: [0; INLINE_MAX],
            },
        );
        *self = match old {
            Value::Heap(old) if old.len() == new.len() => match old.try_into_mut() {
                Ok(mut buf) => {
                    buf.copy_from_slice(new);
                    Value::Heap(buf.freeze())
                }
                Err(_) => Value::Heap(Bytes::copy_from_slice(new)),
            },
            _ => Value::Heap(Bytes::copy_from_slice(new)),
        };
    }
}

fn to_bytes(value: &Option<Value>) -> Option<Bytes> {
    value.as_ref().map(Value::to_bytes)
}

/// The write-back cache of one state store. See the [module docs](self).
///
/// ```
/// use bytes::Bytes;
/// use stream_dsl::state::cache::{DirtyEntry, RecordCache};
///
/// let mut cache = RecordCache::new(1024);
/// let key = Bytes::from_static(b"word");
/// for count in [1u8, 2, 3] {
///     assert!(cache.put(key.clone(), Some(Bytes::from(vec![count])), 7).is_empty());
/// }
/// // Three updates, one record downstream.
/// assert_eq!(cache.flush(), vec![DirtyEntry { key, value: Some(Bytes::from_static(&[3])), timestamp: 7 }]);
/// ```
pub struct RecordCache {
    max_bytes: usize,
    size_bytes: usize,
    /// Slots by their key's hash, for point reads and writes.
    slots: HashTable<usize>,
    /// The key hash's seed, random per cache: keys come from outside the process, and a
    /// fixed hash would let crafted keys collide (HashDoS).
    seed: u64,
    /// The same keys in order, for range reads.
    ordered: BTreeMap<Bytes, usize>,
    /// The slots' hot parts, cold parts and recency links, indexed alike.
    nodes: Vec<Node>,
    cold: Vec<Cold>,
    meta: Vec<Meta>,
    /// Head of the free-slot list.
    free: usize,
    /// Most- and least-recently used entries.
    newest: usize,
    oldest: usize,
    /// First- and last-dirtied entries since the last flush.
    first_dirty: usize,
    last_dirty: usize,
    dirty_len: usize,
    /// The slot of the last key looked up or added. An aggregation reads a key and then
    /// writes it: the write finds the slot by comparing one key it just touched instead of
    /// hashing and probing again (profiling showed the second probe's cache misses).
    last: usize,
}

impl RecordCache {
    /// An empty cache holding at most `max_bytes` of entries (see [`ENTRY_OVERHEAD_BYTES`]);
    /// 0 disables caching.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            size_bytes: 0,
            slots: HashTable::new(),
            seed: random_seed(),
            ordered: BTreeMap::new(),
            nodes: Vec::new(),
            cold: Vec::new(),
            meta: Vec::new(),
            free: NIL,
            newest: NIL,
            oldest: NIL,
            first_dirty: NIL,
            last_dirty: NIL,
            dirty_len: 0,
            last: NIL,
        }
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Changes the byte budget, evicting least-recently-used entries if the cache is now over
    /// it. Returns the evicted dirty entries, which the caller must write out.
    #[must_use = "evicted dirty entries must be written to the store, or their writes are lost"]
    pub fn set_max_bytes(&mut self, max_bytes: usize) -> Vec<DirtyEntry> {
        self.max_bytes = max_bytes;
        self.evict_over_budget()
    }

    /// Number of cached entries, dirty or clean, tombstones included.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Number of dirty entries, i.e. what the next [`flush`](Self::flush) would return.
    pub fn dirty_len(&self) -> usize {
        self.dirty_len
    }

    /// Bytes charged for the cached entries: for each, key length + value length +
    /// [`ENTRY_OVERHEAD_BYTES`]. Never more than [`max_bytes`](Self::max_bytes) between calls.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Looks `key` up and marks it most-recently used.
    ///
    /// `Some(Some(v))`: the value is `v`. `Some(None)`: the key is deleted, and the store must
    /// not be consulted (it may still hold the old value). `None`: not cached; the caller reads
    /// the store and may cache what it read with [`put_clean`](Self::put_clean).
    pub fn get(&mut self, key: &[u8]) -> Option<Option<Bytes>> {
        let slot = self.find(key)?;
        self.touch(slot);
        Some(to_bytes(&self.nodes[slot].value))
    }

    /// [`get`](Self::get) that lends the value's bytes instead of handing out a `Bytes`
    /// (which, for a value kept in the node, is a copy).
    pub fn read(&mut self, key: &[u8]) -> Option<Option<&[u8]>> {
        let slot = self.find(key)?;
        self.touch(slot);
        Some(self.nodes[slot].value.as_ref().map(Value::as_slice))
    }

    /// Looks `key` up without changing its recency.
    pub fn peek(&self, key: &[u8]) -> Option<CacheValue> {
        self.lookup(key).map(|slot| {
            let node = &self.nodes[slot];
            CacheValue {
                value: to_bytes(&node.value),
                dirty: node.dirty,
            }
        })
    }

    /// Writes `key` (`None` deletes it): the entry becomes dirty and most-recently used,
    /// replacing any earlier write to the key that has not left the cache yet.
    ///
    /// Returns the dirty entries evicted to stay within the budget, least-recently used first;
    /// the caller must write them out in that order. With a budget of 0, or for an entry larger
    /// than the whole budget, that includes this write itself.
    #[must_use = "evicted dirty entries must be written to the store, or their writes are lost"]
    pub fn put(&mut self, key: Bytes, value: Option<Bytes>, timestamp: i64) -> Vec<DirtyEntry> {
        if self.max_bytes == 0 {
            return vec![DirtyEntry {
                key,
                value,
                timestamp,
            }];
        }
        let slot = match self.find(&key) {
            Some(slot) => {
                self.remember_stored(slot);
                self.replace_value(slot, value);
                self.touch(slot);
                slot
            }
            None => self.insert(key, value),
        };
        self.meta[slot].timestamp = timestamp;
        self.mark_dirty(slot);
        self.evict_over_budget()
    }

    /// [`put`](Self::put) from borrowed bytes: the key is copied only if it is new to the
    /// cache, and the value goes into the entry's own buffer when that buffer is not shared
    /// and has the right length (an aggregation's counter, say). An aggregation writes every
    /// record this way without allocating.
    #[must_use = "evicted dirty entries must be written to the store, or their writes are lost"]
    pub fn put_slice(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Vec<DirtyEntry> {
        if self.max_bytes == 0 {
            return vec![DirtyEntry {
                key: Bytes::copy_from_slice(key),
                value: value.map(Bytes::copy_from_slice),
                timestamp,
            }];
        }
        let slot = match self.find(key) {
            Some(slot) => {
                self.remember_stored(slot);
                self.overwrite_value(slot, value);
                self.touch(slot);
                slot
            }
            None => self.insert_value(Bytes::copy_from_slice(key), value.map(Value::copy_of)),
        };
        self.meta[slot].timestamp = timestamp;
        self.mark_dirty(slot);
        self.evict_over_budget()
    }

    /// Read-modify-write of `key` in the cache alone, where that is the same as a
    /// [`put_slice`](Self::put_slice) of what `update` makes of the cached value: the key is
    /// cached dirty, with a value kept in the node, and `update` writes into `buf` a value of
    /// the same length (a counter or a fixed-width sum). The value is then overwritten in
    /// place, stamped `timestamp` and made most recently used; the cache's size is unchanged,
    /// so nothing is evicted. An aggregation's record costs one lookup this way instead of a
    /// read and a write (whose glue was a third of a word count's time in its store).
    ///
    /// `update` gets the cached bytes and writes the new value into `buf` (cleared first),
    /// returning whether there is one (`false`: a null, that is a delete). It is called at most
    /// once, and not at all when the result is [`InPlace::Skipped`].
    pub fn update_in_place<E>(
        &mut self,
        key: &[u8],
        timestamp: i64,
        buf: &mut BytesMut,
        update: impl FnOnce(&[u8], &mut BytesMut) -> Result<bool, E>,
    ) -> Result<InPlace, E> {
        let Some(slot) = self.find(key) else {
            return Ok(InPlace::Skipped);
        };
        let node = &mut self.nodes[slot];
        let (Some(Value::Inline { len, bytes }), true) = (&mut node.value, node.dirty) else {
            return Ok(InPlace::Skipped);
        };
        let old = &mut bytes[..usize::from(*len)];
        buf.clear();
        let present = update(old, buf)?;
        if !present || buf.len() != old.len() {
            return Ok(InPlace::Write { present });
        }
        old.copy_from_slice(buf);
        self.meta[slot].timestamp = timestamp;
        self.touch(slot);
        self.mark_dirty(slot);
        Ok(InPlace::Done)
    }

    /// Deletes `key`: the same as `put(key, None)`.
    #[must_use = "evicted dirty entries must be written to the store, or their writes are lost"]
    pub fn delete(&mut self, key: Bytes, timestamp: i64) -> Vec<DirtyEntry> {
        self.put(key, None, timestamp)
    }

    /// Caches `value` as read from the store for `key` (`None`: the store has no such key),
    /// as a clean, most-recently-used entry.
    ///
    /// If the key holds a dirty entry, that pending write is newer than anything in the store
    /// and is kept; only its recency changes. (Kafka throws here; a caller only reads the store
    /// after a cache miss, so this means a stale read, which must not win.)
    ///
    /// Returns evicted dirty entries, as [`put`](Self::put) does.
    #[must_use = "evicted dirty entries must be written to the store, or their writes are lost"]
    pub fn put_clean(&mut self, key: Bytes, value: Option<Bytes>) -> Vec<DirtyEntry> {
        if self.max_bytes == 0 {
            return Vec::new();
        }
        match self.find(&key) {
            Some(slot) => {
                if !self.nodes[slot].dirty {
                    self.replace_value(slot, value);
                }
                self.touch(slot);
            }
            None => {
                self.insert(key, value);
            }
        }
        self.evict_over_budget()
    }

    /// Returns every dirty entry, in the order of their last writes since the last flush,
    /// and marks them clean; they stay cached. Called on commit: the caller writes them to the
    /// store and the changelog and forwards them downstream.
    #[must_use = "flushed entries must be written to the store, or their writes are lost"]
    pub fn flush(&mut self) -> Vec<DirtyEntry> {
        self.flush_with_stored().into_iter().map(|(e, _)| e).collect()
    }

    /// [`flush`](Self::flush), each entry with what the store held for its key before the
    /// write, when the cache knows it (`None`: unknown, read the store). It knows it when the
    /// key was cached clean — read from the store, or flushed — before it was written.
    #[must_use = "flushed entries must be written to the store, or their writes are lost"]
    pub fn flush_with_stored(&mut self) -> Vec<(DirtyEntry, Option<Option<Bytes>>)> {
        let mut flushed = Vec::with_capacity(self.dirty_len);
        let mut slot = self.first_dirty;
        while slot != NIL {
            let node = &mut self.nodes[slot];
            node.dirty = false;
            let cold = &mut self.cold[slot];
            let entry = DirtyEntry {
                key: cold.key.clone(),
                value: to_bytes(&node.value),
                timestamp: self.meta[slot].timestamp,
            };
            flushed.push((entry, cold.stored.take().map(|v| v.map(Value::into_bytes))));
            slot = mem::replace(&mut cold.dirty_next, NIL);
            cold.dirty_prev = NIL;
        }
        self.first_dirty = NIL;
        self.last_dirty = NIL;
        self.dirty_len = 0;
        flushed
    }

    /// Drops every entry, dirty ones included, and releases the memory. For a task closed
    /// dirty: its uncommitted writes are abandoned and will be reprocessed from the input.
    pub fn clear(&mut self) {
        *self = Self::new(self.max_bytes);
    }

    /// Every cached entry with `from <= key <= to` (a `None` bound is open), in key order,
    /// tombstones included. A range read merges this over the store's range, the cache winning
    /// on equal keys and a tombstone hiding the store's entry. Does not change recency.
    pub fn dirty_and_cached_in_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Vec<(Bytes, Option<Bytes>)> {
        if let (Some(from), Some(to)) = (from, to) {
            // BTreeMap::range panics on an inverted range; Kafka's range returns nothing.
            if from > to {
                return Vec::new();
            }
        }
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        let upper = to.map_or(Bound::Unbounded, Bound::Included);
        self.ordered
            .range::<[u8], _>((lower, upper))
            .map(|(key, &slot)| (key.clone(), to_bytes(&self.nodes[slot].value)))
            .collect()
    }

    /// Evicts least-recently-used entries until the cache fits its budget. The entry just
    /// written is the newest, so it goes last, and only if it alone exceeds the budget.
    ///
    /// A budget of [`EVICTION_RUN_MIN_BUDGET`] or more is brought down by a run of 1/64 of it
    /// at once rather than by one entry per write (as Kafka's `NamedCache` evicts): the store
    /// then takes the run as one write, and the entries that leave together were mostly
    /// written together (one record's windows, one key's neighbours), so they insert into
    /// RocksDB next to each other. The cache is 1.6 % emptier on average; nothing else changes.
    fn evict_over_budget(&mut self) -> Vec<DirtyEntry> {
        let mut evicted = Vec::new();
        if self.size_bytes <= self.max_bytes {
            return evicted;
        }
        let target = if self.max_bytes >= EVICTION_RUN_MIN_BUDGET {
            self.max_bytes - self.max_bytes / 64
        } else {
            self.max_bytes
        };
        while self.size_bytes > target && self.oldest != NIL {
            if self.oldest == self.newest && self.size_bytes <= self.max_bytes {
                break;
            }
            let timestamp = self.meta[self.oldest].timestamp;
            let (key, entry) = self.remove(self.oldest);
            if entry.dirty {
                evicted.push(DirtyEntry {
                    key,
                    value: entry.value.map(Value::into_bytes),
                    timestamp,
                });
            }
        }
        evicted
    }

    /// The slot holding `key`, trying the last one used before the hash index.
    fn find(&mut self, key: &[u8]) -> Option<usize> {
        let short = ShortKey::of(key);
        // Compared through the node's short key, not its `Bytes`: the last key's buffer is
        // not otherwise touched by a cache hit, and reading it was a cache miss per record
        // (10 % of a word count, in `memcmp` and `Bytes::eq`).
        if self.last != NIL && self.holds(self.last, key, short) {
            return Some(self.last);
        }
        let slot = self.lookup_with(key, short)?;
        self.last = slot;
        Some(slot)
    }

    /// The slot holding `key`, from the hash index.
    fn lookup(&self, key: &[u8]) -> Option<usize> {
        self.lookup_with(key, ShortKey::of(key))
    }

    /// [`lookup`](Self::lookup) with `key`'s short form already made.
    fn lookup_with(&self, key: &[u8], short: Option<ShortKey>) -> Option<usize> {
        let hash = self.hash(key);
        self.slots
            .find(hash, |&slot| self.holds(slot, key, short))
            .copied()
    }

    /// Whether `slot` holds `key`, whose short form is `short`. A short key is compared in
    /// the hot node alone.
    fn holds(&self, slot: usize, key: &[u8], short: Option<ShortKey>) -> bool {
        let node = &self.nodes[slot];
        node.key_len == key_len(key)
            && match short {
                Some(short) => node.short == short,
                None => self.cold[slot].key == key,
            }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64_with_seed(key, self.seed)
    }

    /// Adds a new clean, most-recently-used entry for a key that is not cached.
    fn insert(&mut self, key: Bytes, value: Option<Bytes>) -> usize {
        self.insert_value(key, value.map(Value::from_bytes))
    }

    fn insert_value(&mut self, key: Bytes, value: Option<Value>) -> usize {
        self.size_bytes += charge(&key, value_len(&value));
        let hash = self.hash(&key);
        let node = Node {
            short: ShortKey::of(&key).unwrap_or_default(),
            value,
            key_len: key_len(&key),
            dirty: false,
        };
        let cold = Cold {
            key: key.clone(),
            hash,
            dirty_prev: NIL,
            dirty_next: NIL,
            stored: None,
        };
        let meta = Meta {
            timestamp: 0,
            newer: NIL,
            older: NIL,
        };
        let slot = if self.free == NIL {
            self.nodes.push(node);
            self.cold.push(cold);
            self.meta.push(meta);
            self.nodes.len() - 1
        } else {
            let slot = self.free;
            self.free = self.meta[slot].older;
            self.nodes[slot] = node;
            self.cold[slot] = cold;
            self.meta[slot] = meta;
            slot
        };
        let cold = &self.cold;
        self.slots.insert_unique(hash, slot, |&s| cold[s].hash);
        self.ordered.insert(key, slot);
        self.push_newest(slot);
        self.last = slot;
        slot
    }

    /// Takes an entry out of the cache and frees its slot.
    fn remove(&mut self, slot: usize) -> (Bytes, Entry) {
        if self.last == slot {
            self.last = NIL;
        }
        self.unlink_lru(slot);
        if self.nodes[slot].dirty {
            self.unlink_dirty(slot);
        }
        let node = &mut self.nodes[slot];
        let entry = Entry {
            value: node.value.take(),
            dirty: mem::replace(&mut node.dirty, false),
        };
        node.short = ShortKey::default();
        node.key_len = 0;
        let cold = &mut self.cold[slot];
        let hash = cold.hash;
        let key = mem::take(&mut cold.key);
        cold.stored = None;
        self.meta[slot].older = self.free;
        self.free = slot;
        if let Ok(found) = self.slots.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        self.ordered.remove(&key[..]);
        self.size_bytes -= charge(&key, value_len(&entry.value));
        (key, entry)
    }

    /// Before a write to `slot`: a clean entry's value is what the store holds, kept for
    /// the flush (see [`Cold::stored`]).
    fn remember_stored(&mut self, slot: usize) {
        let node = &self.nodes[slot];
        if !node.dirty {
            self.cold[slot].stored = Some(node.value.clone());
        }
    }

    fn replace_value(&mut self, slot: usize, value: Option<Bytes>) {
        let node = &mut self.nodes[slot];
        let value = value.map(Value::from_bytes);
        self.size_bytes = self.size_bytes - value_len(&node.value) + value_len(&value);
        node.value = value;
    }

    /// [`replace_value`](Self::replace_value) with borrowed bytes, in place where it can be
    /// (see [`Value::set`]).
    fn overwrite_value(&mut self, slot: usize, value: Option<&[u8]>) {
        let node = &mut self.nodes[slot];
        self.size_bytes = self.size_bytes - value_len(&node.value) + value.map_or(0, <[u8]>::len);
        match (&mut node.value, value) {
            (Some(old), Some(new)) => old.set(new),
            (old, new) => *old = new.map(Value::copy_of),
        }
    }

    /// Marks an entry dirty. An entry that is already dirty keeps its place in the flush order.
    /// Makes the entry dirty and the newest in the dirty list: a write to an already dirty entry
    /// moves it to the end, so that a flush hands entries out in the order of their last
    /// writes (Kafka's `NamedCache` re-adds the key to its `dirtyKeys`). A downstream processor
    /// then sees the updates in the order they happened: flushed in the order they first became
    /// dirty, a window updated late within its grace came after a newer window whose timestamp
    /// closed it, and a suppression emitted it before its last update.
    fn mark_dirty(&mut self, slot: usize) {
        if self.nodes[slot].dirty {
            if self.last_dirty == slot {
                return;
            }
            self.unlink_dirty(slot);
        } else {
            self.nodes[slot].dirty = true;
        }
        let cold = &mut self.cold[slot];
        cold.dirty_prev = self.last_dirty;
        cold.dirty_next = NIL;
        match self.last_dirty {
            NIL => self.first_dirty = slot,
            last => self.cold[last].dirty_next = slot,
        }
        self.last_dirty = slot;
        self.dirty_len += 1;
    }

    fn unlink_dirty(&mut self, slot: usize) {
        let Cold {
            dirty_prev: prev,
            dirty_next: next,
            ..
        } = self.cold[slot];
        match prev {
            NIL => self.first_dirty = next,
            prev => self.cold[prev].dirty_next = next,
        }
        match next {
            NIL => self.last_dirty = prev,
            next => self.cold[next].dirty_prev = prev,
        }
        self.dirty_len -= 1;
    }

    /// Marks an entry most-recently used.
    fn touch(&mut self, slot: usize) {
        if self.newest != slot {
            self.unlink_lru(slot);
            self.push_newest(slot);
        }
    }

    fn push_newest(&mut self, slot: usize) {
        let meta = &mut self.meta[slot];
        meta.newer = NIL;
        meta.older = self.newest;
        match self.newest {
            NIL => self.oldest = slot,
            newest => self.meta[newest].newer = slot,
        }
        self.newest = slot;
    }

    fn unlink_lru(&mut self, slot: usize) {
        let Meta { newer, older, .. } = self.meta[slot];
        match newer {
            NIL => self.newest = older,
            newer => self.meta[newer].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.meta[older].newer = newer,
        }
    }
}

/// A key's length as a node keeps it: saturated, so that a key of 4 GiB or more still
/// compares by its bytes (in [`RecordCache::holds`]) rather than passing for a shorter one.
fn key_len(key: &[u8]) -> u32 {
    u32::try_from(key.len()).unwrap_or(u32::MAX)
}

impl Default for RecordCache {
    /// A cache with Kafka's default budget, [`DEFAULT_MAX_BYTES`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

impl fmt::Debug for RecordCache {
    // A summary: a full cache holds megabytes of entries.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordCache")
            .field("len", &self.len())
            .field("dirty_len", &self.dirty_len)
            .field("size_bytes", &self.size_bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

/// A key of up to 16 bytes, zero-padded: compared in the node that holds it. Comparing a
/// short key through its `Bytes` read another cache line per lookup, and that miss was the
/// costliest part of a cache hit (7 % of a word count, attributed to `memcmp`). Only
/// meaningful together with the key's length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ShortKey([u8; 16]);

impl ShortKey {
    fn of(key: &[u8]) -> Option<ShortKey> {
        let mut bytes = [0u8; 16];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(ShortKey(bytes))
    }
}

fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

fn value_len(value: &Option<Value>) -> usize {
    value.as_ref().map_or(0, Value::len)
}

/// What an entry counts against the budget.
fn charge(key: &[u8], value_len: usize) -> usize {
    key.len() + value_len + ENTRY_OVERHEAD_BYTES
}

#[cfg(test)]
fn entry_size(key: &Bytes, value: &Option<Bytes>) -> usize {
    charge(key, value.as_ref().map_or(0, Bytes::len))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::hint::black_box;
    use std::time::Instant;

    use proptest::prelude::*;

    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn dirty(key: &str, value: Option<&str>) -> DirtyEntry {
        DirtyEntry {
            key: b(key),
            value: value.map(b),
            timestamp: 0,
        }
    }

    #[test]
    fn entries_leave_with_the_timestamp_of_their_latest_write() {
        let mut cache = RecordCache::new(budget_for_tiny_entries(2));
        assert!(cache.put(b("a"), Some(b("1")), 5).is_empty());
        assert!(cache.put(b("a"), Some(b("2")), 9).is_empty());
        assert!(cache.put(b("b"), Some(b("1")), 3).is_empty());
        // "a" is the least recently used: a third key evicts it with its latest timestamp.
        let evicted = cache.put(b("c"), Some(b("1")), 4);
        assert_eq!(evicted.len(), 1);
        assert_eq!(
            (evicted[0].value.clone(), evicted[0].timestamp),
            (Some(b("2")), 9)
        );
        let flushed: Vec<_> = cache.flush().into_iter().map(|e| (e.key, e.timestamp)).collect();
        assert_eq!(flushed, vec![(b("b"), 3), (b("c"), 4)]);
    }

    #[test]
    fn a_read_then_write_of_one_key_survives_eviction_of_the_remembered_slot() {
        // The slot remembered for read-then-write must not outlive its entry: after "a" is
        // evicted and its slot reused by "c", a write to "a" must not land on "c".
        let mut cache = RecordCache::new(budget_for_tiny_entries(2));
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        assert!(cache.get(b"a").is_some());
        assert!(cache.put(b("b"), Some(b("1")), 0).is_empty());
        assert_eq!(cache.put(b("c"), Some(b("1")), 0), vec![dirty("a", Some("1"))]);
        assert_eq!(cache.put(b("a"), Some(b("2")), 0), vec![dirty("b", Some("1"))]);
        assert_eq!(cache.get(b"c"), Some(Some(b("1"))));
        assert_eq!(cache.get(b"a"), Some(Some(b("2"))));
    }

    #[test]
    fn put_slice_overwrites_only_a_buffer_nothing_else_holds() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        // A value longer than a node holds lives in a shared buffer.
        let long = |n: u8| [n; INLINE_MAX + 10];
        assert!(cache.put_slice(b"k", Some(&long(1)), 0).is_empty());
        let first = cache.get(b"k").flatten().unwrap();
        let held = first.as_ptr();
        drop(first);
        // Unshared and the same length: the value is updated in its own buffer.
        assert!(cache.put_slice(b"k", Some(&long(2)), 0).is_empty());
        let second = cache.get(b"k").flatten().unwrap();
        assert_eq!(second.as_ptr(), held, "the buffer was reused");
        assert_eq!(&second[..], &long(2));
        // The entry is still dirty, and now a reader holds its value: a write must not change
        // what the reader sees.
        assert!(cache.put_slice(b"k", Some(&long(3)), 0).is_empty());
        assert_eq!(&second[..], &long(2));
        let third = Bytes::copy_from_slice(&long(3));
        assert_eq!(cache.get(b"k"), Some(Some(third.clone())));
        // Flushed, the value is held by the changelog record and by the entry's stored copy.
        let flushed = cache.flush();
        assert!(cache.put_slice(b"k", Some(&long(4)), 0).is_empty());
        assert_eq!(
            flushed,
            vec![DirtyEntry {
                key: b("k"),
                value: Some(third),
                timestamp: 0
            }]
        );
        // Short values (a counter) live in the node: what a reader got is its own copy.
        assert!(cache.put_slice(b"k", Some(&1u64.to_be_bytes()), 0).is_empty());
        let counter = cache.get(b"k").flatten().unwrap();
        assert!(cache.put_slice(b"k", Some(&2u64.to_be_bytes()), 0).is_empty());
        assert_eq!(&counter[..], &1u64.to_be_bytes());
        assert_eq!(cache.read(b"k"), Some(Some(&2u64.to_be_bytes()[..])));
        // Shorter, then longer again, within and past the node's room.
        assert!(cache.put_slice(b"k", Some(b"ab"), 0).is_empty());
        assert_eq!(cache.read(b"k"), Some(Some(&b"ab"[..])));
        assert!(cache.put_slice(b"k", Some(&long(5)), 0).is_empty());
        assert_eq!(cache.read(b"k"), Some(Some(&long(5)[..])));
        assert!(cache.put_slice(b"k", Some(b"xyz"), 0).is_empty());
        assert_eq!(cache.get(b"k"), Some(Some(b("xyz"))));
        // Another length, and a delete.
        assert!(cache.put_slice(b"k", Some(b"longer value"), 0).is_empty());
        assert_eq!(cache.get(b"k"), Some(Some(b("longer value"))));
        assert!(cache.put_slice(b"k", None, 0).is_empty());
        assert_eq!(cache.get(b"k"), Some(None));
        assert_eq!(cache.read(b"k"), Some(None));
        assert_eq!(cache.flush(), vec![dirty("k", None)]);
        assert_eq!(cache.size_bytes(), 1 + ENTRY_OVERHEAD_BYTES);
        // Write-through (budget 0) hands the write straight back, copied.
        let mut through = RecordCache::new(0);
        assert_eq!(
            through.put_slice(b"k", Some(b"v"), 0),
            vec![dirty("k", Some("v"))]
        );
    }

    #[test]
    fn an_update_in_place_moves_its_entry_behind_the_other_dirty_ones() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        let mut buf = BytesMut::new();
        let add_one = |old: &[u8], buf: &mut BytesMut| {
            let n = u64::from_be_bytes(old.try_into().map_err(|_| "not a u64")?);
            buf.extend_from_slice(&(n + 1).to_be_bytes());
            Ok::<bool, &str>(true)
        };
        for key in [b"a", b"b", b"c"] {
            assert!(cache.put_slice(key, Some(&0u64.to_be_bytes()), 1).is_empty());
        }
        assert_eq!(
            cache.update_in_place(b"a", 2, &mut buf, add_one),
            Ok(InPlace::Done)
        );
        assert_eq!(
            cache.update_in_place(b"b", 3, &mut buf, add_one),
            Ok(InPlace::Done)
        );
        let order: Vec<Bytes> = cache.flush().into_iter().map(|e| e.key).collect();
        assert_eq!(order, [b("c"), b("a"), b("b")]);
    }

    #[test]
    fn an_update_in_place_changes_only_a_dirty_short_value_of_the_same_length() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        let mut buf = BytesMut::new();
        let add_one = |old: &[u8], buf: &mut BytesMut| {
            let n = u64::from_be_bytes(old.try_into().map_err(|_| "not a u64")?);
            buf.extend_from_slice(&(n + 1).to_be_bytes());
            Ok::<bool, &str>(true)
        };
        // Not cached, then cached clean (as read from the store): skipped, update not called.
        let never = |_: &[u8], _: &mut BytesMut| -> Result<bool, &str> { panic!("called") };
        assert_eq!(
            cache.update_in_place(b"k", 1, &mut buf, never),
            Ok(InPlace::Skipped)
        );
        assert!(
            cache
                .put_clean(b("k"), Some(Bytes::copy_from_slice(&1u64.to_be_bytes())))
                .is_empty()
        );
        assert_eq!(
            cache.update_in_place(b"k", 1, &mut buf, never),
            Ok(InPlace::Skipped)
        );
        assert_eq!(cache.dirty_len(), 0);
        // Dirty: updated in place, stamped, still one dirty entry, same size.
        assert!(cache.put_slice(b"k", Some(&1u64.to_be_bytes()), 1).is_empty());
        let size = cache.size_bytes();
        for ts in [2, 3] {
            assert_eq!(
                cache.update_in_place(b"k", ts, &mut buf, add_one),
                Ok(InPlace::Done)
            );
        }
        assert_eq!(cache.size_bytes(), size);
        assert_eq!(cache.read(b"k"), Some(Some(&3u64.to_be_bytes()[..])));
        // The update's error comes back and changes nothing.
        assert!(cache.put_slice(b"bad", Some(b"xy"), 4).is_empty());
        assert_eq!(
            cache.update_in_place(b"bad", 5, &mut buf, add_one),
            Err("not a u64")
        );
        assert_eq!(cache.read(b"bad"), Some(Some(&b"xy"[..])));
        // Another length, or a null: handed back to be written, the cache unchanged.
        let longer = |_: &[u8], buf: &mut BytesMut| {
            buf.extend_from_slice(b"nine byte");
            Ok::<bool, &str>(true)
        };
        assert_eq!(
            cache.update_in_place(b"k", 6, &mut buf, longer),
            Ok(InPlace::Write { present: true })
        );
        assert_eq!(&buf[..], b"nine byte");
        let null = |_: &[u8], _: &mut BytesMut| Ok::<bool, &str>(false);
        assert_eq!(
            cache.update_in_place(b"k", 6, &mut buf, null),
            Ok(InPlace::Write { present: false })
        );
        assert_eq!(cache.read(b"k"), Some(Some(&3u64.to_be_bytes()[..])));
        // What leaves the cache is the last update, with its timestamp.
        let flushed = cache.flush();
        assert_eq!(
            flushed[0],
            DirtyEntry {
                key: b("k"),
                value: Some(Bytes::copy_from_slice(&3u64.to_be_bytes())),
                timestamp: 3
            }
        );
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_slot_is_the_size_its_charge_says() {
        // What a probe compares and a hit reads and writes: one cache line.
        assert_eq!(mem::size_of::<Node>(), 64);
        assert_eq!(mem::size_of::<Cold>(), 96);
        assert_eq!(mem::size_of::<Meta>(), 24);
    }

    #[test]
    fn keys_that_pad_alike_or_share_a_prefix_stay_apart() {
        // "a" and "a\0" are the same zero-padded short key: only their lengths differ.
        let keys: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"a\0".to_vec(),
            vec![b'k'; 16],
            vec![b'k'; 17],
            [vec![b'k'; 16], b"x".to_vec()].concat(),
            vec![b'k'; 40],
        ];
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        for (i, key) in keys.iter().enumerate() {
            assert!(cache.put_slice(key, Some(&[i as u8]), 0).is_empty());
        }
        assert_eq!(cache.len(), keys.len());
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                cache.get(key),
                Some(Some(Bytes::copy_from_slice(&[i as u8]))),
                "{key:?}"
            );
        }
        assert_eq!(cache.get(b"kk"), None);
        assert_eq!(cache.get(&[b'k'; 41]), None);
    }

    /// Budget for exactly `n` entries whose key and value are one byte each.
    fn budget_for_tiny_entries(n: usize) -> usize {
        n * (2 + ENTRY_OVERHEAD_BYTES)
    }

    #[test]
    fn consecutive_updates_collapse_into_one_dirty_entry() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        for v in ["1", "2", "3"] {
            assert!(cache.put(b("k"), Some(b(v)), 0).is_empty());
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.dirty_len(), 1);
        assert_eq!(cache.get(b"k"), Some(Some(b("3"))));
        assert_eq!(cache.flush(), vec![dirty("k", Some("3"))]);
        assert!(
            cache.flush().is_empty(),
            "a second flush has nothing new to write"
        );
    }

    #[test]
    fn flush_returns_dirty_in_last_written_order_and_leaves_them_cached() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert!(cache.put(b("c"), Some(b("1")), 0).is_empty());
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        assert!(cache.put_clean(b("x"), Some(b("from-store"))).is_empty());
        assert!(cache.put(b("b"), Some(b("1")), 0).is_empty());
        // Updating "c" again does not duplicate it, and moves it behind "a" and "b": its last
        // write is the newest (Kafka's order).
        assert!(cache.put(b("c"), Some(b("2")), 0).is_empty());

        assert_eq!(
            cache.flush(),
            vec![
                dirty("a", Some("1")),
                dirty("b", Some("1")),
                dirty("c", Some("2"))
            ]
        );
        assert_eq!(cache.len(), 4);
        assert_eq!(cache.dirty_len(), 0);
        assert_eq!(
            cache.peek(b"c"),
            Some(CacheValue {
                value: Some(b("2")),
                dirty: false
            })
        );

        // After a flush the order starts over.
        assert!(cache.put(b("b"), Some(b("2")), 0).is_empty());
        assert!(cache.put(b("a"), Some(b("2")), 0).is_empty());
        assert_eq!(cache.flush(), vec![dirty("b", Some("2")), dirty("a", Some("2"))]);
    }

    #[test]
    fn a_large_budget_is_brought_down_by_a_run_of_a_64th_and_a_small_one_entry_by_entry() {
        let fill = |cache: &mut RecordCache| {
            let mut i = 0u32;
            while cache.size_bytes() + ENTRY_OVERHEAD_BYTES + 8 <= cache.max_bytes() {
                assert!(
                    cache
                        .put(Bytes::from(i.to_be_bytes().to_vec()), Some(b("v")), 0)
                        .is_empty()
                );
                i += 1;
            }
            i
        };
        let mut large = RecordCache::new(EVICTION_RUN_MIN_BUDGET);
        let held = fill(&mut large);
        let run = large.put(b("over"), Some(b("v")), 0);
        assert!(run.len() > 30, "a run of {} entries", run.len());
        assert!(large.size_bytes() <= EVICTION_RUN_MIN_BUDGET - EVICTION_RUN_MIN_BUDGET / 64);
        let oldest: Vec<Bytes> = (0..run.len() as u32)
            .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
            .collect();
        assert_eq!(
            run.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
            oldest,
            "oldest first"
        );
        assert_eq!(large.len() as u32, held + 1 - run.len() as u32);

        let small_budget = EVICTION_RUN_MIN_BUDGET - 1;
        let mut small = RecordCache::new(small_budget);
        fill(&mut small);
        assert_eq!(
            small.put(b("over"), Some(b("v")), 0).len(),
            1,
            "one entry makes room"
        );
    }

    #[test]
    fn eviction_returns_dirty_lru_entries_and_drops_clean_ones() {
        let mut cache = RecordCache::new(budget_for_tiny_entries(4));
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        assert!(cache.put_clean(b("b"), Some(b("1"))).is_empty());
        assert!(cache.put(b("c"), Some(b("1")), 0).is_empty());
        assert!(cache.put(b("d"), Some(b("1")), 0).is_empty());
        // Reading "a" makes it the most recently used: "b" (clean) and then "c" (dirty) go first.
        assert_eq!(cache.get(b"a"), Some(Some(b("1"))));

        assert_eq!(
            cache.put(b("e"), Some(b("1")), 0),
            Vec::<DirtyEntry>::new(),
            "clean b dropped"
        );
        assert_eq!(cache.get(b"b"), None);
        assert_eq!(cache.put(b("f"), Some(b("1")), 0), vec![dirty("c", Some("1"))]);
        assert_eq!(cache.get(b"c"), None);

        // A larger budget cut to one entry evicts the rest, oldest first.
        assert_eq!(
            cache.set_max_bytes(budget_for_tiny_entries(1)),
            vec![
                dirty("d", Some("1")),
                dirty("a", Some("1")),
                dirty("e", Some("1"))
            ]
        );
        assert_eq!(cache.len(), 1);
        // Evicted entries are no longer dirty: flush has only what is left.
        assert_eq!(cache.flush(), vec![dirty("f", Some("1"))]);
    }

    #[test]
    fn deletion_is_cached_as_tombstone() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert!(cache.put_clean(b("k"), Some(b("old"))).is_empty());
        assert!(cache.delete(b("k"), 0).is_empty());
        assert_eq!(cache.get(b"k"), Some(None), "a cached deletion, not a miss");
        assert_eq!(cache.dirty_and_cached_in_range(None, None), vec![(b("k"), None)]);
        assert_eq!(cache.flush(), vec![dirty("k", None)]);
        assert_eq!(
            cache.get(b"k"),
            Some(None),
            "still known to be absent after the flush"
        );
    }

    #[test]
    fn zero_budget_is_write_through() {
        let mut cache = RecordCache::new(0);
        assert_eq!(cache.put(b("k"), Some(b("1")), 0), vec![dirty("k", Some("1"))]);
        assert_eq!(cache.delete(b("k"), 0), vec![dirty("k", None)]);
        assert!(cache.put_clean(b("k"), Some(b("1"))).is_empty());
        assert!(cache.is_empty());
        assert_eq!(cache.get(b"k"), None);
        assert!(cache.flush().is_empty());

        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        assert_eq!(
            cache.set_max_bytes(0),
            vec![dirty("a", Some("1"))],
            "disabling writes out"
        );
        assert_eq!(cache.put(b("b"), Some(b("1")), 0), vec![dirty("b", Some("1"))]);
    }

    #[test]
    fn entry_larger_than_the_budget_is_written_through() {
        let mut cache = RecordCache::new(budget_for_tiny_entries(2));
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        let big = "x".repeat(budget_for_tiny_entries(2));
        assert_eq!(
            cache.put(b("big"), Some(b(&big)), 0),
            vec![dirty("a", Some("1")), dirty("big", Some(&big))]
        );
        assert!(cache.is_empty());
        assert_eq!(cache.size_bytes(), 0);
    }

    #[test]
    fn size_counts_key_value_and_a_fixed_overhead_per_entry() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert_eq!(cache.size_bytes(), 0);
        assert!(cache.put(b("key"), Some(b("value")), 0).is_empty());
        assert_eq!(cache.size_bytes(), 3 + 5 + ENTRY_OVERHEAD_BYTES);
        assert!(cache.put(b("key"), Some(b("v")), 0).is_empty());
        assert_eq!(
            cache.size_bytes(),
            3 + 1 + ENTRY_OVERHEAD_BYTES,
            "overwrite replaces"
        );
        assert!(cache.delete(b("key"), 0).is_empty());
        assert_eq!(
            cache.size_bytes(),
            3 + ENTRY_OVERHEAD_BYTES,
            "a tombstone is key + overhead"
        );
        assert!(cache.put_clean(b("k2"), Some(b("vv"))).is_empty());
        assert_eq!(cache.size_bytes(), 3 + 2 + 2 + 2 * ENTRY_OVERHEAD_BYTES);
        assert!(!cache.flush().is_empty());
        assert_eq!(
            cache.size_bytes(),
            3 + 2 + 2 + 2 * ENTRY_OVERHEAD_BYTES,
            "flush keeps entries"
        );
        assert_eq!(cache.set_max_bytes(2 + 2 + ENTRY_OVERHEAD_BYTES), Vec::new());
        assert_eq!(
            cache.size_bytes(),
            2 + 2 + ENTRY_OVERHEAD_BYTES,
            "evicted entry uncharged"
        );
        cache.clear();
        assert_eq!((cache.size_bytes(), cache.len()), (0, 0));
    }

    #[test]
    fn entry_overhead_covers_the_node_and_both_index_slots() {
        assert!(
            mem::size_of::<Node>()
                + mem::size_of::<Cold>()
                + mem::size_of::<Meta>()
                + mem::size_of::<usize>()
                + mem::size_of::<(Bytes, usize)>()
                <= ENTRY_OVERHEAD_BYTES
        );
    }

    #[test]
    fn store_read_never_overwrites_a_pending_write() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert!(cache.put(b("k"), Some(b("new")), 0).is_empty());
        assert!(cache.put_clean(b("k"), Some(b("stale"))).is_empty());
        assert_eq!(
            cache.peek(b"k"),
            Some(CacheValue {
                value: Some(b("new")),
                dirty: true
            })
        );
        assert_eq!(cache.flush(), vec![dirty("k", Some("new"))]);
    }

    #[test]
    fn range_returns_cached_entries_in_key_order_within_inclusive_bounds() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        for key in ["d", "b", "a", "c", "e"] {
            assert!(cache.put(b(key), Some(b(key)), 0).is_empty());
        }
        assert!(cache.delete(b("c"), 0).is_empty());
        let keys = |from: Option<&str>, to: Option<&str>| -> Vec<(Bytes, Option<Bytes>)> {
            cache.dirty_and_cached_in_range(from.map(str::as_bytes), to.map(str::as_bytes))
        };
        assert_eq!(
            keys(Some("b"), Some("d")),
            vec![(b("b"), Some(b("b"))), (b("c"), None), (b("d"), Some(b("d")))]
        );
        assert_eq!(keys(None, Some("a")), vec![(b("a"), Some(b("a")))]);
        assert_eq!(keys(Some("e"), None), vec![(b("e"), Some(b("e")))]);
        assert_eq!(keys(None, None).len(), 5);
        assert!(
            keys(Some("d"), Some("b")).is_empty(),
            "an inverted range is empty, not a panic"
        );
    }

    #[test]
    fn a_flush_knows_the_stored_value_of_entries_that_were_clean_before_their_write() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        // Read from the store, then written twice: the store still holds what was read.
        assert!(cache.put_clean(b("read"), Some(b("s0"))).is_empty());
        assert!(cache.put(b("read"), Some(b("v1")), 0).is_empty());
        assert!(cache.put(b("read"), Some(b("v2")), 0).is_empty());
        // Read as absent from the store.
        assert!(cache.put_clean(b("absent"), None).is_empty());
        assert!(cache.put(b("absent"), Some(b("v")), 0).is_empty());
        // Never read: the cache cannot know.
        assert!(cache.put(b("blind"), Some(b("v")), 0).is_empty());
        let stored = |flushed: Vec<(DirtyEntry, Option<Option<Bytes>>)>| {
            flushed.into_iter().map(|(e, s)| (e.key, s)).collect::<Vec<_>>()
        };
        assert_eq!(
            stored(cache.flush_with_stored()),
            [
                (b("read"), Some(Some(b("s0")))),
                (b("absent"), Some(None)),
                (b("blind"), None)
            ]
        );
        // After the flush the store holds the flushed values, and the next flush says so.
        assert!(cache.put(b("blind"), None, 0).is_empty());
        assert!(cache.put(b("read"), Some(b("v3")), 0).is_empty());
        assert_eq!(
            stored(cache.flush_with_stored()),
            [(b("blind"), Some(Some(b("v")))), (b("read"), Some(Some(b("v2"))))]
        );
    }

    #[test]
    fn clear_abandons_dirty_entries() {
        let mut cache = RecordCache::new(DEFAULT_MAX_BYTES);
        assert!(cache.put(b("a"), Some(b("1")), 0).is_empty());
        cache.clear();
        assert!(cache.is_empty());
        assert!(cache.flush().is_empty());
        assert_eq!(cache.max_bytes(), DEFAULT_MAX_BYTES, "the budget survives");
        assert!(cache.put(b("a"), Some(b("2")), 0).is_empty());
        assert_eq!(cache.flush(), vec![dirty("a", Some("2"))]);
    }

    // ---- Model check ----

    const KEYS: [&str; 10] = [
        "a",
        "b",
        "cc",
        "ddd",
        "e",
        "ffff",
        "g",
        "hh",
        "long key sharing 16+",
        "long key sharing 16-",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        /// Key index, value length (`None`: delete), and whether through
        /// [`RecordCache::put_slice`] (which may overwrite the entry's buffer in place).
        Put(usize, Option<usize>, bool),
        /// A read-modify-write as an aggregation does it: [`RecordCache::update_in_place`],
        /// and where that declines, a [`RecordCache::put_slice`]. Key index, new value length
        /// (`None`: delete).
        Update(usize, Option<usize>),
        /// Cache what the store holds for the key, as a read after a miss would.
        PutClean(usize),
        Get(usize),
        Flush,
        SetMaxBytes(usize),
        Range(Option<usize>, Option<usize>),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0..KEYS.len();
        prop_oneof![
            6 => (key.clone(), prop::option::weighted(0.8, 0usize..4), any::<bool>())
                .prop_map(|(k, v, slice)| Op::Put(k, v.map(|v| v * 16), slice)),
            4 => (key.clone(), prop::option::weighted(0.9, prop_oneof![3 => Just(0usize), 1 => Just(16usize)]))
                .prop_map(|(k, v)| Op::Update(k, v)),
            2 => key.clone().prop_map(Op::PutClean),
            4 => key.clone().prop_map(Op::Get),
            1 => Just(Op::Flush),
            1 => (0usize..1000).prop_map(Op::SetMaxBytes),
            1 => (prop::option::of(key.clone()), prop::option::of(key)).prop_map(|(f, t)| Op::Range(f, t)),
            1 => Just(Op::Clear),
        ]
    }

    /// What the cache should be equivalent to: the latest write of each key, the store the
    /// caller maintains from what the cache hands back, and which keys have writes not yet
    /// handed back.
    #[derive(Default)]
    struct Model {
        latest: BTreeMap<Bytes, Bytes>,
        store: BTreeMap<Bytes, Bytes>,
        pending: BTreeSet<Bytes>,
    }

    impl Model {
        fn write_out(&mut self, entries: Vec<DirtyEntry>) -> Result<(), TestCaseError> {
            for DirtyEntry { key, value, .. } in entries {
                prop_assert!(
                    self.pending.remove(&key),
                    "{key:?} written out twice or never written"
                );
                prop_assert_eq!(&value, &self.latest.get(&key).cloned(), "not the latest write");
                match value {
                    Some(value) => self.store.insert(key, value),
                    None => self.store.remove(&key),
                };
            }
            Ok(())
        }
    }

    fn check_invariants(cache: &RecordCache, model: &Model) -> Result<(), TestCaseError> {
        prop_assert!(cache.size_bytes() <= cache.max_bytes());
        let cached = cache.dirty_and_cached_in_range(None, None);
        let size: usize = cached.iter().map(|(k, v)| entry_size(k, v)).sum();
        prop_assert_eq!(cache.size_bytes(), size);
        prop_assert_eq!(cache.len(), cached.len());
        prop_assert_eq!(cache.dirty_len(), model.pending.len());
        for (key, value) in &cached {
            let entry = cache.peek(key);
            prop_assert_eq!(entry.map(|e| e.dirty), Some(model.pending.contains(key)));
            prop_assert_eq!(value, &model.latest.get(key).cloned(), "cached value is stale");
        }
        Ok(())
    }

    fn run_against_model(ops: Vec<Op>, budget: usize) -> Result<(), TestCaseError> {
        let mut cache = RecordCache::new(budget);
        let mut model = Model::default();
        let mut writes = 0u64;
        for op in ops {
            match op {
                Op::Put(k, value_len, slice) => {
                    let key = b(KEYS[k]);
                    // Values are unique, so a reordered or resurrected write cannot pass as current.
                    let value = value_len.map(|len| {
                        writes += 1;
                        let mut v = writes.to_be_bytes().to_vec();
                        v.resize(8 + len, b'v');
                        Bytes::from(v)
                    });
                    match &value {
                        Some(v) => model.latest.insert(key.clone(), v.clone()),
                        None => model.latest.remove(&key),
                    };
                    model.pending.insert(key.clone());
                    let evicted = if slice {
                        // The model keeps its own copy: the cache's buffer is then unshared,
                        // and an in-place overwrite of a buffer the model still holds (a
                        // flushed value) would show as a changed store.
                        let value = value.map(|v| v.to_vec());
                        if let Some(v) = &value {
                            model.latest.insert(key.clone(), Bytes::copy_from_slice(v));
                        }
                        cache.put_slice(&key, value.as_deref(), 0)
                    } else {
                        cache.put(key, value, 0)
                    };
                    model.write_out(evicted)?;
                }
                Op::Update(k, value_len) => {
                    let key = b(KEYS[k]);
                    let value = value_len.map(|len| {
                        writes += 1;
                        let mut v = writes.to_be_bytes().to_vec();
                        v.resize(8 + len, b'v');
                        v
                    });
                    let latest = model.latest.get(&key).cloned();
                    let mut buf = BytesMut::from(&b"stale"[..]);
                    let mut seen = None;
                    let done = cache
                        .update_in_place(&key, 0, &mut buf, |old, buf| {
                            seen = Some(Bytes::copy_from_slice(old));
                            buf.extend_from_slice(value.as_deref().unwrap_or_default());
                            Ok::<bool, ()>(value.is_some())
                        })
                        .unwrap();
                    if seen.is_some() {
                        prop_assert_eq!(&seen, &latest, "the update saw another value than the latest");
                        prop_assert!(model.pending.contains(&key), "updated a clean entry in place");
                    }
                    let evicted = match done {
                        InPlace::Done => {
                            let same_len = value.as_ref().map(Vec::len) == latest.as_ref().map(Bytes::len);
                            prop_assert!(same_len, "in place with another length");
                            Vec::new()
                        }
                        InPlace::Skipped => {
                            prop_assert!(seen.is_none(), "skipped after calling the update");
                            cache.put_slice(&key, value.as_deref(), 0)
                        }
                        InPlace::Write { present } => {
                            prop_assert_eq!(present, value.is_some());
                            prop_assert_eq!(&buf[..], value.as_deref().unwrap_or_default());
                            cache.put_slice(&key, present.then_some(&buf[..]), 0)
                        }
                    };
                    match &value {
                        Some(v) => model.latest.insert(key.clone(), Bytes::copy_from_slice(v)),
                        None => model.latest.remove(&key),
                    };
                    model.pending.insert(key);
                    model.write_out(evicted)?;
                }
                Op::PutClean(k) => {
                    let key = b(KEYS[k]);
                    let read = model.store.get(&key).cloned();
                    let evicted = cache.put_clean(key, read);
                    model.write_out(evicted)?;
                }
                Op::Get(k) => {
                    let key = b(KEYS[k]);
                    let latest = model.latest.get(&key).cloned();
                    match cache.get(&key) {
                        Some(cached) => prop_assert_eq!(cached, latest),
                        None => {
                            prop_assert!(!model.pending.contains(&key), "a pending write is lost");
                            prop_assert_eq!(model.store.get(&key).cloned(), latest);
                        }
                    }
                }
                Op::Flush => {
                    let flushed = cache.flush();
                    model.write_out(flushed)?;
                }
                Op::SetMaxBytes(max) => {
                    let evicted = cache.set_max_bytes(max);
                    model.write_out(evicted)?;
                }
                Op::Range(from, to) => {
                    let (from, to) = (from.map(|i| KEYS[i].as_bytes()), to.map(|i| KEYS[i].as_bytes()));
                    let in_range = |k: &[u8]| from.is_none_or(|f| f <= k) && to.is_none_or(|t| k <= t);
                    let cached = cache.dirty_and_cached_in_range(from, to);
                    prop_assert!(cached.windows(2).all(|w| w[0].0 < w[1].0), "not in key order");
                    // The store wrapper's merge: cache wins, a tombstone hides the store's entry.
                    let mut merged: BTreeMap<Bytes, Bytes> = model
                        .store
                        .iter()
                        .filter(|(k, _)| in_range(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    for (key, value) in cached {
                        prop_assert!(in_range(&key));
                        match value {
                            Some(value) => merged.insert(key, value),
                            None => merged.remove(&key),
                        };
                    }
                    let expected: BTreeMap<Bytes, Bytes> = model
                        .latest
                        .iter()
                        .filter(|(k, _)| in_range(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    prop_assert_eq!(merged, expected);
                }
                Op::Clear => {
                    // Uncommitted writes are abandoned: the truth falls back to the store.
                    cache.clear();
                    model.latest = model.store.clone();
                    model.pending.clear();
                }
            }
            check_invariants(&cache, &model)?;
        }
        let flushed = cache.flush();
        model.write_out(flushed)?;
        prop_assert_eq!(&model.store, &model.latest, "a write was lost");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn cache_is_equivalent_to_a_write_through_model(
            ops in prop::collection::vec(op(), 1..200),
            budget in prop_oneof![Just(0usize), 0usize..1000],
        ) {
            run_against_model(ops, budget)?;
        }
    }

    // ---- Micro-benchmark ----

    #[test]
    #[ignore = "micro-benchmark: cargo test --release -- --ignored --nocapture"]
    fn put_throughput_micro_benchmark() {
        const OPS: usize = 1_000_000;
        const KEYS: usize = 10_000;
        let keys: Vec<Bytes> = (0..KEYS as u64)
            .map(|i| Bytes::from(format!("key-{i:012}")))
            .collect();
        let values: Vec<Bytes> = (0..256u64)
            .map(|i| Bytes::from(i.to_be_bytes().to_vec()))
            .collect();
        // xorshift: random keys, no dependency on rand.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let picks: Vec<usize> = (0..OPS)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % KEYS as u64) as usize
            })
            .collect();

        let run = |name: &str, max_bytes: usize| {
            let mut cache = RecordCache::new(max_bytes);
            let mut written_out = 0usize;
            let start = Instant::now();
            for (i, &k) in picks.iter().enumerate() {
                let evicted = cache.put(keys[k].clone(), Some(values[i % values.len()].clone()), 0);
                written_out += black_box(evicted).len();
            }
            written_out += black_box(cache.flush()).len();
            let elapsed = start.elapsed();
            let rate = OPS as f64 / elapsed.as_secs_f64();
            println!(
                "{name}: {OPS} puts over {KEYS} keys in {elapsed:?}: {rate:.0} puts/s, {written_out} written out"
            );

            let start = Instant::now();
            let mut hits = 0usize;
            for &k in &picks {
                hits += usize::from(cache.get(&keys[k]).is_some());
            }
            let elapsed = start.elapsed();
            let rate = OPS as f64 / elapsed.as_secs_f64();
            println!("{name}: {OPS} gets in {elapsed:?}: {rate:.0} gets/s, {hits} hits");
        };
        run("all keys fit (10 MiB)", DEFAULT_MAX_BYTES);
        run("1/10 of keys fit", 1_000 * (16 + 8 + ENTRY_OVERHEAD_BYTES));
    }
}
