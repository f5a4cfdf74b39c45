//! Kafka Streams 4.4's windowed aggregations beside Runnel's: the differential test of the
//! windowed-aggregations issue.
//!
//! ```text
//!   input (fixed: scripted boundary cases + a seeded tail) ──┬─▶ Kafka Streams TopologyTestDriver
//!                                                            │     (interop: java … Main windows-run)
//!                                                            └─▶ Runnel TopologyTestDriver
//!   five topologies each: tumbling count, hopping sum, sliding count, session count,
//!   suppressed tumbling count (interop/src/main/java/dev/runnel/interop/windows/WindowCase.java)
//!
//!   compared, record by record: output topics, store changelogs, stores at the end, and the
//!   output of a probe record piped after the input (far in the future: it closes every window)
//!   restores: Kafka's changelogs ─▶ Runnel's stores (with_restored_stores), then the probe again
//!             Runnel's changelogs ─▶ Kafka Streams on Apache Kafka 4.4 (interop/kafka-ref.sh,
//!                                    java … Main windows-restore), then the probe again
//! ```
//!
//! Caching is off on both sides, so every update of a window is forwarded and logged as it
//! happens and the outputs are deterministic. A difference fails the test unless the `windows`
//! section of `interop/allow-list.md` names it with its reason; differences are named
//! `CASE.PART.KEY@START/END` (see there). Where Kafka Streams loses or wrongs data
//! (`/work/windows-spec.md` §10) the input hits it on purpose, and Runnel's better answer is
//! an allowed difference.
//!
//! Needs a JDK 17 and Maven (`tests/support/java.rs`); without them the test prints why it
//! skipped. The restore into Kafka Streams also needs python3 (for `kafka-ref.sh`'s free port).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
#[path = "support/java.rs"]
#[macro_use]
mod java_support;

#[path = "windows_interop/buffer.rs"]
mod buffer;
#[path = "windows_interop/compare.rs"]
mod compare;
#[path = "windows_interop/input.rs"]
mod input;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compare::{
    Diff, Entry, KeyFormat, Rec, compare_entries_checked, compare_records_checked, hex, judge, unhex,
};
use input::{Input, input, probe, write_input};
use java_support::{ReferenceKafka, allow_list, run_main};
use runnel::prelude::*;
use runnel::stream_dsl::record::Header;
use runnel::stream_dsl::test_driver::TEST_APPLICATION_ID;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// The cases, as WindowCase.java defines them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Case {
    Tumbling,
    Hopping,
    Sliding,
    Session,
    Suppressed,
}

const CASES: [Case; 5] = [
    Case::Tumbling,
    Case::Hopping,
    Case::Sliding,
    Case::Session,
    Case::Suppressed,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    /// A timestamped window store: changelog key `key‖start‖seqnum`.
    Window,
    /// A session store: changelog key `key‖end‖start`.
    Session,
    /// A suppression buffer: changelog key = the windowed key (`key‖start`).
    Buffer,
}

impl Case {
    fn id(self) -> &'static str {
        match self {
            Case::Tumbling => "tumbling",
            Case::Hopping => "hopping",
            Case::Sliding => "sliding",
            Case::Session => "session",
            Case::Suppressed => "suppressed",
        }
    }

    fn by_id(id: &str) -> Case {
        *CASES
            .iter()
            .find(|c| c.id() == id)
            .unwrap_or_else(|| panic!("no case {id}"))
    }

    /// The size the windowed keys are read with; `None` for sessions (their keys hold both ends).
    fn window_size(self) -> Option<i64> {
        (self != Case::Session).then_some(10_000)
    }

    /// The case's stores, the aggregation's first.
    fn stores(self) -> &'static [(&'static str, StoreKind)] {
        match self {
            Case::Tumbling => &[("tumbling-store", StoreKind::Window)],
            Case::Hopping => &[("hopping-store", StoreKind::Window)],
            Case::Sliding => &[("sliding-store", StoreKind::Window)],
            Case::Session => &[("session-store", StoreKind::Session)],
            Case::Suppressed => &[
                ("suppressed-store", StoreKind::Window),
                ("suppressed-buffer-store", StoreKind::Buffer),
            ],
        }
    }

    /// Which windows Kafka's aggregation store hides that Runnel's keeps, given both stores'
    /// entries (windows-spec §2.4, §7.2, §10 #1–2): a store hides what is older than its newest
    /// window start (session end) minus its retention, and Runnel keeps sliding windows for
    /// `max(R, 3 td + g + 2)` rather than `R = 2 td + g`, and sessions for `gap + g + 1` rather
    /// than `gap + g`. Time windows' retention is Kafka's: nothing is hidden only there.
    fn kafka_hides(self, kafka: &[Entry], runnel: &[Entry]) -> impl Fn(&Entry) -> bool + use<> {
        let all = || kafka.iter().chain(runnel);
        let (clock, retention): (fn(&Entry) -> i64, i64) = match self {
            // td 10 s, grace 5 s: R = 2 td + g.
            Case::Sliding => (|e| e.start, 2 * 10_000 + 5_000),
            // gap 5 s, grace 2 s: R = gap + g.
            Case::Session => (|e| e.end, 5_000 + 2_000),
            Case::Tumbling | Case::Hopping | Case::Suppressed => (|_| i64::MIN, 0),
        };
        let store_time = all().map(clock).max().unwrap_or(i64::MIN);
        let sliding_or_session = matches!(self, Case::Sliding | Case::Session);
        move |e: &Entry| sliding_or_session && clock(e) < store_time - retention + 1
    }

    fn aggregate_store(self) -> &'static str {
        self.stores()[0].0
    }

    fn store_kind(self, store: &str) -> StoreKind {
        self.stores()
            .iter()
            .find(|(name, _)| *name == store)
            .unwrap_or_else(|| panic!("{} has no store {store}", self.id()))
            .1
    }

    fn output_topic(self) -> String {
        format!("out-{}", self.id())
    }

    /// How the windowed keys of the output topic read.
    fn output_keys(self) -> KeyFormat {
        match self.window_size() {
            Some(size) => KeyFormat::TimeWindowed(size),
            None => KeyFormat::SessionWindowed,
        }
    }

    /// How the keys of `store`'s changelog read.
    fn changelog_keys(self, store: &str) -> KeyFormat {
        match self.store_kind(store) {
            StoreKind::Window => KeyFormat::WindowStore(self.window_size().unwrap()),
            StoreKind::Session => KeyFormat::SessionWindowed,
            StoreKind::Buffer => self.output_keys(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What a run produced, on either side.

#[derive(Debug, Default, Clone)]
struct CaseRun {
    output: Vec<Rec>,
    /// Store name → its changelog's records, in order.
    changelogs: BTreeMap<String, Vec<Rec>>,
    /// The aggregation store's contents at the end of the input.
    store: Vec<Entry>,
    /// What the probe caused on the output topic.
    probe: Vec<Rec>,
}

/// One line of the Java side's output (`Lines.java`).
#[derive(Debug, Deserialize)]
struct Line {
    kind: String,
    case: String,
    store: Option<String>,
    key: Option<String>,
    value: Option<String>,
    timestamp: Option<i64>,
    #[serde(default)]
    headers: Vec<(String, Option<String>)>,
    start: Option<i64>,
    end: Option<i64>,
}

impl Line {
    fn rec(&self) -> Rec {
        Rec {
            key: self.key.as_deref().map(unhex),
            value: self.value.as_deref().map(unhex),
            timestamp: self.timestamp,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_deref().map(unhex)))
                .collect(),
        }
    }

    fn entry(&self) -> Entry {
        Entry {
            key: unhex(self.key.as_deref().unwrap()),
            start: self.start.unwrap(),
            end: self.end.unwrap(),
            value: unhex(self.value.as_deref().unwrap()),
            timestamp: self.timestamp,
        }
    }
}

/// The Java side's JSON lines (any other line, e.g. `ok ...`, is skipped) sorted into runs.
fn parse_runs(text: &str) -> BTreeMap<Case, CaseRun> {
    let mut runs: BTreeMap<Case, CaseRun> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let line: Line = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let run = runs.entry(Case::by_id(&line.case)).or_default();
        match line.kind.as_str() {
            "output" => run.output.push(line.rec()),
            "changelog" => run
                .changelogs
                .entry(line.store.clone().unwrap())
                .or_default()
                .push(line.rec()),
            "store" => run.store.push(line.entry()),
            "probe" => run.probe.push(line.rec()),
            other => panic!("unknown line kind {other}"),
        }
    }
    runs
}

/// Runnel's changelog records as `windows-restore` reads them.
fn write_changelogs(path: &Path, runs: &BTreeMap<Case, CaseRun>) {
    let mut text = String::new();
    for (case, run) in runs {
        for (store, records) in &run.changelogs {
            for r in records {
                let headers: Vec<(&str, Option<String>)> = r
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_deref().map(hex)))
                    .collect();
                let line = serde_json::json!({
                    "kind": "changelog", "case": case.id(), "store": store,
                    "key": r.key.as_deref().map(hex), "value": r.value.as_deref().map(hex),
                    "timestamp": r.timestamp, "headers": headers,
                });
                writeln!(text, "{line}").unwrap();
            }
        }
    }
    std::fs::write(path, text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Runnel's side.

/// The key type: Java's `String` may be null, and a record with a null key reaches the
/// aggregation, which drops it (without moving stream time). Runnel's `String` cannot be null
/// (its serde refuses a null key at the source), so the typed equivalent is `Option<String>`.
type Key = Option<String>;

fn runnel_topology(case: Case) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream::<Key, i64>("input", Consumed::with(Serdes::string(), Serdes::i64()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::i64()));
    let secs = Duration::from_secs;
    let store = case.aggregate_store();
    let output = case.output_topic();
    let time_keys = || WindowedSerdes::time_windowed::<Key>(Serdes::string(), 10_000);
    match case {
        Case::Tumbling => grouped
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(5)))
            .count(Materialized::as_(store).with_caching_disabled())
            .to_stream()
            .to(&output, Produced::with(time_keys(), Serdes::i64())),
        Case::Hopping => grouped
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(2)).advance_by(secs(5)))
            // Java's long addition wraps; so does this (the input never gets near it).
            .reduce(
                |a: i64, b: i64| a.wrapping_add(b),
                Materialized::as_(store).with_caching_disabled(),
            )
            .to_stream()
            .to(&output, Produced::with(time_keys(), Serdes::i64())),
        Case::Sliding => grouped
            .windowed_by(SlidingWindows::of_time_difference_and_grace(secs(10), secs(5)))
            .count(Materialized::as_(store).with_caching_disabled())
            .to_stream()
            .to(&output, Produced::with(time_keys(), Serdes::i64())),
        Case::Session => grouped
            .windowed_by(SessionWindows::of_inactivity_gap_and_grace(secs(5), secs(2)))
            .count(Materialized::as_(store).with_caching_disabled())
            .to_stream()
            .to(
                &output,
                Produced::with(
                    WindowedSerdes::session_windowed::<Key>(Serdes::string()),
                    Serdes::i64(),
                ),
            ),
        Case::Suppressed => grouped
            .windowed_by(TimeWindows::of_size_and_grace(secs(10), secs(5)))
            .count(Materialized::as_(store).with_caching_disabled())
            .suppress(
                Suppressed::until_window_closes(BufferConfig::unbounded()).with_name("suppressed-buffer"),
            )
            .to_stream()
            .to(&output, Produced::with(time_keys(), Serdes::i64())),
    }
    builder.build().unwrap()
}

/// Pipes `records` as Kafka's serializers write them; a record Runnel refuses is a difference.
fn pipe(case: Case, driver: &TopologyTestDriver, records: &[Input], diffs: &mut Vec<Diff>) {
    let topic =
        driver.create_input_topic::<Option<Bytes>, Option<Bytes>>("input", Serdes::bytes(), Serdes::bytes());
    for (i, r) in records.iter().enumerate() {
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.clone(),
                value: Some(Bytes::copy_from_slice(v)),
            })
            .collect();
        let key = r.key.as_ref().map(|k| Bytes::copy_from_slice(k.as_bytes()));
        let value = Some(Bytes::copy_from_slice(&r.value.to_be_bytes()));
        if let Err(e) = topic.try_pipe_raw(key, value, r.timestamp, headers) {
            diffs.push(Diff {
                name: format!("{}.input.{i}", case.id()),
                detail: format!("Kafka Streams processed {r:?}; Runnel failed: {e}"),
            });
        }
    }
}

fn drain(driver: &TopologyTestDriver, topic: &str) -> Vec<Rec> {
    driver
        .create_output_topic::<Option<Bytes>, Option<Bytes>>(topic, Serdes::bytes(), Serdes::bytes())
        .read_records_to_list()
        .into_iter()
        .map(|r| Rec {
            key: r.key.map(|b| b.to_vec()),
            value: r.value.map(|b| b.to_vec()),
            timestamp: Some(r.timestamp),
            headers: r
                .headers
                .into_iter()
                .map(|h| (h.key, h.value.map(|v| v.to_vec())))
                .collect(),
        })
        .collect()
}

/// The aggregation store's entries through the test driver's typed accessors.
fn contents(case: Case, driver: &TopologyTestDriver, keys: &[String]) -> Vec<Entry> {
    let name = case.aggregate_store();
    match case.store_kind(name) {
        StoreKind::Window => driver
            .window_store::<Key, i64>(name)
            .unwrap()
            .fetch_all_timestamped(0, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|(w, value, ts)| Entry {
                key: w.key.expect("a stored key").into_bytes(),
                start: w.window.start,
                end: w.window.end,
                value: value.to_be_bytes().to_vec(),
                timestamp: Some(ts),
            })
            .collect(),
        StoreKind::Session => {
            let store = driver.session_store::<Key, i64>(name).unwrap();
            keys.iter()
                .flat_map(|k| {
                    store
                        .fetch(&Some(k.clone()))
                        .unwrap()
                        .into_iter()
                        .map(move |s| (k, s))
                })
                .map(|(k, (window, value))| Entry {
                    key: k.clone().into_bytes(),
                    start: window.start,
                    end: window.end,
                    value: value.to_be_bytes().to_vec(),
                    timestamp: None,
                })
                .collect()
        }
        StoreKind::Buffer => unreachable!("a buffer is never a case's aggregation store"),
    }
}

fn changelog_topic(store: &str) -> String {
    format!("{TEST_APPLICATION_ID}-{store}-changelog")
}

/// The case through Runnel's test driver: the input, then the outputs, changelogs and store
/// are read, then the probe.
fn runnel_run(
    case: Case,
    input: &[Input],
    probe: &[Input],
    keys: &[String],
    diffs: &mut Vec<Diff>,
) -> CaseRun {
    let driver = TopologyTestDriver::new(runnel_topology(case)).unwrap();
    pipe(case, &driver, input, diffs);
    let mut run = CaseRun {
        output: drain(&driver, &case.output_topic()),
        ..CaseRun::default()
    };
    for (store, _) in case.stores() {
        run.changelogs
            .insert(store.to_string(), drain(&driver, &changelog_topic(store)));
    }
    run.store = contents(case, &driver, keys);
    pipe(case, &driver, probe, diffs);
    run.probe = drain(&driver, &case.output_topic());
    run
}

/// Kafka's changelogs restored into a fresh Runnel driver's stores before its processors start
/// (no processing), as after a restart; the driver is then read and probed.
fn runnel_restore(
    case: Case,
    changelogs: &BTreeMap<String, Vec<Rec>>,
    probe: &[Input],
    keys: &[String],
    diffs: &mut Vec<Diff>,
) -> (Vec<Entry>, Vec<Rec>) {
    // A record without a timestamp (Kafka's suppression buffer) restores with Kafka's
    // NO_TIMESTAMP; a real broker would have stamped the time of the append.
    let restored = changelogs.iter().map(|(store, records)| {
        let records = records
            .iter()
            .map(|r| (r.key.clone().unwrap(), r.value.clone(), r.timestamp.unwrap_or(-1)))
            .collect();
        (store.clone(), records)
    });
    let driver = match TopologyTestDriver::with_restored_stores(runnel_topology(case), restored) {
        Ok(driver) => driver,
        Err(e) => {
            diffs.push(Diff {
                name: format!("{}.restore-into-runnel", case.id()),
                detail: format!("Runnel could not restore Kafka's changelogs: {e}"),
            });
            return (Vec::new(), Vec::new());
        }
    };
    let store = contents(case, &driver, keys);
    pipe(case, &driver, probe, diffs);
    (store, drain(&driver, &case.output_topic()))
}

// ---------------------------------------------------------------------------------------------
// Comparing (the machinery is in windows_interop/compare.rs).

/// Everything Kafka's and Runnel's runs of `case` should share.
fn compare_runs(case: Case, kafka: &CaseRun, runnel: &CaseRun) -> Vec<Diff> {
    let id = case.id();
    let mut diffs = compare_records_checked(
        &format!("{id}.output"),
        case.output_keys(),
        &kafka.output,
        &runnel.output,
    );
    for (store, _) in case.stores() {
        let none = Vec::new();
        diffs.extend(compare_records_checked(
            &format!("{id}.changelog.{store}"),
            case.changelog_keys(store),
            kafka.changelogs.get(*store).unwrap_or(&none),
            runnel.changelogs.get(*store).unwrap_or(&none),
        ));
    }
    diffs.extend(compare_entries_checked(
        &format!("{id}.store"),
        &kafka.store,
        &runnel.store,
        &case.kafka_hides(&kafka.store, &runnel.store),
    ));
    diffs.extend(compare_records_checked(
        &format!("{id}.probe"),
        case.output_keys(),
        &kafka.probe,
        &runnel.probe,
    ));
    diffs
}

// ---------------------------------------------------------------------------------------------
// The test.

/// The differential test: the input through Kafka Streams 4.4 and through Runnel, compared
/// record by record; Kafka's changelogs restored into Runnel, Runnel's into Kafka Streams.
#[test]
fn kafka_streams_and_runnel_window_the_same_input_alike_and_restore_each_others_changelogs() {
    require_java!();
    let started = Instant::now();
    // The broker boots while both sides run.
    let broker = match support::have("python3") {
        true => Some(ReferenceKafka::start("")),
        false => {
            eprintln!("skipping: the restore into Kafka Streams (interop/kafka-ref.sh needs python3)");
            None
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let (input, probe) = {
        let input = input();
        let probe = probe(&input);
        (input, probe)
    };
    let (input_file, probe_file, out) = (
        dir.path().join("input.jsonl"),
        dir.path().join("probe.jsonl"),
        dir.path().join("kafka"),
    );
    write_input(&input_file, &input);
    write_input(&probe_file, &probe);
    let limit = Duration::from_secs(120);
    run_main(
        "windows-run",
        &[
            "--input",
            input_file.to_str().unwrap(),
            "--probe",
            probe_file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        limit,
        "in Kafka Streams' TopologyTestDriver",
    );
    let kafka: BTreeMap<Case, CaseRun> = CASES
        .iter()
        .flat_map(|c| parse_runs(&std::fs::read_to_string(out.join(format!("{}.jsonl", c.id()))).unwrap()))
        .collect();
    let mut keys: Vec<String> = input.iter().filter_map(|r| r.key.clone()).collect();
    keys.sort();
    keys.dedup();

    let mut diffs = Vec::new();
    let mut runnel = BTreeMap::new();
    let mut summary = Vec::new();
    for case in CASES {
        let k = &kafka[&case];
        // Not vacuous: Kafka's side wrote something of every kind.
        assert!(
            !k.output.is_empty() && !k.store.is_empty() && !k.probe.is_empty(),
            "{}: Kafka's run is missing outputs, store entries or probe output",
            case.id()
        );
        for (store, _) in case.stores() {
            assert!(
                k.changelogs.get(*store).is_some_and(|c| !c.is_empty()),
                "{}: no changelog of {store}",
                case.id()
            );
        }
        let ours = runnel_run(case, &input, &probe, &keys, &mut diffs);
        diffs.extend(compare_runs(case, k, &ours));
        let (store, probed) = runnel_restore(case, &k.changelogs, &probe, &keys, &mut diffs);
        diffs.extend(compare_entries_checked(
            &format!("{}.restore-into-runnel", case.id()),
            &k.store,
            &store,
            &case.kafka_hides(&k.store, &store),
        ));
        diffs.extend(compare_records_checked(
            &format!("{}.probe-after-restore-into-runnel", case.id()),
            case.output_keys(),
            &k.probe,
            &probed,
        ));
        summary.push(format!(
            "{}: {} output records, {} changelog records, {} store entries, {} probe outputs (Kafka)",
            case.id(),
            k.output.len(),
            k.changelogs.values().map(Vec::len).sum::<usize>(),
            k.store.len(),
            k.probe.len()
        ));
        runnel.insert(case, ours);
    }

    if let Some(broker) = broker {
        broker.wait();
        let changelog_file = dir.path().join("runnel-changelogs.jsonl");
        write_changelogs(&changelog_file, &runnel);
        let printed = run_main(
            "windows-restore",
            &[
                "--bootstrap",
                &broker.bootstrap(),
                "--changelog",
                changelog_file.to_str().unwrap(),
                "--case",
                "all",
                "--probe",
                probe_file.to_str().unwrap(),
            ],
            Duration::from_secs(150),
            "against Apache Kafka 4.4",
        );
        drop(broker);
        let restored = parse_runs(&printed);
        for case in CASES {
            let (ours, theirs) = (&runnel[&case], restored.get(&case).cloned().unwrap_or_default());
            assert!(
                !theirs.store.is_empty(),
                "{}: Kafka Streams restored nothing: {printed}",
                case.id()
            );
            // Kafka Streams restored from Runnel's changelogs must hold what Runnel held, and
            // flush on the probe what Runnel flushed.
            diffs.extend(compare_entries_checked(
                &format!("{}.restore-into-kafka", case.id()),
                &theirs.store,
                &ours.store,
                &case.kafka_hides(&theirs.store, &ours.store),
            ));
            diffs.extend(compare_records_checked(
                &format!("{}.probe-after-restore-into-kafka", case.id()),
                case.output_keys(),
                &theirs.probe,
                &ours.probe,
            ));
        }
    }

    let (failures, report) = judge(&diffs, &allow_list("windows"));
    eprintln!(
        "windows differential: {} input records, {} differences not allowed, {:.1} s\n  {}\n{}",
        input.len(),
        failures,
        started.elapsed().as_secs_f64(),
        summary.join("\n  "),
        report.join("\n")
    );
    assert_eq!(
        failures,
        0,
        "Kafka Streams and Runnel differ where interop/allow-list.md allows no difference:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_windows_allow_list_parses_and_every_entry_has_a_reason() {
    // Panics on an entry without a reason or outside a section, or without the section.
    allow_list("windows");
}
