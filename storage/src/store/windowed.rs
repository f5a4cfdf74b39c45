//! The vocabulary the window and session stores share: a window, a key in a window, the order
//! of a scan, and what a put did.

/// A time window, both ends in milliseconds. For a window store `end` is `start` plus the
/// store's window size (Kafka's `TimeWindow`, end exclusive by convention, saturating at
/// `i64::MAX` as `WindowKeySchema.timeWindowForSize` truncates); for a session store both ends
/// are inclusive times of the session's first and last record (Kafka's `SessionWindow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

impl Window {
    pub fn new(start: i64, end: i64) -> Window {
        Window { start, end }
    }
}

/// A key in a window: Kafka's `Windowed<K>`. Stores return `Windowed<Vec<u8>>`; session puts
/// take a borrowed `Windowed<&[u8]>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K = Vec<u8>> {
    pub key: K,
    pub window: Window,
}

impl<K> Windowed<K> {
    pub fn new(key: K, window: Window) -> Windowed<K> {
        Windowed { key, window }
    }
}

impl Windowed<Vec<u8>> {
    /// The borrowed form, as `put` and `remove` take it.
    pub fn as_ref(&self) -> Windowed<&[u8]> {
        Windowed {
            key: &self.key,
            window: self.window,
        }
    }
}

/// Direction of a window or session scan: Kafka's `fetch` and `backwardFetch` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending store-key order: for one key, oldest window first.
    Forward,
    /// The exact reverse of [`Order::Forward`].
    Backward,
}

impl Order {
    pub(crate) fn is_forward(self) -> bool {
        self == Order::Forward
    }
}

/// What a window store's `put` did.
///
/// The DSL's change-logging layer logs [`WindowPut::changelog_key`] with the value, so the
/// changelog holds exactly the key the store wrote. Kafka's `ChangeLoggingWindowBytesStore`
/// keeps a sequence counter of its own instead, which drifts from the store's after a `null`
/// put into a store retaining duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum WindowPut {
    /// Written, or for a `None` value deleted, under this sequence number (always 0 unless
    /// the store retains duplicates).
    Applied { seqnum: u32 },
    /// Dropped: the window had expired (its start is at or below observed stream time minus
    /// the retention). Kafka counts these in its dropped-records sensor. An expired put never
    /// moves stream time, so it needs no changelog record either.
    Expired,
    /// A `None` value in a store retaining duplicates: there is nothing it could delete, and
    /// it does not move stream time (Kafka's `RocksDBWindowStore.put`).
    Ignored,
}

impl WindowPut {
    /// The changelog key for this put: Kafka's window store key (`key ++ start ++ seqnum`),
    /// or `None` when there is nothing to log.
    pub fn changelog_key(&self, key: &[u8], window_start: i64) -> Option<Vec<u8>> {
        match *self {
            WindowPut::Applied { seqnum } => {
                Some(super::window::encode_window_key(key, window_start, seqnum))
            }
            WindowPut::Expired | WindowPut::Ignored => None,
        }
    }
}

/// What a session store's `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SessionPut {
    /// Written, or for a `None` value deleted: log `encode_session_key(key, window)`.
    Applied,
    /// Dropped: the session's end is at or below observed stream time minus the retention.
    Expired,
}
