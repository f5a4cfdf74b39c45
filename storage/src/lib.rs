//! Runnel's storage.
pub mod clock;
pub mod error;
pub mod log;
pub mod record;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Result, StorageError};
pub use log::{AppendInfo, CleanupPolicy, Log, LogConfig};
