//! The aggregation of a stream windowed by [`SessionWindows`], Kafka Streams'
//! `KStreamSessionWindowAggregate`.
//!
//! A record at `t` merges with every session of its key that ends at or after `t - gap` and
//! starts at or before `t + gap`: their aggregates are folded together with the session
//! merger (from the initializer's value, in store order: by end, then start), the record is
//! folded in, the merged sessions are removed (each forwarded as a tombstone stamped with its
//! own end) and the merged session `[min start, max end]` is written (stamped with its end). A
//! record is dropped when the session it would end up in has closed:
//! `end < stream time - grace - gap`.
//!
//! Where Runnel does better than Kafka 4.4 (`interop/allow-list.md`): Kafka's store keeps
//! sessions for `gap + grace` past the newest session end of any key, which hides a session one
//! millisecond before the processor considers it closed, so whether a record merges into it can
//! depend on another key's records. The store here keeps sessions one millisecond longer, so
//! every open session is found. Stream time is read back from the store at start.

use std::sync::Arc;

use bytes::BytesMut;
use storage::store::{Order, Window, Windowed};

use super::definitions::{EmitStrategy, SessionWindows};
use super::forward::forward_sessions;
use super::time_aggregate::WindowAggFn;
use crate::error::Result;
use crate::ktable::OldValues;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Record};
use crate::state::SessionStore;

/// `(key, aggregate so far, a merged session's aggregate) → merged aggregate`: Kafka's
/// `Merger`, called from the initializer's value (`None` for a reduce, whose initializer is
/// Kafka's null) as Kafka calls it, so a merger that is not an identity on the initializer's
/// value (`a + "+" + b` from `""`) gives Kafka's result.
pub(crate) type MergeFn<K, VA> = Arc<dyn Fn(&K, Option<VA>, VA) -> VA + Send + Sync>;

/// The initializer of a session's fold (`None`: Kafka's null, a reduce's).
pub(crate) type InitFn<VA> = Arc<dyn Fn() -> Option<VA> + Send + Sync>;

pub(crate) struct SessionWindowAggregate<K, V, VA> {
    store_name: String,
    windows: SessionWindows,
    init: InitFn<VA>,
    f: WindowAggFn<K, V, VA>,
    merge: MergeFn<K, VA>,
    emit: EmitStrategy,
    /// Whether downstream reads old values (the store then reads each window's as it is
    /// written).
    old_values: OldValues,
    store: Option<SessionStore<K, VA>>,
    stream_time: Option<i64>,
    emitted_until: Option<i64>,
    key_buf: BytesMut,
    value_buf: BytesMut,
}

impl<K, V, VA> SessionWindowAggregate<K, V, VA> {
    pub fn new(
        store_name: String,
        windows: SessionWindows,
        init: InitFn<VA>,
        f: WindowAggFn<K, V, VA>,
        merge: MergeFn<K, VA>,
        emit: EmitStrategy,
        old_values: OldValues,
    ) -> Self {
        SessionWindowAggregate {
            store_name,
            windows,
            init,
            f,
            merge,
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

impl<K: Data, V: Data, VA: Data> SessionWindowAggregate<K, V, VA> {
    /// Emits every session closed by `close` (`end < close`) and not emitted yet.
    fn emit_closed(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>, close: i64) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let upper = close.saturating_sub(1);
        let lower = match self.emitted_until {
            Some(done) if done >= close => return Ok(()),
            Some(done) => done.max(0),
            None => 0,
        };
        if upper >= lower {
            let mut closed = store.sessions_ending_in(lower, upper)?;
            closed.sort_by_key(|a| a.0.window.end);
            for (key, value) in closed {
                let timestamp = key.window.end;
                ctx.forward(Record {
                    key,
                    value: Change::new(Some(value), None),
                    timestamp,
                    headers: Vec::new(),
                })?;
            }
        }
        self.emitted_until = Some(close);
        Ok(())
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>>
    for SessionWindowAggregate<K, V, VA>
{
    fn init(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>) -> Result<()> {
        let store: SessionStore<K, VA> = ctx.get_session_store(&self.store_name)?;
        if self.old_values.requested() {
            store.send_old_values();
        }
        self.stream_time = store.observed_stream_time();
        if self.emit == EmitStrategy::OnWindowClose {
            self.emitted_until = self.stream_time.map(|s| {
                s.saturating_sub(self.windows.grace_ms)
                    .saturating_sub(self.windows.gap_ms)
            });
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
        let (t, gap) = (r.timestamp, self.windows.gap_ms);
        let stream_time = self.stream_time.map_or(t, |s| s.max(t));
        self.stream_time = Some(stream_time);
        let close = stream_time
            .saturating_sub(self.windows.grace_ms)
            .saturating_sub(gap);
        if self.emit == EmitStrategy::OnWindowClose {
            self.emit_closed(ctx, close)?;
        }
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut found = store.find_raw(
            &self.key_buf,
            t.saturating_sub(gap),
            t.saturating_add(gap),
            Order::Forward,
        )?;
        // A closed session takes no more records, even one that would bridge it to a newer
        // one: its final result may have been emitted. The store hides closed sessions itself
        // (its retention is gap + grace + 1, see `window/stream.rs`), but the record
        // cache in front of it does not, and Kafka's caching session store then merges into a
        // closed session that its uncached store would hide. Filtering here makes both the same.
        found.retain(|(window, _)| window.end >= close);
        let mut merged = Window::new(t, t);
        let mut agg: Option<VA> = (self.init)();
        for (window, value) in &found {
            agg = Some((self.merge)(&r.key, agg, value.clone()));
            merged = Window::new(merged.start.min(window.start), merged.end.max(window.end));
        }
        if merged.end < close {
            tracing::debug!(
                store = %self.store_name,
                timestamp = t,
                window = ?(merged.start, merged.end),
                expiration = close,
                stream_time,
                "skipping a record for an expired window"
            );
            ctx.record_dropped();
            return Ok(());
        }
        if merged != Window::new(t, t) {
            for (window, _) in &found {
                let written = store.put_raw(&self.key_buf, *window, None, t, &mut self.value_buf)?;
                if self.emit == EmitStrategy::OnWindowUpdate {
                    forward_sessions(ctx, store, written)?;
                }
            }
        }
        let new = (self.f)(&r.key, r.value, agg);
        let written = store.put_raw(&self.key_buf, merged, Some(&new), t, &mut self.value_buf)?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            forward_sessions(ctx, store, written)?;
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let written = store.flush_raw()?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            forward_sessions(ctx, store, written)?;
        }
        Ok(())
    }
}
