//! The native admin client, after Kafka's `Admin`: topics, configs, partitions, and consumer
//! groups with their lag. Topic calls fail only with the broker's errors ([`BrokerError`]);
//! group calls with the group coordinator's too ([`ClientError`]).
//!
//! [`BrokerError`]: crate::error::BrokerError

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::ClientError;
use crate::broker::{AlterConfigOp, Broker, TopicDescription};
use crate::error::Result;
use crate::group::{FetchOffsetsRequest, GroupCoordinator, GroupDescription, GroupListing};
use crate::topic::{TopicConfig, TopicName, TopicPartition};

/// Where a config value comes from, as DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic (`DYNAMIC_TOPIC_CONFIG`).
    Topic,
    /// The broker's default (`DEFAULT_CONFIG`).
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
}

/// One partition of a group: committed offset, end offset and the lag between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: TopicPartition,
    pub committed: i64,
    pub end_offset: i64,
    pub lag: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupLag {
    pub description: GroupDescription,
    pub partitions: Vec<PartitionLag>,
}

#[derive(Debug, Clone)]
pub struct Admin {
    broker: Broker,
    groups: Arc<GroupCoordinator>,
}

impl Admin {
    pub fn new(broker: Broker, groups: Arc<GroupCoordinator>) -> Admin {
        Admin { broker, groups }
    }

    pub fn create_topic<'a>(
        &self,
        name: &str,
        partitions: i32,
        configs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TopicDescription> {
        let configs: BTreeMap<String, String> = configs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.broker.create_topic(name, partitions, -1, configs)
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        self.broker.delete_topic(name)
    }

    pub fn list_topics(&self) -> Vec<TopicName> {
        self.broker.list_topics()
    }

    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        self.broker.describe_topic(name)
    }

    pub fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        self.broker.create_partitions(name, total)
    }

    /// Every config of a topic with its value in effect and where it comes from.
    pub fn describe_configs(&self, topic: &str) -> Result<Vec<ConfigEntry>> {
        let config = self.broker.topic(topic)?.config();
        Ok(TopicConfig::keys()
            .filter_map(|key| {
                config.value_of(key).map(|value| ConfigEntry {
                    name: key.to_string(),
                    value,
                    source: if config.overrides.contains_key(key) {
                        ConfigSource::Topic
                    } else {
                        ConfigSource::Default
                    },
                })
            })
            .collect())
    }

    pub fn alter_configs(&self, topic: &str, ops: &[AlterConfigOp]) -> Result<()> {
        self.broker.alter_topic_config(topic, ops).map(|_| ())
    }

    pub async fn list_groups(&self) -> Result<Vec<GroupListing>, ClientError> {
        Ok(self.groups.list_groups(&[]).await?)
    }

    /// A group's state and members, and per partition its committed offset, the partition's
    /// end offset (high watermark) and the lag.
    pub async fn describe_group(&self, group_id: &str) -> Result<GroupLag, ClientError> {
        let description = self
            .groups
            .describe_groups(&[group_id.to_string()])
            .await?
            .pop()
            .ok_or(crate::group::GroupError::GroupIdNotFound)?;
        let committed = self
            .groups
            .fetch_offsets(FetchOffsetsRequest {
                group_id: group_id.to_string(),
                partitions: None,
            })
            .await?;
        let mut partitions = Vec::new();
        for o in committed.into_iter().filter(|o| o.offset >= 0) {
            let tp = o.topic_partition;
            let end_offset = self.broker.list_offset(&tp, -1)?.0;
            partitions.push(PartitionLag {
                lag: (end_offset - o.offset).max(0),
                partition: tp,
                committed: o.offset,
                end_offset,
            });
        }
        partitions.sort_by(|a, b| a.partition.cmp(&b.partition));
        Ok(GroupLag {
            description,
            partitions,
        })
    }
}
