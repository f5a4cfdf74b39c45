//! What an Avro serde needs besides its schema: the registry to talk to and Confluent's
//! serializer settings, shared by the specific ([`AvroSerde`](super::AvroSerde)) and generic
//! ([`GenericAvroSerde`](super::GenericAvroSerde)) serdes.

use std::sync::Arc;

use registry::SchemaRegistryClient;

use super::SubjectNameStrategy;

/// The registry and Confluent's serializer settings (`auto.register.schemas`,
/// `use.latest.version`, `key/value.subject.name.strategy`), with Confluent's defaults.
#[derive(Debug, Clone)]
pub struct AvroConfig {
    pub(crate) client: Arc<dyn SchemaRegistryClient>,
    pub(crate) is_key: bool,
    pub(crate) strategy: SubjectNameStrategy,
    pub(crate) auto_register: bool,
    pub(crate) use_latest_version: bool,
}

impl AvroConfig {
    /// A value serde's settings: TopicNameStrategy, auto-registration on, own schema.
    pub fn new(client: Arc<dyn SchemaRegistryClient>) -> AvroConfig {
        AvroConfig {
            client,
            is_key: false,
            strategy: SubjectNameStrategy::TopicName,
            auto_register: true,
            use_latest_version: false,
        }
    }

    /// Whether the serde is for record keys: under TopicNameStrategy keys and values of a
    /// topic evolve separately, as `<topic>-key` and `<topic>-value`.
    pub fn with_key(mut self, is_key: bool) -> AvroConfig {
        self.is_key = is_key;
        self
    }

    pub fn with_subject_name_strategy(mut self, strategy: SubjectNameStrategy) -> AvroConfig {
        self.strategy = strategy;
        self
    }

    /// `auto.register.schemas`: on (the default), the first write registers the schema, which
    /// the registry refuses if it breaks the subject's compatibility rule. Off, the schema must
    /// already be registered (by a deploy step, `runnel schemas register`) and the serializer
    /// only looks its id up — production setups turn it off so that applications cannot
    /// evolve a schema by accident.
    pub fn with_auto_register_schemas(mut self, on: bool) -> AvroConfig {
        self.auto_register = on;
        self
    }

    /// `use.latest.version`: write with the subject's latest registered schema instead of the
    /// serde's own (whose fields missing from the value are filled from their defaults).
    /// Takes precedence over auto-registration, as in Confluent's serializer.
    pub fn with_use_latest_version(mut self, on: bool) -> AvroConfig {
        self.use_latest_version = on;
        self
    }

    /// The registry this config talks to.
    pub fn client(&self) -> &Arc<dyn SchemaRegistryClient> {
        &self.client
    }

    pub fn is_key(&self) -> bool {
        self.is_key
    }
}
