//! `StreamsBuilder`: where a topology is assembled, and the option types of its operators.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{InternalTopic, NodeDef, NodeKind, TopicRef, Topology};
use crate::error::{Result, StreamsError};
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::processor::Data;
use crate::processor::node::{NodeFactory, SourceFactory};
use crate::serde::{Serde, SharedSerde};
use crate::state::{Materialized, StoreBuilder, StoreSpec};

/// The topology under construction, shared by the builder and every stream made from it.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<NodeDef>,
    pub stores: BTreeMap<String, StoreSpec>,
    pub internal_topics: BTreeMap<String, InternalTopic>,
    counter: usize,
    /// Mistakes found while building (a missing serde, a duplicate name): reported by
    /// `build()`, because operators return streams, not results.
    pub errors: Vec<String>,
    /// Windowed aggregation node → how long after a window's end it closes (grace, plus the
    /// gap for sessions): what `suppress(until_window_closes)` waits for, found from the
    /// nearest windowed aggregation upstream (Kafka's `GraphGraceSearchUtil`).
    pub window_close: BTreeMap<usize, i64>,
}

impl Graph {
    /// The close delay of the windowed aggregation at or upstream of `node`, the largest
    /// over parents (Kafka takes the max); `None` when there is none.
    pub fn window_close_of(&self, node: usize) -> Option<i64> {
        if let Some(&close) = self.window_close.get(&node) {
            return Some(close);
        }
        self.nodes
            .get(node)?
            .parents
            .iter()
            .filter_map(|&p| self.window_close_of(p))
            .max()
    }
}

impl Graph {
    /// Kafka's generated names: `KSTREAM-FILTER-0000000003`.
    pub fn next_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.counter);
        self.counter += 1;
        name
    }

    pub fn add_node(
        &mut self,
        name: String,
        kind: NodeKind,
        parents: &[usize],
        stores: Vec<String>,
        factory: Arc<dyn NodeFactory>,
    ) -> usize {
        let index = self.nodes.len();
        for &p in parents {
            self.nodes[p].children.push(index);
        }
        if self.nodes.iter().any(|n| *n.name == *name) {
            self.errors.push(format!("two processors are named {name}"));
        }
        self.nodes.push(NodeDef {
            name: Arc::from(name),
            kind,
            parents: parents.to_vec(),
            children: Vec::new(),
            stores,
            factory,
        });
        index
    }

    pub fn add_store(&mut self, spec: StoreSpec) {
        if self.stores.contains_key(&spec.name) {
            self.errors
                .push(format!("two state stores are named {}", spec.name));
        }
        self.stores.insert(spec.name.clone(), spec);
    }

    pub fn add_source<K: Data, V: Data>(
        &mut self,
        topics: Vec<TopicRef>,
        key: SharedSerde<K>,
        value: SharedSerde<V>,
    ) -> usize {
        self.add_source_keeping_key(topics, key, value, false)
    }

    /// [`add_source`](Self::add_source); with `keep_key`, the source keeps each record's key
    /// bytes for the processor after it (see `TaskShared::take_source_key`).
    pub fn add_source_keeping_key<K: Data, V: Data>(
        &mut self,
        topics: Vec<TopicRef>,
        key: SharedSerde<K>,
        value: SharedSerde<V>,
        keep_key: bool,
    ) -> usize {
        for t in &topics {
            let taken = self.nodes.iter().any(|n| match &n.kind {
                NodeKind::Source { topics } => topics.contains(t),
                _ => false,
            });
            if taken {
                // Kafka: "Topic ... has already been registered by another source".
                self.errors.push(format!(
                    "topic {} has already been registered by another source",
                    t.name
                ));
            }
        }
        let name = self.next_name("KSTREAM-SOURCE");
        self.add_node(
            name,
            NodeKind::Source { topics },
            &[],
            Vec::new(),
            Arc::new(SourceFactory {
                key_serde: key,
                value_serde: value,
                keep_key,
            }),
        )
    }
}

pub(crate) type SharedGraph = Arc<Mutex<Graph>>;

pub(crate) fn lock(graph: &SharedGraph) -> MutexGuard<'_, Graph> {
    graph.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a [`Topology`] with the DSL, as Kafka's `StreamsBuilder`.
///
/// ```
/// use stream_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("input", Consumed::with(Serdes::string(), Serdes::string()))
///     .filter(|_k, v| !v.is_empty())
///     .to("output", Produced::with(Serdes::string(), Serdes::string()));
/// let topology = builder.build().unwrap();
/// assert!(topology.describe().contains("Source: KSTREAM-SOURCE-0000000000 (topics: [input])"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StreamsBuilder {
    graph: SharedGraph,
}

impl StreamsBuilder {
    pub fn new() -> StreamsBuilder {
        StreamsBuilder::default()
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        self.stream_from(&[topic.into()], consumed)
    }

    /// One stream of the records of several topics (all read by one source).
    pub fn stream_from<K: Data, V: Data>(
        &self,
        topics: &[String],
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let node = lock(&self.graph).add_source(
            topics.iter().map(TopicRef::external).collect(),
            consumed.key.clone(),
            consumed.value.clone(),
        );
        KStream::new(
            self.graph.clone(),
            node,
            Some(consumed.key),
            Some(consumed.value),
            false,
        )
    }

    /// A table of the latest value per key of `topic`; a null value deletes the key.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        KTable::from_topic(self.graph.clone(), topic.into(), consumed, materialized)
    }

    /// Adds a store for processors of the Processor API to connect to by name.
    pub fn add_state_store<K: 'static, V: 'static>(&self, store: StoreBuilder<K, V>) -> &Self {
        lock(&self.graph).add_store(store.spec);
        self
    }

    /// Checks the topology and freezes it.
    pub fn build(&self) -> Result<Topology> {
        let g = lock(&self.graph);
        if !g.errors.is_empty() {
            return Err(StreamsError::Topology(g.errors.join("; ")));
        }
        for node in &g.nodes {
            for s in &node.stores {
                if !g.stores.contains_key(s) {
                    return Err(StreamsError::Topology(format!(
                        "processor {} uses state store {s}, which was never added",
                        node.name
                    )));
                }
            }
        }
        if g.nodes.is_empty() {
            return Err(StreamsError::Topology("the topology has no sources".into()));
        }
        Ok(Topology::new(
            g.nodes.clone(),
            g.stores.clone(),
            g.internal_topics.clone(),
        ))
    }
}

/// How a source reads keys and values, as Kafka's `Consumed`.
pub struct Consumed<K, V> {
    pub(crate) key: SharedSerde<K>,
    pub(crate) value: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for Consumed<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Consumed")
    }
}

impl<K, V> Consumed<K, V> {
    pub fn with(key: impl Serde<K>, value: impl Serde<V>) -> Self {
        Consumed {
            key: Arc::new(key),
            value: Arc::new(value),
        }
    }
}

/// How a sink writes keys and values, as Kafka's `Produced`. Without serdes, the stream's
/// own (from its source, when no operator changed the type) are used.
pub struct Produced<K, V> {
    pub(crate) key: Option<SharedSerde<K>>,
    pub(crate) value: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Produced<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Produced")
    }
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key: None,
            value: None,
        }
    }
}

impl<K, V> Produced<K, V> {
    pub fn with(key: impl Serde<K>, value: impl Serde<V>) -> Self {
        Produced {
            key: Some(Arc::new(key)),
            value: Some(Arc::new(value)),
        }
    }
}

/// Serdes and a name for a grouping's repartition topic, as Kafka's `Grouped`.
pub struct Grouped<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key: Option<SharedSerde<K>>,
    pub(crate) value: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Grouped<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").field("name", &self.name).finish()
    }
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            name: None,
            key: None,
            value: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    pub fn with(key: impl Serde<K>, value: impl Serde<V>) -> Self {
        Grouped {
            name: None,
            key: Some(Arc::new(key)),
            value: Some(Arc::new(value)),
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition`.
    pub fn as_(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
            key: None,
            value: None,
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Options of `KStream::repartition`, as Kafka's `Repartitioned`.
pub struct Repartitioned<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<i32>,
    pub(crate) key: Option<SharedSerde<K>>,
    pub(crate) value: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Repartitioned<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repartitioned")
            .field("name", &self.name)
            .field("partitions", &self.partitions)
            .finish()
    }
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            name: None,
            partitions: None,
            key: None,
            value: None,
        }
    }
}

impl<K, V> Repartitioned<K, V> {
    pub fn with(key: impl Serde<K>, value: impl Serde<V>) -> Self {
        Repartitioned {
            key: Some(Arc::new(key)),
            value: Some(Arc::new(value)),
            ..Default::default()
        }
    }

    pub fn as_(name: impl Into<String>) -> Self {
        Repartitioned {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_number_of_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }
}
