//! `processing.guarantee=exactly_once_v2` through the runtime, in one process: the output
//! read_committed equals a reference fold, is written in transactions, a clean restart keeps
//! the local state, and a thread fenced by another producer of its transactional id
//! recovers without losing or doubling an effect. The crash test with real processes is
//! `streams_eos_crash.rs`.

// Tests unwrap: a panic here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use runnel::prelude::*;

#[path = "support/streams.rs"]
mod streams_support;
use streams_support::*;

fn eos_config(app: &str, state: &Path) -> StreamsConfig {
    config(app, state).with_processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
}

async fn word_count_topics(cluster: &Cluster) {
    cluster.admin().create_topic("lines", 3, []).unwrap();
    cluster.admin().create_topic("word-counts", 2, []).unwrap();
}

/// The thread's transactional id: `<application.id>-<process id>-StreamThread-1`, the
/// process id read from the state directory.
fn transactional_id(state: &Path, app: &str) -> String {
    let text = std::fs::read_to_string(state.join(app).join("kafka-streams-process-metadata")).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    format!("{app}-{}-StreamThread-1", meta["processId"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_word_count_equals_a_fold_and_is_written_in_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cluster = cluster(dir.path()).await;
    word_count_topics(&cluster).await;
    let lines = sample_lines(2_000, 11);
    produce(&cluster, "lines", &line_records(&lines)).await;

    let mut streams = Streams::new(
        word_count_topology(StoreType::RocksDb),
        eos_config("wc", &state),
        &cluster,
    );
    streams.start().await.unwrap();
    // Lag 0 on the repartition topic too: the committed offsets move past its markers.
    wait_idle(&cluster, "wc").await;
    streams.close().await.unwrap();
    assert!(streams.metrics().commits > 0);

    let committed = read_table_with(
        &cluster,
        "word-counts",
        Serdes::i64(),
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(committed, word_count_reference(&lines));
    // Transaction markers take offsets: a topic written in transactions ends past its records.
    let records = read_all(&cluster, "word-counts", IsolationLevel::ReadCommitted)
        .await
        .len() as i64;
    let end: i64 = (0..2)
        .map(|p| {
            let tp = TopicPartition::new(TopicName::new("word-counts").unwrap(), p);
            cluster.broker().list_offset(&tp, -1).unwrap().0
        })
        .sum();
    assert!(
        end > records,
        "no transaction markers: {end} offsets for {records} records"
    );
    let id = transactional_id(&state, "wc");
    assert!(
        cluster
            .transaction_coordinator()
            .list()
            .iter()
            .any(|t| t.transactional_id == id),
        "no transactional id {id}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_clean_restart_keeps_the_local_store_and_the_transactional_id() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cluster = cluster(dir.path()).await;
    word_count_topics(&cluster).await;
    let (first, second) = (sample_lines(1_000, 12), sample_lines(1_000, 13));

    let run = |cluster: Cluster, state: std::path::PathBuf| async move {
        let mut streams = Streams::new(
            word_count_topology(StoreType::RocksDb),
            eos_config("wc", &state),
            &cluster,
        );
        streams.start().await.unwrap();
        wait_idle(&cluster, "wc").await;
        streams.close().await.unwrap();
        streams.metrics()
    };
    produce(&cluster, "lines", &line_records(&first)).await;
    run(cluster.clone(), state.clone()).await;
    let id = transactional_id(&state, "wc");
    for task in ["1_0", "1_1", "1_2"] {
        assert!(
            state.join("wc").join(task).join(".checkpoint").exists(),
            "a clean close writes task {task}'s checkpoint"
        );
    }

    produce(&cluster, "lines", &line_records(&second)).await;
    let second_run = run(cluster.clone(), state.clone()).await;
    assert_eq!(
        second_run.processed_records,
        1_000 + 10_000,
        "only the new input is processed"
    );
    assert_eq!(
        second_run.restored_records, 0,
        "a cleanly closed store needs no restore"
    );
    assert_eq!(
        transactional_id(&state, "wc"),
        id,
        "the restart reuses the transactional id"
    );

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let committed = read_table_with(
        &cluster,
        "word-counts",
        Serdes::i64(),
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(committed, word_count_reference(&all));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_thread_restores_its_state_and_loses_or_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cluster = cluster(dir.path()).await;
    word_count_topics(&cluster).await;
    let (first, second) = (sample_lines(2_000, 14), sample_lines(2_000, 15));

    let mut streams = Streams::new(
        word_count_topology(StoreType::RocksDb),
        eos_config("wc", &state),
        &cluster,
    );
    streams.start().await.unwrap();
    produce(&cluster, "lines", &line_records(&first)).await;
    wait_idle(&cluster, "wc").await;
    assert_eq!(streams.metrics().restored_records, 0);

    // Another producer takes the thread's transactional id while the second batch of input
    // is processed: the thread's next transactional call is fenced.
    produce(&cluster, "lines", &line_records(&second)).await;
    let usurper = cluster
        .producer(ProducerConfig {
            transactional_id: Some(transactional_id(&state, "wc")),
            ..Default::default()
        })
        .unwrap();
    usurper.init_transactions().await.unwrap();
    wait_idle(&cluster, "wc").await;
    assert_eq!(streams.state(), State::Running, "{:?}", streams.error());
    assert!(
        streams.metrics().restored_records > 0,
        "the fenced thread's tasks were wiped and restored from their changelogs"
    );
    streams.close().await.unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let committed = read_table_with(
        &cluster,
        "word-counts",
        Serdes::i64(),
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(committed, word_count_reference(&all));
    // The changelog, restored from after the fencing, holds the same counts.
    let changelog = read_table_with(
        &cluster,
        "wc-counts-changelog",
        Serdes::i64(),
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(changelog, word_count_reference(&all));
    drop(usurper);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_exactly_once_instances_hand_over_tasks_without_doubling_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = cluster(dir.path()).await;
    cluster.admin().create_topic("lines", 4, []).unwrap();
    cluster.admin().create_topic("word-counts", 2, []).unwrap();
    let (first, second) = (sample_lines(2_000, 16), sample_lines(2_000, 17));

    let mut a = Streams::new(
        word_count_topology(StoreType::RocksDb),
        eos_config("wc", &dir.path().join("a")),
        &cluster,
    );
    let mut b = Streams::new(
        word_count_topology(StoreType::RocksDb),
        eos_config("wc", &dir.path().join("b")),
        &cluster,
    );
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.wait_until_running(Duration::from_secs(30)).await.unwrap();
    b.wait_until_running(Duration::from_secs(30)).await.unwrap();
    produce(&cluster, "lines", &line_records(&first)).await;
    wait_idle(&cluster, "wc").await;
    b.close().await.unwrap();
    produce(&cluster, "lines", &line_records(&second)).await;
    wait_idle(&cluster, "wc").await;
    a.close().await.unwrap();

    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    let committed = read_table_with(
        &cluster,
        "word-counts",
        Serdes::i64(),
        IsolationLevel::ReadCommitted,
    )
    .await;
    assert_eq!(committed, word_count_reference(&all));
    cluster.shutdown().await;
}
