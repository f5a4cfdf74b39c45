//! Small per-partition files that must survive a crash whole or not at all: written to a
//! temporary name, fsynced, renamed over the old one, and the directory fsynced.
//!
//! Kafka keeps these per log directory for all partitions at once; one file per partition
//! keeps a partition directory self-contained (it can be moved or deleted alone).

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Offset below which every byte has been fsynced; recovery validates from here.
pub const RECOVERY_POINT: &str = "recovery-point";
/// The log start offset when `delete_records_before` moved it inside a segment.
pub const LOG_START_OFFSET: &str = "log-start-offset";
/// Written last by a clean close (holding the log end offset), removed at open.
pub const CLEAN_SHUTDOWN: &str = "clean-shutdown";

pub fn write(dir: &Path, name: &str, offset: i64) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let mut file = fs::File::create(&tmp).ctx("create", &tmp)?;
    file.write_all(format!("0\n{offset}\n").as_bytes())
        .ctx("write", &tmp)?;
    file.sync_all().ctx("fsync", &tmp)?;
    fs::rename(&tmp, &path).ctx("rename", &path)?;
    sync_dir(dir)
}

/// Reads a checkpoint; a missing or unreadable one is `None` (the caller falls back to the
/// safe default, e.g. recovering from the start).
pub fn read(dir: &Path, name: &str) -> Option<i64> {
    let text = fs::read_to_string(dir.join(name)).ok()?;
    let mut lines = text.lines();
    (lines.next()? == "0").then_some(())?;
    lines.next()?.trim().parse().ok()
}

pub fn remove(dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(name);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).ctx("remove", &path),
    }
}

/// Makes renames and unlinks in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx("fsync directory", dir)
}
