//! The conformance suite every [`KeyValueStore`] implementation runs, as openraft ships its
//! `Suite::test_all`: named checks of the trait's contract, and [`model_check`], which replays
//! a sequence of operations against a `BTreeMap` and compares every read.
//!
//! Compiled into the library (it needs nothing test-only) so that a store implemented outside
//! this crate can run it too. Failures panic, as in any test.
//!
//! ```
//! use storage::store::{InMemoryStore, KeyValueStore, conformance};
//!
//! conformance::test_all(&mut || Box::new(InMemoryStore::new("conformance")));
//! ```

// A panic is how a check fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::{KeyValueStore, KvIter};

/// Opens a store. [`test_all`] wants a fresh, empty store per call; [`model_check`] calls it
/// once, then again at every [`Op::Reopen`], where a persistent store must be the same one.
pub type Open<'a> = &'a mut dyn FnMut() -> Box<dyn KeyValueStore>;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// One named check of the suite; `run` gets a fresh, empty store.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub name: &'static str,
    pub run: fn(&mut dyn KeyValueStore),
}

macro_rules! check {
    ($f:ident) => {
        Check {
            name: stringify!($f),
            run: $f,
        }
    };
}

/// Every check, in the order [`test_all`] runs them.
pub const CHECKS: &[Check] = &[
    check!(get_of_missing_key_is_none),
    check!(put_then_get_returns_latest_value),
    check!(delete_returns_old_value_and_removes_key),
    check!(empty_key_and_empty_value_are_stored),
    check!(range_is_inclusive_on_both_ends),
    check!(range_with_open_ends_is_unbounded),
    check!(range_to_excludes_keys_that_extend_it),
    check!(keys_order_as_unsigned_bytes),
    check!(all_is_ascending),
    check!(write_batch_applies_in_order),
    check!(approximate_count_follows_puts_and_deletes),
    check!(flushed_values_stay_readable),
];

/// Runs every check in [`CHECKS`], each on a fresh store from `open`.
pub fn test_all(open: Open<'_>) {
    for check in CHECKS {
        let mut store = open();
        // Captured by the test harness and shown only when the check fails.
        eprintln!("store conformance: {} on {store:?}", check.name);
        (check.run)(store.as_mut());
    }
}

fn collect(scan: KvIter<'_>) -> Entries {
    scan.collect::<Result<_, _>>().unwrap()
}

fn entries(pairs: &[(&[u8], &[u8])]) -> Entries {
    pairs.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

fn range(store: &dyn KeyValueStore, from: Option<&[u8]>, to: Option<&[u8]>) -> Entries {
    collect(store.range(from, to).unwrap())
}

fn all(store: &dyn KeyValueStore) -> Entries {
    collect(store.all().unwrap())
}

/// Puts each key with itself as the value.
fn put_keys(store: &mut dyn KeyValueStore, keys: &[&[u8]]) {
    for key in keys {
        store.put(key, key).unwrap();
    }
}

/// Each key paired with itself, as [`put_keys`] stores them.
fn selves(keys: &[&[u8]]) -> Entries {
    keys.iter().map(|k| (k.to_vec(), k.to_vec())).collect()
}

fn get_of_missing_key_is_none(store: &mut dyn KeyValueStore) {
    assert_eq!(store.get(b"missing").unwrap(), None);
    store.put(b"present", b"v").unwrap();
    assert_eq!(store.get(b"missing").unwrap(), None);
    assert_eq!(store.get(b"presen").unwrap(), None, "a prefix is another key");
}

fn put_then_get_returns_latest_value(store: &mut dyn KeyValueStore) {
    store.put(b"k", b"v1").unwrap();
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
    store.put(b"k", b"v2").unwrap();
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(all(store), entries(&[(b"k", b"v2")]));
}

fn delete_returns_old_value_and_removes_key(store: &mut dyn KeyValueStore) {
    store.put(b"k", b"v").unwrap();
    store.put(b"other", b"o").unwrap();
    assert_eq!(store.delete(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(store.delete(b"k").unwrap(), None, "second delete");
    assert_eq!(store.delete(b"never").unwrap(), None);
    assert_eq!(all(store), entries(&[(b"other", b"o")]));
}

/// An empty value is a value, not a tombstone: tombstones are the DSL's business.
fn empty_key_and_empty_value_are_stored(store: &mut dyn KeyValueStore) {
    store.put(b"", b"empty key").unwrap();
    store.put(b"k", b"").unwrap();
    assert_eq!(store.get(b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(store.get(b"k").unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(all(store), entries(&[(b"", b"empty key"), (b"k", b"")]));
    assert_eq!(
        range(store, Some(b""), Some(b"")),
        entries(&[(b"", b"empty key")])
    );
    assert_eq!(store.delete(b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(store.get(b"").unwrap(), None);
}

fn range_is_inclusive_on_both_ends(store: &mut dyn KeyValueStore) {
    put_keys(store, &[b"a", b"b", b"c", b"d"]);
    assert_eq!(range(store, Some(b"b"), Some(b"c")), selves(&[b"b", b"c"]));
    assert_eq!(range(store, Some(b"b"), Some(b"b")), selves(&[b"b"]));
    assert_eq!(range(store, Some(b"aa"), Some(b"cc")), selves(&[b"b", b"c"]));
    assert_eq!(range(store, Some(b"x"), Some(b"z")), vec![]);
    assert_eq!(range(store, Some(b"c"), Some(b"b")), vec![], "from > to is empty");
    assert_eq!(range(store, Some(b"d"), Some(b"a")), vec![], "from > to is empty");
}

fn range_with_open_ends_is_unbounded(store: &mut dyn KeyValueStore) {
    put_keys(store, &[b"a", b"b", b"c", b"d"]);
    assert_eq!(range(store, None, Some(b"b")), selves(&[b"a", b"b"]));
    assert_eq!(range(store, Some(b"c"), None), selves(&[b"c", b"d"]));
    assert_eq!(range(store, None, None), selves(&[b"a", b"b", b"c", b"d"]));
    assert_eq!(range(store, None, Some(b"")), vec![]);
    assert_eq!(range(store, Some(b"e"), None), vec![]);
}

/// `to` is inclusive, but a key that merely starts with `to` is above it: the trap of an
/// exclusive upper bound turned inclusive by appending a byte.
fn range_to_excludes_keys_that_extend_it(store: &mut dyn KeyValueStore) {
    let keys: &[&[u8]] = &[b"a", b"a\x00", b"a\x00\x00", b"a\x00\x01", b"a\x01", b"b"];
    put_keys(store, keys);
    assert_eq!(range(store, None, Some(b"a")), selves(&[b"a"]));
    assert_eq!(range(store, None, Some(b"a\x00")), selves(&[b"a", b"a\x00"]));
    assert_eq!(
        range(store, Some(b"a\x00"), Some(b"a\x00\x00")),
        selves(&[b"a\x00", b"a\x00\x00"])
    );
    assert_eq!(
        range(store, Some(b"a\x00\x01"), Some(b"a\xff")),
        selves(&keys[3..5])
    );
}

fn keys_order_as_unsigned_bytes(store: &mut dyn KeyValueStore) {
    let sorted: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x00\xff",
        b"\x01",
        b"\x7f",
        b"\x80",
        b"\xfe",
        b"\xff",
        b"\xff\x00",
        b"\xff\xff",
    ];
    // Insert in an order that is neither sorted nor reversed.
    for i in (0..sorted.len()).map(|i| i * 7 % sorted.len()) {
        store.put(sorted[i], sorted[i]).unwrap();
    }
    assert_eq!(all(store), selves(sorted));
    assert_eq!(range(store, Some(b"\x7f"), Some(b"\xff")), selves(&sorted[5..9]));
    assert_eq!(range(store, Some(b"\xff"), None), selves(&sorted[8..]));
}

fn all_is_ascending(store: &mut dyn KeyValueStore) {
    assert_eq!(all(store), vec![], "empty store");
    // Big-endian integers sort as numbers; insert them backwards.
    for n in (0u32..300).rev() {
        store.put(&n.to_be_bytes(), &n.to_le_bytes()).unwrap();
    }
    let expected: Entries = (0u32..300)
        .map(|n| (n.to_be_bytes().to_vec(), n.to_le_bytes().to_vec()))
        .collect();
    assert_eq!(all(store), expected);
}

fn write_batch_applies_in_order(store: &mut dyn KeyValueStore) {
    store.put(b"old", b"o").unwrap();
    store.put(b"kept", b"k").unwrap();
    let batch: &[(&[u8], Option<&[u8]>)] = &[
        (b"a", Some(b"1")),
        (b"a", None), // put then delete of one key: deleted
        (b"b", None),
        (b"b", Some(b"2")), // delete then put: present
        (b"c", Some(b"3")),
        (b"c", Some(b"4")), // last put wins
        (b"old", None),
        (b"never", None),
    ];
    store.write_batch(&mut batch.iter().copied()).unwrap();
    assert_eq!(
        all(store),
        entries(&[(b"b", b"2"), (b"c", b"4"), (b"kept", b"k")])
    );
    store.write_batch(&mut std::iter::empty()).unwrap();
    assert_eq!(all(store).len(), 3, "an empty batch changes nothing");
}

/// Exact for a store that is not persistent. A persistent store's count is RocksDB's
/// `estimate-num-keys`, which subtracts tombstones (twice, once flushed) and counts overwrites
/// until compaction: it can be high or low, so only "not zero after puts" is checked.
fn approximate_count_follows_puts_and_deletes(store: &mut dyn KeyValueStore) {
    let exact = !store.persistent();
    if exact {
        assert_eq!(store.approximate_num_entries().unwrap(), 0);
    }
    for n in 0u8..10 {
        store.put(&[n], b"v").unwrap();
    }
    store.put(&[0], b"overwritten").unwrap();
    let count = store.approximate_num_entries().unwrap();
    if exact {
        assert_eq!(count, 10);
    } else {
        assert!(count > 0, "estimate after 10 puts is {count}");
    }
    for n in 0u8..3 {
        store.delete(&[n]).unwrap();
    }
    store.write_batch(&mut [(&[3u8][..], None)].into_iter()).unwrap();
    let count = store.approximate_num_entries().unwrap();
    if exact {
        assert_eq!(count, 6);
    }
}

fn flushed_values_stay_readable(store: &mut dyn KeyValueStore) {
    store.flush().unwrap(); // of an empty store
    put_keys(store, &[b"a", b"c", b"e"]);
    store.flush().unwrap();
    assert_eq!(store.get(b"c").unwrap().as_deref(), Some(&b"c"[..]));
    // Writes after the flush shadow flushed ones; scans merge both.
    put_keys(store, &[b"b", b"d"]);
    store.put(b"a", b"a2").unwrap();
    assert_eq!(store.delete(b"e").unwrap().as_deref(), Some(&b"e"[..]));
    let expected = entries(&[(b"a", b"a2"), (b"b", b"b"), (b"c", b"c"), (b"d", b"d")]);
    assert_eq!(all(store), expected);
    store.flush().unwrap();
    assert_eq!(all(store), expected);
    assert_eq!(store.get(b"e").unwrap(), None);
    assert_eq!(range(store, Some(b"b"), Some(b"d")), expected[1..].to_vec());
}

/// One step of [`model_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    /// Compares the returned old value.
    Delete(Vec<u8>),
    /// Puts (`Some`) and deletes (`None`) through [`KeyValueStore::write_batch`].
    Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Get(Vec<u8>),
    Range(Option<Vec<u8>>, Option<Vec<u8>>),
    All,
    /// Compared only for stores that are not persistent (see
    /// `approximate_count_follows_puts_and_deletes`); otherwise it must just not fail.
    Count,
    Flush,
    /// Drops the store and opens it again: a persistent store keeps its entries (RocksDB
    /// flushes on a clean close), an in-memory one starts empty.
    Reopen,
}

/// Applies `ops` to a store from `open` and to a `BTreeMap`, comparing every read and, at the
/// end, the whole contents.
pub fn model_check(open: Open<'_>, ops: &[Op]) {
    let mut store = open();
    let mut model = BTreeMap::<Vec<u8>, Vec<u8>>::new();
    for (i, op) in ops.iter().enumerate() {
        let at = format!("op {i}, {op:?}");
        match op {
            Op::Put(key, value) => {
                store.put(key, value).unwrap();
                model.insert(key.clone(), value.clone());
            }
            Op::Delete(key) => assert_eq!(store.delete(key).unwrap(), model.remove(key), "{at}"),
            Op::Batch(batch) => {
                let mut entries = batch.iter().map(|(k, v)| (&k[..], v.as_deref()));
                store.write_batch(&mut entries).unwrap();
                for (key, value) in batch {
                    match value {
                        Some(value) => model.insert(key.clone(), value.clone()),
                        None => model.remove(key),
                    };
                }
            }
            Op::Get(key) => assert_eq!(store.get(key).unwrap().as_ref(), model.get(key), "{at}"),
            Op::Range(from, to) => {
                let expected: Entries = model
                    .iter()
                    .filter(|(k, _)| from.as_ref().is_none_or(|from| *k >= from))
                    .filter(|(k, _)| to.as_ref().is_none_or(|to| *k <= to))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let got = range(store.as_ref(), from.as_deref(), to.as_deref());
                assert_eq!(got, expected, "{at}");
            }
            Op::All => assert_eq!(all(store.as_ref()), model_entries(&model), "{at}"),
            Op::Count => {
                let count = store.approximate_num_entries().unwrap();
                if !store.persistent() {
                    assert_eq!(count, model.len() as u64, "{at}");
                }
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => {
                let persistent = store.persistent();
                drop(store);
                store = open();
                if !persistent {
                    model.clear();
                }
            }
        }
    }
    assert_eq!(all(store.as_ref()), model_entries(&model), "after all ops");
}

fn model_entries(model: &BTreeMap<Vec<u8>, Vec<u8>>) -> Entries {
    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
