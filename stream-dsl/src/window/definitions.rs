//! The window definitions a grouped stream is windowed by: Kafka Streams' `TimeWindows`,
//! `SlidingWindows` and `SessionWindows`.
//!
//! The constructors take any values; what Kafka refuses in its constructors (a size of zero,
//! an advance larger than the size, a negative grace) is refused by `StreamsBuilder::build`
//! with Kafka's message, since operators return streams, not results.
//!
//! Grace has no default (KIP-633): `of_size_with_no_grace` means a grace of zero, and a window
//! closes as soon as stream time reaches its end.

use std::time::Duration;

use storage::store::Window;

/// Milliseconds of a `Duration`, saturating (Kafka's `Duration.toMillis` overflows with an
/// error; a window of 292 million years is as good as unbounded).
pub(crate) fn millis(d: Duration) -> i64 {
    millis_of(d)
}

/// See [`millis`].
pub(crate) fn millis_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Fixed-size windows aligned to the epoch: tumbling (`advance == size`) or hopping
/// (`advance_by` smaller than the size), Kafka's `TimeWindows`. A record at `t` falls into every
/// window `[start, start + size)` with `start <= t < start + size` and `start >= 0`.
///
/// ```
/// use std::time::Duration;
/// use stream_dsl::window::TimeWindows;
///
/// let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(5000))
///     .advance_by(Duration::from_millis(3000));
/// let starts: Vec<i64> = hopping.windows_for(4999).iter().map(|w| w.start).collect();
/// assert_eq!(starts, [0, 3000]);
/// // A window's end is exclusive: 5000 is in [3000, 8000) only.
/// let starts: Vec<i64> = hopping.windows_for(5000).iter().map(|w| w.start).collect();
/// assert_eq!(starts, [3000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close at their end: a record later than that is
    /// dropped (`dropped-records`).
    pub fn of_size_with_no_grace(size: Duration) -> TimeWindows {
        TimeWindows::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept records up to `grace` after their end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> TimeWindows {
        TimeWindows {
            size_ms: millis(size),
            advance_ms: millis(size),
            grace_ms: millis(grace),
        }
    }

    /// Hopping windows: a new window every `advance` (at most the size; equal is tumbling).
    pub fn advance_by(mut self, advance: Duration) -> TimeWindows {
        self.advance_ms = millis(advance);
        self
    }

    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Kafka's constructor checks, in its order and with its messages.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.size_ms <= 0 {
            return Err("Window size (sizeMs) must be larger than zero.".into());
        }
        if self.advance_ms <= 0 || self.advance_ms > self.size_ms {
            return Err(format!(
                "Window advancement interval should be more than zero and less than window duration \
                 which is {} ms, but given advancement interval is: {} ms",
                self.size_ms, self.advance_ms
            ));
        }
        if self.grace_ms < 0 {
            return Err("Grace period must not be negative.".into());
        }
        Ok(())
    }

    /// The windows a record at `timestamp` falls into, oldest first (Kafka's `windowsFor`):
    /// every `[start, start + size)` holding it, starts multiples of the advance, none before
    /// the epoch. Empty for a negative timestamp.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        let mut windows = Vec::new();
        if timestamp < 0 || self.validate().is_err() {
            return windows;
        }
        let first = (timestamp - self.size_ms + self.advance_ms).max(0);
        let mut start = first / self.advance_ms * self.advance_ms;
        while start <= timestamp {
            windows.push(Window::new(start, start.saturating_add(self.size_ms)));
            start += self.advance_ms;
        }
        windows
    }

    /// Retention a window store needs for these windows: size plus grace (Kafka's default).
    pub(crate) fn default_retention_ms(&self) -> i64 {
        self.size_ms.saturating_add(self.grace_ms)
    }
}

/// Windows of a fixed time difference that slide with the records, Kafka's `SlidingWindows`
/// (KIP-450): a window `[start, start + time difference]`, both ends inclusive, exists only
/// where records are, and holds the records within the time difference of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) time_difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    pub fn of_time_difference_with_no_grace(time_difference: Duration) -> SlidingWindows {
        SlidingWindows::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }

    pub fn of_time_difference_and_grace(time_difference: Duration, grace: Duration) -> SlidingWindows {
        SlidingWindows {
            time_difference_ms: millis(time_difference),
            grace_ms: millis(grace),
        }
    }

    pub fn time_difference_ms(&self) -> i64 {
        self.time_difference_ms
    }

    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Kafka's constructor checks with its messages, and one more: a time difference of zero,
    /// which Kafka accepts and then fails the task on at the first record (its window
    /// `[t, t]` is refused by `TimeWindow`), is refused here at build time.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.time_difference_ms < 0 {
            return Err("Window time difference must not be negative.".into());
        }
        if self.time_difference_ms == 0 {
            return Err(
                "Window time difference must be larger than zero: a sliding window of \
                 time difference 0 would hold the records of one millisecond (Kafka accepts it \
                 and fails the task at the first record)."
                    .into(),
            );
        }
        if self.grace_ms < 0 {
            return Err("Window grace period must not be negative.".into());
        }
        Ok(())
    }

    /// Kafka's default retention for sliding windows: twice the time difference plus grace.
    pub(crate) fn default_retention_ms(&self) -> i64 {
        self.time_difference_ms
            .saturating_mul(2)
            .saturating_add(self.grace_ms)
    }
}

/// Windows of activity per key separated by gaps of inactivity, Kafka's `SessionWindows`: a
/// session `[first record, last record]` (both inclusive) grows while records come within
/// `gap` of it and merges with the sessions a record bridges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> SessionWindows {
        SessionWindows::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> SessionWindows {
        SessionWindows {
            gap_ms: millis(gap),
            grace_ms: millis(grace),
        }
    }

    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Kafka 4.4's checks and messages (a gap of zero is allowed since 4.0).
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.gap_ms < 0 {
            return Err("Gap time cannot be negative.".into());
        }
        if self.grace_ms < 0 {
            return Err("Grace period cannot be negative.".into());
        }
        Ok(())
    }

    /// Kafka's default retention for session stores: gap plus grace.
    pub(crate) fn default_retention_ms(&self) -> i64 {
        self.gap_ms.saturating_add(self.grace_ms)
    }
}

/// When a windowed aggregation emits, Kafka's `EmitStrategy` (KIP-825).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window goes downstream (through the store's cache, if it caches).
    #[default]
    OnWindowUpdate,
    /// A window goes downstream once, with its final value, when it closes (stream time
    /// passes its end plus grace). See the aggregations for how Runnel decides, and where it
    /// does better than Kafka (which can skip windows).
    OnWindowClose,
}

impl EmitStrategy {
    pub fn on_window_update() -> EmitStrategy {
        EmitStrategy::OnWindowUpdate
    }

    pub fn on_window_close() -> EmitStrategy {
        EmitStrategy::OnWindowClose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn starts(w: &TimeWindows, t: i64) -> Vec<i64> {
        w.windows_for(t).iter().map(|w| w.start).collect()
    }

    #[test]
    fn tumbling_windows_are_aligned_to_the_epoch_and_end_exclusive() {
        let w = TimeWindows::of_size_with_no_grace(ms(10));
        assert_eq!(starts(&w, 0), [0]);
        assert_eq!(starts(&w, 9), [0]);
        assert_eq!(starts(&w, 10), [10]);
        assert_eq!(w.windows_for(10)[0], Window::new(10, 20));
        assert!(w.windows_for(-1).is_empty());
    }

    #[test]
    fn hopping_windows_never_start_before_the_epoch() {
        let w = TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5));
        // [-5, 5) does not exist: a record at 3 is in one window only.
        assert_eq!(starts(&w, 3), [0]);
        assert_eq!(starts(&w, 7), [0, 5]);
        assert_eq!(starts(&w, 14), [5, 10]);
        let w = TimeWindows::of_size_with_no_grace(ms(5000)).advance_by(ms(3000));
        assert_eq!(starts(&w, 4999), [0, 3000]);
        assert_eq!(starts(&w, 5000), [3000]);
    }

    #[test]
    fn invalid_definitions_are_refused_with_kafkas_messages() {
        let zero = TimeWindows::of_size_with_no_grace(ms(0)).validate().unwrap_err();
        assert_eq!(zero, "Window size (sizeMs) must be larger than zero.");
        let wide = TimeWindows::of_size_with_no_grace(ms(10))
            .advance_by(ms(11))
            .validate();
        assert_eq!(
            wide.unwrap_err(),
            "Window advancement interval should be more than zero and less than window duration \
             which is 10 ms, but given advancement interval is: 11 ms"
        );
        assert!(
            TimeWindows::of_size_with_no_grace(ms(10))
                .advance_by(ms(10))
                .validate()
                .is_ok()
        );
        assert!(
            SlidingWindows::of_time_difference_with_no_grace(ms(0))
                .validate()
                .is_err()
        );
        assert!(
            SlidingWindows::of_time_difference_with_no_grace(ms(1))
                .validate()
                .is_ok()
        );
        assert!(
            SessionWindows::of_inactivity_gap_with_no_grace(ms(0))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn default_retentions_are_kafkas() {
        let t = TimeWindows::of_size_and_grace(ms(10), ms(5));
        assert_eq!(t.default_retention_ms(), 15);
        let s = SlidingWindows::of_time_difference_and_grace(ms(10), ms(5));
        assert_eq!(s.default_retention_ms(), 25);
        let g = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5));
        assert_eq!(g.default_retention_ms(), 15);
    }
}
