//! Windowed aggregations, as Kafka Streams 4.4 has them: a grouped stream windowed by
//! [`TimeWindows`] (tumbling and hopping), [`SlidingWindows`] (KIP-450) or [`SessionWindows`],
//! aggregated into a `KTable<Windowed<K>, V>` with one row per key and window.
//!
//! ```text
//!  KGroupedStream ──windowed_by──▶ TimeWindowedKStream ──count/reduce/aggregate──▶ KTable<Windowed<K>, V>
//!                                  SessionWindowedKStream                           │ suppress(until_window_closes)
//!                                                                                   ▼ to_stream().to(.., WindowedSerdes)
//! ```
//!
//! - **Stream time** is the largest timestamp an aggregation has seen; a window closes when
//!   stream time passes its end plus the grace period (time windows: `end + grace <= stream
//!   time`, end exclusive; sliding and session windows: `end + grace < stream time`, end
//!   inclusive, plus the gap for sessions). A record for a closed window is dropped, logged at
//!   debug level and counted in `dropped-records`.
//! - **Stores** are window and session stores (RocksDB, segmented by time and dropped a segment
//!   at a time, or in memory), kept for size plus grace by default, changelogged in Kafka
//!   Streams' byte formats, so a changelog written by either restores into the other.
//! - **Emit final results** with `suppress(Suppressed::until_window_closes(..))` on the table,
//!   or `emit_strategy(EmitStrategy::on_window_close())` on the windowed stream (KIP-825).
//! - **Output keys** in Kafka's windowed formats: [`WindowedSerdes`].
//!
//! Where Kafka 4.4 loses or wrongs data, Runnel does better, and `interop/allow-list.md` lists
//! each difference with its reason: stream time survives restarts, emit-on-window-close never
//! skips a window, sliding and session stores keep what a live record still needs, and
//! `suppress` forwards as old value what it last emitted.

mod definitions;
mod forward;
mod serde;
mod session_aggregate;
mod sliding_aggregate;
mod stream;
mod time_aggregate;

pub(crate) use definitions::millis_of;
pub use definitions::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows};
pub use serde::{SessionWindowedSerde, TimeWindowedSerde, WindowedSerdes};
pub use storage::store::{Window, Windowed};
pub use stream::{SessionWindowedKStream, TimeWindowedKStream, Windowing};
