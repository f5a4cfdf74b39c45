//! The byte store under a [`StateStore`](super::StateStore), by kind, as the cache and
//! changelog layers see it: entries named by their *store key*, the kind's key schema, which is
//! also the key its changelog records carry (Kafka Streams' byte formats):
//!
//! | kind | store key | changelog value |
//! |---|---|---|
//! | key-value | the key | the value |
//! | window | key ‖ 8-byte start ‖ 4-byte sequence number (`WindowKeySchema`) | the value; for a timestamped store the value without its 8-byte timestamp, which becomes the record's timestamp |
//! | session | key ‖ 8-byte end ‖ 8-byte start (`SessionKeySchema`) | the value |
//!
//! A timestamped window store (the windowed aggregations', Kafka's `TimestampedWindowStore`)
//! holds `timestamp ‖ value` locally and in the cache, as Kafka's RocksDB store does, and logs
//! the bare value with the timestamp as the record's: `ChangeLoggingTimestampedWindowBytesStore`
//! writes exactly that, and its restore puts the record's timestamp back in front.

use bytes::Bytes;
use storage::store::session::{decode_session_key, encode_session_key};
use storage::store::window::{decode_window_key, encode_window_key};
use storage::store::{KeyValueStore, SessionPut, SessionStore, StoreError, StoreResult, WindowStore};

/// One write to a byte store: its store key, value (`None`: delete) and timestamp.
pub(crate) type Entry<'a> = (&'a [u8], Option<&'a [u8]>, i64);

/// One record of a store's changelog: key, value (`None`: a tombstone) and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangelogRecord {
    pub key: Bytes,
    pub value: Option<Bytes>,
    pub timestamp: i64,
}

/// The byte store of a state store, by kind.
#[derive(Debug)]
pub(crate) enum Backing {
    KeyValue(Box<dyn KeyValueStore>),
    Window {
        store: Box<dyn WindowStore>,
        /// Values are `timestamp ‖ value` (see the module docs).
        timestamped: bool,
    },
    Session(Box<dyn SessionStore>),
}

/// The length of a timestamped value's prefix.
const TIMESTAMP_BYTES: usize = 8;

/// A timestamped value's timestamp and bare value, or an error for a value too short to have
/// been written by a timestamped store.
pub(crate) fn split_timestamped<'a>(store: &str, value: &'a [u8]) -> StoreResult<(i64, &'a [u8])> {
    if value.len() < TIMESTAMP_BYTES {
        return Err(StoreError::CorruptMetadata {
            store: store.to_owned(),
            what: "timestamped value",
            detail: format!("{} bytes, shorter than its 8-byte timestamp", value.len()),
        });
    }
    let (ts, rest) = value.split_at(TIMESTAMP_BYTES);
    let mut b = [0u8; TIMESTAMP_BYTES];
    b.copy_from_slice(ts);
    Ok((i64::from_be_bytes(b), rest))
}

/// `timestamp ‖ value`.
pub(crate) fn with_timestamp(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TIMESTAMP_BYTES + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(value);
    out
}

impl Backing {
    pub fn name(&self) -> &str {
        match self {
            Backing::KeyValue(s) => s.name(),
            Backing::Window { store, .. } => store.name(),
            Backing::Session(s) => s.name(),
        }
    }

    pub fn persistent(&self) -> bool {
        match self {
            Backing::KeyValue(s) => s.persistent(),
            Backing::Window { store, .. } => store.persistent(),
            Backing::Session(s) => s.persistent(),
        }
    }

    /// The value stored under `store_key`. A malformed store key (which only this crate
    /// writes) is an error, not a panic.
    pub fn get(&self, store_key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        match self {
            Backing::KeyValue(s) => s.get(store_key),
            Backing::Window { store, .. } => {
                let k = decode_window_key(store_key).map_err(|e| self.corrupt(e))?;
                store.fetch(k.key, k.start)
            }
            Backing::Session(s) => {
                let w = decode_session_key(store_key).map_err(|e| self.corrupt(e))?;
                s.fetch_session(w.key, w.window.start, w.window.end)
            }
        }
    }

    fn corrupt(&self, source: storage::store::KeyError) -> StoreError {
        StoreError::CorruptKey {
            store: self.name().to_owned(),
            source,
        }
    }

    /// Writes `entries` (store key, value or `None` to delete, timestamp) in order, and hands
    /// `log` the changelog record of each write that took effect: a window or session put into
    /// an expired window takes none, and is not logged (it could not be restored anyway).
    /// Key-value entries go in one batch; the caller sorts them (see `StateStore`).
    pub fn apply<'a>(
        &mut self,
        entries: &mut dyn Iterator<Item = Entry<'a>>,
        log: &mut dyn FnMut(Entry<'_>),
    ) -> StoreResult<()> {
        match self {
            Backing::KeyValue(s) => {
                let batch: Vec<Entry<'_>> = entries.collect();
                let mut iter = batch.iter().map(|&(k, v, _)| (k, v));
                s.write_batch(&mut iter)?;
                for (k, v, ts) in batch {
                    log((k, v, ts));
                }
                Ok(())
            }
            Backing::Window { store, timestamped } => {
                let name = store.name().to_owned();
                let entries: Vec<Entry<'_>> = entries.collect();
                let mut puts = Vec::with_capacity(entries.len());
                for &(store_key, value, _) in &entries {
                    let k = decode_window_key(store_key).map_err(|source| StoreError::CorruptKey {
                        store: name.clone(),
                        source,
                    })?;
                    puts.push((k.key, value, k.start));
                }
                // One write for the run (see `WindowStore::put_all`); each put still decides
                // its own changelog record.
                let done = store.put_all(&puts)?;
                for ((put, &(key, value, start)), &(_, _, ts)) in done.iter().zip(&puts).zip(&entries) {
                    let Some(key) = put.changelog_key(key, start) else {
                        continue;
                    };
                    match (value, *timestamped) {
                        (Some(v), true) => {
                            let (t, bare) = split_timestamped(&name, v)?;
                            log((&key, Some(bare), t));
                        }
                        (v, _) => log((&key, v, ts)),
                    }
                }
                Ok(())
            }
            Backing::Session(s) => {
                let name = s.name().to_owned();
                for (store_key, value, ts) in entries {
                    let w = decode_session_key(store_key).map_err(|source| StoreError::CorruptKey {
                        store: name.clone(),
                        source,
                    })?;
                    if let SessionPut::Applied = s.put(w, value)? {
                        log((store_key, value, ts));
                    }
                }
                Ok(())
            }
        }
    }

    /// Applies changelog records during restore (no cache, no changelog), in order.
    pub fn restore(&mut self, records: &[ChangelogRecord]) -> StoreResult<()> {
        match self {
            Backing::KeyValue(s) => {
                let mut iter = records.iter().map(|r| (&r.key[..], r.value.as_deref()));
                s.write_batch(&mut iter)
            }
            Backing::Window {
                store,
                timestamped: true,
            } => {
                let values: Vec<Option<Vec<u8>>> = records
                    .iter()
                    .map(|r| r.value.as_deref().map(|v| with_timestamp(r.timestamp, v)))
                    .collect();
                let mut iter = records
                    .iter()
                    .zip(&values)
                    .map(|(r, v)| (&r.key[..], v.as_deref()));
                store.restore(&mut iter)
            }
            Backing::Window { store, .. } => {
                let mut iter = records.iter().map(|r| (&r.key[..], r.value.as_deref()));
                store.restore(&mut iter)
            }
            Backing::Session(s) => {
                let mut iter = records.iter().map(|r| (&r.key[..], r.value.as_deref()));
                s.restore(&mut iter)
            }
        }
    }

    pub fn flush(&mut self) -> StoreResult<()> {
        match self {
            Backing::KeyValue(s) => s.flush(),
            Backing::Window { store, .. } => store.flush(),
            Backing::Session(s) => s.flush(),
        }
    }

    pub fn approximate_num_entries(&self) -> StoreResult<u64> {
        match self {
            Backing::KeyValue(s) => s.approximate_num_entries(),
            Backing::Window { store, .. } => store.approximate_num_entries(),
            Backing::Session(s) => s.approximate_num_entries(),
        }
    }
}

/// The store key of `key`'s window starting at `start` (sequence number 0: the DSL's
/// aggregations keep no duplicates).
pub(crate) fn window_store_key(key: &[u8], start: i64) -> Vec<u8> {
    encode_window_key(key, start, 0)
}

/// The store key of `key`'s session `window`.
pub(crate) fn session_store_key(key: &[u8], window: storage::store::Window) -> Vec<u8> {
    encode_session_key(key, window)
}
