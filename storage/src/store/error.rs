//! Errors of the state stores, and of decoding the window and session key schemas.

use std::path::PathBuf;

/// Errors of a state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} on state store {store}: {source}")]
    Rocks {
        store: String,
        op: &'static str,
        #[source]
        source: rocksdb::Error,
    },
    #[error("state store directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The store was closed explicitly (`close`) and then used.
    #[error("state store {store} is closed")]
    Closed { store: String },
    /// A record handed to `restore` does not carry a window or session store key: the
    /// changelog is corrupt, or belongs to another kind of store. Nothing of the batch was
    /// applied. `index` counts records from 0 within the batch.
    #[error("changelog record {index} of a restore into state store {store}: {source}")]
    MalformedChangelogKey {
        store: String,
        index: usize,
        #[source]
        source: KeyError,
    },
    /// A window start or session bound below zero. Kafka Streams' windows start at 0 or later
    /// (`TimeWindows.windowsFor` clamps at 0, records with negative timestamps are dropped
    /// before they reach a store), and the key schemas store times as big-endian bytes, whose
    /// unsigned order is time order only for non-negative times.
    #[error("state store {store}: {what} {timestamp} is negative; windows start at 0 or later")]
    NegativeTimestamp {
        store: String,
        what: &'static str,
        timestamp: i64,
    },
    /// A session whose start is after its end (Kafka's `SessionWindow` refuses one too).
    #[error("state store {store}: session start {start} is after its end {end}")]
    InvalidSession { store: String, start: i64, end: i64 },
    /// A store configuration that cannot work: a negative retention, a window larger than the
    /// retention (Kafka's `Stores` refuses both), a segment interval below 1 ms.
    #[error("state store {store}: {reason}")]
    InvalidConfig { store: String, reason: String },
    /// A segmented store was created with one segment interval and reopened with another,
    /// which means its retention changed. Its segments would map to the wrong times; the task
    /// must destroy it and restore it from the changelog.
    #[error(
        "state store {store} was created with a segment interval of {stored} ms and reopened \
         with {configured} ms (did its retention change?); destroy it and restore it from its \
         changelog"
    )]
    SegmentIntervalChanged {
        store: String,
        stored: i64,
        configured: i64,
    },
    /// A key read back from the store does not decode under its key schema: the store's
    /// files are damaged.
    #[error("state store {store} holds a corrupt key: {source}")]
    CorruptKey {
        store: String,
        #[source]
        source: KeyError,
    },
    /// The store's own bookkeeping on disk (its metadata entries, its column family names) is
    /// not what this code writes: the directory was damaged or written by something else.
    #[error("state store {store}: corrupt {what}: {detail}")]
    CorruptMetadata {
        store: String,
        what: &'static str,
        detail: String,
    },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which key schema a [`KeyError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Kafka's `WindowKeySchema`: key, 8-byte window start, 4-byte sequence number.
    Window,
    /// Kafka's `SessionKeySchema`: key, 8-byte session end, 8-byte session start.
    Session,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::Window => "window",
            KeyKind::Session => "session",
        })
    }
}

/// Why bytes are not a valid window or session store key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Shorter than the fixed-size suffix the schema appends to every key.
    #[error("{kind} store key of {len} bytes is shorter than its {need}-byte time suffix")]
    TooShort { kind: KeyKind, len: usize, need: usize },
    /// A time field below zero; no Kafka Streams store writes one.
    #[error("{kind} store key has a negative {field}: {value}")]
    NegativeTimestamp {
        kind: KeyKind,
        field: &'static str,
        value: i64,
    },
    /// A session key whose start is after its end.
    #[error("session store key has start {start} after end {end}")]
    StartAfterEnd { start: i64, end: i64 },
}
