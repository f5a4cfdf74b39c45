//! Property tests of the partition log (`storage::log`) against models simple enough to trust:
//!
//! - compaction against a reference model of its documented semantics (latest record per key
//!   among the sealed segments, KIP-534 tombstone horizons, multi-pass cleaning with a small
//!   offset map, `min.compaction.lag.ms`), across closes and reopens;
//! - offset and timestamp lookups, which go through the sparse indexes, against brute-force
//!   scans of every appended batch, live, after a reopen, and with the index files deleted;
//! - retention against the whole-segment deletion rule.

// Tests may unwrap (clippy.toml), but `allow-unwrap-in-tests` does not reach the helper
// functions of an integration test.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use storage::log::{CleanStats, CleanerConfig};
use storage::record::{BatchBuilder, BatchHeader, Compression, Record, decode_records, validate};
use storage::{CleanupPolicy, Clock, Log, LogConfig, ManualClock};

const T0: i64 = 1_700_000_000_000;
/// Decompression bound: far above any batch generated here.
const LIMIT: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// `PROPTEST_CASES` when set (for a longer run); otherwise `on_disk` cases, or four times as
/// many when the logs live in memory (see [`scratch_dir`]), where a case is far cheaper.
fn cases(on_disk: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if Path::new(SHM).is_dir() {
            on_disk * 4
        } else {
            on_disk
        })
}

const SHM: &str = "/dev/shm";

/// A scratch directory for one log, in memory where the system has `/dev/shm`: these tests
/// check the log's logic, not the disk, and fsync on a busy disk would dominate their time.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new(SHM);
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("runnel-log-properties")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

fn open(dir: &Path, config: &LogConfig, clock: &Arc<ManualClock>) -> Log {
    Log::open_with_clock(dir, config.clone(), clock.clone()).unwrap()
}

fn codec() -> impl Strategy<Value = Compression> {
    prop_oneof![6 => Just(Compression::None), 1 => select(Compression::ALL.to_vec())]
}

/// Every batch the log serves, in order, read the way a consumer reads: from the log start,
/// each read starting at the offset after the last batch returned (stepping over the gaps
/// compaction leaves). Checks that batches are whole, valid, and strictly ascending.
fn read_batches(log: &Log) -> Vec<(BatchHeader, Vec<Record>)> {
    let mut out: Vec<(BatchHeader, Vec<Record>)> = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let bytes = log.read(offset, 1 << 16).unwrap();
        if bytes.is_empty() {
            break;
        }
        let mut at = 0;
        while at < bytes.len() {
            let batch = bytes.slice(at..);
            let header = BatchHeader::parse(&batch).unwrap();
            validate(&batch[..header.size()], false, LIMIT).unwrap();
            let (header, records) = decode_records(&batch, LIMIT).unwrap();
            assert!(
                header.base_offset >= offset || (at == 0 && header.last_offset() >= offset),
                "read({offset}) returned batch {}..={}",
                header.base_offset,
                header.last_offset()
            );
            if let Some((previous, _)) = out.last() {
                assert!(
                    header.base_offset > previous.last_offset(),
                    "batch {}..={} overlaps the previous one ending at {}",
                    header.base_offset,
                    header.last_offset(),
                    previous.last_offset()
                );
            }
            at += header.size();
            offset = header.next_offset();
            out.push((header, records));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Compaction against a reference model

/// Keys come from a space this small, so that compaction has plenty to remove.
const KEYS: u8 = 8;

#[derive(Debug, Clone)]
enum Op {
    /// One batch: (key, value, how far before now its timestamp is). A `None` value is a
    /// tombstone; a `None` key a record compaction never removes.
    Append {
        records: Vec<(Option<u8>, Option<String>, i64)>,
        codec: Compression,
    },
    Roll,
    AdvanceClock(i64),
    /// `Log::compact` (`passes: None`), or at most `passes` passes by hand (prepare, run,
    /// install), as a cleaner interrupted by a restart would leave the log.
    Compact {
        cleaner: usize,
        passes: Option<usize>,
    },
    Reopen,
}

fn cleaner_config(choice: usize) -> CleanerConfig {
    let bytes = [24 * 8, 24 * 32, CleanerConfig::default().dedupe_buffer_bytes][choice];
    CleanerConfig {
        dedupe_buffer_bytes: bytes,
        load_factor: 0.75,
    }
}

/// How many keys the cleaner's offset map holds for `cleaner` (mirrors its sizing rule: 24
/// bytes a slot, a power-of-two slot count, filled to the load factor).
fn map_capacity(cleaner: &CleanerConfig) -> usize {
    let slots = (cleaner.dedupe_buffer_bytes / 24).max(2);
    let slots = if slots.is_power_of_two() {
        slots
    } else {
        slots.next_power_of_two() / 2
    };
    ((slots as f64 * cleaner.load_factor.clamp(0.1, 0.95)) as usize).max(1)
}

fn key_bytes(key: u8) -> Vec<u8> {
    format!("k{key}").into_bytes()
}

#[derive(Debug, Clone)]
struct MRecord {
    offset: i64,
    timestamp: i64,
    key: Option<u8>,
    value: Option<String>,
}

impl MRecord {
    fn is_tombstone(&self) -> bool {
        self.key.is_some() && self.value.is_none()
    }
}

#[derive(Debug, Clone)]
struct MBatch {
    base: i64,
    last: i64,
    /// KIP-534 delete horizon, set by the first pass that compares one of the batch's
    /// tombstones with its offset map and keeps it.
    horizon: Option<i64>,
    records: Vec<MRecord>,
}

/// What one modelled pass did.
#[derive(Debug, Clone, Copy, Default)]
struct MPass {
    advanced: bool,
    records_removed: u64,
    tombstones_removed: u64,
}

/// The log as it should be: every batch still holding a record, and the cleaner checkpoint.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<MBatch>,
    first_dirty: i64,
    log_end: i64,
}

impl Model {
    /// Largest record timestamp in `[from, to)`, -1 if none (a segment's max timestamp).
    fn max_timestamp(&self, from: i64, to: i64) -> i64 {
        self.batches
            .iter()
            .flat_map(|b| &b.records)
            .filter(|r| r.offset >= from && r.offset < to)
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(-1)
    }

    /// One cleaning pass at `now` over a log whose segments start at `bases` (the last one
    /// active). `None` when there is nothing to clean (no pass runs).
    ///
    /// The semantics, from `compaction.rs`'s docs:
    /// - cleanable: the sealed segments, oldest first, up to the first one holding a record
    ///   younger than `min.compaction.lag.ms`; nothing when the cleaner checkpoint is at or
    ///   past their end;
    /// - the offset map covers whole batches from the checkpoint on, stopping before the first
    ///   batch it has no room for; it ends at `map_end`;
    /// - every cleanable segment starting below `map_end` is rewritten: a record below
    ///   `map_end` is kept iff it is the latest of its key below `map_end` (null keys always
    ///   are); records at or past `map_end` have not been compared with anything yet and are
    ///   kept as they are (Kafka's "past the map's latest offset: retain");
    /// - a tombstone below `map_end` whose batch's horizon has passed (`horizon <= now`) is
    ///   removed when it would otherwise be kept; the first pass that keeps a tombstone below
    ///   `map_end` in a batch without a horizon stamps the batch with
    ///   `now + delete.retention.ms`. A tombstone past `map_end` is neither stamped nor removed
    ///   (the rule `compaction.rs` follows; Kafka would stamp it, as the pass keeps it); a
    ///   batch left with no record disappears;
    /// - the checkpoint moves to `map_end`.
    fn pass(&mut self, now: i64, config: &LogConfig, capacity: usize, bases: &[i64]) -> Option<MPass> {
        let sealed = bases.len() - 1;
        let lag = config.min_compaction_lag_ms;
        let cleanable = (0..sealed)
            .take_while(|&i| lag == 0 || self.max_timestamp(bases[i], bases[i + 1]) <= now - lag)
            .count();
        if cleanable == 0 {
            return None;
        }
        let cleanable_end = bases[cleanable];
        let first_dirty = self.first_dirty;
        if first_dirty >= cleanable_end {
            return None;
        }

        let mut map: HashMap<u8, i64> = HashMap::new();
        let mut map_end = first_dirty;
        for batch in self.batches.iter().take_while(|b| b.base < cleanable_end) {
            if batch.last < first_dirty {
                continue;
            }
            let keyed = batch.records.iter().filter(|r| r.key.is_some()).count();
            if map.len() + keyed > capacity {
                assert!(!map.is_empty(), "map too small for one batch");
                break;
            }
            for r in &batch.records {
                if let Some(key) = r.key {
                    map.insert(key, r.offset);
                }
            }
            map_end = batch.last + 1;
        }

        // The rewritten segments: those starting below map_end. They end at the first segment
        // boundary at or after map_end.
        let rewrite_end = if map_end > bases[0] {
            bases[..=cleanable]
                .iter()
                .copied()
                .find(|&b| b >= map_end)
                .unwrap_or(cleanable_end)
        } else {
            bases[0]
        };

        let mut outcome = MPass {
            advanced: map_end > first_dirty,
            ..MPass::default()
        };
        let new_horizon = now.saturating_add(config.delete_retention_ms);
        for batch in self.batches.iter_mut().take_while(|b| b.base < rewrite_end) {
            let horizon_passed = batch.horizon.is_some_and(|h| h <= now);
            let before = batch.records.len();
            let mut kept_tombstone = false;
            batch.records.retain(|r| {
                let mapped = r.offset < map_end;
                let latest = match r.key {
                    Some(key) if mapped => map.get(&key).is_none_or(|&latest| latest <= r.offset),
                    _ => true,
                };
                // Only a tombstone compared against the map may go: one past the map's end
                // has not been, and the values it deletes may still be below it.
                let expired = mapped && r.is_tombstone() && horizon_passed;
                if latest && expired {
                    outcome.tombstones_removed += 1;
                }
                let keep = latest && !expired;
                kept_tombstone |= keep && mapped && r.is_tombstone();
                keep
            });
            outcome.records_removed += (before - batch.records.len()) as u64;
            if kept_tombstone && batch.horizon.is_none() {
                batch.horizon = Some(new_horizon);
            }
        }
        self.batches.retain(|b| !b.records.is_empty());
        self.first_dirty = first_dirty.max(map_end);
        Some(outcome)
    }

    /// `Log::compact`: passes until one makes no progress or nothing is left to clean. Every
    /// pass runs at the same clock time. Segment boundaries at or above a pass's map end are
    /// never merged away by earlier passes, so the boundaries at the start serve throughout.
    fn compact(&mut self, now: i64, config: &LogConfig, capacity: usize, bases: &[i64]) -> CleanStats {
        let mut stats = CleanStats::default();
        while let Some(pass) = self.pass(now, config, capacity, bases) {
            if !pass.advanced {
                break;
            }
            stats.passes += 1;
            stats.records_removed += pass.records_removed;
            stats.tombstones_removed += pass.tombstones_removed;
        }
        stats
    }

    /// The batches the log should serve: (base, last, horizon, records).
    fn view(&self) -> Vec<BatchView> {
        self.batches
            .iter()
            .map(|b| BatchView {
                base: b.base,
                last: b.last,
                horizon: b.horizon,
                records: b
                    .records
                    .iter()
                    .map(|r| {
                        (
                            r.offset,
                            r.timestamp,
                            r.key.map(key_bytes),
                            r.value.as_ref().map(|v| v.clone().into_bytes()),
                        )
                    })
                    .collect(),
            })
            .collect()
    }
}

type RecordView = (i64, i64, Option<Vec<u8>>, Option<Vec<u8>>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct BatchView {
    base: i64,
    last: i64,
    horizon: Option<i64>,
    records: Vec<RecordView>,
}

fn log_view(log: &Log) -> Vec<BatchView> {
    read_batches(log)
        .into_iter()
        .map(|(h, records)| BatchView {
            base: h.base_offset,
            last: h.last_offset(),
            horizon: h.delete_horizon_ms(),
            records: records
                .into_iter()
                .map(|r| {
                    (
                        r.offset,
                        r.timestamp,
                        r.key.map(|k| k.to_vec()),
                        r.value.map(|v| v.to_vec()),
                    )
                })
                .collect(),
        })
        .collect()
}

fn check_against_model(log: &Log, model: &Model, step: usize) -> Result<(), TestCaseError> {
    let got = log_view(log);
    let offsets: Vec<i64> = got.iter().flat_map(|b| b.records.iter().map(|r| r.0)).collect();
    prop_assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "step {step}: offsets not strictly increasing: {offsets:?}"
    );
    let want = model.view();
    if got != want {
        let flat = |v: &[BatchView]| -> Vec<String> {
            v.iter()
                .flat_map(|b| {
                    b.records.iter().map(move |r| {
                        format!(
                            "[{}..={} h={:?}] {} t={} {:?}={:?}",
                            b.base,
                            b.last,
                            b.horizon,
                            r.0,
                            r.1,
                            r.2.as_deref().map(String::from_utf8_lossy),
                            r.3.as_deref().map(String::from_utf8_lossy)
                        )
                    })
                })
                .collect()
        };
        prop_assert_eq!(
            flat(&got),
            flat(&want),
            "step {}: log differs from the model",
            step
        );
        prop_assert_eq!(got, want, "step {}: log differs from the model", step);
    }
    prop_assert_eq!(log.log_end_offset(), model.log_end, "step {}: log end", step);
    prop_assert_eq!(
        log.first_dirty_offset(),
        model.first_dirty,
        "step {}: cleaner checkpoint",
        step
    );
    Ok(())
}

fn compaction_op() -> impl Strategy<Value = Op> {
    let record = (
        prop_oneof![9 => (0..KEYS).prop_map(Some), 1 => Just(None)],
        prop_oneof![3 => "[a-z]{0,12}".prop_map(Some), 1 => Just(None)],
        0i64..200,
    );
    prop_oneof![
        10 => (vec(record, 1..=5), codec()).prop_map(|(records, codec)| Op::Append { records, codec }),
        3 => Just(Op::Roll),
        3 => prop_oneof![0i64..20, 0i64..3_000].prop_map(Op::AdvanceClock),
        4 => (0usize..3, prop_oneof![3 => Just(None), 1 => (1usize..4).prop_map(Some)])
            .prop_map(|(cleaner, passes)| Op::Compact { cleaner, passes }),
        1 => Just(Op::Reopen),
    ]
}

fn compacted_config() -> impl Strategy<Value = LogConfig> {
    (
        300u64..1_200,
        32u64..512,
        select(vec![0i64, 1, 100, 1_000, 5_000]),
        prop_oneof![3 => Just(0i64), 1 => 1i64..1_000],
    )
        .prop_map(
            |(segment_bytes, index_interval_bytes, delete_retention_ms, lag)| LogConfig {
                segment_bytes,
                index_interval_bytes,
                cleanup_policy: CleanupPolicy::Compact,
                delete_retention_ms,
                min_compaction_lag_ms: lag,
                ..LogConfig::default()
            },
        )
}

fn run_compaction_case(config: &LogConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = scratch_dir();
    let clock = Arc::new(ManualClock::new(T0));
    let mut log = open(dir.path(), config, &clock);
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Append { records, codec } => {
                let now = clock.now_ms();
                let mut builder = BatchBuilder::new(*codec);
                for (key, value, age) in records {
                    builder.append(
                        now - age,
                        key.map(key_bytes).as_deref(),
                        value.as_deref().map(str::as_bytes),
                        &[],
                    );
                }
                let mut bytes = builder.build();
                let info = log.append(&mut bytes, 0).unwrap();
                prop_assert_eq!(info.first_offset, model.log_end);
                prop_assert_eq!(info.last_offset, model.log_end + records.len() as i64 - 1);
                model.batches.push(MBatch {
                    base: info.first_offset,
                    last: info.last_offset,
                    horizon: None,
                    records: records
                        .iter()
                        .enumerate()
                        .map(|(i, (key, value, age))| MRecord {
                            offset: info.first_offset + i as i64,
                            timestamp: now - age,
                            key: *key,
                            value: value.clone(),
                        })
                        .collect(),
                });
                model.log_end = info.last_offset + 1;
            }
            Op::Roll => log.roll().unwrap(),
            Op::AdvanceClock(ms) => clock.advance(*ms),
            Op::Compact { cleaner, passes } => {
                let cleaner = cleaner_config(*cleaner);
                let capacity = map_capacity(&cleaner);
                let now = clock.now_ms();
                let end_before = log.log_end_offset();
                match passes {
                    None => {
                        let bases = log.segment_base_offsets();
                        let stats = log.compact(&cleaner).unwrap();
                        let want = model.compact(now, config, capacity, &bases);
                        prop_assert_eq!(
                            (stats.passes, stats.records_removed, stats.tombstones_removed),
                            (want.passes, want.records_removed, want.tombstones_removed),
                            "step {}: compaction stats (passes, records removed, tombstones removed)",
                            step
                        );
                    }
                    Some(passes) => {
                        for _ in 0..*passes {
                            let bases = log.segment_base_offsets();
                            let task = log.prepare_clean(&cleaner);
                            let want = model.pass(now, config, capacity, &bases);
                            prop_assert_eq!(
                                task.is_some(),
                                want.is_some(),
                                "step {}: whether a pass runs",
                                step
                            );
                            let (Some(task), Some(want)) = (task, want) else {
                                break;
                            };
                            let cleaned = task.run().unwrap();
                            prop_assert!(log.install_clean(cleaned).unwrap());
                            if !want.advanced {
                                break;
                            }
                        }
                    }
                }
                prop_assert_eq!(log.log_end_offset(), end_before, "compaction moved the log end");
            }
            Op::Reopen => {
                log.close().unwrap();
                log = open(dir.path(), config, &clock);
            }
        }
        check_against_model(&log, &model, step)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(200), ..ProptestConfig::default() })]

    #[test]
    fn compaction_equals_the_reference_model(
        config in compacted_config(),
        ops in vec(compaction_op(), 1..100),
    ) {
        run_compaction_case(&config, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Index lookups against brute-force scans

#[derive(Debug, Clone)]
struct BatchSpec {
    /// (timestamp, value length) of each record; timestamps in no particular order.
    records: Vec<(i64, usize)>,
    codec: Compression,
    roll_first: bool,
}

/// An appended batch as the log stored it (offsets assigned in place by `Log::append`).
#[derive(Debug, Clone)]
struct Stored {
    base: i64,
    last: i64,
    bytes: Vec<u8>,
    timestamps: Vec<i64>,
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    (
        vec((0i64..5_000, 0usize..40), 1..=8),
        codec(),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(records, codec, roll_first)| BatchSpec {
            records,
            codec,
            roll_first,
        })
}

fn append_specs(log: &mut Log, specs: &[BatchSpec], stored: &mut Vec<Stored>) {
    for spec in specs {
        if spec.roll_first {
            log.roll().unwrap();
        }
        let mut builder = BatchBuilder::new(spec.codec);
        for (i, &(ts, len)) in spec.records.iter().enumerate() {
            let value: Vec<u8> = (0..len).map(|j| (j * 7 + i * 13 + stored.len()) as u8).collect();
            builder.append(T0 + ts, Some(b"key"), Some(&value), &[]);
        }
        let mut bytes = builder.build();
        let info = log.append(&mut bytes, 3).unwrap();
        assert_eq!(info.first_offset, stored.last().map_or(0, |b| b.last + 1));
        stored.push(Stored {
            base: info.first_offset,
            last: info.last_offset,
            bytes,
            timestamps: spec.records.iter().map(|&(ts, _)| T0 + ts).collect(),
        });
    }
}

#[derive(Debug, Clone)]
struct Probes {
    /// `max_bytes` for reads, used in turn.
    max_bytes: Vec<usize>,
    /// Timestamps near records': (which record, -1/0/+1).
    near: Vec<(Index, i64)>,
    /// Arbitrary timestamps (relative to T0), below, among and above the records'.
    arbitrary: Vec<i64>,
}

fn probes() -> impl Strategy<Value = Probes> {
    (
        vec(prop_oneof![0usize..200, 0usize..3_000], 1..16),
        vec((any::<Index>(), -1i64..=1), 1..40),
        vec(-10i64..5_010, 1..10),
    )
        .prop_map(|(max_bytes, near, arbitrary)| Probes {
            max_bytes,
            near,
            arbitrary,
        })
}

/// Checks every offset's read and a set of timestamp lookups against `stored`.
fn check_lookups(log: &Log, stored: &[Stored], probes: &Probes, phase: &str) -> Result<(), TestCaseError> {
    let bases = log.segment_base_offsets();
    let segment_of = |offset: i64| bases.partition_point(|&b| b <= offset);
    let end = stored.last().map_or(0, |b| b.last + 1);
    prop_assert_eq!(log.log_start_offset(), 0, "{}: log start", phase);
    prop_assert_eq!(log.log_end_offset(), end, "{}: log end", phase);

    for offset in 0..end {
        let max_bytes = probes.max_bytes[offset as usize % probes.max_bytes.len()];
        let got = log.read(offset, max_bytes).unwrap();
        prop_assert!(
            !got.is_empty(),
            "{}: read({}, {}) is empty",
            phase,
            offset,
            max_bytes
        );

        // Brute force: the first batch whose last offset is at or after `offset`, then the
        // batches after it in the same segment while the total stays within max_bytes (but
        // the first batch always whole).
        let first = stored.partition_point(|b| b.last < offset);
        let limit = max_bytes.max(stored[first].bytes.len());
        let segment = segment_of(stored[first].base);
        let mut want: Vec<u8> = Vec::new();
        let mut want_bases = Vec::new();
        for b in stored[first..]
            .iter()
            .take_while(|b| segment_of(b.base) == segment)
        {
            if want.len() + b.bytes.len() > limit {
                break;
            }
            want.extend_from_slice(&b.bytes);
            want_bases.push(b.base);
        }

        let mut got_bases = Vec::new();
        let mut at = 0;
        while at < got.len() {
            let header = BatchHeader::parse(&got[at..]);
            prop_assert!(
                header.is_ok(),
                "{}: read({}, {}) holds a partial batch at byte {}: {:?}",
                phase,
                offset,
                max_bytes,
                at,
                header
            );
            let header = header.unwrap();
            got_bases.push(header.base_offset);
            at += header.size();
        }
        prop_assert!(
            got_bases.first() == want_bases.first(),
            "{}: read({}, {}) starts at batch {:?}, want the one holding the offset, {:?}",
            phase,
            offset,
            max_bytes,
            got_bases.first(),
            want_bases.first()
        );
        prop_assert!(
            got.len() <= limit,
            "{}: read({}, {}) returned {} bytes",
            phase,
            offset,
            max_bytes,
            got.len()
        );
        // Any prefix of those batches honours the contract ("up to max_bytes"); a read may stop
        // early (the fast path counts max_bytes from the indexed position, not the batch).
        prop_assert!(
            want_bases.starts_with(&got_bases),
            "{}: read({}, {}) returned batches {:?}, not a prefix of {:?}",
            phase,
            offset,
            max_bytes,
            got_bases,
            want_bases
        );
        prop_assert!(
            got[..] == want[..got.len()],
            "{}: read({}, {}) bytes differ",
            phase,
            offset,
            max_bytes
        );
    }
    prop_assert!(log.read(end, 1 << 16).unwrap().is_empty());

    let all: Vec<(i64, i64)> = stored
        .iter()
        .flat_map(|b| {
            b.timestamps
                .iter()
                .enumerate()
                .map(|(i, &ts)| (b.base + i as i64, ts))
        })
        .collect();
    let targets = probes
        .near
        .iter()
        .map(|(index, delta)| all[index.index(all.len())].1 + delta)
        .chain(probes.arbitrary.iter().map(|ts| T0 + ts))
        .chain([i64::MIN, 0, T0 - 1, i64::MAX]);
    for target in targets {
        let want = all.iter().copied().find(|&(_, ts)| ts >= target);
        let got = log.offset_for_timestamp(target).unwrap();
        prop_assert_eq!(got, want, "{}: offset_for_timestamp({})", phase, target);
    }
    Ok(())
}

fn index_config() -> impl Strategy<Value = LogConfig> {
    (600u64..4_000, prop_oneof![1u64..64, 64u64..512]).prop_map(|(segment_bytes, index_interval_bytes)| {
        LogConfig {
            segment_bytes,
            index_interval_bytes,
            ..LogConfig::default()
        }
    })
}

fn delete_index_files(dir: &Path, bases: &[i64], which: &[bool]) {
    let files = bases
        .iter()
        .flat_map(|b| [format!("{b:020}.index"), format!("{b:020}.timeindex")]);
    for (name, delete) in files.zip(which.iter().cycle()) {
        if *delete {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(100), ..ProptestConfig::default() })]

    #[test]
    fn index_lookups_agree_with_a_full_scan(
        config in index_config(),
        first in vec(batch_spec(), 1..60),
        second in vec(batch_spec(), 0..20),
        third in vec(batch_spec(), 0..20),
        delete in vec(any::<bool>(), 1..16),
        probes in probes(),
    ) {
        let dir = scratch_dir();
        let clock = Arc::new(ManualClock::new(T0));
        let mut stored = Vec::new();
        let mut log = open(dir.path(), &config, &clock);
        append_specs(&mut log, &first, &mut stored);
        check_lookups(&log, &stored, &probes, "live")?;

        log.close().unwrap();
        let mut log = open(dir.path(), &config, &clock);
        check_lookups(&log, &stored, &probes, "reopened")?;
        append_specs(&mut log, &second, &mut stored);
        check_lookups(&log, &stored, &probes, "appended after reopening")?;

        let bases = log.segment_base_offsets();
        log.close().unwrap();
        delete_index_files(dir.path(), &bases, &delete);
        let mut log = open(dir.path(), &config, &clock);
        check_lookups(&log, &stored, &probes, "indexes rebuilt")?;
        append_specs(&mut log, &third, &mut stored);
        check_lookups(&log, &stored, &probes, "appended after rebuilding")?;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Retention deletes only whole old segments

#[derive(Debug, Clone)]
enum RetentionOp {
    /// A batch of `records` records of `value_len` bytes, `step` ms after the previous one.
    Append {
        records: usize,
        value_len: usize,
        step: i64,
    },
    Roll,
    AdvanceClock(i64),
    ApplyRetention,
    Reopen,
}

fn retention_op() -> impl Strategy<Value = RetentionOp> {
    prop_oneof![
        8 => (1usize..4, 0usize..30, 0i64..300)
            .prop_map(|(records, value_len, step)| RetentionOp::Append { records, value_len, step }),
        1 => Just(RetentionOp::Roll),
        2 => (0i64..2_000).prop_map(RetentionOp::AdvanceClock),
        3 => Just(RetentionOp::ApplyRetention),
        1 => Just(RetentionOp::Reopen),
    ]
}

fn retention_config() -> impl Strategy<Value = LogConfig> {
    (
        200u64..1_000,
        prop::option::of(0i64..5_000),
        prop::option::of(0u64..4_000),
    )
        .prop_map(|(segment_bytes, retention_ms, retention_bytes)| LogConfig {
            segment_bytes,
            index_interval_bytes: 100,
            retention_ms,
            retention_bytes,
            cleanup_policy: CleanupPolicy::Delete,
            ..LogConfig::default()
        })
}

/// A batch appended in the retention test: its placement, size and newest timestamp.
#[derive(Debug, Clone)]
struct Appended {
    base: i64,
    last: i64,
    size: u64,
    max_timestamp: i64,
}

fn check_retained(log: &Log, appended: &[Appended], step: usize) -> Result<(), TestCaseError> {
    let bases = log.segment_base_offsets();
    let start = log.log_start_offset();
    prop_assert_eq!(
        start,
        bases[0],
        "step {}: log start is the first segment's base",
        step
    );
    prop_assert!(
        start <= *bases.last().unwrap(),
        "step {}: the active segment is kept",
        step
    );
    let offsets: Vec<i64> = read_batches(log)
        .into_iter()
        .flat_map(|(_, records)| records.into_iter().map(|r| r.offset))
        .collect();
    let end = appended.last().map_or(0, |b| b.last + 1);
    let want: Vec<i64> = (start..end).collect();
    prop_assert_eq!(
        offsets,
        want,
        "step {}: the surviving records are the suffix from the log start",
        step
    );
    let size: u64 = appended.iter().filter(|b| b.base >= start).map(|b| b.size).sum();
    prop_assert_eq!(log.size_bytes(), size, "step {}: bytes on disk", step);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(100), ..ProptestConfig::default() })]

    #[test]
    fn retention_deletes_only_whole_old_segments(
        config in retention_config(),
        ops in vec(retention_op(), 1..60),
    ) {
        let dir = scratch_dir();
        let clock = Arc::new(ManualClock::new(T0));
        let mut log = open(dir.path(), &config, &clock);
        let mut appended: Vec<Appended> = Vec::new();
        let mut last_timestamp = T0;
        for (step, op) in ops.iter().enumerate() {
            match *op {
                RetentionOp::Append { records, value_len, step: gap } => {
                    last_timestamp += gap;
                    let mut builder = BatchBuilder::new(Compression::None);
                    for i in 0..records {
                        builder.append(last_timestamp, Some(b"k"), Some(&vec![b'a' + i as u8; value_len]), &[]);
                    }
                    let mut bytes = builder.build();
                    let info = log.append(&mut bytes, 0).unwrap();
                    appended.push(Appended {
                        base: info.first_offset,
                        last: info.last_offset,
                        size: bytes.len() as u64,
                        max_timestamp: last_timestamp,
                    });
                }
                RetentionOp::Roll => log.roll().unwrap(),
                RetentionOp::AdvanceClock(ms) => clock.advance(ms),
                RetentionOp::Reopen => {
                    log.close().unwrap();
                    log = open(dir.path(), &config, &clock);
                }
                RetentionOp::ApplyRetention => {
                    // The rule, from the oldest segment on: delete it while its newest record
                    // is older than retention.ms, or the log without it is still at least
                    // retention.bytes; stop at the first segment that breaches neither. The
                    // active segment is a candidate too when it holds records (the high
                    // watermark here is the log end): it is rolled, then deleted.
                    let bases = log.segment_base_offsets();
                    let log_end = log.log_end_offset();
                    let now = clock.now_ms();
                    let live = |from: i64, to: i64| appended.iter().filter(move |b| b.base >= from && b.base < to);
                    let total: u64 = live(bases[0], i64::MAX).map(|b| b.size).sum();
                    let mut excess = config.retention_bytes.map_or(0, |limit| total.saturating_sub(limit));
                    let mut doomed = 0;
                    for (i, &base) in bases.iter().enumerate() {
                        let next = bases.get(i + 1).copied().unwrap_or(log_end);
                        let size: u64 = live(base, next).map(|b| b.size).sum();
                        if next == base {
                            break; // the empty active segment
                        }
                        let max_timestamp = live(base, next).map(|b| b.max_timestamp).max().unwrap_or(-1);
                        let expired = config.retention_ms.is_some_and(|ms| now - max_timestamp > ms);
                        let oversize = excess > 0 && excess >= size;
                        if !(expired || oversize) {
                            break;
                        }
                        excess = excess.saturating_sub(size);
                        doomed += 1;
                    }
                    let outcome = log.apply_retention(log_end).unwrap();
                    prop_assert_eq!(outcome.deleted_segments, doomed, "step {}: segments deleted", step);
                    let left: Vec<i64> = if doomed == bases.len() {
                        vec![log_end] // everything went; a fresh active segment at the log end
                    } else {
                        bases[doomed..].to_vec()
                    };
                    prop_assert_eq!(log.log_start_offset(), left[0], "step {}: new log start", step);
                    prop_assert_eq!(&log.segment_base_offsets()[..], &left[..], "step {}: segments left", step);
                }
            }
            check_retained(&log, &appended, step)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The smallest case the compaction property found, as a plain test.

/// Every value served for `key`, oldest first (`None` for a tombstone).
fn values_of(log: &Log, key: &[u8]) -> Vec<(i64, Option<Vec<u8>>)> {
    read_batches(log)
        .into_iter()
        .flat_map(|(_, records)| records)
        .filter(|r| r.key.as_deref() == Some(key))
        .map(|r| (r.offset, r.value.map(|v| v.to_vec())))
        .collect()
}

/// A pass whose offset map fills before a tombstone, in a segment it rewrites, must not drop
/// that tombstone on its horizon: it was never compared against the map, so the key's older
/// values are still there, and dropping the delete brings them back.
#[test]
fn a_tombstone_past_the_offset_map_is_not_dropped_before_the_values_it_deletes() {
    let dir = scratch_dir();
    let clock = Arc::new(ManualClock::new(T0));
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), &config, &clock);
    let mut append = |records: &[(&str, Option<&str>)]| {
        let mut builder = BatchBuilder::new(Compression::None);
        for (key, value) in records {
            builder.append(T0, Some(key.as_bytes()), value.map(str::as_bytes), &[]);
        }
        log.append(&mut builder.build(), 0).unwrap();
    };
    append(&[("k0", Some("old")), ("k1", Some("v"))]); // offsets 0-1
    append(&[
        ("k2", Some("v")),
        ("k3", Some("v")),
        ("k4", Some("v")),
        ("k5", Some("v")),
        ("k6", Some("v")),
    ]); // 2-6
    append(&[("k7", Some("v")), ("k0", None)]); // 7-8: k0 deleted
    log.roll().unwrap();
    // Room for 6 keys: the first pass maps offsets 0-1 only, the second 2-6, the third 7-8.
    let small = CleanerConfig {
        dedupe_buffer_bytes: 24 * 8,
        load_factor: 0.75,
    };

    // One pass, as a cleaner stopped by a restart leaves it: the tombstone's batch is in the
    // rewritten segment, past the map's end: it is kept.
    let task = log.prepare_clean(&small).unwrap();
    assert!(log.install_clean(task.run().unwrap()).unwrap());
    assert_eq!(values_of(&log, b"k0"), [(0, Some(b"old".to_vec())), (8, None)]);

    // The cleaner resumes delete.retention.ms later: past any horizon the first pass set.
    clock.advance(1_000);
    log.compact(&small).unwrap();
    let k0 = values_of(&log, b"k0");
    assert!(
        k0.last().is_none_or(|(_, value)| value.is_none()),
        "k0 was deleted at offset 8, but the log now serves {k0:?}"
    );
}
