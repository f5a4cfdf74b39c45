//! A run of whole stored batches, named by file and position rather than read.
//!
//! The wire fetch path sends these with `sendfile(2)`, as Kafka sends `FileRecords` with
//! `transferTo`: the page cache goes to the socket without being copied into the broker and
//! out again (the copies and the page faults of fresh read buffers were over half of a
//! consume's broker samples; measured: see `docs/performance.md#sendfile`). The embedded
//! consumer, which decodes the batches in-process, reads them as `Bytes` instead.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{IoContext, Result};

/// `len` bytes of whole batches at `position` in a segment file.
///
/// The slice holds the file open: a segment deleted by retention while a response is on its
/// way stays readable. A segment cut shorter under it (a replica truncating its log) makes the
/// send come up short, which the sender must treat as an error (the frame's length is
/// already promised).
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, path: PathBuf, position: u64, len: usize) -> FileSlice {
        FileSlice {
            file,
            path,
            position,
            len,
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The batches, read into memory.
    pub fn read(&self) -> Result<Bytes> {
        super::segment::read_at(&self.file, self.position, self.len)
            .map(Bytes::from)
            .ctx("read segment", &self.path)
    }
}
