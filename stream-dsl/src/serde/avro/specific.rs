//! [`AvroSerde`]: Avro for Rust types that derive `serde`'s `Serialize` and `Deserialize`
//! (Confluent's "specific" serde).

use std::marker::PhantomData;
use std::sync::Arc;

use apache_avro::Schema;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::{ParsedSchema, SchemaCache};
use super::{AvroConfig, AvroError, datum, wire};
use crate::serde::{Serde, SerdeError};

/// Avro in Confluent's wire format for a `serde` type `T`, with one schema that is both the
/// writer schema (registered under the topic's subject on first write) and the reader schema
/// (records written with another, compatible schema are resolved into it). Clones share the
/// schema cache.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use stream_dsl::serde::Serde;
/// use stream_dsl::serde::avro::{AvroConfig, AvroSerde};
/// use stream_dsl::registry::{SchemaRegistryClient, SchemaRegistryExt};
///
/// let dir = tempfile::tempdir().unwrap();
/// let cluster = stream_dsl::stream_core::Cluster::embedded(dir.path()).await.unwrap();
/// // The cluster's embedded registry; an `HttpRegistryClient` for a remote one.
/// let registry = cluster.schema_registry().unwrap();
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// struct Order { id: i64, amount: f64 }
///
/// let serde = AvroSerde::<Order>::new(
///     AvroConfig::new(registry.clone()),
///     r#"{"type": "record", "name": "Order", "fields": [
///         {"name": "id", "type": "long"}, {"name": "amount", "type": "double"}]}"#,
/// ).unwrap();
/// let order = Order { id: 7, amount: 2.5 };
/// let bytes = serde.serialize("orders", &order).unwrap().unwrap();
/// // Magic byte 0, then the id the schema got under the subject "orders-value".
/// let id = registry.latest("orders-value").unwrap().id.to_be_bytes();
/// assert_eq!(bytes[..5], [0, id[0], id[1], id[2], id[3]]);
/// let read: Order = serde.deserialize("orders", Some(&bytes)).unwrap();
/// assert_eq!(read, order);
/// # drop(registry);
/// # cluster.shutdown().await;
/// # });
/// ```
pub struct AvroSerde<T> {
    own: Arc<ParsedSchema>,
    cache: Arc<SchemaCache>,
    _type: PhantomData<fn() -> T>,
}

impl<T> AvroSerde<T> {
    /// A serde for `T` with the Avro JSON `schema`, which `T`'s `serde` form must match.
    pub fn new(config: AvroConfig, schema: &str) -> Result<AvroSerde<T>, SerdeError> {
        let parsed = ParsedSchema::parse(schema).map_err(|source| AvroError::InvalidSchema { source })?;
        Ok(AvroSerde::with_parsed(config, parsed))
    }

    /// A serde for `T` with a schema built in code.
    pub fn with_schema(config: AvroConfig, schema: Schema) -> Result<AvroSerde<T>, SerdeError> {
        let parsed =
            ParsedSchema::from_schema(schema).map_err(|source| AvroError::InvalidSchema { source })?;
        Ok(AvroSerde::with_parsed(config, parsed))
    }

    fn with_parsed(config: AvroConfig, parsed: ParsedSchema) -> AvroSerde<T> {
        let own = Arc::new(parsed);
        AvroSerde {
            cache: Arc::new(SchemaCache::new(config, Some(own.clone()))),
            own,
            _type: PhantomData,
        }
    }

    /// The serde's own (writer and reader) schema.
    pub fn schema(&self) -> &Schema {
        self.own.schema()
    }

    pub fn config(&self) -> &AvroConfig {
        self.cache.config()
    }
}

impl<T: apache_avro::AvroSchema> AvroSerde<T> {
    /// A serde for a type that knows its schema: `#[derive(apache_avro::AvroSchema)]` (the
    /// `derive` feature of `apache-avro`) or a hand-written `AvroSchema` impl.
    pub fn for_type(config: AvroConfig) -> Result<AvroSerde<T>, SerdeError> {
        AvroSerde::with_schema(config, T::get_schema())
    }
}

impl<T> Clone for AvroSerde<T> {
    fn clone(&self) -> Self {
        AvroSerde {
            own: self.own.clone(),
            cache: self.cache.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for AvroSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(&format!("AvroSerde<{}>", std::any::type_name::<T>()))
            .field("cache", &self.cache)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<T> for AvroSerde<T> {
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError> {
        let target = self.cache.write_target(topic)?;
        Ok(Some(datum::write_ser(&target, value)?))
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null {
            ty: std::any::type_name::<T>(),
        })?;
        let (id, datum) = wire::split(data)?;
        let plan = self.cache.read_plan(id)?;
        Ok(datum::read_ser(&plan, self.schema(), datum)?)
    }
}

impl<T: Serialize + DeserializeOwned + 'static> Serde<Option<T>> for AvroSerde<T> {
    fn serialize(&self, topic: &str, value: &Option<T>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            Some(v) => <Self as Serde<T>>::serialize(self, topic, v),
            None => Ok(None),
        }
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            None => Ok(None),
            Some(_) => <Self as Serde<T>>::deserialize(self, topic, data).map(Some),
        }
    }
}
