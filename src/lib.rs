//! Runnel facade.
pub use storage;
