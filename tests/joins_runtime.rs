//! Joins through the stream runtime on the embedded cluster: a re-keyed stream meets its rows
//! through a repartition topic sized like the table's topic, and join inputs that are not
//! co-partitioned stop the application at start, before anything is consumed.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use runnel::prelude::*;

#[path = "support/streams.rs"]
mod streams_support;
use streams_support::*;

fn records(pairs: &[(&str, &str)]) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    pairs
        .iter()
        .map(|(k, v)| (Some(k.to_string()), Some(v.as_bytes().to_vec())))
        .collect()
}

/// Clicks keyed by click id, valued `user page`, re-keyed by user and left-joined with the
/// users' regions.
fn enrichment() -> Topology {
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let regions = builder.table::<String, String>("regions", strings(), Materialized::as_("regions"));
    builder
        .stream::<String, String>("clicks", strings())
        .select_key(|_, v| v.split(' ').next().unwrap_or_default().to_string())
        .left_join_table(
            &regions,
            |click, region| format!("{click} @ {}", region.map_or("nowhere", String::as_str)),
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()).with_name("by-user"),
        )
        .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekeyed_stream_meets_its_rows_through_a_repartition_topic_sized_like_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path()).await;
    cluster.admin().create_topic("clicks", 2, []).unwrap();
    cluster.admin().create_topic("regions", 3, []).unwrap();
    cluster.admin().create_topic("enriched", 1, []).unwrap();
    let users = ["ann", "bob", "cid", "dee", "eve", "fay", "gus"];
    let rows: Vec<(String, String)> = users
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 6) // gus has no region
        .map(|(i, u)| (u.to_string(), ["eu", "us", "ap"][i % 3].to_string()))
        .collect();
    let row_refs: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    produce(&cluster, "regions", &records(&row_refs)).await;

    let mut streams = Streams::new(
        enrichment(),
        config("enrich", &dir.path().join("state")),
        &cluster,
    );
    streams.start().await.unwrap();
    // The rows first, so that every click finds the row it will find in any order after.
    wait_idle(&cluster, "enrich").await;
    let clicks: Vec<(String, String)> = (0..40)
        .map(|i| (format!("c{i}"), format!("{} /p{i}", users[i % users.len()])))
        .collect();
    let click_refs: Vec<(&str, &str)> = clicks.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    produce(&cluster, "clicks", &records(&click_refs)).await;
    wait_idle(&cluster, "enrich").await;
    streams.close().await.unwrap();

    let repartition = cluster
        .admin()
        .describe_topic("enrich-by-user-repartition")
        .unwrap();
    assert_eq!(
        repartition.partitions.len(),
        3,
        "the table's partition count, not the clicks' 2"
    );
    let region: BTreeMap<&str, &str> = row_refs.iter().copied().collect();
    let mut expected: Vec<(String, String)> = clicks
        .iter()
        .map(|(_, v)| {
            let user = v.split(' ').next().unwrap();
            let at = region.get(user).copied().unwrap_or("nowhere");
            (user.to_string(), format!("{v} @ {at}"))
        })
        .collect();
    let mut got: Vec<(String, String)> = read_all(&cluster, "enriched", IsolationLevel::ReadUncommitted)
        .await
        .into_iter()
        .map(|(_, _, k, v)| {
            (
                String::from_utf8(k.unwrap()).unwrap(),
                String::from_utf8(v.unwrap()).unwrap(),
            )
        })
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_inputs_with_different_partition_counts_stop_the_start_and_nothing_is_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path()).await;
    cluster.admin().create_topic("regions", 3, []).unwrap();
    cluster.admin().create_topic("clicks", 2, []).unwrap();
    cluster.admin().create_topic("enriched", 1, []).unwrap();
    produce(&cluster, "regions", &records(&[("ann", "eu")])).await;
    produce(&cluster, "clicks", &records(&[("ann", "/a")])).await;

    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let regions = builder.table::<String, String>("regions", strings(), Materialized::as_("regions"));
    builder
        .stream::<String, String>("clicks", strings())
        .join_table(
            &regions,
            |click, region| format!("{click}@{region}"),
            Joined::default(),
        )
        .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    let mut streams = Streams::new(
        builder.build().unwrap(),
        config("copart", &dir.path().join("state")),
        &cluster,
    );
    let error = streams.start().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Invalid topology: Following topics do not have the same number of partitions: [{clicks=2, regions=3}]"
    );
    match cluster.admin().describe_group("copart").await {
        Err(_) => {}
        Ok(group) => assert!(group.partitions.is_empty(), "offsets committed: {group:?}"),
    }
    assert!(
        read_all(&cluster, "enriched", IsolationLevel::ReadUncommitted)
            .await
            .is_empty()
    );
    cluster.shutdown().await;
}
