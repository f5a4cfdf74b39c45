//! confluent-kafka's Python `SchemaRegistryClient` (and its Avro serializer) against
//! `runnel serve --registry-listen`, unchanged: the script `tests/python/sr_client.py` checks
//! its own results and exits non-zero with a readable message when one fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

/// Whether `python3` has confluent-kafka with its schema-registry and Avro extras
/// (`scripts/deps.sh` installs them).
fn python_client_available() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import confluent_kafka.schema_registry, confluent_kafka.schema_registry.avro, fastavro",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn confluent_kafka_schema_registry_client_registers_evolves_and_is_refused_incompatible_schemas() {
    if !python_client_available() {
        eprintln!(
            "SKIPPED: python3 cannot import confluent_kafka.schema_registry with Avro support \
             (pip install \"confluent-kafka[avro,schemaregistry]\"; scripts/deps.sh installs it)"
        );
        return;
    }
    let serve = support::Server::start_with_registry(&[]);
    let url = serve.registry_url();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/sr_client.py");
    let started = Instant::now();
    let mut child = Command::new("python3")
        .arg(script)
        .args([url.as_str(), "py-users"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    drop(serve);
    let status = status.unwrap_or_else(|| panic!("sr_client.py did not finish in 60 s\n{stdout}\n{stderr}"));
    assert!(
        status.success(),
        "sr_client.py failed ({status})\nstdout: {stdout}\nstderr: {stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["incompatible"]["status"], 409, "{summary}");
    assert_eq!(summary["wire"]["magic"], 0, "{summary}");
    eprintln!(
        "sr_client.py took {:.2} s: {summary}",
        started.elapsed().as_secs_f64()
    );
}
