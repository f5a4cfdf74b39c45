//! The store behind a materialized KTable: writes go through the record cache, and what the
//! cache lets out (on eviction or at commit) is forwarded downstream as a [`Change`] — so
//! consecutive updates of one key between two commits reach the next processor once, as in
//! Kafka Streams with `statestore.cache.max.bytes` > 0.

use super::KeyValueStore;
use super::store::Written;
use crate::error::Result;
use crate::processor::{Data, ProcessorContext};
use crate::record::{Change, Record};

pub(crate) struct TableStore<K, V> {
    pub store: KeyValueStore<K, V>,
}

impl<K: Data, V: Data> TableStore<K, V> {
    pub fn new(store: KeyValueStore<K, V>) -> TableStore<K, V> {
        // What downstream last saw of a key is what the store holds until the key leaves
        // the cache again: the store reads it then (Kafka's `sendOldValues`).
        store.send_old_values();
        TableStore { store }
    }

    /// Writes `new` for a key (stamped `timestamp`); forwards whatever the write pushed out
    /// of the cache.
    /// Writes the row `key` (`new: None` deletes it) and forwards what reached the store.
    pub fn put_slice(
        &mut self,
        ctx: &mut ProcessorContext<K, Change<V>>,
        key: &[u8],
        new: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<()> {
        let out = self.store.put_slice_at(key, new, timestamp)?;
        self.forward(ctx, out)
    }

    pub fn flush(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        let out = self.store.flush_raw()?;
        self.forward(ctx, out)
    }

    fn forward(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, written: Vec<Written>) -> Result<()> {
        for Written { entry, old } in written {
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
                timestamp: entry.timestamp,
                headers: Vec::new(),
            })?;
        }
        Ok(())
    }
}
