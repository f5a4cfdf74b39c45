//! The aggregation of a stream windowed by [`SlidingWindows`], Kafka Streams'
//! `KStreamSlidingWindowAggregate` (KIP-450), ported step for step (`processReverse`,
//! `processEarly`, `createWindows`), since its output is the definition users compare with.
//!
//! Windows are `[start, start + time difference]`, both ends inclusive, and exist only where
//! records are: each record has its *left* window `[t - td, t]`, and a *right* window
//! `[t + 1, t + 1 + td]` once a later record falls within `td` of it. A record is dropped whole
//! when even its latest possible window has closed (`t + td < stream time - grace`); an
//! existing window is updated while `end >= stream time - grace`. Records earlier than the
//! time difference share the window `[0, td]` (none starts before the epoch).
//!
//! Where Runnel does better than Kafka 4.4 (`interop/allow-list.md`): Kafka's store keeps
//! windows for `2 td + grace` past the newest window *start* of any key, which can hide a window
//! this key still needs (a right window of another key moves that clock), and the record is
//! then aggregated as if its predecessor did not exist. The store here keeps windows long
//! enough that every window a live record can reach stays visible (see `stream.rs`). Stream time
//! is read back from the store at start, as for time windows.

use bytes::BytesMut;
use storage::store::{Order, Window, Windowed};

use super::definitions::{EmitStrategy, SlidingWindows};
use super::forward::{forward_closed_windows, forward_windows};
use super::time_aggregate::WindowAggFn;
use crate::error::Result;
use crate::ktable::OldValues;
use crate::processor::{Data, Processor, ProcessorContext};
use crate::record::{Change, Header, Record};
use crate::state::WindowStore;

pub(crate) struct SlidingWindowAggregate<K, V, VA> {
    store_name: String,
    windows: SlidingWindows,
    f: WindowAggFn<K, V, VA>,
    emit: EmitStrategy,
    /// Whether downstream reads old values (the store then reads each window's as it is
    /// written).
    old_values: OldValues,
    store: Option<WindowStore<K, VA>>,
    stream_time: Option<i64>,
    emitted_until: Option<i64>,
    key_buf: BytesMut,
    value_buf: BytesMut,
}

/// An existing window's aggregate and timestamp (Kafka's `ValueAndTimestamp`).
type Agg<VA> = (VA, i64);

impl<K, V, VA> SlidingWindowAggregate<K, V, VA> {
    pub fn new(
        store_name: String,
        windows: SlidingWindows,
        f: WindowAggFn<K, V, VA>,
        emit: EmitStrategy,
        old_values: OldValues,
    ) -> Self {
        SlidingWindowAggregate {
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

/// What a record's pass over its key's windows found (`processReverse`'s locals).
struct Found<VA> {
    starts: Vec<i64>,
    left_agg: Option<VA>,
    right_agg: Option<Agg<VA>>,
    left_created: bool,
    right_created: bool,
    previous: Option<i64>,
}

impl<K: Data, V: Data, VA: Data> SlidingWindowAggregate<K, V, VA> {
    fn td(&self) -> i64 {
        self.windows.time_difference_ms
    }

    /// `updateWindowAndForward`: folds the record into `window` (whose aggregate so far is
    /// `existing`) if the window is open, else counts the record dropped for it.
    fn update(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        window: Window,
        existing: Option<Agg<VA>>,
        r: &Record<K, V>,
        close: i64,
    ) -> Result<()> {
        if window.end < close {
            tracing::debug!(
                store = %self.store_name,
                timestamp = r.timestamp,
                window = ?(window.start, window.end),
                expiration = close,
                "skipping a record for an expired window"
            );
            ctx.record_dropped();
            return Ok(());
        }
        let (old, timestamp) = match existing {
            Some((agg, ts)) => (Some(agg), r.timestamp.max(ts)),
            None => (None, r.timestamp),
        };
        let new = (self.f)(&r.key, r.value.clone(), old);
        self.put(ctx, window.start, &new, timestamp, &r.headers)
    }

    fn put(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        start: i64,
        agg: &VA,
        timestamp: i64,
        cause: &[Header],
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let written = store.put_raw(&self.key_buf, start, Some(agg), timestamp, &mut self.value_buf)?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            forward_windows(ctx, store, written, cause)?;
        }
        Ok(())
    }

    fn window(&self, start: i64) -> Window {
        Window::new(start, start.saturating_add(self.td()))
    }

    /// `processReverse`: the key's windows that may hold or border the record, newest first.
    fn process_reverse(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        close: i64,
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let (t, td) = (r.timestamp, self.td());
        let windows = store.window_range_raw(&self.key_buf, (t - 2 * td).max(0), t + 1, Order::Backward)?;
        let mut found = Found {
            starts: Vec::new(),
            left_agg: None,
            right_agg: None,
            left_created: false,
            right_created: false,
            previous: None,
        };
        for (start, (agg, max_ts)) in windows {
            let end = start + td;
            found.starts.push(start);
            if start == t + 1 {
                found.right_created = true;
            } else if end > t {
                if found.right_agg.is_none() {
                    found.right_agg = Some((agg.clone(), max_ts));
                }
                self.update(ctx, self.window(start), Some((agg, max_ts)), r, close)?;
            } else if end == t {
                found.left_created = true;
                self.update(ctx, self.window(start), Some((agg, max_ts)), r, close)?;
                if max_ts < t {
                    found.previous = Some(max_ts);
                } else {
                    // A record at this same timestamp came before: every window this record
                    // could create exists already.
                    return Ok(());
                }
            } else {
                found.left_agg = Some(agg);
                found.previous = Some(max_ts);
                break;
            }
        }
        self.create_windows(ctx, r, close, found)
    }

    /// `createWindows`: the previous record's right window, this record's left window, and
    /// this record's right window, where they do not exist yet.
    fn create_windows(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        close: i64,
        found: Found<VA>,
    ) -> Result<()> {
        let (t, td) = (r.timestamp, self.td());
        if let Some(previous) = found.previous {
            let start = previous + 1;
            if !found.starts.contains(&start) && start + td >= t {
                self.update(ctx, self.window(start), None, r, close)?;
            }
        }
        if !found.left_created {
            let base = match (found.previous, found.left_agg) {
                (Some(previous), Some(left)) if t - td <= previous => Some((left, t)),
                _ => None,
            };
            self.update(ctx, self.window(t - td), base, r, close)?;
        }
        if !found.right_created
            && let Some((agg, ts)) = found.right_agg
            && ts > t
        {
            // The right window starts as a copy of the latest window holding the record,
            // value and timestamp as they are: no fold, no close check (it is open).
            self.put(ctx, t + 1, &agg, ts, &r.headers)?;
        }
        Ok(())
    }

    /// `processEarly`: a record earlier than the time difference; its windows are clipped at
    /// the epoch into one `[0, td]`.
    fn process_early(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        r: &Record<K, V>,
        close: i64,
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let t = r.timestamp;
        let windows = store.window_range_raw(&self.key_buf, 0, t + 1, Order::Forward)?;
        let mut combined: Option<(i64, Agg<VA>)> = None;
        let mut right_agg: Option<Agg<VA>> = None;
        let mut right_created = false;
        let mut starts = Vec::new();
        let mut previous = None;
        for (start, (agg, max_ts)) in windows {
            starts.push(start);
            if start == 0 {
                if max_ts < t {
                    previous = Some(max_ts);
                }
                combined = Some((start, (agg, max_ts)));
            } else if start <= t {
                right_agg = Some((agg.clone(), max_ts));
                self.update(ctx, self.window(start), Some((agg, max_ts)), r, close)?;
            } else if start == t + 1 {
                right_created = true;
            }
        }
        if right_agg.is_none()
            && let Some((_, (agg, ts))) = &combined
            && *ts > t
        {
            right_agg = Some((agg.clone(), *ts));
        }
        if !right_created
            && let Some((agg, ts)) = right_agg
            && ts > t
        {
            self.put(ctx, t + 1, &agg, ts, &r.headers)?;
        }
        if let Some(previous) = previous
            && !starts.contains(&(previous + 1))
        {
            self.update(ctx, self.window(previous + 1), None, r, close)?;
        }
        match combined {
            None => self.update(ctx, self.window(0), None, r, close),
            Some((start, existing)) => self.update(ctx, self.window(start), Some(existing), r, close),
        }
    }

    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>,
        close: i64,
        cause: &[Header],
    ) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let td = self.td();
        // A sliding window [s, s + td] is closed once s + td < close: starts up to
        // close - td - 1, from those not closed at the last emission.
        let upper = close.saturating_sub(td).saturating_sub(1);
        let lower = match self.emitted_until {
            Some(done) if done >= close => return Ok(()),
            Some(done) => done.saturating_sub(td).max(0),
            None => 0,
        };
        forward_closed_windows(ctx, store, lower, upper, cause)?;
        self.emitted_until = Some(close);
        Ok(())
    }
}

impl<K: Data, V: Data, VA: Data> Processor<K, V, Windowed<K>, Change<VA>>
    for SlidingWindowAggregate<K, V, VA>
{
    fn init(&mut self, ctx: &mut ProcessorContext<Windowed<K>, Change<VA>>) -> Result<()> {
        let store: WindowStore<K, VA> = ctx.get_window_store(&self.store_name)?;
        if self.old_values.requested() {
            store.send_old_values();
        }
        self.stream_time = store.latest_timestamp(2 * self.td() + 1)?;
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
        if r.timestamp.saturating_add(self.td()) < close {
            tracing::debug!(
                store = %self.store_name,
                timestamp = r.timestamp,
                expiration = close,
                stream_time,
                "skipping a record for an expired window"
            );
            ctx.record_dropped();
            return Ok(());
        }
        if self.emit == EmitStrategy::OnWindowClose {
            self.emit_closed(ctx, close, &r.headers)?;
        }
        if r.timestamp < self.td() {
            self.process_early(ctx, &r, close)
        } else {
            self.process_reverse(ctx, &r, close)
        }
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
