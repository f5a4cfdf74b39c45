//! The DSL benches' inputs, pipelines and timed runs (on the embedded cluster, or on a
//! network one through `KafkaCluster`).
//!
//! Two pipelines, the same ones `interop/.../bench/StreamsBench.java` builds with Kafka Streams:
//! - word count: lines → flat_map_values(split) → group_by(word) (a repartition topic) →
//!   count (RocksDB, record cache, changelog) → to_stream → `counts`;
//! - CDC aggregation: Debezium-style change events of an orders table → map_values(after) →
//!   `orders` → table (caching off, so every change of an order reaches the aggregate) →
//!   group_by(customer) → aggregate(+ adder, − subtractor) → to_stream → `customer-totals`.
//! - windowed counts over keyed, timestamped events ([`windowed_events`]): `events` →
//!   group_by_key → 1-minute tumbling windows, 10 s grace → count (RocksDB window store, record
//!   cache, changelog) → `win-counts`; and `slide-events` → group_by_key → 10-minute sliding
//!   windows, 10 s grace → count → `slide-counts`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use runnel::prelude::*;
use runnel::stream_core::BrokerConfig;
use runnel::stream_core::group::GroupConfig;
use serde::{Deserialize, Serialize};

pub const VOCABULARY: usize = 10_000;
/// Keys of the windowed-count inputs.
pub const WINDOW_KEYS: usize = 10_000;
/// Event time the windowed-count inputs span: 30 minutes.
pub const WINDOW_SPAN_MS: i64 = 30 * 60_000;
pub const TUMBLING_MS: u64 = 60_000;
pub const SLIDING_MS: u64 = 10 * 60_000;
pub const WINDOW_GRACE_MS: u64 = 10_000;

/// A xorshift64 generator: the inputs are the same on every run and every machine.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Where the windowed inputs' event time starts: the whole hour two hours ago. Recent, because
/// a broker deletes records older than its retention (Kafka's default 7 days) by their
/// timestamps, and would delete the input under the bench.
pub fn recent_t0() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let hour = 3_600_000;
    (now - 2 * hour) / hour * hour
}

/// `n` events `(key, timestamp)` over [`WINDOW_KEYS`] keys, spread evenly over
/// [`WINDOW_SPAN_MS`] of event time from `t0`, each up to 5 s out of order (within the 10 s
/// grace, so every event is counted).
pub fn windowed_events(n: usize, seed: u64, t0: i64) -> Vec<(String, i64)> {
    let mut rng = XorShift(seed | 1);
    let step = WINDOW_SPAN_MS as f64 / n.max(1) as f64;
    (0..n)
        .map(|i| {
            let key = format!("k{:05}", rng.below(WINDOW_KEYS));
            let jitter = rng.below(5_000) as i64;
            (key, t0 + (i as f64 * step) as i64 - jitter)
        })
        .collect()
}

/// `n` lines of 10 words each, drawn from a vocabulary of `VOCABULARY` words.
pub fn lines(n: usize) -> Vec<String> {
    let vocab: Vec<String> = (0..VOCABULARY).map(|i| format!("w{i:x}")).collect();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            (0..10)
                .map(|_| vocab[rng.below(VOCABULARY)].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// A row of the orders table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub amount_cents: i64,
    pub status: String,
}

/// Debezium's change-event envelope (the fields the pipeline reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub before: Option<Order>,
    pub after: Option<Order>,
    pub op: String,
    pub ts_ms: i64,
}

/// The aggregate per customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub orders: i64,
    pub revenue_cents: i64,
}

/// The CDC input: `(order_id, event JSON or None for Debezium's tombstone after a delete)`.
pub struct CdcInput {
    pub records: Vec<(String, Option<String>)>,
    /// The adder and subtractor calls these records imply: for each change of an order, one
    /// subtract if the order existed before and one add if it exists after.
    pub aggregator_calls: u64,
}

const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "delivered"];

/// About `events` change events over 300 customers: inserts (35%), updates that always change
/// the row — the amount, and a third of the time the customer — (50%), deletes followed by a
/// tombstone (15%).
pub fn cdc_input(events: usize) -> CdcInput {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut live: Vec<Order> = Vec::new();
    let mut next_id = 0u64;
    let mut records = Vec::with_capacity(events + events / 6);
    let mut present: HashMap<String, bool> = HashMap::new();
    let mut calls = 0u64;
    let customer = |rng: &mut XorShift| format!("c{:03}", rng.below(300));
    for i in 0..events {
        let r = rng.below(100);
        let ts_ms = 1_700_000_000_000 + i as i64;
        let (before, after, op) = if live.is_empty() || r < 35 {
            next_id += 1;
            let order = Order {
                order_id: format!("o{next_id:07}"),
                customer_id: customer(&mut rng),
                amount_cents: 100 + rng.below(100_000) as i64,
                status: STATUSES[0].to_owned(),
            };
            live.push(order.clone());
            (None, Some(order), "c")
        } else if r < 85 {
            let at = rng.below(live.len());
            let before = live[at].clone();
            let mut after = before.clone();
            after.amount_cents = 100 + rng.below(100_000) as i64;
            if rng.below(3) == 0 {
                after.customer_id = customer(&mut rng);
            }
            after.status = STATUSES[rng.below(STATUSES.len())].to_owned();
            live[at] = after.clone();
            (Some(before), Some(after), "u")
        } else {
            let at = rng.below(live.len());
            (Some(live.swap_remove(at)), None, "d")
        };
        let key = after
            .as_ref()
            .or(before.as_ref())
            .map(|o| o.order_id.clone())
            .unwrap_or_default();
        let exists_after = after.is_some();
        let event = ChangeEvent {
            before,
            after,
            op: op.to_owned(),
            ts_ms,
        };
        records.push((key.clone(), Some(serde_json::to_string(&event).unwrap())));
        let existed = present.insert(key.clone(), exists_after).unwrap_or(false);
        calls += u64::from(existed) + u64::from(exists_after);
        if op == "d" {
            // Debezium's tombstone, for compaction: a delete of a row already gone.
            records.push((key, None));
        }
    }
    CdcInput {
        records,
        aggregator_calls: calls,
    }
}

pub async fn cluster(dir: &Path) -> Cluster {
    let group = GroupConfig {
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    };
    Cluster::embedded_with(BrokerConfig::new(dir.join("broker")), group)
        .await
        .unwrap()
}

/// Produces `events` (key, timestamp; the value `v`) to `topic`, in order, and waits for them.
pub async fn produce_timed(cluster: &Cluster, topic: &str, events: &[(String, i64)]) {
    let producer = cluster
        .producer(ProducerConfig {
            linger: Duration::from_millis(20),
            batch_size: 256 << 10,
            ..Default::default()
        })
        .unwrap();
    for (key, timestamp) in events {
        let record = ProducerRecord::new(topic, bytes::Bytes::from_static(b"v"))
            .with_key(bytes::Bytes::copy_from_slice(key.as_bytes()))
            .with_timestamp(*timestamp);
        drop(producer.send(record).unwrap());
    }
    producer.flush().await;
}

/// Produces `records` (key, value; `None` is a null) to `topic`, in order, and waits for them.
pub async fn produce<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    cluster: &Cluster,
    topic: &str,
    records: impl IntoIterator<Item = (Option<K>, Option<V>)>,
) {
    let producer = cluster
        .producer(ProducerConfig {
            linger: Duration::from_millis(20),
            batch_size: 256 << 10,
            ..Default::default()
        })
        .unwrap();
    for (k, v) in records {
        let mut record = ProducerRecord::new(topic, Vec::new());
        record.key = k.map(|k| bytes::Bytes::copy_from_slice(k.as_ref()));
        record.value = v.map(|v| bytes::Bytes::copy_from_slice(v.as_ref()));
        drop(producer.send(record).unwrap());
    }
    producer.flush().await;
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Start until the first record was processed.
    pub startup: Duration,
    /// From then until every record was processed, scaled up by the records processed
    /// before the first look that saw one (see [`run`]).
    pub processing: Duration,
    /// CPU time of the whole process over `processing`, scaled alike.
    pub cpu: Duration,
    pub close: Duration,
}

impl Timing {
    /// Start to the end of `close()`.
    pub fn total(&self) -> Duration {
        self.startup + self.processing + self.close
    }
}

/// Runs `topology` until `done` says every record was processed. Under exactly-once the
/// commit interval is Kafka Streams' exactly-once default, 100 ms, set explicitly.
pub async fn run(
    cluster: impl Into<runnel::stream_dsl::Backend>,
    topology: Topology,
    app: &str,
    state: &Path,
    threads: usize,
    guarantee: ProcessingGuarantee,
    done: impl Fn(&Streams) -> bool,
) -> Timing {
    let mut config = StreamsConfig::new(app)
        .with_state_dir(state)
        .with_threads(threads)
        .with_processing_guarantee(guarantee);
    if guarantee == ProcessingGuarantee::ExactlyOnceV2 {
        config = config.with_commit_interval(Duration::from_millis(100));
    }
    let mut streams = Streams::new(topology, config, cluster);
    let start = Instant::now();
    streams.start().await.unwrap();
    // Until the first record, looked at every millisecond (the start-up column); after it,
    // every 10 ms. Looking every millisecond woke this thread and the timer's worker 2000
    // times a second, and with as many stream threads as cores each wake-up can preempt one
    // (a sched_switch trace showed those preemptions). The gain is within this host's noise
    // (docs/performance.md#how-the-dsl-is-measured), but the observer should not take the
    // pipeline's cores. A look 10 ms apart makes the end up to 10 ms late, under 0.5 % of a
    // row.
    let mut first: Option<(Instant, Duration, u64)> = None;
    while !done(&streams) {
        assert!(streams.error().is_none(), "{:?}", streams.error());
        let processed = streams.metrics().processed_records;
        if first.is_none() && processed > 0 {
            first = Some((Instant::now(), super::procfs::own_cpu(), processed));
        }
        let pause = if first.is_some() { 10 } else { 1 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let (first, cpu_at_first, before_first) = first.unwrap_or((start, Duration::ZERO, 0));
    // The records processed before the first look that saw one are outside the timed span:
    // both durations are scaled up to every record at the rate measured over the span.
    let total = streams.metrics().processed_records.max(1);
    let timed = total.saturating_sub(before_first).max(1) as f64 / total as f64;
    let processing = first.elapsed().div_f64(timed);
    let cpu = super::procfs::own_cpu()
        .saturating_sub(cpu_at_first)
        .div_f64(timed);
    let closing = Instant::now();
    streams.close().await.unwrap();
    Timing {
        startup: first - start,
        processing,
        cpu,
        close: closing.elapsed(),
    }
}

/// Done once `n` records (inputs and repartitioned ones) have been processed.
pub fn processed(n: u64) -> impl Fn(&Streams) -> bool {
    move |s| s.metrics().processed_records >= n
}

pub fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines", Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by(
            |_, w| w.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts", Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().unwrap()
}

/// The CDC aggregation over topic `orders.cdc`; `calls` counts the adder's and subtractor's
/// calls (the run is done when they reach [`CdcInput::aggregator_calls`]).
pub fn cdc_aggregation(calls: Arc<AtomicU64>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Option<ChangeEvent>>(
            "orders.cdc",
            Consumed::with(Serdes::string(), Serdes::json::<ChangeEvent>()),
        )
        .map_values(|event: Option<ChangeEvent>| event.and_then(|e| e.after))
        .to(
            "orders",
            Produced::with(Serdes::string(), Serdes::json::<Order>()),
        );
    let subtracted = calls.clone();
    builder
        .table::<String, Order>(
            "orders",
            Consumed::with(Serdes::string(), Serdes::json::<Order>()),
            Materialized::as_("orders-store").with_caching_disabled(),
        )
        .group_by(
            |_id, order: &Order| (order.customer_id.clone(), order.clone()),
            Grouped::with(Serdes::string(), Serdes::json::<Order>()),
        )
        .aggregate(
            Totals::default,
            move |_customer, order: Order, mut t: Totals| {
                calls.fetch_add(1, Ordering::Relaxed);
                t.orders += 1;
                t.revenue_cents += order.amount_cents;
                t
            },
            move |_customer, order: Order, mut t: Totals| {
                subtracted.fetch_add(1, Ordering::Relaxed);
                t.orders -= 1;
                t.revenue_cents -= order.amount_cents;
                t
            },
            Materialized::as_("customer-totals").with_value_serde(Serdes::json::<Totals>()),
        )
        .to_stream()
        .to(
            "customer-totals",
            Produced::with(Serdes::string(), Serdes::json::<Totals>()),
        );
    builder.build().unwrap()
}

/// Events per key and 1-minute tumbling window: `events` → `win-counts`.
pub fn tumbling_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(TUMBLING_MS),
            Duration::from_millis(WINDOW_GRACE_MS),
        ))
        .count(Materialized::as_("win-counts"))
        .to_stream()
        .to(
            "win-counts",
            Produced::with(
                WindowedSerdes::time_windowed(Serdes::string(), TUMBLING_MS as i64),
                Serdes::i64(),
            ),
        );
    builder.build().unwrap()
}

/// Events per key in every 10-minute sliding window: `slide-events` → `slide-counts`.
pub fn sliding_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("slide-events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::default())
        .windowed_by(SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(SLIDING_MS),
            Duration::from_millis(WINDOW_GRACE_MS),
        ))
        .count(Materialized::as_("slide-counts"))
        .to_stream()
        .to(
            "slide-counts",
            Produced::with(
                WindowedSerdes::time_windowed(Serdes::string(), SLIDING_MS as i64),
                Serdes::i64(),
            ),
        );
    builder.build().unwrap()
}

/// `stores` windowed counts (1-minute tumbling) of the same input `events`, each in its own
/// window store `w<i>`: the memory bench's application.
pub fn many_windowed_counts(stores: usize) -> Topology {
    let builder = StreamsBuilder::new();
    let events =
        builder.stream::<String, String>("events", Consumed::with(Serdes::string(), Serdes::string()));
    for i in 0..stores {
        events
            .clone()
            .group_by_key(Grouped::default())
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_millis(TUMBLING_MS),
                Duration::from_millis(WINDOW_GRACE_MS),
            ))
            .count(Materialized::as_(format!("w{i}")));
    }
    builder.build().unwrap()
}
