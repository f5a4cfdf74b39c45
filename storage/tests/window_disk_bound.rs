//! The RocksDB window store's disk use is bounded by its retention: expired segments are
//! dropped whole, so after the first retention period the segment count and the bytes on disk
//! stop growing, however long event time runs.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use storage::store::{RocksDbWindowStore, WindowStore, WindowStoreConfig};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const KEYS: usize = 500;
const VALUE: usize = 200;

/// Bytes of every file under `dir`: SST files and RocksDB's own (MANIFEST, OPTIONS, LOG, ...).
fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                disk_bytes(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[test]
fn thirty_minutes_of_one_minute_windows_stay_within_the_retention_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes of retention: segments of five minutes, at most three of them live.
    let config = WindowStoreConfig::new(10 * MINUTE, MINUTE);
    let mut store = RocksDbWindowStore::open(dir.path(), "counts", config).unwrap();
    let value = vec![7u8; VALUE];
    let mut per_minute = Vec::new();
    for minute in 0..30 {
        // Every five seconds, every key updates its one-minute window (an aggregation).
        for second in (0..60).step_by(5) {
            let time = minute * MINUTE + second * SECOND;
            let window = time - time % MINUTE;
            for key in 0..KEYS {
                let put = store
                    .put(format!("key-{key:05}").as_bytes(), Some(&value), window)
                    .unwrap();
                assert!(matches!(put, storage::store::WindowPut::Applied { .. }));
            }
        }
        store.flush().unwrap();
        per_minute.push((store.segment_count(), disk_bytes(store.path())));
    }
    for (minute, (segments, bytes)) in per_minute.iter().enumerate() {
        eprintln!("minute {minute:2}: {segments} segments, {bytes:9} bytes");
    }
    // The first segment expires at stream time 15 min - 1 ms: from then on, three segments.
    for (minute, (segments, _)) in per_minute.iter().enumerate() {
        assert!(*segments <= 3, "minute {minute}: {segments} segments");
    }
    // No growth trend: the last ten minutes hold no more than the five before them allow,
    // and the final size is within the largest seen between minutes 15 and 20 (RocksDB's
    // L0 files and compactions make the size saw-toothed, not flat to the byte).
    let bytes = |range: std::ops::Range<usize>| per_minute[range].iter().map(|(_, b)| *b).max().unwrap();
    let settled = bytes(15..20);
    let late = bytes(20..30);
    assert!(
        late <= settled + settled / 4,
        "late max {late} against settled max {settled}"
    );
    let mean = |range: std::ops::Range<usize>| {
        let n = range.len() as u64;
        per_minute[range].iter().map(|(_, b)| *b).sum::<u64>() / n
    };
    let (first, second) = (mean(15..22), mean(23..30));
    assert!(
        second <= first + first / 10,
        "mean {second} after minute 23 against {first} before"
    );
    // Right after each drop of a segment (stream time 15, 20 and 25 min) the store is back to
    // the same size.
    let after_drops = [15, 20, 25].map(|m| per_minute[m].1);
    let (low, high) = (
        after_drops.iter().min().unwrap(),
        after_drops.iter().max().unwrap(),
    );
    assert!(high - low <= low / 20, "sizes after the drops: {after_drops:?}");
    // And what is kept is about the retention's worth of windows: 10 live minutes of
    // 500 keys x 200 bytes is 1 MB of values.
    assert!(late < 8 << 20, "{late} bytes for about 1 MB of live windows");
    let live = store.all().unwrap().count();
    assert_eq!(live, 10 * KEYS, "windows 20 to 29 are live at stream time 29 min");
}
