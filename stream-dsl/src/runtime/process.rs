//! The instance's process id, kept in its state directory as Kafka Streams keeps it (the
//! `kafka-streams-process-metadata` file): an instance restarted on the same state directory
//! is the same process to the rest of the system.
//!
//! Under exactly-once the id names the stream threads' transactional ids. A restarted
//! instance so registers the transactional ids of its crashed predecessor, which fences the
//! predecessor and aborts its open transaction at once; with a fresh id the crashed
//! transaction would stay open until `transaction.timeout.ms`, and read_committed readers of
//! its partitions (the restarted instance itself among them) would wait for it.

use std::path::Path;

use crate::error::{Result, StreamsError};

/// The file's name, as Kafka Streams names it.
const FILE: &str = "kafka-streams-process-metadata";

/// A UUID in its text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessId(String);

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ProcessId {
    /// The id stored in `app_dir`, or a new one, stored before it is returned.
    pub fn load_or_create(app_dir: &Path) -> Result<ProcessId> {
        let path = app_dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse(&text) {
                Some(id) => return Ok(id),
                // A new id costs only the fencing described in the module docs; refusing to
                // start over a damaged file would cost the application.
                None => {
                    tracing::warn!(path = %path.display(), "replacing an unreadable process metadata file")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StreamsError::StateDir { path, source }),
        }
        let id = ProcessId(random_uuid());
        id.store(app_dir)?;
        Ok(id)
    }

    /// Kafka's layout: `{"version":0,"processId":"<uuid>"}`, written to a temporary file,
    /// fsynced and renamed, so a crash leaves the old file or the new one.
    fn store(&self, app_dir: &Path) -> Result<()> {
        let text = serde_json::json!({ "version": 0, "processId": self.0 }).to_string();
        super::atomic_file::replace(app_dir, FILE, text.as_bytes()).map_err(|source| StreamsError::StateDir {
            path: app_dir.join(FILE),
            source,
        })
    }
}

fn parse(text: &str) -> Option<ProcessId> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let id = value.get("processId")?.as_str()?;
    let uuid_like = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    uuid_like.then(|| ProcessId(id.to_owned()))
}

/// A random (version 4) UUID. The standard library's `RandomState` keys come from the OS's
/// random source; two of them give the 122 random bits without another dependency.
fn random_uuid() -> String {
    use std::hash::BuildHasher;
    let random = || std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    let (hi, lo) = (random(), random());
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarted_instance_reads_back_its_process_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = ProcessId::load_or_create(dir.path()).unwrap();
        let again = ProcessId::load_or_create(dir.path()).unwrap();
        assert_eq!(first, again);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(first, ProcessId::load_or_create(other.path()).unwrap());
    }

    #[test]
    fn the_file_has_kafka_streams_layout_and_a_v4_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let id = ProcessId::load_or_create(dir.path()).unwrap().to_string();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 0);
        assert_eq!(value["processId"], id.as_str());
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "version nibble of {id}");
        assert!("89ab".contains(&id[19..20]), "variant of {id}");
    }

    #[test]
    fn an_unreadable_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not json").unwrap();
        let id = ProcessId::load_or_create(dir.path()).unwrap();
        assert_eq!(ProcessId::load_or_create(dir.path()).unwrap(), id);
    }
}
