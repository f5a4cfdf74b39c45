//! Both window stores (`storage::store::window`) against the shipped conformance suite,
//! against a reference model over random operation sequences, each other's changelogs, and
//! RocksDB across reopens.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use storage::store::window::conformance::{self, Op};
use storage::store::window::{WindowWrite, encode_window_key};
use storage::store::{
    InMemoryWindowStore, Order, RocksDbWindowStore, StoreError, WindowPut, WindowStore, WindowStoreConfig,
};

#[test]
fn in_memory_window_store_passes_conformance_suite() {
    conformance::test_all(&mut |config| Box::new(InMemoryWindowStore::new("conformance", config).unwrap()));
}

#[test]
fn rocksdb_window_store_passes_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::test_all(&mut |config| {
        opened += 1;
        Box::new(RocksDbWindowStore::open(dir.path(), &format!("store-{opened}"), config).unwrap())
    });
}

/// Small times over segments of 20 ms with a 100 ms retention, so that random sequences
/// cross segment boundaries, expire windows and drop segments.
fn model_config(duplicates: bool) -> WindowStoreConfig {
    WindowStoreConfig::new(100, 10)
        .with_segment_interval(20)
        .with_retain_duplicates(duplicates)
}

/// A tiny alphabet, so that keys collide and prefix one another.
fn key() -> impl Strategy<Value = Vec<u8>> {
    vec(prop::sample::select(vec![0x00u8, 0x01, b'a', 0xff]), 0..=2)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..3)
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 0i64..400, 1 => Just(0), 1 => (0i64..20).prop_map(|t| t * 20)]
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![Just(Order::Forward), Just(Order::Backward)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key(), prop::option::weighted(0.85, value()), time())
            .prop_map(|(key, value, start)| Op::Put { key, value, start }),
        2 => vec(put(), 0..8).prop_map(Op::PutAll),
        2 => (key(), time()).prop_map(|(key, start)| Op::Fetch { key, start }),
        3 => (key(), -5i64..400, -5i64..400, order())
            .prop_map(|(key, from, to, order)| Op::FetchRange { key, from, to, order }),
        3 => (prop::option::of(key()), prop::option::of(key()), -5i64..400, 0i64..400, order())
            .prop_map(|(key_from, key_to, from, to, order)| Op::FetchKeys { key_from, key_to, from, to, order }),
        1 => vec((key(), time(), 0u32..4, prop::option::of(value())), 0..5).prop_map(Op::Restore),
        1 => Just(Op::Count),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    vec(op(), 0..50)
}

fn put() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>, i64)> {
    (key(), prop::option::weighted(0.85, value()), time())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn in_memory_window_store_matches_model(duplicates in any::<bool>(), ops in ops()) {
        let config = model_config(duplicates);
        conformance::model_check(&mut || Box::new(InMemoryWindowStore::new("model", config).unwrap()), &ops);
    }

    #[test]
    fn rocksdb_window_store_matches_model(duplicates in any::<bool>(), ops in ops()) {
        let dir = tempfile::tempdir().unwrap();
        let config = model_config(duplicates);
        // Every call reopens the same store: `Op::Reopen` checks what survives a clean close.
        conformance::model_check(&mut || Box::new(open(dir.path(), config)), &ops);
    }

    /// The changelog of a RocksDB store restores into an in-memory one and the reverse.
    #[test]
    fn window_changelogs_restore_across_implementations(
        duplicates in any::<bool>(),
        puts in vec(put(), 0..40),
        batch in 1usize..8,
        rocks_first in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = model_config(duplicates);
        let mut memory = InMemoryWindowStore::new("memory", config).unwrap();
        let mut rocks = open(dir.path(), config);
        if rocks_first {
            conformance::changelog_round_trip(&mut rocks, &mut memory, &puts, batch);
        } else {
            conformance::changelog_round_trip(&mut memory, &mut rocks, &puts, batch);
        }
    }
}

fn open(dir: &Path, config: WindowStoreConfig) -> RocksDbWindowStore {
    RocksDbWindowStore::open(dir, "windows", config).unwrap()
}

fn all(store: &dyn WindowStore) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
    store
        .all()
        .unwrap()
        .map(|e| e.map(|(w, v)| (w.key, w.window.start, v)))
        .collect::<Result<_, _>>()
        .unwrap()
}

const MINUTE: i64 = 60_000;

#[test]
fn rocksdb_window_store_keeps_windows_stream_time_and_sequence_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = WindowStoreConfig::new(10 * MINUTE, MINUTE).with_retain_duplicates(true);
    let mut store = open(dir.path(), config);
    for minute in 0..12 {
        let _ = store.put(b"k", Some(&[minute as u8]), minute * MINUTE).unwrap();
    }
    let before = all(&store);
    // Stream time 11 min: windows from 1 min + 1 ms on are live, in the five-minute segments
    // [0, 5), [5, 10) and [10, 15).
    assert_eq!(store.segment_count(), 3);
    drop(store);

    let mut store = open(dir.path(), config);
    assert_eq!(store.observed_stream_time(), Some(11 * MINUTE));
    assert_eq!(
        all(&store),
        before,
        "expired windows stay hidden after a reopen, unlike Kafka's"
    );
    // The sequence continues: no retained duplicate is overwritten by a reused number.
    assert_eq!(
        store.put(b"k", Some(b"x"), 11 * MINUTE).unwrap(),
        WindowPut::Applied { seqnum: 13 }
    );
}

#[test]
fn rocksdb_window_store_drops_expired_segments_whole() {
    let dir = tempfile::tempdir().unwrap();
    // Segments of one minute, ten minutes of retention: at most eleven live segments.
    let config = WindowStoreConfig::new(10 * MINUTE, MINUTE).with_segment_interval(MINUTE);
    let mut store = open(dir.path(), config);
    for minute in 0..30 {
        let _ = store.put(b"k", Some(b"v"), minute * MINUTE).unwrap();
        assert!(
            store.segment_count() <= 11,
            "minute {minute}: {} segments",
            store.segment_count()
        );
    }
    // Stream time 29 min: windows from 19 min + 1 ms on are live, segments 19 to 29 kept.
    assert_eq!(store.segment_count(), 11);
    drop(store);
    let store = open(dir.path(), config);
    assert_eq!(store.segment_count(), 11, "the segments found on reopen");
}

#[test]
fn rocksdb_window_store_refuses_a_changed_segment_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), WindowStoreConfig::new(10 * MINUTE, MINUTE));
    let _ = store.put(b"k", Some(b"v"), 0).unwrap();
    drop(store);
    // Twenty minutes of retention: segments of ten minutes instead of five.
    let err = RocksDbWindowStore::open(dir.path(), "windows", WindowStoreConfig::new(20 * MINUTE, MINUTE))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SegmentIntervalChanged {
                stored: 300_000,
                configured: 600_000,
                ..
            }
        ),
        "{err}"
    );
    RocksDbWindowStore::destroy(dir.path(), "windows").unwrap();
    let store =
        RocksDbWindowStore::open(dir.path(), "windows", WindowStoreConfig::new(20 * MINUTE, MINUTE)).unwrap();
    assert_eq!(
        store.observed_stream_time(),
        None,
        "a destroyed store opens empty"
    );
}

#[test]
fn window_store_configs_are_checked_as_kafka_checks_them() {
    for (config, what) in [
        (WindowStoreConfig::new(-1, 0), "negative retention"),
        (WindowStoreConfig::new(10, -1), "negative window"),
        (WindowStoreConfig::new(10, 11), "window larger than retention"),
        (
            WindowStoreConfig::new(10, 1).with_segment_interval(0),
            "no segment interval",
        ),
    ] {
        let err = InMemoryWindowStore::new("bad", config).unwrap_err();
        assert!(matches!(err, StoreError::InvalidConfig { .. }), "{what}: {err}");
    }
    let config = WindowStoreConfig::new(10 * MINUTE, MINUTE);
    assert_eq!(config.segment_interval_ms(), 5 * MINUTE);
    assert_eq!(
        WindowStoreConfig::new(MINUTE, MINUTE).segment_interval_ms(),
        MINUTE
    );
}

/// Changelog records laid out by hand as Kafka Streams' `WindowKeySchema` writes them.
#[test]
fn a_kafka_streams_window_changelog_restores() {
    let mut kafka_key = b"user-1".to_vec();
    kafka_key.extend_from_slice(&120_000i64.to_be_bytes());
    kafka_key.extend_from_slice(&0i32.to_be_bytes());
    assert_eq!(kafka_key, encode_window_key(b"user-1", 120_000, 0));
    let mut store = InMemoryWindowStore::new("kafka", WindowStoreConfig::new(10 * MINUTE, MINUTE)).unwrap();
    store
        .restore(&mut [(kafka_key.as_slice(), Some(&b"42"[..]))].into_iter())
        .unwrap();
    assert_eq!(
        store.fetch(b"user-1", 120_000).unwrap().as_deref(),
        Some(&b"42"[..])
    );
}

#[test]
fn put_all_leaves_the_segments_that_the_same_puts_one_by_one_leave() {
    // The first put is live when it comes, and its segment expires with the second: one by
    // one it is written and then dropped with its segment, so the batch must not write it
    // into a segment created again after the drop.
    let dir = tempfile::tempdir().unwrap();
    let config = WindowStoreConfig::new(10 * MINUTE, MINUTE);
    let mut one_by_one = RocksDbWindowStore::open(dir.path(), "one-by-one", config).unwrap();
    let mut batched = RocksDbWindowStore::open(dir.path(), "batched", config).unwrap();
    let puts: [WindowWrite<'_>; 3] = [
        (b"a", Some(b"1"), 0),
        (b"a", Some(b"2"), 30 * MINUTE),
        (b"b", Some(b"3"), MINUTE),
    ];
    let expected: Vec<WindowPut> = puts
        .iter()
        .map(|(k, v, s)| one_by_one.put(k, *v, *s).unwrap())
        .collect();
    assert_eq!(
        expected,
        [
            WindowPut::Applied { seqnum: 0 },
            WindowPut::Applied { seqnum: 0 },
            WindowPut::Expired
        ]
    );
    assert_eq!(batched.put_all(&puts).unwrap(), expected);
    assert_eq!(batched.segment_count(), one_by_one.segment_count());
    assert_eq!(batched.segment_count(), 1, "only the segment of 30 minutes");
    assert_eq!(all(&batched), all(&one_by_one));
}

#[test]
fn put_all_with_a_negative_window_start_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), WindowStoreConfig::new(10 * MINUTE, MINUTE));
    let puts: [WindowWrite<'_>; 2] = [(b"a", Some(b"1"), 0), (b"a", Some(b"2"), -1)];
    assert!(matches!(
        store.put_all(&puts),
        Err(StoreError::NegativeTimestamp { timestamp: -1, .. })
    ));
    assert_eq!(all(&store), []);
    assert_eq!(store.observed_stream_time(), None);
}
