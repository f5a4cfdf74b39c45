//! Small state-directory files (the process id, a task's `.checkpoint`) replaced atomically
//! and durably.

use std::io::Write;
use std::path::Path;

/// Replaces `dir/name` with `bytes`: a temporary file `dir/name.tmp`, fsynced, renamed over
/// the old one, then the directory fsynced so that the rename itself survives a crash. A crash
/// at any point leaves the old file or the new one, never a mix.
pub(crate) fn replace(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        replace(dir.path(), "f", b"one").unwrap();
        replace(dir.path(), "f", b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"two");
        assert!(!dir.path().join("f.tmp").exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(replace(&dir.path().join("gone"), "f", b"x").is_err());
    }
}
