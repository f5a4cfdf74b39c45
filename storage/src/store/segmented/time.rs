//! Stream time, expiry and segment arithmetic of the window and session stores: plain values,
//! no I/O, so that the rules are tested here exhaustively and both store implementations
//! share them.
//!
//! The rules, and where they come from in Kafka Streams 4.x:
//!
//! - **Observed stream time** is the largest segment timestamp ever put (the window start in
//!   a window store, the session end in a session store), restored records and session
//!   removals included (`AbstractRocksDBSegmentedBytesStore.put`/`remove`/
//!   `getWriteBatches`). Before the first put there is none (Kafka's `NO_TIMESTAMP`, -1).
//! - **Live**: a timestamp `t` is live while `t > observed - retention`, i.e.
//!   `t >= observed - retention + 1` ("add one b/c records expire exactly retentionPeriod ms
//!   after created", `InMemoryWindowStore`; the same bound as `getActualFrom` of the RocksDB
//!   store). Reads never return an expired entry.
//! - **Dropped writes**: a put whose timestamp is not live is dropped. Here Kafka's two stores
//!   differ: `InMemoryWindowStore`/`InMemorySessionStore` drop by exactly this rule, while
//!   the segmented RocksDB store drops only writes whose whole *segment* has expired and
//!   keeps the rest on disk, hidden from reads by the same bound (until a restart, where its
//!   stream time restarts from nothing and they reappear). Both of our stores use the
//!   in-memory rule: it keeps nothing Kafka would drop and drops nothing Kafka would return.
//! - **Segments** (`AbstractSegments`): a segment holds the timestamps
//!   `[id * interval, (id + 1) * interval)`; the default interval is
//!   `max(retention / 2, 60 s)` (`Stores.persistentWindowStore`/`persistentSessionStore`).
//!   A segment is dropped whole once its last timestamp has expired. (Kafka keeps it until
//!   `id < segmentId(observed - retention)`, one millisecond longer at the boundary, during
//!   which nothing in it is readable anyway.)

/// Kafka Streams' smallest default segment interval, one minute.
pub(crate) const MIN_DEFAULT_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// Kafka's default segment interval for a retention: `max(retention / 2, 60 s)`.
pub(crate) fn default_segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(MIN_DEFAULT_SEGMENT_INTERVAL_MS)
}

/// The retention and segment interval of one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    period: i64,
    interval: i64,
}

impl Retention {
    /// `period >= 0` and `interval >= 1`, checked by the store configs.
    pub(crate) fn new(period: i64, interval: i64) -> Retention {
        debug_assert!(period >= 0 && interval >= 1);
        Retention { period, interval }
    }

    /// The segment a timestamp belongs to (`AbstractSegments.segmentId`). Floor division,
    /// so that `i64::MIN` (no stream time yet) maps below every real segment.
    pub(crate) fn segment_id(&self, timestamp: i64) -> i64 {
        timestamp.div_euclid(self.interval)
    }

    /// The smallest live timestamp at `observed` stream time: `observed - retention + 1`, or
    /// `i64::MIN` before the first put, when nothing has expired.
    pub(crate) fn min_live(&self, observed: Option<i64>) -> i64 {
        match observed {
            None => i64::MIN,
            Some(observed) => observed.saturating_sub(self.period).saturating_add(1),
        }
    }

    pub(crate) fn is_live(&self, timestamp: i64, observed: Option<i64>) -> bool {
        timestamp >= self.min_live(observed)
    }

    /// Segments below this id hold only expired timestamps and are dropped.
    pub(crate) fn min_live_segment(&self, observed: Option<i64>) -> i64 {
        self.segment_id(self.min_live(observed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    #[test]
    fn default_interval_is_half_the_retention_but_at_least_a_minute() {
        assert_eq!(default_segment_interval(0), MINUTE);
        assert_eq!(default_segment_interval(MINUTE), MINUTE);
        assert_eq!(default_segment_interval(2 * MINUTE + 1), MINUTE);
        assert_eq!(default_segment_interval(10 * MINUTE), 5 * MINUTE);
        assert_eq!(default_segment_interval(24 * 60 * MINUTE), 12 * 60 * MINUTE);
    }

    #[test]
    fn timestamps_expire_exactly_retention_after_stream_time() {
        let r = Retention::new(100, MINUTE);
        // Nothing has expired before the first put, not even time 0.
        assert!(r.is_live(0, None));
        assert_eq!(r.min_live(None), i64::MIN);
        // observed 1000: live from 901 on, 900 is exactly `retention` behind and expired.
        assert_eq!(r.min_live(Some(1000)), 901);
        assert!(r.is_live(901, Some(1000)));
        assert!(!r.is_live(900, Some(1000)));
        assert!(r.is_live(5000, Some(1000)), "the future is live");
        // Early on, observed - retention is negative and every real timestamp is live.
        assert!(r.is_live(0, Some(50)));
    }

    #[test]
    fn zero_retention_expires_even_the_newest_timestamp() {
        // Kafka's in-memory stores drop `start <= observed - 0`: everything.
        let r = Retention::new(0, MINUTE);
        assert!(!r.is_live(1000, Some(1000)));
        assert!(r.is_live(1001, Some(1000)));
    }

    #[test]
    fn segments_cover_half_open_intervals() {
        let r = Retention::new(10 * MINUTE, 5 * MINUTE);
        assert_eq!(r.segment_id(0), 0);
        assert_eq!(r.segment_id(5 * MINUTE - 1), 0);
        assert_eq!(r.segment_id(5 * MINUTE), 1);
        assert_eq!(r.segment_id(i64::MIN), i64::MIN.div_euclid(5 * MINUTE));
        assert!(r.segment_id(i64::MIN) < 0);
    }

    #[test]
    fn a_segment_is_dropped_once_its_last_timestamp_expires() {
        let r = Retention::new(10 * MINUTE, 5 * MINUTE);
        // Segment 0 holds [0, 5 min). Its last timestamp, 5 min - 1, expires when
        // observed - 10 min + 1 > 5 min - 1, i.e. at observed = 15 min - 1.
        assert_eq!(r.min_live_segment(Some(15 * MINUTE - 2)), 0);
        assert_eq!(r.min_live_segment(Some(15 * MINUTE - 1)), 1);
        assert_eq!(r.min_live_segment(None), r.segment_id(i64::MIN));
    }

    #[test]
    fn a_live_timestamp_is_never_in_a_dropped_segment() {
        // Exhaustive over small numbers: whatever is live sits at or above the first live
        // segment, and whatever sits below it has expired.
        for period in 0..12 {
            for interval in 1..7 {
                let r = Retention::new(period, interval);
                for observed in 0..40 {
                    for t in 0..40 {
                        let below = r.segment_id(t) < r.min_live_segment(Some(observed));
                        assert!(
                            !(below && r.is_live(t, Some(observed))),
                            "period {period} interval {interval} observed {observed} t {t}"
                        );
                    }
                    // And a segment whose last timestamp has expired is below it: dropped.
                    for id in 0..10 {
                        let last = (id + 1) * interval - 1;
                        let dropped = id < r.min_live_segment(Some(observed));
                        assert_eq!(dropped, !r.is_live(last, Some(observed)), "segment {id}");
                    }
                }
            }
        }
    }
}
