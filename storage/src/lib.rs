//! Runnel's storage: the partition log, in Kafka's own on-disk format.
//!
//! A partition is a directory of segments. Each segment is a `.log` file holding Kafka v2
//! record batches back to back — exactly the bytes a producer sent, with only baseOffset and
//! partitionLeaderEpoch rewritten — plus two sparse indexes named by the same base offset.
//!
//! ```text
//! events-0/                                 one partition
//! ├── 00000000000000000000.log              batches with offsets 0 ..= 1_048_575
//! ├── 00000000000000000000.index            sparse: relative offset → byte position
//! ├── 00000000000000000000.timeindex        sparse: max timestamp so far → relative offset
//! ├── 00000000000001048576.log              the active segment: appends go here
//! ├── 00000000000001048576.index
//! ├── 00000000000001048576.timeindex
//! ├── recovery-point                        every byte below this offset was fsynced
//! ├── log-start-offset                      set by DeleteRecords / retention
//! ├── cleaner-offset                        compaction's first dirty offset
//! └── clean-shutdown                        present only while the log is closed cleanly
//!
//! 00000000000000000000.log
//! ┌─────────────────────────────── one record batch (v2) ───────────────────────────────┐
//! │ baseOffset i64 │ batchLength i32 │ partitionLeaderEpoch i32 │ magic=2 │ crc u32      │
//! │ attributes i16 │ lastOffsetDelta i32 │ baseTimestamp i64 │ maxTimestamp i64          │
//! │ producerId i64 │ producerEpoch i16 │ baseSequence i32 │ recordCount i32              │
//! │ records (compressed as one block when attributes say so):                           │
//! │   length varint │ attributes i8 │ timestampDelta varlong │ offsetDelta varint        │
//! │   key (varint length, bytes) │ value │ header count varint │ headers …               │
//! └─────────────────────────────────────────────────────────────────────────────────────┘
//!  ◄─ outside the CRC ──────────────────────────────────────►◄─ CRC-32C covers the rest ─►
//! ┌─────── next batch ───────┐┌─────── next batch ───────┐ …
//!
//! .index: [relative offset u32 | position u32] every index.interval.bytes (4096)
//! .timeindex: [timestamp i64 | relative offset u32], only when the timestamp grew
//! ```
//!
//! Reading by offset is a binary search in the `.index` plus a short forward scan of batch
//! headers; reading by time is the same through the `.timeindex`. A read returns whole stored
//! batches, never re-encoded.
//!
//! After an unclean stop (no `clean-shutdown` file), [`Log::open`] validates every batch from
//! the segment holding the recovery point onward — length, magic, CRC-32C, every record,
//! offsets increasing — and cuts the log at the first batch that fails; see [`log`] for
//! retention and compaction.
//!
//! ```
//! use storage::record::{BatchBuilder, Compression, decode_all};
//! use storage::{Log, LogConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let mut log = Log::open(dir.path(), LogConfig::default())?;
//! let mut batch = BatchBuilder::new(Compression::Zstd);
//! batch.append(1_700_000_000_000, Some(b"k"), Some(b"v1"), &[]);
//! batch.append(1_700_000_000_001, Some(b"k"), Some(b"v2"), &[]);
//! let info = log.append(&mut batch.build(), 0)?;
//! assert_eq!((info.first_offset, info.last_offset), (0, 1));
//!
//! let records = decode_all(&log.read(0, 1 << 20)?, 1 << 20).unwrap();
//! assert_eq!(records[1].value.as_deref(), Some(&b"v2"[..]));
//! assert_eq!(log.offset_for_timestamp(1_700_000_000_001)?, Some((1, 1_700_000_000_001)));
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where to look
//!
//! | module | what it holds |
//! |---|---|
//! | [`log`] | [`Log`]: segments, the offset and time indexes, recovery, retention, compaction, [`LogConfig`] |
//! | [`record`] | Kafka's v2 record batch: [`record::BatchBuilder`], validation, decoding, compression, control records |
//! | [`store`] | the DSL's byte state stores (key-value, window, session; RocksDB and in-memory each), their conformance suites, and the process's RocksDB [`store::MemoryBudget`] |
//! | [`clock`], [`error`] | injected time ([`Clock`]); [`StorageError`] |
//!
//! Performance — append and read against plain file I/O, batch encoding, and why the fast
//! paths exist — is in `docs/performance.md#log-and-storage` (`cargo bench -p
//! runnel-storage --bench log`).

pub mod clock;
pub mod error;
pub mod log;
pub mod record;
pub mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, StorageError};
pub use log::{AppendInfo, CleanupPolicy, FileSlice, Log, LogConfig};
