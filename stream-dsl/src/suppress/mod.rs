//! `KTable::suppress`: holding a table's updates back and letting each key through later, as
//! Kafka Streams' `Suppressed` — once per window when the window closes
//! ([`Suppressed::until_window_closes`], final results), or after a time limit
//! ([`Suppressed::until_time_limit`], rate limiting).
//!
//! The buffer keeps the latest update per key and is changelogged (in Kafka Streams' format:
//! see `buffer.rs`), so what it holds survives a restart and a task move; under
//! `exactly_once_v2` its changelog writes are in the same transaction as the output.
//!
//! One difference from Kafka 4.4 (`interop/allow-list.md`): the emitted update's old value is
//! what downstream last saw of the key (Kafka sends the old value of the latest buffered update,
//! which makes a downstream aggregation that subtracts old values compute a wrong result).

mod buffer;
mod processor;

use std::sync::Arc;
use std::time::Duration;

use storage::store::Windowed;

pub(crate) use processor::SuppressProcessor;

/// When a buffered update is due.
pub(crate) enum TimeDefinition<K> {
    /// Its window's end: final results.
    WindowEnd(Arc<dyn Fn(&K) -> i64 + Send + Sync>),
    /// Its first buffered update's timestamp: a time limit.
    RecordTime,
}

impl<K> Clone for TimeDefinition<K> {
    fn clone(&self) -> Self {
        match self {
            TimeDefinition::WindowEnd(f) => TimeDefinition::WindowEnd(f.clone()),
            TimeDefinition::RecordTime => TimeDefinition::RecordTime,
        }
    }
}

/// How a table's updates are suppressed, as Kafka's `Suppressed`.
pub struct Suppressed<K> {
    pub(crate) name: Option<String>,
    pub(crate) time: TimeDefinition<K>,
    /// For a time limit, the limit; for final results, found from the windows at build time.
    pub(crate) limit: Option<Duration>,
    pub(crate) buffer: BufferConfig,
}

impl<K> std::fmt::Debug for Suppressed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suppressed")
            .field("name", &self.name)
            .field(
                "final_results",
                &matches!(self.time, TimeDefinition::WindowEnd(_)),
            )
            .field("limit", &self.limit)
            .field("buffer", &self.buffer)
            .finish()
    }
}

impl<K: 'static> Suppressed<Windowed<K>> {
    /// Final results of a windowed aggregation: each window goes downstream once, with its
    /// final value, when it closes (stream time reaches its end plus the grace period, plus
    /// the gap for sessions). The buffer must never drop a window: unbounded, or
    /// [`BufferConfig::shut_down_when_full`] (Kafka's `StrictBufferConfig`); `build()` refuses
    /// one that emits early. Updates that delete a window (a session merged away) are not
    /// emitted.
    pub fn until_window_closes(buffer: BufferConfig) -> Suppressed<Windowed<K>> {
        Suppressed {
            name: None,
            time: TimeDefinition::WindowEnd(Arc::new(|k: &Windowed<K>| k.window.end)),
            limit: None,
            buffer,
        }
    }
}

impl<K> Suppressed<K> {
    /// Each key's updates held back until `limit` after its first held-back update, then
    /// its latest one goes downstream.
    pub fn until_time_limit(limit: Duration, buffer: BufferConfig) -> Suppressed<K> {
        Suppressed {
            name: None,
            time: TimeDefinition::RecordTime,
            limit: Some(limit),
            buffer,
        }
    }

    /// Names the processor (and its buffer store `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Suppressed<K> {
        self.name = Some(name.into());
        self
    }
}

/// What a full buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    /// Emits its oldest updates early.
    EmitEarly,
    /// Stops the application with an error.
    ShutDown,
}

/// The suppression buffer's bounds, as Kafka's `BufferConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    pub(crate) max_records: Option<usize>,
    pub(crate) max_bytes: Option<usize>,
    pub(crate) when_full: WhenFull,
}

impl BufferConfig {
    /// No bound (the buffer takes all the memory it needs).
    pub fn unbounded() -> BufferConfig {
        BufferConfig {
            max_records: None,
            max_bytes: None,
            when_full: WhenFull::ShutDown,
        }
    }

    /// At most `n` keys; when full, the oldest are emitted early.
    pub fn max_records(n: usize) -> BufferConfig {
        BufferConfig {
            max_records: Some(n),
            max_bytes: None,
            when_full: WhenFull::EmitEarly,
        }
    }

    /// At most `bytes` of keys, values and record contexts; when full, the oldest are
    /// emitted early.
    pub fn max_bytes(bytes: usize) -> BufferConfig {
        BufferConfig {
            max_records: None,
            max_bytes: Some(bytes),
            when_full: WhenFull::EmitEarly,
        }
    }

    pub fn with_max_records(mut self, n: usize) -> BufferConfig {
        self.max_records = Some(n);
        self
    }

    pub fn with_max_bytes(mut self, bytes: usize) -> BufferConfig {
        self.max_bytes = Some(bytes);
        self
    }

    /// When full, emit the oldest updates early.
    pub fn emit_early_when_full(mut self) -> BufferConfig {
        self.when_full = WhenFull::EmitEarly;
        self
    }

    /// When full, stop the application with an error rather than emit anything early.
    pub fn shut_down_when_full(mut self) -> BufferConfig {
        self.when_full = WhenFull::ShutDown;
        self
    }
}
