//! `Config`: the one config schema, loaded from YAML/JSON text, a file, or a dict.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use trinity_core::config::{Config, EnvOverrides};

fn env(apply: bool) -> EnvOverrides {
    if apply {
        EnvOverrides::Apply
    } else {
        EnvOverrides::Ignore
    }
}

/// A validated config. Errors are `ConfigError` with `.details["path"]` naming the field.
/// `TRINITY_*` environment variables override fields unless `env=False`.
#[pyclass(frozen, name = "Config", module = "trinity_core")]
pub struct PyConfig(pub Config);

#[pymethods]
impl PyConfig {
    /// `Config()` gives the defaults; `Config({"cache": {...}})` validates a dict.
    #[new]
    #[pyo3(signature = (data=None, *, env=true))]
    fn new(data: Option<&Bound<'_, PyAny>>, env: bool) -> PyResult<Self> {
        let value = match data {
            Some(d) if !d.is_none() => conv::json(d, "data")?,
            _ => serde_json::Value::Null,
        };
        call(|| Config::from_value(value, self::env(env))).map(PyConfig)
    }

    /// Parses YAML or JSON text.
    #[staticmethod]
    #[pyo3(signature = (text, *, env=true))]
    fn parse(text: &str, env: bool) -> PyResult<Self> {
        call(|| Config::parse(text, self::env(env))).map(PyConfig)
    }

    #[staticmethod]
    #[pyo3(signature = (path, *, env=true))]
    fn from_file(path: &str, env: bool) -> PyResult<Self> {
        call(|| Config::from_file(path, self::env(env))).map(PyConfig)
    }

    /// The normalized config with defaults filled in and secrets redacted.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::to_py(py, &self.0.to_json())
    }

    fn __repr__(&self) -> String {
        format!(
            "Config(providers={:?})",
            self.0.providers.keys().collect::<Vec<_>>()
        )
    }
}
