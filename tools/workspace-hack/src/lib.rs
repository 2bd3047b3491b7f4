//! Empty: this crate exists only for its dependency features (see Cargo.toml).
