//! The conformance suite every [`SessionStore`] implementation runs: named checks of the rules
//! in the [module docs](super), with Kafka's exact boundaries; [`model_check`] against a
//! reference model (a `BTreeMap` of store keys, filtered at read time); and
//! [`changelog_round_trip`] from one store into another.
//!
//! ```
//! use storage::store::InMemorySessionStore;
//! use storage::store::session::conformance;
//!
//! conformance::test_all(&mut |config| Box::new(InMemorySessionStore::new("conformance", config).unwrap()));
//! ```

// A panic is how a check fails.
#![allow(clippy::unwrap_used)]

mod model;

pub use model::{Op, changelog_round_trip, model_check};

use super::key::encode_session_key;
use super::{SessionIter, SessionStore, SessionStoreConfig};
use crate::store::{KeyError, Order, SessionPut, StoreError, Window, Windowed};

/// Opens a fresh, empty store with the given configuration.
pub type Open<'a> = &'a mut dyn FnMut(SessionStoreConfig) -> Box<dyn SessionStore>;

/// One named check of the suite; `run` opens the stores it needs.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub name: &'static str,
    pub run: fn(Open<'_>),
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
    check!(fetch_session_needs_the_exact_bounds),
    check!(none_deletes_the_session_as_remove_does),
    check!(find_sessions_returns_the_sessions_overlapping_the_search_interval),
    check!(one_keys_sessions_come_by_end_then_start),
    check!(sessions_expire_exactly_retention_after_stream_time),
    check!(stream_time_is_the_largest_session_end_and_remove_moves_it),
    check!(key_ranges_come_in_key_then_time_order),
    check!(key_ranges_find_keys_that_prefix_each_other),
    check!(fetch_sessions_returns_every_live_session),
    check!(invalid_sessions_are_refused),
    check!(empty_key_and_empty_value_are_stored),
    check!(restore_applies_changelog_records_in_kafkas_format),
    check!(malformed_changelog_record_fails_the_whole_batch),
    check!(changelog_keys_restore_to_the_same_contents),
    check!(flushed_sessions_stay_readable),
    check!(approximate_count_follows_puts),
];

/// Runs every check in [`CHECKS`].
pub fn test_all(open: Open<'_>) {
    for check in CHECKS {
        // Captured by the test harness and shown only when the check fails.
        eprintln!("session store conformance: {}", check.name);
        (check.run)(open);
    }
}

const MINUTE: i64 = 60_000;

/// Sessions kept ten minutes: Kafka's default segment interval, five minutes.
fn ten_minutes() -> SessionStoreConfig {
    SessionStoreConfig::new(10 * MINUTE)
}

/// A session as `(key, start, end, value)`, for short assertions.
type Entry = (Vec<u8>, i64, i64, Vec<u8>);
type Flat = Vec<Entry>;

/// A write as [`changelog_round_trip`] and [`Op::Restore`] take it: key, session, value
/// (`None`: a removal, or a tombstone).
pub type Write = (Vec<u8>, Window, Option<Vec<u8>>);

/// A malformed key and the error it must give.
type Malformed = (Vec<u8>, fn(&KeyError) -> bool);

fn session(key: &[u8], start: i64, end: i64) -> Windowed<&[u8]> {
    Windowed::new(key, Window::new(start, end))
}

fn applied(store: &mut dyn SessionStore, key: &[u8], start: i64, end: i64, value: &[u8]) {
    let put = store.put(session(key, start, end), Some(value)).unwrap();
    assert_eq!(put, SessionPut::Applied, "put {key:?}@[{start}, {end}]");
}

fn flat(scan: SessionIter<'_>) -> Flat {
    scan.map(|e| {
        let (w, v) = e.unwrap();
        (w.key, w.window.start, w.window.end, v)
    })
    .collect()
}

fn find(store: &dyn SessionStore, key: &[u8], earliest_end: i64, latest_start: i64, order: Order) -> Flat {
    flat(
        store
            .find_sessions_in(key, earliest_end, latest_start, order)
            .unwrap(),
    )
}

fn find_keys(
    store: &dyn SessionStore,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
    earliest_end: i64,
    latest_start: i64,
    order: Order,
) -> Flat {
    flat(
        store
            .find_sessions_keys_in(from, to, earliest_end, latest_start, order)
            .unwrap(),
    )
}

fn all(store: &dyn SessionStore) -> Flat {
    find_keys(store, None, None, 0, i64::MAX, Order::Forward)
}

fn entry(key: &[u8], start: i64, end: i64, value: &[u8]) -> Entry {
    (key.to_vec(), start, end, value.to_vec())
}

fn reversed<T>(mut v: Vec<T>) -> Vec<T> {
    v.reverse();
    v
}

fn fetch_session_needs_the_exact_bounds(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", 0, 10, b"1");
    applied(store.as_mut(), b"a", 20, 20, b"2");
    assert_eq!(
        store.fetch_session(b"a", 0, 10).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        store.fetch_session(b"a", 20, 20).unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(store.fetch_session(b"a", 0, 9).unwrap(), None);
    assert_eq!(store.fetch_session(b"a", 1, 10).unwrap(), None);
    assert_eq!(store.fetch_session(b"b", 0, 10).unwrap(), None);
    assert_eq!(
        store.fetch_session(b"", 0, 10).unwrap(),
        None,
        "a prefix is another key"
    );
    assert_eq!(store.fetch_session(b"a", 10, 0).unwrap(), None, "start after end");
    assert_eq!(store.fetch_session(b"a", -1, 10).unwrap(), None);
    applied(store.as_mut(), b"a", 0, 10, b"1b");
    assert_eq!(
        store.fetch_session(b"a", 0, 10).unwrap().as_deref(),
        Some(&b"1b"[..])
    );
}

fn none_deletes_the_session_as_remove_does(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", 0, 10, b"1");
    applied(store.as_mut(), b"a", 20, 30, b"2");
    applied(store.as_mut(), b"b", 0, 10, b"3");
    assert_eq!(
        store.put(session(b"a", 0, 10), None).unwrap(),
        SessionPut::Applied
    );
    store.remove(session(b"b", 0, 10)).unwrap();
    store.remove(session(b"never", 0, 10)).unwrap();
    assert_eq!(store.fetch_session(b"a", 0, 10).unwrap(), None);
    assert_eq!(store.fetch_session(b"b", 0, 10).unwrap(), None);
    assert_eq!(all(store.as_ref()), vec![entry(b"a", 20, 30, b"2")]);
}

/// The diagram of `ReadOnlySessionStore.findSessions`: a session is found when it ends at or
/// after the earliest end and starts at or before the latest start.
fn find_sessions_returns_the_sessions_overlapping_the_search_interval(open: Open<'_>) {
    let mut store = open(ten_minutes());
    for (start, end) in [(0, 10), (20, 30), (40, 50), (60, 70)] {
        applied(store.as_mut(), b"k", start, end, b"");
    }
    applied(store.as_mut(), b"long", 15, 65, b"");
    let bounds = |found: Flat| found.into_iter().map(|(_, s, e, _)| (s, e)).collect::<Vec<_>>();
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 25, 45, Order::Forward)),
        [(20, 30), (40, 50)]
    );
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 25, 45, Order::Backward)),
        [(40, 50), (20, 30)]
    );
    // Both bounds inclusive: an end equal to the earliest end, a start equal to the latest start.
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 30, 40, Order::Forward)),
        [(20, 30), (40, 50)]
    );
    assert_eq!(bounds(find(store.as_ref(), b"k", 31, 39, Order::Forward)), []);
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 10, 10, Order::Forward)),
        [(0, 10)]
    );
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 0, i64::MAX, Order::Forward)).len(),
        4
    );
    // The earliest end may lie after the latest start: sessions spanning both are found.
    assert_eq!(bounds(find(store.as_ref(), b"k", 45, 25, Order::Forward)), []);
    assert_eq!(
        bounds(find(store.as_ref(), b"long", 45, 25, Order::Forward)),
        [(15, 65)]
    );
    assert_eq!(
        bounds(find(store.as_ref(), b"k", -100, -1, Order::Forward)),
        [],
        "latest start < 0"
    );
    assert_eq!(
        bounds(find(store.as_ref(), b"k", -100, 5, Order::Forward)),
        [(0, 10)]
    );
}

/// Ascending end, then ascending start, as the key schema orders (Kafka's RocksDB store;
/// its in-memory store orders equal ends by descending start).
fn one_keys_sessions_come_by_end_then_start(open: Open<'_>) {
    let mut store = open(ten_minutes().with_segment_interval(MINUTE));
    for (start, end) in [(2, 3 * MINUTE), (5, 10), (0, 10), (8, 10), (0, MINUTE)] {
        applied(store.as_mut(), b"k", start, end, b"");
    }
    let expected = vec![(0, 10), (5, 10), (8, 10), (0, MINUTE), (2, 3 * MINUTE)];
    let bounds = |found: Flat| found.into_iter().map(|(_, s, e, _)| (s, e)).collect::<Vec<_>>();
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 0, i64::MAX, Order::Forward)),
        expected
    );
    assert_eq!(
        bounds(find(store.as_ref(), b"k", 0, i64::MAX, Order::Backward)),
        reversed(expected)
    );
}

fn sessions_expire_exactly_retention_after_stream_time(open: Open<'_>) {
    const R: i64 = 10 * MINUTE;
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", 0, 0, b"0");
    applied(store.as_mut(), b"a", 0, 1, b"1");
    applied(store.as_mut(), b"b", R, R, b"R");
    // Stream time R: a session is live while end > R - R = 0.
    assert_eq!(store.observed_stream_time(), Some(R));
    assert_eq!(
        store.fetch_session(b"a", 0, 0).unwrap(),
        None,
        "end = stream time - retention: expired"
    );
    assert_eq!(
        store.fetch_session(b"a", 0, 1).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        find(store.as_ref(), b"a", 0, i64::MAX, Order::Forward),
        vec![entry(b"a", 0, 1, b"1")]
    );
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"a", 0, 1, b"1"), entry(b"b", R, R, b"R")]
    );
    assert_eq!(
        store.put(session(b"c", 0, 0), Some(b"late")).unwrap(),
        SessionPut::Expired
    );
    // A long session is live by its end, however old its start.
    applied(store.as_mut(), b"c", 0, 5, b"long");
    applied(store.as_mut(), b"z", R + 1, R + 1, b"");
    assert_eq!(store.fetch_session(b"a", 0, 1).unwrap(), None);
    assert_eq!(
        store.fetch_session(b"c", 0, 5).unwrap().as_deref(),
        Some(&b"long"[..])
    );
}

fn stream_time_is_the_largest_session_end_and_remove_moves_it(open: Open<'_>) {
    let mut store = open(ten_minutes());
    assert_eq!(store.observed_stream_time(), None);
    applied(store.as_mut(), b"a", 0, 5 * MINUTE, b"1");
    assert_eq!(store.observed_stream_time(), Some(5 * MINUTE));
    applied(store.as_mut(), b"a", 0, MINUTE, b"1");
    assert_eq!(store.observed_stream_time(), Some(5 * MINUTE));
    // RocksDBSessionStore's rule, which restore follows too (see `SessionStore::remove`).
    store.remove(session(b"a", 6 * MINUTE, 7 * MINUTE)).unwrap();
    assert_eq!(store.observed_stream_time(), Some(7 * MINUTE));
    let _ = store.put(session(b"a", 0, 8 * MINUTE), None).unwrap();
    assert_eq!(store.observed_stream_time(), Some(8 * MINUTE));
}

fn key_ranges_come_in_key_then_time_order(open: Open<'_>) {
    let mut store = open(ten_minutes().with_segment_interval(MINUTE));
    for key in [b"b", b"a", b"c"] {
        for (start, end) in [(MINUTE, 2 * MINUTE), (0, 0), (0, MINUTE + 1)] {
            applied(store.as_mut(), key, start, end, key);
        }
    }
    let sessions = |key: &[u8]| -> Flat {
        [(0, 0), (0, MINUTE + 1), (MINUTE, 2 * MINUTE)]
            .iter()
            .map(|&(s, e)| entry(key, s, e, key))
            .collect()
    };
    let a_b = [sessions(b"a"), sessions(b"b")].concat();
    let everything = [a_b.clone(), sessions(b"c")].concat();
    assert_eq!(
        find_keys(
            store.as_ref(),
            Some(b"a"),
            Some(b"b"),
            0,
            i64::MAX,
            Order::Forward
        ),
        a_b
    );
    assert_eq!(
        find_keys(
            store.as_ref(),
            Some(b"a"),
            Some(b"b"),
            0,
            i64::MAX,
            Order::Backward
        ),
        reversed(a_b.clone())
    );
    assert_eq!(
        find_keys(store.as_ref(), None, Some(b"b"), 0, i64::MAX, Order::Forward),
        a_b
    );
    assert_eq!(
        find_keys(store.as_ref(), Some(b"b"), None, 0, i64::MAX, Order::Forward),
        everything[3..].to_vec()
    );
    assert_eq!(
        find_keys(
            store.as_ref(),
            Some(b"b"),
            Some(b"a"),
            0,
            i64::MAX,
            Order::Forward
        ),
        vec![],
        "from > to"
    );
    // Overlapping [MINUTE, MINUTE]: ends >= MINUTE and starts <= MINUTE.
    let overlapping: Flat = everything.iter().filter(|e| e.2 >= MINUTE).cloned().collect();
    assert_eq!(
        find_keys(store.as_ref(), None, None, MINUTE, MINUTE, Order::Forward),
        overlapping
    );
}

fn key_ranges_find_keys_that_prefix_each_other(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let key_set: [&[u8]; 6] = [
        b"",
        b"a",
        b"a\x00",
        b"a\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        b"a\x01",
        b"b",
    ];
    let windows = [(0, 0), (0, 1), (1, 256)];
    for key in key_set {
        for (start, end) in windows {
            applied(store.as_mut(), key, start, end, key);
        }
    }
    let expected = |from: &[u8], to: &[u8]| -> Flat {
        let mut found: Vec<(Vec<u8>, Entry)> = key_set
            .iter()
            .filter(|k| **k >= from && **k <= to)
            .flat_map(|k| windows.map(|(s, e)| (encode_session_key(k, Window::new(s, e)), entry(k, s, e, k))))
            .collect();
        found.sort();
        found.into_iter().map(|(_, e)| e).collect()
    };
    for (i, from) in key_set.iter().enumerate() {
        for to in &key_set[i..] {
            let got = find_keys(store.as_ref(), Some(from), Some(to), 0, i64::MAX, Order::Forward);
            assert_eq!(got, expected(from, to), "keys {from:?}..={to:?}");
        }
        let own: Flat = windows.iter().map(|&(s, e)| entry(from, s, e, from)).collect();
        assert_eq!(
            find(store.as_ref(), from, 0, i64::MAX, Order::Forward),
            own,
            "key {from:?} alone"
        );
    }
}

fn fetch_sessions_returns_every_live_session(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", 0, 10, b"1");
    applied(store.as_mut(), b"a", 20, 30, b"2");
    applied(store.as_mut(), b"b", 5, 5, b"3");
    let a = vec![entry(b"a", 0, 10, b"1"), entry(b"a", 20, 30, b"2")];
    assert_eq!(flat(store.fetch_sessions(b"a").unwrap()), a);
    assert_eq!(
        flat(store.backward_fetch_sessions(b"a").unwrap()),
        reversed(a.clone())
    );
    let a_b = [a, vec![entry(b"b", 5, 5, b"3")]].concat();
    assert_eq!(
        flat(store.fetch_sessions_keys(Some(b"a"), Some(b"b")).unwrap()),
        a_b
    );
    assert_eq!(
        flat(store.backward_fetch_sessions_keys(None, None).unwrap()),
        reversed(a_b)
    );
}

fn invalid_sessions_are_refused(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let err = store.put(session(b"k", 5, 4), Some(b"v")).unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidSession { start: 5, end: 4, .. }),
        "{err}"
    );
    let err = store.put(session(b"k", -1, 4), Some(b"v")).unwrap_err();
    assert!(
        matches!(err, StoreError::NegativeTimestamp { timestamp: -1, .. }),
        "{err}"
    );
    let err = store.remove(session(b"k", 3, 2)).unwrap_err();
    assert!(matches!(err, StoreError::InvalidSession { .. }), "{err}");
    assert_eq!(store.observed_stream_time(), None);
    assert_eq!(all(store.as_ref()), vec![]);
}

fn empty_key_and_empty_value_are_stored(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"", 0, 0, b"empty key");
    applied(store.as_mut(), b"k", 0, 0, b"");
    assert_eq!(
        store.fetch_session(b"", 0, 0).unwrap().as_deref(),
        Some(&b"empty key"[..])
    );
    assert_eq!(
        store.fetch_session(b"k", 0, 0).unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"", 0, 0, b"empty key"), entry(b"k", 0, 0, b"")]
    );
}

fn restore(store: &mut dyn SessionStore, records: &[(Vec<u8>, Option<&[u8]>)]) -> Result<(), StoreError> {
    store.restore(&mut records.iter().map(|(k, v)| (k.as_slice(), *v)))
}

fn restore_applies_changelog_records_in_kafkas_format(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let key = |k: &[u8], s, e| encode_session_key(k, Window::new(s, e));
    let records = [
        (key(b"a", 0, 10), Some(&b"1"[..])),
        (key(b"b", 5, MINUTE), Some(b"2")),
        (key(b"a", 0, 10), None),
        (key(b"a", 0, 20), Some(b"3")),
    ];
    restore(store.as_mut(), &records).unwrap();
    assert_eq!(store.observed_stream_time(), Some(MINUTE));
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"a", 0, 20, b"3"), entry(b"b", 5, MINUTE, b"2")]
    );
    let records = [
        (key(b"c", 0, 5), Some(&b"4"[..])),
        (key(b"d", 0, 20 * MINUTE), Some(b"5")),
    ];
    restore(store.as_mut(), &records).unwrap();
    assert_eq!(store.observed_stream_time(), Some(20 * MINUTE));
    assert_eq!(all(store.as_ref()), vec![entry(b"d", 0, 20 * MINUTE, b"5")]);
}

fn malformed_changelog_record_fails_the_whole_batch(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let good = encode_session_key(b"a", Window::new(0, 10));
    let cases: [Malformed; 3] = [
        (vec![1; 15], |e| matches!(e, KeyError::TooShort { len: 15, .. })),
        (encode_session_key(b"a", Window::new(11, 10)), |e| {
            matches!(e, KeyError::StartAfterEnd { start: 11, end: 10 })
        }),
        (encode_session_key(b"a", Window::new(0, -1)), |e| {
            matches!(e, KeyError::NegativeTimestamp { .. })
        }),
    ];
    for (bad, expected) in cases {
        let records = [(good.clone(), Some(&b"1"[..])), (bad, Some(b"x"))];
        let err = restore(store.as_mut(), &records).unwrap_err();
        match &err {
            StoreError::MalformedChangelogKey { index: 1, source, .. } if expected(source) => {}
            other => panic!("unexpected error {other}"),
        }
    }
    assert_eq!(
        all(store.as_ref()),
        vec![],
        "nothing of a failed batch is applied"
    );
    assert_eq!(store.observed_stream_time(), None);
}

fn changelog_keys_restore_to_the_same_contents(open: Open<'_>) {
    let writes: Vec<Write> = vec![
        (b"a".to_vec(), Window::new(0, 10), Some(b"1".to_vec())),
        (b"a".to_vec(), Window::new(0, 10), None),
        (b"a".to_vec(), Window::new(0, 30), Some(b"2".to_vec())),
        (b"b".to_vec(), Window::new(5, 12 * MINUTE), Some(b"3".to_vec())),
        (b"c".to_vec(), Window::new(0, MINUTE), Some(b"late".to_vec())),
        (b"b".to_vec(), Window::new(14 * MINUTE, 14 * MINUTE), None),
    ];
    let mut source = open(ten_minutes());
    let mut target = open(ten_minutes());
    changelog_round_trip(source.as_mut(), target.as_mut(), &writes, 2);
}

fn flushed_sessions_stay_readable(open: Open<'_>) {
    let mut store = open(ten_minutes());
    store.flush().unwrap();
    applied(store.as_mut(), b"a", 0, 10, b"1");
    applied(store.as_mut(), b"b", 0, MINUTE, b"2");
    store.flush().unwrap();
    applied(store.as_mut(), b"a", 0, 10, b"1b");
    store.remove(session(b"b", 0, MINUTE)).unwrap();
    applied(store.as_mut(), b"c", 6 * MINUTE, 6 * MINUTE, b"3");
    let expected = vec![
        entry(b"a", 0, 10, b"1b"),
        entry(b"c", 6 * MINUTE, 6 * MINUTE, b"3"),
    ];
    assert_eq!(all(store.as_ref()), expected);
    store.flush().unwrap();
    assert_eq!(all(store.as_ref()), expected);
}

fn approximate_count_follows_puts(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let exact = !store.persistent();
    for n in 0u8..10 {
        applied(store.as_mut(), &[n], 0, i64::from(n) * MINUTE / 2, b"v");
    }
    applied(store.as_mut(), &[0], 0, 0, b"overwritten");
    let count = store.approximate_num_entries().unwrap();
    if exact {
        assert_eq!(count, 10);
    } else {
        assert!(count > 0, "estimate after 10 puts is {count}");
    }
}
