//! Empty: a build script is what makes Cargo resolve this crate's build dependencies (see
//! Cargo.toml), which is all this crate is for.

fn main() {}
