//! Nothing to use: this crate only unifies the features of build dependencies across the
//! workspace (see its Cargo.toml).
