//! Topic preparation at start: source topics checked, repartition and changelog topics
//! created with the partition counts the topology implies.

use std::collections::BTreeMap;

use crate::backend::Backend;

use crate::error::{Result, StreamsError};
use crate::state::changelog_topic;
use crate::topology::{NodeKind, Topology};

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
    let mut counts = Vec::with_capacity(topology.subtopologies.len());
    // Sub-topologies are numbered upstream first (a repartition source is created after its
    // sink), so one pass in order sees every repartition topic's writer before its reader.
    for sub in &topology.subtopologies {
        let mut external = Vec::new();
        let mut internal = Vec::new();
        for t in &sub.sources {
            if t.internal {
                let asked = topology.internal_topics.get(&t.name).and_then(|i| i.partitions);
                internal.push(asked.or_else(|| repartition.get(&t.name).copied()).unwrap_or(1));
            } else {
                let n = existing(&t.name)?.ok_or_else(|| StreamsError::MissingSourceTopic {
                    topic: t.name.clone(),
                })?;
                external.push((t.name.clone(), n));
            }
        }
        let source_nodes = sub
            .nodes
            .iter()
            .filter(|&&i| matches!(topology.nodes[i].kind, NodeKind::Source { .. }))
            .count();
        if source_nodes > 1 && !sub.stores.is_empty() && external.windows(2).any(|w| w[0].1 != w[1].1) {
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
        for t in &sub.sinks {
            if t.internal {
                let asked = topology.internal_topics.get(&t.name).and_then(|i| i.partitions);
                repartition.insert(t.name.clone(), asked.unwrap_or(count));
            }
        }
        counts.push(count);
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
