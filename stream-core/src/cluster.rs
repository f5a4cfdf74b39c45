//! `Cluster::embedded(dir)`: the broker and its group coordinator in this process, handing out
//! clients. Dropping it, or [`Cluster::shutdown`], stops background work and closes the logs.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::broker::{Broker, BrokerConfig};
use crate::client::admin::Admin;
use crate::client::consumer::{Consumer, ConsumerConfig};
use crate::client::producer::{Producer, ProducerConfig};
use crate::error::Result;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::offsets_log::{BrokerOffsetsLog, read_offsets_entries};
use crate::txn::{TransactionCoordinator, TxnConfig};

/// An in-process cluster of one broker.
#[derive(Debug, Clone)]
pub struct Cluster {
    broker: Broker,
    groups: Arc<GroupCoordinator>,
    txns: Arc<TransactionCoordinator>,
    /// Services opened on first use and shared by every clone of the cluster, one per type
    /// (see [`Cluster::service`]).
    services: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl Cluster {
    /// Opens (or creates) a broker keeping its data in `dir`, with Kafka's defaults.
    pub async fn embedded(dir: impl AsRef<Path>) -> Result<Cluster> {
        Cluster::embedded_with(BrokerConfig::new(dir.as_ref()), GroupConfig::default()).await
    }

    /// Opens a broker with explicit broker and group-coordinator settings.
    pub async fn embedded_with(config: BrokerConfig, group: GroupConfig) -> Result<Cluster> {
        Cluster::embedded_with_txn(config, group, TxnConfig::default()).await
    }

    /// Opens a broker with explicit broker, group- and transaction-coordinator settings.
    pub async fn embedded_with_txn(
        config: BrokerConfig,
        group: GroupConfig,
        txn: TxnConfig,
    ) -> Result<Cluster> {
        let broker = tokio::task::spawn_blocking(move || Broker::open(config))
            .await
            .map_err(|e| {
                crate::error::BrokerError::io("open broker", Path::new("."), std::io::Error::other(e))
            })??;
        let groups = Arc::new(GroupCoordinator::new(
            group,
            broker.clock(),
            BrokerOffsetsLog::new(broker.clone()),
        ));
        let report = groups.load_entries(read_offsets_entries(&broker)?);
        if report.malformed > 0 {
            tracing::warn!(
                malformed = report.malformed,
                "skipped malformed __consumer_offsets records"
            );
        }
        let txns = {
            let (broker, groups) = (broker.clone(), groups.clone());
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let _guard = handle.enter();
                TransactionCoordinator::start(broker, groups, txn)
            })
            .await
            .map_err(|e| {
                crate::error::BrokerError::io(
                    "start the transaction coordinator",
                    Path::new("."),
                    std::io::Error::other(e),
                )
            })??
        };
        broker.start_background_tasks();
        Ok(Cluster {
            broker,
            groups,
            txns: Arc::new(txns),
            services: Arc::default(),
        })
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn group_coordinator(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    pub fn transaction_coordinator(&self) -> &Arc<TransactionCoordinator> {
        &self.txns
    }

    /// A producer; with `transactional_id` set, a transactional one (call
    /// [`Producer::init_transactions`] first).
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer> {
        Producer::with_coordinator(self.broker.clone(), Some(self.txns.clone()), config)
    }

    pub fn consumer(&self, config: ConsumerConfig) -> Consumer {
        Consumer::new(self.broker.clone(), self.groups.clone(), config)
    }

    /// The service of type `T` attached to this cluster: opened by `open` on the first call,
    /// the same one afterwards, from every clone of the cluster. Crates built on the broker
    /// attach their per-cluster singletons here without the broker knowing them (the schema
    /// registry crate's `cluster.schema_registry()`: two registries over one `_schemas` topic
    /// would each keep their own view and both write). `open` runs under the cluster's
    /// service lock, so it is called once even when threads race; it must not ask for
    /// another service.
    pub fn service<T, E>(
        &self,
        open: impl FnOnce(&Cluster) -> std::result::Result<T, E>,
    ) -> std::result::Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
    {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(service) = services.get(&TypeId::of::<T>()) {
            if let Ok(service) = service.clone().downcast::<T>() {
                return Ok(service);
            }
        }
        let service = Arc::new(open(self)?);
        services.insert(TypeId::of::<T>(), service.clone());
        Ok(service)
    }

    pub fn admin(&self) -> Admin {
        Admin::new(self.broker.clone(), self.groups.clone())
    }

    /// Stops the coordinator and background tasks and closes every log cleanly.
    pub async fn shutdown(self) {
        self.txns.shutdown().await;
        self.groups.shutdown().await;
        self.broker.shutdown().await;
    }
}
