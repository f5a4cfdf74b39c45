//! The session store against a reference model, and one store's changelog restored into
//! another.

// A panic is how a check fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::{Flat, Write, all, find, find_keys, restore};
use crate::store::session::SessionStore;
use crate::store::session::key::{decode_session_key, encode_session_key};
use crate::store::{Order, SessionPut, Window, Windowed};
/// One step of [`model_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Compares the [`SessionPut`] too.
    Put {
        key: Vec<u8>,
        window: Window,
        value: Option<Vec<u8>>,
    },
    Remove {
        key: Vec<u8>,
        window: Window,
    },
    FetchSession {
        key: Vec<u8>,
        window: Window,
    },
    Find {
        key: Vec<u8>,
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    },
    FindKeys {
        key_from: Option<Vec<u8>>,
        key_to: Option<Vec<u8>>,
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    },
    /// Changelog records `(key, session, value)`, restored as one batch.
    Restore(Vec<Write>),
    /// Compared only for stores that are not persistent, as a lower bound.
    Count,
    Flush,
    /// Drops the store and opens it again: a persistent store keeps its sessions and stream
    /// time, an in-memory one starts empty.
    Reopen,
}

/// Kafka's rules over a plain map of store keys, filtered by the live bound at read time.
#[derive(Debug)]
struct Model {
    retention: i64,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    observed: Option<i64>,
}

impl Model {
    fn new(retention: i64) -> Model {
        Model {
            retention,
            entries: BTreeMap::new(),
            observed: None,
        }
    }

    fn min_live(&self) -> i64 {
        self.observed
            .map_or(i64::MIN, |t| t.saturating_sub(self.retention).saturating_add(1))
    }

    fn put(&mut self, key: &[u8], window: Window, value: Option<&[u8]>) -> SessionPut {
        self.observed = Some(self.observed.map_or(window.end, |t| t.max(window.end)));
        if window.end < self.min_live() {
            return SessionPut::Expired;
        }
        let store_key = encode_session_key(key, window);
        match value {
            Some(value) => self.entries.insert(store_key, value.to_vec()),
            None => self.entries.remove(&store_key),
        };
        SessionPut::Applied
    }

    fn restore(&mut self, records: &[Write]) {
        let Some(latest) = records.iter().map(|r| r.1.end).max() else {
            return;
        };
        self.observed = Some(self.observed.map_or(latest, |t| t.max(latest)));
        for (key, window, value) in records {
            let _ = self.put(key, *window, value.as_deref());
        }
    }

    fn query(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
        order: Order,
    ) -> Flat {
        let mut out: Flat = self
            .entries
            .iter()
            .map(|(k, v)| (decode_session_key(k).unwrap(), v))
            .filter(|(s, _)| from.is_none_or(|f| s.key >= f) && to.is_none_or(|t| s.key <= t))
            .filter(|(s, _)| {
                s.window.end >= earliest_end.max(self.min_live()) && s.window.start <= latest_start
            })
            .map(|(s, v)| (s.key.to_vec(), s.window.start, s.window.end, v.clone()))
            .collect();
        if order == Order::Backward {
            out.reverse();
        }
        out
    }
}

/// Applies `ops` to a store from `open` and to the reference model, comparing every read and,
/// at the end, the whole contents and stream time.
pub fn model_check(open: &mut dyn FnMut() -> Box<dyn SessionStore>, ops: &[Op]) {
    let mut store = open();
    let mut model = Model::new(store.config().retention_ms());
    for (i, op) in ops.iter().enumerate() {
        let at = format!("op {i}, {op:?}");
        match op {
            Op::Put { key, window, value } => {
                let got = store.put(Windowed::new(key, *window), value.as_deref()).unwrap();
                assert_eq!(got, model.put(key, *window, value.as_deref()), "{at}");
            }
            Op::Remove { key, window } => {
                store.remove(Windowed::new(key, *window)).unwrap();
                let _ = model.put(key, *window, None);
            }
            Op::FetchSession { key, window } => {
                let expected = model
                    .query(Some(key), Some(key), window.end, window.start, Order::Forward)
                    .into_iter()
                    .find(|(k, s, e, _)| k == key && (*s, *e) == (window.start, window.end))
                    .map(|(_, _, _, v)| v);
                let got = store.fetch_session(key, window.start, window.end).unwrap();
                assert_eq!(got, expected, "{at}");
            }
            Op::Find {
                key,
                earliest_end,
                latest_start,
                order,
            } => {
                let expected = model.query(Some(key), Some(key), *earliest_end, *latest_start, *order);
                let got = find(store.as_ref(), key, *earliest_end, *latest_start, *order);
                assert_eq!(got, expected, "{at}");
            }
            Op::FindKeys {
                key_from,
                key_to,
                earliest_end,
                latest_start,
                order,
            } => {
                let (kf, kt) = (key_from.as_deref(), key_to.as_deref());
                let expected = if matches!((kf, kt), (Some(f), Some(t)) if f > t) {
                    vec![]
                } else {
                    model.query(kf, kt, *earliest_end, *latest_start, *order)
                };
                let got = find_keys(store.as_ref(), kf, kt, *earliest_end, *latest_start, *order);
                assert_eq!(got, expected, "{at}");
            }
            Op::Restore(records) => {
                let encoded: Vec<(Vec<u8>, Option<&[u8]>)> = records
                    .iter()
                    .map(|(k, w, v)| (encode_session_key(k, *w), v.as_deref()))
                    .collect();
                restore(store.as_mut(), &encoded).unwrap();
                model.restore(records);
            }
            Op::Count => {
                let count = store.approximate_num_entries().unwrap();
                if !store.persistent() {
                    let live = model.query(None, None, 0, i64::MAX, Order::Forward).len() as u64;
                    assert!(count >= live, "{at}: count {count} below {live} live sessions");
                }
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                let persistent = store.persistent();
                drop(store);
                store = open();
                if !persistent {
                    model = Model::new(model.retention);
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

/// Writes into `source` (a `None` value through [`SessionStore::remove`]), logs what Kafka's
/// change-logging layer would (the session key with the value for an applied put, a
/// tombstone for every removal), restores that changelog into `target` (same configuration,
/// empty) in batches of `batch`, and compares the two.
pub fn changelog_round_trip(
    source: &mut dyn SessionStore,
    target: &mut dyn SessionStore,
    writes: &[Write],
    batch: usize,
) {
    let mut changelog = Vec::new();
    for (key, window, value) in writes {
        let session = Windowed::new(key.as_slice(), *window);
        match value {
            Some(value) => {
                if source.put(session, Some(value)).unwrap() == SessionPut::Applied {
                    changelog.push((encode_session_key(key, *window), Some(value.clone())));
                }
            }
            None => {
                source.remove(session).unwrap();
                changelog.push((encode_session_key(key, *window), None));
            }
        }
    }
    for chunk in changelog.chunks(batch.max(1)) {
        target
            .restore(&mut chunk.iter().map(|(k, v)| (k.as_slice(), v.as_deref())))
            .unwrap();
    }
    assert_eq!(all(target), all(source), "contents after restore");
    assert_eq!(target.observed_stream_time(), source.observed_stream_time());
}
