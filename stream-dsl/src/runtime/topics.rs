//! Topic preparation at start: source topics checked, repartition and changelog topics
//! created with the partition counts the topology implies.

use std::collections::BTreeMap;

use crate::backend::Backend;

use crate::error::{Result, StreamsError};
use crate::state::changelog_topic;
use crate::topology::{NodeKind, SubTopology, Topology};

/// Partitions per sub-topology: its task count. `additional_retention`:
/// `windowstore.changelog.additional.retention.ms`.
pub(crate) fn prepare(
    topology: &Topology,
    application_id: &str,
    backend: &Backend,
    additional_retention: std::time::Duration,
) -> Result<Vec<i32>> {
    let existing = |topic: &str| backend.0.partitions(topic);
    let mut repartition: BTreeMap<String, i32> = BTreeMap::new();
    let mut counts = vec![1; topology.subtopologies.len()];
    // Inputs that meet in a store (a join's) must be co-partitioned.
    let joined = |sub: &SubTopology| {
        let source_nodes = sub
            .nodes
            .iter()
            .filter(|&&i| matches!(topology.nodes[i].kind, NodeKind::Source { .. }))
            .count();
        source_nodes > 1 && !sub.stores.is_empty()
    };
    let asked = |topic: &str| topology.internal_topics.get(topic).and_then(|i| i.partitions);
    // A sub-topology is sized once the writers of its repartition topics are: upstream first.
    // (Sub-topologies are numbered by their first node, and a join's, holding the table's
    // source, can come before the one that writes its repartition topic.) A repartition topic
    // feeding a join with external inputs is sized by them and waits for no writer.
    let mut pending: Vec<usize> = (0..topology.subtopologies.len()).collect();
    while !pending.is_empty() {
        let ready = |&i: &usize| {
            let sub = &topology.subtopologies[i];
            let by_externals = joined(sub) && sub.sources.iter().any(|t| !t.internal);
            sub.sources
                .iter()
                .filter(|t| t.internal)
                .all(|t| by_externals || asked(&t.name).is_some() || repartition.contains_key(&t.name))
        };
        // A cycle through repartition topics cannot be sized upstream first: take the first.
        let at = pending.iter().position(ready).unwrap_or(0);
        let index = pending.remove(at);
        let sub = &topology.subtopologies[index];
        let mut external = Vec::new();
        let mut internal = Vec::new();
        let joined = joined(sub);
        for t in sub.sources.iter().filter(|t| !t.internal) {
            let n = existing(&t.name)?.ok_or_else(|| StreamsError::MissingSourceTopic {
                topic: t.name.clone(),
            })?;
            external.push((t.name.clone(), n));
        }
        for t in sub.sources.iter().filter(|t| t.internal) {
            let count = match (asked(&t.name), external.first()) {
                (Some(asked), _) => asked,
                // A repartition topic feeding a join takes the partition count of the join's
                // other inputs, as Kafka Streams' `CopartitionedTopicsEnforcer` sets it.
                (None, Some((_, n))) if joined => {
                    repartition.insert(t.name.clone(), *n);
                    *n
                }
                (None, _) => repartition.get(&t.name).copied().unwrap_or(1),
            };
            if joined {
                external.push((format!("{application_id}-{}", t.name), count));
            } else {
                internal.push(count);
            }
        }
        if joined && external.windows(2).any(|w| w[0].1 != w[1].1) {
            return Err(StreamsError::NotCopartitioned {
                topics: external.iter().map(|(t, _)| t.clone()).collect(),
                counts: external.iter().map(|(_, n)| *n).collect(),
            });
        }
        let count = external
            .iter()
            .map(|(_, n)| *n)
            .chain(internal)
            .max()
            .unwrap_or(1);
        for t in sub.sinks.iter().filter(|t| t.internal) {
            // A join reading the topic may have sized it already, to its other inputs.
            repartition
                .entry(t.name.clone())
                .or_insert(asked(&t.name).unwrap_or(count));
        }
        counts[index] = count;
    }
    for (name, partitions) in &repartition {
        ensure(
            backend,
            &format!("{application_id}-{name}"),
            *partitions,
            &[("cleanup.policy", "delete"), ("retention.ms", "-1")],
        )?;
    }
    for (sub, &count) in topology.subtopologies.iter().zip(&counts) {
        for store in &sub.stores {
            let Some(spec) = topology.stores.get(store).filter(|s| s.logging) else {
                continue;
            };
            let topic = format!("{application_id}-{}", changelog_topic(store));
            match spec.kind.retention_ms() {
                None => ensure(backend, &topic, count, &[("cleanup.policy", "compact")])?,
                // Window and session changelogs: compacted (one record per window) and
                // deleted past the store's retention plus the additional retention, as Kafka
                // Streams' `WindowedChangelogTopicConfig` makes them.
                Some(retention_ms) => {
                    let extra = i64::try_from(additional_retention.as_millis()).unwrap_or(i64::MAX);
                    let retention = retention_ms.saturating_add(extra).to_string();
                    ensure(
                        backend,
                        &topic,
                        count,
                        &[("cleanup.policy", "compact,delete"), ("retention.ms", &retention)],
                    )?
                }
            }
        }
    }
    Ok(counts)
}

/// Creates `topic` unless it exists with `partitions` partitions.
fn ensure(backend: &Backend, topic: &str, partitions: i32, configs: &[(&str, &str)]) -> Result<()> {
    match backend.0.partitions(topic)? {
        Some(n) if n == partitions => Ok(()),
        Some(n) => Err(StreamsError::Topology(format!(
            "internal topic {topic} has {n} partitions, the topology needs {partitions}"
        ))),
        None => backend.0.create_topic(topic, partitions, configs),
    }
}
