//! confluent-kafka's Python `SchemaRegistryClient` (and its Avro serializer) against
//! `runnel serve --registry-listen`, unchanged: the script `tests/python/sr_client.py` checks
//! its own results and exits non-zero with a readable message when one fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod support;

#[test]
fn confluent_kafka_schema_registry_client_registers_evolves_and_is_refused_incompatible_schemas() {
    if !support::python_clients_or_skip(
        "confluent_kafka.schema_registry, confluent_kafka.schema_registry.avro, fastavro",
        "confluent-kafka[avro,schemaregistry]",
    ) {
        return;
    }
    let serve = support::Server::start_with_registry(&[]);
    let url = serve.registry_url();
    let out = support::python(
        "sr_client.py",
        &[url.as_str(), "py-users"],
        Duration::from_secs(60),
    );
    drop(serve);
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["incompatible"]["status"], 409, "{summary}");
    assert_eq!(summary["wire"]["magic"], 0, "{summary}");
}
