//! Subject naming strategies: under which registry subject a serializer registers (or looks
//! up) its schema. The subject is where compatibility is enforced, so the strategy decides
//! what may evolve together: one schema per topic (the default), or one per record type
//! whatever topic it travels on (several event types on one topic).

use apache_avro::Schema;
use apache_avro::schema::SchemaKind;

use super::AvroError;

/// Confluent's `key.subject.name.strategy` / `value.subject.name.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value`: every record of a topic's keys (or values) shares one
    /// evolving schema.
    #[default]
    TopicName,
    /// The record's full name (`com.acme.Order`), whatever the topic: a type evolves once for
    /// every topic that carries it, and a topic may carry several types.
    RecordName,
    /// `<topic>-<full name>`: several types on one topic, each evolving per topic.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject for a key (`is_key`) or value schema `schema` written to `topic`.
    pub fn subject(&self, topic: &str, is_key: bool, schema: &Schema) -> Result<String, AvroError> {
        match self {
            SubjectNameStrategy::TopicName => Ok(format!("{topic}-{}", if is_key { "key" } else { "value" })),
            SubjectNameStrategy::RecordName => record_name(self.name(), schema),
            SubjectNameStrategy::TopicRecordName => {
                Ok(format!("{topic}-{}", record_name(self.name(), schema)?))
            }
        }
    }

    /// Whether the subject depends on the topic, so a serializer must cache ids per topic.
    pub fn uses_topic(&self) -> bool {
        !matches!(self, SubjectNameStrategy::RecordName)
    }

    /// Confluent's class name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            SubjectNameStrategy::TopicName => "TopicNameStrategy",
            SubjectNameStrategy::RecordName => "RecordNameStrategy",
            SubjectNameStrategy::TopicRecordName => "TopicRecordNameStrategy",
        }
    }
}

/// The full name (namespace included) of a named schema. Confluent refuses the record
/// strategies for primitive schemas, which have no name to evolve under; so do we.
fn record_name(strategy: &'static str, schema: &Schema) -> Result<String, AvroError> {
    schema
        .name()
        .map(|n| n.fullname(None))
        .ok_or(AvroError::UnnamedSchema {
            strategy,
            kind: SchemaKind::from(schema),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> Schema {
        Schema::parse_str(
            r#"{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn topic_name_strategy_is_topic_dash_key_or_value() {
        let s = SubjectNameStrategy::default();
        assert_eq!(s.subject("orders", false, &order()).unwrap(), "orders-value");
        assert_eq!(s.subject("orders", true, &Schema::String).unwrap(), "orders-key");
    }

    #[test]
    fn record_name_strategy_is_the_full_name_for_keys_and_values_alike() {
        let s = SubjectNameStrategy::RecordName;
        assert_eq!(s.subject("orders", false, &order()).unwrap(), "com.acme.Order");
        assert_eq!(s.subject("other", true, &order()).unwrap(), "com.acme.Order");
        assert!(!s.uses_topic());
    }

    #[test]
    fn topic_record_name_strategy_is_topic_dash_full_name() {
        let s = SubjectNameStrategy::TopicRecordName;
        assert_eq!(
            s.subject("orders", false, &order()).unwrap(),
            "orders-com.acme.Order"
        );
    }

    #[test]
    fn record_strategies_refuse_unnamed_schemas() {
        for s in [
            SubjectNameStrategy::RecordName,
            SubjectNameStrategy::TopicRecordName,
        ] {
            let err = s.subject("orders", false, &Schema::Long).unwrap_err();
            assert!(
                matches!(
                    err,
                    AvroError::UnnamedSchema {
                        kind: SchemaKind::Long,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
