use std::fs;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::*;
use crate::clock::ManualClock;
use crate::record::{BatchBuilder, Compression, Record, decode_all};

const T0: i64 = 1_700_000_000_000;

fn builder(records: &[(Option<&str>, Option<&str>)], timestamp: i64) -> BatchBuilder {
    let mut b = BatchBuilder::new(Compression::None);
    for (k, v) in records {
        b.append(timestamp, k.map(str::as_bytes), v.map(str::as_bytes), &[]);
    }
    b
}

fn batch(records: &[(Option<&str>, Option<&str>)], timestamp: i64) -> Vec<u8> {
    builder(records, timestamp).build()
}

fn kv(k: &str, v: &str) -> (Option<&'static str>, Option<&'static str>) {
    (Some(k.to_string().leak()), Some(v.to_string().leak()))
}

fn open(dir: &std::path::Path, config: LogConfig, clock: &Arc<ManualClock>) -> Log {
    Log::open_with_clock(dir, config, clock.clone()).unwrap()
}

fn read_all(log: &Log) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 20).unwrap();
        if bytes.is_empty() {
            break;
        }
        let records = decode_all(&bytes, 1 << 30).unwrap();
        let last = records.last().map_or(offset, |r| r.offset);
        out.extend(records.into_iter().filter(|r| r.offset >= offset));
        // Batches emptied by compaction leave gaps; step past what was returned.
        let mut at = 0;
        let mut next = offset;
        while at < bytes.len() {
            let h = crate::record::BatchHeader::parse(&bytes[at..]).unwrap();
            next = h.next_offset();
            at += h.size();
        }
        offset = next.max(last + 1);
    }
    out
}

fn values(records: &[Record]) -> Vec<(i64, String)> {
    records
        .iter()
        .map(|r| {
            (
                r.offset,
                r.value
                    .as_ref()
                    .map_or("<null>".into(), |v| String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect()
}

fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

#[test]
fn a_built_batch_appends_like_the_same_bytes_from_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let mut wire = open(&dir.path().join("wire"), config.clone(), &clock);
    let mut built = open(&dir.path().join("built"), config, &clock);
    let build = |records: &[(Option<&str>, Option<&str>)], timestamp| builder(records, timestamp).finish();
    for (records, ts) in [
        (vec![kv("a", "1"), kv("b", "2")], T0),
        (vec![kv("c", "3")], T0 + 7),
    ] {
        let a = wire.append(&mut batch(&records, ts), 3).unwrap();
        let b = built.append_built(&mut build(&records, ts), 3).unwrap();
        assert_eq!(
            (a.first_offset, a.last_offset, a.records, a.max_timestamp, a.bytes),
            (b.first_offset, b.last_offset, b.records, b.max_timestamp, b.bytes)
        );
    }
    // The same bytes on disk: offsets and leader epoch assigned in place, as for the wire.
    assert_eq!(wire.read(0, 1 << 20).unwrap(), built.read(0, 1 << 20).unwrap());
    assert_eq!(
        values(&read_all(&built)),
        [(0, "1".into()), (1, "2".into()), (2, "3".into())]
    );
    // max.message.bytes still holds.
    let big = "x".repeat(300);
    assert!(matches!(
        built.append_built(&mut build(&[(Some("k"), Some(big.as_str()))], T0), 3),
        Err(StorageError::MessageTooLarge { max: 200, .. })
    ));
    assert_eq!(built.log_end_offset(), 3);
}

#[test]
fn appends_get_consecutive_offsets_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), LogConfig::default(), &clock);
    let info = log
        .append(&mut batch(&[kv("a", "1"), kv("b", "2")], T0), 5)
        .unwrap();
    assert_eq!((info.first_offset, info.last_offset, info.records), (0, 1, 2));
    let info = log.append(&mut batch(&[kv("c", "3")], T0 + 1), 5).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (2, 2));
    assert_eq!(log.log_end_offset(), 3);

    let bytes = log.read(0, 1 << 20).unwrap();
    let header = crate::record::BatchHeader::parse(&bytes).unwrap();
    assert_eq!((header.base_offset, header.partition_leader_epoch), (0, 5));
    assert_eq!(
        values(&decode_all(&bytes, 1 << 20).unwrap()),
        [(0, "1".into()), (1, "2".into()), (2, "3".into())]
    );
    // Reading from the middle of a batch returns the whole batch.
    assert_eq!(
        decode_all(&log.read(1, 1 << 20).unwrap(), 1 << 20).unwrap()[0].offset,
        0
    );
    // One byte of max_bytes still returns one whole batch (KIP-74).
    assert_eq!(decode_all(&log.read(0, 1).unwrap(), 1 << 20).unwrap().len(), 2);
    assert!(log.read(3, 1 << 20).unwrap().is_empty());
    assert!(matches!(
        log.read(4, 100),
        Err(StorageError::OffsetOutOfRange { offset: 4, .. })
    ));
    assert!(matches!(
        log.read(-1, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn read_up_to_stops_before_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), LogConfig::default(), &clock);
    for i in 0..5 {
        log.append(&mut batch(&[kv("k", &i.to_string())], T0), 0).unwrap();
    }
    let records = decode_all(&log.read_up_to(0, 1 << 20, 3).unwrap(), 1 << 20).unwrap();
    assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(log.read_up_to(3, 1 << 20, 3).unwrap().is_empty());
}

#[test]
fn bad_batches_are_refused_with_kafkas_errors_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, &clock);
    log.append(&mut batch(&[kv("a", "1")], T0), 0).unwrap();
    let size_before = log.size_bytes();

    let good = batch(&[kv("b", "2")], T0);
    let mut crc = good.clone();
    let last = crc.len() - 1;
    crc[last] ^= 1;
    let mut two = good.clone();
    two.extend_from_slice(&crc);
    let mut magic = good.clone();
    magic[16] = 1;
    let mut big = batch(&[kv("big", &"x".repeat(300))], T0);
    let mut torn = good[..good.len() - 3].to_vec();
    let mut tiny = good[..8].to_vec();

    assert!(matches!(
        log.append(&mut crc, 0),
        Err(StorageError::CorruptMessage { position: 0, .. })
    ));
    assert!(matches!(
        log.append(&mut two, 0),
        Err(StorageError::CorruptMessage { position, .. }) if position == good.len()
    ));
    assert!(matches!(
        log.append(&mut magic, 0),
        Err(StorageError::InvalidRecord { .. })
    ));
    assert!(matches!(
        log.append(&mut big, 0),
        Err(StorageError::MessageTooLarge { max: 200, .. })
    ));
    assert!(matches!(
        log.append(&mut torn, 0),
        Err(StorageError::CorruptMessage { .. })
    ));
    assert!(matches!(
        log.append(&mut tiny, 0),
        Err(StorageError::CorruptMessage { .. })
    ));
    assert!(matches!(
        log.append(&mut [], 0),
        Err(StorageError::CorruptMessage { .. })
    ));

    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.size_bytes(), size_before);
    assert_eq!(values(&read_all(&log)), [(0, "1".into())]);
}

#[test]
fn segments_roll_at_segment_bytes_and_reopen_after_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), small_segments(), &clock);
    for i in 0..30 {
        log.append(&mut batch(&[kv("k", &format!("value-{i}"))], T0 + i), 0)
            .unwrap();
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    let bases = log.segment_base_offsets();
    for base in &bases {
        assert!(dir.path().join(format!("{base:020}.log")).exists());
        assert!(dir.path().join(format!("{base:020}.index")).exists());
    }
    let before = read_all(&log);
    log.close().unwrap();
    assert!(dir.path().join("clean-shutdown").exists());

    let mut log = open(dir.path(), small_segments(), &clock);
    assert!(
        !dir.path().join("clean-shutdown").exists(),
        "marker is removed at open"
    );
    assert_eq!(log.segment_base_offsets(), bases);
    assert_eq!(read_all(&log), before);
    assert_eq!(
        log.append(&mut batch(&[kv("k", "next")], T0), 0)
            .unwrap()
            .first_offset,
        30
    );
}

#[test]
fn segments_roll_when_their_records_span_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, &clock);
    log.append(&mut batch(&[kv("a", "1")], T0), 0).unwrap();
    log.append(&mut batch(&[kv("a", "2")], T0 + 1000), 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(&mut batch(&[kv("a", "3")], T0 + 1001), 0).unwrap();
    assert_eq!(log.segment_base_offsets(), [0, 2]);
}

#[test]
fn log_append_time_replaces_the_producers_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0 + 777));
    let config = LogConfig {
        message_timestamp_type: crate::record::TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, &clock);
    let info = log
        .append(&mut batch(&[kv("a", "1"), kv("b", "2")], 5), 0)
        .unwrap();
    assert_eq!(info.log_append_time, Some(T0 + 777));
    let records = read_all(&log);
    assert!(records.iter().all(|r| r.timestamp == T0 + 777));
    // The rewritten batch still passes its checksum.
    crate::record::validate(&log.read(0, 1 << 20).unwrap(), true, 1 << 20).unwrap();
}

#[test]
fn offset_for_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), small_segments(), &clock);
    for i in 0..20 {
        log.append(&mut batch(&[kv("k", "v"), kv("k", "w")], T0 + 10 * i), 0)
            .unwrap();
    }
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, T0)));
    assert_eq!(log.offset_for_timestamp(T0 + 10).unwrap(), Some((2, T0 + 10)));
    assert_eq!(log.offset_for_timestamp(T0 + 11).unwrap(), Some((4, T0 + 20)));
    assert_eq!(log.offset_for_timestamp(T0 + 190).unwrap(), Some((38, T0 + 190)));
    assert_eq!(log.offset_for_timestamp(T0 + 191).unwrap(), None);
}

#[test]
fn truncate_to_drops_the_batch_holding_the_offset_and_everything_after() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), small_segments(), &clock);
    for i in 0..20 {
        log.append(
            &mut batch(&[kv("k", &i.to_string()), kv("j", &i.to_string())], T0),
            0,
        )
        .unwrap();
    }
    log.truncate_to(13).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    assert_eq!(read_all(&log).last().map(|r| r.offset), Some(11));
    assert_eq!(
        log.append(&mut batch(&[kv("x", "y")], T0), 1)
            .unwrap()
            .first_offset,
        12
    );
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert!(read_all(&log).is_empty());
}

#[test]
fn delete_records_before_moves_the_log_start_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), small_segments(), &clock);
    for i in 0..20 {
        log.append(&mut batch(&[kv("k", &i.to_string())], T0), 0).unwrap();
    }
    let segments = log.segment_count();
    assert_eq!(log.delete_records_before(9).unwrap(), 9);
    assert!(log.segment_count() < segments);
    assert!(matches!(
        log.read(8, 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log).first().map(|r| r.offset), Some(9));
    assert!(log.delete_records_before(21).is_err());
    log.close().unwrap();
    let log = open(dir.path(), small_segments(), &clock);
    assert_eq!(log.log_start_offset(), 9, "log start survives a restart");
}

#[test]
fn retention_deletes_old_and_excess_segments_and_an_expired_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        retention_ms: Some(1000),
        ..small_segments()
    };
    let mut log = open(dir.path(), config, &clock);
    for i in 0..20 {
        log.append(&mut batch(&[kv("k", &i.to_string())], T0 + i), 0)
            .unwrap();
    }
    clock.set(T0 + 1005);
    let outcome = log.apply_retention(log.log_end_offset()).unwrap();
    assert!(outcome.deleted_segments > 0);
    assert!(log.log_start_offset() > 0);
    assert!(
        read_all(&log)
            .iter()
            .all(|r| r.timestamp >= T0 + 5 || r.offset >= log.log_start_offset())
    );
    // Every record expired: below the high watermark nothing is kept, the active segment
    // neither (Kafka rolls it and deletes it); the log stays at its end offset.
    clock.set(T0 + 1_000_000);
    let hw = log.log_end_offset();
    log.apply_retention(hw - 1).unwrap();
    assert!(
        !read_all(&log).is_empty(),
        "the segment holding the high watermark is kept"
    );
    assert!(log.log_start_offset() < hw);
    log.apply_retention(hw).unwrap();
    assert_eq!(log.segment_count(), 1, "only a fresh active segment is left");
    assert!(read_all(&log).is_empty(), "every expired record is gone");
    assert_eq!(log.log_start_offset(), hw);
    assert_eq!(log.log_end_offset(), hw, "offsets go on where they were");
    log.append(&mut batch(&[kv("k", "new")], T0 + 1_000_000), 0)
        .unwrap();
    let left = read_all(&log);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].offset, hw);
    // An empty active segment is not rolled again.
    let again = log.apply_retention(log.log_end_offset()).unwrap();
    assert_eq!(again.deleted_segments, 0, "a fresh record is not expired");
    drop(log);
    let log = open(
        dir.path(),
        LogConfig {
            retention_ms: Some(1000),
            ..small_segments()
        },
        &clock,
    );
    assert_eq!(log.log_start_offset(), hw, "the new log start survives a reopen");
    assert_eq!(log.log_end_offset(), hw + 1);

    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(800),
        retention_ms: None,
        ..small_segments()
    };
    let mut log = open(dir.path(), config, &clock);
    for i in 0..40 {
        log.append(&mut batch(&[kv("k", &i.to_string())], T0), 0).unwrap();
    }
    log.apply_retention(log.log_end_offset()).unwrap();
    assert!(log.size_bytes() <= 800 + 400, "{} bytes", log.size_bytes());
    assert!(log.size_bytes() > 800 - 400);
}

#[test]
fn flush_moves_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        flush_messages: Some(3),
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, &clock);
    log.append(&mut batch(&[kv("a", "1"), kv("a", "2")], T0), 0)
        .unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.append(&mut batch(&[kv("a", "3")], T0), 0).unwrap();
    assert_eq!(log.recovery_point(), 3);
    assert_eq!(checkpoint::read(dir.path(), checkpoint::RECOVERY_POINT), Some(3));
}

#[test]
fn an_unclean_stop_with_a_torn_tail_recovers_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), LogConfig::default(), &clock);
    for i in 0..10 {
        log.append(&mut batch(&[kv("k", &i.to_string())], T0), 0).unwrap();
    }
    log.close().unwrap();
    fs::remove_file(dir.path().join("clean-shutdown")).unwrap();
    let path = dir.path().join("00000000000000000000.log");
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let mut log = open(dir.path(), LogConfig::default(), &clock);
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(read_all(&log).len(), 9);
    assert_eq!(
        log.append(&mut batch(&[kv("k", "again")], T0), 0)
            .unwrap()
            .first_offset,
        9
    );
}

fn compacted_config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1000,
        ..small_segments()
    }
}

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_original_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), compacted_config(), &clock);
    for i in 0..30 {
        let key = format!("k{}", i % 3);
        log.append(&mut batch(&[kv(&key, &i.to_string())], T0), 0)
            .unwrap();
    }
    log.roll().unwrap();
    assert!(log.needs_compaction());
    let stats = log.compact(&CleanerConfig::default()).unwrap();
    assert_eq!(stats.records_removed, 27);
    assert_eq!(
        values(&read_all(&log)),
        [(27, "27".into()), (28, "28".into()), (29, "29".into())]
    );
    assert_eq!(log.log_end_offset(), 30);
    assert!(!log.needs_compaction());

    // Survives a restart, and reads from inside a gap land on the next record.
    log.close().unwrap();
    let log = open(dir.path(), compacted_config(), &clock);
    assert_eq!(values(&read_all(&log)).len(), 3);
    let from_gap = decode_all(&log.read(5, 1 << 20).unwrap(), 1 << 20).unwrap();
    assert_eq!(from_gap[0].offset, 27);
}

#[test]
fn tombstones_outlive_their_first_cleaning_by_delete_retention_ms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), compacted_config(), &clock);
    log.append(&mut batch(&[kv("a", "1"), kv("b", "1")], T0), 0)
        .unwrap();
    log.append(&mut batch(&[(Some("a"), None)], T0), 0).unwrap();
    log.roll().unwrap();
    log.compact(&CleanerConfig::default()).unwrap();
    assert_eq!(values(&read_all(&log)), [(1, "1".into()), (2, "<null>".into())]);

    // New dirty data, but the horizon has not passed: the tombstone stays.
    clock.advance(999);
    log.append(&mut batch(&[kv("c", "1")], T0), 0).unwrap();
    log.roll().unwrap();
    log.compact(&CleanerConfig::default()).unwrap();
    assert_eq!(values(&read_all(&log)).len(), 3);

    clock.advance(1);
    log.append(&mut batch(&[kv("d", "1")], T0), 0).unwrap();
    log.roll().unwrap();
    let stats = log.compact(&CleanerConfig::default()).unwrap();
    assert_eq!(stats.tombstones_removed, 1);
    assert_eq!(
        values(&read_all(&log)),
        [(1, "1".into()), (3, "1".into()), (4, "1".into())]
    );
}

#[test]
fn a_small_offset_map_cleans_in_several_passes_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), compacted_config(), &clock);
    for i in 0..200 {
        let key = format!("k{}", i % 50);
        log.append(&mut batch(&[kv(&key, &i.to_string())], T0), 0)
            .unwrap();
    }
    log.roll().unwrap();
    let tiny = CleanerConfig {
        dedupe_buffer_bytes: 24 * 32,
        load_factor: 0.75,
    };
    let stats = log.compact(&tiny).unwrap();
    assert!(stats.passes > 2, "{} passes", stats.passes);
    let got = values(&read_all(&log));
    let want: Vec<(i64, String)> = (150..200).map(|i| (i, i.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn appends_go_on_while_a_cleaning_pass_runs_without_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = Mutex::new(open(dir.path(), compacted_config(), &clock));
    {
        let mut log = log.lock().unwrap();
        for i in 0..40 {
            log.append(&mut batch(&[kv(&format!("k{}", i % 4), &i.to_string())], T0), 0)
                .unwrap();
        }
        log.roll().unwrap();
    }
    let task = log
        .lock()
        .unwrap()
        .prepare_clean(&CleanerConfig::default())
        .unwrap();
    let worker = std::thread::spawn(move || task.run().unwrap());
    // The lock is free while the pass runs.
    for i in 40..60 {
        log.lock()
            .unwrap()
            .append(&mut batch(&[kv("k0", &i.to_string())], T0), 0)
            .unwrap();
    }
    let cleaned = worker.join().unwrap();
    let mut log = log.into_inner().unwrap();
    assert!(log.install_clean(cleaned).unwrap());
    let got = values(&read_all(&log));
    // The latest of k0..k3 among the cleaned segments (k0's newer values were still in the
    // active segment, which a pass never reads), plus the 20 appended during the pass.
    assert_eq!(got.len(), 4 + 20);
    assert_eq!(
        got[..4],
        [
            (36, "36".into()),
            (37, "37".into()),
            (38, "38".into()),
            (39, "39".into())
        ]
    );
    assert_eq!(got.last(), Some(&(59, "59".into())));
}

#[test]
fn a_pass_whose_segments_were_deleted_meanwhile_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), compacted_config(), &clock);
    for i in 0..40 {
        log.append(&mut batch(&[kv(&format!("k{}", i % 4), &i.to_string())], T0), 0)
            .unwrap();
    }
    log.roll().unwrap();
    let cleaned = log
        .prepare_clean(&CleanerConfig::default())
        .unwrap()
        .run()
        .unwrap();
    log.truncate_to(10).unwrap();
    assert!(!log.install_clean(cleaned).unwrap());
    assert_eq!(read_all(&log).len(), 10);
    assert!(
        fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".cleaned"))
    );
}

#[test]
fn a_crash_mid_swap_is_finished_by_recovery_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), compacted_config(), &clock);
    for i in 0..40 {
        log.append(&mut batch(&[kv(&format!("k{}", i % 4), &i.to_string())], T0), 0)
            .unwrap();
    }
    log.roll().unwrap();
    let cleaned = log
        .prepare_clean(&CleanerConfig::default())
        .unwrap()
        .run()
        .unwrap();
    let group = &cleaned.groups[0];
    // Simulate the crash: the cleaned file was renamed to .swap and one original is gone.
    let swap = compaction::swap_path(dir.path(), group.base_offset);
    fs::rename(&group.path, &swap).unwrap();
    group.replaces[0].delete_files().unwrap();
    let expected_tail = values(&read_all(&log))
        .into_iter()
        .rev()
        .take(4)
        .collect::<Vec<_>>();
    std::mem::forget(log); // no clean close: a crash
    let log = open(dir.path(), compacted_config(), &clock);
    let got = values(&read_all(&log));
    assert_eq!(got.into_iter().rev().take(4).collect::<Vec<_>>(), expected_tail);
    assert!(!swap.exists());
    assert_eq!(log.log_end_offset(), 40);

    // A leftover .cleaned file is simply removed.
    let stray = dir.path().join("00000000000000000000.log.cleaned");
    fs::write(&stray, b"partial").unwrap();
    drop(log);
    let _log = open(dir.path(), compacted_config(), &clock);
    assert!(!stray.exists());
}

#[test]
fn sealed_segments_can_be_shared_across_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Log>();
    is_send_sync::<Segment>();
    let _ = Bytes::new();
}

/// The wire path sends `locate_up_to`'s file slice; the embedded path reads `read_up_to`'s
/// bytes. Over segments with many indexed batches of uneven sizes, every offset, budget and
/// bound must give the same batches both ways.
#[test]
fn located_slices_hold_exactly_the_batches_a_read_returns() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        segment_bytes: 6000,
        index_interval_bytes: 300,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config, &clock);
    for i in 0..120usize {
        let value = "v".repeat(1 + (i * 37) % 150);
        let records: Vec<_> = (0..1 + i % 4).map(|_| kv("k", &value)).collect();
        log.append(&mut batch(&records, T0), 0).unwrap();
    }
    assert!(log.sealed.len() >= 3, "several segments");
    let end = log.log_end_offset();
    let mut compared = 0;
    for offset in (0..=end).step_by(7) {
        for max_bytes in [0, 1, 100, 777, 2500, 1 << 20] {
            for upper in [end, end - 3, offset + 5, offset] {
                let read = log.read_up_to(offset, max_bytes, upper).unwrap();
                let located = log.locate_up_to(offset, max_bytes, upper).unwrap();
                let located_bytes = located.as_ref().map(|s| s.read().unwrap()).unwrap_or_default();
                assert_eq!(
                    read, located_bytes,
                    "offset {offset}, max_bytes {max_bytes}, upper {upper}"
                );
                assert_eq!(located.is_some(), !read.is_empty());
                compared += usize::from(!read.is_empty());
            }
        }
    }
    assert!(compared > 500, "compared {compared} non-empty reads");
    assert!(matches!(
        log.locate_up_to(end + 1, 100, end + 1),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
}
