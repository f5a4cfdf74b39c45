//! The suppress processor, Kafka Streams' `KTableSuppressProcessor`: buffers each update,
//! then, as its own stream time (the largest timestamp of the updates it received) passes an
//! update's due time plus the suppression's duration, emits the oldest updates first (of those due
//! together, the smallest serialized key first, as Kafka's buffer orders them).
//!
//! - Final results (`until_window_closes`): due at the window's end; the duration is the
//!   windows' grace (plus the gap for sessions), so a window is emitted once
//!   `end + grace <= stream time`, as Kafka emits it. Buffered deletions are dropped.
//! - Time limit (`until_time_limit`): due at the key's first buffered update; deletions go
//!   through.
//!
//! An emitted record carries the latest buffered update's timestamp and headers; its old value
//! is what downstream last saw of the key (see the module docs of `suppress`). The buffer is
//! written to its store, and so to its changelog, at each commit, as Kafka writes it.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::buffer::{Buffer, Buffered, RecordContext};
use super::{BufferConfig, TimeDefinition, WhenFull};
use crate::error::{Result, StreamsError};
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Record};
use crate::serde::SharedSerde;
use crate::state::KeyValueStore;

pub(crate) struct SuppressProcessor<K, V> {
    name: String,
    store_name: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    time: TimeDefinition<K>,
    duration_ms: i64,
    buffer_config: BufferConfig,
    /// Final results: deletions are not emitted (Kafka's `safeToDropTombstones`).
    final_results: bool,
    buffer: Buffer,
    stream_time: Option<i64>,
    store: Option<KeyValueStore<Bytes, Bytes>>,
    /// Keys whose buffer entry changed since the last commit.
    dirty: BTreeSet<Bytes>,
}

impl<K, V> SuppressProcessor<K, V> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        store_name: String,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        time: TimeDefinition<K>,
        duration_ms: i64,
        buffer_config: BufferConfig,
    ) -> Self {
        let final_results = matches!(time, TimeDefinition::WindowEnd(_));
        SuppressProcessor {
            name,
            store_name,
            key_serde,
            value_serde,
            time,
            duration_ms,
            buffer_config,
            final_results,
            buffer: Buffer::default(),
            stream_time: None,
            store: None,
            dirty: BTreeSet::new(),
        }
    }
}

impl<K: Data, V: Data> SuppressProcessor<K, V> {
    fn serde_error(&self, what: &'static str, source: crate::serde::SerdeError) -> StreamsError {
        StreamsError::StoreValue {
            store: self.store_name.clone(),
            what,
            source,
        }
    }

    fn value_bytes(&self, value: Option<&V>) -> Result<Option<Bytes>> {
        match value {
            None => Ok(None),
            Some(v) => self
                .value_serde
                .serialize(&self.store_name, v)
                .map_err(|e| self.serde_error("value", e)),
        }
    }

    fn value(&self, bytes: Option<&Bytes>) -> Result<Option<V>> {
        bytes
            .map(|b| self.value_serde.deserialize(&self.store_name, Some(b)))
            .transpose()
            .map_err(|e| self.serde_error("value", e))
    }

    fn over_capacity(&self) -> bool {
        self.buffer_config
            .max_records
            .is_some_and(|max| self.buffer.len() > max)
            || self
                .buffer_config
                .max_bytes
                .is_some_and(|max| self.buffer.size_bytes() > max)
    }

    fn emit(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, key: Bytes, entry: Buffered) -> Result<()> {
        self.dirty.insert(key.clone());
        if entry.new.is_none() && self.final_results {
            return Ok(());
        }
        let record = Record {
            key: self
                .key_serde
                .deserialize(&self.store_name, Some(&key))
                .map_err(|e| self.serde_error("key", e))?,
            value: Change {
                new: self.value(entry.new.as_ref())?,
                old: self.value(entry.prior.as_ref())?,
            },
            timestamp: entry.context.timestamp,
            headers: entry.context.headers,
        };
        ctx.forward(record)
    }
}

impl<K: Data, V: Data> Processor<K, Change<V>, K, Change<V>> for SuppressProcessor<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        let store: KeyValueStore<Bytes, Bytes> = ctx.get_state_store(&self.store_name)?;
        // The store holds the buffer as its changelog restored it.
        for (key, value) in store.all()? {
            let entry = Buffered::decode(&value).map_err(|e| StreamsError::SuppressionBuffer {
                store: self.store_name.clone(),
                source: Box::new(e),
            })?;
            self.buffer.restore(key, entry);
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(&mut self, ctx: &mut ProcessorContext<K, Change<V>>, r: Record<K, Change<V>>) -> Result<()> {
        let Some(key) = self
            .key_serde
            .serialize(&self.store_name, &r.key)
            .map_err(|e| self.serde_error("key", e))?
        else {
            ctx.record_dropped();
            return Ok(());
        };
        let stream_time = self.stream_time.map_or(r.timestamp, |s| s.max(r.timestamp));
        self.stream_time = Some(stream_time);
        let due = match &self.time {
            TimeDefinition::WindowEnd(end) => end(&r.key),
            TimeDefinition::RecordTime => r.timestamp,
        };
        let meta = ctx.record_metadata();
        let context = RecordContext {
            timestamp: r.timestamp,
            offset: meta.as_ref().map_or(-1, |m| m.offset),
            topic: meta.as_ref().map_or_else(String::new, |m| m.topic.clone()),
            partition: meta.as_ref().map_or(-1, |m| m.partition),
            headers: r.headers,
        };
        let old = self.value_bytes(r.value.old.as_ref())?;
        let new = self.value_bytes(r.value.new.as_ref())?;
        self.buffer.put(key.clone(), due, old, new, context);
        self.dirty.insert(key);
        let expiry = stream_time.saturating_sub(self.duration_ms);
        while self.buffer.min_time().is_some_and(|t| t <= expiry) {
            if let Some((key, entry)) = self.buffer.pop_oldest() {
                self.emit(ctx, key, entry)?;
            }
        }
        if self.over_capacity() {
            match self.buffer_config.when_full {
                WhenFull::EmitEarly => {
                    while self.over_capacity() {
                        let Some((key, entry)) = self.buffer.pop_oldest() else {
                            break;
                        };
                        self.emit(ctx, key, entry)?;
                    }
                }
                WhenFull::ShutDown => {
                    return Err(StreamsError::SuppressionBufferFull {
                        processor: self.name.clone(),
                        records: self.buffer.len(),
                        max_records: self.buffer_config.max_records.unwrap_or(usize::MAX),
                        bytes: self.buffer.size_bytes(),
                        max_bytes: self.buffer_config.max_bytes.unwrap_or(usize::MAX),
                    });
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self, _ctx: &mut ProcessorContext<K, Change<V>>) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        for key in std::mem::take(&mut self.dirty) {
            let value = self.buffer.get(&key).map(Buffered::encode);
            store.put_raw(key, value)?;
        }
        Ok(())
    }
}
