//! One segment: a `.log` file of batches plus its `.index` and `.timeindex`, all named by
//! the segment's base offset. Only the log's newest (active) segment is appended to; a rolled
//! segment is sealed and shared read-only (`Arc<Segment>`), so readers and the cleaner use it
//! without holding the log's lock.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::LogConfig;
use super::file_slice::FileSlice;
use super::index::OffsetIndex;
use super::scan::{Peek, ScanError, Scanner, whole_batches};
use super::time_index::TimeIndex;
use crate::error::{IoContext, Result, StorageError};
use crate::record::{RecordError, batch_peek, decode_records};

/// `00000000000000000042.log` for base offset 42 and extension `log`.
pub fn file_name(base_offset: i64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// Parses the base offset out of a segment file name with the given extension.
pub fn parse_file_name(name: &str, extension: &str) -> Option<i64> {
    let stem = name.strip_suffix(extension)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// Reads exactly `len` bytes at `position` into a new buffer.
///
/// The fetch path allocates a buffer per read (it becomes the `Bytes` handed to the consumer),
/// and zero-filling it first cost a fifth of a page-cache read in the `log` bench; `pread`
/// straight into the vector's spare capacity avoids that.
#[allow(unsafe_code)]
pub(super) fn read_at(file: &File, position: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsRawFd;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    let mut filled = 0usize;
    while filled < len {
        let spare = &mut buf.spare_capacity_mut()[filled..len];
        let at = libc::off_t::try_from(position + filled as u64).map_err(std::io::Error::other)?;
        // SAFETY: `spare` is writable memory of `spare.len()` bytes owned by `buf`; pread writes
        // at most that many bytes into it and never reads it.
        let n = unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), at) };
        match n {
            n if n > 0 => filled += n as usize,
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
    // SAFETY: pread initialized the first `len` bytes (the loop exits only once filled == len).
    unsafe { buf.set_len(len) };
    Ok(buf)
}

/// Length of the run of whole batches at the start of `buf` whose base offsets are below `upper`.
fn whole_batches_below(buf: &[u8], upper: i64) -> usize {
    let mut end = 0;
    for (start, size) in whole_batches(buf) {
        let base = i64::from_be_bytes(buf[start..start + 8].try_into().unwrap_or_default());
        if base >= upper {
            break;
        }
        end = start + size;
    }
    end
}

/// What a recovery scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Recovered {
    pub batches: u64,
    /// Bytes cut from the end of the file, and why.
    pub truncated: Option<(u64, String)>,
    /// Where the valid prefix ends, if short of the file's end.
    pub cut_at: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    /// Shared with the [`FileSlice`]s handed to fetches, which may outlive the segment.
    file: Arc<File>,
    size: u64,
    /// The offset after the last batch; the base offset while empty.
    next_offset: i64,
    max_timestamp: i64,
    offset_of_max_timestamp: i64,
    /// The first batch's max timestamp: `segment.ms` counts from it, as in Kafka.
    rolling_base_timestamp: Option<i64>,
    created_ms: i64,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index: u64,
}

impl Segment {
    /// A new, empty segment; existing files of that base offset are cut to nothing.
    pub fn create(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .ctx("create segment", &log_path)?;
        let mut index = OffsetIndex::empty(dir.join(file_name(base_offset, "index")), base_offset);
        let mut time_index = TimeIndex::empty(dir.join(file_name(base_offset, "timeindex")), base_offset);
        index.clear()?;
        time_index.clear()?;
        Ok(Segment::with_parts(
            base_offset,
            log_path,
            file,
            0,
            index,
            time_index,
            now_ms,
        ))
    }

    fn with_parts(
        base_offset: i64,
        log_path: PathBuf,
        file: File,
        size: u64,
        index: OffsetIndex,
        time_index: TimeIndex,
        now_ms: i64,
    ) -> Segment {
        Segment {
            base_offset,
            log_path,
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_base_timestamp: None,
            created_ms: now_ms,
            index,
            time_index,
            bytes_since_index: 0,
        }
    }

    /// Opens an existing segment without reading it; follow with [`Segment::load`] or
    /// [`Segment::recover`].
    pub fn open(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .ctx("open segment", &log_path)?;
        let size = file.metadata().ctx("stat segment", &log_path)?.len();
        let created_ms = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now_ms, |d| d.as_millis() as i64);
        let index = OffsetIndex::empty(dir.join(file_name(base_offset, "index")), base_offset);
        let time_index = TimeIndex::empty(dir.join(file_name(base_offset, "timeindex")), base_offset);
        Ok(Segment::with_parts(
            base_offset,
            log_path,
            file,
            size,
            index,
            time_index,
            created_ms,
        ))
    }

    /// Loads a segment that was closed cleanly: its indexes from their files, and the batches
    /// after the last index entry validated to find the end. `Ok(false)` means the indexes
    /// were missing or insane, or the tail did not validate: the caller must [`recover`] it.
    ///
    /// [`recover`]: Segment::recover
    pub fn load(&mut self, config: &LogConfig) -> Result<bool> {
        let dir = self.log_path.parent().unwrap_or(Path::new("."));
        let Some(index) = OffsetIndex::load(
            dir.join(file_name(self.base_offset, "index")),
            self.base_offset,
            self.size.max(1),
        ) else {
            return Ok(false);
        };
        let Some(time_index) = TimeIndex::load(
            dir.join(file_name(self.base_offset, "timeindex")),
            self.base_offset,
        ) else {
            return Ok(false);
        };
        // The time index's last entry names the batch holding the largest timestamp; scan from
        // there (or from the last offset-index entry, if earlier) so that entry is checked
        // against the batch itself: a time index that parses but disagrees with the log is
        // not trusted (retention and ListOffsets depend on it).
        let time_last = time_index.last();
        if self.size > 0 && time_last.is_none() {
            return Ok(false);
        }
        let mut start = index.lookup(i64::MAX);
        if let Some((_, offset)) = time_last {
            if offset < self.base_offset {
                return Ok(false);
            }
            start = start.min(index.lookup(offset));
        }
        self.index = index;
        self.time_index = time_index;
        self.bytes_since_index = self.size - self.index.lookup(i64::MAX);
        let mut scanner = Scanner::new(&self.file, self.size, start);
        let mut tail = Vec::new();
        loop {
            match scanner.next_valid(config.max_decompressed_bytes) {
                Ok(Some((peek, _))) => tail.push(peek),
                Ok(None) => break,
                Err(ScanError::Io(e)) => return Err(e).ctx("read segment", &self.log_path),
                Err(ScanError::Corrupt { .. }) => return Ok(false),
            }
        }
        let mut time_entry_seen = time_last.is_none();
        let mut expected = if start == 0 { self.base_offset } else { i64::MIN };
        for peek in tail {
            if peek.base_offset < expected || !self.fits(&peek) {
                return Ok(false);
            }
            if let Some((ts, offset)) = time_last
                && peek.last_offset() == offset
            {
                if peek.max_timestamp != ts {
                    return Ok(false);
                }
                time_entry_seen = true;
            }
            expected = peek.next_offset();
            self.next_offset = peek.next_offset();
            if peek.max_timestamp > self.max_timestamp {
                self.max_timestamp = peek.max_timestamp;
                self.offset_of_max_timestamp = peek.last_offset();
            }
        }
        if !time_entry_seen || (self.size > 0 && self.next_offset == self.base_offset) {
            return Ok(false);
        }
        self.rolling_base_timestamp = self.first_batch_max_timestamp();
        Ok(true)
    }

    fn first_batch_max_timestamp(&self) -> Option<i64> {
        let mut scanner = Scanner::new(&self.file, self.size, 0);
        scanner
            .peek()
            .ok()
            .flatten()
            .map(|p| p.max_timestamp)
            .filter(|&ts| ts >= 0)
    }

    /// Whether a batch's offsets fit this segment: Kafka keeps every offset within i32::MAX of
    /// the segment's base (relative offsets are 32-bit in the index), so a baseOffset damaged
    /// upward past that is caught even though it lies outside the CRC.
    fn fits(&self, peek: &Peek) -> bool {
        peek.base_offset >= self.base_offset && peek.last_offset() - self.base_offset <= i64::from(i32::MAX)
    }

    /// Validates every batch from the start, rebuilds both indexes, and cuts the file at the
    /// first batch that is torn, corrupt or out of offset order. Nothing past that point is
    /// ever served.
    pub fn recover(&mut self, config: &LogConfig) -> Result<Recovered> {
        let recovered = self.scan_valid_prefix(config)?;
        if let Some(position) = recovered.cut_at {
            self.cut(position)?;
        }
        Ok(recovered)
    }

    /// The validation half of [`Segment::recover`]: rebuilds the indexes and state for the
    /// valid prefix and reports where it ends, without touching the file, so the caller can
    /// first delete what follows (a crash in between must not leave a hole).
    pub fn scan_valid_prefix(&mut self, config: &LogConfig) -> Result<Recovered> {
        self.index.clear()?;
        self.time_index.clear()?;
        self.reset_state();
        let mut scanner = Scanner::new(&self.file, self.size, 0);
        let mut recovered = Recovered::default();
        let mut batches: Vec<Peek> = Vec::new();
        let cut = loop {
            match scanner.next_valid(config.max_decompressed_bytes) {
                Ok(Some((peek, _))) => {
                    let expected = batches.last().map_or(self.base_offset, |p| p.next_offset());
                    if peek.base_offset < expected || !self.fits(&peek) {
                        break Some((
                            peek.position,
                            format!("batch at offset {} does not follow {expected}", peek.base_offset),
                        ));
                    }
                    batches.push(peek);
                }
                Ok(None) => break None,
                Err(ScanError::Io(e)) => return Err(e).ctx("read segment", &self.log_path),
                Err(ScanError::Corrupt { position, source }) => break Some((position, source.to_string())),
            }
        };
        for peek in &batches {
            self.index_batch(peek, config.index_interval_bytes);
        }
        recovered.batches = batches.len() as u64;
        if let Some((position, reason)) = cut {
            recovered.truncated = Some((self.size - position, reason));
            recovered.cut_at = Some(position);
        }
        self.index.persist()?;
        self.time_index.persist()?;
        Ok(recovered)
    }

    /// Cuts the file at `position` (the end of the valid prefix found by a scan).
    pub fn cut(&mut self, position: u64) -> Result<()> {
        self.file
            .set_len(position)
            .ctx("truncate segment", &self.log_path)?;
        self.file.sync_data().ctx("fsync segment", &self.log_path)?;
        self.size = position;
        Ok(())
    }

    fn reset_state(&mut self) {
        self.next_offset = self.base_offset;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = self.base_offset;
        self.rolling_base_timestamp = None;
        self.bytes_since_index = 0;
    }

    /// Indexes a batch just placed at `peek.position`: Kafka's rule of one index entry once
    /// more than `index.interval.bytes` were written since the last.
    fn index_batch(&mut self, peek: &Peek, interval: u64) {
        if self.rolling_base_timestamp.is_none()
            && self.next_offset == self.base_offset
            && peek.max_timestamp >= 0
        {
            self.rolling_base_timestamp = Some(peek.max_timestamp);
        }
        if peek.max_timestamp > self.max_timestamp {
            self.max_timestamp = peek.max_timestamp;
            self.offset_of_max_timestamp = peek.last_offset();
        }
        if self.bytes_since_index > interval {
            self.index.append(peek.base_offset, peek.position);
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += peek.size as u64;
        self.next_offset = peek.next_offset();
    }

    /// Appends already validated batches with offsets assigned. `peeks` describe them, with
    /// positions relative to the start of `bytes`.
    pub fn append(&mut self, bytes: &[u8], peeks: &[Peek], config: &LogConfig) -> Result<()> {
        let start = self.size;
        if let Err(e) = self.file.write_all_at(bytes, start) {
            // A short write (e.g. a full disk) must not leave a partial batch behind.
            let _ = self.file.set_len(start);
            return Err(e).ctx("append to segment", &self.log_path);
        }
        self.size += bytes.len() as u64;
        for peek in peeks {
            let placed = Peek {
                position: start + peek.position,
                ..*peek
            };
            self.index_batch(&placed, config.index_interval_bytes);
        }
        Ok(())
    }

    /// Whether appending `size` bytes of batches ending at `last_offset` with `max_timestamp`
    /// must first roll to a new segment.
    pub fn should_roll(
        &self,
        size: usize,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> bool {
        if self.size == 0 {
            return false;
        }
        let waited = match self.rolling_base_timestamp {
            Some(base) if max_timestamp >= 0 => max_timestamp - base,
            _ => now_ms - self.created_ms,
        };
        self.size + size as u64 > config.segment_bytes
            || waited > config.segment_ms
            || last_offset - self.base_offset > i64::from(i32::MAX)
    }

    /// Reads whole batches starting with the one that holds `offset`, up to `max_bytes` (but
    /// always the first batch whole), stopping before any batch whose base offset is
    /// `upper` or beyond. `None` when the segment has nothing at or after `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Option<Bytes>> {
        // One pread from the indexed position usually covers both the short scan to the
        // batch holding `offset` and the data to return (`max_bytes` counted from that batch);
        // fall back to a scan and a second read when it does not.
        const SLACK: usize = 16 * 1024;
        let start = self.index.lookup(offset);
        if start >= self.size {
            return Ok(None);
        }
        let len = (max_bytes.saturating_add(SLACK) as u64).min(self.size - start) as usize;
        let buf = read_at(&self.file, start, len).ctx("read segment", &self.log_path)?;
        let mut first = None;
        for (at, size) in whole_batches(&buf) {
            let peek = batch_peek(&buf[at..]).map_err(|e| self.corrupt(start + at as u64, e))?;
            if peek.base_offset + i64::from(peek.last_offset_delta) >= offset {
                first = Some((at, size, peek.base_offset));
                break;
            }
        }
        let Some((at, size, base)) = first else {
            return self.read_from_scan(offset, max_bytes, upper);
        };
        if base >= upper {
            return Ok(None);
        }
        let cut_short = at > SLACK && start + (len as u64) < self.size;
        if cut_short {
            return self.read_from_scan(offset, max_bytes, upper);
        }
        let window = (at + max_bytes).min(buf.len());
        let end = match whole_batches_below(&buf[at..window], upper) {
            // The first batch alone is larger than max_bytes: return it whole (KIP-74).
            0 => size,
            end => end,
        };
        Ok(Some(Bytes::from(buf).slice(at..at + end)))
    }

    /// Where [`Segment::read`]'s batches lie, without reading them: the same batches (the one
    /// holding `offset` first, whole batches within `max_bytes` of its start, none starting at
    /// or after `upper`) as a slice of the file. Only batch headers are read: from the index
    /// entry before `offset`, and from the index entry before the slice's far end.
    pub fn locate(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Option<FileSlice>> {
        let Some(first) = self.find_batch(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= upper {
            return Ok(None);
        }
        let limit = first.position.saturating_add(max_bytes as u64).min(self.size);
        let mut end = first.end();
        if limit > end {
            // Every batch before an indexed batch start at or below `limit` ends within it, and
            // every batch before the indexed one at or below `upper` starts below `upper`:
            // the header walk starts at the nearer of the two.
            let hop = self.index.lookup_position(limit).min(self.index.lookup(upper));
            end = end.max(hop);
            let mut scanner = Scanner::new(&self.file, self.size, end);
            loop {
                match scanner.peek() {
                    Ok(Some(peek)) if peek.base_offset < upper && peek.end() <= limit => {
                        end = peek.end();
                        scanner.skip(&peek);
                    }
                    Ok(_) => break,
                    Err(e) => return Err(self.scan_error(e)),
                }
            }
        }
        Ok(Some(FileSlice::new(
            Arc::clone(&self.file),
            self.log_path.clone(),
            first.position,
            (end - first.position) as usize,
        )))
    }

    fn read_from_scan(&self, offset: i64, max_bytes: usize, upper: i64) -> Result<Option<Bytes>> {
        let Some(first) = self.find_batch(offset)? else {
            return Ok(None);
        };
        if first.base_offset >= upper {
            return Ok(None);
        }
        let available = (self.size - first.position) as usize;
        let len = max_bytes.min(available).max(first.size);
        let mut buf = read_at(&self.file, first.position, len).ctx("read segment", &self.log_path)?;
        let end = whole_batches_below(&buf, upper);
        buf.truncate(end);
        Ok(Some(Bytes::from(buf)))
    }

    /// The first batch whose last offset is at or after `offset`.
    pub fn find_batch(&self, offset: i64) -> Result<Option<Peek>> {
        let mut scanner = Scanner::new(&self.file, self.size, self.index.lookup(offset));
        loop {
            match scanner.peek() {
                Ok(Some(peek)) if peek.last_offset() >= offset => return Ok(Some(peek)),
                Ok(Some(peek)) => scanner.skip(&peek),
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.scan_error(e)),
            }
        }
    }

    /// Every batch from the start, as stored. For the cleaner and for tests.
    pub fn batches(&self) -> impl Iterator<Item = Result<(Peek, Bytes)>> + '_ {
        let mut scanner = Scanner::new(&self.file, self.size, 0);
        std::iter::from_fn(move || match scanner.peek() {
            Ok(Some(peek)) => Some(
                scanner
                    .take(&peek)
                    .map(|b| (peek, Bytes::copy_from_slice(b)))
                    .map_err(|e| self.scan_error(e)),
            ),
            Ok(None) => None,
            Err(e) => Some(Err(self.scan_error(e))),
        })
    }

    fn scan_error(&self, e: ScanError) -> StorageError {
        match e {
            ScanError::Io(source) => StorageError::Io {
                op: "read segment",
                path: self.log_path.clone(),
                source,
            },
            ScanError::Corrupt { position, source } => StorageError::CorruptSegment {
                path: self.log_path.clone(),
                position,
                source,
            },
        }
    }

    /// The earliest record whose timestamp is at or after `timestamp`: (offset, timestamp).
    pub fn find_by_timestamp(&self, timestamp: i64, decompress_limit: usize) -> Result<Option<(i64, i64)>> {
        let from = self
            .time_index
            .lookup_below(timestamp)
            .map_or(self.base_offset, |o| o + 1);
        let mut scanner = Scanner::new(&self.file, self.size, self.index.lookup(from));
        loop {
            let peek = match scanner.peek() {
                Ok(Some(peek)) => peek,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.scan_error(e)),
            };
            if peek.max_timestamp < timestamp {
                scanner.skip(&peek);
                continue;
            }
            let bytes = Bytes::copy_from_slice(scanner.take(&peek).map_err(|e| self.scan_error(e))?);
            let (_, records) = decode_records(&bytes, decompress_limit)
                .map_err(|source| self.corrupt(peek.position, source))?;
            if let Some(r) = records.iter().find(|r| r.timestamp >= timestamp) {
                return Ok(Some((r.offset, r.timestamp)));
            }
        }
    }

    fn corrupt(&self, position: u64, source: RecordError) -> StorageError {
        StorageError::CorruptSegment {
            path: self.log_path.clone(),
            position,
            source,
        }
    }

    /// Removes every batch whose last offset is at or after `offset`; a batch holding `offset`
    /// goes whole, as in Kafka. Indexes are rebuilt from what remains.
    pub fn truncate_to(&mut self, offset: i64, config: &LogConfig) -> Result<()> {
        let cut = match self.find_batch(offset)? {
            Some(peek) => peek.position,
            None => return Ok(()),
        };
        self.file.set_len(cut).ctx("truncate segment", &self.log_path)?;
        self.size = cut;
        self.recover(config).map(|_| ())
    }

    /// Writes a closing time-index entry and the index entries not yet on disk. Called when the
    /// segment stops being active (Kafka's `onBecomeInactiveSegment`).
    pub fn seal(&mut self) -> Result<()> {
        if self.size > 0 {
            self.time_index
                .maybe_append(self.max_timestamp, self.offset_of_max_timestamp);
        }
        self.index.persist()?;
        self.time_index.persist()
    }

    /// Makes the segment's bytes and indexes durable.
    pub fn flush(&mut self) -> Result<()> {
        self.index.persist()?;
        self.time_index.persist()?;
        self.sync()
    }

    /// fsyncs the files as they are (for sealed segments, whose indexes are already written).
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().ctx("fsync segment", &self.log_path)?;
        for path in [self.index.path(), self.time_index.path()] {
            if let Ok(f) = File::open(path) {
                f.sync_data().ctx("fsync index", path)?;
            }
        }
        Ok(())
    }

    /// Deletes the segment's files. Readers holding the `Arc` keep a valid handle (Unix).
    pub fn delete_files(&self) -> Result<()> {
        for path in [self.log_path.as_path(), self.index.path(), self.time_index.path()] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("delete segment file", path),
            }
        }
        Ok(())
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_twenty_digits_and_parse_back() {
        assert_eq!(file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(parse_file_name("00000000000000000042.log", "log"), Some(42));
        assert_eq!(parse_file_name("00000000000000000042.log.swap", "log"), None);
        assert_eq!(parse_file_name("42.log", "log"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log", "log"), None);
    }
}
