//! Both key-value stores (`storage::store`) against the shipped conformance suite, against a
//! `BTreeMap` model over random operation sequences, and RocksDB across reopens.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use storage::store::conformance::{self, Op};
use storage::store::{InMemoryStore, KeyValueStore, RocksDbStore};

#[test]
fn in_memory_store_passes_conformance_suite() {
    conformance::test_all(&mut || Box::new(InMemoryStore::new("conformance")));
}

#[test]
fn rocksdb_store_passes_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::test_all(&mut || {
        opened += 1;
        Box::new(RocksDbStore::open(dir.path(), &format!("store-{opened}")).unwrap())
    });
}

/// A tiny alphabet, so that keys collide, with the bytes where signed and unsigned order
/// differ; lengths 0..=2, so the empty key and prefixes of other keys occur.
fn key() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop::sample::select(vec![0x00u8, 0x01, b'a', 0x7f, 0x80, 0xff]),
        0..=2,
    )
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => key().prop_map(Op::Delete),
        2 => vec((key(), prop::option::of(value())), 0..6).prop_map(Op::Batch),
        4 => key().prop_map(Op::Get),
        3 => (prop::option::of(key()), prop::option::of(key())).prop_map(|(f, t)| Op::Range(f, t)),
        1 => Just(Op::All),
        1 => Just(Op::Count),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn in_memory_store_matches_model(ops in ops()) {
        conformance::model_check(&mut || Box::new(InMemoryStore::new("model")), &ops);
    }

    #[test]
    fn rocksdb_store_matches_model(ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        // Every call reopens the same store: `Op::Reopen` checks what survives a clean close.
        conformance::model_check(&mut || Box::new(open(dir.path())), &ops);
    }
}

fn open(dir: &Path) -> RocksDbStore {
    RocksDbStore::open(dir, "counts").unwrap()
}

#[test]
fn rocksdb_flushed_values_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.put(b"a", b"1").unwrap();
    store.put(b"b", b"2").unwrap();
    store.delete(b"a").unwrap();
    store.flush().unwrap();
    drop(store);

    let store = open(dir.path());
    assert!(store.persistent());
    assert_eq!(store.get(b"a").unwrap(), None);
    assert_eq!(store.get(b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.path(), dir.path().join("counts"));
}

#[test]
fn rocksdb_destroyed_store_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.put(b"a", b"1").unwrap();
    store.flush().unwrap();
    drop(store);

    RocksDbStore::destroy(dir.path(), "counts").unwrap();
    assert!(!dir.path().join("counts").exists());
    let store = open(dir.path());
    assert_eq!(store.all().unwrap().count(), 0);
    assert_eq!(store.approximate_num_entries().unwrap(), 0);
}

#[test]
fn rocksdb_stores_in_one_dir_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    let mut left = RocksDbStore::open(dir.path(), "left").unwrap();
    let mut right = RocksDbStore::open(dir.path(), "right").unwrap();
    left.put(b"k", b"left").unwrap();
    right.put(b"k", b"right").unwrap();
    RocksDbStore::destroy(dir.path(), "nothing-here").unwrap();
    assert_eq!(left.get(b"k").unwrap().as_deref(), Some(&b"left"[..]));
    assert_eq!(right.get(b"k").unwrap().as_deref(), Some(&b"right"[..]));
}
