//! `NativeRedisServer`: the core's real `redis-server` launcher (free loopback port) for tests.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Mutex;
use trinity_core::testing::RedisServer;

#[napi]
pub struct NativeRedisServer {
    server: Mutex<RedisServer>,
    port: u32,
}

impl NativeRedisServer {
    fn lock(&self) -> std::sync::MutexGuard<'_, RedisServer> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[napi]
impl NativeRedisServer {
    /// Starts `redis-server` on a free port (waits for its PING, at most 10 s).
    #[napi(constructor)]
    pub fn new(env: Env) -> Result<Self> {
        guard(&env, || {
            let server = RedisServer::start()?;
            Ok(NativeRedisServer {
                port: u32::from(server.port()),
                server: Mutex::new(server),
            })
        })
    }

    #[napi(getter)]
    pub fn url(&self) -> String {
        self.lock().url()
    }

    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Kills the server (its data is lost) and starts a fresh one on the same port.
    #[napi]
    pub fn restart(&self, env: Env) -> Result<()> {
        guard(&env, || self.lock().restart())
    }

    /// Sends one inline command such as `SCRIPT FLUSH`; returns the raw reply line.
    #[napi]
    pub fn command(&self, env: Env, line: String) -> Result<String> {
        guard(&env, || self.lock().command(&line))
    }

    /// Stops the server (idempotent; `restart` starts it again).
    #[napi]
    pub fn stop(&self) {
        self.lock().kill();
    }
}
