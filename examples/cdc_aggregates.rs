//! Change data capture into live aggregates: a Debezium-style change stream of an `orders`
//! table becomes a table of orders, and that table is re-grouped by customer into running
//! totals (orders, revenue) that follow every insert, update and delete — including an order
//! that moves to another customer, which must leave the old customer's totals and join the
//! new one's.
//!
//! ```text
//! cargo run --example cdc_aggregates -- [DATA_DIR] [--events N] [--threads N]
//!
//!   orders.cdc  {"before":…,"after":…,"op":"c|u|d"} keyed by order_id (+ a tombstone per delete)
//!     ─▶ map_values(after)                      the row after the change; None for a delete
//!     ─▶ orders                                 a keyed topic: the rows, deletes as tombstones
//!     ═▶ table("orders-store")                  KTable<order_id, Order>
//!     ─▶ group_by(customer_id) ─▶ <app>-customer-totals-repartition
//!     ─▶ aggregate(+ row joins, − row leaves) ("customer-totals" store)
//!     ─▶ to_stream ─▶ customer-totals           KTable<customer_id, CustomerTotals> as a changelog
//! ```
//!
//! The events are generated with a fixed seed, and the final tables read back from the topics
//! are compared with a direct computation: the same events applied in order to a `HashMap` of
//! orders (which the rows left on `orders` must equal), then summed per customer (which the
//! latest values on `customer-totals` must equal). Amounts are integer cents, so the sums are
//! exact and must match to the cent; any difference is printed and exits non-zero.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runnel::prelude::*;
use serde::{Deserialize, Serialize};

#[path = "common/mod.rs"]
mod common;
const APP_ID: &str = "cdc-aggregates";
const CDC_TOPIC: &str = "orders.cdc";
const ORDERS_TOPIC: &str = "orders";
const TOTALS_TOPIC: &str = "customer-totals";
const PARTITIONS: i32 = 4;
const CUSTOMERS: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(600);
/// The time of the first change (2023-11-14), for the events' `ts_ms`.
const T0_MS: i64 = 1_700_000_000_000;

#[derive(Parser, Debug)]
#[command(
    about = "CDC events of an orders table aggregated per customer, checked against a direct computation"
)]
struct Args {
    /// Where the broker and the state stores keep their data (default: a temporary directory).
    data_dir: Option<PathBuf>,
    /// How many change events to generate (inserts, updates and deletes).
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Stream threads of the application.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// A row of the `orders` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Order {
    order_id: String,
    customer_id: String,
    amount_cents: i64,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pending,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl Status {
    /// The order's lifecycle; `None` once it is over.
    fn next(self, cancel: bool) -> Option<Status> {
        match self {
            Status::Pending | Status::Paid if cancel => Some(Status::Cancelled),
            Status::Pending => Some(Status::Paid),
            Status::Paid => Some(Status::Shipped),
            Status::Shipped => Some(Status::Delivered),
            Status::Delivered | Status::Cancelled => None,
        }
    }
}

/// Debezium's change-event envelope (the fields this example uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ChangeEvent {
    before: Option<Order>,
    after: Option<Order>,
    op: Op,
    ts_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Op {
    #[serde(rename = "c")]
    Create,
    #[serde(rename = "u")]
    Update,
    #[serde(rename = "d")]
    Delete,
}

/// The aggregate per customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CustomerTotals {
    orders: i64,
    revenue_cents: i64,
}

impl CustomerTotals {
    fn is_zero(&self) -> bool {
        *self == CustomerTotals::default()
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    common::init_tracing();
    let args = Args::parse();
    let (root, _temp) = common::data_dir(args.data_dir.as_deref())?;
    println!("Runnel CDC aggregates — data in {}\n", root.display());
    let cluster = common::open_cluster(&root).await?;
    let result = run(&cluster, &root, &args).await;
    cluster.shutdown().await;
    result
}

async fn run(cluster: &Cluster, root: &Path, args: &Args) -> Result<()> {
    let admin = cluster.admin();
    common::create_input(cluster, root, CDC_TOPIC, PARTITIONS)?;
    admin.create_topic(ORDERS_TOPIC, PARTITIONS, [])?;
    admin.create_topic(TOTALS_TOPIC, PARTITIONS, [])?;

    // 1. The change stream, and the reference computed from it.
    let mut db = OrdersDb::new(StdRng::seed_from_u64(7));
    let events: Vec<ChangeEvent> = (0..args.events).map(|_| db.next_event()).collect();
    let reference = reference_orders(&events)?;
    let expected = totals_per_customer(reference.values());

    // 2. The application, started before the changes arrive, as a CDC pipeline runs.
    let subtracted = Arc::new(AtomicU64::new(0));
    let topology = topology(subtracted.clone())?;
    let config = StreamsConfig::new(APP_ID)
        .with_state_dir(root.join("state"))
        .with_threads(args.threads)
        .with_commit_interval(Duration::from_millis(200));
    let mut streams = Streams::new(topology, config, cluster);
    let started = Instant::now();
    streams.start().await?;
    streams.wait_until_running(Duration::from_secs(30)).await?;
    let startup = started.elapsed();
    produce(cluster, &events).await?;
    println!(
        "produced {} change events to `{CDC_TOPIC}` in {:.2} s: {} inserts, {} updates ({} move an order to \
         another customer), {} deletes (each followed by a tombstone)",
        events.len(),
        (started.elapsed() - startup).as_secs_f64(),
        db.stats.inserts,
        db.stats.updates,
        db.stats.moves,
        db.stats.deletes,
    );
    common::wait_until_caught_up(cluster, &streams, APP_ID, &[CDC_TOPIC, ORDERS_TOPIC], TIMEOUT).await?;
    let elapsed = started.elapsed();
    let metrics = streams.metrics();
    streams.close().await?;
    println!(
        "processed them in {:.2} s from the start (running after {:.2} s; {} records processed incl. the \
         orders and repartition topics, {} commits; an order left a customer's totals {} times)",
        elapsed.as_secs_f64(),
        startup.as_secs_f64(),
        metrics.processed_records,
        metrics.commits,
        subtracted.load(Ordering::Relaxed)
    );

    // 3. The final table: the latest value per customer on the output topic. A customer whose
    //    orders are all gone shows zero totals (the aggregate is kept at 0/0), or would be
    //    absent had the aggregation deleted the row; both mean "no orders", so only non-zero
    //    rows are compared with the reference, which has customers with live orders only.
    let mut totals: BTreeMap<String, CustomerTotals> = BTreeMap::new();
    for (key, value) in common::read_latest(cluster, TOTALS_TOPIC, TIMEOUT).await? {
        let customer = String::from_utf8(key.to_vec()).context("a customer id that is not UTF-8")?;
        let Some(value) = value else { continue };
        let row: CustomerTotals = serde_json::from_slice(&value)
            .with_context(|| format!("the totals of {customer}: {}", String::from_utf8_lossy(&value)))?;
        if !row.is_zero() {
            totals.insert(customer, row);
        }
    }
    print_top(&totals, 15);
    check_orders(cluster, &reference).await?;
    check(&totals, &expected)?;
    println!(
        "\nevents {} · orders alive {} · customers with orders {} · {:.2} s · {:.0} events/s",
        events.len(),
        reference.len(),
        expected.len(),
        elapsed.as_secs_f64(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "the orders table and all {} customer totals match the direct computation",
        expected.len()
    );
    Ok(())
}

/// The pipeline; `subtracted` counts the subtractor's calls.
fn topology(subtracted: Arc<AtomicU64>) -> Result<Topology> {
    let builder = StreamsBuilder::new();
    // Debezium follows each delete with a tombstone, for compaction: hence `Option`.
    builder
        .stream::<String, Option<ChangeEvent>>(
            CDC_TOPIC,
            Consumed::with(Serdes::string(), Serdes::json::<ChangeEvent>()),
        )
        .map_values(|event: Option<ChangeEvent>| event.and_then(|e| e.after))
        .to(
            ORDERS_TOPIC,
            Produced::with(Serdes::string(), Serdes::json::<Order>()),
        );
    builder
        .table::<String, Order>(
            ORDERS_TOPIC,
            Consumed::with(Serdes::string(), Serdes::json::<Order>()),
            // Uncached, so that every change of an order reaches the aggregation as its old
            // and new row (a cache would collapse an order's changes between two commits into
            // one): the subtract-then-add path, and each move between customers, is what this
            // example checks.
            Materialized::as_("orders-store").with_caching_disabled(),
        )
        .group_by(
            |_order_id, order: &Order| (order.customer_id.clone(), order.clone()),
            Grouped::with(Serdes::string(), Serdes::json::<Order>()),
        )
        .aggregate(
            CustomerTotals::default,
            |_customer, order: Order, mut totals: CustomerTotals| {
                totals.orders += 1;
                totals.revenue_cents += order.amount_cents;
                totals
            },
            move |_customer, order: Order, mut totals: CustomerTotals| {
                subtracted.fetch_add(1, Ordering::Relaxed);
                totals.orders -= 1;
                totals.revenue_cents -= order.amount_cents;
                totals
            },
            Materialized::as_("customer-totals").with_value_serde(Serdes::json::<CustomerTotals>()),
        )
        .to_stream()
        .to(
            TOTALS_TOPIC,
            Produced::with(Serdes::string(), Serdes::json::<CustomerTotals>()),
        );
    Ok(builder.build()?)
}

#[derive(Debug, Default)]
struct EventStats {
    inserts: usize,
    updates: usize,
    moves: usize,
    deletes: usize,
}

/// A simulated `orders` table that emits a change event per write: mostly status changes and
/// amount corrections, some orders moved to another customer, a steady trickle of new orders
/// and deletes. Customers are skewed, so a few have many orders.
struct OrdersDb {
    rng: StdRng,
    rows: HashMap<String, Order>,
    /// The live order ids, to pick one at random in a reproducible order.
    alive: Vec<String>,
    next_id: u64,
    clock_ms: i64,
    stats: EventStats,
}

impl OrdersDb {
    fn new(rng: StdRng) -> OrdersDb {
        OrdersDb {
            rng,
            rows: HashMap::new(),
            alive: Vec::new(),
            next_id: 1,
            clock_ms: T0_MS,
            stats: EventStats::default(),
        }
    }

    fn next_event(&mut self) -> ChangeEvent {
        self.clock_ms += self.rng.random_range(1..50);
        let roll = self.rng.random_range(0..1000);
        if self.alive.is_empty() || roll < 40 {
            return self.insert();
        }
        let index = self.rng.random_range(0..self.alive.len());
        if roll < 55 {
            return self.delete(index);
        }
        let before = self.rows[&self.alive[index]].clone();
        let mut after = before.clone();
        if roll < 140 {
            let customer = self.random_customer();
            if customer == before.customer_id {
                after.amount_cents += 100;
            } else {
                self.stats.moves += 1;
                after.customer_id = customer;
            }
        } else {
            let next = if roll < 500 {
                None
            } else {
                before.status.next(self.rng.random_bool(0.1))
            };
            match next {
                Some(status) => after.status = status,
                // An amount correction (a discount, a fee): this is also what a status
                // change becomes once the order's lifecycle is over.
                None => {
                    after.amount_cents = (after.amount_cents + self.rng.random_range(-2_000..=2_000)).max(100)
                }
            }
        }
        self.stats.updates += 1;
        self.rows.insert(after.order_id.clone(), after.clone());
        self.event(Some(before), Some(after), Op::Update)
    }

    fn insert(&mut self) -> ChangeEvent {
        let order = Order {
            order_id: format!("order-{:07}", self.next_id),
            customer_id: self.random_customer(),
            amount_cents: self.rng.random_range(500..50_000),
            status: Status::Pending,
        };
        self.next_id += 1;
        self.stats.inserts += 1;
        self.alive.push(order.order_id.clone());
        self.rows.insert(order.order_id.clone(), order.clone());
        self.event(None, Some(order), Op::Create)
    }

    fn delete(&mut self, index: usize) -> ChangeEvent {
        let id = self.alive.swap_remove(index);
        let before = self.rows.remove(&id);
        self.stats.deletes += 1;
        self.event(before, None, Op::Delete)
    }

    fn random_customer(&mut self) -> String {
        let u: f64 = self.rng.random();
        format!("customer-{:04}", (u * u * CUSTOMERS as f64) as usize + 1)
    }

    fn event(&self, before: Option<Order>, after: Option<Order>, op: Op) -> ChangeEvent {
        ChangeEvent {
            before,
            after,
            op,
            ts_ms: self.clock_ms,
        }
    }
}

impl ChangeEvent {
    fn order_id(&self) -> Result<&str> {
        let row = self.after.as_ref().or(self.before.as_ref());
        Ok(&row
            .context("a change event with neither a before nor an after image")?
            .order_id)
    }
}

/// The same events applied in order to a plain map of orders.
fn reference_orders(events: &[ChangeEvent]) -> Result<HashMap<String, Order>> {
    let mut orders: HashMap<String, Order> = HashMap::new();
    for event in events {
        match (&event.op, &event.after) {
            (Op::Create | Op::Update, Some(after)) => {
                orders.insert(after.order_id.clone(), after.clone());
            }
            (Op::Delete, None) => {
                orders.remove(event.order_id()?);
            }
            (op, after) => bail!("a malformed change event: op {op:?} with after {after:?}"),
        }
    }
    Ok(orders)
}

/// The live orders summed per customer.
fn totals_per_customer<'a>(orders: impl IntoIterator<Item = &'a Order>) -> BTreeMap<String, CustomerTotals> {
    let mut totals: BTreeMap<String, CustomerTotals> = BTreeMap::new();
    for order in orders {
        let row = totals.entry(order.customer_id.clone()).or_default();
        row.orders += 1;
        row.revenue_cents += order.amount_cents;
    }
    totals
}

async fn produce(cluster: &Cluster, events: &[ChangeEvent]) -> Result<()> {
    let producer = cluster.producer(ProducerConfig::default())?;
    let mut deliveries = Vec::with_capacity(events.len() + events.len() / 50);
    for event in events {
        let key = Bytes::copy_from_slice(event.order_id()?.as_bytes());
        let value = serde_json::to_vec(event)?;
        let record = ProducerRecord::new(CDC_TOPIC, value)
            .with_key(key.clone())
            .with_timestamp(event.ts_ms);
        deliveries.push(producer.send(record)?);
        if event.op == Op::Delete {
            let tombstone = ProducerRecord::tombstone(CDC_TOPIC, key).with_timestamp(event.ts_ms);
            deliveries.push(producer.send(tombstone)?);
        }
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await?;
    }
    producer.close().await;
    Ok(())
}

/// `123456` → `"1,234.56"`.
fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let whole = (cents.abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}.{:02}", cents.abs() % 100)
}

fn print_top(totals: &BTreeMap<String, CustomerTotals>, n: usize) {
    let mut rows: Vec<(&String, &CustomerTotals)> = totals.iter().collect();
    rows.sort_by(|a, b| b.1.revenue_cents.cmp(&a.1.revenue_cents).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .take(n)
        .map(|(c, _)| c.len())
        .max()
        .unwrap_or(0)
        .max("customer".len());
    println!("\ntop {n} customers by revenue of their live orders:");
    println!(
        "{:>4}  {:<width$}  {:>6}  {:>14}",
        "rank", "customer", "orders", "revenue"
    );
    for (rank, (customer, t)) in rows.iter().take(n).enumerate() {
        println!(
            "{:>4}  {customer:<width$}  {:>6}  {:>14}",
            rank + 1,
            t.orders,
            dollars(t.revenue_cents)
        );
    }
    let orders: i64 = totals.values().map(|t| t.orders).sum();
    let revenue: i64 = totals.values().map(|t| t.revenue_cents).sum();
    println!(
        "{:>4}  {:<width$}  {orders:>6}  {:>14}  ({} customers)",
        "",
        "total",
        dollars(revenue),
        totals.len()
    );
}

/// The intermediate table: the latest row per order on the `orders` topic, tombstones
/// deleting, must be the reference's live orders.
async fn check_orders(cluster: &Cluster, reference: &HashMap<String, Order>) -> Result<()> {
    let mut diffs = Vec::new();
    let mut live = 0;
    for (key, value) in common::read_latest(cluster, ORDERS_TOPIC, TIMEOUT).await? {
        let id = String::from_utf8_lossy(&key).into_owned();
        let row: Option<Order> = value
            .map(|v| serde_json::from_slice(&v))
            .transpose()
            .with_context(|| format!("the row of {id} on `{ORDERS_TOPIC}`"))?;
        live += usize::from(row.is_some());
        if row.as_ref() != reference.get(&id) {
            diffs.push(format!(
                "  {id}: topic {row:?}, reference {:?}",
                reference.get(&id)
            ));
        }
    }
    if !diffs.is_empty() {
        diffs.sort();
        bail!(
            "{} orders on `{ORDERS_TOPIC}` differ from the reference:\n{}",
            diffs.len(),
            common::first_diffs(&diffs)
        );
    }
    ensure!(
        live == reference.len(),
        "`{ORDERS_TOPIC}` holds {live} live orders, the reference {}",
        reference.len()
    );
    Ok(())
}

fn check(
    actual: &BTreeMap<String, CustomerTotals>,
    expected: &BTreeMap<String, CustomerTotals>,
) -> Result<()> {
    let mut diffs: Vec<String> = Vec::new();
    for (customer, want) in expected {
        match actual.get(customer) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("  {customer}: pipeline {got:?}, reference {want:?}")),
            None => diffs.push(format!(
                "  {customer}: no orders in the pipeline's output, reference {want:?}"
            )),
        }
    }
    for (customer, got) in actual {
        if !expected.contains_key(customer) {
            diffs.push(format!(
                "  {customer}: pipeline {got:?}, but no live orders in the reference"
            ));
        }
    }
    if !diffs.is_empty() {
        diffs.sort();
        bail!(
            "{} customer totals differ from the direct computation:\n{}",
            diffs.len(),
            common::first_diffs(&diffs)
        );
    }
    Ok(())
}
