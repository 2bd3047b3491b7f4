//! `client.monitor`: the core's provider monitor for Python, seed 004's `ProviderMonitor` in
//! snake_case. Figures come back as numbers or dicts; callbacks get the event as a dict and run
//! on the monitor's thread (never a call's), holding the GIL only while they run.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::sync::Arc;
use trinity_core::llm::Client;
use trinity_core::observe::monitor::{Condition, Performance, ProviderMonitor};

#[pyclass(name = "ProviderMonitor", module = "trinity_core", frozen)]
pub struct PyProviderMonitor(pub Arc<ProviderMonitor>);

impl PyProviderMonitor {
    fn figure<T>(
        &self,
        provider: &str,
        f: impl Fn(&trinity_core::observe::monitor::ProviderHealth) -> T,
    ) -> Option<T> {
        self.0.health(provider).map(|h| f(&h))
    }

    fn watch(
        &self,
        provider: Option<String>,
        condition: Condition,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        call(|| {
            self.0.on(provider.as_deref(), condition, move |event| {
                Python::attach(|py| {
                    let cb = callback.bind(py);
                    if let Err(e) = conv::serialized(py, event).and_then(|ev| cb.call1((ev,))) {
                        e.write_unraisable(py, Some(cb));
                    }
                })
            })
        })
    }
}

#[pymethods]
impl PyProviderMonitor {
    /// Mean latency of `provider`'s answered attempts over the window, ms (None: none yet).
    fn get_latency(&self, provider: &str) -> Option<f64> {
        self.figure(provider, |h| h.latency_ms).flatten()
    }

    /// Failed attempts (5xx, timeouts, network) / attempts over the window (None: none yet).
    fn get_error_rate(&self, provider: &str) -> Option<f64> {
        self.figure(provider, |h| h.error_rate).flatten()
    }

    /// Share of the last hour `provider` was not down (None: never seen).
    fn get_availability(&self, provider: &str) -> Option<f64> {
        self.figure(provider, |h| h.availability)
    }

    /// Attempts in flight at `provider` plus requests waiting in its queue.
    fn get_queue_depth(&self, provider: &str) -> u64 {
        self.0.queue_depth(provider)
    }

    /// History buckets of the last `hours`, oldest first: dicts with `start_ms`, `end_ms`,
    /// `requests`, `latency_ms`, `p50_ms`, `p95_ms`, `p99_ms` (and the error figures).
    #[pyo3(signature = (provider, hours=1.0))]
    fn get_historical_latency<'py>(
        &self,
        py: Python<'py>,
        provider: &str,
        hours: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.history(provider, hours))
    }

    /// The same buckets, for their `requests`, `failures` and `error_rate`.
    #[pyo3(signature = (provider, hours=1.0))]
    fn get_historical_error_rate<'py>(
        &self,
        py: Python<'py>,
        provider: &str,
        hours: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.history(provider, hours))
    }

    /// `healthy`, `degraded`, `down`, or `unknown` (nothing seen yet).
    fn state(&self, provider: &str) -> &'static str {
        self.0.state(provider).as_str()
    }

    /// `provider`'s figures over the window as a dict (None: never seen).
    fn health<'py>(&self, py: Python<'py>, provider: &str) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.health(provider))
    }

    /// Every provider's figures.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.snapshot())
    }

    /// `callback(event)` on every state change of any provider.
    fn on_state_change(&self, callback: Py<PyAny>) -> PyResult<()> {
        self.watch(None, Condition::StateChange, callback)
    }

    /// `callback(event)` each time `provider` (None: any) goes down.
    #[pyo3(signature = (provider, callback))]
    fn on_provider_down(&self, provider: Option<String>, callback: Py<PyAny>) -> PyResult<()> {
        self.watch(provider, Condition::Down, callback)
    }

    /// `callback(event)` when `provider`'s p95 latency reaches `threshold_ms`, once per crossing.
    #[pyo3(signature = (provider, threshold_ms, callback))]
    fn on_high_latency(
        &self,
        provider: Option<String>,
        threshold_ms: f64,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        self.watch(provider, Condition::HighLatency(threshold_ms), callback)
    }

    /// `callback(event)` when `provider`'s error rate reaches `threshold`, once per crossing.
    #[pyo3(signature = (provider, threshold, callback))]
    fn on_high_error_rate(
        &self,
        provider: Option<String>,
        threshold: f64,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        self.watch(provider, Condition::HighErrorRate(threshold), callback)
    }
}

/// `client.performance`: seed 004's `PerformanceMetrics` per provider over the monitor's
/// window (times in ms; None before anything was seen), and seed 003's report.
#[pyclass(name = "PerformanceMetrics", module = "trinity_core", frozen)]
pub struct PyPerformanceMetrics(pub Arc<Client>);

impl PyPerformanceMetrics {
    fn of<T>(&self, provider: &str, f: impl Fn(&Performance) -> Option<T>) -> Option<T> {
        self.0
            .monitor()
            .health(provider)
            .and_then(|h| f(&Performance::from(&h)))
    }
}

#[pymethods]
impl PyPerformanceMetrics {
    fn avg_latency(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.latency_ms.average)
    }

    fn p95_latency(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.p95_latency_ms)
    }

    fn p99_latency(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.p99_latency_ms)
    }

    fn requests_per_minute(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| Some(p.requests_per_minute))
    }

    fn tokens_per_second(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.tokens_per_second)
    }

    fn error_rate(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.error_rate)
    }

    /// Mean time from degraded or down back to healthy, ms (None: no incident has ended).
    fn avg_error_recovery_time(&self, provider: &str) -> Option<f64> {
        self.of(provider, |p| p.avg_error_recovery_ms)
    }

    /// Seed 004's `generateReport`: the providers over the last `hours`, the circuit breakers
    /// and the request log's calls, as `"html"` (a `str`: one self-contained page, inline SVG
    /// charts, no script) or `"pdf"` (`bytes`: A4, its text extractable). Another format is an
    /// `InvalidInputError`.
    #[pyo3(signature = (format="html", hours=24.0))]
    fn generate_report<'py>(
        &self,
        py: Python<'py>,
        format: &str,
        hours: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = py.detach(|| call(|| self.0.performance_report(format, hours)))?;
        if format == "pdf" {
            return Ok(PyBytes::new(py, &bytes).into_any());
        }
        let html = String::from_utf8(bytes)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        Ok(PyString::new(py, &html).into_any())
    }

    /// Every provider's figures: `{provider: {"latency_ms": {count, average, min, max},
    /// "p95_latency_ms", "p99_latency_ms", "requests_per_minute", "tokens_per_second",
    /// "error_rate", "avg_error_recovery_ms"}}`.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let by_provider: std::collections::BTreeMap<String, Performance> = self
            .0
            .monitor()
            .performance()
            .into_iter()
            .map(|p| (p.provider.clone(), p))
            .collect();
        conv::serialized(py, &by_provider)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyProviderMonitor>()?;
    m.add_class::<PyPerformanceMetrics>()
}
