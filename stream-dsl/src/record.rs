//! What flows between processors.

pub use storage::record::Header;

/// Drops a record's headers where the record ends (a sink, an aggregation). A vector that
/// never allocated (a record without headers: nearly every one) owns nothing and is
/// forgotten instead: its drop glue, a loop over the elements, was an out-of-line call per
/// record, 1.3 % of a word count's stream-thread instructions (callgrind).
#[inline(always)]
pub(crate) fn drop_headers(headers: Vec<Header>) {
    if headers.capacity() == 0 {
        std::mem::forget(headers);
    } else {
        drop(headers);
    }
}

/// A record inside a topology: typed key and value, the timestamp that drives stream time,
/// and the headers, as Kafka Streams' `api.Record`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    pub key: K,
    pub value: V,
    pub timestamp: i64,
    pub headers: Vec<Header>,
}

impl<K, V> Record<K, V> {
    pub fn new(key: K, value: V, timestamp: i64) -> Record<K, V> {
        Record {
            key,
            value,
            timestamp,
            headers: Vec::new(),
        }
    }

    /// The same record with another key (timestamp and headers kept).
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value (timestamp and headers kept).
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    pub fn with_timestamp(mut self, timestamp: i64) -> Record<K, V> {
        self.timestamp = timestamp;
        self
    }
}

/// An update of a table row, as Kafka Streams' internal `Change`: the value after the update
/// (`None`: the row was deleted) and the value before it (`None`: the row is new). Tables pass
/// both so an aggregation over a table can subtract what was there and add what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    pub new: Option<V>,
    pub old: Option<V>,
}

impl<V> Change<V> {
    pub fn new(new: Option<V>, old: Option<V>) -> Change<V> {
        Change { new, old }
    }
}

/// Where the record being processed came from, when it came from a topic (punctuations and
/// records forwarded from a cache flush have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}
