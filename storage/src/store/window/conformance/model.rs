//! The window store against a reference model, and one store's changelog restored into
//! another.

// A panic is how a check fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::{Flat, all, keys, range, restore};
use crate::store::window::key::{decode_window_key, encode_window_key};
use crate::store::window::{WindowStore, WindowStoreConfig};
use crate::store::{Order, WindowPut};

/// A changelog record as [`Op::Restore`] takes it: key, window start, sequence number, value.
pub type ChangelogRecord = (Vec<u8>, i64, u32, Option<Vec<u8>>);

/// A put as [`changelog_round_trip`] takes it: key, value, window start.
pub type Put = (Vec<u8>, Option<Vec<u8>>, i64);
/// One step of [`model_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Compares the [`WindowPut`] too.
    Put {
        key: Vec<u8>,
        value: Option<Vec<u8>>,
        start: i64,
    },
    /// [`WindowStore::put_all`] of these puts (key, value, start), compared with the model's
    /// puts one after another, result by result.
    PutAll(Vec<Put>),
    Fetch {
        key: Vec<u8>,
        start: i64,
    },
    FetchRange {
        key: Vec<u8>,
        from: i64,
        to: i64,
        order: Order,
    },
    /// `fetch_all` when both keys are `None`.
    FetchKeys {
        key_from: Option<Vec<u8>>,
        key_to: Option<Vec<u8>>,
        from: i64,
        to: i64,
        order: Order,
    },
    /// Changelog records `(key, window start, seqnum, value)`, restored as one batch.
    Restore(Vec<ChangelogRecord>),
    /// Compared only for stores that are not persistent, as a lower bound: expired windows in
    /// a segment not yet dropped still count.
    Count,
    Flush,
    /// Drops the store and opens it again: a persistent store keeps its windows and stream
    /// time, an in-memory one starts empty.
    Reopen,
}

/// Kafka's rules over a plain map of store keys: nothing is ever physically expired here;
/// reads filter by the live bound instead, which is the rule at its simplest.
#[derive(Debug)]
struct Model {
    config: WindowStoreConfig,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    observed: Option<i64>,
    seqnum: u32,
}

impl Model {
    fn new(config: WindowStoreConfig) -> Model {
        Model {
            config,
            entries: BTreeMap::new(),
            observed: None,
            seqnum: 0,
        }
    }

    fn min_live(&self) -> i64 {
        self.observed.map_or(i64::MIN, |t| {
            t.saturating_sub(self.config.retention_ms()).saturating_add(1)
        })
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> WindowPut {
        let duplicates = self.config.retain_duplicates();
        if duplicates && value.is_none() {
            return WindowPut::Ignored;
        }
        self.observed = Some(self.observed.map_or(start, |t| t.max(start)));
        if start < self.min_live() {
            return WindowPut::Expired;
        }
        let seqnum = if duplicates {
            self.seqnum = (self.seqnum + 1) & 0x7fff_ffff;
            self.seqnum
        } else {
            0
        };
        let store_key = encode_window_key(key, start, seqnum);
        match value {
            Some(value) => self.entries.insert(store_key, value.to_vec()),
            None => self.entries.remove(&store_key),
        };
        WindowPut::Applied { seqnum }
    }

    fn restore(&mut self, records: &[ChangelogRecord]) {
        let Some(latest) = records.iter().map(|r| r.1).max() else {
            return;
        };
        self.observed = Some(self.observed.map_or(latest, |t| t.max(latest)));
        let duplicates = self.config.retain_duplicates();
        for (key, start, seqnum, value) in records {
            if duplicates {
                self.seqnum = *seqnum;
            }
            if *start < self.min_live() {
                continue;
            }
            let store_key = encode_window_key(key, *start, if duplicates { *seqnum } else { 0 });
            match value {
                Some(value) => self.entries.insert(store_key, value.clone()),
                None => self.entries.remove(&store_key),
            };
        }
    }

    /// Live windows in the query, in store-key order.
    fn query(&self, from: Option<&[u8]>, to: Option<&[u8]>, t0: i64, t1: i64, order: Order) -> Flat {
        let mut out: Flat = self
            .entries
            .iter()
            .map(|(k, v)| (decode_window_key(k).unwrap(), v))
            .filter(|(w, _)| from.is_none_or(|f| w.key >= f) && to.is_none_or(|t| w.key <= t))
            .filter(|(w, _)| w.start >= t0 && w.start <= t1 && w.start >= self.min_live())
            .map(|(w, v)| (w.key.to_vec(), w.start, v.clone()))
            .collect();
        if order == Order::Backward {
            out.reverse();
        }
        out
    }
}

/// Applies `ops` to a store from `open` and to the reference model, comparing every read and,
/// at the end, the whole contents and stream time. `open` is called again at every
/// [`Op::Reopen`], where a persistent store must be the same one.
pub fn model_check(open: &mut dyn FnMut() -> Box<dyn WindowStore>, ops: &[Op]) {
    let mut store = open();
    let mut model = Model::new(*store.config());
    for (i, op) in ops.iter().enumerate() {
        let at = format!("op {i}, {op:?}");
        match op {
            Op::Put { key, value, start } => {
                let got = store.put(key, value.as_deref(), *start).unwrap();
                assert_eq!(got, model.put(key, value.as_deref(), *start), "{at}");
            }
            Op::PutAll(puts) => {
                let borrowed: Vec<_> = puts
                    .iter()
                    .map(|(k, v, s)| (k.as_slice(), v.as_deref(), *s))
                    .collect();
                let got = store.put_all(&borrowed).unwrap();
                let expected: Vec<WindowPut> = puts
                    .iter()
                    .map(|(k, v, s)| model.put(k, v.as_deref(), *s))
                    .collect();
                assert_eq!(got, expected, "{at}");
            }
            Op::Fetch { key, start } => {
                let expected = if model.config.retain_duplicates() {
                    None
                } else {
                    model
                        .query(Some(key), Some(key), *start, *start, Order::Forward)
                        .into_iter()
                        .find(|(k, _, _)| k == key)
                        .map(|(_, _, v)| v)
                };
                assert_eq!(store.fetch(key, *start).unwrap(), expected, "{at}");
            }
            Op::FetchRange { key, from, to, order } => {
                let expected: Vec<(i64, Vec<u8>)> = model
                    .query(Some(key), Some(key), *from, *to, *order)
                    .into_iter()
                    .map(|(_, s, v)| (s, v))
                    .collect();
                assert_eq!(range(store.as_ref(), key, *from, *to, *order), expected, "{at}");
            }
            Op::FetchKeys {
                key_from,
                key_to,
                from,
                to,
                order,
            } => {
                let (kf, kt) = (key_from.as_deref(), key_to.as_deref());
                let expected = if matches!((kf, kt), (Some(f), Some(t)) if f > t) {
                    vec![]
                } else {
                    model.query(kf, kt, *from, *to, *order)
                };
                assert_eq!(keys(store.as_ref(), kf, kt, *from, *to, *order), expected, "{at}");
            }
            Op::Restore(records) => {
                let encoded: Vec<(Vec<u8>, Option<&[u8]>)> = records
                    .iter()
                    .map(|(k, s, q, v)| (encode_window_key(k, *s, *q), v.as_deref()))
                    .collect();
                restore(store.as_mut(), &encoded).unwrap();
                model.restore(records);
            }
            Op::Count => {
                let count = store.approximate_num_entries().unwrap();
                if !store.persistent() {
                    let live = model.query(None, None, 0, i64::MAX, Order::Forward).len() as u64;
                    assert!(count >= live, "{at}: count {count} below {live} live windows");
                }
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                let persistent = store.persistent();
                drop(store);
                store = open();
                if !persistent {
                    model = Model::new(model.config);
                }
            }
        }
        assert_eq!(store.observed_stream_time(), model.observed, "{at}: stream time");
    }
    assert_eq!(
        all(store.as_ref()),
        model.query(None, None, 0, i64::MAX, Order::Forward),
        "after all ops"
    );
}

/// Puts into `source`, logs what each put says to log, restores that changelog into `target`
/// (of the same configuration, empty) in batches of `batch` records, and compares the two.
/// With the two implementations as source and target, this is the changelog compatibility of
/// the key schema in both directions.
pub fn changelog_round_trip(
    source: &mut dyn WindowStore,
    target: &mut dyn WindowStore,
    puts: &[Put],
    batch: usize,
) {
    let mut changelog = Vec::new();
    for (key, value, start) in puts {
        let put = source.put(key, value.as_deref(), *start).unwrap();
        if let Some(changelog_key) = put.changelog_key(key, *start) {
            changelog.push((changelog_key, value.clone()));
        }
    }
    for chunk in changelog.chunks(batch.max(1)) {
        target
            .restore(&mut chunk.iter().map(|(k, v)| (k.as_slice(), v.as_deref())))
            .unwrap();
    }
    assert_eq!(all(target), all(source), "contents after restore");
    assert_eq!(target.observed_stream_time(), source.observed_stream_time());
    if source.config().retain_duplicates() {
        // The sequence continues where the source's left off.
        let (next_source, next_target) = (
            source.put(b"next", Some(b"n"), i64::MAX / 2).unwrap(),
            target.put(b"next", Some(b"n"), i64::MAX / 2).unwrap(),
        );
        assert_eq!(next_target, next_source, "the next put after restore");
    }
}
