#![allow(clippy::unwrap_used)]
//! Every DSL operator run in the `TopologyTestDriver`, each test asserting exactly what the
//! operator produces: the stateless `KStream` operators, the Processor API (stores, record
//! metadata, punctuations), grouped-stream and table aggregations (the CDC case of rows that
//! change group), stores read through the driver, and the errors `build()` and the driver
//! report.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use stream_dsl::prelude::*;
use stream_dsl::record::Header;
use stream_dsl::serde::SerdeError;

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

fn kn(k: &str, n: i64) -> (String, i64) {
    (k.to_owned(), n)
}

fn driver(builder: &StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::new(builder.build().unwrap()).unwrap()
}

fn string_input(driver: &TopologyTestDriver, topic: &str) -> TestInputTopic<String, String> {
    driver.create_input_topic(topic, Serdes::string(), Serdes::string())
}

fn string_output(driver: &TopologyTestDriver, topic: &str) -> TestOutputTopic<String, String> {
    driver.create_output_topic(topic, Serdes::string(), Serdes::string())
}

fn build_error(builder: &StreamsBuilder) -> String {
    match builder.build() {
        Ok(topology) => panic!("build() accepted an invalid topology:\n{}", topology.describe()),
        Err(e @ StreamsError::Topology(_)) => e.to_string(),
        Err(e) => panic!("build() failed with a non-topology error: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// KStream: stateless operators
// ---------------------------------------------------------------------------------------

#[test]
fn filter_keeps_only_the_records_that_match() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .filter(|_, v: &String| v.len() > 1)
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("a", "1"), kv("b", "22"), kv("c", "333"), kv("d", "")]);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kv("b", "22"), kv("c", "333")]
    );
}

#[test]
fn filter_not_drops_the_records_that_match() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .filter_not(|k: &String, _| k.starts_with('x'))
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("a", "1"), kv("xb", "2"), kv("c", "3")]);
    assert_eq!(output.read_key_values_to_list(), vec![kv("a", "1"), kv("c", "3")]);
}

#[test]
fn map_replaces_key_and_value_and_keeps_timestamp_and_headers() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map(|k: String, v: String| (v.len() as i64, k))
        .to("out", Produced::with(Serdes::i64(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = driver.create_output_topic("out", Serdes::i64(), Serdes::string());
    let headers = vec![Header::new("trace", Some("t-1"))];
    let mut record = Record::new("alice".to_string(), "abc".to_string(), 42);
    record.headers = headers.clone();
    input.try_pipe_record(record).unwrap();
    assert_eq!(
        output.read_records_to_list(),
        vec![Record {
            key: 3,
            value: "alice".to_string(),
            timestamp: 42,
            headers
        }]
    );
}

#[test]
fn map_values_replaces_only_the_value() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map_values(|v: String| v.len() as i64)
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_input_at("k".to_string(), "four".to_string(), 7);
    assert_eq!(
        output.read_records_to_list(),
        vec![Record::new("k".to_string(), 4, 7)]
    );
}

#[test]
fn flat_map_emits_zero_or_more_records_per_input() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .flat_map(|k: String, v: String| {
            v.split_whitespace()
                .map(|w| (w.to_owned(), k.clone()))
                .collect::<Vec<_>>()
        })
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("doc1", "x y"), kv("doc2", ""), kv("doc3", "z")]);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kv("x", "doc1"), kv("y", "doc1"), kv("z", "doc3")]
    );
}

#[test]
fn flat_map_values_keeps_the_key_for_every_value() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .flat_map_values(|v: String| v.chars().map(String::from).collect::<Vec<_>>())
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_input_at("k".to_string(), "ab".to_string(), 5);
    input.pipe_input("empty".to_string(), String::new());
    assert_eq!(
        output.read_records_to_list(),
        vec![
            Record::new("k".to_string(), "a".to_string(), 5),
            Record::new("k".to_string(), "b".to_string(), 5)
        ]
    );
}

#[test]
fn select_key_rekeys_and_keeps_the_value() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .select_key(|_, v: &String| v.to_uppercase())
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("1", "a"), kv("2", "b")]);
    assert_eq!(output.read_key_values_to_list(), vec![kv("A", "a"), kv("B", "b")]);
}

#[test]
fn peek_sees_every_record_and_passes_it_on() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = StreamsBuilder::new();
    let log = seen.clone();
    builder
        .stream("in", strings())
        .peek(move |k: &String, v: &String| log.lock().unwrap().push((k.clone(), v.clone())))
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("a", "1"), kv("b", "2")]);
    assert_eq!(*seen.lock().unwrap(), vec![kv("a", "1"), kv("b", "2")]);
    assert_eq!(output.read_key_values_to_list(), vec![kv("a", "1"), kv("b", "2")]);
}

#[test]
fn foreach_sees_every_record_and_ends_the_branch() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = StreamsBuilder::new();
    let log = seen.clone();
    builder
        .stream("in", strings())
        .foreach(move |k: &String, v: &String| log.lock().unwrap().push(format!("{k}={v}")));
    let topology = builder.build().unwrap();
    assert!(
        topology
            .describe()
            .contains("Processor: KSTREAM-FOREACH-0000000001 (stores: [])\n      --> none\n")
    );
    let driver = TopologyTestDriver::new(topology).unwrap();
    string_input(&driver, "in").pipe_key_value_list([kv("a", "1"), kv("b", "2")]);
    assert_eq!(*seen.lock().unwrap(), vec!["a=1".to_string(), "b=2".to_string()]);
}

#[test]
fn merge_passes_on_the_records_of_both_streams_in_arrival_order() {
    let builder = StreamsBuilder::new();
    let left = builder.stream("left", strings());
    let right = builder
        .stream("right", strings())
        .map_values(|v: String| v.to_uppercase());
    left.merge(right).to("out", Produced::default());
    let driver = driver(&builder);
    let (l, r) = (string_input(&driver, "left"), string_input(&driver, "right"));
    let output = string_output(&driver, "out");
    l.pipe_input("1".into(), "a".into());
    r.pipe_input("2".into(), "b".into());
    l.pipe_input("3".into(), "c".into());
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kv("1", "a"), kv("2", "B"), kv("3", "c")]
    );
}

/// Splits numbers (as strings) into `small` (< 10), `even` and the default branch `rest`.
fn split_topology(default: bool) -> StreamsBuilder {
    let builder = StreamsBuilder::new();
    let split = builder
        .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .split()
        .branch("small", |_, n| *n < 10)
        .branch("even", |_, n| n % 2 == 0);
    let branches = if default {
        split.default_branch("rest")
    } else {
        split.no_default_branch()
    };
    for (name, stream) in branches {
        stream.to(format!("out-{name}"), Produced::default());
    }
    builder
}

#[test]
fn split_sends_each_record_to_the_first_matching_branch_and_the_rest_to_the_default() {
    let driver = driver(&split_topology(true));
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    let out =
        |name: &str| driver.create_output_topic(&format!("out-{name}"), Serdes::string(), Serdes::i64());
    // 4 matches both `small` and `even`: the first branch wins.
    input.pipe_key_value_list([kn("a", 4), kn("b", 12), kn("c", 13), kn("d", 7)]);
    assert_eq!(
        out("small").read_key_values_to_list(),
        vec![kn("a", 4), kn("d", 7)]
    );
    assert_eq!(out("even").read_key_values_to_list(), vec![kn("b", 12)]);
    assert_eq!(out("rest").read_key_values_to_list(), vec![kn("c", 13)]);
}

#[test]
fn split_without_a_default_branch_drops_unmatched_records() {
    let builder = split_topology(false);
    let driver = driver(&builder);
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    let out =
        |name: &str| driver.create_output_topic(&format!("out-{name}"), Serdes::string(), Serdes::i64());
    input.pipe_key_value_list([kn("a", 4), kn("b", 12), kn("c", 13)]);
    assert_eq!(out("small").read_key_values_to_list(), vec![kn("a", 4)]);
    assert_eq!(out("even").read_key_values_to_list(), vec![kn("b", 12)]);
    assert!(out("rest").is_empty());
    assert!(!driver.describe().contains("out-rest"));
}

#[test]
fn split_returns_the_branches_by_name() {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream("in", strings())
        .split()
        .branch("a", |_, _| true)
        .branch("b", |_, _| true)
        .default_branch("c");
    assert_eq!(
        branches.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["a", "b", "c"]
    );
}

#[test]
fn to_writes_with_the_source_serdes_when_produced_has_none() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = driver.create_input_topic::<String, i64>("in", Serdes::string(), Serdes::i64());
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_input_at("k".into(), -5, 3);
    assert_eq!(
        output.read_records_to_list(),
        vec![Record::new("k".to_string(), -5, 3)]
    );
}

#[test]
fn a_value_the_sink_serde_cannot_write_is_a_serialization_error_not_a_null() {
    // JSON objects need string keys: this map cannot be written as JSON.
    type Tally = BTreeMap<(i32, i32), i32>;
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in", strings())
        .map_values(|v: String| Tally::from([((v.len() as i32, 0), 1)]))
        .to("out", Produced::with(Serdes::string(), Serdes::json::<Tally>()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let err = input
        .try_pipe_record(Record::new("k".to_string(), "abc".to_string(), 1))
        .unwrap_err();
    assert!(
        matches!(&err, StreamsError::Serialization { topic, part: "value", .. } if topic == "out"),
        "{err}"
    );
    let output = driver.create_output_topic::<String, String>("out", Serdes::string(), Serdes::string());
    assert!(output.read_records_to_list().is_empty(), "nothing was written");
}

#[test]
fn to_after_a_type_change_without_serdes_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map_values(|v: String| v.len() as i64)
        .to("out", Produced::default());
    assert_eq!(
        build_error(&builder),
        "invalid topology: to(out) needs serdes: pass Produced::with(key_serde, value_serde)"
    );
}

#[test]
fn repartition_passes_records_through_the_named_repartition_topic() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .select_key(|_, v: &String| v.len() as i64)
        .repartition(Repartitioned::with(Serdes::i64(), Serdes::string()).with_name("by-length"))
        .map_values(|v: String| format!("<{v}>"))
        .to("out", Produced::with(Serdes::i64(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let through = driver.create_output_topic(
        "test-driver-by-length-repartition",
        Serdes::i64(),
        Serdes::string(),
    );
    let output = driver.create_output_topic("out", Serdes::i64(), Serdes::string());
    input.pipe_input_at("a".into(), "xy".into(), 10);
    input.pipe_input_at("b".into(), "xyz".into(), 11);
    assert_eq!(
        through.read_records_to_list(),
        vec![
            Record::new(2, "xy".to_string(), 10),
            Record::new(3, "xyz".to_string(), 11)
        ]
    );
    assert_eq!(
        output.read_records_to_list(),
        vec![
            Record::new(2, "<xy>".to_string(), 10),
            Record::new(3, "<xyz>".to_string(), 11)
        ]
    );
    // The repartition topic splits the topology: the map runs in a second sub-topology.
    let description = driver.describe();
    assert!(
        description.contains("Sink: KSTREAM-SINK-0000000002 (topic: by-length-repartition)"),
        "{description}"
    );
    assert!(description.contains(
        "   Sub-topology: 1\n    Source: KSTREAM-SOURCE-0000000003 (topics: [by-length-repartition])"
    ));
}

#[test]
fn repartition_without_a_name_uses_a_generated_one_and_the_stream_serdes() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .repartition(Repartitioned::default())
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let through = string_output(&driver, "test-driver-KSTREAM-REPARTITION-0000000001-repartition");
    let output = string_output(&driver, "out");
    input.pipe_input("k".into(), "v".into());
    assert_eq!(through.read_key_values_to_list(), vec![kv("k", "v")]);
    assert_eq!(output.read_key_values_to_list(), vec![kv("k", "v")]);
}

#[test]
fn repartition_of_a_rekeyed_stream_without_serdes_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .select_key(|_, v: &String| v.len() as i64)
        .repartition(Repartitioned::as_("r"))
        .to("out", Produced::with(Serdes::i64(), Serdes::string()));
    assert_eq!(
        build_error(&builder),
        "invalid topology: repartition topic r-repartition needs key and value serdes: pass them with \
         Grouped::with / Repartitioned::with"
    );
}

// ---------------------------------------------------------------------------------------
// The Processor API
// ---------------------------------------------------------------------------------------

/// Counts records per key in the store `seen` and forwards `"<value> #<n> from <topic>-<partition>@<offset>"`.
struct CountingProcessor {
    seen: Option<KeyValueStore<String, i64>>,
}

impl Processor<String, String, String, String> for CountingProcessor {
    fn init(&mut self, ctx: &mut ProcessorContext<String, String>) -> stream_dsl::Result<()> {
        self.seen = Some(ctx.get_state_store("seen")?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<String, String>,
        r: Record<String, String>,
    ) -> stream_dsl::Result<()> {
        let seen = self.seen.as_ref().unwrap();
        let n = seen.get(&r.key)?.unwrap_or(0) + 1;
        seen.put(&r.key, &n)?;
        let m = ctx.record_metadata().unwrap();
        let value = format!("{} #{n} from {}-{}@{}", r.value, m.topic, m.partition, m.offset);
        ctx.forward(r.with_value(value))
    }
}

fn seen_store() -> stream_dsl::state::StoreBuilder<String, i64> {
    Stores::key_value_store_builder("seen", StoreType::InMemory, Serdes::string(), Serdes::i64())
}

#[test]
fn process_runs_a_user_processor_with_its_store_and_record_metadata() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(seen_store());
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(|| CountingProcessor { seen: None }, &["seen"])
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_key_value_list([kv("a", "x"), kv("b", "y"), kv("a", "z")]);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            kv("a", "x #1 from in-0@0"),
            kv("b", "y #1 from in-0@1"),
            kv("a", "z #2 from in-0@2")
        ]
    );
    let seen = driver.key_value_store::<String, i64>("seen").unwrap();
    assert_eq!(seen.all().unwrap(), vec![kn("a", 2), kn("b", 1)]);
    // The store is logged: its changelog got every write.
    let changelog = driver.create_output_topic("test-driver-seen-changelog", Serdes::string(), Serdes::i64());
    assert_eq!(
        changelog.read_key_values_to_list(),
        vec![kn("a", 1), kn("b", 1), kn("a", 2)]
    );
}

/// Sets its flag when closed.
struct ClosingProcessor(Arc<Mutex<bool>>);

impl Processor<String, String, String, String> for ClosingProcessor {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<String, String>,
        r: Record<String, String>,
    ) -> stream_dsl::Result<()> {
        ctx.forward(r)
    }

    fn close(&mut self, _ctx: &mut ProcessorContext<String, String>) -> stream_dsl::Result<()> {
        *self.0.lock().unwrap() = true;
        Ok(())
    }
}

#[test]
fn closing_the_driver_closes_the_processors_keeps_the_output_and_refuses_more_input() {
    let closed = Arc::new(Mutex::new(false));
    let builder = StreamsBuilder::new();
    let flag = closed.clone();
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(move || ClosingProcessor(flag.clone()), &[])
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    input.pipe_input("k".into(), "v".into());
    assert!(!*closed.lock().unwrap());
    driver.close().unwrap();
    assert!(*closed.lock().unwrap(), "close ran");
    driver.close().unwrap();
    assert_eq!(
        string_output(&driver, "out").read_key_values_to_list(),
        vec![kv("k", "v")]
    );
    let err = input
        .try_pipe_record(Record::new("k".to_string(), "w".to_string(), 1))
        .unwrap_err();
    assert!(matches!(err, StreamsError::IllegalState { .. }), "{err}");
    assert!(driver.advance_wall_clock_time(Duration::from_secs(1)).is_err());
}

#[test]
fn a_processor_asking_for_a_store_it_was_not_connected_to_is_refused() {
    let builder = StreamsBuilder::new();
    builder.add_state_store(seen_store());
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(|| CountingProcessor { seen: None }, &[]);
    match TopologyTestDriver::new(builder.build().unwrap()) {
        Err(e) => assert_eq!(
            e.to_string(),
            "processor KSTREAM-PROCESSOR-0000000001 cannot use state store seen: the store is not connected to \
             this processor"
        ),
        Ok(_) => panic!("a processor opened a store it was not connected to"),
    }
}

/// Schedules one punctuation of `kind` every `interval` in `init`; forwards each record as
/// is and, on each punctuation, `("tick", "<timestamp> <metadata>")`, and cancels itself
/// after `cancel_after` punctuations.
struct Ticker {
    kind: PunctuationType,
    interval: Duration,
    cancel_after: usize,
    fired: usize,
}

impl Ticker {
    fn new(kind: PunctuationType, interval_ms: u64, cancel_after: usize) -> Ticker {
        Ticker {
            kind,
            interval: Duration::from_millis(interval_ms),
            cancel_after,
            fired: 0,
        }
    }
}

impl Processor<String, String, String, String> for Ticker {
    fn init(&mut self, ctx: &mut ProcessorContext<String, String>) -> stream_dsl::Result<()> {
        ctx.schedule(self.interval, self.kind);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<String, String>,
        r: Record<String, String>,
    ) -> stream_dsl::Result<()> {
        ctx.forward(r)
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<String, String>,
        punctuator: PunctuatorId,
        timestamp: i64,
    ) -> stream_dsl::Result<()> {
        self.fired += 1;
        if self.fired == self.cancel_after {
            ctx.cancel(punctuator);
        }
        let metadata = if ctx.record_metadata().is_none() {
            "no-metadata"
        } else {
            "metadata"
        };
        ctx.forward(Record::new(
            "tick".to_string(),
            format!("{timestamp} {metadata}"),
            timestamp,
        ))
    }
}

fn ticker_driver(make: fn() -> Ticker) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(make, &[])
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    driver(&builder)
}

#[test]
fn stream_time_punctuation_fires_as_record_timestamps_advance_until_cancelled() {
    let driver = ticker_driver(|| Ticker::new(PunctuationType::StreamTime, 10, 3));
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    // Stream time: 0 (fires), 5, 10 (fires), 20 (fires, then cancelled), 20 (15 is late), 30.
    for ts in [0, 5, 10, 20, 15, 30] {
        input.pipe_input_at("r".into(), ts.to_string(), ts);
    }
    // No record, no stream time: the wall clock does not fire stream-time punctuations.
    driver.advance_wall_clock_time(Duration::from_secs(60)).unwrap();
    let got: Vec<(String, String)> = output.read_key_values_to_list();
    assert_eq!(
        got,
        vec![
            kv("r", "0"),
            kv("tick", "0 no-metadata"),
            kv("r", "5"),
            kv("r", "10"),
            kv("tick", "10 no-metadata"),
            kv("r", "20"),
            kv("tick", "20 no-metadata"),
            kv("r", "15"),
            kv("r", "30"),
        ]
    );
}

#[test]
fn stream_time_punctuation_stays_on_its_interval_grid() {
    // Kafka aligns stream-time punctuations to 0: with a 10 ms interval, records at 5 and 12
    // fire at 5 (the first record) and at 12 (stream time passed 10).
    let driver = ticker_driver(|| Ticker::new(PunctuationType::StreamTime, 10, usize::MAX));
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    input.pipe_input_at("r".into(), "5".into(), 5);
    input.pipe_input_at("r".into(), "12".into(), 12);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            kv("r", "5"),
            kv("tick", "5 no-metadata"),
            kv("r", "12"),
            kv("tick", "12 no-metadata")
        ]
    );
}

#[test]
fn wall_clock_punctuation_repeats_every_interval_until_cancelled_and_ignores_records() {
    let driver = ticker_driver(|| Ticker::new(PunctuationType::WallClockTime, 1000, 2));
    let input = string_input(&driver, "in");
    let output = string_output(&driver, "out");
    // Records, however late their timestamps, do not fire a wall-clock punctuation.
    input.pipe_input_at("r".into(), "a".into(), 1_000_000);
    assert_eq!(output.read_key_values_to_list(), vec![kv("r", "a")]);
    let mut ticks = Vec::new();
    for _ in 0..10 {
        driver
            .advance_wall_clock_time(Duration::from_millis(1000))
            .unwrap();
        ticks.extend(output.read_records_to_list());
    }
    // Two punctuations (then cancelled), one interval apart, at the mocked wall-clock time.
    assert_eq!(ticks.len(), 2, "{ticks:?}");
    assert_eq!(ticks[1].timestamp - ticks[0].timestamp, 1000);
    for tick in &ticks {
        assert_eq!(tick.timestamp % 1000, 0);
        assert_eq!(tick.value, format!("{} no-metadata", tick.timestamp));
    }
}

#[test]
fn wall_clock_punctuation_fires_one_interval_after_it_was_scheduled() {
    // As Kafka (`schedule(time.milliseconds() + interval, ...)`): scheduled in init at wall
    // clock 0 with a 1 s interval, it fires once the clock reaches 1000.
    let driver = ticker_driver(|| Ticker::new(PunctuationType::WallClockTime, 1000, usize::MAX));
    let output = string_output(&driver, "out");
    driver
        .advance_wall_clock_time(Duration::from_millis(999))
        .unwrap();
    assert!(output.is_empty());
    driver.advance_wall_clock_time(Duration::from_millis(1)).unwrap();
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kv("tick", "1000 no-metadata")]
    );
    driver
        .advance_wall_clock_time(Duration::from_millis(1000))
        .unwrap();
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kv("tick", "2000 no-metadata")]
    );
}

#[test]
fn processor_naming_a_store_that_was_never_added_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(|| CountingProcessor { seen: None }, &["seen"]);
    assert_eq!(
        build_error(&builder),
        "invalid topology: processor KSTREAM-PROCESSOR-0000000001 uses state store seen, which was never added"
    );
}

#[test]
fn two_stores_with_one_name_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .add_state_store(seen_store())
        .add_state_store(seen_store());
    builder
        .stream("in", strings())
        .process::<String, String, _, _>(|| CountingProcessor { seen: None }, &["seen"]);
    assert_eq!(
        build_error(&builder),
        "invalid topology: two state stores are named seen"
    );

    let builder = StreamsBuilder::new();
    builder.table("a", strings(), Materialized::as_("rows"));
    builder.table("b", strings(), Materialized::as_("rows"));
    assert_eq!(
        build_error(&builder),
        "invalid topology: two state stores are named rows"
    );
}

// ---------------------------------------------------------------------------------------
// KGroupedStream: count, reduce, aggregate
// ---------------------------------------------------------------------------------------

#[test]
fn group_by_key_count_counts_records_per_key_without_a_repartition() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_key(Grouped::default())
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    assert!(
        !driver.describe().contains("Sub-topology: 1"),
        "{}",
        driver.describe()
    );
    let input = string_input(&driver, "in");
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_key_value_list([kv("a", "x"), kv("b", "x"), kv("a", "y")]);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kn("a", 1), kn("b", 1), kn("a", 2)]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("counts")
            .unwrap()
            .get(&"a".into())
            .unwrap(),
        Some(2)
    );
}

/// What the repartition topic and the output topic received.
type Through = (Vec<(String, String)>, Vec<(String, i64)>);

/// Counts three records by their value (a key change, so through the repartition topic, with
/// `value_serde` for its values).
fn count_by_value(value_serde: impl Serde<String>) -> Through {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by(
            |_, v: &String| v.clone(),
            Grouped::with(Serdes::string(), value_serde),
        )
        .count(Materialized::as_("by-value"))
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let through = string_output(&driver, "test-driver-by-value-repartition");
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_key_value_list([kv("1", "x"), kv("2", "y"), kv("3", "x")]);
    (
        through.read_key_values_to_list(),
        output.read_key_values_to_list(),
    )
}

#[test]
fn group_by_count_repartitions_and_counts_per_new_key() {
    let (through, output) = count_by_value(Serdes::string());
    assert_eq!(through, vec![kv("x", "x"), kv("y", "y"), kv("x", "x")]);
    assert_eq!(output, vec![kn("x", 1), kn("y", 1), kn("x", 2)]);
}

/// Writes strings; refuses to read them back.
struct WriteOnly;

impl Serde<String> for WriteOnly {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }

    fn deserialize(&self, topic: &str, _data: Option<&[u8]>) -> Result<String, SerdeError> {
        Err(SerdeError::Other(format!(
            "{topic}: this value serde only writes"
        )))
    }
}

#[test]
fn count_after_a_repartition_reads_only_the_keys() {
    let (through, output) = count_by_value(WriteOnly);
    // The values are written as they always were...
    assert_eq!(through, vec![kv("x", "x"), kv("y", "y"), kv("x", "x")]);
    // ...and the count never deserializes them: a value serde that cannot read does not stop it.
    assert_eq!(output, vec![kn("x", 1), kn("y", 1), kn("x", 2)]);
}

#[test]
fn grouped_stream_reduce_combines_the_values_of_each_key() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .group_by_key(Grouped::default())
        .reduce(|a, b| a.max(b), Materialized::as_("max"))
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_key_value_list([kn("a", 3), kn("a", 1), kn("b", 2), kn("a", 7)]);
    // a: 3, then max(3, 1) = 3 (unchanged, so not emitted: KIP-557), b: 2, a: 7.
    assert_eq!(
        output.read_key_values_to_list(),
        vec![kn("a", 3), kn("b", 2), kn("a", 7)]
    );
}

#[test]
fn grouped_stream_aggregate_folds_from_the_initializer() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by(
            |_, v: &String| v.len() as i64,
            Grouped::with(Serdes::i64(), Serdes::string()),
        )
        .aggregate(
            String::new,
            |_len, word, acc| {
                if acc.is_empty() {
                    word
                } else {
                    format!("{acc},{word}")
                }
            },
            Materialized::as_("words-by-length").with_value_serde(Serdes::string()),
        )
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    let output = driver.create_output_topic("out", Serdes::i64(), Serdes::string());
    input.pipe_key_value_list([kv("1", "ab"), kv("2", "xyz"), kv("3", "cd")]);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            (2, "ab".to_string()),
            (3, "xyz".to_string()),
            (2, "ab,cd".to_string())
        ]
    );
}

#[test]
fn grouping_a_rekeyed_stream_without_serdes_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map(|k: String, v: String| (v, k))
        .group_by_key(Grouped::default())
        .count(Materialized::as_("c"));
    assert_eq!(
        build_error(&builder),
        "invalid topology: state store c needs key and value serdes: pass them with Materialized::with / \
         Grouped::with; repartition topic c-repartition needs key and value serdes: pass them with Grouped::with \
         / Repartitioned::with"
    );
}

#[test]
fn aggregate_without_a_value_serde_is_a_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_key(Grouped::default())
        .aggregate(|| 0i64, |_, _, n| n + 1, Materialized::as_("n"));
    assert_eq!(
        build_error(&builder),
        "invalid topology: state store n needs key and value serdes: pass them with Materialized::with / \
         Grouped::with"
    );
}

// ---------------------------------------------------------------------------------------
// KTable
// ---------------------------------------------------------------------------------------

/// A table of `users` (user → region), in the store `users-store`.
fn users_table(builder: &StreamsBuilder) -> KTable<String, String> {
    builder.table("users", strings(), Materialized::as_("users-store"))
}

fn nullable_input(driver: &TopologyTestDriver, topic: &str) -> TestInputTopic<String, Option<String>> {
    driver.create_input_topic(topic, Serdes::string(), Serdes::string())
}

fn nullable_output(driver: &TopologyTestDriver, topic: &str) -> TestOutputTopic<String, Option<String>> {
    driver.create_output_topic(topic, Serdes::string(), Serdes::string())
}

fn some(k: &str, v: &str) -> (String, Option<String>) {
    (k.to_owned(), Some(v.to_owned()))
}

fn none(k: &str) -> (String, Option<String>) {
    (k.to_owned(), None)
}

#[test]
fn table_keeps_the_latest_value_per_key_and_a_tombstone_deletes() {
    let builder = StreamsBuilder::new();
    users_table(&builder).to_stream().to("out", Produced::default());
    let driver = driver(&builder);
    let users = nullable_input(&driver, "users");
    let output = nullable_output(&driver, "out");
    users.pipe_input("alice".into(), Some("eu".into()));
    users.pipe_input("bob".into(), Some("us".into()));
    users.pipe_input("alice".into(), Some("apac".into()));
    users.pipe_input("bob".into(), None);
    // Re-sending the current value changes nothing and is not emitted (KIP-557).
    users.pipe_input("alice".into(), Some("apac".into()));
    // A delete of a key the table does not hold is not emitted either.
    users.pipe_input("nobody".into(), None);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            some("alice", "eu"),
            some("bob", "us"),
            some("alice", "apac"),
            none("bob")
        ]
    );
    let store = driver.key_value_store::<String, String>("users-store").unwrap();
    assert_eq!(store.get(&"alice".into()).unwrap(), Some("apac".to_string()));
    assert_eq!(store.get(&"bob".into()).unwrap(), None);
    assert_eq!(store.all().unwrap(), vec![kv("alice", "apac")]);
}

#[test]
fn table_tombstone_piped_as_raw_bytes_deletes_the_row() {
    let builder = StreamsBuilder::new();
    users_table(&builder).to_stream().to("out", Produced::default());
    let driver = driver(&builder);
    let users = string_input(&driver, "users");
    let output = nullable_output(&driver, "out");
    users.pipe_input_at("alice".into(), "eu".into(), 1);
    users
        .try_pipe_raw(Some(Bytes::from_static(b"alice")), None, 2, Vec::new())
        .unwrap();
    assert_eq!(
        output.read_records_to_list(),
        vec![
            Record::new("alice".to_string(), Some("eu".to_string()), 1),
            Record::new("alice".to_string(), None, 2)
        ]
    );
    assert_eq!(
        driver
            .key_value_store::<String, String>("users-store")
            .unwrap()
            .approximate_num_entries()
            .unwrap(),
        0
    );
}

#[test]
fn table_filter_turns_a_row_that_stops_matching_into_a_delete() {
    let builder = StreamsBuilder::new();
    users_table(&builder)
        .filter(|_, region| region == "eu")
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let users = nullable_input(&driver, "users");
    let output = nullable_output(&driver, "out");
    users.pipe_input("alice".into(), Some("eu".into()));
    users.pipe_input("bob".into(), Some("us".into())); // never matched: nothing
    users.pipe_input("alice".into(), Some("us".into())); // stops matching: a delete
    users.pipe_input("bob".into(), Some("eu".into())); // starts matching
    users.pipe_input("bob".into(), None); // a matching row deleted
    assert_eq!(
        output.read_key_values_to_list(),
        vec![some("alice", "eu"), none("alice"), some("bob", "eu"), none("bob")]
    );
}

#[test]
fn table_filter_not_keeps_the_rows_that_do_not_match() {
    let builder = StreamsBuilder::new();
    users_table(&builder)
        .filter_not(|_, region| region == "eu")
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let users = nullable_input(&driver, "users");
    let output = nullable_output(&driver, "out");
    users.pipe_input("alice".into(), Some("eu".into()));
    users.pipe_input("bob".into(), Some("us".into()));
    users.pipe_input("bob".into(), Some("eu".into()));
    assert_eq!(
        output.read_key_values_to_list(),
        vec![some("bob", "us"), none("bob")]
    );
}

#[test]
fn table_map_values_maps_every_update_and_passes_deletes() {
    let builder = StreamsBuilder::new();
    users_table(&builder)
        .map_values(|region: String| region.len() as i64)
        .to_stream()
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let driver = driver(&builder);
    let users = nullable_input(&driver, "users");
    let output = driver.create_output_topic::<String, Option<i64>>("out", Serdes::string(), Serdes::i64());
    users.pipe_input("alice".into(), Some("eu".into()));
    users.pipe_input("alice".into(), Some("apac".into()));
    users.pipe_input("alice".into(), None);
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            ("alice".to_string(), Some(2)),
            ("alice".to_string(), Some(4)),
            ("alice".to_string(), None)
        ]
    );
}

/// `users` (user → region) grouped by region and counted, caching as asked.
fn users_per_region(caching: bool) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let materialized = Materialized::as_("users-per-region");
    let materialized = if caching {
        materialized
    } else {
        materialized.with_caching_disabled()
    };
    users_table(&builder)
        .group_by(
            |user, region| (region.clone(), user.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(materialized)
        .to_stream()
        .to("region-counts", Produced::default());
    driver(&builder)
}

/// The CDC case: inserts, an update that moves a row to another group, and a delete.
fn pipe_user_changes(driver: &TopologyTestDriver) {
    let users = nullable_input(driver, "users");
    users.pipe_input("alice".into(), Some("eu".into()));
    users.pipe_input("bob".into(), Some("eu".into()));
    users.pipe_input("carol".into(), Some("us".into()));
    users.pipe_input("bob".into(), Some("us".into()));
    users.pipe_input("alice".into(), None);
}

#[test]
fn table_group_by_count_moves_a_row_between_groups_on_update_and_delete() {
    let driver = users_per_region(true);
    pipe_user_changes(&driver);
    let output =
        driver.create_output_topic::<String, Option<i64>>("region-counts", Serdes::string(), Serdes::i64());
    let n = |k: &str, n: i64| (k.to_string(), Some(n));
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            n("eu", 1),
            n("eu", 2),
            n("us", 1),
            // bob moves: eu decremented, us incremented.
            n("eu", 1),
            n("us", 2),
            // alice deleted.
            n("eu", 0),
        ]
    );
    let store = driver.key_value_store::<String, i64>("users-per-region").unwrap();
    assert_eq!(store.all().unwrap(), vec![kn("eu", 0), kn("us", 2)]);
}

#[test]
fn table_group_by_sends_the_old_row_and_the_new_row_through_the_repartition_topic() {
    let driver = users_per_region(true);
    pipe_user_changes(&driver);
    let through = driver.create_output_topic::<String, Bytes>(
        "test-driver-users-per-region-repartition",
        Serdes::string(),
        Serdes::bytes(),
    );
    let keys: Vec<String> = through
        .read_key_values_to_list()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // alice+eu, bob+eu, carol+us, bob-eu, bob+us, alice-eu.
    assert_eq!(keys, vec!["eu", "eu", "us", "eu", "us", "eu"]);
}

#[test]
fn table_group_by_count_without_caching_emits_every_step() {
    let driver = users_per_region(false);
    pipe_user_changes(&driver);
    let output =
        driver.create_output_topic::<String, Option<i64>>("region-counts", Serdes::string(), Serdes::i64());
    let n = |k: &str, n: i64| (k.to_string(), Some(n));
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            n("eu", 1),
            n("eu", 2),
            n("us", 1),
            n("eu", 1),
            n("us", 2),
            n("eu", 0)
        ]
    );
}

#[test]
fn table_group_by_reduce_subtracts_the_old_value_and_adds_the_new() {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, i64>(
            "balances",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::default(),
        )
        .group_by(
            |_, balance| ("total".to_string(), *balance),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .reduce(|a, b| a + b, |a, b| a - b, Materialized::as_("total"))
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    let balances =
        driver.create_input_topic::<String, Option<i64>>("balances", Serdes::string(), Serdes::i64());
    let output = driver.create_output_topic::<String, Option<i64>>("out", Serdes::string(), Serdes::i64());
    balances.pipe_input("a".into(), Some(10));
    balances.pipe_input("b".into(), Some(5));
    balances.pipe_input("a".into(), Some(7)); // 15 - 10 + 7
    balances.pipe_input("b".into(), None); // 12 - 5
    let total = |n: i64| ("total".to_string(), Some(n));
    assert_eq!(
        output.read_key_values_to_list(),
        vec![total(10), total(15), total(12), total(7)]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("total")
            .unwrap()
            .get(&"total".into())
            .unwrap(),
        Some(7)
    );
}

#[test]
fn table_group_by_aggregate_adds_joining_rows_and_subtracts_leaving_ones() {
    let builder = StreamsBuilder::new();
    users_table(&builder)
        .group_by(
            |user, region| (region.clone(), user.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .aggregate(
            Vec::<String>::new,
            |_region, user, mut members| {
                members.push(user);
                members.sort();
                members
            },
            |_region, user, mut members| {
                members.retain(|m| *m != user);
                members
            },
            Materialized::as_("members").with_value_serde(Serdes::json()),
        )
        .to_stream()
        .to("out", Produced::default());
    let driver = driver(&builder);
    pipe_user_changes(&driver);
    let output = driver.create_output_topic::<String, Vec<String>>("out", Serdes::string(), Serdes::json());
    let m = |k: &str, users: &[&str]| {
        (
            k.to_string(),
            users.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        output.read_key_values_to_list(),
        vec![
            m("eu", &["alice"]),
            m("eu", &["alice", "bob"]),
            m("us", &["carol"]),
            m("eu", &["alice"]),
            m("us", &["bob", "carol"]),
            m("eu", &[]),
        ]
    );
}

#[test]
fn grouping_a_table_without_serdes_is_a_build_error() {
    let builder = StreamsBuilder::new();
    users_table(&builder)
        .group_by(|u, r| (r.clone(), u.clone()), Grouped::as_("g"))
        .count(Materialized::as_("c"));
    assert_eq!(
        build_error(&builder),
        "invalid topology: state store c needs key and value serdes: pass them with Materialized::with / \
         Grouped::with; grouping a table for store c needs key and value serdes: pass Grouped::with(key, value); \
         repartition topic g-repartition needs key and value serdes: pass them with Grouped::with / \
         Repartitioned::with"
    );
}

/// Pipes one record to `in` and reports what reached `a` and `b`, for a topology that
/// `build()` should have refused.
fn accepted_anyway(topology: Topology, what: &str) -> String {
    let driver = TopologyTestDriver::new(topology).unwrap();
    string_input(&driver, "in").pipe_input("k".into(), "v".into());
    let a = string_output(&driver, "a").read_key_values_to_list();
    let b = string_output(&driver, "b").read_key_values_to_list();
    format!("build() accepted {what}; a record piped to `in` reached a: {a:?}, b: {b:?}")
}

#[test]
fn two_sources_of_one_topic_are_refused_by_build() {
    let builder = StreamsBuilder::new();
    builder.stream("in", strings()).to("a", Produced::default());
    builder.stream("in", strings()).to("b", Produced::default());
    if let Ok(topology) = builder.build() {
        panic!("{}", accepted_anyway(topology, "two sources of topic `in`"));
    }
}

#[test]
fn two_groupings_with_one_repartition_name_are_refused_by_build() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream("in", strings());
    let grouped = || Grouped::with(Serdes::string(), Serdes::string()).with_name("g");
    for (store, out) in [("c1", "a"), ("c2", "b")] {
        stream
            .clone()
            .group_by(|_, v: &String| v.clone(), grouped())
            .count(Materialized::as_(store))
            .to_stream()
            .map_values(|n: Option<i64>| format!("{n:?}"))
            .to(out, Produced::with(Serdes::string(), Serdes::string()));
    }
    if let Ok(topology) = builder.build() {
        panic!(
            "{}",
            accepted_anyway(topology, "two repartition topics named g-repartition")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Stores through the driver
// ---------------------------------------------------------------------------------------

#[test]
fn driver_reads_a_store_with_get_range_all_and_entry_count() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_key(Grouped::default())
        .count(Materialized::as_("counts"));
    let driver = driver(&builder);
    let input = string_input(&driver, "in");
    input.pipe_key_value_list([kv("b", ""), kv("d", ""), kv("a", ""), kv("c", ""), kv("b", "")]);
    let counts = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(counts.name(), "counts");
    assert_eq!(counts.get(&"b".into()).unwrap(), Some(2));
    assert_eq!(counts.get(&"zz".into()).unwrap(), None);
    assert_eq!(
        counts.range(&"b".into(), &"c".into()).unwrap(),
        vec![kn("b", 2), kn("c", 1)]
    );
    assert_eq!(counts.range(&"c".into(), &"b".into()).unwrap(), vec![]);
    assert_eq!(
        counts.all().unwrap(),
        vec![kn("a", 1), kn("b", 2), kn("c", 1), kn("d", 1)]
    );
    assert_eq!(counts.approximate_num_entries().unwrap(), 4);
}

#[test]
fn driver_refuses_a_store_read_with_other_types_or_an_unknown_name() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_key(Grouped::default())
        .count(Materialized::as_("counts"));
    let driver = driver(&builder);
    let wrong = driver.key_value_store::<String, String>("counts").unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "processor TopologyTestDriver cannot use state store counts: the store is of another kind or was \
         declared with other key or value types"
    );
    let unknown = driver.key_value_store::<String, i64>("nope").unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "processor TopologyTestDriver cannot use state store nope: no such store"
    );
}

// ---------------------------------------------------------------------------------------
// Errors the driver reports
// ---------------------------------------------------------------------------------------

#[test]
fn undeserializable_value_is_a_deserialization_error_naming_topic_partition_and_offset() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("amounts", Consumed::with(Serdes::string(), Serdes::i64()))
        .to("out", Produced::default());
    let driver = driver(&builder);
    let amounts = driver.create_input_topic::<String, i64>("amounts", Serdes::string(), Serdes::i64());
    let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    amounts.pipe_input("ok".into(), 1);
    let err = amounts
        .try_pipe_raw(
            Some(Bytes::from_static(b"bad")),
            Some(Bytes::from_static(&[1, 2, 3])),
            0,
            Vec::new(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StreamsError::Deserialization { topic, partition: 0, offset: 1, part: "value", .. } if topic == "amounts"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot deserialize the value of amounts-0@1: i64 needs 8 bytes, got 3"
    );
    let err = amounts
        .try_pipe_raw(None, Some(Bytes::from_static(&[0; 8])), 0, Vec::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot deserialize the key of amounts-0@2: null where a String was expected (use an Option type to accept \
         nulls)"
    );
    // The driver goes on with the next record.
    amounts.pipe_input("ok".into(), 2);
    assert_eq!(output.read_key_values_to_list(), vec![kn("ok", 1), kn("ok", 2)]);
}

#[test]
fn piping_to_a_topic_the_topology_does_not_read_is_an_error() {
    let builder = StreamsBuilder::new();
    builder.stream("in", strings()).to("out", Produced::default());
    let driver = driver(&builder);
    let err = string_input(&driver, "elsewhere")
        .try_pipe_record(Record::new("k".into(), "v".into(), 0))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid topology: the topology does not read topic elsewhere"
    );
}

// ---------------------------------------------------------------------------------------
// Topology::describe and caching
// ---------------------------------------------------------------------------------------

fn word_count(materialized: Materialized<String, i64>) -> StreamsBuilder {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by(
            |_, word| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(materialized)
        .to_stream()
        .to("word-counts", Produced::default());
    builder
}

#[test]
fn word_count_description_splits_sub_topologies_at_the_repartition_topic() {
    let topology = word_count(Materialized::as_("counts")).build().unwrap();
    assert_eq!(
        topology.describe(),
        "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: counts-repartition)
      <-- KSTREAM-KEY-SELECT-0000000002

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [counts-repartition])
      --> KSTREAM-AGGREGATE-0000000005
    Processor: KSTREAM-AGGREGATE-0000000005 (stores: [counts])
      --> KTABLE-TOSTREAM-0000000006
      <-- KSTREAM-SOURCE-0000000004
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-AGGREGATE-0000000005
    Sink: KSTREAM-SINK-0000000007 (topic: word-counts)
      <-- KTABLE-TOSTREAM-0000000006

"
    );
}

fn count_words(builder: &StreamsBuilder) -> (Vec<(String, i64)>, BTreeMap<String, i64>) {
    let driver = driver(builder);
    let lines =
        driver.create_input_topic::<Option<String>, String>("lines", Serdes::string(), Serdes::string());
    lines.pipe_input(None, "a b a".into());
    lines.pipe_input(None, "b c".into());
    let output = driver.create_output_topic("word-counts", Serdes::string(), Serdes::i64());
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    (
        output.read_key_values_to_list(),
        store.all().unwrap().into_iter().collect(),
    )
}

#[test]
fn caching_collapses_updates_per_commit_and_both_settings_reach_the_same_table() {
    let (cached, cached_table) = count_words(&word_count(Materialized::as_("counts")));
    let (uncached, uncached_table) =
        count_words(&word_count(Materialized::as_("counts").with_caching_disabled()));
    // The driver commits after each input record: with caching, one update per word per line.
    assert_eq!(cached, vec![kn("a", 2), kn("b", 1), kn("b", 2), kn("c", 1)]);
    assert_eq!(
        uncached,
        vec![kn("a", 1), kn("b", 1), kn("a", 2), kn("b", 2), kn("c", 1)]
    );
    let expected: BTreeMap<String, i64> = [kn("a", 2), kn("b", 2), kn("c", 1)].into_iter().collect();
    assert_eq!(cached.into_iter().collect::<BTreeMap<_, _>>(), expected);
    assert_eq!(uncached.into_iter().collect::<BTreeMap<_, _>>(), expected);
    assert_eq!(cached_table, expected);
    assert_eq!(uncached_table, expected);
}

#[test]
fn updates_evicted_from_a_full_cache_by_a_read_still_reach_downstream() {
    // One line of 60,000 distinct words: more entries than the driver's 10 MiB cache holds
    // between two commits, so the cache must evict dirty counts before the commit.
    const WORDS: usize = 60_000;
    let driver = driver(&word_count(Materialized::as_("counts")));
    let lines =
        driver.create_input_topic::<Option<String>, String>("lines", Serdes::string(), Serdes::string());
    let line = (0..WORDS)
        .map(|i| format!("w{i:05}"))
        .collect::<Vec<_>>()
        .join(" ");
    lines.pipe_input(None, line);
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(store.approximate_num_entries().unwrap(), WORDS as u64);
    let output = driver.create_output_topic::<String, i64>("word-counts", Serdes::string(), Serdes::i64());
    let counts = output.read_key_values_to_map();
    assert_eq!(
        counts.len(),
        WORDS,
        "words whose count never reached the output topic"
    );
}
