//! The stream-table join, Kafka Streams' `KStreamKTableJoin`: each stream record looks its
//! key up in the table's store and is joined with the row found there. Only the stream side
//! triggers; a table update changes what later stream records find and emits nothing.
//!
//! Kafka 4.4's rules, kept here: a record whose key is null is dropped by the inner join
//! (counted in `dropped-records`, logged at warn) and joined with no row by the left join
//! (KIP-962); the result carries the stream record's key, timestamp and headers. Kafka also
//! drops a record whose *value* is null; a Runnel stream's values are typed (`V`, never null
//! unless `V` is an `Option`), so there is nothing of the kind to drop, and an `Option` value
//! that is `None` is joined like any other.

use std::sync::Arc;

use bytes::BytesMut;

use super::Joined;
use crate::error::Result;
use crate::kstream::KStream;
use crate::ktable::KTable;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::Record;
use crate::state::KeyValueStore;
use crate::topology::builder::lock;

/// The user's joiner: of the stream record's value and the table's row, which only the left
/// join may lack.
enum Joiner<V, VT, VR> {
    Inner(InnerFn<V, VT, VR>),
    Left(LeftFn<V, VT, VR>),
}

type InnerFn<V, VT, VR> = Arc<dyn Fn(&V, &VT) -> VR + Send + Sync>;
type LeftFn<V, VT, VR> = Arc<dyn Fn(&V, Option<&VT>) -> VR + Send + Sync>;

impl<V, VT, VR> Clone for Joiner<V, VT, VR> {
    fn clone(&self) -> Self {
        match self {
            Joiner::Inner(f) => Joiner::Inner(f.clone()),
            Joiner::Left(f) => Joiner::Left(f.clone()),
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Joins each record with the row of `table` under its key (Kafka's
    /// `KStream#join(KTable, ValueJoiner, Joined)`); a record without a row is dropped.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let strings = || Consumed::with(Serdes::string(), Serdes::string());
    /// let regions = builder.table::<String, String>("regions", strings(), Materialized::as_("regions"));
    /// builder
    ///     .stream::<String, String>("clicks", strings())
    ///     .join_table(&regions, |page, region| format!("{page}@{region}"), Joined::default())
    ///     .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let region = driver.create_input_topic::<String, String>("regions", Serdes::string(), Serdes::string());
    /// let clicks = driver.create_input_topic::<String, String>("clicks", Serdes::string(), Serdes::string());
    /// let out = driver.create_output_topic::<String, String>("enriched", Serdes::string(), Serdes::string());
    /// clicks.pipe_input("ann".to_string(), "/a".to_string()); // no row yet: dropped
    /// region.pipe_input("ann".to_string(), "eu".to_string());
    /// clicks.pipe_input("ann".to_string(), "/b".to_string());
    /// assert_eq!(out.read_key_values_to_list(), [("ann".to_string(), "/b@eu".to_string())]);
    /// ```
    pub fn join_table<VT: Data, VR: Data>(
        self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.table_join(table, Joiner::Inner(Arc::new(joiner)), joined)
    }

    /// Joins each record with the row of `table` under its key, or with none (Kafka's
    /// `KStream#leftJoin(KTable, ValueJoiner, Joined)`): every record has a result.
    ///
    /// ```
    /// use stream_dsl::prelude::*;
    ///
    /// let builder = StreamsBuilder::new();
    /// let strings = || Consumed::with(Serdes::string(), Serdes::string());
    /// let regions = builder.table::<String, String>("regions", strings(), Materialized::as_("regions"));
    /// builder
    ///     .stream::<String, String>("clicks", strings())
    ///     .left_join_table(
    ///         &regions,
    ///         |page, region| format!("{page}@{}", region.map_or("?", String::as_str)),
    ///         Joined::default(),
    ///     )
    ///     .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    /// let driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    /// let region = driver.create_input_topic::<String, String>("regions", Serdes::string(), Serdes::string());
    /// let clicks = driver.create_input_topic::<String, String>("clicks", Serdes::string(), Serdes::string());
    /// let out = driver.create_output_topic::<String, String>("enriched", Serdes::string(), Serdes::string());
    /// clicks.pipe_input("ann".to_string(), "/a".to_string());
    /// region.pipe_input("ann".to_string(), "eu".to_string());
    /// clicks.pipe_input("ann".to_string(), "/b".to_string());
    /// let expected = [("ann".to_string(), "/a@?".to_string()), ("ann".to_string(), "/b@eu".to_string())];
    /// assert_eq!(out.read_key_values_to_list(), expected);
    /// ```
    pub fn left_join_table<VT: Data, VR: Data>(
        self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        self.table_join(table, Joiner::Left(Arc::new(joiner)), joined)
    }

    fn table_join<VT: Data, VR: Data>(
        self,
        table: &KTable<K, VT>,
        f: Joiner<V, VT, VR>,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let prefix = if matches!(f, Joiner::Left(_)) {
            "KSTREAM-LEFTJOIN"
        } else {
            "KSTREAM-JOIN"
        };
        let store = table.lookup_store(joined.other_value.clone());
        // A re-keyed stream is repartitioned by its new key first, with the table's partition
        // count (see `runtime::topics`), so that a key meets its row.
        let stream = if self.repartition_required {
            let key = joined.key.clone().or(self.key_serde.clone());
            let value = joined.value.clone().or(self.value_serde.clone());
            let name = joined
                .name
                .clone()
                .unwrap_or_else(|| lock(&self.graph).next_name(prefix));
            match self.through_topic(&name, key.clone(), value.clone(), None) {
                Some(node) => KStream::new(self.graph.clone(), node, key, value, false),
                None => self,
            }
        } else {
            self
        };
        let name = store.clone();
        let make = move || StreamTableJoin::new(name.clone(), f.clone());
        let node = match joined.name {
            Some(join) => stream.add_child_named(join, make, vec![store]),
            None => stream.add_child(prefix, make, vec![store]),
        };
        KStream::new(stream.graph.clone(), node, stream.key_serde.clone(), None, false)
    }
}

pub(crate) struct StreamTableJoin<K, V, VT, VR> {
    store_name: String,
    f: Joiner<V, VT, VR>,
    store: Option<KeyValueStore<K, VT>>,
    key_buf: BytesMut,
}

impl<K, V, VT, VR> StreamTableJoin<K, V, VT, VR> {
    fn new(store_name: String, f: Joiner<V, VT, VR>) -> Self {
        StreamTableJoin {
            store_name,
            f,
            store: None,
            key_buf: BytesMut::new(),
        }
    }
}

impl<K: Data, V: Data, VT: Data, VR: Data> Processor<K, V, K, VR> for StreamTableJoin<K, V, VT, VR> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, VR>) -> Result<()> {
        self.store = Some(ctx.get_state_store(&self.store_name)?);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<K, VR>, r: Record<K, V>) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        self.key_buf.clear();
        let row = if store.key_into(&r.key, &mut self.key_buf)? {
            store.get_by_bytes(&self.key_buf)?
        } else if let Joiner::Inner(_) = self.f {
            tracing::warn!(store = %self.store_name, "skipping a record due to a null join key");
            ctx.record_dropped();
            return Ok(());
        } else {
            None
        };
        let value = match (&self.f, row) {
            (Joiner::Inner(f), Some(row)) => f(&r.value, &row),
            (Joiner::Inner(_), None) => return Ok(()),
            (Joiner::Left(f), row) => f(&r.value, row.as_ref()),
        };
        ctx.forward(r.with_value(value))
    }
}
