//! `TopologyTestDriver`: runs a topology synchronously, with no broker, as Kafka Streams'
//! test driver — for unit tests of pipelines.
//!
//! Each sub-topology runs as one task (partition 0). Records written to a topic that the
//! topology reads (its repartition topics, say) are fed back at once; after every input
//! record the driver commits, so record caches flush and outputs appear right away. Every
//! store is kept in memory whatever its declared type, so tests need no disk.
//!
//! ```
//! use stream_dsl::prelude::*;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
//!     .map_values(|v| v.to_uppercase())
//!     .to("out", Produced::with(Serdes::string(), Serdes::string()));
//! let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
//! let input = driver.create_input_topic("in", Serdes::string(), Serdes::string());
//! let output = driver.create_output_topic("out", Serdes::string(), Serdes::string());
//! input.pipe_input("k".to_string(), "hello".to_string());
//! assert_eq!(output.read_key_value(), Some(("k".to_string(), "HELLO".to_string())));
//! assert!(output.is_empty());
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Result, StreamsError};
use crate::processor::{OutRecord, PunctuationType, TaskId};
use crate::record::{Header, Record};
use crate::serde::{Serde, SharedSerde};
use crate::state::{ChangelogRecord, KeyValueStore, Placement, SessionStore, StoreOpener, WindowStore};
use crate::task::Task;
use crate::topology::Topology;

/// See the module docs.
pub struct TopologyTestDriver {
    inner: Rc<RefCell<Driver>>,
}

impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopologyTestDriver")
    }
}

struct Driver {
    topology: Topology,
    application_id: String,
    tasks: Vec<Task>,
    outputs: HashMap<String, VecDeque<OutRecord>>,
    offsets: HashMap<String, i64>,
    wall_clock: i64,
    closed: bool,
    /// Records dropped by the tasks' processors, counted so far.
    dropped: Cell<u64>,
}

/// The `application.id` the driver runs under (it prefixes internal topic names).
pub const TEST_APPLICATION_ID: &str = "test-driver";

impl TopologyTestDriver {
    pub fn new(topology: Topology) -> Result<TopologyTestDriver> {
        TopologyTestDriver::with_wall_clock(topology, 0)
    }

    /// A driver whose mocked wall clock starts at `wall_clock_ms`.
    pub fn with_wall_clock(topology: Topology, wall_clock_ms: i64) -> Result<TopologyTestDriver> {
        TopologyTestDriver::build(topology, wall_clock_ms, BTreeMap::new())
    }

    /// A driver whose stores start from changelogs, as after a restart on a machine without
    /// local state: `changelogs` maps a store's name to its changelog's records `(key, value,
    /// timestamp)`, in order, and they are restored (no cache, no changelog, no processing)
    /// *before* any processor starts, so the processors see the restored state as they would
    /// after a restore — a suppression buffer its entries, a windowed aggregation its stream
    /// time. To check that a changelog written elsewhere (by Kafka Streams, say) restores into
    /// a store, and what the topology does next.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key(Grouped::default())
    ///     .count(Materialized::as_("counts"));
    /// let changelog = vec![(b"k".to_vec(), Some(7i64.to_be_bytes().to_vec()), 0)];
    /// let driver = TopologyTestDriver::with_restored_stores(
    ///     builder.build().unwrap(),
    ///     [("counts".to_string(), changelog)],
    /// )
    /// .unwrap();
    /// driver
    ///     .create_input_topic("in", Serdes::string(), Serdes::string())
    ///     .pipe_input("k".to_string(), "v".to_string());
    /// let counts = driver.key_value_store::<String, i64>("counts").unwrap();
    /// assert_eq!(counts.get(&"k".to_string()).unwrap(), Some(8));
    /// ```
    pub fn with_restored_stores(
        topology: Topology,
        changelogs: impl IntoIterator<Item = (String, Vec<(Vec<u8>, Option<Vec<u8>>, i64)>)>,
    ) -> Result<TopologyTestDriver> {
        let changelogs = changelogs
            .into_iter()
            .map(|(store, records)| {
                let batch = records
                    .into_iter()
                    .map(|(key, value, timestamp)| ChangelogRecord {
                        key: Bytes::from(key),
                        value: value.map(Bytes::from),
                        timestamp,
                    })
                    .collect();
                (store, batch)
            })
            .collect();
        TopologyTestDriver::build(topology, 0, changelogs)
    }

    fn build(
        topology: Topology,
        wall_clock_ms: i64,
        mut changelogs: BTreeMap<String, Vec<ChangelogRecord>>,
    ) -> Result<TopologyTestDriver> {
        let application_id = TEST_APPLICATION_ID.to_string();
        let mut tasks = Vec::new();
        for sub in &topology.subtopologies {
            let id = TaskId {
                subtopology: sub.id,
                partition: 0,
            };
            let mut opener = StoreOpener::new(&application_id, id, 10 << 20, Placement::Memory);
            let mut task = Task::new(&topology, id, &application_id, &mut opener, None)?;
            task.shared.wall_clock.set(wall_clock_ms);
            for (name, store) in &task.stores {
                if let Some(batch) = changelogs.remove(name) {
                    store.borrow_mut().restore(&batch)?;
                }
            }
            task.init()?;
            tasks.push(task);
        }
        if let Some(name) = changelogs.keys().next() {
            return Err(StreamsError::StoreAccess {
                processor: "TopologyTestDriver".into(),
                store: name.clone(),
                reason: "no such store to restore".into(),
            });
        }
        let driver = Driver {
            topology,
            application_id,
            tasks,
            outputs: HashMap::new(),
            offsets: HashMap::new(),
            wall_clock: wall_clock_ms,
            closed: false,
            dropped: Cell::new(0),
        };
        Ok(TopologyTestDriver {
            inner: Rc::new(RefCell::new(driver)),
        })
    }

    pub fn create_input_topic<K, V>(
        &self,
        topic: &str,
        key: impl Serde<K>,
        value: impl Serde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            driver: self.inner.clone(),
            topic: topic.to_owned(),
            key: Arc::new(key),
            value: Arc::new(value),
            time: Cell::new(0),
        }
    }

    pub fn create_output_topic<K, V>(
        &self,
        topic: &str,
        key: impl Serde<K>,
        value: impl Serde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic {
            driver: self.inner.clone(),
            topic: topic.to_owned(),
            key: Arc::new(key),
            value: Arc::new(value),
        }
    }

    /// The store `name` of the task that holds it, read and written as `K`/`V`.
    pub fn key_value_store<K: 'static, V: 'static>(&self, name: &str) -> Result<KeyValueStore<K, V>> {
        self.store(name, |store, shared| KeyValueStore::open(store, shared))
    }

    /// A window store of the topology (Kafka's `getWindowStore`/`getTimestampedWindowStore`).
    pub fn window_store<K: 'static, V: 'static>(&self, name: &str) -> Result<WindowStore<K, V>> {
        self.store(name, |store, _| WindowStore::open(store))
    }

    /// A session store of the topology (Kafka's `getSessionStore`).
    pub fn session_store<K: 'static, V: 'static>(&self, name: &str) -> Result<SessionStore<K, V>> {
        self.store(name, |store, _| SessionStore::open(store))
    }

    /// The first task's instance of store `name`, opened by `open` (the driver runs one task
    /// per sub-topology, partition 0).
    fn store<S>(
        &self,
        name: &str,
        open: impl FnOnce(Rc<RefCell<crate::state::StateStore>>, Rc<crate::processor::TaskShared>) -> Option<S>,
    ) -> Result<S> {
        let d = self.inner.borrow();
        for task in &d.tasks {
            if let Some(store) = task.stores.get(name) {
                return open(store.clone(), task.shared.clone()).ok_or_else(|| StreamsError::StoreAccess {
                    processor: "TopologyTestDriver".into(),
                    store: name.into(),
                    reason: "the store is of another kind or was declared with other key or value types"
                        .into(),
                });
            }
        }
        Err(StreamsError::StoreAccess {
            processor: "TopologyTestDriver".into(),
            store: name.into(),
            reason: "no such store".into(),
        })
    }

    /// Records the topology's processors dropped so far (Kafka's `dropped-records-total` of
    /// the driver's tasks): late records, records without a key where one is needed.
    pub fn dropped_records(&self) -> u64 {
        let d = self.inner.borrow();
        d.dropped
            .set(d.dropped.get() + d.tasks.iter().map(|t| t.shared.take_dropped()).sum::<u64>());
        d.dropped.get()
    }

    /// Closes the topology, as Kafka's `TopologyTestDriver.close()`: every processor's
    /// `close` runs (the tasks committed after each input already). What the topology wrote
    /// stays readable; piping or advancing the wall clock afterwards is an error. Closing
    /// twice does nothing.
    pub fn close(&self) -> Result<()> {
        let mut d = self.inner.borrow_mut();
        if std::mem::replace(&mut d.closed, true) {
            return Ok(());
        }
        for task in &mut d.tasks {
            task.close()?;
        }
        Ok(())
    }

    /// Moves the mocked wall clock on, firing wall-clock punctuations that fall due.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<()> {
        let mut d = self.inner.borrow_mut();
        d.check_open()?;
        d.wall_clock = d
            .wall_clock
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        let now = d.wall_clock;
        for i in 0..d.tasks.len() {
            d.tasks[i].shared.wall_clock.set(now);
            d.tasks[i].punctuate(PunctuationType::WallClockTime, now)?;
        }
        d.settle(VecDeque::new())
    }

    /// The topology's description.
    pub fn describe(&self) -> String {
        self.inner.borrow().topology.describe()
    }
}

struct Pending {
    topic: String,
    key: Option<Bytes>,
    value: Option<Bytes>,
    timestamp: i64,
    headers: Vec<Header>,
}

impl Driver {
    fn check_open(&self) -> Result<()> {
        match self.closed {
            true => Err(StreamsError::IllegalState {
                state: crate::runtime::State::NotRunning,
                what: "the test driver is closed",
            }),
            false => Ok(()),
        }
    }

    fn task_for(&self, topic: &str) -> Option<usize> {
        self.topology.subtopology_of(&self.application_id, topic)
    }

    /// Processes `queue` and everything it leads to, then commits until nothing moves.
    fn settle(&mut self, mut queue: VecDeque<Pending>) -> Result<()> {
        loop {
            while let Some(p) = queue.pop_front() {
                let Some(t) = self.task_for(&p.topic) else {
                    continue;
                };
                let offset = {
                    let o = self.offsets.entry(p.topic.clone()).or_insert(0);
                    *o += 1;
                    *o - 1
                };
                let task = &mut self.tasks[t];
                let source = task.source(&p.topic).ok_or_else(|| {
                    StreamsError::Topology(format!("task {} does not read topic {}", task.id, p.topic))
                })?;
                let (key, value) = (p.key.as_deref(), p.value.as_deref());
                let topic = Arc::from(p.topic.as_str());
                Task::process_from(
                    &task.shared,
                    &source,
                    &topic,
                    0,
                    offset,
                    key,
                    value,
                    p.timestamp,
                    p.headers,
                )?;
                let st = task.shared.stream_time.get();
                task.punctuate(PunctuationType::StreamTime, st)?;
                self.route(t, &mut queue);
            }
            for t in 0..self.tasks.len() {
                self.tasks[t].flush()?;
                self.route(t, &mut queue);
            }
            if queue.is_empty() {
                return Ok(());
            }
        }
    }

    fn route(&mut self, task: usize, queue: &mut VecDeque<Pending>) {
        for r in self.tasks[task].take_output() {
            if self.task_for(&r.topic).is_some() {
                queue.push_back(Pending {
                    topic: r.topic.to_string(),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    timestamp: r.timestamp,
                    headers: r.headers.clone(),
                });
            }
            self.outputs.entry(r.topic.to_string()).or_default().push_back(r);
        }
    }
}

/// Feeds records to a topic of the driver, as Kafka's `TestInputTopic`. Records get the
/// topic's current time (0 at first; see [`TestInputTopic::advance_time`]) unless given
/// one.
pub struct TestInputTopic<K, V> {
    driver: Rc<RefCell<Driver>>,
    topic: String,
    key: SharedSerde<K>,
    value: SharedSerde<V>,
    time: Cell<i64>,
}

impl<K, V> std::fmt::Debug for TestInputTopic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestInputTopic")
            .field("topic", &self.topic)
            .finish()
    }
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    /// Pipes a record and processes it (and all it causes) before returning.
    ///
    /// # Panics
    /// When processing fails; [`TestInputTopic::try_pipe_record`] returns the error instead.
    pub fn pipe_input(&self, key: K, value: V) {
        self.pipe_input_at(key, value, self.time.get());
    }

    /// # Panics
    /// As [`TestInputTopic::pipe_input`].
    pub fn pipe_input_at(&self, key: K, value: V, timestamp: i64) {
        if let Err(e) = self.try_pipe_record(Record::new(key, value, timestamp)) {
            panic!("processing a record piped to {}: {e}", self.topic);
        }
    }

    /// Pipes each pair in order.
    pub fn pipe_key_value_list(&self, records: impl IntoIterator<Item = (K, V)>) {
        for (k, v) in records {
            self.pipe_input(k, v);
        }
    }

    pub fn try_pipe_record(&self, record: Record<K, V>) -> Result<()> {
        let serialization = |part| {
            let topic = self.topic.clone();
            move |source| StreamsError::Serialization { topic, part, source }
        };
        let key = self
            .key
            .serialize(&self.topic, &record.key)
            .map_err(serialization("key"))?;
        let value = self
            .value
            .serialize(&self.topic, &record.value)
            .map_err(serialization("value"))?;
        self.try_pipe_raw(key, value, record.timestamp, record.headers)
    }

    /// Pipes bytes as they are, e.g. to test a deserialization error.
    pub fn try_pipe_raw(
        &self,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<()> {
        let mut d = self.driver.borrow_mut();
        d.check_open()?;
        if d.task_for(&self.topic).is_none() {
            return Err(StreamsError::Topology(format!(
                "the topology does not read topic {}",
                self.topic
            )));
        }
        let queue = VecDeque::from([Pending {
            topic: self.topic.clone(),
            key,
            value,
            timestamp,
            headers,
        }]);
        d.settle(queue)
    }

    /// Moves this topic's clock on for later records.
    pub fn advance_time(&self, by: Duration) {
        self.time.set(
            self.time
                .get()
                .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX)),
        );
    }
}

/// Reads what a topology wrote to a topic, as Kafka's `TestOutputTopic`. Reads consume.
pub struct TestOutputTopic<K, V> {
    driver: Rc<RefCell<Driver>>,
    topic: String,
    key: SharedSerde<K>,
    value: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for TestOutputTopic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestOutputTopic")
            .field("topic", &self.topic)
            .finish()
    }
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    fn pop(&self) -> Option<OutRecord> {
        self.driver
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .and_then(|q| q.pop_front())
    }

    /// The next record, or `None` when the topic has no more.
    ///
    /// # Panics
    /// When the record does not deserialize with this topic's serdes (a test failure).
    pub fn read_record(&self) -> Option<Record<K, V>> {
        let r = self.pop()?;
        let key = self.key.deserialize(&self.topic, r.key.as_deref());
        let value = self.value.deserialize(&self.topic, r.value.as_deref());
        match (key, value) {
            (Ok(key), Ok(value)) => Some(Record {
                key,
                value,
                timestamp: r.timestamp,
                headers: r.headers,
            }),
            (Err(e), _) | (_, Err(e)) => panic!("a record of {} does not deserialize: {e}", self.topic),
        }
    }

    pub fn read_key_value(&self) -> Option<(K, V)> {
        self.read_record().map(|r| (r.key, r.value))
    }

    pub fn read_value(&self) -> Option<V> {
        self.read_record().map(|r| r.value)
    }

    pub fn read_records_to_list(&self) -> Vec<Record<K, V>> {
        std::iter::from_fn(|| self.read_record()).collect()
    }

    pub fn read_key_values_to_list(&self) -> Vec<(K, V)> {
        std::iter::from_fn(|| self.read_key_value()).collect()
    }

    pub fn read_values_to_list(&self) -> Vec<V> {
        std::iter::from_fn(|| self.read_value()).collect()
    }

    /// The latest value per key (a table's final state, when the topic is its changes).
    pub fn read_key_values_to_map(&self) -> BTreeMap<K, V>
    where
        K: Ord,
    {
        std::iter::from_fn(|| self.read_key_value()).collect()
    }

    pub fn queue_size(&self) -> usize {
        self.driver
            .borrow()
            .outputs
            .get(&self.topic)
            .map_or(0, VecDeque::len)
    }

    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }
}
