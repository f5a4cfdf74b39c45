//! The in-memory window store.

use super::engine::WindowEngine;
use super::{WindowStoreConfig, delegate_window_store};
use crate::store::StoreResult;
use crate::store::segmented::{Checkpoint, MemorySegments};

/// Kafka Streams' `Stores.inMemoryWindowStore`: nothing survives a restart, so the task
/// restores it from the whole changelog. Segmented like the RocksDB store, so that expired
/// windows go a segment at a time and both stores follow one set of rules.
#[derive(Debug)]
pub struct InMemoryWindowStore {
    core: WindowEngine<MemorySegments>,
}

impl InMemoryWindowStore {
    pub fn new(name: impl Into<String>, config: WindowStoreConfig) -> StoreResult<InMemoryWindowStore> {
        let name = name.into();
        config.validate(&name)?;
        Ok(InMemoryWindowStore {
            core: WindowEngine::new(&name, config, MemorySegments::default(), Checkpoint::default())?,
        })
    }

    /// Segments currently held.
    pub fn segment_count(&self) -> usize {
        self.core.segmented().segment_count()
    }
}

delegate_window_store!(InMemoryWindowStore);
