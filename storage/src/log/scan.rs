//! Walking the batches of a segment file in order, reading in large chunks so that a scan
//! costs one `pread` per chunk rather than one per batch.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::record::{BatchHeader, HEADER_LEN, RecordError, batch_peek};

const CHUNK: usize = 64 * 1024;

/// What can be read of a batch without its body: enough to find an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peek {
    pub position: u64,
    pub base_offset: i64,
    pub size: usize,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
}

impl Peek {
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn end(&self) -> u64 {
        self.position + self.size as u64
    }
}

/// Why a scan stopped before the end of the file.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(std::io::Error),
    /// The bytes at `position` are not a valid batch.
    Corrupt {
        position: u64,
        source: RecordError,
    },
}

pub(crate) struct Scanner<'a> {
    file: &'a File,
    /// Bytes of the file that belong to the segment.
    len: u64,
    position: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> Scanner<'a> {
    pub fn new(file: &'a File, len: u64, position: u64) -> Scanner<'a> {
        Scanner {
            file,
            len,
            position,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Makes `[at, at + want)` available in the buffer; returns its offset within.
    fn fill(&mut self, at: u64, want: usize) -> Result<usize, ScanError> {
        let buf_end = self.buf_start + self.buf.len() as u64;
        if at >= self.buf_start && at + want as u64 <= buf_end {
            return Ok((at - self.buf_start) as usize);
        }
        let read = want.max(CHUNK).min((self.len - at) as usize);
        self.buf.resize(read, 0);
        self.file
            .read_exact_at(&mut self.buf, at)
            .map_err(ScanError::Io)?;
        self.buf_start = at;
        Ok(0)
    }

    /// The header of the batch at the current position, or `None` at the end of the segment.
    pub fn peek(&mut self) -> Result<Option<Peek>, ScanError> {
        let at = self.position;
        if at >= self.len {
            return Ok(None);
        }
        let corrupt = |source| ScanError::Corrupt { position: at, source };
        let remaining = (self.len - at) as usize;
        if remaining < HEADER_LEN {
            return Err(corrupt(RecordError::Truncated { at: remaining }));
        }
        let i = self.fill(at, HEADER_LEN)?;
        let peek = batch_peek(&self.buf[i..i + HEADER_LEN]).map_err(corrupt)?;
        if peek.size > remaining {
            return Err(corrupt(RecordError::Truncated { at: remaining }));
        }
        Ok(Some(Peek {
            position: at,
            base_offset: peek.base_offset,
            size: peek.size,
            last_offset_delta: peek.last_offset_delta,
            max_timestamp: peek.max_timestamp,
        }))
    }

    /// Moves past the batch just peeked.
    pub fn skip(&mut self, peek: &Peek) {
        self.position = peek.end();
    }

    /// The whole batch just peeked, and moves past it.
    pub fn take(&mut self, peek: &Peek) -> Result<&[u8], ScanError> {
        let i = self.fill(peek.position, peek.size)?;
        self.position = peek.end();
        Ok(&self.buf[i..i + peek.size])
    }

    /// The next batch, fully validated (checksum and records); `None` at the end.
    pub fn next_valid(&mut self, decompress_limit: usize) -> Result<Option<(Peek, BatchHeader)>, ScanError> {
        let Some(peek) = self.peek()? else { return Ok(None) };
        let bytes = self.take(&peek)?;
        let header =
            crate::record::validate(bytes, false, decompress_limit).map_err(|source| ScanError::Corrupt {
                position: peek.position,
                source,
            })?;
        Ok(Some((peek, header)))
    }
}

/// Splits a buffer of whole batches into each batch's size; stops at the first incomplete one.
pub(crate) fn whole_batches(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = &bytes[at..];
        let size = crate::record::declared_size(rest)?;
        if size < HEADER_LEN as i64 || size > rest.len() as i64 {
            return None;
        }
        let start = at;
        at += size as usize;
        Some((start, size as usize))
    })
}
