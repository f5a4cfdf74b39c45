//! The conformance suite every [`WindowStore`] implementation runs: named checks of the rules
//! in the [module docs](super), with Kafka's exact boundaries; [`model_check`], which replays
//! operations against a reference model (a `BTreeMap` of store keys, filtered at read time)
//! and compares every read; and [`changelog_round_trip`], which restores one store's
//! changelog into another and compares their contents.
//!
//! Compiled into the library, as the key-value suite is, so that a store implemented outside
//! this crate can run it too. Failures panic, as in any test.
//!
//! ```
//! use storage::store::InMemoryWindowStore;
//! use storage::store::window::conformance;
//!
//! conformance::test_all(&mut |config| Box::new(InMemoryWindowStore::new("conformance", config).unwrap()));
//! ```

// A panic is how a check fails.
#![allow(clippy::unwrap_used)]

mod model;

pub use model::{ChangelogRecord, Op, Put, changelog_round_trip, model_check};

use super::key::encode_window_key;
use super::{WindowStore, WindowStoreConfig};
use crate::store::{KeyError, Order, StoreError, Window, WindowPut, Windowed};

/// Opens a fresh, empty store with the given configuration.
pub type Open<'a> = &'a mut dyn FnMut(WindowStoreConfig) -> Box<dyn WindowStore>;

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
    check!(fetch_returns_the_window_with_exactly_that_start),
    check!(none_deletes_the_window),
    check!(time_range_is_inclusive_and_applies_to_the_window_start),
    check!(one_keys_windows_come_oldest_first_across_segments),
    check!(windows_expire_exactly_retention_after_stream_time),
    check!(stream_time_is_the_largest_window_start_put),
    check!(key_ranges_come_in_key_then_time_order),
    check!(key_ranges_find_keys_that_prefix_each_other),
    check!(windows_end_at_start_plus_window_size),
    check!(retained_duplicates_are_kept_in_put_order),
    check!(none_is_ignored_when_duplicates_are_retained),
    check!(negative_window_start_is_refused),
    check!(empty_key_and_empty_value_are_stored),
    check!(restore_applies_changelog_records_in_kafkas_format),
    check!(restore_continues_the_sequence_of_retained_duplicates),
    check!(malformed_changelog_record_fails_the_whole_batch),
    check!(changelog_keys_restore_to_the_same_contents),
    check!(flushed_windows_stay_readable),
    check!(approximate_count_follows_puts),
];

/// Runs every check in [`CHECKS`].
pub fn test_all(open: Open<'_>) {
    for check in CHECKS {
        // Captured by the test harness and shown only when the check fails.
        eprintln!("window store conformance: {}", check.name);
        (check.run)(open);
    }
}

const MINUTE: i64 = 60_000;

/// One-minute windows kept ten minutes: Kafka's default segment interval, five minutes.
fn ten_minutes() -> WindowStoreConfig {
    WindowStoreConfig::new(10 * MINUTE, MINUTE)
}

/// A window as `(key, start, value)`, for short assertions.
type Entry = (Vec<u8>, i64, Vec<u8>);
type Flat = Vec<Entry>;

fn applied(store: &mut dyn WindowStore, key: &[u8], value: &[u8], start: i64) {
    let put = store.put(key, Some(value), start).unwrap();
    assert!(
        matches!(put, WindowPut::Applied { .. }),
        "put {key:?}@{start}: {put:?}"
    );
}

fn range(store: &dyn WindowStore, key: &[u8], from: i64, to: i64, order: Order) -> Vec<(i64, Vec<u8>)> {
    store
        .fetch_range_in(key, from, to, order)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn flat(entries: Vec<(Windowed, Vec<u8>)>) -> Flat {
    entries
        .into_iter()
        .map(|(w, v)| (w.key, w.window.start, v))
        .collect()
}

fn keys(
    store: &dyn WindowStore,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
    t0: i64,
    t1: i64,
    order: Order,
) -> Flat {
    flat(
        store
            .fetch_keys_in(from, to, t0, t1, order)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
    )
}

fn all(store: &dyn WindowStore) -> Flat {
    flat(store.all().unwrap().collect::<Result<_, _>>().unwrap())
}

fn entry(key: &[u8], start: i64, value: &[u8]) -> Entry {
    (key.to_vec(), start, value.to_vec())
}

fn reversed<T>(mut v: Vec<T>) -> Vec<T> {
    v.reverse();
    v
}

fn fetch_returns_the_window_with_exactly_that_start(open: Open<'_>) {
    let mut store = open(ten_minutes());
    assert_eq!(store.fetch(b"a", 0).unwrap(), None, "empty store");
    applied(store.as_mut(), b"a", b"1", 0);
    applied(store.as_mut(), b"a", b"2", MINUTE);
    applied(store.as_mut(), b"b", b"3", 0);
    assert_eq!(store.fetch(b"a", 0).unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.fetch(b"a", MINUTE).unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.fetch(b"b", 0).unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(
        store.fetch(b"a", 1).unwrap(),
        None,
        "another start is another window"
    );
    assert_eq!(store.fetch(b"c", 0).unwrap(), None);
    assert_eq!(store.fetch(b"", 0).unwrap(), None, "a prefix is another key");
    applied(store.as_mut(), b"a", b"1b", 0);
    assert_eq!(
        store.fetch(b"a", 0).unwrap().as_deref(),
        Some(&b"1b"[..]),
        "latest put wins"
    );
    assert_eq!(store.fetch(b"a", -5).unwrap(), None);
}

fn none_deletes_the_window(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", b"1", 0);
    applied(store.as_mut(), b"a", b"2", MINUTE);
    assert_eq!(
        store.put(b"a", None, 0).unwrap(),
        WindowPut::Applied { seqnum: 0 }
    );
    assert_eq!(store.fetch(b"a", 0).unwrap(), None);
    assert_eq!(all(store.as_ref()), vec![entry(b"a", MINUTE, b"2")]);
    // Deleting a window that is not there is a write like any other.
    assert_eq!(
        store.put(b"zz", None, 0).unwrap(),
        WindowPut::Applied { seqnum: 0 }
    );
    assert_eq!(all(store.as_ref()), vec![entry(b"a", MINUTE, b"2")]);
}

/// The table of `ReadOnlyWindowStore.fetch(key, timeFrom, timeTo)`'s javadoc.
fn time_range_is_inclusive_and_applies_to_the_window_start(open: Open<'_>) {
    let mut store = open(WindowStoreConfig::new(1000, 10));
    for start in [10, 15, 20, 25] {
        applied(store.as_mut(), b"A", start.to_string().as_bytes(), start);
    }
    let starts = |r: Vec<(i64, Vec<u8>)>| r.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(
        starts(range(store.as_ref(), b"A", 10, 20, Order::Forward)),
        [10, 15, 20]
    );
    assert_eq!(
        starts(range(store.as_ref(), b"A", 10, 20, Order::Backward)),
        [20, 15, 10]
    );
    assert_eq!(starts(range(store.as_ref(), b"A", 15, 15, Order::Forward)), [15]);
    assert_eq!(
        starts(range(store.as_ref(), b"A", 11, 14, Order::Forward)),
        [0i64; 0]
    );
    assert_eq!(
        starts(range(store.as_ref(), b"A", 20, 10, Order::Forward)),
        [0i64; 0],
        "from > to"
    );
    assert_eq!(
        starts(range(store.as_ref(), b"A", -100, 12, Order::Forward)),
        [10]
    );
    assert_eq!(
        starts(range(store.as_ref(), b"A", -100, -1, Order::Forward)),
        [0i64; 0]
    );
    assert_eq!(
        starts(range(store.as_ref(), b"A", 0, i64::MAX, Order::Forward)),
        [10, 15, 20, 25]
    );
    assert_eq!(
        range(store.as_ref(), b"A", 25, 25, Order::Forward),
        vec![(25, b"25".to_vec())],
        "values come along"
    );
}

fn one_keys_windows_come_oldest_first_across_segments(open: Open<'_>) {
    let mut store = open(ten_minutes().with_segment_interval(MINUTE));
    for start in (0..8).rev() {
        applied(store.as_mut(), b"k", &[start as u8], start * MINUTE + 7);
    }
    applied(store.as_mut(), b"j", b"other key", 3 * MINUTE);
    let forward = range(store.as_ref(), b"k", 0, i64::MAX, Order::Forward);
    let expected: Vec<(i64, Vec<u8>)> = (0..8).map(|s| (s * MINUTE + 7, vec![s as u8])).collect();
    assert_eq!(forward, expected);
    assert_eq!(
        range(store.as_ref(), b"k", 0, i64::MAX, Order::Backward),
        reversed(expected.clone())
    );
    assert_eq!(
        range_forward(store.as_ref(), b"k", 2 * MINUTE, 4 * MINUTE + 7),
        expected[2..5].to_vec()
    );
}

// `range` with its default order.
fn range_forward(store: &dyn WindowStore, key: &[u8], from: i64, to: i64) -> Vec<(i64, Vec<u8>)> {
    range(store, key, from, to, Order::Forward)
}

fn windows_expire_exactly_retention_after_stream_time(open: Open<'_>) {
    const R: i64 = 10 * MINUTE;
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"a", b"0", 0);
    applied(store.as_mut(), b"a", b"1", 1);
    applied(store.as_mut(), b"b", b"0", 0);
    applied(store.as_mut(), b"a", b"R", R);
    // Stream time R: a window is live while start > R - R = 0.
    assert_eq!(store.observed_stream_time(), Some(R));
    assert_eq!(
        store.fetch(b"a", 0).unwrap(),
        None,
        "start 0 = stream time - retention: expired"
    );
    assert_eq!(store.fetch(b"a", 1).unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        range_forward(store.as_ref(), b"a", 0, R),
        vec![(1, b"1".to_vec()), (R, b"R".to_vec())]
    );
    assert_eq!(
        keys(store.as_ref(), None, None, 0, R, Order::Forward),
        vec![entry(b"a", 1, b"1"), entry(b"a", R, b"R")]
    );
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"a", 1, b"1"), entry(b"a", R, b"R")]
    );
    // A put into an expired window is dropped; one into the oldest live window is not.
    assert_eq!(store.put(b"c", Some(b"late"), 0).unwrap(), WindowPut::Expired);
    assert_eq!(
        store.put(b"c", Some(b"just"), 1).unwrap(),
        WindowPut::Applied { seqnum: 0 }
    );
    assert_eq!(store.fetch(b"c", 0).unwrap(), None);
    // One millisecond later, window 1 expires as well.
    applied(store.as_mut(), b"z", b"", R + 1);
    assert_eq!(store.fetch(b"a", 1).unwrap(), None);
    assert_eq!(store.fetch(b"c", 1).unwrap(), None);
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"a", R, b"R"), entry(b"z", R + 1, b"")]
    );
}

fn stream_time_is_the_largest_window_start_put(open: Open<'_>) {
    let mut store = open(ten_minutes());
    assert_eq!(store.observed_stream_time(), None);
    applied(store.as_mut(), b"a", b"1", 5 * MINUTE);
    assert_eq!(store.observed_stream_time(), Some(5 * MINUTE));
    applied(store.as_mut(), b"a", b"1", MINUTE);
    assert_eq!(
        store.observed_stream_time(),
        Some(5 * MINUTE),
        "an older window does not move it back"
    );
    let _ = store.put(b"a", None, 7 * MINUTE).unwrap();
    assert_eq!(
        store.observed_stream_time(),
        Some(7 * MINUTE),
        "a delete moves it too"
    );
    assert_eq!(
        store.put(b"b", Some(b"x"), 0).unwrap(),
        WindowPut::Applied { seqnum: 0 }
    );
    applied(store.as_mut(), b"b", b"y", 20 * MINUTE);
    assert_eq!(store.put(b"b", Some(b"z"), 0).unwrap(), WindowPut::Expired);
    assert_eq!(store.observed_stream_time(), Some(20 * MINUTE));
}

fn key_ranges_come_in_key_then_time_order(open: Open<'_>) {
    let mut store = open(ten_minutes().with_segment_interval(MINUTE));
    for key in [b"b", b"a", b"c"] {
        for start in [0, 2 * MINUTE, MINUTE] {
            applied(store.as_mut(), key, &[key[0], start as u8], start);
        }
    }
    let windows = |key: &[u8], starts: &[i64]| -> Flat {
        starts
            .iter()
            .map(|&s| entry(key, s, &[key[0], s as u8]))
            .collect()
    };
    let three = [0, MINUTE, 2 * MINUTE];
    let a_b = [windows(b"a", &three), windows(b"b", &three)].concat();
    let everything = [a_b.clone(), windows(b"c", &three)].concat();
    assert_eq!(
        keys(
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
        keys(
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
        keys(store.as_ref(), None, Some(b"b"), 0, i64::MAX, Order::Forward),
        a_b
    );
    assert_eq!(
        keys(store.as_ref(), Some(b"b"), None, 0, i64::MAX, Order::Forward),
        everything[3..].to_vec()
    );
    assert_eq!(
        keys(store.as_ref(), None, None, 0, i64::MAX, Order::Forward),
        everything
    );
    assert_eq!(
        keys(
            store.as_ref(),
            Some(b"aa"),
            Some(b"bb"),
            0,
            i64::MAX,
            Order::Forward
        ),
        windows(b"b", &three)
    );
    assert_eq!(
        keys(
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
    assert_eq!(
        keys(
            store.as_ref(),
            Some(b"a"),
            Some(b"c"),
            MINUTE,
            MINUTE,
            Order::Forward
        ),
        [
            windows(b"a", &[MINUTE]),
            windows(b"b", &[MINUTE]),
            windows(b"c", &[MINUTE])
        ]
        .concat()
    );
    let fetch_all = flat(
        store
            .fetch_all(MINUTE, 2 * MINUTE)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
    );
    let later = [MINUTE, 2 * MINUTE];
    let expected = [
        windows(b"a", &later),
        windows(b"b", &later),
        windows(b"c", &later),
    ]
    .concat();
    assert_eq!(fetch_all, expected);
    let backward = flat(
        store
            .backward_fetch_all(MINUTE, 2 * MINUTE)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
    );
    assert_eq!(backward, reversed(expected));
    assert_eq!(all(store.as_ref()), everything);
    let backward_all = flat(store.backward_all().unwrap().collect::<Result<_, _>>().unwrap());
    assert_eq!(backward_all, reversed(everything));
}

/// Store keys of keys that prefix one another interleave (`"a" @ 1` sorts after
/// `"a\0" @ 0`); a key range still finds every window of every key in it, and nothing else.
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
    for key in key_set {
        for start in [0, 1, 256] {
            applied(store.as_mut(), key, key, start);
        }
    }
    // The expected order is the store keys' byte order; for these keys it is not key order.
    let expected = |from: &[u8], to: &[u8]| -> Flat {
        let mut found: Vec<(Vec<u8>, Entry)> = key_set
            .iter()
            .filter(|k| **k >= from && **k <= to)
            .flat_map(|k| [0, 1, 256].map(|s| (encode_window_key(k, s, 0), entry(k, s, k))))
            .collect();
        found.sort();
        found.into_iter().map(|(_, e)| e).collect()
    };
    for (i, from) in key_set.iter().enumerate() {
        for to in &key_set[i..] {
            let got = keys(store.as_ref(), Some(from), Some(to), 0, i64::MAX, Order::Forward);
            assert_eq!(got, expected(from, to), "keys {from:?}..={to:?}");
        }
        let own: Vec<(i64, Vec<u8>)> = [0, 1, 256].map(|s| (s, from.to_vec())).into();
        assert_eq!(
            range_forward(store.as_ref(), from, 0, i64::MAX),
            own,
            "key {from:?} alone"
        );
    }
    let interleaved = keys(
        store.as_ref(),
        Some(b"a"),
        Some(b"a\x00"),
        0,
        i64::MAX,
        Order::Forward,
    );
    let a_then = |key: &[u8], start| entry(key, start, key);
    let expected = [
        a_then(b"a", 0),
        a_then(b"a\x00", 0),
        a_then(b"a\x00", 1),
        a_then(b"a", 1),
    ];
    assert_eq!(
        interleaved[..4],
        expected,
        "a@1 sorts after a\\0@1: byte 8 is 0x00 against 0x01"
    );
}

fn windows_end_at_start_plus_window_size(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"k", b"v", 3 * MINUTE);
    let (windowed, _) = store.all().unwrap().next().unwrap().unwrap();
    assert_eq!(windowed.window, Window::new(3 * MINUTE, 4 * MINUTE));
    // Kafka's timeWindowForSize truncates an end past i64::MAX to i64::MAX.
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"k", b"v", i64::MAX - 10);
    let (windowed, _) = store.all().unwrap().next().unwrap().unwrap();
    assert_eq!(windowed.window, Window::new(i64::MAX - 10, i64::MAX));
}

fn retained_duplicates_are_kept_in_put_order(open: Open<'_>) {
    let mut store = open(ten_minutes().with_retain_duplicates(true));
    assert_eq!(
        store.put(b"k", Some(b"1"), 0).unwrap(),
        WindowPut::Applied { seqnum: 1 }
    );
    assert_eq!(
        store.put(b"k", Some(b"2"), 0).unwrap(),
        WindowPut::Applied { seqnum: 2 }
    );
    assert_eq!(
        store.put(b"k", Some(b"3"), MINUTE).unwrap(),
        WindowPut::Applied { seqnum: 3 }
    );
    assert_eq!(
        store.put(b"j", Some(b"4"), 0).unwrap(),
        WindowPut::Applied { seqnum: 4 }
    );
    let expected = vec![(0, b"1".to_vec()), (0, b"2".to_vec()), (MINUTE, b"3".to_vec())];
    assert_eq!(range_forward(store.as_ref(), b"k", 0, MINUTE), expected);
    assert_eq!(
        range(store.as_ref(), b"k", 0, MINUTE, Order::Backward),
        reversed(expected)
    );
    assert_eq!(
        store.fetch(b"k", 0).unwrap(),
        None,
        "no single window among duplicates"
    );
    assert_eq!(
        all(store.as_ref()),
        vec![
            entry(b"j", 0, b"4"),
            entry(b"k", 0, b"1"),
            entry(b"k", 0, b"2"),
            entry(b"k", MINUTE, b"3")
        ]
    );
}

fn none_is_ignored_when_duplicates_are_retained(open: Open<'_>) {
    let mut store = open(ten_minutes().with_retain_duplicates(true));
    let _ = store.put(b"k", Some(b"1"), 0).unwrap();
    assert_eq!(store.put(b"k", None, 0).unwrap(), WindowPut::Ignored);
    assert_eq!(store.put(b"k", None, 50 * MINUTE).unwrap(), WindowPut::Ignored);
    assert_eq!(
        store.observed_stream_time(),
        Some(0),
        "an ignored put does not move stream time"
    );
    assert_eq!(all(store.as_ref()), vec![entry(b"k", 0, b"1")]);
    assert_eq!(
        store.put(b"k", Some(b"2"), 0).unwrap(),
        WindowPut::Applied { seqnum: 2 }
    );
}

fn negative_window_start_is_refused(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let err = store.put(b"k", Some(b"v"), -1).unwrap_err();
    assert!(
        matches!(err, StoreError::NegativeTimestamp { timestamp: -1, .. }),
        "{err}"
    );
    assert_eq!(store.observed_stream_time(), None);
    assert_eq!(all(store.as_ref()), vec![]);
}

fn empty_key_and_empty_value_are_stored(open: Open<'_>) {
    let mut store = open(ten_minutes());
    applied(store.as_mut(), b"", b"empty key", 0);
    applied(store.as_mut(), b"k", b"", 0);
    assert_eq!(store.fetch(b"", 0).unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(store.fetch(b"k", 0).unwrap().as_deref(), Some(&b""[..]));
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"", 0, b"empty key"), entry(b"k", 0, b"")]
    );
    assert_eq!(
        keys(store.as_ref(), Some(b""), Some(b""), 0, 0, Order::Forward),
        vec![entry(b"", 0, b"empty key")]
    );
}

fn restore(store: &mut dyn WindowStore, records: &[(Vec<u8>, Option<&[u8]>)]) -> Result<(), StoreError> {
    store.restore(&mut records.iter().map(|(k, v)| (k.as_slice(), *v)))
}

fn restore_applies_changelog_records_in_kafkas_format(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let records = [
        (encode_window_key(b"a", 0, 0), Some(&b"1"[..])),
        (encode_window_key(b"b", MINUTE, 0), Some(b"2")),
        (encode_window_key(b"a", 0, 0), Some(b"1b")),
        (encode_window_key(b"b", MINUTE, 0), None),
        // A sequence number in a store that keeps no duplicates: the window is still (c, 2).
        (encode_window_key(b"c", 2 * MINUTE, 7), Some(b"3")),
    ];
    restore(store.as_mut(), &records).unwrap();
    assert_eq!(store.observed_stream_time(), Some(2 * MINUTE));
    assert_eq!(
        all(store.as_ref()),
        vec![entry(b"a", 0, b"1b"), entry(b"c", 2 * MINUTE, b"3")]
    );
    assert_eq!(store.fetch(b"c", 2 * MINUTE).unwrap().as_deref(), Some(&b"3"[..]));
    // Stream time first moves to the batch's latest window; what has expired by then is
    // skipped, what was stored before expires as after any put.
    let records = [
        (encode_window_key(b"d", 10 * MINUTE, 0), Some(&b"4"[..])),
        (encode_window_key(b"e", 20 * MINUTE, 0), Some(b"5")),
    ];
    restore(store.as_mut(), &records).unwrap();
    assert_eq!(store.observed_stream_time(), Some(20 * MINUTE));
    assert_eq!(all(store.as_ref()), vec![entry(b"e", 20 * MINUTE, b"5")]);
    restore(store.as_mut(), &[]).unwrap();
    assert_eq!(
        store.observed_stream_time(),
        Some(20 * MINUTE),
        "an empty batch changes nothing"
    );
}

fn restore_continues_the_sequence_of_retained_duplicates(open: Open<'_>) {
    let mut store = open(ten_minutes().with_retain_duplicates(true));
    let records = [
        (encode_window_key(b"k", 0, 5), Some(&b"a"[..])),
        (encode_window_key(b"k", 0, 9), Some(b"b")),
    ];
    restore(store.as_mut(), &records).unwrap();
    assert_eq!(
        store.put(b"k", Some(b"c"), 0).unwrap(),
        WindowPut::Applied { seqnum: 10 }
    );
    let expected = vec![(0, b"a".to_vec()), (0, b"b".to_vec()), (0, b"c".to_vec())];
    assert_eq!(range_forward(store.as_ref(), b"k", 0, 0), expected);
}

fn malformed_changelog_record_fails_the_whole_batch(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let records = [
        (encode_window_key(b"a", 0, 0), Some(&b"1"[..])),
        (b"short".to_vec(), Some(b"x")),
    ];
    let err = restore(store.as_mut(), &records).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::MalformedChangelogKey {
                index: 1,
                source: KeyError::TooShort { len: 5, .. },
                ..
            }
        ),
        "{err}"
    );
    let negative = [(encode_window_key(b"a", -1, 0), None)];
    let err = restore(store.as_mut(), &negative).unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::MalformedChangelogKey {
                index: 0,
                source: KeyError::NegativeTimestamp { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        all(store.as_ref()),
        vec![],
        "nothing of a failed batch is applied"
    );
    assert_eq!(store.observed_stream_time(), None);
}

/// The changelog a store's puts produce ([`WindowPut::changelog_key`]) restores another store
/// to the same contents and stream time.
fn changelog_keys_restore_to_the_same_contents(open: Open<'_>) {
    let puts: Vec<Put> = vec![
        (b"a".to_vec(), Some(b"1".to_vec()), 0),
        (b"a".to_vec(), Some(b"2".to_vec()), 0),
        (b"b".to_vec(), Some(b"3".to_vec()), 4 * MINUTE),
        (b"a".to_vec(), None, 0),
        (b"c".to_vec(), Some(b"4".to_vec()), 12 * MINUTE),
        (b"d".to_vec(), Some(b"late".to_vec()), MINUTE),
        (b"b".to_vec(), Some(b"5".to_vec()), 4 * MINUTE),
    ];
    for config in [ten_minutes(), ten_minutes().with_retain_duplicates(true)] {
        let mut source = open(config);
        let mut target = open(config);
        changelog_round_trip(source.as_mut(), target.as_mut(), &puts, 3);
    }
}

fn flushed_windows_stay_readable(open: Open<'_>) {
    let mut store = open(ten_minutes());
    store.flush().unwrap();
    applied(store.as_mut(), b"a", b"1", 0);
    applied(store.as_mut(), b"b", b"2", MINUTE);
    store.flush().unwrap();
    applied(store.as_mut(), b"a", b"1b", 0);
    let _ = store.put(b"b", None, MINUTE).unwrap();
    applied(store.as_mut(), b"c", b"3", 6 * MINUTE);
    let expected = vec![entry(b"a", 0, b"1b"), entry(b"c", 6 * MINUTE, b"3")];
    assert_eq!(all(store.as_ref()), expected);
    store.flush().unwrap();
    assert_eq!(all(store.as_ref()), expected);
    assert_eq!(store.fetch(b"b", MINUTE).unwrap(), None);
}

/// Exact for a store that is not persistent, as long as nothing has expired; RocksDB's
/// estimate is only checked to be non-zero after puts.
fn approximate_count_follows_puts(open: Open<'_>) {
    let mut store = open(ten_minutes());
    let exact = !store.persistent();
    if exact {
        assert_eq!(store.approximate_num_entries().unwrap(), 0);
    }
    for n in 0u8..10 {
        applied(store.as_mut(), &[n], b"v", i64::from(n) * MINUTE / 2);
    }
    applied(store.as_mut(), &[0], b"overwritten", 0);
    let count = store.approximate_num_entries().unwrap();
    if exact {
        assert_eq!(count, 10);
    } else {
        assert!(count > 0, "estimate after 10 puts is {count}");
    }
}
