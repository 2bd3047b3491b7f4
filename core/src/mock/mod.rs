//! Mock provider: fixtures answered in-process, and a real HTTP server speaking the OpenAI,
//! Anthropic and Gemini wire formats with latency and fault injection.
//!
//! - [`Fixtures`]: `respond` / `stream` for the in-process `mock` provider.
//! - [`MockServer`]: `MockServer::start(MockConfig)` on a loopback port; what it serves is
//!   counted in [`MockStats`] (also at `GET /_mock/stats`; `POST /_mock/reset` zeroes the
//!   counters and rewinds the fault script; `PUT /_mock/faults` replaces the `faults`
//!   section from then on). With `record_requests: N` it keeps the last N LLM request bodies
//!   as they arrived ([`ReceivedRequest`], `MockServer::requests()`, `GET /_mock/requests`).

mod anthropic;
mod config;
mod conn;
pub mod faults;
pub mod fixtures;
mod gemini;
mod openai;
mod received;
mod routes;
mod server;
mod stats;
mod wire;

pub use config::{MockConfig, DEFAULT_MAX_BODY_BYTES};
pub use faults::{Decision, Fault, FaultConfig, FaultPlan, Latency};
pub use fixtures::{prompt_hash, DefaultResponse, FixtureSpec, Fixtures};
pub use received::ReceivedRequest;
pub use server::MockServer;
pub use stats::{MockStats, Route};
