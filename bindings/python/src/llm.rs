//! Response, chunk and usage objects of the LLM client, converted from the core's types.

use crate::conv;
use pyo3::prelude::*;
use trinity_core::llm::{ChatChunk, ChatResponse, Usage};

/// Token usage of a call.
#[pyclass(frozen, skip_from_py_object, name = "Usage", module = "trinity_core")]
#[derive(Clone)]
pub struct PyUsage {
    #[pyo3(get)]
    prompt_tokens: u64,
    #[pyo3(get)]
    completion_tokens: u64,
    #[pyo3(get)]
    total_tokens: u64,
    #[pyo3(get)]
    cached_tokens: u64,
    #[pyo3(get)]
    cache_write_tokens: u64,
    #[pyo3(get)]
    cache_write_1h_tokens: u64,
    #[pyo3(get)]
    reasoning_tokens: u64,
}

impl From<Usage> for PyUsage {
    fn from(u: Usage) -> Self {
        PyUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            cached_tokens: u.cached_tokens,
            cache_write_tokens: u.cache_write_tokens,
            cache_write_1h_tokens: u.cache_write_1h_tokens,
            reasoning_tokens: u.reasoning_tokens,
        }
    }
}

#[pymethods]
impl PyUsage {
    fn __repr__(&self) -> String {
        format!(
            "Usage(prompt_tokens={}, completion_tokens={}, total_tokens={}, cached_tokens={})",
            self.prompt_tokens, self.completion_tokens, self.total_tokens, self.cached_tokens
        )
    }
}

/// The answer to a chat request.
#[pyclass(frozen, name = "ChatResponse", module = "trinity_core")]
pub struct PyChatResponse(pub ChatResponse);

#[pymethods]
impl PyChatResponse {
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    #[getter]
    fn content(&self) -> &str {
        &self.0.content
    }
    /// `[{"id", "type": "function", "function": {"name", "arguments"}}]`
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.tool_calls)
    }
    #[getter]
    fn finish_reason(&self) -> Option<&str> {
        self.0.finish_reason.as_deref()
    }
    #[getter]
    fn usage(&self) -> PyUsage {
        self.0.usage.into()
    }
    #[getter]
    fn provider(&self) -> &str {
        &self.0.provider
    }
    #[getter]
    fn model(&self) -> &str {
        &self.0.model
    }
    #[getter]
    fn latency_ms(&self) -> f64 {
        self.0.latency_ms
    }
    #[getter]
    fn cost_usd(&self) -> Option<f64> {
        self.0.cost_usd
    }
    /// The cost by token kind in nano-USD, `estimated`, and `unpriced_reason` when unpriced.
    #[getter]
    fn cost_detail<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.cost_detail)
    }
    #[getter]
    fn cached(&self) -> bool {
        self.0.cached
    }
    #[getter]
    fn attempts(&self) -> u32 {
        self.0.attempts
    }
    /// Seed 004's `DebugInfo` as a dict: `request_id` (the request log's), `provider`, `model`,
    /// `duration_ms`, `input_tokens`, `output_tokens`, `cost`, `latency_ms`,
    /// `time_to_first_token_ms`.
    #[getter]
    fn debug<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.debug)
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0)
    }
    fn __repr__(&self) -> String {
        let mut preview: String = self.0.content.chars().take(40).collect();
        if preview.len() < self.0.content.len() {
            preview.push('…');
        }
        format!(
            "ChatResponse(provider={:?}, model={:?}, content={:?}, finish_reason={}, total_tokens={})",
            self.0.provider,
            self.0.model,
            preview,
            py_opt(self.0.finish_reason.as_deref()),
            self.0.usage.total_tokens
        )
    }
}

/// One streamed piece of an answer.
#[pyclass(frozen, name = "ChatChunk", module = "trinity_core")]
pub struct PyChatChunk(pub ChatChunk);

#[pymethods]
impl PyChatChunk {
    #[getter]
    fn delta(&self) -> &str {
        &self.0.delta
    }
    /// `[{"index", "id"?, "name"?, "arguments"}]`
    #[getter]
    fn tool_calls<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.tool_calls)
    }
    #[getter]
    fn finish_reason(&self) -> Option<&str> {
        self.0.finish_reason.as_deref()
    }
    #[getter]
    fn usage(&self) -> Option<PyUsage> {
        self.0.usage.map(Into::into)
    }
    /// On the chunk that carries the usage: what the stream cost.
    #[getter]
    fn cost_usd(&self) -> Option<f64> {
        self.0.cost_usd
    }
    #[getter]
    fn cost_detail<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.cost_detail)
    }
    /// Replayed from the response cache.
    #[getter]
    fn cached(&self) -> bool {
        self.0.cached
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "ChatChunk(delta={:?}, finish_reason={:?})",
            self.0.delta, self.0.finish_reason
        )
    }
}

/// `'text'` or `None`, as Python prints them.
fn py_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_string(), |s| format!("{s:?}"))
}
