//! Both session stores (`storage::store::session`) against the shipped conformance suite,
//! against a reference model over random operation sequences, each other's changelogs, and
//! RocksDB across reopens.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use storage::store::session::conformance::{self, Op};
use storage::store::session::encode_session_key;
use storage::store::{
    InMemorySessionStore, Order, RocksDbSessionStore, SessionStore, SessionStoreConfig, StoreError, Window,
    Windowed,
};

#[test]
fn in_memory_session_store_passes_conformance_suite() {
    conformance::test_all(&mut |config| Box::new(InMemorySessionStore::new("conformance", config).unwrap()));
}

#[test]
fn rocksdb_session_store_passes_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = 0;
    conformance::test_all(&mut |config| {
        opened += 1;
        Box::new(RocksDbSessionStore::open(dir.path(), &format!("store-{opened}"), config).unwrap())
    });
}

/// Segments of 20 ms with a 100 ms retention, so that random sequences cross segment
/// boundaries, expire sessions and drop segments.
fn model_config() -> SessionStoreConfig {
    SessionStoreConfig::new(100).with_segment_interval(20)
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    vec(prop::sample::select(vec![0x00u8, 0x01, b'a', 0xff]), 0..=2)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..3)
}

/// Sessions of up to 60 ms between 0 and 400, with many shared ends and starts.
fn window() -> impl Strategy<Value = Window> {
    (0i64..80, 0i64..13).prop_map(|(start, length)| Window::new(start * 5, start * 5 + length * 5))
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![Just(Order::Forward), Just(Order::Backward)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (key(), window(), prop::option::weighted(0.85, value()))
            .prop_map(|(key, window, value)| Op::Put { key, window, value }),
        2 => (key(), window()).prop_map(|(key, window)| Op::Remove { key, window }),
        2 => (key(), window()).prop_map(|(key, window)| Op::FetchSession { key, window }),
        3 => (key(), -5i64..450, -5i64..450, order())
            .prop_map(|(key, earliest_end, latest_start, order)| Op::Find { key, earliest_end, latest_start, order }),
        3 => (prop::option::of(key()), prop::option::of(key()), -5i64..450, 0i64..450, order()).prop_map(
            |(key_from, key_to, earliest_end, latest_start, order)| Op::FindKeys {
                key_from,
                key_to,
                earliest_end,
                latest_start,
                order,
            }
        ),
        1 => vec((key(), window(), prop::option::of(value())), 0..5).prop_map(Op::Restore),
        1 => Just(Op::Count),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn in_memory_session_store_matches_model(ops in vec(op(), 0..50)) {
        conformance::model_check(&mut || Box::new(InMemorySessionStore::new("model", model_config()).unwrap()), &ops);
    }

    #[test]
    fn rocksdb_session_store_matches_model(ops in vec(op(), 0..50)) {
        let dir = tempfile::tempdir().unwrap();
        conformance::model_check(&mut || Box::new(open(dir.path(), model_config())), &ops);
    }

    /// The changelog of a RocksDB store restores into an in-memory one and the reverse.
    #[test]
    fn session_changelogs_restore_across_implementations(
        writes in vec((key(), window(), prop::option::weighted(0.8, value())), 0..40),
        batch in 1usize..8,
        rocks_first in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = InMemorySessionStore::new("memory", model_config()).unwrap();
        let mut rocks = open(dir.path(), model_config());
        if rocks_first {
            conformance::changelog_round_trip(&mut rocks, &mut memory, &writes, batch);
        } else {
            conformance::changelog_round_trip(&mut memory, &mut rocks, &writes, batch);
        }
    }
}

fn open(dir: &Path, config: SessionStoreConfig) -> RocksDbSessionStore {
    RocksDbSessionStore::open(dir, "sessions", config).unwrap()
}

const MINUTE: i64 = 60_000;

#[test]
fn rocksdb_session_store_keeps_sessions_and_stream_time_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = SessionStoreConfig::new(10 * MINUTE);
    let mut store = open(dir.path(), config);
    for minute in 0..12 {
        let _ = store
            .put(
                Windowed::new(&b"k"[..], Window::new(minute * MINUTE, minute * MINUTE + 5)),
                Some(b"v"),
            )
            .unwrap();
    }
    let before: Vec<_> = store
        .fetch_sessions(b"k")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(before.len(), 10, "sessions ending after 1 min + 5 ms");
    drop(store);
    let store = open(dir.path(), config);
    assert_eq!(store.observed_stream_time(), Some(11 * MINUTE + 5));
    let after: Vec<_> = store
        .fetch_sessions(b"k")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(after, before);
}

#[test]
fn session_store_configs_are_checked() {
    let err = InMemorySessionStore::new("bad", SessionStoreConfig::new(-1)).unwrap_err();
    assert!(matches!(err, StoreError::InvalidConfig { .. }), "{err}");
    assert_eq!(
        SessionStoreConfig::new(10 * MINUTE).segment_interval_ms(),
        5 * MINUTE
    );
}

/// Changelog records laid out by hand as Kafka Streams' `SessionKeySchema` writes them.
#[test]
fn a_kafka_streams_session_changelog_restores() {
    let mut kafka_key = b"user-1".to_vec();
    kafka_key.extend_from_slice(&90_000i64.to_be_bytes()); // end first
    kafka_key.extend_from_slice(&30_000i64.to_be_bytes());
    assert_eq!(
        kafka_key,
        encode_session_key(b"user-1", Window::new(30_000, 90_000))
    );
    let mut store = InMemorySessionStore::new("kafka", SessionStoreConfig::new(10 * MINUTE)).unwrap();
    store
        .restore(&mut [(kafka_key.as_slice(), Some(&b"3"[..]))].into_iter())
        .unwrap();
    assert_eq!(
        store.fetch_session(b"user-1", 30_000, 90_000).unwrap().as_deref(),
        Some(&b"3"[..])
    );
}
