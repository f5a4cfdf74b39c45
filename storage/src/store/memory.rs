//! The in-memory store: a `BTreeMap`, whose `Vec<u8>` ordering is already the unsigned
//! lexicographic order RocksDB uses, so both stores scan alike.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{KeyValueStore, KvIter, StoreResult, inverted};

/// Kafka Streams' `Stores.inMemoryKeyValueStore`: nothing survives a restart, so the task
/// restores it from the whole changelog.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    name: String,
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl InMemoryStore {
    pub fn new(name: impl Into<String>) -> InMemoryStore {
        InMemoryStore {
            name: name.into(),
            map: BTreeMap::new(),
        }
    }
}

impl KeyValueStore for InMemoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> StoreResult<()> {
        self.map.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.map.remove(key))
    }

    /// Atomic for free: no entry can fail, so the batch is applied whole.
    fn write_batch(&mut self, entries: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>) -> StoreResult<()> {
        for (key, value) in entries {
            match value {
                Some(value) => self.map.insert(key.to_vec(), value.to_vec()),
                None => self.map.remove(key),
            };
        }
        Ok(())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<KvIter<'_>> {
        if inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let bounds = (
            from.map_or(Bound::Unbounded, Bound::Included),
            to.map_or(Bound::Unbounded, Bound::Included),
        );
        Ok(Box::new(
            self.map
                .range::<[u8], _>(bounds)
                .map(|(key, value)| Ok((key.clone(), value.clone()))),
        ))
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        Ok(self.map.len() as u64)
    }

    fn flush(&mut self) -> StoreResult<()> {
        Ok(())
    }
}
