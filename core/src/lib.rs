//! trinity-core: the engine behind the Python, Node, C and Go packages.
//!
//! All logic lives here; the bindings only convert types and errors.

pub mod batch;
pub mod cache;
pub mod config;
pub mod context;
pub mod cost;
pub mod error;
pub mod guard;
pub mod healer;
mod hex;
pub mod llm;
pub mod mock;
pub mod observe;
pub mod prompt;
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

/// The global allocator each artifact declares (`#[global_allocator] static A: Allocator =
/// Allocator;`). Memory moves between the runtime's threads and the host's all the time (a
/// response built on a worker is dropped by the caller); glibc malloc then takes the owning
/// arena's lock on every free. With Python at 50 concurrent calls, mimalloc (which frees
/// across threads without a lock) halved the context switches and gave 11–29% more calls a
/// second in paired runs.
/// libtrinity (C, Go) keeps the system allocator: there valgrind and ASan, which see only
/// malloc, are how users find a string they forgot to free.
pub use mimalloc::MiMalloc as Allocator;

/// The crate version, shared by the wheel, the npm package and the C library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Bumped whenever the C ABI changes incompatibly (a removed function, a changed signature).
pub const ABI_VERSION: u32 = 1;
