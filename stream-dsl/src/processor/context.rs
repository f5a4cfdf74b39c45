//! The context a processor works through, and the per-task state all of a task's processors
//! share.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::node::Child;
use super::{Data, Output, PunctuationType, PunctuatorId, RecordSink, Schedule, TaskId};
use crate::error::{Result, StreamsError};
use crate::record::{Record, RecordMetadata};
use crate::state::{KeyValueStore, SessionStore, StateStore, WindowStore};

/// What all processors of one task share. Single-threaded: a task lives on one thread.
#[derive(Debug)]
pub(crate) struct TaskShared {
    pub task: TaskId,
    pub application_id: String,
    /// Where the record being processed came from: the topic is only replaced when it
    /// changes, so processing a record allocates nothing for it.
    meta_topic: RefCell<Option<Arc<str>>>,
    meta_position: Cell<Option<(i32, i64)>>,
    /// The timestamp of the record being processed (or of the punctuation).
    pub timestamp: Cell<i64>,
    /// The largest record timestamp seen: Kafka's stream time.
    pub stream_time: Cell<i64>,
    /// Wall-clock ms, set by the runtime (or the test driver, whose clock is mocked).
    pub wall_clock: Cell<i64>,
    /// The key bytes of the record being processed, kept by a source that was asked to
    /// (`None`: a null key), for a processor right after it that needs only the bytes.
    source_key: RefCell<Option<Vec<u8>>>,
    pub output: Rc<RefCell<Output>>,
    pub stores: RefCell<BTreeMap<String, Rc<RefCell<StateStore>>>>,
    pub schedules: RefCell<Vec<Schedule>>,
    pub next_punctuator: Cell<u64>,
    pub commit_requested: Cell<bool>,
    /// Sink node index → its topic, resolved (internal topics get the application-id prefix).
    pub sink_topics: RefCell<BTreeMap<usize, Arc<str>>>,
    /// Records dropped by processors since the runtime last took the count (Kafka's task-level
    /// `dropped-records`): late records a window had closed for, records without a key.
    pub dropped: Cell<u64>,
}

impl TaskShared {
    /// `sink`: where the task's records go (see [`Output`]); the test driver gives none.
    pub fn new(task: TaskId, application_id: String, sink: Option<Box<dyn RecordSink>>) -> TaskShared {
        TaskShared {
            task,
            application_id,
            meta_topic: RefCell::new(None),
            meta_position: Cell::new(None),
            timestamp: Cell::new(0),
            stream_time: Cell::new(i64::MIN),
            wall_clock: Cell::new(0),
            source_key: RefCell::new(None),
            output: Rc::new(RefCell::new(Output::new(sink))),
            stores: RefCell::new(BTreeMap::new()),
            schedules: RefCell::new(Vec::new()),
            next_punctuator: Cell::new(0),
            commit_requested: Cell::new(false),
            sink_topics: RefCell::new(BTreeMap::new()),
            dropped: Cell::new(0),
        }
    }

    /// The records dropped since the last call (see [`TaskShared::dropped`]).
    pub fn take_dropped(&self) -> u64 {
        self.dropped.replace(0)
    }

    pub fn set_metadata(&self, topic: &Arc<str>, partition: i32, offset: i64) {
        let mut current = self.meta_topic.borrow_mut();
        if !current.as_ref().is_some_and(|t| Arc::ptr_eq(t, topic)) {
            *current = Some(topic.clone());
        }
        self.meta_position.set(Some((partition, offset)));
    }

    /// Keeps `key` as the record's key bytes, reusing the buffer of the record before.
    pub fn set_source_key(&self, key: Option<&[u8]>) {
        let mut slot = self.source_key.borrow_mut();
        match (key, &mut *slot) {
            (Some(key), Some(buf)) => {
                buf.clear();
                buf.extend_from_slice(key);
            }
            (Some(key), None) => *slot = Some(key.to_vec()),
            (None, _) => *slot = None,
        }
    }

    /// Swaps the kept key bytes into `buf` (whose old contents become the slot's spare
    /// buffer); `false` for a null key.
    pub fn take_source_key(&self, buf: &mut Vec<u8>) -> bool {
        match &mut *self.source_key.borrow_mut() {
            Some(key) => {
                std::mem::swap(key, buf);
                true
            }
            None => false,
        }
    }

    pub fn clear_metadata(&self) {
        self.meta_position.set(None);
    }

    pub fn metadata(&self) -> Option<RecordMetadata> {
        let (partition, offset) = self.meta_position.get()?;
        let topic = self.meta_topic.borrow().as_deref()?.to_owned();
        Some(RecordMetadata {
            topic,
            partition,
            offset,
        })
    }

    pub fn sink_topic(&self, node: usize) -> Arc<str> {
        self.sink_topics
            .borrow()
            .get(&node)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }
}

/// Which node a context belongs to, for error messages and store access checks.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub index: usize,
    pub name: Arc<str>,
    pub stores: Arc<[String]>,
}

/// A processor's window on its task: forwarding, stores, punctuations, record metadata, as
/// Kafka Streams' `api.ProcessorContext<KForward, VForward>`.
pub struct ProcessorContext<KOut, VOut> {
    pub(crate) children: Vec<Child<KOut, VOut>>,
    pub(crate) shared: Rc<TaskShared>,
    pub(crate) node: NodeInfo,
}

impl<KOut, VOut> std::fmt::Debug for ProcessorContext<KOut, VOut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorContext")
            .field("node", &self.node.name)
            .field("task", &self.shared.task)
            .field("children", &self.children.len())
            .finish()
    }
}

impl<KOut: Data, VOut: Data> ProcessorContext<KOut, VOut> {
    /// Sends `record` to every downstream processor.
    pub fn forward(&mut self, record: Record<KOut, VOut>) -> Result<()> {
        let Some((last, rest)) = self.children.split_last() else {
            return Ok(());
        };
        for child in rest {
            child.borrow_mut().process(record.clone())?;
        }
        last.borrow_mut().process(record)
    }

    /// Sends `record` to the `child`-th downstream processor only (in the order they were
    /// attached), as `split` does for its branches.
    pub fn forward_to(&mut self, child: usize, record: Record<KOut, VOut>) -> Result<()> {
        match self.children.get(child) {
            Some(c) => c.borrow_mut().process(record),
            None => Ok(()),
        }
    }
}

impl<KOut, VOut> ProcessorContext<KOut, VOut> {
    pub fn task_id(&self) -> TaskId {
        self.shared.task
    }

    pub fn application_id(&self) -> &str {
        &self.shared.application_id
    }

    /// The topic, partition and offset of the input record being processed; `None` inside a
    /// punctuation.
    pub fn record_metadata(&self) -> Option<RecordMetadata> {
        self.shared.metadata()
    }

    /// The task's stream time: the largest record timestamp it has seen.
    pub fn stream_time(&self) -> i64 {
        self.shared.stream_time.get()
    }

    /// The wall-clock time in ms (mocked by the test driver).
    pub fn current_system_time_ms(&self) -> i64 {
        self.shared.wall_clock.get()
    }

    /// Schedules [`super::Processor::punctuate`] every `interval` of stream time or
    /// wall-clock time.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> PunctuatorId {
        let id = PunctuatorId(self.shared.next_punctuator.get());
        self.shared.next_punctuator.set(id.0 + 1);
        let interval = interval.max(Duration::from_millis(1));
        let ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        // Kafka's alignment: stream-time punctuations on a grid from 0 (so the first record
        // fires one), wall-clock ones one interval after scheduling.
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.shared.wall_clock.get().saturating_add(ms),
        };
        self.shared.schedules.borrow_mut().push(Schedule {
            id,
            node: self.node.index,
            interval,
            kind,
            next,
        });
        id
    }

    pub fn cancel(&mut self, punctuator: PunctuatorId) {
        self.shared.schedules.borrow_mut().retain(|s| s.id != punctuator);
    }

    /// Asks the runtime to commit soon after this record.
    pub fn commit(&mut self) {
        self.shared.commit_requested.set(true);
    }

    /// The state store `name`, which must have been connected to this processor, read and
    /// written as `K`/`V` with the serdes it was declared with.
    pub fn get_state_store<K: 'static, V: 'static>(&self, name: &str) -> Result<KeyValueStore<K, V>> {
        let shared = self.shared.clone();
        self.connected(name, |store| KeyValueStore::open(store, shared))
    }

    /// Counts a record this processor dropped in `dropped-records` (a late record, a record
    /// without a key). Logging why is the processor's.
    pub fn record_dropped(&self) {
        self.shared.dropped.set(self.shared.dropped.get() + 1);
    }

    /// A window store connected to this processor (Kafka's `getStateStore` of a
    /// `WindowStore`).
    pub fn get_window_store<K: 'static, V: 'static>(&self, name: &str) -> Result<WindowStore<K, V>> {
        self.connected(name, WindowStore::open)
    }

    /// A session store connected to this processor.
    pub fn get_session_store<K: 'static, V: 'static>(&self, name: &str) -> Result<SessionStore<K, V>> {
        self.connected(name, SessionStore::open)
    }

    /// Opens the store `name` with `open`, if it is connected to this processor and `open`
    /// takes it (it is of the kind, key and value types asked for).
    fn connected<S>(&self, name: &str, open: impl FnOnce(Rc<RefCell<StateStore>>) -> Option<S>) -> Result<S> {
        let denied = |reason: &str| StreamsError::StoreAccess {
            processor: self.node.name.to_string(),
            store: name.to_owned(),
            reason: reason.to_owned(),
        };
        if !self.node.stores.iter().any(|s| s == name) {
            return Err(denied("the store is not connected to this processor"));
        }
        let store = self
            .shared
            .stores
            .borrow()
            .get(name)
            .cloned()
            .ok_or_else(|| denied("the task has no such store"))?;
        open(store).ok_or_else(|| {
            denied("the store is of another kind or was declared with other key or value types")
        })
    }
}
