// Empty: the build-dependencies of this crate only unify proc-macro features (see Cargo.toml).
fn main() {}
