//! The in-memory session store.

use super::engine::SessionEngine;
use super::{SessionStoreConfig, delegate_session_store};
use crate::store::StoreResult;
use crate::store::segmented::{Checkpoint, MemorySegments};

/// Kafka Streams' `Stores.inMemorySessionStore`: nothing survives a restart, so the task
/// restores it from the whole changelog. Segmented by session end like the RocksDB store.
#[derive(Debug)]
pub struct InMemorySessionStore {
    core: SessionEngine<MemorySegments>,
}

impl InMemorySessionStore {
    pub fn new(name: impl Into<String>, config: SessionStoreConfig) -> StoreResult<InMemorySessionStore> {
        let name = name.into();
        config.validate(&name)?;
        Ok(InMemorySessionStore {
            core: SessionEngine::new(&name, config, MemorySegments::default(), Checkpoint::default())?,
        })
    }

    /// Segments currently held.
    pub fn segment_count(&self) -> usize {
        self.core.segmented().segment_count()
    }
}

delegate_session_store!(InMemorySessionStore);
