//! Windowed grouped streams and their aggregations: `KGroupedStream::windowed_by(..)` gives a
//! [`TimeWindowedKStream`] (for [`TimeWindows`] and [`SlidingWindows`]) or a
//! [`SessionWindowedKStream`], whose `count`, `reduce` and `aggregate` make a
//! `KTable<Windowed<K>, _>`, as Kafka Streams' `TimeWindowedKStream` and
//! `SessionWindowedKStream`.
//!
//! The aggregations' stores are window (or session) stores, changelogged to
//! `cleanup.policy=compact,delete` topics kept for the store's retention plus
//! `windowstore.changelog.additional.retention.ms`. A `Materialized` retention smaller than the
//! windows need is refused by `build()` with Kafka's message.

use std::sync::Arc;

use storage::store::Windowed;

use super::definitions::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows, millis};
use super::serde::{SessionWindowedSerde, TimeWindowedSerde};
use super::session_aggregate::{InitFn, MergeFn, SessionWindowAggregate};
use super::sliding_aggregate::SlidingWindowAggregate;
use super::time_aggregate::{TimeWindowAggregate, WindowAggFn};
use crate::grouped::KGroupedStream;
use crate::kstream::KStream;
use crate::ktable::{KTable, OldValues, materialize_kind};
use crate::processor::Data;
use crate::serde::{Serdes, SharedSerde};
use crate::state::{Materialized, StoreKind};
use crate::topology::builder::lock;

/// What a grouped stream can be windowed by (see [`KGroupedStream::windowed_by`]).
pub trait Windowing<K, V> {
    /// The windowed stream it makes.
    type Stream;
    fn window(self, grouped: KGroupedStream<K, V>) -> Self::Stream;
}

impl<K: Data, V: Data> Windowing<K, V> for TimeWindows {
    type Stream = TimeWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(grouped, TimeOrSliding::Time(self))
    }
}

impl<K: Data, V: Data> Windowing<K, V> for SlidingWindows {
    type Stream = TimeWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(grouped, TimeOrSliding::Sliding(self))
    }
}

impl<K: Data, V: Data> Windowing<K, V> for SessionWindows {
    type Stream = SessionWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            grouped,
            windows: self,
            emit: EmitStrategy::default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TimeOrSliding {
    Time(TimeWindows),
    Sliding(SlidingWindows),
}

impl TimeOrSliding {
    /// The windows' size as their store and windowed keys know it: a sliding window's is its
    /// time difference (its end is inclusive), as Kafka's `SlidingWindowedKStreamImpl` has it.
    fn size_ms(&self) -> i64 {
        match self {
            TimeOrSliding::Time(w) => w.size_ms,
            TimeOrSliding::Sliding(w) => w.time_difference_ms,
        }
    }

    fn grace_ms(&self) -> i64 {
        match self {
            TimeOrSliding::Time(w) => w.grace_ms,
            TimeOrSliding::Sliding(w) => w.grace_ms,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            TimeOrSliding::Time(w) => w.validate(),
            TimeOrSliding::Sliding(w) => w.validate(),
        }
    }

    /// The retention the windows need, and Kafka's refusal of a smaller one.
    fn check_retention(&self, store: &str, retention: i64) -> Result<(), String> {
        match self {
            TimeOrSliding::Time(w) if retention < w.default_retention_ms() => Err(format!(
                "The retention period of the window store {store} must be no smaller than its \
                 window size plus the grace period. Got size=[{}], grace=[{}], retention=[{retention}]",
                w.size_ms, w.grace_ms
            )),
            TimeOrSliding::Sliding(w) if retention < w.default_retention_ms() => Err(format!(
                "The retention period of the window store {store} must be no smaller than 2 * time \
                 difference plus the grace period. Got time difference=[{}], grace=[{}], retention=[{retention}]",
                w.time_difference_ms, w.grace_ms
            )),
            _ => Ok(()),
        }
    }

    fn default_retention_ms(&self) -> i64 {
        match self {
            TimeOrSliding::Time(w) => w.default_retention_ms(),
            TimeOrSliding::Sliding(w) => w.default_retention_ms(),
        }
    }

    /// How long the store keeps windows: the retention asked for, and for sliding windows at
    /// least `3 td + grace + 2`. A record that is not late (`t + td >= stream time - grace`)
    /// reads windows starting from `t - 2 td`, and the store's clock (its newest window start)
    /// is at most stream time + 1: with Kafka's `2 td + grace` some of those windows are already
    /// hidden, and the record is aggregated as if they did not exist (see
    /// `sliding_aggregate.rs`).
    fn store_retention_ms(&self, asked: i64) -> i64 {
        match self {
            TimeOrSliding::Time(_) => asked,
            TimeOrSliding::Sliding(w) => asked.max(
                w.time_difference_ms
                    .saturating_mul(3)
                    .saturating_add(w.grace_ms)
                    .saturating_add(2),
            ),
        }
    }
}

/// A grouped stream windowed by [`TimeWindows`] or [`SlidingWindows`], as Kafka's
/// `TimeWindowedKStream`.
///
/// ```
/// use std::time::Duration;
/// use stream_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
///     .group_by_key(Grouped::default())
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
///     .count(Materialized::as_("clicks-per-minute"))
///     .to_stream()
///     .to("counts", Produced::with(WindowedSerdes::time_windowed(Serdes::string(), 60_000), Serdes::i64()));
/// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
/// let clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::string());
/// clicks.pipe_input_at("ann".to_string(), "/a".to_string(), 1_000);
/// clicks.pipe_input_at("ann".to_string(), "/b".to_string(), 59_999);
/// clicks.pipe_input_at("ann".to_string(), "/c".to_string(), 60_000);
/// let counts = driver.create_output_topic::<Windowed<String>, i64>(
///     "counts",
///     WindowedSerdes::time_windowed(Serdes::string(), 60_000),
///     Serdes::i64(),
/// );
/// let starts: Vec<(i64, i64)> = counts
///     .read_key_values_to_list()
///     .into_iter()
///     .map(|(w, n)| (w.window.start, n))
///     .collect();
/// assert_eq!(starts, [(0, 1), (0, 2), (60_000, 1)]);
/// ```
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeOrSliding,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish()
    }
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    fn new(grouped: KGroupedStream<K, V>, windows: TimeOrSliding) -> Self {
        TimeWindowedKStream {
            grouped,
            windows,
            emit: EmitStrategy::default(),
        }
    }

    /// When the aggregation emits: every update (the default) or each window once, when it
    /// closes (KIP-825).
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts the records per key and window.
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let f: WindowAggFn<K, V, i64> = Arc::new(|_k, _v, agg| agg.unwrap_or(0) + 1);
        self.aggregate_with(
            f,
            materialized,
            Some(Arc::new(Serdes::i64()) as SharedSerde<i64>),
            "KSTREAM-AGGREGATE",
        )
    }

    /// Combines the values per key and window with `reducer(aggregate, value)`; a window's
    /// first value is its first aggregate.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let value = self.grouped.value_serde();
        let f: WindowAggFn<K, V, V> = Arc::new(move |_k, v, agg| match agg {
            None => v,
            Some(a) => reducer(a, v),
        });
        self.aggregate_with(f, materialized, value, "KSTREAM-REDUCE")
    }

    /// Folds the values per key and window into an aggregate that starts as `initializer()`.
    pub fn aggregate<VA: Data>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let f: WindowAggFn<K, V, VA> =
            Arc::new(move |k, v, agg| aggregator(k, v, agg.unwrap_or_else(&initializer)));
        self.aggregate_with(f, materialized, None, "KSTREAM-AGGREGATE")
    }

    fn aggregate_with<VA: Data>(
        self,
        f: WindowAggFn<K, V, VA>,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        prefix: &str,
    ) -> KTable<Windowed<K>, VA> {
        let graph = self.grouped.graph().clone();
        let windows = self.windows;
        let asked = materialized
            .retention
            .map_or_else(|| windows.default_retention_ms(), millis);
        let kind = StoreKind::Window {
            retention_ms: windows.store_retention_ms(asked),
            size_ms: windows.size_ms(),
            retain_duplicates: false,
            timestamped: true,
        };
        let key = self.grouped.key_serde();
        let (store, key, value) =
            materialize_kind(&graph, materialized, key, default_value_serde, prefix, kind);
        {
            let mut g = lock(&graph);
            if let Err(e) = windows
                .validate()
                .and_then(|()| windows.check_retention(&store, asked))
            {
                g.errors.push(e);
            }
        }
        let upstream = self.grouped.grouped_stream(&store);
        let (name, emit) = (store.clone(), self.emit);
        let old_values = OldValues::default();
        let old = old_values.clone();
        let node = match windows {
            TimeOrSliding::Time(w) => upstream.add_child(
                prefix,
                move || TimeWindowAggregate::new(name.clone(), w, f.clone(), emit, old.clone()),
                vec![store.clone()],
            ),
            TimeOrSliding::Sliding(w) => upstream.add_child(
                prefix,
                move || SlidingWindowAggregate::new(name.clone(), w, f.clone(), emit, old.clone()),
                vec![store.clone()],
            ),
        };
        lock(&graph).window_close.insert(node, windows.grace_ms());
        let size = windows.size_ms();
        let windowed_key = key.map(|k| Arc::new(TimeWindowedSerde::new(k, size)) as SharedSerde<Windowed<K>>);
        KTable {
            stream: KStream::new(graph, node, windowed_key, None, false),
            value_serde: value,
            store: Some(store),
            old_values: Some(old_values),
        }
    }
}

/// A grouped stream windowed by [`SessionWindows`], as Kafka's `SessionWindowedKStream`.
///
/// ```
/// use std::time::Duration;
/// use stream_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>("clicks", Consumed::with(Serdes::string(), Serdes::string()))
///     .group_by_key(Grouped::default())
///     .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(5)))
///     .count(Materialized::as_("sessions"));
/// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
/// let clicks = driver.create_input_topic("clicks", Serdes::string(), Serdes::string());
/// for t in [10, 12, 20, 16] {
///     clicks.pipe_input_at("ann".to_string(), "/".to_string(), t);
/// }
/// // 10 and 12 are one session. At stream time 20 it has closed (12 + 5 < 20), so 16 joins
/// // 20's session only.
/// let sessions = driver.session_store::<String, i64>("sessions").unwrap();
/// let all: Vec<(i64, i64, i64)> = sessions
///     .fetch(&"ann".to_string())
///     .unwrap()
///     .into_iter()
///     .map(|(w, n)| (w.start, w.end, n))
///     .collect();
/// assert_eq!(all, [(10, 12, 2), (16, 20, 2)]);
/// ```
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish()
    }
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    /// When the aggregation emits: every update (the default) or each session once, when it
    /// closes (KIP-825).
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts the records per key and session.
    pub fn count(self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let init: InitFn<i64> = Arc::new(|| Some(0));
        let f: WindowAggFn<K, V, i64> = Arc::new(|_k, _v, agg| agg.unwrap_or(0) + 1);
        let merge: MergeFn<K, i64> = Arc::new(|_k, a, b| a.unwrap_or(0) + b);
        let value = Some(Arc::new(Serdes::i64()) as SharedSerde<i64>);
        self.aggregate_with(init, f, merge, materialized, value, "KSTREAM-AGGREGATE")
    }

    /// Combines the values per key and session with `reducer`; merging sessions reduces
    /// their aggregates with it too.
    pub fn reduce(
        self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let value = self.grouped.value_serde();
        let reducer = Arc::new(reducer);
        let r = reducer.clone();
        let init: InitFn<V> = Arc::new(|| None);
        let f: WindowAggFn<K, V, V> = Arc::new(move |_k, v, agg| match agg {
            None => v,
            Some(a) => r(a, v),
        });
        let merge: MergeFn<K, V> = Arc::new(move |_k, a, b| match a {
            None => b,
            Some(a) => reducer(a, b),
        });
        self.aggregate_with(init, f, merge, materialized, value, "KSTREAM-REDUCE")
    }

    /// Folds the values per key and session into an aggregate that starts as
    /// `initializer()`; `merger(key, a, b)` combines the aggregates of sessions a record
    /// bridges, starting from `initializer()` (as Kafka calls it).
    pub fn aggregate<VA: Data>(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let initializer = Arc::new(initializer);
        let (i1, i2) = (initializer.clone(), initializer.clone());
        let init: InitFn<VA> = Arc::new(move || Some(i1()));
        let f: WindowAggFn<K, V, VA> =
            Arc::new(move |k, v, agg| aggregator(k, v, agg.unwrap_or_else(|| i2())));
        let merge: MergeFn<K, VA> = Arc::new(move |k, a, b| merger(k, a.unwrap_or_else(|| initializer()), b));
        self.aggregate_with(init, f, merge, materialized, None, "KSTREAM-AGGREGATE")
    }

    fn aggregate_with<VA: Data>(
        self,
        init: InitFn<VA>,
        f: WindowAggFn<K, V, VA>,
        merge: MergeFn<K, VA>,
        materialized: Materialized<K, VA>,
        default_value_serde: Option<SharedSerde<VA>>,
        prefix: &str,
    ) -> KTable<Windowed<K>, VA> {
        let graph = self.grouped.graph().clone();
        let windows = self.windows;
        let asked = materialized
            .retention
            .map_or_else(|| windows.default_retention_ms(), millis);
        // One millisecond more than asked: Kafka's store hides a session whose end is exactly
        // `stream time - gap - grace`, which its processor still treats as open (see
        // `session_aggregate.rs`).
        let kind = StoreKind::Session {
            retention_ms: asked.saturating_add(1),
        };
        let key = self.grouped.key_serde();
        let (store, key, value) =
            materialize_kind(&graph, materialized, key, default_value_serde, prefix, kind);
        {
            let mut g = lock(&graph);
            if let Err(e) = windows.validate() {
                g.errors.push(e);
            } else if asked < windows.default_retention_ms() {
                g.errors.push(format!(
                    "The retention period of the session store {store} must be no smaller than the \
                     session inactivity gap plus the grace period. Got gap=[{}], grace=[{}], retention=[{asked}]",
                    windows.gap_ms, windows.grace_ms
                ));
            }
        }
        let upstream = self.grouped.grouped_stream(&store);
        let (name, emit) = (store.clone(), self.emit);
        let old_values = OldValues::default();
        let old = old_values.clone();
        let node = upstream.add_child(
            prefix,
            move || {
                SessionWindowAggregate::new(
                    name.clone(),
                    windows,
                    init.clone(),
                    f.clone(),
                    merge.clone(),
                    emit,
                    old.clone(),
                )
            },
            vec![store.clone()],
        );
        lock(&graph)
            .window_close
            .insert(node, windows.grace_ms.saturating_add(windows.gap_ms));
        let windowed_key = key.map(|k| Arc::new(SessionWindowedSerde::new(k)) as SharedSerde<Windowed<K>>);
        KTable {
            stream: KStream::new(graph, node, windowed_key, None, false),
            value_serde: value,
            store: Some(store),
            old_values: Some(old_values),
        }
    }
}
