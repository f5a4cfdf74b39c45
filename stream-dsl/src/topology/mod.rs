//! A built topology: node definitions, their stores, and the sub-topologies they fall into.
//!
//! Nodes connected by edges, or sharing a store, form a sub-topology; a repartition topic
//! (a sink in one and a source in another) is the only link between two. Each sub-topology
//! runs as one task per partition of its source topics.

pub(crate) mod builder;
mod describe;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use builder::{Consumed, Grouped, Produced, Repartitioned, StreamsBuilder};

use crate::processor::node::NodeFactory;
use crate::state::StoreSpec;

/// A topic a node reads or writes. Internal topics (repartition) belong to the application
/// and are named `<application.id>-<name>` at run time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TopicRef {
    pub name: String,
    pub internal: bool,
}

impl TopicRef {
    pub fn external(name: impl Into<String>) -> TopicRef {
        TopicRef {
            name: name.into(),
            internal: false,
        }
    }

    pub fn internal(name: impl Into<String>) -> TopicRef {
        TopicRef {
            name: name.into(),
            internal: true,
        }
    }

    pub fn resolve(&self, application_id: &str) -> String {
        if self.internal {
            format!("{application_id}-{}", self.name)
        } else {
            self.name.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source { topics: Vec<TopicRef> },
    Processor,
    Sink { topic: TopicRef },
}

#[derive(Clone)]
pub(crate) struct NodeDef {
    pub name: Arc<str>,
    pub kind: NodeKind,
    pub parents: Vec<usize>,
    pub children: Vec<usize>,
    pub stores: Vec<String>,
    pub factory: Arc<dyn NodeFactory>,
}

impl std::fmt::Debug for NodeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("parents", &self.parents)
            .field("children", &self.children)
            .field("stores", &self.stores)
            .finish()
    }
}

/// A connected part of the topology; runs as one task per input partition.
#[derive(Debug, Clone)]
pub(crate) struct SubTopology {
    pub id: usize,
    /// Node indices in creation order, which is topological: a node is always created after
    /// its parents.
    pub nodes: Vec<usize>,
    pub sources: Vec<TopicRef>,
    pub sinks: Vec<TopicRef>,
    pub stores: Vec<String>,
}

/// A repartition topic, with the partition count asked for (else decided at start).
#[derive(Debug, Clone)]
pub(crate) struct InternalTopic {
    pub partitions: Option<i32>,
}

/// The processing graph built by a [`StreamsBuilder`]; run it with
/// [`crate::runtime::Streams`] or [`crate::test_driver::TopologyTestDriver`].
#[derive(Debug, Clone)]
pub struct Topology {
    pub(crate) nodes: Vec<NodeDef>,
    pub(crate) stores: BTreeMap<String, StoreSpec>,
    pub(crate) subtopologies: Vec<SubTopology>,
    pub(crate) internal_topics: BTreeMap<String, InternalTopic>,
}

impl Topology {
    pub(crate) fn new(
        nodes: Vec<NodeDef>,
        stores: BTreeMap<String, StoreSpec>,
        internal_topics: BTreeMap<String, InternalTopic>,
    ) -> Topology {
        let subtopologies = split(&nodes);
        Topology {
            nodes,
            stores,
            subtopologies,
            internal_topics,
        }
    }

    /// Kafka's `TopologyDescription`, printed in Kafka's layout.
    pub fn describe(&self) -> String {
        describe::describe(self)
    }

    /// The sub-topology reading `topic` (resolved for `application_id`).
    pub(crate) fn subtopology_of(&self, application_id: &str, topic: &str) -> Option<usize> {
        self.subtopologies
            .iter()
            .find(|s| s.sources.iter().any(|t| t.resolve(application_id) == topic))
            .map(|s| s.id)
    }

    /// Every topic read, resolved.
    pub(crate) fn source_topics(&self, application_id: &str) -> BTreeSet<String> {
        self.subtopologies
            .iter()
            .flat_map(|s| s.sources.iter().map(|t| t.resolve(application_id)))
            .collect()
    }
}

/// Union-find over edges and shared stores.
fn split(nodes: &[NodeDef]) -> Vec<SubTopology> {
    let mut root: Vec<usize> = (0..nodes.len()).collect();
    fn find(root: &mut [usize], mut i: usize) -> usize {
        while root[i] != i {
            root[i] = root[root[i]];
            i = root[i];
        }
        i
    }
    let union = |root: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(root, a), find(root, b));
        if ra != rb {
            root[ra.max(rb)] = ra.min(rb);
        }
    };
    let mut store_owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for &p in &node.parents {
            union(&mut root, i, p);
        }
        for s in &node.stores {
            match store_owner.get(s.as_str()) {
                Some(&o) => union(&mut root, i, o),
                None => {
                    store_owner.insert(s, i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        let r = find(&mut root, i);
        groups.entry(r).or_default().push(i);
    }
    groups
        .into_values()
        .enumerate()
        .map(|(id, members)| {
            let mut sources = Vec::new();
            let mut sinks = Vec::new();
            let mut stores = BTreeSet::new();
            for &i in &members {
                match &nodes[i].kind {
                    NodeKind::Source { topics } => sources.extend(topics.iter().cloned()),
                    NodeKind::Sink { topic } => sinks.push(topic.clone()),
                    NodeKind::Processor => {}
                }
                stores.extend(nodes[i].stores.iter().cloned());
            }
            SubTopology {
                id,
                nodes: members,
                sources,
                sinks,
                stores: stores.into_iter().collect(),
            }
        })
        .collect()
}
