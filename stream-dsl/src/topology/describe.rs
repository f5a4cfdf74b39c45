//! `Topology::describe()` in the layout of Kafka's `TopologyDescription.toString()`.

use std::fmt::Write;

use super::{NodeKind, Topology};

pub(super) fn describe(topology: &Topology) -> String {
    let mut out = String::from("Topologies:\n");
    for sub in &topology.subtopologies {
        let _ = writeln!(out, "   Sub-topology: {}", sub.id);
        for &i in &sub.nodes {
            let node = &topology.nodes[i];
            match &node.kind {
                NodeKind::Source { topics } => {
                    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
                    let _ = writeln!(out, "    Source: {} (topics: [{}])", node.name, names.join(", "));
                }
                NodeKind::Processor => {
                    let _ = writeln!(
                        out,
                        "    Processor: {} (stores: [{}])",
                        node.name,
                        node.stores.join(", ")
                    );
                }
                NodeKind::Sink { topic } => {
                    let _ = writeln!(out, "    Sink: {} (topic: {})", node.name, topic.name);
                }
            }
            // Kafka prints no successors line for a sink (it can have none), and `--> none`
            // for a processor without children.
            if !matches!(node.kind, NodeKind::Sink { .. }) {
                let children: Vec<&str> = node.children.iter().map(|&c| &*topology.nodes[c].name).collect();
                let _ = writeln!(
                    out,
                    "      --> {}",
                    if children.is_empty() {
                        "none".into()
                    } else {
                        children.join(", ")
                    }
                );
            }
            if !node.parents.is_empty() {
                let parents: Vec<&str> = node.parents.iter().map(|&p| &*topology.nodes[p].name).collect();
                let _ = writeln!(out, "      <-- {}", parents.join(", "));
            }
        }
        out.push('\n');
    }
    out
}
