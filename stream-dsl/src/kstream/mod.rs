//! `KStream`: an unbounded stream of records, and its operators.

mod ops;

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::grouped::KGroupedStream;
use crate::processor::node::{ProcessorFactory, SinkFactory};
use crate::processor::{Data, Processor};
use crate::serde::SharedSerde;
use crate::topology::builder::{SharedGraph, lock};
use crate::topology::{Grouped, Produced, Repartitioned};
use crate::topology::{InternalTopic, NodeKind, TopicRef};

pub(crate) use ops::PassThrough;

/// A stream of `(K, V)` records, as Kafka Streams' `KStream`. Operators take `self` and
/// return new streams; a stream may feed several operators (clone it).
pub struct KStream<K, V> {
    pub(crate) graph: SharedGraph,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The key was (or may have been) changed since the source: grouping must repartition.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K, V> std::fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KStream").field("node", &self.node).finish()
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn new(
        graph: SharedGraph,
        node: usize,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        repartition_required: bool,
    ) -> Self {
        KStream {
            graph,
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// Adds a processor node under this stream.
    pub(crate) fn add_child<K2: Data, V2: Data, P, F>(
        &self,
        prefix: &str,
        make: F,
        stores: Vec<String>,
    ) -> usize
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<K, V, K2, V2>,
    {
        let mut g = lock(&self.graph);
        let name = g.next_name(prefix);
        g.add_node(
            name,
            NodeKind::Processor,
            &[self.node],
            stores,
            Arc::new(ProcessorFactory::<F, K, V, K2, V2>::new(make)),
        )
    }

    fn derive<K2: Data, V2: Data>(
        &self,
        node: usize,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream::new(
            self.graph.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        )
    }

    /// Keeps the records for which `predicate` holds.
    pub fn filter(self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(predicate);
        let node = self.add_child(
            "KSTREAM-FILTER",
            move || ops::Filter {
                f: f.clone(),
                keep_when: true,
            },
            vec![],
        );
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Drops the records for which `predicate` holds.
    pub fn filter_not(self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(predicate);
        let node = self.add_child(
            "KSTREAM-FILTER",
            move || ops::Filter {
                f: f.clone(),
                keep_when: false,
            },
            vec![],
        );
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Replaces each record's key and value (marks the stream for repartitioning).
    pub fn map<K2: Data, V2: Data>(
        self,
        f: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let f = Arc::new(f);
        let node = self.add_child(
            "KSTREAM-MAP",
            move || ops::Map {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, None, None, true)
    }

    /// Replaces each record's value; the key, and so the partitioning, stays.
    pub fn map_values<V2: Data>(self, f: impl Fn(V) -> V2 + Send + Sync + 'static) -> KStream<K, V2> {
        let f = Arc::new(f);
        let node = self.add_child(
            "KSTREAM-MAPVALUES",
            move || ops::MapValues {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, self.key_serde.clone(), None, self.repartition_required)
    }

    /// Turns each record into zero or more records (marks the stream for repartitioning).
    pub fn flat_map<K2: Data, V2: Data, I>(
        self,
        f: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)> + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_child(
            "KSTREAM-FLATMAP",
            move || ops::FlatMap {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, None, None, true)
    }

    /// Turns each value into zero or more values under the same key.
    pub fn flat_map_values<V2: Data, I>(self, f: impl Fn(V) -> I + Send + Sync + 'static) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2> + 'static,
    {
        let f = Arc::new(f);
        let node = self.add_child(
            "KSTREAM-FLATMAPVALUES",
            move || ops::FlatMapValues {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, self.key_serde.clone(), None, self.repartition_required)
    }

    /// Gives each record a new key computed from it (marks the stream for repartitioning).
    pub fn select_key<K2: Data>(self, f: impl Fn(&K, &V) -> K2 + Send + Sync + 'static) -> KStream<K2, V> {
        let f = Arc::new(f);
        let node = self.add_child(
            "KSTREAM-KEY-SELECT",
            move || ops::SelectKey {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, None, self.value_serde.clone(), true)
    }

    /// Calls `f` for each record and passes the record on.
    pub fn peek(self, f: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let f = Arc::new(f);
        let node = self.add_child("KSTREAM-PEEK", move || ops::Peek { f: f.clone() }, vec![]);
        self.derive(
            node,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Calls `f` for each record; the end of this branch of the topology.
    pub fn foreach(self, f: impl Fn(&K, &V) + Send + Sync + 'static) {
        let f = Arc::new(f);
        self.add_child::<K, V, _, _>("KSTREAM-FOREACH", move || ops::Peek { f: f.clone() }, vec![]);
    }

    /// One stream of the records of both.
    pub fn merge(self, other: KStream<K, V>) -> KStream<K, V> {
        let mut g = lock(&self.graph);
        let name = g.next_name("KSTREAM-MERGE");
        let node = g.add_node(
            name,
            NodeKind::Processor,
            &[self.node, other.node],
            vec![],
            Arc::new(ProcessorFactory::<_, K, V, K, V>::new(|| PassThrough)),
        );
        drop(g);
        let serde_k = self.key_serde.clone().or(other.key_serde.clone());
        let serde_v = self.value_serde.clone().or(other.value_serde.clone());
        self.derive(
            node,
            serde_k,
            serde_v,
            self.repartition_required || other.repartition_required,
        )
    }

    /// Splits the stream by predicates, as Kafka's `split()`: see [`BranchedKStream`].
    pub fn split(self) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self,
            branches: Vec::new(),
        }
    }

    /// Writes the records to `topic`.
    pub fn to(self, topic: impl Into<String>, produced: Produced<K, V>) {
        let topic = topic.into();
        let key = produced.key.or(self.key_serde.clone());
        let value = produced.value.or(self.value_serde.clone());
        let mut g = lock(&self.graph);
        let (Some(key), Some(value)) = (key, value) else {
            g.errors.push(format!(
                "to({topic}) needs serdes: pass Produced::with(key_serde, value_serde)"
            ));
            return;
        };
        let name = g.next_name("KSTREAM-SINK");
        g.add_node(
            name,
            NodeKind::Sink {
                topic: TopicRef::external(topic),
            },
            &[self.node],
            vec![],
            Arc::new(SinkFactory {
                key_serde: key,
                value_serde: value,
            }),
        );
    }

    /// Runs `P` (made by `make`, one per task) on each record, with the named stores.
    /// Marks the stream for repartitioning, as the processor may change keys.
    pub fn process<K2: Data, V2: Data, P, F>(self, make: F, stores: &[&str]) -> KStream<K2, V2>
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<K, V, K2, V2>,
    {
        let node = self.add_child(
            "KSTREAM-PROCESSOR",
            make,
            stores.iter().map(|s| s.to_string()).collect(),
        );
        self.derive(node, None, None, true)
    }

    /// Writes the stream through a repartition topic `<application.id>-<name>-repartition`,
    /// spreading records by key over its partitions.
    pub fn repartition(self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let key = repartitioned.key.or(self.key_serde.clone());
        let value = repartitioned.value.or(self.value_serde.clone());
        let name = repartitioned
            .name
            .unwrap_or_else(|| lock(&self.graph).next_name("KSTREAM-REPARTITION"));
        match self.through_topic(&name, key.clone(), value.clone(), repartitioned.partitions) {
            Some(node) => self.derive(node, key, value, false),
            None => self,
        }
    }

    /// Adds a sink to the internal topic `<name>-repartition` and a source reading it;
    /// returns the source. `None` (and an error for `build()`) without serdes.
    pub(crate) fn through_topic(
        &self,
        name: &str,
        key: Option<SharedSerde<K>>,
        value: Option<SharedSerde<V>>,
        partitions: Option<i32>,
    ) -> Option<usize> {
        let topic = format!("{name}-repartition");
        let mut g = lock(&self.graph);
        let (Some(key), Some(value)) = (key, value) else {
            g.errors.push(format!(
                "repartition topic {topic} needs key and value serdes: pass them with Grouped::with / \
                 Repartitioned::with"
            ));
            return None;
        };
        let sink = g.next_name("KSTREAM-SINK");
        g.add_node(
            sink,
            NodeKind::Sink {
                topic: TopicRef::internal(&topic),
            },
            &[self.node],
            vec![],
            Arc::new(SinkFactory {
                key_serde: key.clone(),
                value_serde: value.clone(),
            }),
        );
        g.internal_topics
            .insert(topic.clone(), InternalTopic { partitions });
        Some(g.add_source(vec![TopicRef::internal(topic)], key, value))
    }

    /// Groups by the current key, for an aggregation.
    pub fn group_by_key(self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self, grouped)
    }

    /// Groups by a key computed from each record: `select_key` then `group_by_key`.
    pub fn group_by<K2: Data>(
        self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        self.select_key(selector).group_by_key(grouped)
    }
}

/// The branches of a `split`, as Kafka's `BranchedKStream`.
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    branches: Vec<(String, ops::Predicate<K, V>)>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("branches", &self.branches.len())
            .finish()
    }
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    /// A branch named `name` of the records matching `predicate` and no earlier branch.
    pub fn branch(
        mut self,
        name: impl Into<String>,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.branches.push((name.into(), Arc::new(predicate)));
        self
    }

    /// Ends the split with a branch `name` of the records no predicate matched.
    pub fn default_branch(self, name: impl Into<String>) -> BTreeMap<String, KStream<K, V>> {
        self.finish(Some(name.into()))
    }

    /// Ends the split; unmatched records are dropped.
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish(None)
    }

    fn finish(self, default: Option<String>) -> BTreeMap<String, KStream<K, V>> {
        let predicates = Arc::new(self.branches.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
        let default_branch = default.is_some();
        let branch = self.stream.add_child(
            "KSTREAM-BRANCH",
            move || ops::Branch {
                predicates: predicates.clone(),
                default_branch,
            },
            vec![],
        );
        let parent = self.stream.derive::<K, V>(
            branch,
            self.stream.key_serde.clone(),
            self.stream.value_serde.clone(),
            self.stream.repartition_required,
        );
        let names = self.branches.into_iter().map(|(n, _)| n).chain(default);
        names
            .map(|name| {
                let node = parent.add_child::<K, V, _, _>("KSTREAM-BRANCHCHILD", || PassThrough, vec![]);
                let s = parent.derive(
                    node,
                    parent.key_serde.clone(),
                    parent.value_serde.clone(),
                    parent.repartition_required,
                );
                (name, s)
            })
            .collect()
    }
}
