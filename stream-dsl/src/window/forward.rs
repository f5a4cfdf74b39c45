//! What a windowed aggregation sends downstream of what reached its store: each written
//! window as a `Windowed<K>` key and a [`Change`] of its aggregate. With the store's record
//! cache on, that is what the cache let out (at commit or on eviction), so consecutive updates
//! of one window between commits go downstream once, as in Kafka Streams; with it off, every
//! update. Old values are the store's (what downstream last saw): for a new window `None`
//! (Kafka without a cache sends its initializer's value there instead, e.g. 0 for a count,
//! which no downstream subtractor should see).
//!
//! Headers, as Kafka Streams passes them on: an update of an uncached store carries the
//! headers of the record that caused it, and so do the windows that record closes under
//! emit-on-window-close. What a record cache lets out carries none: Runnel's cache keeps no
//! record context (Kafka's keeps the last writer's headers per entry).

use storage::store::Windowed;

use crate::error::Result;
use crate::processor::{Data, ProcessorContext};
use crate::record::{Change, Header, Record};
use crate::state::{SessionStore, WindowStore, Written};

/// Forwards the writes of a window store: the record's timestamp is the window's (the largest
/// timestamp of its records, which the store keeps with the aggregate); a deleted window's is
/// the write's.
pub(crate) fn forward_windows<K: Data, V: Data>(
    ctx: &mut ProcessorContext<Windowed<K>, Change<V>>,
    store: &WindowStore<K, V>,
    written: Vec<Written>,
    cause: &[Header],
) -> Result<()> {
    let headers = if store.cached() { &[][..] } else { cause };
    for Written { entry, old } in written {
        let (key, _) = store.decode_store_key(&entry.key)?;
        let new = entry
            .value
            .as_deref()
            .map(|v| store.decode_value(v))
            .transpose()?;
        let old = old.as_deref().map(|v| store.decode_value(v)).transpose()?;
        let timestamp = new.as_ref().map_or(entry.timestamp, |(_, ts)| *ts);
        ctx.forward(Record {
            key,
            value: Change {
                new: new.map(|(v, _)| v),
                old: old.map(|(v, _)| v),
            },
            timestamp,
            headers: headers.to_vec(),
        })?;
    }
    Ok(())
}

/// Emits, as final results, every window of `store` starting in `lower..=upper` (those an
/// emit-on-window-close aggregation has just closed): by window start, then key, the order they
/// closed in, each with its aggregate, its latest record's timestamp, no old value and the
/// headers of the record whose arrival closed it (`cause`).
pub(crate) fn forward_closed_windows<K: Data, V: Data>(
    ctx: &mut ProcessorContext<Windowed<K>, Change<V>>,
    store: &WindowStore<K, V>,
    lower: i64,
    upper: i64,
    cause: &[Header],
) -> Result<()> {
    if upper < lower {
        return Ok(());
    }
    let mut closed = store.fetch_all_timestamped(lower, upper)?;
    closed.sort_by_key(|a| a.0.window.start);
    for (key, value, timestamp) in closed {
        ctx.forward(Record {
            key,
            value: Change::new(Some(value), None),
            timestamp,
            headers: cause.to_vec(),
        })?;
    }
    Ok(())
}

/// Forwards the writes of a session store, each stamped with its session's end (as Kafka's
/// session aggregation and its cache flush listener do).
pub(crate) fn forward_sessions<K: Data, V: Data>(
    ctx: &mut ProcessorContext<Windowed<K>, Change<V>>,
    store: &SessionStore<K, V>,
    written: Vec<Written>,
) -> Result<()> {
    for Written { entry, old } in written {
        let key = store.decode_store_key(&entry.key)?;
        let timestamp = key.window.end;
        ctx.forward(Record {
            key,
            value: Change {
                new: store.decode_value(entry.value.as_deref())?,
                old: store.decode_value(old.as_deref())?,
            },
            timestamp,
            headers: Vec::new(),
        })?;
    }
    Ok(())
}
