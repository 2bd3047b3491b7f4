//! `RedisServer`: the core's real `redis-server` launcher (free loopback port) for tests.

use crate::error::call;
use pyo3::prelude::*;
use std::sync::Mutex;
use trinity_core::testing::RedisServer;

/// A `redis-server` child process on 127.0.0.1 with a free port and no persistence; stopped by
/// `stop()`, by leaving the `with` block, or when collected.
#[pyclass(frozen, name = "RedisServer", module = "trinity_core.testing")]
pub struct PyRedisServer {
    server: Mutex<RedisServer>,
    port: u16,
}

impl PyRedisServer {
    fn lock(&self) -> std::sync::MutexGuard<'_, RedisServer> {
        self.server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyRedisServer {
    #[new]
    fn new(py: Python<'_>) -> PyResult<Self> {
        let server = py.detach(|| call(RedisServer::start))?;
        Ok(PyRedisServer {
            port: server.port(),
            server: Mutex::new(server),
        })
    }

    /// `redis://127.0.0.1:PORT/0`.
    #[getter]
    fn url(&self) -> String {
        self.lock().url()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its data is lost) and starts a fresh one on the same port.
    fn restart(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| call(|| self.lock().restart()))
    }

    /// Sends one inline command such as `SCRIPT FLUSH`; returns the raw reply line.
    fn command(&self, py: Python<'_>, line: &str) -> PyResult<String> {
        py.detach(|| call(|| self.lock().command(line)))
    }

    /// Stops the server (idempotent; `restart` starts it again).
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.lock().kill());
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("RedisServer(port={})", self.port)
    }
}
