//! One RocksDB memory budget for the whole process: every RocksDB store of every task (key-value
//! stores, window and session segments) draws on one block cache and one write-buffer manager,
//! so tasks come and go without the process's RocksDB memory growing with them.
//!
//! ```text
//!            MemoryBudget (rocksdb.memory.max.bytes, default 256 MiB)
//!   ┌────────────────── LRU block cache, capacity = budget ──────────────────┐
//!   │ data blocks (evicted first) │ index + filter blocks │ memtable charges  │
//!   └─────────────────────────────────────────────────────────▲──────────────┘
//!        WriteBufferManager, charging memtables (half the budget) ┘
//!   registered stores: [kv counts-0] [window joins-3] [session clicks-1] ...
//! ```
//!
//! This is Kafka Streams' `BoundedMemoryRocksDBConfig` pattern (a static `LRUCache` and a
//! `WriteBufferManager` charged to it, index and filter blocks in the cache at high
//! priority), which Kafka leaves to users to write as a `RocksDBConfigSetter`. It takes three
//! things more to be a bound across hundreds of stores:
//!
//! - **Relief.** RocksDB's write-buffer manager, when memtables exceed its limit, flushes only
//!   the database being written to; the memtables of every *other* store stay put. With 200
//!   stores that each took a little data and went quiet, memtables alone passed a 16 MiB
//!   budget (the control test in `tests/rocksdb_memory_budget.rs`), and once over, it flushed
//!   the database written to at every write, an SST file of one entry each. So the manager
//!   here only charges memtables to the cache, and a store that finds them over their share
//!   (half the budget) after a write flushes the registered stores holding the most, until
//!   they are back under half their share (`relieve`). Memtables too small to be worth an SST
//!   file are left alone, and after a relief that could not get under, the next waits for
//!   memtables to grow by an eighth of their share, so that relief never runs at every write.
//! - **Small arena blocks.** A memtable's first write allocates an arena block, by default
//!   min(1 MiB, write buffer / 8): 200 stores written once would hold 200 MiB. Blocks here are
//!   an 8192th of the budget (4 KiB at least), so that a few thousand touched memtables fit.
//! - **Table readers.** Each open SST file has a table reader, a few KiB that RocksDB's C API
//!   cannot charge to the cache. The cache's capacity is the budget minus what the table
//!   readers hold and a 64th for those opened since (but at least half the budget),
//!   re-measured after reliefs, and after flushes and opens at most once a second
//!   (`rebalance`).
//!
//! Not counted: iterators' pinned blocks, per-database structures, the allocator's slack.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use rocksdb::perf::MemoryUsageBuilder;
use rocksdb::{
    BlockBasedOptions, Cache, DBCompressionType, LogLevel, LruCacheOptions, Options, WriteBufferManager,
};

use super::{StoreError, StoreResult};

/// The configuration key of the budget, in bytes.
pub const MEMORY_BUDGET_CONFIG: &str = "rocksdb.memory.max.bytes";
/// The budget when [`MEMORY_BUDGET_CONFIG`] is not set: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;
/// Budgets below this are raised to it: RocksDB needs a few blocks and memtables to work.
pub const MIN_MEMORY_BUDGET: usize = 4 << 20;

/// Per-store memtable size at most: Kafka Streams' 16 MiB.
const MAX_WRITE_BUFFER_SIZE: usize = 16 << 20;
const MIN_WRITE_BUFFER_SIZE: usize = 64 << 10;
/// Memtables per column family, Kafka Streams' default: one filling while up to two flush.
const MAX_WRITE_BUFFERS: i32 = 3;
/// Bloom filter bits per key (~1% false positives). Aggregations `get` every incoming key,
/// and a new key would otherwise read a block from every SST file; Kafka Streams sets one too.
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// The block cache's smallest shard, and its most shards (RocksDB's own maximum).
const MIN_CACHE_SHARD: usize = 4 << 20;
const MAX_CACHE_SHARD_BITS: u32 = 6;
/// RocksDB's smallest arena block.
const MIN_ARENA_BLOCK_SIZE: usize = 4 << 10;
/// Relief leaves memtables smaller than this alone: flushing one makes an SST file whose
/// table reader, outside the cache, costs more than the memtable did.
const MIN_RELIEF_FLUSH: u64 = 64 << 10;
/// A 64th of the budget is kept from the cache for the table readers opened between two
/// measurements.
const READER_HEADROOM: usize = 64;
/// Table readers are re-measured after flushes and opens at most this often.
const REBALANCE_INTERVAL: Duration = Duration::from_secs(1);

/// A shared RocksDB memory budget; cloning shares it. See the module docs.
///
/// ```
/// use storage::store::{KeyValueStore, MemoryBudget, RocksDbStore};
///
/// let budget = MemoryBudget::new(64 << 20);
/// let dir = tempfile::tempdir()?;
/// let mut store = RocksDbStore::open_with_budget(dir.path(), "counts", &budget)?;
/// store.put(b"k", b"v")?;
/// let usage = budget.usage()?;
/// assert_eq!(usage.stores, 1);
/// assert!(usage.total() <= usage.budget);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    bytes: usize,
    /// Memtables of all stores together, charged to the cache: half the budget, so that
    /// blocks always have the other half.
    memtable_limit: usize,
    write_buffer_size: usize,
    arena_block_size: usize,
    cache: Cache,
    write_buffers: WriteBufferManager,
    members: Mutex<Members>,
    /// Set while one thread relieves the budget, so that others carry on writing.
    relieving: AtomicBool,
    /// Memtable usage at which the next relief starts: the memtable limit, or, after a relief
    /// that could not get under it, what was left plus an eighth of the limit.
    relieve_above: AtomicUsize,
    /// Milliseconds since `created` of the last rebalance.
    last_rebalance: AtomicU64,
    created: Instant,
}

#[derive(Default)]
struct Members {
    next_id: u64,
    entries: Vec<Entry>,
}

struct Entry {
    id: u64,
    gate: Arc<Gate>,
    member: Weak<dyn Member>,
}

/// Held while another thread uses a store's database, and by the store when it closes: the
/// store must hold the last reference to its database when it drops it, or the database
/// would close later on the other thread and a reopen in between would find it locked.
/// `true` once the store has closed.
type Gate = Mutex<bool>;

/// A database under the budget, as the budget sees it.
pub(crate) trait Member: Send + Sync {
    fn store_name(&self) -> &str;

    /// Adds the database to a memory-usage query.
    fn add_to<'a>(&'a self, usage: &mut MemoryUsageBuilder<'a>);

    /// Flushes every column family's memtables and waits.
    fn flush_memtables(&self) -> Result<(), rocksdb::Error>;
}

/// A store's membership; dropping it ends it. Declare it before the database in the store,
/// so that it drops first.
pub(crate) struct Registration {
    budget: Arc<Inner>,
    id: u64,
    gate: Arc<Gate>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Waits for a flush of this store by another thread to end; none starts afterwards.
        *lock(&self.gate) = true;
        lock(&self.budget.members).entries.retain(|e| e.id != self.id);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("id", &self.id).finish()
    }
}

/// RocksDB's memory under a budget, as RocksDB reports it (`rocksdb::perf` over every
/// registered database and the shared cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// The budget, in bytes.
    pub budget: u64,
    /// The block cache: data, index and filter blocks, and the memtables charged to it.
    pub block_cache: u64,
    /// Memtables, mutable and immutable, of every registered store (already charged to the
    /// block cache).
    pub memtables: u64,
    /// Table readers held outside the cache.
    pub table_readers: u64,
    /// Databases registered (a store is one database, whatever its segments).
    pub stores: usize,
}

impl MemoryUsage {
    /// The bytes the budget bounds: the block cache, which the memtables are charged to (or
    /// the memtables, should their charge lag behind), plus the table readers.
    pub fn total(&self) -> u64 {
        self.block_cache.max(self.memtables) + self.table_readers
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (at least [`MIN_MEMORY_BUDGET`]).
    pub fn new(bytes: usize) -> MemoryBudget {
        let bytes = bytes.max(MIN_MEMORY_BUDGET);
        let memtable_limit = bytes / 2;
        let write_buffer_size = (memtable_limit / 4).clamp(MIN_WRITE_BUFFER_SIZE, MAX_WRITE_BUFFER_SIZE);
        // See the module docs: a few thousand touched memtables must fit.
        let arena_block_size = (bytes / 8192).clamp(MIN_ARENA_BLOCK_SIZE, write_buffer_size / 8);
        // Shards of 4 MiB at least (RocksDB's default goes down to 512 KiB). Memtable charges
        // are pinned 256 KiB entries that land in shards by hash; in a small shard a few of
        // them exceed its capacity, which no eviction can fix, and the cache outgrows the
        // budget (by 1.2 MiB of 16 in the 200-store test).
        let shard_bits = (bytes / MIN_CACHE_SHARD).max(1).ilog2().min(MAX_CACHE_SHARD_BITS);
        let mut cache_options = LruCacheOptions::default();
        cache_options.set_capacity(bytes);
        cache_options.set_num_shard_bits(shard_bits as i32);
        let cache = Cache::new_lru_cache_opts(&cache_options);
        // Charging only, no limit of its own (buffer size 0): over its limit, RocksDB's
        // manager flushes whichever database is being written to, even when the memory is
        // held by others, and then again at the next write: one SST file per write. Relief
        // (see the module docs) decides what to flush instead. Without a limit nothing stalls
        // either; a stalled writer would wait for memtables that nobody flushes.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(0, false, cache.clone());
        MemoryBudget {
            inner: Arc::new(Inner {
                bytes,
                memtable_limit,
                write_buffer_size,
                arena_block_size,
                cache,
                write_buffers,
                members: Mutex::new(Members::default()),
                relieving: AtomicBool::new(false),
                relieve_above: AtomicUsize::new(memtable_limit),
                last_rebalance: AtomicU64::new(0),
                created: Instant::now(),
            }),
        }
    }

    /// The process-wide budget of [`DEFAULT_MEMORY_BUDGET`] that `RocksDbStore::open` and the
    /// other plain `open`s use.
    pub fn process_default() -> &'static MemoryBudget {
        static DEFAULT: OnceLock<MemoryBudget> = OnceLock::new();
        DEFAULT.get_or_init(|| MemoryBudget::new(DEFAULT_MEMORY_BUDGET))
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> usize {
        self.inner.bytes
    }

    /// RocksDB's current memory under this budget.
    pub fn usage(&self) -> StoreResult<MemoryUsage> {
        let rocks = |source| StoreError::Rocks {
            store: MEMORY_BUDGET_CONFIG.to_owned(),
            op: "memory usage",
            source,
        };
        let entries = self.snapshot();
        // Every gate at once, in id order (nobody else ever holds two), so that no store
        // closes while its database is in the query.
        let gates: Vec<MutexGuard<'_, bool>> = entries.iter().map(|(gate, _)| lock(gate)).collect();
        let members: Vec<Arc<dyn Member>> = entries
            .iter()
            .zip(&gates)
            .filter(|(_, closed)| !***closed)
            .filter_map(|((_, member), _)| member.upgrade())
            .collect();
        let mut builder = MemoryUsageBuilder::new().map_err(rocks)?;
        for member in &members {
            member.add_to(&mut builder);
        }
        builder.add_cache(&self.inner.cache);
        let measured = builder.build().map_err(rocks)?;
        let usage = MemoryUsage {
            budget: self.inner.bytes as u64,
            block_cache: measured.approximate_cache_total(),
            memtables: measured.approximate_mem_table_total(),
            table_readers: measured.approximate_mem_table_readers_total(),
            stores: members.len(),
        };
        // The query and the databases go before the gates open.
        drop(measured);
        drop(builder);
        drop(members);
        drop(gates);
        Ok(usage)
    }

    /// Gives the cache what the table readers leave of the budget (see the module docs).
    fn rebalance(&self) {
        let inner = &*self.inner;
        let now = inner.created.elapsed().as_millis() as u64;
        inner.last_rebalance.store(now, Ordering::Relaxed);
        match self.usage() {
            Ok(usage) => {
                let readers = usize::try_from(usage.table_readers).unwrap_or(usize::MAX);
                let capacity = inner
                    .bytes
                    .saturating_sub(readers + inner.bytes / READER_HEADROOM)
                    .max(inner.bytes / 2);
                let mut cache = inner.cache.clone();
                cache.set_capacity(capacity);
            }
            Err(error) => tracing::warn!(%error, "measuring RocksDB's memory failed"),
        }
    }

    /// [`MemoryBudget::rebalance`] unless it ran within the last second; after flushes and
    /// opens, which add table readers.
    pub(crate) fn rebalance_soon(&self) {
        let inner = &*self.inner;
        let now = inner.created.elapsed().as_millis() as u64;
        let last = inner.last_rebalance.load(Ordering::Relaxed);
        let interval = REBALANCE_INTERVAL.as_millis() as u64;
        if now.saturating_sub(last) >= interval
            && inner
                .last_rebalance
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.rebalance();
        }
    }

    /// Called by a store after it wrote: when the memtables of all stores exceed their share,
    /// flushes the stores holding the most until they are back under half of it. Costs two
    /// atomic loads when within the budget. A flush that fails is logged, not returned: it is
    /// the other store's trouble, which its own next flush will report.
    pub(crate) fn relieve(&self) {
        let inner = &*self.inner;
        if inner.write_buffers.get_usage() <= inner.relieve_above.load(Ordering::Relaxed) {
            return;
        }
        if inner.relieving.swap(true, Ordering::AcqRel) {
            return;
        }
        let _done = ResetOnDrop(&inner.relieving);
        let mut ranked: Vec<(u64, Arc<Gate>, Weak<dyn Member>)> = self
            .snapshot()
            .into_iter()
            .filter_map(|(gate, member)| {
                let unflushed = with_member(&gate, &member, unflushed_memtable_bytes)?;
                (unflushed >= MIN_RELIEF_FLUSH).then_some((unflushed, gate, member))
            })
            .collect();
        ranked.sort_by_key(|(unflushed, _, _)| std::cmp::Reverse(*unflushed));
        let target = inner.memtable_limit / 2;
        for (_, gate, member) in ranked {
            if inner.write_buffers.get_usage() <= target {
                break;
            }
            with_member(&gate, &member, |member| {
                if let Err(error) = member.flush_memtables() {
                    tracing::warn!(store = member.store_name(), %error, "flushing to relieve the RocksDB memory budget failed");
                }
            });
        }
        let left = inner.write_buffers.get_usage();
        let next = if left <= inner.memtable_limit {
            inner.memtable_limit
        } else {
            left + inner.memtable_limit / 8
        };
        inner.relieve_above.store(next, Ordering::Relaxed);
        self.rebalance();
    }

    pub(crate) fn register(&self, member: Weak<dyn Member>) -> Registration {
        let gate = Arc::new(Mutex::new(false));
        let mut members = lock(&self.inner.members);
        let id = members.next_id;
        members.next_id += 1;
        members.entries.push(Entry {
            id,
            gate: gate.clone(),
            member,
        });
        Registration {
            budget: self.inner.clone(),
            id,
            gate,
        }
    }

    /// Options for a database or column family under this budget.
    pub(crate) fn options(&self) -> Options {
        let inner = &*self.inner;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&inner.cache);
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        // Index and filter blocks count against the budget too, and outlive data blocks in
        // it (the LRU cache's high-priority pool), as in Kafka's bounded-memory config.
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_pin_top_level_index_and_filter(true);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_block_based_table_factory(&table);
        opts.set_write_buffer_manager(&inner.write_buffers);
        opts.set_write_buffer_size(inner.write_buffer_size);
        opts.set_max_write_buffer_number(MAX_WRITE_BUFFERS);
        opts.set_arena_block_size(inner.arena_block_size);
        // No codec is compiled into our librocksdb (see the workspace Cargo.toml). RocksDB
        // would fall back to none by itself; saying so keeps the choice visible should a
        // codec feature ever be enabled. Kafka Streams stores state uncompressed too.
        opts.set_compression_type(DBCompressionType::None);
        // Kafka Streams' level (`RocksDBStore.openDB`): the info log otherwise grows with
        // every flush and compaction, in every store directory.
        opts.set_log_level(LogLevel::Error);
        opts
    }

    fn snapshot(&self) -> Vec<(Arc<Gate>, Weak<dyn Member>)> {
        lock(&self.inner.members)
            .entries
            .iter()
            .map(|e| (e.gate.clone(), e.member.clone()))
            .collect()
    }
}

impl std::fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("bytes", &self.inner.bytes)
            .field("memtable_limit", &self.inner.memtable_limit)
            .field("write_buffer_size", &self.inner.write_buffer_size)
            .field("arena_block_size", &self.inner.arena_block_size)
            .finish()
    }
}

/// Runs `f` on a registered store's database unless the store has closed. The reference is
/// dropped before the gate opens (see [`Gate`]).
fn with_member<T>(gate: &Gate, member: &Weak<dyn Member>, f: impl FnOnce(&dyn Member) -> T) -> Option<T> {
    let closed = lock(gate);
    if *closed {
        return None;
    }
    let member = member.upgrade()?;
    let out = f(&*member);
    drop(member);
    drop(closed);
    Some(out)
}

fn unflushed_memtable_bytes(member: &dyn Member) -> u64 {
    let Ok(mut builder) = MemoryUsageBuilder::new() else {
        return 0;
    };
    member.add_to(&mut builder);
    builder
        .build()
        .map(|usage| usage.approximate_mem_table_unflushed())
        .unwrap_or(0)
}

/// A poisoned lock only means a panic elsewhere; the data behind these locks stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct ResetOnDrop<'a>(&'a AtomicBool);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::thread::{self, ThreadId};

    use super::*;

    /// A database stand-in whose flush takes a while and which records the thread that
    /// dropped it, i.e. that would have closed the database.
    struct SlowMember {
        dropped_on: Arc<Mutex<Option<ThreadId>>>,
    }

    impl Member for SlowMember {
        fn store_name(&self) -> &str {
            "slow"
        }

        fn add_to<'a>(&'a self, _usage: &mut MemoryUsageBuilder<'a>) {}

        fn flush_memtables(&self) -> Result<(), rocksdb::Error> {
            thread::sleep(Duration::from_millis(200));
            Ok(())
        }
    }

    impl Drop for SlowMember {
        fn drop(&mut self) {
            *lock(&self.dropped_on) = Some(thread::current().id());
        }
    }

    #[test]
    fn a_store_closing_during_a_relief_flush_closes_its_database_itself() {
        let budget = MemoryBudget::new(MIN_MEMORY_BUDGET);
        let dropped_on = Arc::new(Mutex::new(None));
        let member: Arc<dyn Member> = Arc::new(SlowMember {
            dropped_on: dropped_on.clone(),
        });
        let registration = budget.register(Arc::downgrade(&member));
        let (gate, weak) = budget.snapshot().pop().unwrap();
        let flusher = thread::spawn(move || with_member(&gate, &weak, |m| m.flush_memtables().is_ok()));
        thread::sleep(Duration::from_millis(50)); // the flush is under way
        drop(registration); // waits for it to end
        drop(member);
        assert_eq!(*lock(&dropped_on), Some(thread::current().id()));
        assert_eq!(flusher.join().unwrap(), Some(true), "the flush ran");
        assert!(budget.snapshot().is_empty());
    }

    #[test]
    fn a_closed_store_is_never_flushed() {
        let budget = MemoryBudget::new(MIN_MEMORY_BUDGET);
        let member: Arc<dyn Member> = Arc::new(SlowMember {
            dropped_on: Arc::new(Mutex::new(None)),
        });
        let registration = budget.register(Arc::downgrade(&member));
        let (gate, weak) = budget.snapshot().pop().unwrap();
        drop(registration);
        assert_eq!(
            with_member(&gate, &weak, |_| ()),
            None,
            "even while the Arc lives on"
        );
    }

    #[test]
    fn sizes_follow_the_budget() {
        let small = MemoryBudget::new(16 << 20);
        assert_eq!(small.inner.memtable_limit, 8 << 20);
        assert_eq!(small.inner.write_buffer_size, 2 << 20);
        assert_eq!(small.inner.arena_block_size, 4 << 10);
        let default = MemoryBudget::new(DEFAULT_MEMORY_BUDGET);
        assert_eq!(default.inner.write_buffer_size, MAX_WRITE_BUFFER_SIZE);
        assert_eq!(default.inner.arena_block_size, 32 << 10);
        assert_eq!(MemoryBudget::new(0).bytes(), MIN_MEMORY_BUDGET);
    }
}
