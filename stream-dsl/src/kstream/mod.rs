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
        let name = lock(&self.graph).next_name(prefix);
        self.add_child_named(name, make, stores)
    }

    /// [`add_child`](Self::add_child) under a name given rather than generated.
    pub(crate) fn add_child_named<K2: Data, V2: Data, P, F>(
        &self,
        name: String,
        make: F,
        stores: Vec<String>,
    ) -> usize
    where
        F: Fn() -> P + Send + Sync + 'static,
        P: Processor<K, V, K2, V2>,
    {
        let mut g = lock(&self.graph);
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .filter(|_key, amount| *amount > 0)
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic::<String, i64>("in", Serdes::string(), Serdes::i64());
    /// let output = driver.create_output_topic::<String, i64>("out", Serdes::string(), Serdes::i64());
    /// input.pipe_key_value_list([("a".to_string(), 5), ("b".to_string(), -2), ("c".to_string(), 1)]);
    /// assert_eq!(output.read_key_values_to_list(), [("a".to_string(), 5), ("c".to_string(), 1)]);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .filter_not(|key, _value| key.starts_with('_'))
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    /// input.pipe_input("_internal".to_string(), "x".to_string());
    /// input.pipe_input("user".to_string(), "y".to_string());
    /// assert_eq!(output.read_key_values_to_list(), [("user".to_string(), "y".to_string())]);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .map(|key, value| (value.len() as i64, key))
    ///     .to("out", Produced::with(Serdes::i64(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::i64(), Serdes::string());
    /// input.pipe_input("alice".to_string(), "abc".to_string());
    /// assert_eq!(output.read_key_value(), Some((3, "alice".to_string())));
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .map_values(|value| value.len() as i64)
    ///     .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    /// input.pipe_input("k".to_string(), "hello".to_string());
    /// assert_eq!(output.read_key_value(), Some(("k".to_string(), 5)));
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("docs", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .flat_map(|doc, tags| tags.split(',').map(|t| (t.to_string(), doc.clone())).collect::<Vec<_>>())
    ///     .to("tags", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let docs = driver.create_input_topic("docs", Serdes::string(), Serdes::string());
    /// let tags = driver.create_output_topic("tags", Serdes::string(), Serdes::string());
    /// docs.pipe_input("d1".to_string(), "rust,kafka".to_string());
    /// let expected = [("rust".to_string(), "d1".to_string()), ("kafka".to_string(), "d1".to_string())];
    /// assert_eq!(tags.read_key_values_to_list(), expected);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .flat_map_values(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    ///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    /// input.pipe_input("k".to_string(), "to be".to_string());
    /// let expected = [("k".to_string(), "to".to_string()), ("k".to_string(), "be".to_string())];
    /// assert_eq!(output.read_key_values_to_list(), expected);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .select_key(|_key, value| value.to_uppercase())
    ///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    /// input.pipe_input("1".to_string(), "eu".to_string());
    /// assert_eq!(output.read_key_value(), Some(("EU".to_string(), "eu".to_string())));
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .peek(move |key, value| log.lock().unwrap().push(format!("{key}={value}")))
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    /// input.pipe_input("a".to_string(), "1".to_string());
    /// assert_eq!(*seen.lock().unwrap(), ["a=1"]);
    /// assert_eq!(output.read_key_value(), Some(("a".to_string(), "1".to_string())));
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .foreach(move |key, value| log.lock().unwrap().push(format!("{key}={value}")));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// input.pipe_input("a".to_string(), "1".to_string());
    /// input.pipe_input("b".to_string(), "2".to_string());
    /// assert_eq!(*seen.lock().unwrap(), ["a=1", "b=2"]);
    /// ```
    pub fn foreach(self, f: impl Fn(&K, &V) + Send + Sync + 'static) {
        let f = Arc::new(f);
        self.add_child::<K, V, _, _>("KSTREAM-FOREACH", move || ops::Peek { f: f.clone() }, vec![]);
    }

    /// One stream of the records of both.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let web = builder.stream::<String, String>("web", Consumed::with(Serdes::string(), Serdes::string()));
    /// let app = builder.stream::<String, String>("app", Consumed::with(Serdes::string(), Serdes::string()));
    /// web.merge(app).to("clicks", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let web = driver.create_input_topic("web", Serdes::string(), Serdes::string());
    /// let app = driver.create_input_topic("app", Serdes::string(), Serdes::string());
    /// let clicks = driver.create_output_topic("clicks", Serdes::string(), Serdes::string());
    /// web.pipe_input("u1".to_string(), "/home".to_string());
    /// app.pipe_input("u2".to_string(), "/cart".to_string());
    /// let expected = [("u1".to_string(), "/home".to_string()), ("u2".to_string(), "/cart".to_string())];
    /// assert_eq!(clicks.read_key_values_to_list(), expected);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split()
    ///     .branch("refunds", |_, amount| *amount < 0)
    ///     .default_branch("payments");
    /// for (name, branch) in branches {
    ///     branch.to(name, Produced::default());
    /// }
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic::<String, i64>("in", Serdes::string(), Serdes::i64());
    /// input.pipe_key_value_list([("a".to_string(), -3), ("b".to_string(), 9)]);
    /// let out = |topic| driver.create_output_topic::<String, i64>(topic, Serdes::string(), Serdes::i64());
    /// assert_eq!(out("refunds").read_key_values_to_list(), [("a".to_string(), -3)]);
    /// assert_eq!(out("payments").read_key_values_to_list(), [("b".to_string(), 9)]);
    /// ```
    pub fn split(self) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self,
            branches: Vec::new(),
        }
    }

    /// Writes the records to `topic`.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .map_values(|v| v.len() as i64)
    ///     // The value type changed: the sink needs the serdes to write it.
    ///     .to("lengths", Produced::with(Serdes::string(), Serdes::i64()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let lengths = driver.create_output_topic("lengths", Serdes::string(), Serdes::i64());
    /// input.pipe_input_at("k".to_string(), "abc".to_string(), 42);
    /// assert_eq!(lengths.read_record(), Some(Record::new("k".to_string(), 3, 42)));
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// struct Tag;
    /// type Ctx = ProcessorContext<String, String>;
    /// impl Processor<String, String, String, String> for Tag {
    ///     fn process(&mut self, ctx: &mut Ctx, r: Record<String, String>) -> stream_dsl::Result<()> {
    ///         let offset = ctx.record_metadata().map_or(-1, |m| m.offset);
    ///         let value = format!("{}@{offset}", r.value);
    ///         ctx.forward(r.with_value(value))
    ///     }
    /// }
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .process::<String, String, _, _>(|| Tag, &[])
    ///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let output = driver.create_output_topic::<String, String>("out", Serdes::string(), Serdes::string());
    /// input.pipe_input("a".to_string(), "x".to_string());
    /// input.pipe_input("b".to_string(), "y".to_string());
    /// assert_eq!(output.read_values_to_list(), ["x@0", "y@1"]);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .select_key(|_key, value| value.len() as i64)
    ///     .repartition(Repartitioned::with(Serdes::i64(), Serdes::string()).with_name("by-length"))
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let topic = "test-driver-by-length-repartition"; // <application.id>-<name>-repartition
    /// let through = driver.create_output_topic(topic, Serdes::i64(), Serdes::string());
    /// let output = driver.create_output_topic("out", Serdes::i64(), Serdes::string());
    /// input.pipe_input("k".to_string(), "abc".to_string());
    /// assert_eq!(through.read_key_value(), Some((3, "abc".to_string())));
    /// assert_eq!(output.read_key_value(), Some((3, "abc".to_string())));
    /// ```
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
        let read = key.clone().zip(value.clone()).map(|(key, value)| ReadAs {
            key,
            value,
            keep_key: false,
        });
        self.through_topic_reading(name, key, value, partitions, read)
    }

    /// [`through_topic`](Self::through_topic) whose source reads the records as `read`
    /// says, where the processor after it needs less of them than was written.
    pub(crate) fn through_topic_reading<KR: Data, W: Data>(
        &self,
        name: &str,
        key: Option<SharedSerde<K>>,
        value: Option<SharedSerde<V>>,
        partitions: Option<i32>,
        read: Option<ReadAs<KR, W>>,
    ) -> Option<usize> {
        let topic = format!("{name}-repartition");
        let mut g = lock(&self.graph);
        let (Some(key), Some(value), Some(read)) = (key, value, read) else {
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
                key_serde: key,
                value_serde: value,
            }),
        );
        if g.internal_topics.contains_key(&topic) {
            g.errors.push(format!(
                "two repartitions are named {name}: name them apart (Grouped::as_ / Repartitioned::as_)"
            ));
        }
        g.internal_topics
            .insert(topic.clone(), InternalTopic { partitions });
        Some(g.add_source_keeping_key(
            vec![TopicRef::internal(topic)],
            read.key,
            read.value,
            read.keep_key,
        ))
    }

    /// Groups by the current key, for an aggregation.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .count(Materialized::as_("clicks-per-user"))
    ///     .to_stream()
    ///     .to("counts", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::string());
    /// let counts = driver.create_output_topic::<String, i64>("counts", Serdes::string(), Serdes::i64());
    /// for (user, page) in [("ann", "/a"), ("bob", "/b"), ("ann", "/c")] {
    ///     clicks.pipe_input(user.to_string(), page.to_string());
    /// }
    /// let expected = [("ann".to_string(), 1), ("bob".to_string(), 1), ("ann".to_string(), 2)];
    /// assert_eq!(counts.read_key_values_to_list(), expected);
    /// ```
    pub fn group_by_key(self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self, grouped)
    }

    /// Groups by a key computed from each record: `select_key` then `group_by_key`.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("fruit", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by(|_key, name| name[..1].to_string(), Grouped::with(Serdes::string(), Serdes::string()))
    ///     .count(Materialized::as_("by-initial"))
    ///     .to_stream()
    ///     .to("counts", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let fruit = driver.create_input_topic("fruit", Serdes::string(), Serdes::string());
    /// let counts = driver.create_output_topic::<String, i64>("counts", Serdes::string(), Serdes::i64());
    /// fruit.pipe_key_value_list(["apple", "banana", "avocado"].map(|f| ("id".to_string(), f.to_string())));
    /// let expected = [("a".to_string(), 1), ("b".to_string(), 1), ("a".to_string(), 2)];
    /// assert_eq!(counts.read_key_values_to_list(), expected);
    /// ```
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
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream::<String, i64>("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split()
    ///     .branch("small", |_, n| *n < 10)
    ///     .branch("even", |_, n| n % 2 == 0) // 4 is small and even: the first branch gets it
    ///     .no_default_branch();
    /// for (name, branch) in branches {
    ///     branch.to(name, Produced::default());
    /// }
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic::<String, i64>("in", Serdes::string(), Serdes::i64());
    /// input.pipe_key_value_list([("a".to_string(), 4), ("b".to_string(), 12)]);
    /// let out = |topic| driver.create_output_topic::<String, i64>(topic, Serdes::string(), Serdes::i64());
    /// assert_eq!(out("small").read_values_to_list(), [4]);
    /// assert_eq!(out("even").read_values_to_list(), [12]);
    /// ```
    pub fn branch(
        mut self,
        name: impl Into<String>,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.branches.push((name.into(), Arc::new(predicate)));
        self
    }

    /// Ends the split with a branch `name` of the records no predicate matched.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .split()
    ///     .branch("errors", |_, line| line.starts_with("ERROR"))
    ///     .default_branch("rest");
    /// assert_eq!(branches.keys().collect::<Vec<_>>(), ["errors", "rest"]);
    /// branches["rest"].clone().to("rest", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let rest = driver.create_output_topic::<String, String>("rest", Serdes::string(), Serdes::string());
    /// input.pipe_input("h".to_string(), "ERROR disk".to_string());
    /// input.pipe_input("h".to_string(), "INFO ok".to_string());
    /// assert_eq!(rest.read_values_to_list(), ["INFO ok"]);
    /// ```
    pub fn default_branch(self, name: impl Into<String>) -> BTreeMap<String, KStream<K, V>> {
        self.finish(Some(name.into()))
    }

    /// Ends the split; unmatched records are dropped.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let mut branches = builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .split()
    ///     .branch("errors", |_, line| line.starts_with("ERROR"))
    ///     .no_default_branch();
    /// branches.remove("errors").unwrap().to("errors", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    /// let errors =
    ///     driver.create_output_topic::<String, String>("errors", Serdes::string(), Serdes::string());
    /// input.pipe_input("h".to_string(), "INFO ok".to_string());
    /// input.pipe_input("h".to_string(), "ERROR disk".to_string());
    /// assert_eq!(errors.read_values_to_list(), ["ERROR disk"]);
    /// ```
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

/// How the source of a repartition topic reads what its sink wrote (see
/// [`KStream::through_topic_reading`]).
pub(crate) struct ReadAs<KR, W> {
    pub key: SharedSerde<KR>,
    pub value: SharedSerde<W>,
    /// The source keeps each record's key bytes for the processor after it.
    pub keep_key: bool,
}
