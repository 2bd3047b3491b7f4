//! `MockServer`: the core's mock provider server (real HTTP on 127.0.0.1) for tests.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;
use trinity_core::mock::{MockConfig, MockServer};

/// A mock OpenAI / Anthropic / Gemini server on a free loopback port, serving from this
/// process. `MockServer(fixtures={...}, faults={"script": ["429", "ok"]}, latency=..., seed=1)`;
/// use it as a context manager, or call `stop()`.
#[pyclass(frozen, name = "MockServer", module = "trinity_core.testing")]
pub struct PyMockServer {
    server: Mutex<Option<MockServer>>,
    url: String,
    port: u16,
}

impl PyMockServer {
    fn with<T>(&self, f: impl FnOnce(&MockServer) -> T) -> PyResult<T> {
        let guard = self.server.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(f)
            .ok_or_else(|| crate::error::invalid_input("the mock server is stopped"))
    }
}

#[pymethods]
impl PyMockServer {
    /// Takes a config dict (the `MockConfig` schema) and/or the same fields as keywords.
    #[new]
    #[pyo3(signature = (config=None, **fields))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let value = conv::json_with_keywords(config, fields, "config")?;
        let server = py.detach(|| call(|| MockServer::start(MockConfig::from_json(value)?)))?;
        Ok(PyMockServer {
            url: server.url(),
            port: server.port(),
            server: Mutex::new(Some(server)),
        })
    }

    /// `http://127.0.0.1:PORT`; OpenAI clients use `url + "/v1"` as their base URL.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Requests served, per route and per fault drawn.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = self.with(|s| s.stats())?;
        conv::serialized(py, &stats)
    }

    fn reset_stats(&self) -> PyResult<()> {
        self.with(|s| s.reset_stats())
    }

    /// New faults from now on (`{"rates": {"503": 1.0}}`; `{}`: none): a provider that goes
    /// down, or comes back, mid-test.
    fn set_faults(&self, faults: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = conv::json(faults, "faults")?;
        self.with(|s| call(|| s.set_faults(value)))?
    }

    /// Restarts the fault script and the seeded random sequence.
    fn reset_faults(&self) -> PyResult<()> {
        self.with(|s| s.reset_faults())
    }

    /// Stops serving and closes the port (idempotent).
    fn stop(&self, py: Python<'_>) {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut s) = server {
            py.detach(move || s.stop());
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        format!("MockServer(url={:?})", self.url)
    }
}
