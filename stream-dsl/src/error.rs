//! The DSL's errors.

use std::sync::Arc;

use stream_core::error::BrokerError;

use crate::serde::SerdeError;

pub type Result<T, E = StreamsError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The topology is not valid: named as Kafka's `TopologyException`.
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A record's key or value could not be read; the deserialization handler decides.
    #[error("cannot deserialize the {part} of {topic}-{partition}@{offset}: {source}")]
    Deserialization {
        topic: String,
        partition: i32,
        offset: i64,
        part: &'static str,
        #[source]
        source: SerdeError,
    },
    /// A record's key or value could not be written (Kafka's `SerializationException`).
    #[error("cannot serialize the {part} of a record for {topic}: {source}")]
    Serialization {
        topic: String,
        part: &'static str,
        #[source]
        source: SerdeError,
    },
    #[error("state store {store}: {source}")]
    Store {
        store: String,
        #[source]
        source: storage::store::StoreError,
    },
    #[error("state store {store}: cannot convert its {what}: {source}")]
    StoreValue {
        store: String,
        what: &'static str,
        #[source]
        source: SerdeError,
    },
    /// A processor asked for a store it was not connected to, or with other types.
    #[error("processor {processor} cannot use state store {store}: {reason}")]
    StoreAccess {
        processor: String,
        store: String,
        reason: String,
    },
    #[error("source topic {topic} does not exist")]
    MissingSourceTopic { topic: String },
    /// Inputs that meet in a store (a join, or a merge into one aggregation) have different
    /// partition counts. Kafka's `TopologyException` message, topics in name order.
    #[error(
        "Invalid topology: Following topics do not have the same number of partitions: [{{{}}}]",
        partition_counts(.topics, .counts)
    )]
    NotCopartitioned { topics: Vec<String>, counts: Vec<i32> },
    #[error("state directory {path}: {source}")]
    StateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {key}={value}: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A call of the embedded cluster's clients failed.
    #[error(transparent)]
    Embedded(#[from] stream_core::ClientError),
    /// A call of the network client (librdkafka) failed.
    #[error("{operation}: {source}")]
    Client {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("sending to {topic}: {reason}")]
    Send { topic: String, reason: String },
    /// Exactly-once: the thread's open transaction could not complete and was aborted
    /// (Kafka's `TaskCorruptedException`). The thread recovers: it wipes its tasks' state,
    /// restores it from the changelogs and reprocesses from the committed offsets. The error
    /// reaches the application only when recovery keeps failing.
    #[error("stream thread {thread}: uncommitted work abandoned at {operation}")]
    TaskCorrupted {
        thread: String,
        operation: &'static str,
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// Exactly-once: a newer producer of the thread's transactional id, or a newer generation
    /// of the group, fenced the thread (Kafka's `TaskMigratedException`). The thread gives up
    /// its tasks without committing and rejoins the group.
    #[error("stream thread {thread} was fenced at {operation}")]
    TaskMigrated {
        thread: String,
        operation: &'static str,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The application is not in a state that allows the call.
    #[error("streams application is {state:?}: {what}")]
    IllegalState {
        state: crate::runtime::State,
        what: &'static str,
    },
    #[error("stream thread {thread} failed: {reason}")]
    Thread { thread: String, reason: String },
    /// A suppression buffer configured to shut down when full is full (Kafka's message).
    #[error(
        "{processor} buffer exceeded its max capacity. Currently [{records}/{max_records}] records and [{bytes}/{max_bytes}] bytes."
    )]
    SuppressionBufferFull {
        processor: String,
        records: usize,
        max_records: usize,
        bytes: usize,
        max_bytes: usize,
    },
    /// A suppression buffer's changelog holds a value this version cannot read.
    #[error("suppression buffer {store}: {source}")]
    SuppressionBuffer {
        store: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StreamsError {
    pub(crate) fn store(store: &str, source: storage::store::StoreError) -> StreamsError {
        StreamsError::Store {
            store: store.to_owned(),
            source,
        }
    }
}

/// `a=2, b=3`, by topic name, as Kafka prints its `TreeMap` of partition counts.
fn partition_counts(topics: &[String], counts: &[i32]) -> String {
    let sorted: std::collections::BTreeMap<&str, i32> = topics
        .iter()
        .map(String::as_str)
        .zip(counts.iter().copied())
        .collect();
    sorted
        .iter()
        .map(|(topic, n)| format!("{topic}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
