#![allow(clippy::unwrap_used)]
//! Joins in the `TopologyTestDriver`: stream-table inner and left joins (only the stream side
//! triggers, table updates and deletes change what later records find, null keys as Kafka 4.4
//! treats them, KIP-962), a lookup into a table without a store of its own, and a re-keyed
//! stream repartitioned before its join. The expected records are Kafka Streams 4.4's
//! (`KStreamKTableJoinProcessor`).

use stream_dsl::prelude::*;
use stream_dsl::processor::Data;

/// `(key, value, timestamp)` of every output record.
type Out<K> = Vec<(K, String, i64)>;

fn drain<K: 'static>(out: &TestOutputTopic<K, String>) -> Out<K> {
    out.read_records_to_list()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect()
}

fn out<K>(rows: &[(K, &str, i64)]) -> Out<K>
where
    K: Clone,
{
    rows.iter()
        .map(|(k, v, t)| (k.clone(), v.to_string(), *t))
        .collect()
}

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

struct Driver<K: 'static> {
    driver: TopologyTestDriver,
    regions: TestInputTopic<K, Option<String>>,
    clicks: TestInputTopic<K, String>,
    out: TestOutputTopic<K, String>,
}

fn driver<K: 'static>(builder: StreamsBuilder, key: impl Serde<K> + Clone) -> Driver<K> {
    let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    let regions = driver.create_input_topic("regions", key.clone(), Serdes::string());
    let clicks = driver.create_input_topic("clicks", key.clone(), Serdes::string());
    let out = driver.create_output_topic("out", key, Serdes::string());
    Driver {
        driver,
        regions,
        clicks,
        out,
    }
}

/// An inner (`left == false`) or left join of `clicks` with the `regions` table, keyed by `K`:
/// `String`, or `Option<String>` for Kafka's `String` keys, which may be null.
fn joined_over<K: Data>(left: bool) -> Driver<K>
where
    stream_dsl::serde::StringSerde: Serde<K>,
{
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::<K, String>::with(Serdes::string(), Serdes::string());
    let regions = builder.table::<K, String>("regions", consumed(), Materialized::as_("regions"));
    let clicks = builder.stream::<K, String>("clicks", consumed());
    let enriched = if left {
        clicks.left_join_table(
            &regions,
            |page, region| format!("{page}@{}", region.map_or("-", String::as_str)),
            Joined::default(),
        )
    } else {
        clicks.join_table(
            &regions,
            |page, region| format!("{page}@{region}"),
            Joined::default(),
        )
    };
    enriched.to(
        "out",
        Produced::<K, String>::with(Serdes::string(), Serdes::string()),
    );
    driver::<K>(builder, Serdes::string())
}

fn joined(left: bool) -> Driver<String> {
    joined_over(left)
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn an_inner_stream_table_join_emits_only_for_stream_records_that_find_a_row() {
    let d = joined(false);
    d.clicks.pipe_input_at(s("ann"), s("/a"), 10); // no row yet
    d.regions.pipe_input_at(s("ann"), Some(s("eu")), 20); // a table update emits nothing
    d.clicks.pipe_input_at(s("ann"), s("/b"), 30);
    d.regions.pipe_input_at(s("ann"), Some(s("us")), 40);
    d.clicks.pipe_input_at(s("ann"), s("/c"), 35); // out of order: the row as it is now
    d.regions.pipe_input_at(s("ann"), None, 50); // deleted
    d.clicks.pipe_input_at(s("ann"), s("/d"), 60);
    d.clicks.pipe_input_at(s("bob"), s("/e"), 70);
    assert_eq!(
        drain(&d.out),
        out(&[(s("ann"), "/b@eu", 30), (s("ann"), "/c@us", 35)]),
        "stamped with the stream record's timestamp"
    );
    assert_eq!(
        d.driver.dropped_records(),
        0,
        "a record without a row is not a dropped one"
    );
}

#[test]
fn a_left_stream_table_join_emits_every_stream_record_with_its_row_or_none() {
    let d = joined(true);
    d.clicks.pipe_input_at(s("ann"), s("/a"), 10);
    d.regions.pipe_input_at(s("ann"), Some(s("eu")), 20);
    d.clicks.pipe_input_at(s("ann"), s("/b"), 30);
    d.regions.pipe_input_at(s("ann"), None, 40);
    d.clicks.pipe_input_at(s("ann"), s("/c"), 50);
    assert_eq!(
        drain(&d.out),
        out(&[
            (s("ann"), "/a@-", 10),
            (s("ann"), "/b@eu", 30),
            (s("ann"), "/c@-", 50)
        ])
    );
}

/// The same joins over nullable keys.
fn nullable(left: bool) -> Driver<Option<String>> {
    joined_over(left)
}

#[test]
fn a_null_key_is_dropped_and_counted_by_the_inner_join_and_joined_with_no_row_by_the_left_join() {
    let inner = nullable(false);
    inner.regions.pipe_input_at(Some(s("ann")), Some(s("eu")), 1);
    inner.clicks.pipe_input_at(None, s("/a"), 2);
    inner.clicks.pipe_input_at(Some(s("ann")), s("/b"), 3);
    assert_eq!(drain(&inner.out), out(&[(Some(s("ann")), "/b@eu", 3)]));
    assert_eq!(inner.driver.dropped_records(), 1);

    let left = nullable(true);
    left.regions.pipe_input_at(Some(s("ann")), Some(s("eu")), 1);
    left.clicks.pipe_input_at(None, s("/a"), 2);
    assert_eq!(drain(&left.out), out(&[(None, "/a@-", 2)]), "KIP-962");
    assert_eq!(left.driver.dropped_records(), 0);
}

#[test]
fn a_filtered_table_without_a_store_of_its_own_is_looked_up_as_filtered() {
    let builder = StreamsBuilder::new();
    let regions = builder
        .table::<String, String>("regions", strings(), Materialized::as_("regions"))
        .filter(|_, region| region != "hidden")
        .map_values(|region| region.to_uppercase());
    builder
        .stream::<String, String>("clicks", strings())
        .left_join_table(
            &regions,
            |page, region| format!("{page}@{}", region.map_or("-", String::as_str)),
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()),
        )
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = driver(builder, Serdes::string());
    d.regions.pipe_input_at(s("ann"), Some(s("eu")), 1);
    d.clicks.pipe_input_at(s("ann"), s("/a"), 2);
    d.regions.pipe_input_at(s("ann"), Some(s("hidden")), 3); // filtered out: gone from the table
    d.clicks.pipe_input_at(s("ann"), s("/b"), 4);
    assert_eq!(
        drain(&d.out),
        out(&[(s("ann"), "/a@EU", 2), (s("ann"), "/b@-", 4)])
    );
}

#[test]
fn a_rekeyed_stream_goes_through_a_repartition_topic_before_the_join() {
    let builder = StreamsBuilder::new();
    let regions = builder.table::<String, String>("regions", strings(), Materialized::as_("regions"));
    builder
        .stream::<String, String>("clicks", strings())
        .select_key(|_, v| v.split(' ').next().unwrap_or_default().to_string())
        .join_table(
            &regions,
            |click, region| format!("{click}@{region}"),
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()).with_name("by-user"),
        )
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = driver(builder, Serdes::string());
    let through = d.driver.create_output_topic::<String, String>(
        "test-driver-by-user-repartition",
        Serdes::string(),
        Serdes::string(),
    );
    d.regions.pipe_input_at(s("ann"), Some(s("eu")), 1);
    d.clicks.pipe_input_at(s("c1"), s("ann /a"), 2);
    assert_eq!(through.read_key_values_to_list(), [(s("ann"), s("ann /a"))]);
    assert_eq!(drain(&d.out), out(&[(s("ann"), "ann /a@eu", 2)]));
}

#[test]
fn a_stream_table_join_shares_a_sub_topology_with_the_table() {
    let d = joined(false);
    let described = d.driver.describe();
    assert_eq!(described.matches("Sub-topology:").count(), 1, "{described}");
    assert!(described.contains("KSTREAM-JOIN"), "{described}");
    assert!(described.contains("stores: [regions]"), "{described}");
}
