//! One RocksDB memory budget for the whole process (`storage::store::MemoryBudget`): 200
//! stores of all three kinds, written to twice the budget, stay within it as RocksDB reports
//! it, round after round of stores opening and closing. Two controls show that the
//! measurement would catch the overflow: the per-store caches the key-value store used to
//! have, and a shared cache and write-buffer manager without the budget's relief.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rocksdb::{BlockBasedOptions, Cache, DB, Options, WriteBufferManager, WriteOptions};
use storage::store::{
    KeyValueStore, MemoryBudget, MemoryUsage, RocksDbSessionStore, RocksDbStore, RocksDbWindowStore,
    SessionStore, SessionStoreConfig, Window, WindowStore, WindowStoreConfig, Windowed,
};

const BUDGET: usize = 16 << 20;
const STORES: usize = 200;
/// Puts per store, of `VALUE` bytes each: 160 KB a store, 32 MB in all, twice the budget.
const PUTS: usize = 800;
const VALUE: usize = 200;
const MINUTE: i64 = 60_000;

/// One store of each kind in turn.
enum Store {
    KeyValue(RocksDbStore),
    Window(RocksDbWindowStore),
    Session(RocksDbSessionStore),
}

impl Store {
    fn open(dir: &Path, name: &str, i: usize, budget: &MemoryBudget) -> Store {
        match i % 3 {
            0 => Store::KeyValue(RocksDbStore::open_with_budget(dir, name, budget).unwrap()),
            1 => {
                let config = WindowStoreConfig::new(10 * MINUTE, MINUTE);
                Store::Window(RocksDbWindowStore::open_with_budget(dir, name, config, budget).unwrap())
            }
            _ => {
                let config = SessionStoreConfig::new(10 * MINUTE);
                Store::Session(RocksDbSessionStore::open_with_budget(dir, name, config, budget).unwrap())
            }
        }
    }

    fn write(&mut self, n: usize, value: &[u8]) {
        let key = format!("key-{n:06}");
        // Times over 8 minutes: window and session stores touch two segments each.
        let time = (n as i64) * 600;
        match self {
            Store::KeyValue(store) => store.put(key.as_bytes(), value).unwrap(),
            Store::Window(store) => {
                let _ = store.put(key.as_bytes(), Some(value), time).unwrap();
            }
            Store::Session(store) => {
                let session = Windowed::new(key.as_bytes(), Window::new(time, time + 10));
                let _ = store.put(session, Some(value)).unwrap();
            }
        }
    }

    fn read(&self, n: usize) {
        let key = format!("key-{n:06}");
        let time = (n as i64) * 600;
        let found = match self {
            Store::KeyValue(store) => store.get(key.as_bytes()).unwrap(),
            Store::Window(store) => store.fetch(key.as_bytes(), time).unwrap(),
            Store::Session(store) => store.fetch_session(key.as_bytes(), time, time + 10).unwrap(),
        };
        assert!(found.is_some(), "{key}");
    }
}

fn within(usage: &MemoryUsage, at: &str) {
    assert!(
        usage.total() <= BUDGET as u64,
        "{at}: {usage:?} totals {} bytes, above the budget of {BUDGET}",
        usage.total()
    );
    assert!(
        usage.memtables <= usage.block_cache,
        "{at}: memtables are charged to the cache: {usage:?}"
    );
}

#[test]
fn two_hundred_stores_stay_within_one_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(BUDGET);
    let value = vec![7u8; VALUE];
    let mut peak = 0;
    for round in 0..3 {
        let mut stores: Vec<Store> = (0..STORES)
            .map(|i| Store::open(dir.path(), &format!("round-{round}-store-{i}"), i, &budget))
            .collect();
        for (i, store) in stores.iter_mut().enumerate() {
            for n in 0..PUTS {
                store.write(n, &value);
            }
            if i % 20 == 19 {
                let usage = budget.usage().unwrap();
                within(&usage, &format!("round {round}, {} stores written", i + 1));
                peak = peak.max(usage.total());
            }
        }
        // Reads pull data, index and filter blocks into the shared cache.
        for store in &stores {
            for n in (0..PUTS).step_by(50) {
                store.read(n);
            }
        }
        let usage = budget.usage().unwrap();
        assert_eq!(usage.stores, STORES);
        within(&usage, &format!("round {round}, after reads"));
        peak = peak.max(usage.total());
        eprintln!("round {round}: {usage:?}, total {} of {BUDGET}", usage.total());
        drop(stores);
        let closed = budget.usage().unwrap();
        assert_eq!(closed.stores, 0, "closed stores leave the budget");
        assert_eq!(closed.memtables, 0, "and take their memtables along");
        within(&closed, &format!("round {round}, closed"));
    }
    eprintln!("peak {peak} bytes of a {BUDGET}-byte budget");
}

/// What RocksDB reports for databases and caches opened outside any budget.
fn rocks_usage(dbs: &[DB], caches: &[Cache]) -> u64 {
    let dbs: Vec<&DB> = dbs.iter().collect();
    let caches: Vec<&Cache> = caches.iter().collect();
    let stats = rocksdb::perf::get_memory_usage_stats(Some(&dbs), Some(&caches)).unwrap();
    stats.cache_total.max(stats.mem_table_total) + stats.mem_table_readers_total
}

fn fill(dbs: &[DB]) {
    let mut write = WriteOptions::default();
    write.disable_wal(true);
    let value = vec![7u8; VALUE];
    for db in dbs {
        for n in 0..PUTS {
            db.put_opt(format!("key-{n:06}"), &value, &write).unwrap();
        }
    }
}

/// The key-value store's configuration before the budget: a 16 MiB cache and 16 MiB
/// memtables per store. The same data overflows the budget many times over.
#[test]
fn control_per_store_caches_exceed_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut caches = Vec::new();
    let dbs: Vec<DB> = (0..STORES)
        .map(|i| {
            let cache = Cache::new_lru_cache(16 << 20);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            caches.push(cache);
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.set_block_based_table_factory(&table);
            opts.set_write_buffer_size(16 << 20);
            DB::open(&opts, dir.path().join(format!("store-{i}"))).unwrap()
        })
        .collect();
    fill(&dbs);
    let total = rocks_usage(&dbs, &caches);
    eprintln!("per-store caches: {total} bytes");
    assert!(total > BUDGET as u64 * 2, "{total}");
}

/// Kafka's `BoundedMemoryRocksDBConfig` alone: one cache, one write-buffer manager charged to
/// it, small arena blocks even. RocksDB flushes only the database being written to, so the
/// memtables of the other 199 stay, and the total passes the budget.
#[test]
fn control_a_shared_cache_without_relief_exceeds_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new_lru_cache(BUDGET);
    let write_buffers =
        WriteBufferManager::new_write_buffer_manager_with_cache(BUDGET / 2, false, cache.clone());
    let dbs: Vec<DB> = (0..STORES)
        .map(|i| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_cache_index_and_filter_blocks(true);
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.set_block_based_table_factory(&table);
            opts.set_write_buffer_manager(&write_buffers);
            opts.set_write_buffer_size(2 << 20);
            opts.set_arena_block_size(16 << 10);
            DB::open(&opts, dir.path().join(format!("store-{i}"))).unwrap()
        })
        .collect();
    fill(&dbs);
    let total = rocks_usage(&dbs, &[cache]);
    eprintln!("shared cache, no relief: {total} bytes");
    assert!(total > BUDGET as u64, "{total}");
}
