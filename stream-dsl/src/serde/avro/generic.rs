//! [`GenericAvroSerde`]: Avro as `apache_avro::types::Value`, for code that handles records
//! whose shape it learns at run time (routers, converters, schema-agnostic tools).

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;
use bytes::Bytes;

use super::cache::{ParsedSchema, SchemaCache};
use super::{AvroConfig, AvroError, datum, wire};
use crate::serde::{Serde, SerdeError};

/// Avro in Confluent's wire format for generic values. Without a schema it reads every record
/// as its writer wrote it (the writer schema comes from the registry) and cannot write; with a
/// schema it writes with it and resolves what it reads into it.
#[derive(Debug, Clone)]
pub struct GenericAvroSerde {
    own: Option<Arc<ParsedSchema>>,
    cache: Arc<SchemaCache>,
}

impl GenericAvroSerde {
    /// A reading serde: values come back in their writer's schema.
    pub fn new(config: AvroConfig) -> GenericAvroSerde {
        GenericAvroSerde {
            own: None,
            cache: Arc::new(SchemaCache::new(config, None)),
        }
    }

    /// A serde that writes with the Avro JSON `schema` and reads into it.
    pub fn with_schema(config: AvroConfig, schema: &str) -> Result<GenericAvroSerde, SerdeError> {
        let parsed = ParsedSchema::parse(schema).map_err(|source| AvroError::InvalidSchema { source })?;
        let own = Arc::new(parsed);
        Ok(GenericAvroSerde {
            cache: Arc::new(SchemaCache::new(config, Some(own.clone()))),
            own: Some(own),
        })
    }

    /// The serde's own schema, if it has one.
    pub fn schema(&self) -> Option<&Schema> {
        self.own.as_deref().map(ParsedSchema::schema)
    }

    pub fn config(&self) -> &AvroConfig {
        self.cache.config()
    }
}

impl Serde<Value> for GenericAvroSerde {
    fn serialize(&self, topic: &str, value: &Value) -> Result<Option<Bytes>, SerdeError> {
        let target = self.cache.write_target(topic)?;
        Ok(Some(datum::write_value(&target, value)?))
    }

    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Value, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Null {
            ty: "apache_avro::types::Value",
        })?;
        let (id, datum) = wire::split(data)?;
        let plan = self.cache.read_plan(id)?;
        Ok(datum::read_value(&plan, self.schema(), datum)?)
    }
}

impl Serde<Option<Value>> for GenericAvroSerde {
    fn serialize(&self, topic: &str, value: &Option<Value>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            Some(v) => <Self as Serde<Value>>::serialize(self, topic, v),
            None => Ok(None),
        }
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<Value>, SerdeError> {
        match data {
            None => Ok(None),
            Some(_) => <Self as Serde<Value>>::deserialize(self, topic, data).map(Some),
        }
    }
}
