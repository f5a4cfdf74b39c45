#![allow(clippy::unwrap_used)]
//! Windowed aggregations in the `TopologyTestDriver`: every window type in order, out of
//! order within grace, late beyond grace (dropped and counted), at the exact close boundary;
//! hopping overlaps; sliding windows on Kafka's javadoc example and early records; session
//! merges and splits; suppress and emit-on-window-close emitting each window exactly once.
//! The expected records are Kafka Streams 4.4's, from its own runs of the same inputs where it
//! gets them right.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use stream_dsl::prelude::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// `(key, window start, window end, value, timestamp)` of every output record.
type Out<V> = Vec<(String, i64, i64, Option<V>, i64)>;

fn input(driver: &TopologyTestDriver) -> TestInputTopic<String, String> {
    driver.create_input_topic("in", Serdes::string(), Serdes::string())
}

fn time_output<V: 'static>(
    driver: &TopologyTestDriver,
    size: i64,
    value: impl Serde<Option<V>>,
) -> TestOutputTopic<Windowed<String>, Option<V>> {
    driver.create_output_topic(
        "out",
        WindowedSerdes::time_windowed(Serdes::string(), size),
        value,
    )
}

fn session_output<V: 'static>(
    driver: &TopologyTestDriver,
    value: impl Serde<Option<V>>,
) -> TestOutputTopic<Windowed<String>, Option<V>> {
    driver.create_output_topic("out", WindowedSerdes::session_windowed(Serdes::string()), value)
}

fn drain<V: 'static>(out: &TestOutputTopic<Windowed<String>, Option<V>>) -> Out<V> {
    out.read_records_to_list()
        .into_iter()
        .map(|r| {
            (
                r.key.key,
                r.key.window.start,
                r.key.window.end,
                r.value,
                r.timestamp,
            )
        })
        .collect()
}

fn rec<V>(key: &str, start: i64, end: i64, value: Option<V>, ts: i64) -> (String, i64, i64, Option<V>, i64) {
    (key.to_owned(), start, end, value, ts)
}

fn counted(windows: TimeWindows) -> (TopologyTestDriver, TestInputTopic<String, String>) {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .count(Materialized::as_("counts").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    (driver, input)
}

// ---------------------------------------------------------------------------------------
// Time windows
// ---------------------------------------------------------------------------------------

#[test]
fn tumbling_counts_in_order_and_drops_a_record_for_a_closed_window() {
    let (driver, input) = counted(TimeWindows::of_size_with_no_grace(ms(10)));
    let out = time_output(&driver, 10, Serdes::i64());
    for t in [0, 9, 10, 9] {
        input.pipe_input_at("k".into(), "v".into(), t);
    }
    // The last record is at 9 with stream time 10: [0, 10) closed at 10 + 0 <= 10.
    assert_eq!(
        drain(&out),
        [
            rec("k", 0, 10, Some(1), 0),
            rec("k", 0, 10, Some(2), 9),
            rec("k", 10, 20, Some(1), 10)
        ]
    );
    assert_eq!(driver.dropped_records(), 1);
}

#[test]
fn a_window_takes_records_until_its_end_plus_grace_and_not_at_it() {
    let (driver, input) = counted(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    let out = time_output(&driver, 10, Serdes::i64());
    input.pipe_input_at("k".into(), "v".into(), 14);
    input.pipe_input_at("k".into(), "v".into(), 9); // stream time 14: 10 > 14 - 5, open
    input.pipe_input_at("k".into(), "v".into(), 15);
    input.pipe_input_at("k".into(), "v".into(), 9); // stream time 15: 10 + 5 <= 15, closed
    assert_eq!(
        drain(&out),
        [
            rec("k", 10, 20, Some(1), 14),
            rec("k", 0, 10, Some(1), 9),
            rec("k", 10, 20, Some(2), 15),
        ]
    );
    assert_eq!(driver.dropped_records(), 1);
}

#[test]
fn tumbling_counts_out_of_order_within_grace_stamped_with_the_windows_latest_record() {
    let (driver, input) = counted(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    let out = time_output(&driver, 10, Serdes::i64());
    for (k, t) in [("A", 3), ("A", 1), ("B", 14), ("B", 15)] {
        input.pipe_input_at(k.into(), "v".into(), t);
    }
    assert_eq!(
        drain(&out),
        [
            rec("A", 0, 10, Some(1), 3),
            rec("A", 0, 10, Some(2), 3),
            rec("B", 10, 20, Some(1), 14),
            rec("B", 10, 20, Some(2), 15),
        ]
    );
    assert_eq!(driver.dropped_records(), 0);
}

#[test]
fn a_hopping_record_lands_in_its_open_windows_and_is_dropped_from_closed_ones() {
    let (driver, input) = counted(TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5)));
    let out = time_output(&driver, 10, Serdes::i64());
    for t in [3, 14, 7] {
        input.pipe_input_at("k".into(), "v".into(), t);
    }
    // 3 is in [0, 10) only (no window starts before the epoch); 14 in [5, 15) and [10, 20);
    // 7 in [0, 10), closed at stream time 14, and [5, 15), open.
    assert_eq!(
        drain(&out),
        [
            rec("k", 0, 10, Some(1), 3),
            rec("k", 5, 15, Some(1), 14),
            rec("k", 10, 20, Some(1), 14),
            rec("k", 5, 15, Some(2), 14),
        ]
    );
    assert_eq!(driver.dropped_records(), 1, "once, for the one window it missed");
    let store = driver.window_store::<String, i64>("counts").unwrap();
    // Retention is size + grace = 10: at stream time 14 the store serves windows starting
    // after 14 - 10, as Kafka's `getActualFrom` does, so [0, 10) is no longer read back.
    assert_eq!(store.fetch_range(&"k".into(), 0, 20).unwrap(), [(5, 2), (10, 1)]);
}

#[test]
fn hopping_sums_reduce_per_window() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(2)).advance_by(ms(5)))
        .reduce(|a, b| a + b, Materialized::as_("sums").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = driver.create_input_topic::<String, i64>("in", Serdes::string(), Serdes::i64());
    let out = time_output(&driver, 10, Serdes::i64());
    for (v, t) in [(1, 2), (10, 6), (100, 11)] {
        input.pipe_input_at("k".into(), v, t);
    }
    assert_eq!(
        drain(&out),
        [
            rec("k", 0, 10, Some(1), 2),
            rec("k", 0, 10, Some(11), 6),
            rec("k", 5, 15, Some(10), 6),
            rec("k", 5, 15, Some(110), 11),
            rec("k", 10, 20, Some(100), 11),
        ]
    );
}

#[test]
fn a_retention_smaller_than_size_plus_grace_is_refused_with_kafkas_message() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("counts").with_retention(ms(14)));
    let err = builder.build().unwrap_err().to_string();
    assert!(
        err.contains(
            "The retention period of the window store counts must be no smaller than its window size \
             plus the grace period. Got size=[10], grace=[5], retention=[14]"
        ),
        "{err}"
    );
    let bad_windows = StreamsBuilder::new();
    bad_windows
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(11)))
        .count(Materialized::as_("counts"));
    assert!(
        bad_windows
            .build()
            .unwrap_err()
            .to_string()
            .contains("Window advancement interval should be more than zero")
    );
}

// ---------------------------------------------------------------------------------------
// Sliding windows
// ---------------------------------------------------------------------------------------

fn concatenated(windows: SlidingWindows) -> (TopologyTestDriver, TestInputTopic<String, String>) {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .aggregate(
            String::new,
            |_k, v, agg| agg + &v,
            Materialized::as_("slides")
                .with_value_serde(Serdes::string())
                .with_caching_disabled(),
        )
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    (driver, input)
}

#[test]
fn sliding_windows_follow_kafkas_javadoc_example() {
    let (driver, input) = concatenated(SlidingWindows::of_time_difference_with_no_grace(ms(5000)));
    let out = time_output(&driver, 5000, Serdes::string());
    for (v, t) in [("1", 8000), ("2", 9200), ("3", 12400)] {
        input.pipe_input_at("A".into(), v.into(), t);
    }
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        drain(&out),
        [
            rec("A", 3000, 8000, s("1"), 8000),
            rec("A", 8001, 13001, s("2"), 9200),
            rec("A", 4200, 9200, s("12"), 9200),
            rec("A", 8001, 13001, s("23"), 12400),
            rec("A", 9201, 14201, s("3"), 12400),
            rec("A", 7400, 12400, s("123"), 12400),
        ]
    );
}

#[test]
fn records_earlier_than_the_time_difference_share_the_window_at_the_epoch() {
    let (driver, input) = concatenated(SlidingWindows::of_time_difference_with_no_grace(ms(10)));
    let out = time_output(&driver, 10, Serdes::string());
    for (v, t) in [("a", 3), ("b", 7), ("c", 15)] {
        input.pipe_input_at("A".into(), v.into(), t);
    }
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        drain(&out),
        [
            rec("A", 0, 10, s("a"), 3),
            rec("A", 4, 14, s("b"), 7),
            rec("A", 0, 10, s("ab"), 7),
            rec("A", 8, 18, s("c"), 15),
            rec("A", 5, 15, s("bc"), 15),
        ]
    );
}

#[test]
fn a_late_sliding_record_is_dropped_whole_or_from_its_closed_windows() {
    let (driver, input) = concatenated(SlidingWindows::of_time_difference_with_no_grace(ms(10)));
    for (v, t) in [("a", 100), ("b", 130), ("c", 120), ("d", 119)] {
        input.pipe_input_at("A".into(), v.into(), t);
    }
    // c at 120, stream time 130: its left window [110, 120] has closed (120 < 130), the
    // window [120, 130] it shares with b is open; d at 119: even [119, 129] has closed.
    assert_eq!(driver.dropped_records(), 2);
    let store = driver.window_store::<String, String>("slides").unwrap();
    assert_eq!(store.fetch(&"A".into(), 120).unwrap(), Some("bc".to_owned()));
    assert_eq!(store.fetch(&"A".into(), 110).unwrap(), None);
    assert_eq!(store.fetch(&"A".into(), 109).unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// Session windows
// ---------------------------------------------------------------------------------------

#[test]
fn sessions_merge_with_kafkas_merger_order_and_forward_tombstones_for_merged_ones() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
        .aggregate(
            String::new,
            |_k, v, agg| agg + &v,
            |_k, a, b| format!("{a}+{b}"),
            Materialized::as_("sessions")
                .with_value_serde(Serdes::string())
                .with_caching_disabled(),
        )
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = session_output(&driver, Serdes::string());
    for (v, t) in [("1", 10), ("2", 12), ("3", 20), ("4", 16)] {
        input.pipe_input_at("A".into(), v.into(), t);
    }
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        drain(&out),
        [
            rec("A", 10, 10, s("1"), 10),
            rec("A", 10, 10, None, 10),
            rec("A", 10, 12, s("+12"), 12),
            rec("A", 20, 20, s("3"), 20),
            // [10, 12] closed at stream time 20 (12 + 5 < 20): 16 bridges to 20 only.
            rec("A", 20, 20, None, 20),
            rec("A", 16, 20, s("+34"), 20),
        ]
    );
}

#[test]
fn a_record_between_two_open_sessions_merges_them_and_a_late_one_is_dropped() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(10)))
        // Kept long past closing, so the test can look at closed sessions too.
        .count(
            Materialized::as_("sessions")
                .with_caching_disabled()
                .with_retention(ms(100)),
        );
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    for t in [10, 20, 15, 40] {
        input.pipe_input_at("A".into(), "v".into(), t);
    }
    let store = driver.session_store::<String, i64>("sessions").unwrap();
    let sessions = |s: &SessionStore<String, i64>| -> Vec<(i64, i64, i64)> {
        s.fetch(&"A".into())
            .unwrap()
            .into_iter()
            .map(|(w, n)| (w.start, w.end, n))
            .collect()
    };
    // 15 is within the gap of both: one session [10, 20] of three records.
    assert_eq!(sessions(&store), [(10, 20, 3), (40, 40, 1)]);
    // Stream time 40: a session ending before 40 - 10 - 5 = 25 has closed; 24 alone would end
    // there. 26 joins nothing (20 + 5 < 26) but is still open as a session of its own.
    input.pipe_input_at("A".into(), "v".into(), 24);
    input.pipe_input_at("A".into(), "v".into(), 26);
    assert_eq!(driver.dropped_records(), 1);
    assert_eq!(sessions(&store), [(10, 20, 3), (26, 26, 1), (40, 40, 1)]);
}

// ---------------------------------------------------------------------------------------
// Final results: suppress and emit-on-window-close
// ---------------------------------------------------------------------------------------

fn suppressed_counts(windows: TimeWindows) -> (TopologyTestDriver, TestInputTopic<String, String>) {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(windows)
        .count(Materialized::as_("counts").with_caching_disabled())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    (driver, input)
}

#[test]
fn suppress_emits_a_window_once_at_its_end_plus_grace_with_its_final_count() {
    let (driver, input) = suppressed_counts(TimeWindows::of_size_and_grace(ms(10), ms(5)));
    let out = time_output(&driver, 10, Serdes::i64());
    for (k, t) in [("A", 1), ("A", 3), ("B", 14)] {
        input.pipe_input_at(k.into(), "v".into(), t);
    }
    assert!(out.is_empty(), "at stream time 14, [0, 10) is still open");
    input.pipe_input_at("C".into(), "v".into(), 15);
    assert_eq!(drain(&out), [rec("A", 0, 10, Some(2), 3)]);
    input.pipe_input_at("A".into(), "v".into(), 5); // late: dropped, nothing re-emitted
    input.pipe_input_at("C".into(), "v".into(), 40);
    assert_eq!(
        drain(&out),
        [rec("B", 10, 20, Some(1), 14), rec("C", 10, 20, Some(1), 15)]
    );
    assert_eq!(driver.dropped_records(), 1);
}

#[test]
fn suppress_emits_windows_that_close_together_in_the_order_of_their_keys_bytes() {
    // Kafka's buffer is sorted by (window end, serialized windowed key): windows closing at
    // the same stream time leave in key order whatever order their keys arrived in.
    let (driver, input) = suppressed_counts(TimeWindows::of_size_with_no_grace(ms(10)));
    let out = time_output(&driver, 10, Serdes::i64());
    for (k, t) in [("dave", 1), ("carol", 2), ("", 3), ("dave", 4), ("zoë", 5)] {
        input.pipe_input_at(k.into(), "v".into(), t);
    }
    input.pipe_input_at("ann".into(), "v".into(), 10);
    assert_eq!(
        drain(&out),
        [
            rec("", 0, 10, Some(1), 3),
            rec("carol", 0, 10, Some(1), 2),
            rec("dave", 0, 10, Some(2), 4),
            rec("zoë", 0, 10, Some(1), 5),
        ]
    );
}

/// Every record of a changelog topic the driver wrote, as the restore of another driver
/// takes them.
fn changelog(driver: &TopologyTestDriver, store: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>, i64)> {
    let topic = format!(
        "{}-{store}-changelog",
        stream_dsl::test_driver::TEST_APPLICATION_ID
    );
    driver
        .create_output_topic::<Option<bytes::Bytes>, Option<bytes::Bytes>>(
            &topic,
            Serdes::bytes(),
            Serdes::bytes(),
        )
        .read_records_to_list()
        .into_iter()
        .map(|r| (r.key.unwrap().to_vec(), r.value.map(|v| v.to_vec()), r.timestamp))
        .collect()
}

fn named_suppressed_counts() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("counts").with_caching_disabled())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()).with_name("buffer"))
        .to_stream()
        .to("out", Produced::default());
    builder.build().unwrap()
}

#[test]
fn stores_restored_before_the_processors_start_give_them_the_buffer_and_the_stream_time() {
    let first = TopologyTestDriver::new(named_suppressed_counts()).unwrap();
    for (k, t) in [("A", 1), ("A", 3), ("B", 14), ("C", 15)] {
        input(&first).pipe_input_at(k.into(), "v".into(), t);
    }
    assert_eq!(
        drain(&time_output(&first, 10, Serdes::i64())),
        [rec("A", 0, 10, Some(2), 3)]
    );
    // A restart: the same topology, its stores restored from their changelogs.
    let restored = [
        ("counts".to_string(), changelog(&first, "counts")),
        ("buffer-store".to_string(), changelog(&first, "buffer-store")),
    ];
    let second = TopologyTestDriver::with_restored_stores(named_suppressed_counts(), restored).unwrap();
    let input = input(&second);
    let out = time_output(&second, 10, Serdes::i64());
    // Stream time came back with the window store (15), so A@2 is late for [0, 10), which was
    // emitted before the restart: dropped, never emitted again. (Kafka 4.4 forgets stream time
    // on a restart, takes A@2 and emits [0, 10) a second time, windows-spec §10 #6.)
    input.pipe_input_at("A".into(), "v".into(), 2);
    assert_eq!(second.dropped_records(), 1);
    // The buffer came back from its changelog: stream time 40 closes [10, 20), and the windows
    // buffered before the restart are emitted.
    input.pipe_input_at("C".into(), "v".into(), 40);
    assert_eq!(
        drain(&out),
        [rec("B", 10, 20, Some(1), 14), rec("C", 10, 20, Some(1), 15)]
    );
}

#[test]
fn a_changelog_for_a_store_the_topology_lacks_is_refused() {
    let err = TopologyTestDriver::with_restored_stores(
        named_suppressed_counts(),
        [("nope".to_string(), Vec::new())],
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn emit_on_window_close_emits_each_window_once_even_when_stream_time_jumps_past_its_retention() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("counts").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = time_output(&driver, 10, Serdes::i64());
    input.pipe_input_at("E".into(), "v".into(), 20);
    input.pipe_input_at("E".into(), "v".into(), 25);
    assert!(out.is_empty());
    // Stream time jumps from 25 to 41: [20, 30) closed, and its retention (10) has passed
    // too. Kafka 4.4 never emits it; it is emitted here, once.
    input.pipe_input_at("F".into(), "v".into(), 41);
    assert_eq!(drain(&out), [rec("E", 20, 30, Some(2), 25)]);
    input.pipe_input_at("F".into(), "v".into(), 55);
    assert_eq!(drain(&out), [rec("F", 40, 50, Some(1), 41)]);
}

#[test]
fn session_counts_suppressed_emit_each_merged_session_once_and_never_a_merged_away_one() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
        .count(Materialized::as_("sessions").with_caching_disabled())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = session_output(&driver, Serdes::i64());
    for (k, t) in [("A", 10), ("A", 12), ("B", 16), ("B", 17)] {
        input.pipe_input_at(k.into(), "v".into(), t);
    }
    // [10, 12] closes once 12 + 5 <= stream time: at 17.
    assert_eq!(drain(&out), [rec("A", 10, 12, Some(2), 12)]);
}

#[test]
fn a_final_results_buffer_that_emits_early_is_refused() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::as_("counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(3)));
    assert!(builder.build().unwrap_err().to_string().contains("never emits"));
}

#[test]
fn a_time_limit_suppression_emits_after_the_limit_from_the_first_held_back_update() {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, String>(
            "in",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_("t"),
        )
        .suppress(Suppressed::until_time_limit(ms(10), BufferConfig::unbounded()))
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = driver.create_output_topic::<String, Option<String>>("out", Serdes::string(), Serdes::string());
    for (v, t) in [("a", 0), ("b", 5), ("c", 9)] {
        input.pipe_input_at("A".into(), v.into(), t);
    }
    assert!(out.is_empty());
    input.pipe_input_at("A".into(), "d".into(), 10);
    assert_eq!(
        out.read_key_values_to_list(),
        [("A".to_owned(), Some("d".to_owned()))]
    );
}

#[test]
fn a_full_buffer_that_shuts_down_fails_the_application_with_kafkas_message() {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, String>(
            "in",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::as_("t"),
        )
        .suppress(
            Suppressed::until_time_limit(ms(10), BufferConfig::max_records(1).shut_down_when_full())
                .with_name("limit"),
        )
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    input.pipe_input_at("A".into(), "a".into(), 0);
    let err = input
        .try_pipe_record(Record::new("B".into(), "b".into(), 1))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("limit buffer exceeded its max capacity. Currently [2/1] records"),
        "{err}"
    );
}

#[test]
fn describe_shows_the_windowed_aggregation_and_the_suppression_with_their_stores() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::with(Serdes::string(), Serdes::i64()))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out", Produced::default());
    let described = builder.build().unwrap().describe();
    assert!(
        described.contains(
            "Processor: KSTREAM-AGGREGATE-0000000002 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000001])"
        ),
        "{described}"
    );
    assert!(
        described.contains(
            "Processor: KTABLE-SUPPRESS-0000000003 (stores: [KTABLE-SUPPRESS-STATE-STORE-0000000004])"
        ),
        "{described}"
    );
}

// ---------------------------------------------------------------------------------------
// Property: final results are each window exactly once, equal to a fold
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Out-of-order input with late records: suppress emits every window that closed exactly
    /// once, with the count of the records that were not late for it, computed directly.
    #[test]
    fn suppressed_tumbling_counts_equal_a_fold(
        events in proptest::collection::vec((0u8..4, 0i64..200), 1..120),
    ) {
        let (size, grace) = (10i64, 5i64);
        let (driver, input) = suppressed_counts(TimeWindows::of_size_and_grace(ms(size as u64), ms(grace as u64)));
        let out = time_output(&driver, size, Serdes::i64());
        let mut stream_time = i64::MIN;
        let mut expected: BTreeMap<(String, i64), i64> = BTreeMap::new();
        let mut dropped = 0u64;
        for (k, t) in &events {
            let key = format!("k{k}");
            input.pipe_input_at(key.clone(), "v".into(), *t);
            stream_time = stream_time.max(*t);
            let start = t - t % size;
            if start + size + grace <= stream_time {
                dropped += 1;
            } else {
                *expected.entry((key, start)).or_default() += 1;
            }
        }
        // A last record far ahead closes every window.
        input.pipe_input_at("flush".into(), "v".into(), 10_000);
        let mut emitted: BTreeMap<(String, i64), i64> = BTreeMap::new();
        for (key, start, _, count, _) in drain(&out) {
            prop_assert!(emitted.insert((key, start), count.unwrap()).is_none(), "a window emitted twice");
        }
        prop_assert_eq!(emitted, expected);
        prop_assert_eq!(driver.dropped_records(), dropped);
    }
}

// ---------------------------------------------------------------------------------------
// Old values: read from the store only where downstream asks (Kafka's sendOldValues)
// ---------------------------------------------------------------------------------------

#[test]
fn a_filter_behind_map_values_on_a_windowed_count_deletes_a_window_that_stops_matching() {
    // The filter learns that the window matched before only from its old value, which the
    // windowed aggregation sends because the filter, through map_values, asked for it.
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::as_("counts").with_caching_disabled())
        .map_values(|n| n * 10)
        .filter(|_, n| *n < 20)
        .to_stream()
        .to(
            "out",
            Produced::with(WindowedSerdes::time_windowed(Serdes::string(), 10), Serdes::i64()),
        );
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = time_output(&driver, 10, Serdes::i64());
    input.pipe_input_at("ann".to_string(), "a".to_string(), 1);
    input.pipe_input_at("ann".to_string(), "b".to_string(), 2);
    input.pipe_input_at("ann".to_string(), "c".to_string(), 3);
    assert_eq!(
        drain(&out),
        [rec("ann", 0, 10, Some(10), 1), rec("ann", 0, 10, None, 2)],
        "10 passes; 20 deletes the window downstream; 30 neither matched nor matches"
    );
}

// ---------------------------------------------------------------------------------------
// Headers, as Kafka Streams passes them on
// ---------------------------------------------------------------------------------------

fn traced(timestamp: i64, trace: &str) -> Record<String, String> {
    let mut r = Record::new("ann".to_string(), "v".to_string(), timestamp);
    r.headers = vec![stream_dsl::record::Header {
        key: "trace".into(),
        value: Some(trace.as_bytes().to_vec().into()),
    }];
    r
}

fn traces(out: &TestOutputTopic<Windowed<String>, Option<i64>>) -> Vec<Vec<String>> {
    out.read_records_to_list()
        .into_iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|h| {
                    format!(
                        "{}={}",
                        h.key,
                        String::from_utf8_lossy(h.value.as_deref().unwrap_or_default())
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn an_uncached_windowed_update_carries_the_headers_of_the_record_that_caused_it() {
    let (driver, input) = counted(TimeWindows::of_size_with_no_grace(ms(10)));
    let out = time_output(&driver, 10, Serdes::i64());
    input.try_pipe_record(traced(1, "t1")).unwrap();
    input.try_pipe_record(traced(2, "t2")).unwrap();
    assert_eq!(traces(&out), [vec!["trace=t1"], vec!["trace=t2"]]);

    let (driver, input) = concatenated(SlidingWindows::of_time_difference_with_no_grace(ms(10)));
    let out = time_output(&driver, 10, Serdes::string());
    input.try_pipe_record(traced(5, "s1")).unwrap();
    input.try_pipe_record(traced(8, "s2")).unwrap();
    let stamped: Vec<Vec<String>> = out
        .read_records_to_list()
        .into_iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|h| String::from_utf8_lossy(h.value.as_deref().unwrap_or_default()).into_owned())
                .collect()
        })
        .collect();
    assert!(stamped.len() >= 3, "{stamped:?}");
    assert_eq!(stamped[0], ["s1"], "the first record's window");
    assert!(
        stamped[1..].iter().all(|h| h == &["s2"]),
        "every window the second record touched: {stamped:?}"
    );
}

#[test]
fn windows_closed_by_a_record_under_emit_on_window_close_carry_its_headers() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("counts").with_caching_disabled())
        .to_stream()
        .to("out", Produced::default());
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let input = input(&driver);
    let out = time_output(&driver, 10, Serdes::i64());
    input.try_pipe_record(traced(1, "opened")).unwrap();
    input.try_pipe_record(traced(12, "closer")).unwrap();
    assert_eq!(traces(&out), [vec!["trace=closer"]]);
}
