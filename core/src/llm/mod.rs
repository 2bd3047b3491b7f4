//! The LLM client: one request type, providers in their native wire formats, streaming.

pub mod books;
pub mod channel;
pub mod client;
pub mod endpoint;
pub mod errors;
pub mod http;
pub mod pricing;
pub mod provider;
pub mod spend;
pub mod sse;
pub mod types;
pub mod wire;

pub use channel::{spawn_stream, ChunkChannel};
pub use client::Client;
pub use http::ChunkStream;
pub use types::*;
