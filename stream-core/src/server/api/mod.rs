//! One file per API, each with the same three steps: parse the kafka-protocol request into the
//! broker's terms, apply it to the [`Broker`], the [`GroupCoordinator`] or the
//! [`TransactionCoordinator`], and encode the answer into the kafka-protocol response for the
//! request's version.

pub(super) mod add_offsets_to_txn;
pub(super) mod add_partitions_to_txn;
pub(super) mod api_versions;
pub(super) mod create_partitions;
pub(super) mod create_topics;
pub(super) mod delete_groups;
pub(super) mod delete_records;
pub(super) mod delete_topics;
pub(super) mod describe_configs;
pub(super) mod describe_groups;
pub(super) mod end_txn;
pub(super) mod fetch;
pub(super) mod find_coordinator;
pub(super) mod heartbeat;
pub(super) mod incremental_alter_configs;
pub(super) mod init_producer_id;
pub(super) mod join_group;
pub(super) mod leave_group;
pub(super) mod list_groups;
pub(super) mod list_offsets;
pub(super) mod metadata;
pub(super) mod offset_commit;
pub(super) mod offset_delete;
pub(super) mod offset_fetch;
pub(super) mod produce;
pub(super) mod sync_group;
pub(super) mod txn_offset_commit;

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::error_codes;
pub(crate) use super::error_codes::TxnCodes;
use super::server::ServerConfig;
use crate::broker::Broker;
use crate::cluster::Cluster;
use crate::error::{BrokerError, Result};
use crate::group::{GroupCoordinator, GroupError};
use crate::topic::{TopicName, TopicPartition};
use crate::txn::{TransactionCoordinator, TxnError};

/// What every handler may use: the broker, its group and transaction coordinators and the
/// listener's settings.
#[derive(Debug)]
pub(crate) struct Context {
    pub broker: Broker,
    pub groups: Arc<GroupCoordinator>,
    pub txns: Arc<TransactionCoordinator>,
    pub config: ServerConfig,
}

impl Context {
    pub(super) fn new(cluster: &Cluster, config: ServerConfig) -> Context {
        Context {
            broker: cluster.broker().clone(),
            groups: cluster.group_coordinator().clone(),
            txns: cluster.transaction_coordinator().clone(),
            config,
        }
    }

    /// `advertised.port` as the protocol's int32.
    pub(crate) fn advertised_port(&self) -> i32 {
        i32::from(self.config.advertised_port)
    }

    pub(crate) fn advertised_host(&self) -> StrBytes {
        StrBytes::from_string(self.config.advertised_host.clone())
    }

    /// The name of the topic whose id (32 hex digits) is `id`.
    pub(crate) fn topic_by_id(&self, id: &str) -> Option<TopicName> {
        self.broker.topic_name_by_id(id)
    }
}

/// Runs broker work that touches the disk (appends, topic creation and deletion) on the
/// blocking pool, so a slow disk stalls one request rather than a runtime thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    on_blocking_pool(work).await.unwrap_or_else(Err)
}

/// [`blocking`] for the transaction coordinator, whose calls store state and write markers.
pub(crate) async fn blocking_txn<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, TxnError> + Send + 'static,
) -> Result<T, TxnError> {
    on_blocking_pool(work)
        .await
        .unwrap_or_else(|e| Err(TxnError::storage(e)))
}

/// `work` on the blocking pool; the error is the pool's (the task panicked or was cancelled).
async fn on_blocking_pool<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|join| {
        BrokerError::io(
            "run a broker call on the blocking pool",
            std::path::Path::new("."),
            std::io::Error::other(join),
        )
    })
}

/// The wire code of a broker error.
pub(crate) fn code(error: &BrokerError) -> i16 {
    error_codes::broker(error).code()
}

/// The wire code of a transaction coordinator error for a request of `version`.
pub(crate) fn txn_code(error: &TxnError, version: i16, codes: TxnCodes) -> i16 {
    error_codes::txn(error, version, codes).code()
}

/// Each partition's wire code in a group coordinator's per-partition answer (OffsetCommit,
/// TxnOffsetCommit, OffsetDelete): 0 or the error's code.
pub(crate) fn partition_codes(
    results: crate::group::PartitionResults,
) -> std::collections::HashMap<TopicPartition, i16> {
    results
        .into_iter()
        .map(|(tp, r)| (tp, r.as_ref().err().map_or(none(), group_code)))
        .collect()
}

/// The wire code of a group coordinator error.
pub(crate) fn group_code(error: &GroupError) -> i16 {
    error_codes::group(error).code()
}

pub(crate) fn none() -> i16 {
    0
}

pub(crate) fn error(error: ResponseError) -> i16 {
    error.code()
}

pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A topic id in kafka-protocol's UUID type, from the broker's 32 hex digits. The UUID type is
/// kafka-protocol's dependency, not ours, so it is reached through `FromStr` and `Default`.
pub(crate) fn topic_uuid<U: std::str::FromStr + Default>(hex: &str) -> U {
    hex.parse().unwrap_or_default()
}
