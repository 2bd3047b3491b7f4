//! `@pi-builder/core`'s native half: converts JS values, calls `trinity_core`, converts back.
//! Async calls run on the core's runtime (see `task`). Logic belongs in the core; the TypeScript wrapper in `node/src` adds the typed, camelCase API.

mod batch;
mod cache;
mod cli;
mod client;
mod config;
mod context;
mod error;
mod healer;
mod llm;
mod metrics;
mod mock;
mod monitor;
mod observe;
mod prompt;
mod redis_server;
mod registry;
mod resilience;
mod router;
mod run_guard;
mod stream;
mod task;
mod tokens;

use napi_derive::napi;

/// The core's version; equal to the npm package's.
#[napi]
pub fn version() -> &'static str {
    trinity_core::VERSION
}

#[napi]
pub fn abi_version() -> u32 {
    trinity_core::ABI_VERSION
}

/// Whole-program allocator: see [`trinity_core::Allocator`].
#[global_allocator]
static ALLOCATOR: trinity_core::Allocator = trinity_core::Allocator;
