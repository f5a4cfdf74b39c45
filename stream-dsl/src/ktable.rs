//! `KTable`: a changelog stream read as a table — the latest value per key.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::BytesMut;

use crate::error::Result;
use crate::grouped::KGroupedTable;
use crate::kstream::KStream;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Record};
use crate::serde::SharedSerde;
use crate::serde::change::NullableSerde;
use crate::state::table::TableStore;
use crate::state::{KeyValueStore, Materialized, StoreKind, StoreSerdes, StoreSpec};
use crate::suppress::{SuppressProcessor, Suppressed, TimeDefinition, WhenFull};
use crate::topology::builder::{SharedGraph, lock};
use crate::topology::{Consumed, Grouped, TopicRef};

/// A table of `K → V`, as Kafka Streams' `KTable`. Downstream of a table flow its updates,
/// each with the row's new and old value.
pub struct KTable<K, V> {
    pub(crate) stream: KStream<K, Change<V>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The store holding the table, when it is materialized.
    pub(crate) store: Option<String>,
    /// Set when something downstream reads the old values of this table's updates, for a
    /// table whose source sends them only on request (a windowed aggregation: reading what
    /// its store held before each write costs a store read per window, which a result
    /// streamed to a topic never looks at). Kafka Streams' `enableSendingOldValues`; `None`
    /// for tables that always send them.
    pub(crate) old_values: Option<OldValues>,
}

/// The request of a table's downstream for old values, shared with its source's processors
/// (see [`KTable::old_values`]). Final once the topology is built, before any processor
/// starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct OldValues(Arc<std::sync::atomic::AtomicBool>);

impl OldValues {
    pub(crate) fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<K, V> std::fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KTable")
            .field("node", &self.stream.node)
            .field("store", &self.store)
            .finish()
    }
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            stream: self.stream.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
            old_values: self.old_values.clone(),
        }
    }
}

/// Adds the store of a materialized table or aggregation; returns its name and serdes, or
/// records a build error when a serde is missing.
pub(crate) fn materialize<K: 'static, V: 'static>(
    graph: &SharedGraph,
    materialized: Materialized<K, V>,
    key: Option<SharedSerde<K>>,
    value: Option<SharedSerde<V>>,
    prefix: &str,
) -> (String, Option<SharedSerde<K>>, Option<SharedSerde<V>>) {
    materialize_kind(graph, materialized, key, value, prefix, StoreKind::KeyValue)
}

/// [`materialize`] as a store of `kind`.
pub(crate) fn materialize_kind<K: 'static, V: 'static>(
    graph: &SharedGraph,
    materialized: Materialized<K, V>,
    key: Option<SharedSerde<K>>,
    value: Option<SharedSerde<V>>,
    prefix: &str,
    kind: StoreKind,
) -> (String, Option<SharedSerde<K>>, Option<SharedSerde<V>>) {
    let mut g = lock(graph);
    let name = materialized
        .name
        .unwrap_or_else(|| g.next_name(&format!("{prefix}-STATE-STORE")));
    let key = materialized.key_serde.or(key);
    let value = materialized.value_serde.or(value);
    match (&key, &value) {
        (Some(k), Some(v)) => g.add_store(StoreSpec {
            name: name.clone(),
            kind,
            store_type: materialized.store_type,
            caching: materialized.caching,
            logging: materialized.logging,
            serdes: Arc::new(StoreSerdes {
                key: k.clone(),
                value: v.clone(),
            }),
        }),
        _ => g.errors.push(format!(
            "state store {name} needs key and value serdes: pass them with Materialized::with / Grouped::with"
        )),
    }
    (name, key, value)
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn from_topic(
        graph: SharedGraph,
        topic: String,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let nullable: SharedSerde<Option<V>> = Arc::new(NullableSerde(consumed.value.clone()));
        let source = lock(&graph).add_source(vec![TopicRef::external(topic)], consumed.key.clone(), nullable);
        let (store, key, value) = materialize(
            &graph,
            materialized,
            Some(consumed.key.clone()),
            Some(consumed.value.clone()),
            "KTABLE-SOURCE",
        );
        let upstream = KStream::<K, Option<V>>::new(graph, source, key.clone(), None, false);
        let name = store.clone();
        let node = upstream.add_child(
            "KTABLE-SOURCE",
            move || TableSource::<K, V> {
                store: name.clone(),
                table: None,
                key_buf: BytesMut::new(),
                value_buf: BytesMut::new(),
            },
            vec![store.clone()],
        );
        KTable {
            stream: KStream::new(upstream.graph.clone(), node, key, None, false),
            value_serde: value,
            store: Some(store),
            old_values: None,
        }
    }

    /// Holds this table's updates back and lets each key's latest through later, as Kafka's
    /// `suppress`: once per window when it closes ([`Suppressed::until_window_closes`], on a
    /// windowed aggregation's table) or after a time limit ([`Suppressed::until_time_limit`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(5)))
    ///     .count(Materialized::as_("counts"))
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .to("final", Produced::with(WindowedSerdes::time_windowed(Serdes::string(), 10), Serdes::i64()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::string());
    /// let out = driver.create_output_topic::<Windowed<String>, i64>(
    ///     "final",
    ///     WindowedSerdes::time_windowed(Serdes::string(), 10),
    ///     Serdes::i64(),
    /// );
    /// for t in [1, 3, 14] {
    ///     clicks.pipe_input_at("ann".to_string(), "/".to_string(), t);
    /// }
    /// assert!(out.is_empty(), "[0, 10) closes at stream time 15 (end + grace)");
    /// clicks.pipe_input_at("bob".to_string(), "/".to_string(), 15);
    /// let emitted: Vec<(i64, i64)> =
    ///     out.read_key_values_to_list().into_iter().map(|(w, n)| (w.window.start, n)).collect();
    /// assert_eq!(emitted, [(0, 2)], "once, with its final count");
    /// ```
    pub fn suppress(self, suppressed: Suppressed<K>) -> KTable<K, V> {
        // The buffer keeps each key's prior value, as Kafka's does.
        self.want_old_values();
        let graph = self.stream.graph.clone();
        let (name, store, duration_ms) = {
            let mut g = lock(&graph);
            let (name, store) = match &suppressed.name {
                Some(n) => (n.clone(), format!("{n}-store")),
                None => {
                    let n = g.next_name("KTABLE-SUPPRESS");
                    let s = g.next_name("KTABLE-SUPPRESS-STATE-STORE");
                    (n, s)
                }
            };
            let duration_ms = match (&suppressed.time, suppressed.limit) {
                (TimeDefinition::WindowEnd(_), _) => {
                    if suppressed.buffer.when_full == WhenFull::EmitEarly {
                        g.errors.push(format!(
                            "{name}: final results (until_window_closes) need a buffer that never emits \
                             early: BufferConfig::unbounded() or shut_down_when_full()"
                        ));
                    }
                    g.window_close_of(self.stream.node).unwrap_or_else(|| {
                        g.errors.push(format!(
                            "Window close time is only defined for windowed computations. Got [{name}]."
                        ));
                        0
                    })
                }
                (TimeDefinition::RecordTime, limit) => limit.map_or(0, crate::window::millis_of),
            };
            if self.stream.key_serde.is_none() || self.value_serde.is_none() {
                g.errors.push(format!(
                    "{name} needs the table's key and value serdes: pass them with Materialized::with"
                ));
            }
            g.add_store(StoreSpec {
                name: store.clone(),
                kind: StoreKind::SuppressionBuffer,
                store_type: crate::state::StoreType::InMemory,
                caching: false,
                logging: true,
                serdes: Arc::new(StoreSerdes {
                    key: Arc::new(crate::serde::BytesSerde) as SharedSerde<bytes::Bytes>,
                    value: Arc::new(crate::serde::BytesSerde) as SharedSerde<bytes::Bytes>,
                }),
            });
            (name, store, duration_ms)
        };
        let node = match (self.stream.key_serde.clone(), self.value_serde.clone()) {
            (Some(key), Some(value)) => {
                let (s, time, buffer, n) = (store.clone(), suppressed.time, suppressed.buffer, name.clone());
                self.stream.add_child_named(
                    name,
                    move || {
                        SuppressProcessor::new(
                            n.clone(),
                            s.clone(),
                            key.clone(),
                            value.clone(),
                            time.clone(),
                            duration_ms,
                            buffer,
                        )
                    },
                    vec![store],
                )
            }
            // build() refuses the topology (recorded above).
            _ => self.stream.node,
        };
        KTable {
            stream: KStream::new(graph, node, self.stream.key_serde.clone(), None, false),
            value_serde: self.value_serde,
            store: None,
            old_values: None,
        }
    }

    /// Asks this table's source for old values (see [`KTable::old_values`]).
    fn want_old_values(&self) {
        if let Some(old) = &self.old_values {
            old.request();
        }
    }

    /// The store a lookup into this table reads (a stream-table join's): the table's own, or,
    /// for a table that has none (a `filter` or `map_values` of another), a key-value store
    /// that a processor under the table keeps, row by row. Kafka Streams reads such a table
    /// through its parents' stores instead, applying the filters and mappers at each lookup;
    /// the rows found are the same. `value` is the serde for that store where the table does
    /// not know its own.
    pub(crate) fn lookup_store(&self, value: Option<SharedSerde<V>>) -> String {
        if let Some(store) = &self.store {
            return store.clone();
        }
        let (store, _, _) = materialize(
            &self.stream.graph,
            Materialized::default(),
            self.stream.key_serde.clone(),
            self.value_serde.clone().or(value),
            "KTABLE-MATERIALIZE",
        );
        let name = store.clone();
        self.stream.add_child::<K, Change<V>, _, _>(
            "KTABLE-MATERIALIZE",
            move || TableMaterializer::<K, V> {
                store: name.clone(),
                rows: None,
            },
            vec![store.clone()],
        );
        store
    }

    /// The name of the store holding this table, when it has one.
    pub fn store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    fn derive<V2: Data>(&self, node: usize, value_serde: Option<SharedSerde<V2>>) -> KTable<K, V2> {
        KTable {
            stream: KStream::new(
                self.stream.graph.clone(),
                node,
                self.stream.key_serde.clone(),
                None,
                false,
            ),
            value_serde,
            store: None,
            // What reads the derived table's old values reads this one's.
            old_values: self.old_values.clone(),
        }
    }

    /// Keeps the rows for which `predicate` holds; a row that stops matching is deleted
    /// downstream.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::string());
    /// builder
    ///     .table::<String, String>("users", consumed, Materialized::as_("users"))
    ///     .filter(|_user, region| region == "eu")
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let users =
    ///     driver.create_input_topic::<String, Option<String>>("users", Serdes::string(), Serdes::string());
    /// let out =
    ///     driver.create_output_topic::<String, Option<String>>("out", Serdes::string(), Serdes::string());
    /// users.pipe_input("ann".to_string(), Some("eu".to_string()));
    /// users.pipe_input("ann".to_string(), Some("us".to_string())); // no longer matches: deleted downstream
    /// assert_eq!(out.read_values_to_list(), [Some("eu".to_string()), None]);
    /// ```
    pub fn filter(self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        // A row that stops matching is deleted downstream: known from its old value.
        self.want_old_values();
        let f = Arc::new(predicate);
        let node = self.stream.add_child(
            "KTABLE-FILTER",
            move || TableFilter {
                f: f.clone(),
                keep_when: true,
            },
            vec![],
        );
        self.derive(node, self.value_serde.clone())
    }

    /// Drops the rows for which `predicate` holds; a row that starts matching is deleted
    /// downstream.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::string());
    /// builder
    ///     .table::<String, String>("users", consumed, Materialized::as_("users"))
    ///     .filter_not(|_user, region| region == "eu")
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let users =
    ///     driver.create_input_topic::<String, Option<String>>("users", Serdes::string(), Serdes::string());
    /// let out =
    ///     driver.create_output_topic::<String, Option<String>>("out", Serdes::string(), Serdes::string());
    /// users.pipe_input("ann".to_string(), Some("us".to_string()));
    /// users.pipe_input("ann".to_string(), Some("eu".to_string())); // now matches: deleted downstream
    /// assert_eq!(out.read_values_to_list(), [Some("us".to_string()), None]);
    /// ```
    pub fn filter_not(self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> KTable<K, V> {
        // A row that stops matching is deleted downstream: known from its old value.
        self.want_old_values();
        let f = Arc::new(predicate);
        let node = self.stream.add_child(
            "KTABLE-FILTER",
            move || TableFilter {
                f: f.clone(),
                keep_when: false,
            },
            vec![],
        );
        self.derive(node, self.value_serde.clone())
    }

    /// Maps every row's value.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::string());
    /// builder
    ///     .table::<String, String>("users", consumed, Materialized::as_("users"))
    ///     .map_values(|region| region.to_uppercase())
    ///     .to_stream()
    ///     .to("out", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let users =
    ///     driver.create_input_topic::<String, Option<String>>("users", Serdes::string(), Serdes::string());
    /// let out =
    ///     driver.create_output_topic::<String, Option<String>>("out", Serdes::string(), Serdes::string());
    /// users.pipe_input("ann".to_string(), Some("eu".to_string()));
    /// users.pipe_input("ann".to_string(), None);
    /// assert_eq!(out.read_values_to_list(), [Some("EU".to_string()), None]);
    /// ```
    pub fn map_values<V2: Data>(self, f: impl Fn(V) -> V2 + Send + Sync + 'static) -> KTable<K, V2> {
        let f = Arc::new(f);
        let node = self.stream.add_child(
            "KTABLE-MAPVALUES",
            move || TableMapValues {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        self.derive(node, None)
    }

    /// The table's updates as a stream: the new value, `None` for a delete.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::string());
    /// builder
    ///     .table::<String, String>("users", consumed, Materialized::as_("users"))
    ///     .to_stream()
    ///     .to("out", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let users =
    ///     driver.create_input_topic::<String, Option<String>>("users", Serdes::string(), Serdes::string());
    /// let out =
    ///     driver.create_output_topic::<String, Option<String>>("out", Serdes::string(), Serdes::string());
    /// users.pipe_input("ann".to_string(), Some("eu".to_string()));
    /// users.pipe_input("ann".to_string(), Some("us".to_string()));
    /// users.pipe_input("ann".to_string(), None); // a tombstone deletes the row
    /// assert_eq!(out.read_values_to_list(), [Some("eu".to_string()), Some("us".to_string()), None]);
    /// ```
    pub fn to_stream(self) -> KStream<K, Option<V>> {
        let node = self
            .stream
            .add_child::<K, Option<V>, _, _>("KTABLE-TOSTREAM", || ToStream, vec![]);
        let value: Option<SharedSerde<Option<V>>> = self
            .value_serde
            .clone()
            .map(|v| Arc::new(NullableSerde(v)) as SharedSerde<Option<V>>);
        KStream::new(
            self.stream.graph.clone(),
            node,
            self.stream.key_serde.clone(),
            value,
            false,
        )
    }

    /// Re-keys the table for an aggregation: each row becomes the `(K2, V2)` of `selector`;
    /// when a row changes, its old pair is subtracted from its group and the new one added.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::string());
    /// builder
    ///     .table::<String, String>("users", consumed, Materialized::as_("users"))
    ///     .group_by(
    ///         |user, region| (region.clone(), user.clone()),
    ///         Grouped::with(Serdes::string(), Serdes::string()),
    ///     )
    ///     .count(Materialized::as_("users-per-region"))
    ///     .to_stream()
    ///     .to("counts", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let users =
    ///     driver.create_input_topic::<String, Option<String>>("users", Serdes::string(), Serdes::string());
    /// let counts = driver.create_output_topic::<String, i64>("counts", Serdes::string(), Serdes::i64());
    /// users.pipe_input("ann".to_string(), Some("eu".to_string()));
    /// users.pipe_input("ann".to_string(), Some("us".to_string())); // ann moves: eu -1, us +1
    /// let expected = [("eu".to_string(), 1), ("eu".to_string(), 0), ("us".to_string(), 1)];
    /// assert_eq!(counts.read_key_values_to_list(), expected);
    /// ```
    pub fn group_by<K2: Data, V2: Data>(
        self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2> {
        // Each change subtracts the row's old pair from its group.
        self.want_old_values();
        let f = Arc::new(selector);
        let node = self.stream.add_child(
            "KTABLE-SELECT",
            move || TableSelect {
                f: f.clone(),
                _out: PhantomData,
            },
            vec![],
        );
        let stream = KStream::<K2, Change<V2>>::new(self.stream.graph.clone(), node, None, None, true);
        KGroupedTable::new(stream, grouped)
    }
}

struct TableSource<K, V> {
    store: String,
    table: Option<TableStore<K, V>>,
    /// The record's key and value, serialized; reused (see the aggregations).
    key_buf: BytesMut,
    value_buf: BytesMut,
}

impl<K: Data, V: Data> Processor<K, Option<V>, K, Change<V>> for TableSource<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        self.table = Some(TableStore::new(ctx.get_state_store(&self.store)?));
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, r: Record<K, Option<V>>) -> Result<()> {
        let Some(table) = &mut self.table else {
            return Ok(());
        };
        self.key_buf.clear();
        if !table.store.key_into(&r.key, &mut self.key_buf)? {
            tracing::warn!(store = %self.store, "dropping a table record with a null key");
            return Ok(());
        }
        self.value_buf.clear();
        let new = match &r.value {
            Some(v) => table.store.value_into(v, &mut self.value_buf)?,
            None => false,
        };
        table.put_slice(
            ctx,
            &self.key_buf,
            new.then_some(&self.value_buf[..]),
            r.timestamp,
        )
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        match &mut self.table {
            Some(t) => t.flush(ctx),
            None => Ok(()),
        }
    }
}

/// Keeps a table's rows in a store for lookups (see [`KTable::lookup_store`]); forwards
/// nothing.
struct TableMaterializer<K, V> {
    store: String,
    rows: Option<KeyValueStore<K, V>>,
}

impl<K: Data, V: Data> Processor<K, Change<V>, K, Change<V>> for TableMaterializer<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        self.rows = Some(ctx.get_state_store(&self.store)?);
        Ok(())
    }

    fn process(&mut self, _ctx: &mut ProcessorContext<K, Change<V>>, r: Record<K, Change<V>>) -> Result<()> {
        let Some(rows) = &self.rows else {
            return Ok(());
        };
        match &r.value.new {
            Some(row) => rows.put(&r.key, row),
            None => rows.delete(&r.key).map(drop),
        }
    }
}

struct TableFilter<F> {
    f: Arc<F>,
    keep_when: bool,
}

impl<K: Data, V: Data, F: Fn(&K, &V) -> bool + 'static> Processor<K, Change<V>, K, Change<V>>
    for TableFilter<F>
{
    fn process(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, r: Record<K, Change<V>>) -> Result<()> {
        let keep = |v: &V| (self.f)(&r.key, v) == self.keep_when;
        let new = r.value.new.clone().filter(|v| keep(v));
        let old = r.value.old.clone().filter(|v| keep(v));
        if new.is_none() && old.is_none() {
            return Ok(());
        }
        ctx.forward(r.with_value(Change { new, old }))
    }
}

struct TableMapValues<F, V2> {
    f: Arc<F>,
    _out: PhantomData<fn() -> V2>,
}

impl<K: Data, V: Data, V2: Data, F: Fn(V) -> V2 + 'static> Processor<K, Change<V>, K, Change<V2>>
    for TableMapValues<F, V2>
{
    fn process(&mut self, ctx: &mut ProcessorContext<K, Change<V2>>, r: Record<K, Change<V>>) -> Result<()> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let change = Change {
            new: value.new.map(|v| (self.f)(v)),
            old: value.old.map(|v| (self.f)(v)),
        };
        ctx.forward(Record {
            key,
            value: change,
            timestamp,
            headers,
        })
    }
}

struct ToStream;

impl<K: Data, V: Data> Processor<K, Change<V>, K, Option<V>> for ToStream {
    fn process(&mut self, ctx: &mut ProcessorContext<K, Option<V>>, r: Record<K, Change<V>>) -> Result<()> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        ctx.forward(Record {
            key,
            value: value.new,
            timestamp,
            headers,
        })
    }
}

/// `KTable::group_by`: the old pair leaves its group, then the new pair joins its group.
struct TableSelect<F, K2, V2> {
    f: Arc<F>,
    _out: PhantomData<fn() -> (K2, V2)>,
}

impl<K, V, K2, V2, F> Processor<K, Change<V>, K2, Change<V2>> for TableSelect<F, K2, V2>
where
    K: Data,
    V: Data,
    K2: Data,
    V2: Data,
    F: Fn(&K, &V) -> (K2, V2) + 'static,
{
    fn process(&mut self, ctx: &mut ProcessorContext<K2, Change<V2>>, r: Record<K, Change<V>>) -> Result<()> {
        if let Some(old) = &r.value.old {
            let (k2, v2) = (self.f)(&r.key, old);
            let change = Change {
                new: None,
                old: Some(v2),
            };
            ctx.forward(Record {
                key: k2,
                value: change,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        if let Some(new) = &r.value.new {
            let (k2, v2) = (self.f)(&r.key, new);
            let change = Change {
                new: Some(v2),
                old: None,
            };
            ctx.forward(Record {
                key: k2,
                value: change,
                timestamp: r.timestamp,
                headers: r.headers,
            })?;
        }
        Ok(())
    }
}
