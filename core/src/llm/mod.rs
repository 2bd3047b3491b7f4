//! The LLM client: one request type, providers in their native wire formats, streaming.

pub mod sse;
pub mod types;
pub mod wire;

pub use types::*;
