//! Opening a task's stores: the one path the runtime and the test driver take.
//!
//! A store is opened by its kind (key-value so far) where its task keeps its stores (the
//! [`Placement`]): the runtime in the task's state directory, each store as its type says, the
//! test driver every store in memory. The byte store then gets the record cache in front, if
//! the store caches, and its changelog behind, if it logs (see [`StateStore`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use storage::store::{
    InMemorySessionStore, InMemoryStore, InMemoryWindowStore, MemoryBudget, RocksDbSessionStore,
    RocksDbStore, RocksDbWindowStore, SessionStoreConfig, WindowStoreConfig,
};

use super::{Backing, StateStore, StoreKind, StoreSpec, StoreType, changelog_topic};
use crate::error::{Result, StreamsError};
use crate::processor::{Output, TaskId};
use crate::runtime::Checkpoint;

/// Where a task keeps its stores.
#[derive(Debug)]
pub(crate) enum Placement {
    /// Every store in memory, whatever its type: the test driver's, so tests need no disk.
    Memory,
    /// The task's state directory, each store as its type says: RocksDB under `rocksdb/`,
    /// kept across restarts, or memory. `checkpoint`: the changelog offsets the directory's
    /// stores are known to hold (see the runtime's `restore.rs`).
    StateDir {
        task_dir: PathBuf,
        checkpoint: Checkpoint,
    },
}

/// Opens the stores of one task (see the module docs).
#[derive(Debug)]
pub(crate) struct StoreOpener {
    application_id: String,
    partition: i32,
    /// Each caching store's share of `statestore.cache.max.bytes`.
    cache_bytes: usize,
    placement: Placement,
    /// Store name → the changelog offset its local content is known to hold.
    restore_from: BTreeMap<String, i64>,
    /// The process's RocksDB memory budget, every RocksDB store of every task within it.
    budget: MemoryBudget,
}

/// The process's RocksDB budget of `bytes` (`rocksdb.memory.max.bytes`): one per size, so
/// that tasks, threads and applications of one process come and go within one budget.
pub(crate) fn memory_budget(bytes: usize) -> MemoryBudget {
    use std::sync::{Mutex, OnceLock};
    if bytes == storage::store::DEFAULT_MEMORY_BUDGET {
        return MemoryBudget::process_default().clone();
    }
    static BUDGETS: OnceLock<Mutex<BTreeMap<usize, MemoryBudget>>> = OnceLock::new();
    let mut budgets = BUDGETS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    budgets
        .entry(bytes)
        .or_insert_with(|| MemoryBudget::new(bytes))
        .clone()
}

impl StoreOpener {
    pub fn new(application_id: &str, task: TaskId, cache_bytes: usize, placement: Placement) -> StoreOpener {
        StoreOpener {
            application_id: application_id.to_owned(),
            partition: task.partition,
            cache_bytes,
            placement,
            restore_from: BTreeMap::new(),
            budget: MemoryBudget::process_default().clone(),
        }
    }

    /// RocksDB stores open within `budget` (the default: the process's 256 MiB one).
    pub fn with_budget(mut self, budget: MemoryBudget) -> StoreOpener {
        self.budget = budget;
        self
    }

    /// The task's instance of `spec`: its kind's byte store, behind the record cache if the
    /// spec caches, its changelog writes going to the task's `output` if it logs.
    pub fn open(&mut self, spec: &StoreSpec, output: &Rc<RefCell<Output>>) -> Result<StateStore> {
        let changelog = format!("{}-{}", self.application_id, changelog_topic(&spec.name));
        let bytes = self.backing(spec, &changelog)?;
        Ok(StateStore::new(
            spec.name.clone(),
            spec.kind,
            bytes,
            spec.caching.then_some(self.cache_bytes),
            spec.logging.then(|| (Arc::from(changelog), self.partition)),
            output.clone(),
            spec.serdes.clone(),
        ))
    }

    /// Store name → the changelog offset its restore starts from; a store not named here
    /// replays its whole changelog.
    pub fn restore_from(&self) -> &BTreeMap<String, i64> {
        &self.restore_from
    }

    /// The byte store of `spec`'s kind. A RocksDB store the checkpoint vouches for keeps its
    /// content and replays only the changelog's tail; a logged one it does not is wiped, since
    /// its content cannot be trusted, and replays all of it.
    fn backing(&mut self, spec: &StoreSpec, changelog: &str) -> Result<Backing> {
        let store_error = |e| StreamsError::store(&spec.name, e);
        let on_disk = match (&self.placement, spec.store_type) {
            _ if spec.kind == StoreKind::SuppressionBuffer => None,
            (Placement::Memory, _) | (_, StoreType::InMemory) => None,
            (Placement::StateDir { task_dir, checkpoint }, StoreType::RocksDb) => {
                Some((task_dir, checkpoint))
            }
        };
        let Some((task_dir, checkpoint)) = on_disk else {
            return Ok(match spec.kind {
                StoreKind::KeyValue | StoreKind::SuppressionBuffer => {
                    Backing::KeyValue(Box::new(InMemoryStore::new(&spec.name)))
                }
                StoreKind::Window { timestamped, .. } => Backing::Window {
                    store: Box::new(
                        InMemoryWindowStore::new(&spec.name, window_config(spec)).map_err(store_error)?,
                    ),
                    timestamped,
                },
                StoreKind::Session { retention_ms } => Backing::Session(Box::new(
                    InMemorySessionStore::new(&spec.name, SessionStoreConfig::new(retention_ms))
                        .map_err(store_error)?,
                )),
            });
        };
        let dir = task_dir.join("rocksdb");
        let trusted = checkpoint.0.get(&(changelog.to_owned(), self.partition)).copied();
        match trusted {
            Some(offset) => {
                self.restore_from.insert(spec.name.clone(), offset);
            }
            None if spec.logging => match spec.kind {
                StoreKind::KeyValue | StoreKind::SuppressionBuffer => RocksDbStore::destroy(&dir, &spec.name),
                StoreKind::Window { .. } => RocksDbWindowStore::destroy(&dir, &spec.name),
                StoreKind::Session { .. } => RocksDbSessionStore::destroy(&dir, &spec.name),
            }
            .map_err(store_error)?,
            None => {}
        }
        Ok(match spec.kind {
            StoreKind::KeyValue | StoreKind::SuppressionBuffer => Backing::KeyValue(Box::new(
                RocksDbStore::open_with_budget(&dir, &spec.name, &self.budget).map_err(store_error)?,
            )),
            StoreKind::Window { timestamped, .. } => Backing::Window {
                store: Box::new(
                    RocksDbWindowStore::open_with_budget(&dir, &spec.name, window_config(spec), &self.budget)
                        .map_err(store_error)?,
                ),
                timestamped,
            },
            StoreKind::Session { retention_ms } => Backing::Session(Box::new(
                RocksDbSessionStore::open_with_budget(
                    &dir,
                    &spec.name,
                    SessionStoreConfig::new(retention_ms),
                    &self.budget,
                )
                .map_err(store_error)?,
            )),
        })
    }
}

/// The window store shape of a window `spec`.
fn window_config(spec: &StoreSpec) -> WindowStoreConfig {
    match spec.kind {
        StoreKind::Window {
            retention_ms,
            size_ms,
            retain_duplicates,
            ..
        } => WindowStoreConfig::new(retention_ms, size_ms).with_retain_duplicates(retain_duplicates),
        _ => WindowStoreConfig::new(0, 0),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn spec(name: &str, store_type: StoreType, logging: bool) -> StoreSpec {
        StoreSpec {
            name: name.to_owned(),
            kind: StoreKind::KeyValue,
            store_type,
            caching: false,
            logging,
            serdes: Arc::new(()),
        }
    }

    const TASK: TaskId = TaskId {
        subtopology: 0,
        partition: 3,
    };

    /// Opens `spec` in `dir` with a checkpoint of `checkpointed` (changelog offsets of the
    /// task's partition); the store and where its restore starts.
    fn open_in(
        dir: &std::path::Path,
        spec: &StoreSpec,
        checkpointed: &[(&str, i64)],
    ) -> (StateStore, Option<i64>) {
        let checkpoint = Checkpoint(
            checkpointed
                .iter()
                .map(|&(topic, offset)| ((topic.to_owned(), TASK.partition), offset))
                .collect(),
        );
        let placement = Placement::StateDir {
            task_dir: dir.to_owned(),
            checkpoint,
        };
        let mut opener = StoreOpener::new("app", TASK, 1 << 20, placement);
        let store = opener.open(spec, &Rc::default()).unwrap();
        let from = opener.restore_from().get(&spec.name).copied();
        (store, from)
    }

    fn put(store: &mut StateStore, key: &'static [u8]) {
        let value = Some(Bytes::from_static(b"v"));
        store.put(Bytes::from_static(key), value, 1).unwrap();
        store.flush_store().unwrap();
    }

    #[test]
    fn the_test_drivers_placement_keeps_every_store_in_memory_with_its_changelog() {
        let output = Rc::default();
        let mut opener = StoreOpener::new("app", TASK, 1 << 20, Placement::Memory);
        let store = opener
            .open(&spec("counts", StoreType::RocksDb, true), &output)
            .unwrap();
        assert!(!store.persistent());
        assert_eq!(
            store.changelog(),
            Some(&(Arc::from("app-counts-changelog"), TASK.partition))
        );
        assert!(opener.restore_from().is_empty());
        let unlogged = opener
            .open(&spec("scratch", StoreType::InMemory, false), &output)
            .unwrap();
        assert_eq!(unlogged.changelog(), None);
    }

    #[test]
    fn a_rocksdb_store_keeps_its_content_only_where_the_checkpoint_vouches_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let logged = spec("counts", StoreType::RocksDb, true);
        let (mut store, from) = open_in(dir.path(), &logged, &[]);
        assert!(store.persistent());
        assert_eq!(from, None, "no checkpoint: the whole changelog");
        put(&mut store, b"k");
        drop(store);

        // Checkpointed: kept, and restored from the checkpoint's offset.
        let (mut store, from) = open_in(dir.path(), &logged, &[("app-counts-changelog", 5)]);
        assert_eq!(from, Some(5));
        assert!(store.get(b"k").unwrap().is_some());
        drop(store);

        // A checkpoint of another store vouches for nothing here: wiped.
        let (mut store, from) = open_in(dir.path(), &logged, &[("app-other-changelog", 5)]);
        assert_eq!(from, None);
        assert!(
            store.get(b"k").unwrap().is_none(),
            "a logged store nobody vouches for is wiped"
        );
        drop(store);

        // Without a changelog to restore from, the local content is all there is: kept.
        let unlogged = spec("local", StoreType::RocksDb, false);
        let (mut store, _) = open_in(dir.path(), &unlogged, &[]);
        put(&mut store, b"k");
        drop(store);
        let (mut store, from) = open_in(dir.path(), &unlogged, &[]);
        assert_eq!(from, None);
        assert!(store.get(b"k").unwrap().is_some());
    }
}
