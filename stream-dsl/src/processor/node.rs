//! How typed processors become a task's graph of nodes.
//!
//! Edges are typed: a node that emits `(K, V)` holds its children as
//! `Rc<RefCell<dyn Node<K, V>>>`, so forwarding is a direct, typed call. The topology itself
//! is type-erased (it is a list of node definitions); each definition carries a factory that
//! knows its types and, when a task is built, downcasts its children's handles once, children
//! first. A mismatch there is a bug in the builder, reported as a topology error.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use super::context::{NodeInfo, ProcessorContext, TaskShared};
use super::{Data, Processor, PunctuatorId};
use crate::error::{Result, StreamsError};
use crate::record::{Header, Record};
use crate::serde::SharedSerde;

/// A node's typed input side.
pub(crate) trait Node<K, V> {
    fn process(&mut self, record: Record<K, V>) -> Result<()>;
}

pub(crate) type Child<K, V> = Rc<RefCell<dyn Node<K, V>>>;

/// A node's untyped lifecycle, driven by the task.
/// The defaults do nothing: sources and sinks have no lifecycle of their own.
pub(crate) trait Lifecycle {
    fn init(&mut self) -> Result<()> {
        Ok(())
    }
    fn punctuate(&mut self, _id: PunctuatorId, _timestamp: i64) -> Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A source's input: raw bytes from a topic.
pub(crate) trait SourceInput {
    fn process_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<(), SourceError>;
}

/// Why a source could not take a record.
#[derive(Debug)]
pub(crate) enum SourceError {
    Deserialize {
        part: &'static str,
        source: crate::serde::SerdeError,
    },
    Downstream(StreamsError),
}

/// One built node of a task.
pub(crate) struct BuiltNode {
    /// `Rc<RefCell<dyn Node<K, V>>>` for the node's input types; `None` for a source.
    pub input: Option<Box<dyn Any>>,
    pub lifecycle: Rc<RefCell<dyn Lifecycle>>,
    pub source: Option<Rc<RefCell<dyn SourceInput>>>,
}

/// Builds a node for a task; one per node definition, shared by every task.
pub(crate) trait NodeFactory: Send + Sync {
    fn build(&self, children: &[&dyn Any], shared: &Rc<TaskShared>, info: NodeInfo) -> Result<BuiltNode>;
}

fn typed_children<K: 'static, V: 'static>(
    children: &[&dyn Any],
    info: &NodeInfo,
) -> Result<Vec<Child<K, V>>> {
    children
        .iter()
        .map(|c| {
            c.downcast_ref::<Child<K, V>>().cloned().ok_or_else(|| {
                StreamsError::Topology(format!(
                    "node {} forwards ({}, {}) to a child that takes other types",
                    info.name,
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                ))
            })
        })
        .collect()
}

/// A processor and its context.
struct ProcessorNode<P, K, V, KO, VO> {
    processor: P,
    ctx: ProcessorContext<KO, VO>,
    _types: PhantomData<fn(K, V)>,
}

impl<P, K, V, KO, VO> Node<K, V> for ProcessorNode<P, K, V, KO, VO>
where
    P: Processor<K, V, KO, VO>,
{
    fn process(&mut self, record: Record<K, V>) -> Result<()> {
        self.processor.process(&mut self.ctx, record)
    }
}

impl<P, K, V, KO, VO> Lifecycle for ProcessorNode<P, K, V, KO, VO>
where
    P: Processor<K, V, KO, VO>,
{
    fn init(&mut self) -> Result<()> {
        self.processor.init(&mut self.ctx)
    }
    fn punctuate(&mut self, id: PunctuatorId, timestamp: i64) -> Result<()> {
        self.processor.punctuate(&mut self.ctx, id, timestamp)
    }
    fn flush(&mut self) -> Result<()> {
        self.processor.flush(&mut self.ctx)
    }
    fn close(&mut self) -> Result<()> {
        self.processor.close(&mut self.ctx)
    }
}

/// Makes processor nodes from a user's (or an operator's) processor factory.
pub(crate) struct ProcessorFactory<F, K, V, KO, VO> {
    make: F,
    _types: PhantomData<fn(K, V, KO, VO)>,
}

impl<F, K, V, KO, VO> ProcessorFactory<F, K, V, KO, VO> {
    pub fn new(make: F) -> Self {
        ProcessorFactory {
            make,
            _types: PhantomData,
        }
    }
}

impl<F, P, K, V, KO, VO> NodeFactory for ProcessorFactory<F, K, V, KO, VO>
where
    F: Fn() -> P + Send + Sync,
    P: Processor<K, V, KO, VO>,
    K: 'static,
    V: 'static,
    KO: 'static,
    VO: 'static,
{
    fn build(&self, children: &[&dyn Any], shared: &Rc<TaskShared>, info: NodeInfo) -> Result<BuiltNode> {
        let ctx = ProcessorContext {
            children: typed_children(children, &info)?,
            shared: shared.clone(),
            node: info,
        };
        let node = Rc::new(RefCell::new(ProcessorNode {
            processor: (self.make)(),
            ctx,
            _types: PhantomData,
        }));
        let input: Child<K, V> = node.clone();
        Ok(BuiltNode {
            input: Some(Box::new(input)),
            lifecycle: node,
            source: None,
        })
    }
}

/// Reads records from topics with the source's serdes.
struct SourceNode<K, V> {
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    keep_key: bool,
    ctx: ProcessorContext<K, V>,
}

impl<K: Data, V: Data> SourceInput for SourceNode<K, V> {
    fn process_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Vec<Header>,
    ) -> Result<(), SourceError> {
        let raw_key = key;
        let key = self
            .key_serde
            .deserialize(topic, key)
            .map_err(|source| SourceError::Deserialize { part: "key", source })?;
        let value =
            self.value_serde
                .deserialize(topic, value)
                .map_err(|source| SourceError::Deserialize {
                    part: "value",
                    source,
                })?;
        if self.keep_key {
            self.ctx.shared.set_source_key(raw_key);
        }
        self.ctx
            .forward(Record {
                key,
                value,
                timestamp,
                headers,
            })
            .map_err(SourceError::Downstream)
    }
}

impl<K, V> Lifecycle for SourceNode<K, V> {}

pub(crate) struct SourceFactory<K, V> {
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
    /// Keep each record's key bytes in the task for the one processor after the source
    /// ([`TaskShared::take_source_key`]).
    pub keep_key: bool,
}

impl<K: Data, V: Data> NodeFactory for SourceFactory<K, V> {
    fn build(&self, children: &[&dyn Any], shared: &Rc<TaskShared>, info: NodeInfo) -> Result<BuiltNode> {
        let ctx = ProcessorContext {
            children: typed_children(children, &info)?,
            shared: shared.clone(),
            node: info,
        };
        let node = Rc::new(RefCell::new(SourceNode {
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            keep_key: self.keep_key,
            ctx,
        }));
        Ok(BuiltNode {
            input: None,
            lifecycle: node.clone(),
            source: Some(node),
        })
    }
}

/// Writes records to a topic with the sink's serdes.
struct SinkNode<K, V> {
    topic: std::sync::Arc<str>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    shared: Rc<TaskShared>,
}

impl<K: 'static, V: 'static> Node<K, V> for SinkNode<K, V> {
    fn process(&mut self, record: Record<K, V>) -> Result<()> {
        let mut output = self.shared.output.borrow_mut();
        let mark = output.mark();
        let key = output
            .serialize(&*self.key_serde, &self.topic, &record.key)
            .map_err(|source| StreamsError::Serialization {
                topic: self.topic.to_string(),
                part: "key",
                source,
            })?;
        let value = match output.serialize(&*self.value_serde, &self.topic, &record.value) {
            Ok(value) => value,
            Err(source) => {
                output.rewind(mark);
                return Err(StreamsError::Serialization {
                    topic: self.topic.to_string(),
                    part: "value",
                    source,
                });
            }
        };
        output.push_serialized(&self.topic, None, key, value, record.timestamp, record.headers);
        Ok(())
    }
}

impl<K, V> Lifecycle for SinkNode<K, V> {}

pub(crate) struct SinkFactory<K, V> {
    pub key_serde: SharedSerde<K>,
    pub value_serde: SharedSerde<V>,
}

impl<K: 'static, V: 'static> NodeFactory for SinkFactory<K, V> {
    fn build(&self, _children: &[&dyn Any], shared: &Rc<TaskShared>, info: NodeInfo) -> Result<BuiltNode> {
        // The topic is resolved (application-id prefix for internal topics) by the task and
        // passed in as the node's name-independent sink topic.
        let topic = shared.sink_topic(info.index);
        let node = Rc::new(RefCell::new(SinkNode {
            topic,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            shared: shared.clone(),
        }));
        let input: Child<K, V> = node.clone();
        Ok(BuiltNode {
            input: Some(Box::new(input)),
            lifecycle: node,
            source: None,
        })
    }
}
