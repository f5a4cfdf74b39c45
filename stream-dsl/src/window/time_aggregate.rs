//! The aggregation of a stream windowed by [`TimeWindows`], Kafka Streams'
//! `KStreamWindowAggregate`.
//!
//! A record at `t` updates each window `[start, start + size)` that holds it and is still
//! open: a window is **closed once `end + grace <= stream time`** (so it takes the record iff
//! `end > stream time - grace`), checked window by window, so a late hopping record can land
//! in some of its windows and be dropped from others; each window it is dropped from counts
//! once in `dropped-records`. Stream time is the largest timestamp this processor has seen
//! (of records with a key), as in Kafka.
//!
//! Two places where Runnel does better than Kafka 4.4 (`interop/allow-list.md`):
//! - **Stream time survives restarts.** Kafka keeps it in memory only, so after a restart a
//!   record that was late can reopen a closed (and already emitted) window. Here it is read back
//!   from the store at start: it is the largest timestamp among the windows held.
//! - **Emit on window close never skips a window.** Kafka looks for closed windows after the
//!   record's puts, through the store's retention, at most once per second of wall-clock time,
//!   and silently never emits a window that expired from the store in between. Here the closed
//!   windows are emitted before the record's puts, whenever stream time closes new ones: a
//!   window closed by this record's stream time is still in the store then (retention is at
//!   least size plus grace).

use std::sync::Arc;

use bytes::BytesMut;
use storage::store::Windowed;

use super::definitions::{EmitStrategy, TimeWindows};
use super::forward::{forward_closed_windows, forward_windows};
use crate::error::Result;
use crate::ktable::OldValues;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Header, Record};
use crate::state::WindowStore;

/// `(key, value, the window's aggregate so far) → new aggregate`; `None`: a new window.
pub(crate) type WindowAggFn<K, V, VA> = Arc<dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync>;

pub(crate) struct TimeWindowAggregate<K, V, VA> {
    store_name: String,
    windows: TimeWindows,
    f: WindowAggFn<K, V, VA>,
    emit: EmitStrategy,
    /// Whether downstream reads old values (the store then reads each window's as it is
    /// written).
    old_values: OldValues,
    store: Option<WindowStore<K, VA>>,
    /// The largest timestamp seen; `None` before the first record.
    stream_time: Option<i64>,
    /// With [`EmitStrategy::OnWindowClose`]: the close time up to which windows were emitted.
    emitted_until: Option<i64>,
    key_buf: BytesMut,
    value_buf: BytesMut,
}

impl<K, V, VA> TimeWindowAggregate<K, V, VA> {
    pub fn new(
        store_name: String,
        windows: TimeWindows,
        f: WindowAggFn<K, V, VA>,
        emit: EmitStrategy,
        old_values: OldValues,
    ) -> Self {
        TimeWindowAggregate {
            store_name,
            windows,
            f,
            emit,
            old_values,
            store: None,
            stream_time: None,
            emitted_until: None,
            key_buf: BytesMut::new(),
            value_buf: BytesMut::new(),
        }
    }
}

impl<K: Data, V: Data, VA: Data> TimeWindowAggregate<K, V, VA> {
    /// Emits every window closed by `close` (`end <= close`) not emitted yet, oldest window
    /// start first, all keys (Kafka's `fetchAll` in store order within a start).
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        close: i64,
        cause: &[Header],
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let size = self.windows.size_ms;
        // Windows whose end is in (emitted_until, close]: starts in (emitted_until - size,
        // close - size].
        let upper = close.saturating_sub(size);
        let lower = match self.emitted_until {
            Some(done) if done >= close => return Ok(()),
            Some(done) => done.saturating_sub(size).saturating_add(1).max(0),
            None => 0,
        };
        forward_closed_windows(ctx, store, lower, upper, cause)?;
        self.emitted_until = Some(close);
        Ok(())
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>> for TimeWindowAggregate<K, V, VA> {
    fn init(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>) -> Result<()> {
        let store: WindowStore<K, VA> = ctx.get_window_store(&self.store_name)?;
        if self.old_values.requested() {
            store.send_old_values();
        }
        // Stream time as the store has it: the newest window holds the latest record (see the
        // module docs). Everything it closes was emitted before the state was committed.
        self.stream_time = store.latest_timestamp(self.windows.size_ms)?;
        if self.emit == EmitStrategy::OnWindowClose {
            self.emitted_until = self.stream_time.map(|s| s.saturating_sub(self.windows.grace_ms));
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        r: Record<K, V>,
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        self.key_buf.clear();
        if !store.key_into(&r.key, &mut self.key_buf)? {
            tracing::warn!(store = %self.store_name, "skipping a record with a null key");
            ctx.record_dropped();
            return Ok(());
        }
        let stream_time = self.stream_time.map_or(r.timestamp, |s| s.max(r.timestamp));
        self.stream_time = Some(stream_time);
        let close = stream_time.saturating_sub(self.windows.grace_ms);
        if self.emit == EmitStrategy::OnWindowClose {
            self.emit_closed(ctx, close, &r.headers)?;
        }
        let Some(store) = &self.store else {
            return Ok(());
        };
        for window in self.windows.windows_for(r.timestamp) {
            if window.end <= close {
                tracing::debug!(
                    store = %self.store_name,
                    timestamp = r.timestamp,
                    window = ?(window.start, window.end),
                    expiration = close,
                    stream_time,
                    "skipping a record for an expired window"
                );
                ctx.record_dropped();
                continue;
            }
            let (old, timestamp) = match store.fetch_raw(&self.key_buf, window.start)? {
                Some((agg, ts)) => (Some(agg), ts.max(r.timestamp)),
                None => (None, r.timestamp),
            };
            let new = (self.f)(&r.key, r.value.clone(), old);
            let written = store.put_raw(
                &self.key_buf,
                window.start,
                Some(&new),
                timestamp,
                &mut self.value_buf,
            )?;
            if self.emit == EmitStrategy::OnWindowUpdate {
                forward_windows(ctx, store, written, &r.headers)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let written = store.flush_raw()?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            forward_windows(ctx, store, written, &[])?;
        }
        Ok(())
    }
}
