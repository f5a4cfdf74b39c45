//! The persistent session store.

use std::path::Path;

use super::engine::SessionEngine;
use super::{SessionStoreConfig, delegate_session_store};
use crate::store::segmented::{RocksSegments, Segments};
use crate::store::{MemoryBudget, StoreResult};

/// Kafka Streams' `Stores.persistentSessionStore`, on RocksDB: one database in `dir/name/`,
/// one column family per segment of session ends, no write-ahead log.
///
/// A reopened store finds its segments and its observed stream time as of its last write
/// that reached disk; expired segments are dropped at open.
#[derive(Debug)]
pub struct RocksDbSessionStore {
    core: SessionEngine<RocksSegments>,
}

impl RocksDbSessionStore {
    /// Opens (creating if missing) the store in `dir/name/` under the process-wide
    /// [`MemoryBudget::process_default`].
    pub fn open(dir: &Path, name: &str, config: SessionStoreConfig) -> StoreResult<RocksDbSessionStore> {
        RocksDbSessionStore::open_with_budget(dir, name, config, MemoryBudget::process_default())
    }

    /// Opens (creating if missing) the store in `dir/name/`, drawing on `budget`.
    pub fn open_with_budget(
        dir: &Path,
        name: &str,
        config: SessionStoreConfig,
        budget: &MemoryBudget,
    ) -> StoreResult<RocksDbSessionStore> {
        config.validate(name)?;
        let (segments, checkpoint) = RocksSegments::open(dir, name, config.segment_interval_ms(), budget)?;
        Ok(RocksDbSessionStore {
            core: SessionEngine::new(name, config, segments, checkpoint)?,
        })
    }

    /// Deletes the store `dir/name/`; missing is fine. The store must not be open.
    pub fn destroy(dir: &Path, name: &str) -> StoreResult<()> {
        crate::store::destroy_dir(&dir.join(name))
    }

    /// The store's directory, `dir/name/`.
    pub fn path(&self) -> &Path {
        self.core.segmented().backend().path()
    }

    /// Segments (column families) currently held.
    pub fn segment_count(&self) -> usize {
        self.core.segmented().segment_count()
    }

    /// Flushes and closes the store, reporting a failed flush, which dropping it cannot.
    pub fn close(mut self) -> StoreResult<()> {
        self.core.segmented_mut().backend_mut().flush()
    }
}

delegate_session_store!(RocksDbSessionStore);
