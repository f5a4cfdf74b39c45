//! Grouped streams and tables, and their aggregations into tables.
//!
//! A grouping whose key was changed upstream goes through a repartition topic first, so
//! every record of one key reaches the same task; a table grouping always does.

use std::sync::Arc;

use bytes::BytesMut;

use crate::error::Result;
use crate::kstream::{KStream, ReadAs};
use crate::ktable::{KTable, materialize};
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Record};
use crate::serde::change::ChangeSerde;
use crate::serde::{Serdes, SharedSerde};
use crate::state::Materialized;
use crate::state::cache::InPlace;
use crate::state::table::TableStore;
use crate::topology::Grouped;
use crate::topology::builder::lock;

/// A stream grouped by key, as Kafka's `KGroupedStream`.
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
    grouped: Grouped<K, V>,
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("node", &self.stream.node)
            .finish()
    }
}

/// `(key, value, current aggregate) → new aggregate`.
type StreamAggFn<K, V, VA> = Arc<dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync>;

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }

    /// Windows the grouped stream by time ([`TimeWindows`](crate::window::TimeWindows),
    /// [`SlidingWindows`](crate::window::SlidingWindows)) or by sessions
    /// ([`SessionWindows`](crate::window::SessionWindows)); its aggregations then keep one
    /// aggregate per key and window (see [`crate::window`]).
    pub fn windowed_by<W: crate::window::Windowing<K, V>>(self, windows: W) -> W::Stream {
        windows.window(self)
    }

    /// Counts the records per key.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .count(Materialized::as_("clicks-per-user"));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::string());
    /// for (user, page) in [("ann", "/a"), ("bob", "/b"), ("ann", "/c")] {
    ///     clicks.pipe_input(user.to_string(), page.to_string());
    /// }
    /// let store = driver.key_value_store::<String, i64>("clicks-per-user").unwrap();
    /// assert_eq!(store.all().unwrap(), [("ann".to_string(), 2), ("bob".to_string(), 1)]);
    /// ```
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let (value, prefix) = (
            Some(Arc::new(Serdes::i64()) as SharedSerde<i64>),
            "KSTREAM-AGGREGATE",
        );
        if !self.stream.repartition_required {
            return self.aggregate_with(count(), materialized, value, prefix);
        }
        // After a key change the count reads its repartition topic's keys as the bytes they
        // are, the bytes its store is keyed by, and does not read the values at all: nothing
        // a count computes depends on them. The keys are still checked with the key serde, so
        // a bad one reaches the deserialization handler as before; they are deserialized only
        // when a count goes downstream. In a word count, deserializing each word to a
        // `String` and serializing it back for the store (and the value, the same word again)
        // was an allocation, two UTF-8 checks and two copies per word. Kafka Streams
        // deserializes both.
        let graph = self.stream.graph.clone();
        let key = self.key_serde();
        let (store, key, value) = materialize(&graph, materialized, key, value, prefix);
        let read = key.clone().map(|k| ReadAs {
            key: Arc::new(KeyCheck(k)) as SharedSerde<KeyBytes>,
            value: Arc::new(UnreadSerde) as SharedSerde<Unread>,
            keep_key: true,
        });
        let upstream = self.repartitioned(&store, key.clone(), read);
        let name = store.clone();
        let node = upstream.add_child(
            prefix,
            move || CountKeyBytes::<K>::new(name.clone()),
            vec![store.clone()],
        );
        KTable {
            stream: KStream::new(graph, node, key, None, false),
            value_serde: value,
            store: Some(store),
            old_values: None,
        }
    }

    /// Combines the values per key with `reducer(aggregate, value)`; the first value of a key
    /// is its first aggregate.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, i64>("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .group_by_key(Grouped::default())
    ///     .reduce(|total, amount| total + amount, Materialized::as_("totals"))
    ///     .to_stream()
    ///     .to("totals", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let payments = driver.create_input_topic::<String, i64>("payments", Serdes::string(), Serdes::i64());
    /// let totals = driver.create_output_topic::<String, i64>("totals", Serdes::string(), Serdes::i64());
    /// payments.pipe_key_value_list([("ann".to_string(), 5), ("ann".to_string(), 7)]);
    /// assert_eq!(totals.read_key_values_to_list(), [("ann".to_string(), 5), ("ann".to_string(), 12)]);
    /// ```
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let value = self.grouped.value.clone().or(self.stream.value_serde.clone());
        let f: StreamAggFn<K, V, V> = Arc::new(move |_k, v, agg| match agg {
            None => v,
            Some(a) => reducer(a, v),
        });
        self.aggregate_with(f, materialized, value, "KSTREAM-REDUCE")
    }

    /// Folds the values per key into an aggregate that starts as `initializer()`.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("visits", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .aggregate(
    ///         String::new,
    ///         |_user, page, trail| trail + &page,
    ///         Materialized::as_("trails").with_value_serde(Serdes::string()),
    ///     )
    ///     .to_stream()
    ///     .to("trails", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let visits = driver.create_input_topic("visits", Serdes::string(), Serdes::string());
    /// let trails =
    ///     driver.create_output_topic::<String, String>("trails", Serdes::string(), Serdes::string());
    /// visits.pipe_input("ann".to_string(), "/a".to_string());
    /// visits.pipe_input("ann".to_string(), "/b".to_string());
    /// assert_eq!(trails.read_values_to_list(), ["/a", "/a/b"]);
    /// ```
    pub fn aggregate<VA: Data>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let f: StreamAggFn<K, V, VA> =
            Arc::new(move |k, v, agg| aggregator(k, v, agg.unwrap_or_else(&initializer)));
        self.aggregate_with(f, materialized, None, "KSTREAM-AGGREGATE")
    }

    fn aggregate_with<VA: Data>(
        self,
        f: StreamAggFn<K, V, VA>,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        prefix: &str,
    ) -> KTable<K, VA> {
        if self.stream.repartition_required {
            let read = self.grouped.value.clone().or(self.stream.value_serde.clone());
            return self.aggregate_repartitioned(read, f, materialized, default_value_serde, prefix);
        }
        let graph = self.stream.graph.clone();
        let key = self.grouped.key.clone().or(self.stream.key_serde.clone());
        let (store, key, value) = materialize(&graph, materialized, key, default_value_serde, prefix);
        add_aggregate(
            graph,
            self.stream.clone(),
            store,
            key,
            value,
            stream_fold(f),
            prefix,
        )
    }

    /// The aggregation of a stream whose key changed: through the repartition topic, whose
    /// source reads the values with `read` (the values' serde, or one that reads less).
    fn aggregate_repartitioned<W: Data, VA: Data>(
        self,
        read: Option<SharedSerde<W>>,
        f: StreamAggFn<K, W, VA>,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        prefix: &str,
    ) -> KTable<K, VA> {
        let graph = self.stream.graph.clone();
        let key = self.key_serde();
        let (store, key, value) = materialize(&graph, materialized, key, default_value_serde, prefix);
        let read = key.clone().zip(read).map(|(key, value)| ReadAs {
            key,
            value,
            keep_key: false,
        });
        let upstream = self.repartitioned(&store, key.clone(), read);
        add_aggregate(graph, upstream, store, key, value, stream_fold(f), prefix)
    }

    /// The stream an aggregation into `store` reads: this one, or, after a key change, the
    /// source of its repartition topic (named after the grouping, else the store).
    pub(crate) fn grouped_stream(&self, store: &str) -> KStream<K, V> {
        if !self.stream.repartition_required {
            return self.stream.clone();
        }
        let key = self.key_serde();
        let value = self.value_serde();
        let read = key.clone().zip(value).map(|(key, value)| ReadAs {
            key,
            value,
            keep_key: false,
        });
        self.repartitioned(store, key, read)
    }

    /// The grouping's value serde: the grouping's own, else the stream's.
    pub(crate) fn value_serde(&self) -> Option<SharedSerde<V>> {
        self.grouped.value.clone().or(self.stream.value_serde.clone())
    }

    pub(crate) fn graph(&self) -> &crate::topology::builder::SharedGraph {
        &self.stream.graph
    }

    /// The grouping's key serde: the grouping's own, else the stream's.
    pub(crate) fn key_serde(&self) -> Option<SharedSerde<K>> {
        self.grouped.key.clone().or(self.stream.key_serde.clone())
    }

    /// The stream through the repartition topic of the aggregation into `store`, written with
    /// `key` and the values' serde, read as `read` says.
    fn repartitioned<KR: Data, W: Data>(
        &self,
        store: &str,
        key: Option<SharedSerde<K>>,
        read: Option<ReadAs<KR, W>>,
    ) -> KStream<KR, W> {
        let name = self.grouped.name.clone().unwrap_or_else(|| store.to_owned());
        let written = self.grouped.value.clone().or(self.stream.value_serde.clone());
        let serdes = read.as_ref().map(|r| (r.key.clone(), r.value.clone()));
        // Without serdes the topology records an error and `build()` refuses it, so the
        // aggregation may then hang off the stream itself.
        let source = self
            .stream
            .through_topic_reading(&name, key, written, None, read)
            .unwrap_or(self.stream.node);
        let (key, value) = serdes.unzip();
        KStream::new(self.stream.graph.clone(), source, key, value, false)
    }
}

/// The count's fold, for any input.
fn count<K, In>() -> StreamAggFn<K, In, i64> {
    Arc::new(|_k, _v, agg: Option<i64>| agg.unwrap_or(0) + 1)
}

/// A stream aggregation's fold as the aggregate processor takes it (it never deletes a row).
fn stream_fold<K: 'static, In: 'static, VA: 'static>(f: StreamAggFn<K, In, VA>) -> AggFn<K, In, VA> {
    Arc::new(move |k, v, agg| Some(f(k, v, agg)))
}

/// Adds the aggregation of `upstream` (already grouped: every record of a key reaches one task)
/// into `store`.
fn add_aggregate<K: Data, In: Data, VA: Data>(
    graph: crate::topology::builder::SharedGraph,
    upstream: KStream<K, In>,
    store: String,
    key: Option<SharedSerde<K>>,
    value: Option<SharedSerde<VA>>,
    f: AggFn<K, In, VA>,
    prefix: &str,
) -> KTable<K, VA> {
    let name = store.clone();
    let node = upstream.add_child(
        prefix,
        move || Aggregate::new(name.clone(), f.clone()),
        vec![store.clone()],
    );
    KTable {
        stream: KStream::new(graph, node, key, None, false),
        value_serde: value,
        store: Some(store),
        old_values: None,
    }
}

/// A key its reader keeps as bytes (see [`KGroupedStream::count`]): the source checks that
/// they deserialize, and keeps them in the task for the processor after it.
#[derive(Debug, Clone, Copy)]
struct KeyBytes;

/// Reads a key as [`KeyBytes`]: checked with the key's serde, not deserialized.
struct KeyCheck<K>(SharedSerde<K>);

impl<K: Data> crate::serde::Serde<KeyBytes> for KeyCheck<K> {
    /// Never called: nothing writes a [`KeyBytes`] (the repartition sink writes the key).
    fn serialize(
        &self,
        _topic: &str,
        _value: &KeyBytes,
    ) -> std::result::Result<Option<bytes::Bytes>, crate::serde::SerdeError> {
        Ok(None)
    }

    fn deserialize(
        &self,
        topic: &str,
        data: Option<&[u8]>,
    ) -> std::result::Result<KeyBytes, crate::serde::SerdeError> {
        self.0.check(topic, data).map(|()| KeyBytes)
    }
}

/// A value its reader does not look at (see [`KGroupedStream::count`]).
#[derive(Debug, Clone, Copy)]
struct Unread;

/// Reads any bytes, or a null, as [`Unread`], without looking at them.
struct UnreadSerde;

impl crate::serde::Serde<Unread> for UnreadSerde {
    fn serialize(
        &self,
        _topic: &str,
        _value: &Unread,
    ) -> std::result::Result<Option<bytes::Bytes>, crate::serde::SerdeError> {
        Ok(None)
    }

    fn deserialize(
        &self,
        _topic: &str,
        _data: Option<&[u8]>,
    ) -> std::result::Result<Unread, crate::serde::SerdeError> {
        Ok(Unread)
    }
}

/// Both groupings' aggregation: `f` folds a record (a value, or a table update) into the
/// key's aggregate; `None` deletes the row.
type AggFn<K, In, VA> = Arc<dyn Fn(&K, In, Option<VA>) -> Option<VA> + Send + Sync>;

struct Aggregate<K, In, VA> {
    store: String,
    f: AggFn<K, In, VA>,
    table: Option<TableStore<K, VA>>,
    /// The record's key and new aggregate, serialized; reused, so that updating a cached
    /// aggregate allocates nothing (see [`crate::state::cache::RecordCache::put_slice`]).
    key_buf: BytesMut,
    value_buf: BytesMut,
}

impl<K, In, VA> Aggregate<K, In, VA> {
    fn new(store: String, f: AggFn<K, In, VA>) -> Self {
        Aggregate {
            store,
            f,
            table: None,
            key_buf: BytesMut::new(),
            value_buf: BytesMut::new(),
        }
    }
}

impl<K: Data, In: Data, VA: Data> Processor<K, In, K, Change<VA>> for Aggregate<K, In, VA> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, Change<VA>>) -> Result<()> {
        self.table = Some(TableStore::new(ctx.get_state_store(&self.store)?));
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<K, Change<VA>>, r: Record<K, In>) -> Result<()> {
        let Some(table) = &mut self.table else {
            return Ok(());
        };
        self.key_buf.clear();
        if !table.store.key_into(&r.key, &mut self.key_buf)? {
            tracing::warn!(store = %self.store, "dropping a record with a null key from an aggregation");
            return Ok(());
        }
        let old = table.store.get_by_bytes(&self.key_buf)?;
        let agg = (self.f)(&r.key, r.value, old);
        self.value_buf.clear();
        let new = match &agg {
            Some(a) => table.store.value_into(a, &mut self.value_buf)?,
            None => false,
        };
        table.put_slice(
            ctx,
            &self.key_buf,
            new.then_some(&self.value_buf[..]),
            r.timestamp,
        )
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<K, Change<VA>>) -> Result<()> {
        match &mut self.table {
            Some(t) => t.flush(ctx),
            None => Ok(()),
        }
    }
}

/// `count()` after a key change: counts into the store by the key bytes its source kept
/// (see [`KGroupedStream::count`]).
struct CountKeyBytes<K> {
    store: String,
    table: Option<TableStore<K, i64>>,
    /// The record's key, swapped in from the source (its spare buffer swapped back).
    key: Vec<u8>,
    value_buf: BytesMut,
}

impl<K> CountKeyBytes<K> {
    fn new(store: String) -> Self {
        CountKeyBytes {
            store,
            table: None,
            key: Vec::new(),
            value_buf: BytesMut::new(),
        }
    }
}

impl<K: Data> Processor<KeyBytes, Unread, K, Change<i64>> for CountKeyBytes<K> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, Change<i64>>) -> Result<()> {
        self.table = Some(TableStore::new(ctx.get_state_store(&self.store)?));
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<K, Change<i64>>,
        r: Record<KeyBytes, Unread>,
    ) -> Result<()> {
        let Record {
            timestamp, headers, ..
        } = r;
        crate::record::drop_headers(headers);
        let Some(table) = &mut self.table else {
            return Ok(());
        };
        if !ctx.shared.take_source_key(&mut self.key) {
            tracing::warn!(store = %self.store, "dropping a record with a null key from an aggregation");
            return Ok(());
        }
        let updated = table
            .store
            .update_in_place(&self.key, timestamp, &mut self.value_buf, |count| count + 1)?;
        match updated {
            InPlace::Done => return Ok(()),
            InPlace::Write { present } => {
                let new = present.then_some(&self.value_buf[..]);
                return table.put_slice(ctx, &self.key, new, timestamp);
            }
            InPlace::Skipped => {}
        }
        let count = table.store.get_by_bytes(&self.key)?.unwrap_or(0) + 1;
        self.value_buf.clear();
        let new = table.store.value_into(&count, &mut self.value_buf)?;
        table.put_slice(ctx, &self.key, new.then_some(&self.value_buf[..]), timestamp)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<K, Change<i64>>) -> Result<()> {
        match &mut self.table {
            Some(t) => t.flush(ctx),
            None => Ok(()),
        }
    }
}

/// A table re-grouped by a new key, as Kafka's `KGroupedTable`.
pub struct KGroupedTable<K, V> {
    stream: KStream<K, Change<V>>,
    grouped: Grouped<K, V>,
}

impl<K, V> std::fmt::Debug for KGroupedTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedTable")
            .field("node", &self.stream.node)
            .finish()
    }
}

/// `(key, update, current aggregate) → new aggregate` (`None`: the row is deleted).
type TableAggFn<K, V, VA> = AggFn<K, Change<V>, VA>;

impl<K: Data, V: Data> KGroupedTable<K, V> {
    pub(crate) fn new(stream: KStream<K, Change<V>>, grouped: Grouped<K, V>) -> Self {
        KGroupedTable { stream, grouped }
    }

    /// Counts the rows per key: +1 when a row joins the group, −1 when it leaves.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::i64());
    /// let by_team = builder // players "a1", "a2", ... play in team "a"
    ///     .table::<String, i64>("scores", consumed, Materialized::as_("scores"))
    ///     .group_by(
    ///         |player, score| (player[..1].to_string(), *score),
    ///         Grouped::with(Serdes::string(), Serdes::i64()),
    ///     );
    /// by_team.count(Materialized::as_("players")).to_stream().to("players", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let scores =
    ///     driver.create_input_topic::<String, Option<i64>>("scores", Serdes::string(), Serdes::i64());
    /// let players = driver.create_output_topic::<String, i64>("players", Serdes::string(), Serdes::i64());
    /// scores.pipe_input("a1".to_string(), Some(10));
    /// scores.pipe_input("a2".to_string(), Some(20));
    /// scores.pipe_input("a1".to_string(), None); // a1 leaves team a
    /// assert_eq!(players.read_values_to_list(), [1, 2, 1]);
    /// ```
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let f: TableAggFn<K, V, i64> = Arc::new(|_k, change, agg| {
            let mut n = agg.unwrap_or(0);
            if change.old.is_some() {
                n -= 1;
            }
            if change.new.is_some() {
                n += 1;
            }
            Some(n)
        });
        self.aggregate_with(f, materialized, Some(Arc::new(Serdes::i64())), "KTABLE-AGGREGATE")
    }

    /// Keeps one value per key: `adder(aggregate, new)` when a row joins, and
    /// `subtractor(aggregate, old)` when one leaves.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::i64());
    /// let by_team = builder // players "a1", "a2", ... play in team "a"
    ///     .table::<String, i64>("scores", consumed, Materialized::as_("scores"))
    ///     .group_by(
    ///         |player, score| (player[..1].to_string(), *score),
    ///         Grouped::with(Serdes::string(), Serdes::i64()),
    ///     );
    /// by_team
    ///     .reduce(|sum, score| sum + score, |sum, score| sum - score, Materialized::as_("team-totals"))
    ///     .to_stream()
    ///     .to("totals", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let scores =
    ///     driver.create_input_topic::<String, Option<i64>>("scores", Serdes::string(), Serdes::i64());
    /// let totals = driver.create_output_topic::<String, i64>("totals", Serdes::string(), Serdes::i64());
    /// scores.pipe_input("a1".to_string(), Some(10));
    /// scores.pipe_input("a2".to_string(), Some(20));
    /// scores.pipe_input("a1".to_string(), Some(15)); // 30 - 10 + 15
    /// assert_eq!(totals.read_values_to_list(), [10, 30, 35]);
    /// ```
    pub fn reduce(
        self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let value = self.grouped.value.clone();
        let f: TableAggFn<K, V, V> = Arc::new(move |_k, change, agg| {
            let mut agg = agg;
            if let Some(old) = change.old {
                agg = agg.map(|a| subtractor(a, old));
            }
            if let Some(new) = change.new {
                agg = Some(match agg {
                    None => new,
                    Some(a) => adder(a, new),
                });
            }
            agg
        });
        self.aggregate_with(f, materialized, value, "KTABLE-REDUCE")
    }

    /// Folds rows into an aggregate per key: `adder` when a row joins the group,
    /// `subtractor` when it leaves (an update of a row is a leave then a join).
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let consumed = Consumed::with(Serdes::string(), Serdes::i64());
    /// let by_team = builder // players "a1", "a2", ... play in team "a"
    ///     .table::<String, i64>("scores", consumed, Materialized::as_("scores"))
    ///     .group_by(
    ///         |player, score| (player[..1].to_string(), *score),
    ///         Grouped::with(Serdes::string(), Serdes::i64()),
    ///     );
    /// by_team
    ///     .aggregate(
    ///         || (0, 0), // (players, total score)
    ///         |_team, score, (n, sum)| (n + 1, sum + score),
    ///         |_team, score, (n, sum)| (n - 1, sum - score),
    ///         Materialized::as_("team-stats").with_value_serde(Serdes::json::<(i64, i64)>()),
    ///     )
    ///     .to_stream()
    ///     .to("stats", Produced::default());
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let scores =
    ///     driver.create_input_topic::<String, Option<i64>>("scores", Serdes::string(), Serdes::i64());
    /// let stats =
    ///     driver.create_output_topic::<String, (i64, i64)>("stats", Serdes::string(), Serdes::json());
    /// scores.pipe_input("a1".to_string(), Some(10));
    /// scores.pipe_input("a2".to_string(), Some(20));
    /// scores.pipe_input("a1".to_string(), None);
    /// assert_eq!(stats.read_values_to_list(), [(1, 10), (2, 30), (1, 20)]);
    /// ```
    pub fn aggregate<VA: Data>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let f: TableAggFn<K, V, VA> = Arc::new(move |k, change, agg| {
            let mut agg = agg.unwrap_or_else(&initializer);
            if let Some(old) = change.old {
                agg = subtractor(k, old, agg);
            }
            if let Some(new) = change.new {
                agg = adder(k, new, agg);
            }
            Some(agg)
        });
        self.aggregate_with(f, materialized, None, "KTABLE-AGGREGATE")
    }

    fn aggregate_with<VA: Data>(
        self,
        f: TableAggFn<K, V, VA>,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        prefix: &str,
    ) -> KTable<K, VA> {
        let graph = self.stream.graph.clone();
        let key = self.grouped.key.clone();
        let (store, key, value) = materialize(&graph, materialized, key, default_value_serde, prefix);
        let name = self.grouped.name.clone().unwrap_or_else(|| store.clone());
        let change_serde: Option<SharedSerde<Change<V>>> = self
            .grouped
            .value
            .clone()
            .map(|v| Arc::new(ChangeSerde(v)) as SharedSerde<Change<V>>);
        if change_serde.is_none() {
            lock(&graph).errors.push(format!(
                "grouping a table for store {store} needs key and value serdes: pass Grouped::with(key, value)"
            ));
        }
        let mut upstream = self.stream.clone();
        if let Some(source) = self
            .stream
            .through_topic(&name, key.clone(), change_serde.clone(), None)
        {
            upstream = KStream::new(graph.clone(), source, key.clone(), change_serde, false);
        }
        add_aggregate(graph, upstream, store, key, value, f, prefix)
    }
}
