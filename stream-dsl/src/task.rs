//! A task: one sub-topology instantiated for one partition, with its stores. The runtime and
//! the test driver both drive tasks; only where records come from and go to differs.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use crate::error::{Result, StreamsError};
use crate::processor::node::{BuiltNode, Lifecycle, SourceError, SourceInput};
use crate::processor::{OutRecord, Output, PunctuationType, RecordSink, TaskId, TaskShared};
use crate::record::Header;
use crate::state::{StateStore, StoreOpener};
use crate::topology::{NodeKind, Topology};

pub(crate) struct Task {
    pub id: TaskId,
    pub shared: Rc<TaskShared>,
    sources: HashMap<String, Rc<RefCell<dyn SourceInput>>>,
    /// In topological order: a flush reaches upstream caches first, so what they let out is
    /// in downstream caches before those flush.
    lifecycles: Vec<(usize, Rc<RefCell<dyn Lifecycle>>)>,
    pub stores: BTreeMap<String, Rc<RefCell<StateStore>>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("stores", &self.stores.keys())
            .finish()
    }
}

impl Task {
    /// Builds the task's nodes, and its stores with `opener`; its output goes to `sink` (the
    /// test driver's: none, its records stay queued for [`Task::take_output`]). Stores are
    /// restored (by the caller) before [`Task::init`] runs the processors' `init`.
    pub fn new(
        topology: &Topology,
        id: TaskId,
        application_id: &str,
        opener: &mut StoreOpener,
        sink: Option<Box<dyn RecordSink>>,
    ) -> Result<Task> {
        let sub = topology
            .subtopologies
            .get(id.subtopology)
            .ok_or_else(|| StreamsError::Topology(format!("no sub-topology {}", id.subtopology)))?;
        let shared = Rc::new(TaskShared::new(id, application_id.to_owned(), sink));
        let mut stores = BTreeMap::new();
        for name in &sub.stores {
            let spec = topology
                .stores
                .get(name)
                .ok_or_else(|| StreamsError::Topology(format!("state store {name} is not defined")))?;
            let store = Rc::new(RefCell::new(opener.open(spec, &shared.output)?));
            stores.insert(name.clone(), store);
        }
        *shared.stores.borrow_mut() = stores.clone();
        for &i in &sub.nodes {
            if let NodeKind::Sink { topic } = &topology.nodes[i].kind {
                shared
                    .sink_topics
                    .borrow_mut()
                    .insert(i, Arc::from(topic.resolve(application_id)));
            }
        }
        let mut built: HashMap<usize, BuiltNode> = HashMap::new();
        for &i in sub.nodes.iter().rev() {
            let def = &topology.nodes[i];
            let children = def
                .children
                .iter()
                .map(|c| {
                    built.get(c).and_then(|b| b.input.as_deref()).ok_or_else(|| {
                        StreamsError::Topology(format!("node {} has a child that takes no input", def.name))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let info = crate::processor::context_info(i, def.name.clone(), def.stores.clone());
            let node = def.factory.build(&children, &shared, info)?;
            built.insert(i, node);
        }
        let mut sources = HashMap::new();
        let mut lifecycles = Vec::new();
        for &i in &sub.nodes {
            let Some(node) = built.remove(&i) else { continue };
            if let (NodeKind::Source { topics }, Some(source)) = (&topology.nodes[i].kind, &node.source) {
                for t in topics {
                    sources.insert(t.resolve(application_id), source.clone());
                }
            }
            lifecycles.push((i, node.lifecycle));
        }
        Ok(Task {
            id,
            shared,
            sources,
            lifecycles,
            stores,
        })
    }

    /// Runs the processors' `init` (opening stores, scheduling punctuations).
    pub fn init(&mut self) -> Result<()> {
        for (_, node) in &self.lifecycles {
            node.borrow_mut().init()?;
        }
        Ok(())
    }

    /// The source reading `topic`.
    pub fn source(&self, topic: &str) -> Option<Rc<RefCell<dyn SourceInput>>> {
        self.sources.get(topic).cloned()
    }

    /// Processes one input record through `source` (from [`Task::source`]) of the task whose
    /// shared state is `shared`: a stream thread keeps both for a run of records of one
    /// partition, rather than finding the task by its id in its map for every record (the
    /// test driver looks them up per record).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn process_from(
        shared: &TaskShared,
        source: &Rc<RefCell<dyn SourceInput>>,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<()> {
        shared.set_metadata(topic, partition, offset);
        shared.timestamp.set(timestamp);
        if timestamp > shared.stream_time.get() {
            shared.stream_time.set(timestamp);
        }
        let result = source
            .borrow_mut()
            .process_raw(topic, key, value, timestamp, headers);
        shared.clear_metadata();
        match result {
            Ok(()) => Ok(()),
            Err(SourceError::Deserialize { part, source }) => Err(StreamsError::Deserialization {
                topic: topic.to_string(),
                partition,
                offset,
                part,
                source,
            }),
            Err(SourceError::Downstream(e)) => Err(e),
        }
    }

    /// Fires the due punctuations of `kind` at `now` (stream time or wall-clock ms).
    pub fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<bool> {
        if kind == PunctuationType::StreamTime && now == i64::MIN {
            return Ok(false);
        }
        let due: Vec<_> = {
            let mut schedules = self.shared.schedules.borrow_mut();
            let mut due = Vec::new();
            for s in schedules.iter_mut().filter(|s| s.kind == kind) {
                let interval = i64::try_from(s.interval.as_millis()).unwrap_or(i64::MAX);
                if now < s.next {
                    continue;
                }
                due.push((s.node, s.id));
                // Kafka's PunctuationSchedule::next: stay on the grid; after a gap, skip the
                // missed firings rather than firing them all at once.
                let missed = (now - s.next) / interval;
                s.next = s.next.saturating_add(interval.saturating_mul(missed + 1));
            }
            due
        };
        for (node, id) in &due {
            if let Some((_, l)) = self.lifecycles.iter().find(|(i, _)| i == node) {
                self.shared.timestamp.set(now);
                l.borrow_mut().punctuate(*id, now)?;
            }
        }
        Ok(!due.is_empty())
    }

    /// Lets every cache out: processors flush (materialized tables forward what they held),
    /// then every store writes its dirty entries to the local store and the changelog.
    pub fn flush(&mut self) -> Result<()> {
        for (_, node) in &self.lifecycles {
            node.borrow_mut().flush()?;
        }
        for store in self.stores.values() {
            store.borrow_mut().flush_cache()?;
        }
        Ok(())
    }

    /// Makes the local stores durable (after their changelog writes were acknowledged).
    pub fn flush_stores(&mut self) -> Result<()> {
        for store in self.stores.values() {
            store.borrow_mut().flush_store()?;
        }
        Ok(())
    }

    /// Records waiting to be sent.
    pub fn take_output(&self) -> Vec<OutRecord> {
        self.shared.output.borrow_mut().take()
    }

    /// Drops the records waiting to be sent.
    pub fn discard_output(&self) {
        self.shared.output.borrow_mut().clear();
    }

    /// Hands the task's queued output to `send`, which must empty it (all of it, even when
    /// it fails part-way, as [`discard_output`](Self::discard_output) would). The queue keeps
    /// its capacity: a stream thread sends thousands of records per poll, and a queue grown
    /// from empty each time was copied over and over.
    pub fn send_output(&self, send: impl FnOnce(&mut Output) -> Result<()>) -> Result<()> {
        send(&mut self.shared.output.borrow_mut())
    }

    pub fn take_commit_request(&self) -> bool {
        self.shared.commit_requested.replace(false)
    }

    pub fn close(&mut self) -> Result<()> {
        for (_, node) in &self.lifecycles {
            node.borrow_mut().close()?;
        }
        Ok(())
    }
}
