//! The window store over any segment backend: Kafka's `RocksDBWindowStore` on its
//! `WindowKeySchema`, written once for both of our stores.

use super::key::{WINDOW_KEY_SUFFIX, decode_window_key, encode_window_key, max_suffix};
use super::{WindowIter, WindowStoreConfig, WindowWrite, WindowedIter};
use crate::store::segmented::bounds::{lower_bound, upper_bound};
use crate::store::segmented::time::Retention;
use crate::store::segmented::{Checkpoint, LiveWrite, Segmented, Segments, filter_scan};
use crate::store::{Order, StoreError, StoreResult, Window, WindowPut, Windowed};

/// Kafka masks sequence numbers to 31 bits (`RocksDBWindowStore.maybeUpdateSeqnumForDups`).
const SEQNUM_MASK: u32 = 0x7fff_ffff;

#[derive(Debug)]
pub(crate) struct WindowEngine<S> {
    segmented: Segmented<S>,
    config: WindowStoreConfig,
}

impl<S: Segments> WindowEngine<S> {
    /// `config` must have been validated.
    pub(crate) fn new(
        name: &str,
        config: WindowStoreConfig,
        segments: S,
        checkpoint: Checkpoint,
    ) -> StoreResult<Self> {
        let retention = Retention::new(config.retention_ms(), config.segment_interval_ms());
        Ok(WindowEngine {
            segmented: Segmented::new(name.to_owned(), retention, segments, checkpoint)?,
            config,
        })
    }

    pub(crate) fn segmented(&self) -> &Segmented<S> {
        &self.segmented
    }

    pub(crate) fn segmented_mut(&mut self) -> &mut Segmented<S> {
        &mut self.segmented
    }

    pub(crate) fn name(&self) -> &str {
        self.segmented.name()
    }

    pub(crate) fn persistent(&self) -> bool {
        self.segmented.backend().persistent()
    }

    pub(crate) fn config(&self) -> &WindowStoreConfig {
        &self.config
    }

    pub(crate) fn observed_stream_time(&self) -> Option<i64> {
        self.segmented.observed_stream_time()
    }

    pub(crate) fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        window_start: i64,
    ) -> StoreResult<WindowPut> {
        if window_start < 0 {
            return Err(StoreError::NegativeTimestamp {
                store: self.name().to_owned(),
                what: "window start",
                timestamp: window_start,
            });
        }
        let duplicates = self.config.retain_duplicates();
        if duplicates && value.is_none() {
            return Ok(WindowPut::Ignored);
        }
        let seqnum = if duplicates {
            self.segmented.seqnum().wrapping_add(1) & SEQNUM_MASK
        } else {
            0
        };
        let store_key = encode_window_key(key, window_start, seqnum);
        let written = self
            .segmented
            .put(window_start, &store_key, value, duplicates.then_some(seqnum))?;
        Ok(if written {
            WindowPut::Applied { seqnum }
        } else {
            WindowPut::Expired
        })
    }

    /// [`WindowStore::put_all`](super::WindowStore::put_all): which puts are live and their
    /// sequence numbers are decided in order, as `put` decides them, then the live ones are
    /// written at once.
    pub(crate) fn put_all(&mut self, puts: &[WindowWrite<'_>]) -> StoreResult<Vec<WindowPut>> {
        if let Some(&(_, _, start)) = puts.iter().find(|(_, _, start)| *start < 0) {
            return Err(StoreError::NegativeTimestamp {
                store: self.name().to_owned(),
                what: "window start",
                timestamp: start,
            });
        }
        let duplicates = self.config.retain_duplicates();
        let ignored = |value: Option<&[u8]>| duplicates && value.is_none();
        let live: Vec<bool> = self
            .segmented
            .live_in_order(
                puts.iter()
                    .filter(|(_, value, _)| !ignored(*value))
                    .map(|(_, _, start)| *start),
            )
            .collect();
        let mut live = live.into_iter();
        let mut seqnum = self.segmented.seqnum();
        let mut results = Vec::with_capacity(puts.len());
        let mut keys = Vec::with_capacity(puts.len());
        for &(key, value, start) in puts {
            if ignored(value) {
                results.push(WindowPut::Ignored);
                continue;
            }
            if !live.next().unwrap_or(false) {
                results.push(WindowPut::Expired);
                continue;
            }
            let this = if duplicates {
                seqnum = seqnum.wrapping_add(1) & SEQNUM_MASK;
                seqnum
            } else {
                0
            };
            keys.push((start, encode_window_key(key, start, this), value));
            results.push(WindowPut::Applied { seqnum: this });
        }
        let writes: Vec<LiveWrite<'_>> = keys
            .iter()
            .map(|(start, key, value)| (*start, key.as_slice(), *value))
            .collect();
        self.segmented.write_live(&writes, duplicates.then_some(seqnum))?;
        Ok(results)
    }

    pub(crate) fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        if self.config.retain_duplicates() || window_start < 0 {
            return Ok(None);
        }
        self.segmented
            .get(window_start, &encode_window_key(key, window_start, 0))
    }

    pub(crate) fn fetch_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        order: Order,
    ) -> StoreResult<WindowIter<'_>> {
        let Some(time_from) = self.live_from(time_from, time_to) else {
            return Ok(Box::new(std::iter::empty()));
        };
        // Kafka's lowerRangeFixedSize/upperRangeFixedSize: exact for this key, but other
        // keys' store keys can fall between them (see `bounds`), hence the filter.
        let lower = encode_window_key(key, time_from, 0);
        let upper = encode_window_key(key, time_to, u32::MAX);
        let raw = self
            .segmented
            .scan(time_from, time_to, Some(&lower), Some(&upper), order)?;
        let key = key.to_vec();
        let store = self.name().to_owned();
        Ok(filter_scan(raw, move |store_key, value| {
            let parts = decode_window_key(&store_key).map_err(|source| corrupt(&store, source))?;
            let hit = parts.key == key.as_slice() && (time_from..=time_to).contains(&parts.start);
            Ok(hit.then_some((parts.start, value)))
        }))
    }

    pub(crate) fn fetch_keys(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        order: Order,
    ) -> StoreResult<WindowedIter<'_>> {
        if matches!((key_from, key_to), (Some(from), Some(to)) if from > to) {
            return Ok(Box::new(std::iter::empty()));
        }
        let Some(time_from) = self.live_from(time_from, time_to) else {
            return Ok(Box::new(std::iter::empty()));
        };
        let lower = key_from.map(|key| lower_bound(key, WINDOW_KEY_SUFFIX));
        let upper = key_to.map(|key| upper_bound(key, &max_suffix(time_to)));
        let raw = self
            .segmented
            .scan(time_from, time_to, lower.as_deref(), upper.as_deref(), order)?;
        let (key_from, key_to) = (key_from.map(<[u8]>::to_vec), key_to.map(<[u8]>::to_vec));
        let size = self.config.window_size_ms();
        let store = self.name().to_owned();
        Ok(filter_scan(raw, move |store_key, value| {
            let parts = decode_window_key(&store_key).map_err(|source| corrupt(&store, source))?;
            let hit = key_from.as_deref().is_none_or(|from| parts.key >= from)
                && key_to.as_deref().is_none_or(|to| parts.key <= to)
                && (time_from..=time_to).contains(&parts.start);
            Ok(hit.then(|| {
                let window = Window::new(parts.start, parts.start.saturating_add(size));
                (Windowed::new(parts.key.to_vec(), window), value)
            }))
        }))
    }

    pub(crate) fn restore(
        &mut self,
        records: &mut dyn Iterator<Item = (&[u8], Option<&[u8]>)>,
    ) -> StoreResult<()> {
        let duplicates = self.config.retain_duplicates();
        let mut decoded = Vec::new();
        let mut last_seqnum = None;
        for (index, (store_key, value)) in records.enumerate() {
            let parts = decode_window_key(store_key).map_err(|source| StoreError::MalformedChangelogKey {
                store: self.name().to_owned(),
                index,
                source,
            })?;
            let store_key = if duplicates || parts.seqnum == 0 {
                store_key.to_vec()
            } else {
                encode_window_key(parts.key, parts.start, 0)
            };
            if duplicates {
                last_seqnum = Some(parts.seqnum);
            }
            decoded.push((parts.start, store_key, value));
        }
        self.segmented.restore(&decoded, last_seqnum)
    }

    pub(crate) fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.segmented.approximate_num_entries()
    }

    pub(crate) fn flush(&mut self) -> StoreResult<()> {
        self.segmented.flush()
    }

    /// The first window start a query from `time_from` to `time_to` may return, or `None` when
    /// it can return nothing: window starts are never negative, and nothing expired is read
    /// (Kafka's `getActualFrom`, and its "to < actualFrom" early return).
    fn live_from(&self, time_from: i64, time_to: i64) -> Option<i64> {
        let from = time_from.max(0).max(self.segmented.min_live());
        (from <= time_to).then_some(from)
    }
}

/// A key read back from our own store that does not decode: the store's files are damaged.
fn corrupt(store: &str, source: crate::store::KeyError) -> StoreError {
    StoreError::CorruptKey {
        store: store.to_owned(),
        source,
    }
}
