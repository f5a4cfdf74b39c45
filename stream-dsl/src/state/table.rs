//! The store behind a materialized KTable: writes go through the record cache, and what the
//! cache lets out (on eviction or at commit) is forwarded downstream as a [`Change`] — so
//! consecutive updates of one key between two commits reach the next processor once, as in
//! Kafka Streams with `statestore.cache.max.bytes` > 0.

use bytes::Bytes;

use super::KeyValueStore;
use super::cache::DirtyEntry;
use crate::error::Result;
use crate::processor::{Data, ProcessorContext};
use crate::record::{Change, Record};

pub(crate) struct TableStore<K, V> {
    pub store: KeyValueStore<K, V>,
    /// For each key written since it last left the cache: the value it had before (what
    /// downstream last saw) and the timestamp of its latest update.
    pending: super::FastMap<Bytes, (Option<Bytes>, i64)>,
}

impl<K: Data, V: Data> TableStore<K, V> {
    pub fn new(store: KeyValueStore<K, V>) -> TableStore<K, V> {
        TableStore {
            store,
            pending: super::fast_map(),
        }
    }

    /// Writes `new` for a key whose current stored bytes are `old`; forwards whatever the
    /// write pushed out of the cache.
    pub fn put(
        &mut self,
        ctx: &mut ProcessorContext<K, Change<V>>,
        key: Bytes,
        old: Option<Bytes>,
        new: Option<Bytes>,
        timestamp: i64,
    ) -> Result<()> {
        self.pending
            .entry(key.clone())
            .and_modify(|p| p.1 = timestamp)
            .or_insert((old, timestamp));
        let out = self.store.put_raw(key, new)?;
        self.forward(ctx, out)
    }

    pub fn flush(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        let out = self.store.flush_raw()?;
        self.forward(ctx, out)
    }

    fn forward(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, entries: Vec<DirtyEntry>) -> Result<()> {
        for entry in entries {
            let (old, timestamp) = self.pending.remove(&entry.key).unwrap_or((None, 0));
            // KIP-557 (emit on change): an update that leaves the row as it was is not news.
            if old == entry.value {
                continue;
            }
            let key = self.store.key(&entry.key)?;
            let change = Change {
                new: self.store.value(entry.value.as_deref())?,
                old: self.store.value(old.as_deref())?,
            };
            ctx.forward(Record {
                key,
                value: change,
                timestamp,
                headers: Vec::new(),
            })?;
        }
        Ok(())
    }
}
