//! `NativeMockServer`: the core's mock provider server (real HTTP on 127.0.0.1), started from a
//! config object in the `MockConfig` schema (snake_case, as in the YAML files).

use crate::error::guard;
use crate::task::spawn_promise;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Mutex;
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{rt, Error as CoreError};

#[napi]
pub struct NativeMockServer {
    server: Mutex<Option<MockServer>>,
    url: String,
    port: u32,
}

impl NativeMockServer {
    fn with<T>(&self, env: &Env, f: impl FnOnce(&MockServer) -> T) -> Result<T> {
        guard(env, || {
            let server = self.server.lock().unwrap_or_else(|p| p.into_inner());
            server
                .as_ref()
                .map(f)
                .ok_or_else(|| CoreError::invalid_input("the mock server is stopped"))
        })
    }

    fn take(&self) -> Option<MockServer> {
        self.server.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[napi]
impl NativeMockServer {
    /// Binds a free loopback port (or `config.port`) and serves on the core runtime.
    #[napi(constructor)]
    pub fn new(env: Env, config: Option<Value>) -> Result<Self> {
        let config = config.unwrap_or_else(|| Value::Object(Default::default()));
        guard(&env, || {
            let server = MockServer::start(MockConfig::from_json(config)?)?;
            Ok(NativeMockServer {
                url: server.url(),
                port: u32::from(server.port()),
                server: Mutex::new(Some(server)),
            })
        })
    }

    #[napi(getter)]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// `{ requests, streams, routes: {...}, faults: {...} }`, zeros included.
    #[napi]
    pub fn stats(&self, env: Env) -> Result<Value> {
        let stats = self.with(&env, MockServer::stats)?;
        serde_json::to_value(stats).map_err(|e| Error::from_reason(e.to_string()))
    }

    #[napi]
    pub fn reset_stats(&self, env: Env) -> Result<()> {
        self.with(&env, MockServer::reset_stats)
    }

    /// New faults from now on (`{rates: {"503": 1}}`; `{}`: none): a provider that goes down,
    /// or comes back, mid-test.
    #[napi]
    pub fn set_faults(&self, env: Env, faults: Value) -> Result<()> {
        self.with(&env, |s| s.set_faults(faults))?
            .map_err(|e| crate::error::to_js(&env, e))
    }

    /// Replays the fault script from the start and restarts the seeded random sequence.
    #[napi]
    pub fn reset_faults(&self, env: Env) -> Result<()> {
        self.with(&env, MockServer::reset_faults)
    }

    /// Stops accepting and resolves once in-flight answers have ended (at most 5 s); idempotent.
    /// A promise, so waiting for slow answers never blocks the event loop.
    #[napi]
    pub fn stop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let server = self.take();
        spawn_promise(
            env,
            async move {
                if let Some(s) = server {
                    s.shutdown().await;
                }
                Ok(())
            },
            |()| (),
        )
    }
}

impl Drop for NativeMockServer {
    // Garbage collected while running: shut down in the background rather than block the
    // JS thread the way `MockServer`'s own `Drop` would.
    fn drop(&mut self) {
        if let Some(server) = self.take() {
            rt::spawn(server.shutdown());
        }
    }
}
