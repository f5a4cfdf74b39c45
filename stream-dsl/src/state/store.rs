//! A task's instance of a store: cache, byte store and changelog together.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use std::collections::BTreeMap;

use storage::store::session::decode_session_key;
use storage::store::window::decode_window_key;
use storage::store::{Order, Window};

use super::backing::{Backing, ChangelogRecord, session_store_key, window_store_key};
use super::cache::{DirtyEntry, InPlace, RecordCache};
use crate::error::{Result, StreamsError};
use crate::processor::Output;
use crate::record::Header;

/// A write that reached the store (and the changelog): what a table forwards downstream.
#[derive(Debug)]
pub(crate) struct Written {
    pub entry: DirtyEntry,
    /// The value it replaced in the store; always `None` unless the store was asked to
    /// [`send_old_values`](StateStore::send_old_values).
    pub old: Option<Bytes>,
}

pub(crate) struct StateStore {
    pub name: String,
    kind: super::StoreKind,
    inner: Backing,
    cache: Option<RecordCache>,
    /// The changelog topic (resolved) and the task's partition of it.
    changelog: Option<(Arc<str>, i32)>,
    output: Rc<RefCell<Output>>,
    /// Dirty entries a read pushed out of the cache (already in the store and changelog):
    /// handed to the caller of the next `put` or `flush_cache`, so a table forwards them.
    evicted_by_reads: Vec<Written>,
    /// Whether writes report the value they replace in the store ([`Written::old`]).
    send_old_values: bool,
    /// The spec's `StoreSerdes<K, V>`.
    pub serdes: Arc<dyn std::any::Any + Send + Sync>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("name", &self.name)
            .field("cached", &self.cache.is_some())
            .field("changelog", &self.changelog)
            .finish()
    }
}

impl StateStore {
    pub fn new(
        name: String,
        kind: super::StoreKind,
        inner: Backing,
        cache_bytes: Option<usize>,
        changelog: Option<(Arc<str>, i32)>,
        output: Rc<RefCell<Output>>,
        serdes: Arc<dyn std::any::Any + Send + Sync>,
    ) -> StateStore {
        StateStore {
            name,
            kind,
            inner,
            cache: cache_bytes.map(RecordCache::new),
            changelog,
            output,
            evicted_by_reads: Vec::new(),
            send_old_values: false,
            serdes,
        }
    }

    /// Makes writes report the value each one replaces in the store, for a table that
    /// forwards `Change { new, old }` (Kafka's `sendOldValues`). The old value is read from the
    /// store as the entry leaves the cache, as Kafka's caching store does: it is what was last
    /// forwarded, and reading it once per flushed entry is cheaper than tracking it per update.
    /// Without this, only deletes report it (so that a delete of what downstream never saw
    /// can be told apart).
    pub fn cached(&self) -> bool {
        self.cache.is_some()
    }

    pub fn send_old_values(&mut self) {
        self.send_old_values = true;
    }

    /// The serdes of the store's declaration, if it was declared with `K` and `V`; the topic
    /// they are called with is the changelog's.
    pub fn codec<K: 'static, V: 'static>(&self) -> Option<super::codec::Codec<K, V>> {
        let serdes = self.serdes.downcast_ref::<super::StoreSerdes<K, V>>()?.clone();
        let topic: std::rc::Rc<str> = match &self.changelog {
            Some((t, _)) => std::rc::Rc::from(&**t),
            None => std::rc::Rc::from(self.name.as_str()),
        };
        Some(super::codec::Codec {
            serdes,
            topic,
            store: std::rc::Rc::from(self.name.as_str()),
        })
    }

    pub fn changelog(&self) -> Option<&(Arc<str>, i32)> {
        self.changelog.as_ref()
    }

    /// A window or session store's stream time (its newest window start or session end);
    /// `None` for an empty one or a key-value store.
    pub fn observed_stream_time(&self) -> Option<i64> {
        match &self.inner {
            Backing::KeyValue(_) => None,
            Backing::Window { store, .. } => store.observed_stream_time(),
            Backing::Session(store) => store.observed_stream_time(),
        }
    }

    pub fn kind(&self) -> super::StoreKind {
        self.kind
    }

    pub fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn err(&self, source: storage::store::StoreError) -> StreamsError {
        StreamsError::store(&self.name, source)
    }

    pub fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        if let Some(cache) = &mut self.cache
            && let Some(hit) = cache.get(key)
        {
            return Ok(hit);
        }
        let value = self.inner.get(key).map_err(|e| self.err(e))?.map(Bytes::from);
        if let Some(cache) = &mut self.cache {
            let evicted = cache.put_clean(Bytes::copy_from_slice(key), value.clone());
            if !evicted.is_empty() {
                let written = self.write(evicted)?;
                self.evicted_by_reads.extend(written);
            }
        }
        Ok(value)
    }

    /// Reads `key` and hands its bytes to `read`: [`get`](Self::get) without handing out a
    /// reference to the cached value (a clone would keep [`RecordCache::put_slice`] from
    /// updating the buffer in place).
    pub fn read<R>(&mut self, key: &[u8], read: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        if let Some(cache) = &mut self.cache
            && let Some(hit) = cache.read(key)
        {
            return Ok(read(hit));
        }
        let value = self.get(key)?;
        Ok(read(value.as_deref()))
    }

    /// [`RecordCache::update_in_place`] when nothing a read evicted waits to be handed out
    /// (a write hands those to its caller; an update in place hands out nothing).
    pub fn update_in_place<E>(
        &mut self,
        key: &[u8],
        timestamp: i64,
        buf: &mut BytesMut,
        update: impl FnOnce(&[u8], &mut BytesMut) -> std::result::Result<bool, E>,
    ) -> std::result::Result<InPlace, E> {
        match &mut self.cache {
            Some(cache) if self.evicted_by_reads.is_empty() => {
                cache.update_in_place(key, timestamp, buf, update)
            }
            _ => Ok(InPlace::Skipped),
        }
    }

    /// [`put`](Self::put) from borrowed bytes (see [`RecordCache::put_slice`]).
    pub fn put_slice(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Result<Vec<Written>> {
        let out = match &mut self.cache {
            Some(cache) => cache.put_slice(key, value, timestamp),
            None => vec![DirtyEntry {
                key: Bytes::copy_from_slice(key),
                value: value.map(Bytes::copy_from_slice),
                timestamp,
            }],
        };
        let written = self.write(out)?;
        Ok(self.with_read_evictions(written))
    }

    /// Writes `value` (`None` deletes) for `key`. Returns the entries that reached the store
    /// and the changelog by this call: this entry itself without a cache, evicted ones with.
    pub fn put(&mut self, key: Bytes, value: Option<Bytes>, timestamp: i64) -> Result<Vec<Written>> {
        let out = match &mut self.cache {
            Some(cache) => cache.put(key, value, timestamp),
            None => vec![DirtyEntry {
                key,
                value,
                timestamp,
            }],
        };
        let written = self.write(out)?;
        Ok(self.with_read_evictions(written))
    }

    /// Writes every dirty cached entry to the store and changelog; returns them.
    pub fn flush_cache(&mut self) -> Result<Vec<Written>> {
        let Some(cache) = &mut self.cache else {
            return Ok(Vec::new());
        };
        let (dirty, stored): (Vec<_>, Vec<_>) = cache.flush_with_stored().into_iter().unzip();
        let written = self.write_knowing(dirty, stored)?;
        Ok(self.with_read_evictions(written))
    }

    /// `written`, preceded by what reads evicted since the last call (those left the cache
    /// first).
    fn with_read_evictions(&mut self, written: Vec<Written>) -> Vec<Written> {
        if self.evicted_by_reads.is_empty() {
            return written;
        }
        let mut all = std::mem::take(&mut self.evicted_by_reads);
        all.extend(written);
        all
    }

    /// Makes the byte store durable up to now (RocksDB: memtables to disk).
    pub fn flush_store(&mut self) -> Result<()> {
        self.inner.flush().map_err(|e| self.err(e))
    }

    fn write(&mut self, entries: Vec<DirtyEntry>) -> Result<Vec<Written>> {
        self.write_knowing(entries, Vec::new())
    }

    /// [`StateStore::write`], with what the store holds for each entry's key where the cache
    /// knows it (`stored[i]`; missing or `None`: read the store). With commits every 100 ms
    /// (exactly-once) nearly every cached key is flushed at each commit, and these reads were
    /// the largest cost that exactly-once added to a word count (RocksDB memtable lookups).
    fn write_knowing(
        &mut self,
        entries: Vec<DirtyEntry>,
        stored: Vec<Option<Option<Bytes>>>,
    ) -> Result<Vec<Written>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // Old values are read where downstream asked for them and, as Kafka's caching stores
        // do, for every delete (a store write that removes nothing says so by its `None`).
        let deletes = entries.iter().any(|e| e.value.is_none());
        let olds = if self.send_old_values || deletes {
            let mut olds = Vec::with_capacity(entries.len());
            let mut stored = stored.into_iter();
            for e in &entries {
                let known = stored.next().flatten();
                let old = if !self.send_old_values && e.value.is_some() {
                    None
                } else {
                    match known {
                        Some(known) => known,
                        None => self.inner.get(&e.key).map_err(|e| self.err(e))?.map(Bytes::from),
                    }
                };
                olds.push(old);
            }
            olds
        } else {
            Vec::new()
        };
        match &mut self.inner {
            Backing::KeyValue(kv) => {
                // In key order: RocksDB's memtable insert resumes its search where the
                // previous key went, so a sorted batch costs a fraction of a shuffled one
                // (measured: docs/performance.md#exactly-once). The cache hands entries out in
                // the order of their last writes, which downstream keeps.
                let mut sorted: Vec<&DirtyEntry> = entries.iter().collect();
                if sorted.len() > 1 {
                    // Stable: were a key in the batch twice, its later write must stay last.
                    sorted.sort_by(|a, b| a.key.cmp(&b.key));
                }
                let mut iter = sorted.into_iter().map(|e| (&e.key[..], e.value.as_deref()));
                kv.write_batch(&mut iter)
                    .map_err(|e| StreamsError::store(&self.name, e))?;
                if let Some((topic, partition)) = &self.changelog {
                    let mut out = self.output.borrow_mut();
                    let versioned = self.kind == super::StoreKind::SuppressionBuffer;
                    for e in &entries {
                        if versioned && e.value.is_some() {
                            // Kafka's suppression buffer marks its value format in a header.
                            let v3 = [Header {
                                key: "v".into(),
                                value: Some(Bytes::from_static(&[3])),
                            }];
                            out.push_with_headers(
                                topic,
                                Some(*partition),
                                Some(&e.key),
                                e.value.as_deref(),
                                e.timestamp,
                                &v3,
                            );
                        } else {
                            out.push(
                                topic,
                                Some(*partition),
                                Some(&e.key),
                                e.value.as_deref(),
                                e.timestamp,
                            );
                        }
                    }
                }
            }
            // Window and session stores: each put decides its changelog record (an expired
            // window's has none), so entries go one by one, in the order of their last writes.
            other => {
                let mut iter = entries
                    .iter()
                    .map(|e| (&e.key[..], e.value.as_deref(), e.timestamp));
                let mut out = self.output.borrow_mut();
                let changelog = &self.changelog;
                let mut log = |(key, value, timestamp): super::backing::Entry<'_>| {
                    if let Some((topic, partition)) = changelog {
                        out.push(topic, Some(*partition), Some(key), value, timestamp);
                    }
                };
                other
                    .apply(&mut iter, &mut log)
                    .map_err(|e| StreamsError::store(&self.name, e))?;
            }
        }
        let mut olds = olds.into_iter();
        Ok(entries
            .into_iter()
            .map(|entry| Written {
                entry,
                old: olds.next().flatten(),
            })
            .collect())
    }

    /// Applies changelog records during restore: straight to the byte store, no cache, no
    /// changelog.
    pub fn restore(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        self.inner.restore(records).map_err(|e| self.err(e))
    }

    /// Entries with `from <= key <= to`, cache merged over the store, ascending.
    pub fn range(&mut self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<Vec<(Bytes, Bytes)>> {
        let Backing::KeyValue(kv) = &self.inner else {
            return Err(StreamsError::Topology(format!(
                "state store {} is not a key-value store",
                self.name
            )));
        };
        let mut merged = std::collections::BTreeMap::new();
        for item in kv
            .range(from, to)
            .map_err(|e| StreamsError::store(&self.name, e))?
        {
            let (k, v) = item.map_err(|e| self.err(e))?;
            merged.insert(Bytes::from(k), Some(Bytes::from(v)));
        }
        if let Some(cache) = &self.cache {
            for (k, v) in cache.dirty_and_cached_in_range(from, to) {
                merged.insert(k, v);
            }
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// A window store's windows of `key` with `from <= start <= to`, the cache merged over
    /// the store, in `order`: `(start, value)`.
    pub fn window_range(
        &mut self,
        key: &[u8],
        from: i64,
        to: i64,
        order: Order,
    ) -> Result<Vec<(i64, Bytes)>> {
        let Backing::Window { store, .. } = &self.inner else {
            return Err(self.not_a("window"));
        };
        let mut merged: BTreeMap<i64, Option<Bytes>> = BTreeMap::new();
        if from <= to {
            for item in store
                .fetch_range_in(key, from, to, Order::Forward)
                .map_err(|e| StreamsError::store(&self.name, e))?
            {
                let (start, value) = item.map_err(|e| StreamsError::store(&self.name, e))?;
                merged.insert(start, Some(Bytes::from(value)));
            }
            if let Some(cache) = &self.cache {
                let (lo, hi) = (
                    window_store_key(key, from),
                    window_store_key(key, to.saturating_add(1)),
                );
                for (k, v) in cache.dirty_and_cached_in_range(Some(&lo), Some(&hi)) {
                    // The byte range also holds longer keys that start with `key`: keep only
                    // entries of `key` itself.
                    if let Ok(w) = decode_window_key(&k)
                        && w.key == key
                        && (from..=to).contains(&w.start)
                    {
                        merged.insert(w.start, v);
                    }
                }
            }
        }
        let live = merged.into_iter().filter_map(|(start, v)| v.map(|v| (start, v)));
        Ok(match order {
            Order::Forward => live.collect(),
            Order::Backward => live.rev().collect(),
        })
    }

    /// Every key's windows with `from <= start <= to` (window store), the cache merged over
    /// the store, in store-key order: `(key, start, value)`.
    pub fn window_all(&mut self, from: i64, to: i64) -> Result<Vec<(Vec<u8>, i64, Bytes)>> {
        let Backing::Window { store, .. } = &self.inner else {
            return Err(self.not_a("window"));
        };
        let mut merged: BTreeMap<Vec<u8>, Option<Bytes>> = BTreeMap::new();
        if from <= to {
            for item in store
                .fetch_keys_in(None, None, from, to, Order::Forward)
                .map_err(|e| StreamsError::store(&self.name, e))?
            {
                let (w, value) = item.map_err(|e| StreamsError::store(&self.name, e))?;
                merged.insert(window_store_key(&w.key, w.window.start), Some(Bytes::from(value)));
            }
            if let Some(cache) = &self.cache {
                for (k, v) in cache.dirty_and_cached_in_range(None, None) {
                    if let Ok(w) = decode_window_key(&k)
                        && (from..=to).contains(&w.start)
                    {
                        merged.insert(k.to_vec(), v);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(merged.len());
        for (k, v) in merged {
            let Some(v) = v else { continue };
            let w = decode_window_key(&k).map_err(|source| self.corrupt(source))?;
            out.push((w.key.to_vec(), w.start, v));
        }
        Ok(out)
    }

    /// A session store's sessions of `key` with `end >= earliest_end` and
    /// `start <= latest_start`, the cache merged over the store, in `order` (by end, then
    /// start): `(session, value)`.
    pub fn sessions(
        &mut self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> Result<Vec<(Window, Bytes)>> {
        let Backing::Session(store) = &self.inner else {
            return Err(self.not_a("session"));
        };
        let mut merged: BTreeMap<(i64, i64), Option<Bytes>> = BTreeMap::new();
        for item in store
            .find_sessions_in(key, earliest_end, latest_start, Order::Forward)
            .map_err(|e| StreamsError::store(&self.name, e))?
        {
            let (w, value) = item.map_err(|e| StreamsError::store(&self.name, e))?;
            merged.insert((w.window.end, w.window.start), Some(Bytes::from(value)));
        }
        if let Some(cache) = &self.cache {
            let lo = session_store_key(key, Window::new(0, earliest_end.max(0)));
            let hi = session_store_key(key, Window::new(i64::MAX, i64::MAX));
            for (k, v) in cache.dirty_and_cached_in_range(Some(&lo), Some(&hi)) {
                if let Ok(w) = decode_session_key(&k)
                    && w.key == key
                    && w.window.end >= earliest_end
                    && w.window.start <= latest_start
                {
                    merged.insert((w.window.end, w.window.start), v);
                }
            }
        }
        let live = merged
            .into_iter()
            .filter_map(|((end, start), v)| v.map(|v| (Window::new(start, end), v)));
        Ok(match order {
            Order::Forward => live.collect(),
            Order::Backward => live.rev().collect(),
        })
    }

    /// Every key's sessions with `earliest_end <= end <= latest_end` (session store), the
    /// cache merged over the store, in store-key order: `(key, session, value)`.
    pub fn sessions_ending_in(
        &mut self,
        earliest_end: i64,
        latest_end: i64,
    ) -> Result<Vec<(Vec<u8>, Window, Bytes)>> {
        let Backing::Session(store) = &self.inner else {
            return Err(self.not_a("session"));
        };
        let mut merged: BTreeMap<Vec<u8>, Option<Bytes>> = BTreeMap::new();
        if earliest_end <= latest_end {
            for item in store
                .find_sessions_keys_in(None, None, earliest_end, i64::MAX, Order::Forward)
                .map_err(|e| StreamsError::store(&self.name, e))?
            {
                let (w, value) = item.map_err(|e| StreamsError::store(&self.name, e))?;
                if w.window.end <= latest_end {
                    merged.insert(session_store_key(&w.key, w.window), Some(Bytes::from(value)));
                }
            }
            if let Some(cache) = &self.cache {
                for (k, v) in cache.dirty_and_cached_in_range(None, None) {
                    if let Ok(w) = decode_session_key(&k)
                        && (earliest_end..=latest_end).contains(&w.window.end)
                    {
                        merged.insert(k.to_vec(), v);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(merged.len());
        for (k, v) in merged {
            let Some(v) = v else { continue };
            let w = decode_session_key(&k).map_err(|source| self.corrupt(source))?;
            out.push((w.key.to_vec(), w.window, v));
        }
        Ok(out)
    }

    fn not_a(&self, kind: &str) -> StreamsError {
        StreamsError::Topology(format!("state store {} is not a {kind} store", self.name))
    }

    fn corrupt(&self, source: storage::store::KeyError) -> StreamsError {
        self.err(storage::store::StoreError::CorruptKey {
            store: self.name.clone(),
            source,
        })
    }

    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries().map_err(|e| self.err(e))
    }
}
