//! The broker's persisted metadata: cluster id, topics with their ids, partition counts and
//! config overrides, and the next producer-id block. One JSON file, replaced atomically.
//!
//! This is the single-node stand-in for the replicated metadata log (KRaft's analogue, on
//! openraft, comes with multi-node clusters); the records it holds are the same.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, Result};

const FILE: &str = "meta.json";

/// One topic as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Kafka's topic id: 16 random bytes, hex.
    pub id: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MetadataFile {
    version: u32,
    cluster_id: String,
    /// Producer ids below this were handed out (or reserved) before; the next block starts here.
    next_producer_id_block: i64,
    topics: BTreeMap<String, TopicRecord>,
}

#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    file: MetadataFile,
}

/// 16 bytes of randomness from the standard library's per-process random hasher keys mixed
/// with the time, as hex. Ids must be unique, not secret.
pub fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(32);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

impl MetadataStore {
    pub fn open(dir: &Path) -> Result<MetadataStore> {
        std::fs::create_dir_all(dir).map_err(|e| BrokerError::io("create data directory", dir, e))?;
        let path = dir.join(FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: MetadataFile =
                    serde_json::from_slice(&bytes).map_err(|e| BrokerError::CorruptMetadata {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                if file.version != 1 {
                    return Err(BrokerError::CorruptMetadata {
                        path: path.display().to_string(),
                        reason: format!("unsupported version {}", file.version),
                    });
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MetadataFile {
                version: 1,
                cluster_id: random_id(),
                next_producer_id_block: 0,
                topics: BTreeMap::new(),
            },
            Err(e) => return Err(BrokerError::io("read metadata", &path, e)),
        };
        let store = MetadataStore { path, file };
        store.save()?;
        Ok(store)
    }

    fn save(&self) -> Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| BrokerError::io("encode metadata", &self.path, std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| BrokerError::io("write metadata", &tmp, e))?;
        f.write_all(&body)
            .map_err(|e| BrokerError::io("write metadata", &tmp, e))?;
        f.sync_all()
            .map_err(|e| BrokerError::io("fsync metadata", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| BrokerError::io("rename metadata", &self.path, e))?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| BrokerError::io("fsync data directory", dir, e))?;
        }
        Ok(())
    }

    pub fn cluster_id(&self) -> &str {
        &self.file.cluster_id
    }

    pub fn topics(&self) -> &BTreeMap<String, TopicRecord> {
        &self.file.topics
    }

    /// Applies `change` to the topics and persists the result; on a failed write the change is
    /// undone, so memory and disk agree.
    pub fn update_topics(&mut self, change: impl FnOnce(&mut BTreeMap<String, TopicRecord>)) -> Result<()> {
        let before = self.file.topics.clone();
        change(&mut self.file.topics);
        if let Err(e) = self.save() {
            self.file.topics = before;
            return Err(e);
        }
        Ok(())
    }

    /// Reserves the next block of `size` producer ids, persisted before any is handed out so
    /// an id is never reused after a restart. Returns the block's first id.
    pub fn reserve_producer_ids(&mut self, size: i64) -> Result<i64> {
        let start = self.file.next_producer_id_block;
        self.file.next_producer_id_block = start + size;
        if let Err(e) = self.save() {
            self.file.next_producer_id_block = start;
            return Err(e);
        }
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_producer_id_blocks_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MetadataStore::open(dir.path()).unwrap();
        let cluster = store.cluster_id().to_string();
        store
            .update_topics(|t| {
                t.insert(
                    "orders".into(),
                    TopicRecord {
                        id: random_id(),
                        partitions: 3,
                        configs: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
                    },
                );
            })
            .unwrap();
        assert_eq!(store.reserve_producer_ids(1000).unwrap(), 0);
        let mut store = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(store.cluster_id(), cluster);
        assert_eq!(store.topics()["orders"].partitions, 3);
        assert_eq!(store.reserve_producer_ids(1000).unwrap(), 1000);
    }

    #[test]
    fn garbage_metadata_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(matches!(
            MetadataStore::open(dir.path()),
            Err(BrokerError::CorruptMetadata { .. })
        ));
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id(), random_id());
        assert_eq!(random_id().len(), 32);
    }
}
