//! The Runnel stream DSL (not built yet): `StreamsBuilder`, `KStream`, `KTable`,
//! changelogged state stores and the task runtime, on top of [`stream_core`].
pub use stream_core;
