//! The persistent window store.

use std::path::Path;

use super::engine::WindowEngine;
use super::{WindowStoreConfig, delegate_window_store};
use crate::store::segmented::{RocksSegments, Segments};
use crate::store::{MemoryBudget, StoreResult};

/// Kafka Streams' `Stores.persistentWindowStore`, on RocksDB: one database in `dir/name/`,
/// one column family per segment (see the `segmented` module), no write-ahead log (the
/// changelog is the log, as for [`RocksDbStore`](crate::store::RocksDbStore)).
///
/// A reopened store finds its segments, its observed stream time and its last sequence
/// number as of its last write that reached disk; expired segments are dropped at open.
#[derive(Debug)]
pub struct RocksDbWindowStore {
    core: WindowEngine<RocksSegments>,
}

impl RocksDbWindowStore {
    /// Opens (creating if missing) the store in `dir/name/` under the process-wide
    /// [`MemoryBudget::process_default`].
    pub fn open(dir: &Path, name: &str, config: WindowStoreConfig) -> StoreResult<RocksDbWindowStore> {
        RocksDbWindowStore::open_with_budget(dir, name, config, MemoryBudget::process_default())
    }

    /// Opens (creating if missing) the store in `dir/name/`, drawing on `budget`.
    pub fn open_with_budget(
        dir: &Path,
        name: &str,
        config: WindowStoreConfig,
        budget: &MemoryBudget,
    ) -> StoreResult<RocksDbWindowStore> {
        config.validate(name)?;
        let (segments, checkpoint) = RocksSegments::open(dir, name, config.segment_interval_ms(), budget)?;
        Ok(RocksDbWindowStore {
            core: WindowEngine::new(name, config, segments, checkpoint)?,
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

delegate_window_store!(RocksDbWindowStore);
