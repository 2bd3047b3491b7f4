//! The LLM client: one request type, providers in their native wire formats, streaming.

pub mod types;

pub use types::*;
