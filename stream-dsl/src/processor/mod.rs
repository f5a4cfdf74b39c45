//! The Processor API: the primitive every DSL operator is built from, and what
//! `KStream::process` hands to users.
//!
//! A processor receives records one at a time through [`Processor::process`] with a
//! [`ProcessorContext`] that forwards to the next processors, opens the state stores the
//! processor was connected to, and schedules punctuations (stream time or wall-clock).

mod context;
pub(crate) mod node;
mod output;
mod sink;

use std::time::Duration;

pub use context::ProcessorContext;
pub(crate) use context::TaskShared;
pub(crate) use output::{OutRecord, OutRef, Output, RecordQueue};
pub(crate) use sink::{RecordSink, SinkRecord, SinkTopic};

use crate::error::Result;
use crate::record::Record;

/// Types that flow through a topology: cloned when one processor feeds several.
pub trait Data: Clone + 'static {}
impl<T: Clone + 'static> Data for T {}

/// A record processor, as Kafka Streams' `api.Processor<KIn, VIn, KOut, VOut>`. One instance
/// runs per task; instances are made by the factory given to the topology, so a processor may
/// keep per-task state in its fields.
pub trait Processor<K, V, KOut, VOut>: 'static {
    /// Called once before the first record: open stores, schedule punctuations.
    fn init(&mut self, _ctx: &mut ProcessorContext<KOut, VOut>) -> Result<()> {
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<KOut, VOut>, record: Record<K, V>) -> Result<()>;

    /// A punctuation scheduled with [`ProcessorContext::schedule`] is due; `timestamp` is the
    /// stream time or the wall-clock time that triggered it.
    fn punctuate(
        &mut self,
        _ctx: &mut ProcessorContext<KOut, VOut>,
        _punctuator: PunctuatorId,
        _timestamp: i64,
    ) -> Result<()> {
        Ok(())
    }

    /// Called before every commit, upstream processors first. The DSL's materialized tables
    /// forward the updates their record cache collapsed here.
    fn flush(&mut self, _ctx: &mut ProcessorContext<KOut, VOut>) -> Result<()> {
        Ok(())
    }

    fn close(&mut self, _ctx: &mut ProcessorContext<KOut, VOut>) -> Result<()> {
        Ok(())
    }
}

/// Which clock drives a punctuation, as Kafka's `PunctuationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// Fires as record timestamps advance the task's stream time; never while no records
    /// arrive.
    StreamTime,
    /// Fires on the system clock, whether records arrive or not.
    WallClockTime,
}

/// Names a scheduled punctuation, to tell several apart and to cancel one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PunctuatorId(pub(crate) u64);

/// A scheduled punctuation.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub id: PunctuatorId,
    pub node: usize,
    pub interval: Duration,
    pub kind: PunctuationType,
    /// When it fires next (ms).
    pub next: i64,
}

/// Identifies a task: one sub-topology working on one partition of its input topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub subtopology: usize,
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    /// Kafka's `0_3` form, also the task's state directory name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

pub(crate) fn context_info(
    index: usize,
    name: std::sync::Arc<str>,
    stores: Vec<String>,
) -> context::NodeInfo {
    context::NodeInfo {
        index,
        name,
        stores: stores.into(),
    }
}
