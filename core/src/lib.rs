//! trinity-core: the engine behind the Python, Node, C and Go packages.
//!
//! All logic lives here; the bindings only convert types and errors.

pub mod cache;
pub mod config;
pub mod cost;
pub mod error;
pub mod healer;
pub mod llm;
pub mod mock;
pub mod observe;
pub mod registry;
pub mod resilience;
pub mod router;
pub mod rt;
pub mod secret;
pub mod testing;
pub mod tokens;

pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use registry::{Model, Registry};
pub use tokens::Encoding;

/// The crate version, shared by the wheel, the npm package and the C library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Bumped whenever the C ABI changes incompatibly (a removed function, a changed signature).
pub const ABI_VERSION: u32 = 1;
