//! `Registry` and `Model`: the core registry behind snake_case methods.

use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;
use trinity_core::registry::{self, Registry};

/// One model definition (read-only; change it with `Registry.update_model`).
#[pyclass(frozen, name = "Model", module = "trinity_core")]
pub struct PyModel(pub Arc<trinity_core::Model>);

#[pymethods]
impl PyModel {
    #[getter]
    fn id(&self) -> &str {
        &self.0.id
    }
    #[getter]
    fn provider(&self) -> &str {
        &self.0.provider
    }
    #[getter]
    fn name(&self) -> &str {
        &self.0.name
    }
    #[getter]
    fn aliases(&self) -> Vec<String> {
        self.0.aliases.clone()
    }
    #[getter]
    fn context_window(&self) -> u64 {
        self.0.context_window
    }
    #[getter]
    fn max_output_tokens(&self) -> u64 {
        self.0.max_output_tokens
    }
    #[getter]
    fn input_per_1m(&self) -> f64 {
        self.0.input_per_1m
    }
    #[getter]
    fn output_per_1m(&self) -> f64 {
        self.0.output_per_1m
    }
    #[getter]
    fn cached_input_per_1m(&self) -> Option<f64> {
        self.0.cached_input_per_1m
    }
    /// The shortest prompt prefix the provider caches; None: no prompt caching, or unknown.
    #[getter]
    fn cache_min_tokens(&self) -> Option<u32> {
        self.0.cache_min_tokens
    }
    #[getter]
    fn capabilities(&self) -> Vec<&'static str> {
        self.0.capabilities.iter().map(|c| c.name()).collect()
    }
    #[getter]
    fn tokenizer(&self) -> &str {
        &self.0.tokenizer
    }
    #[getter]
    fn typical_latency_ms(&self) -> u64 {
        self.0.typical_latency_ms
    }
    #[getter]
    fn deprecation_date(&self) -> Option<&str> {
        self.0.deprecation_date.as_deref()
    }

    fn supports(&self, feature: &str) -> PyResult<bool> {
        call(|| Ok(self.0.supports(registry::Capability::parse(feature)?)))
    }

    /// The definition as a dict, in the shape `Registry.add_model` accepts.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &*self.0)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyModel>().is_ok_and(|o| *o.get().0 == *self.0)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.0.id.hash(&mut h);
        h.finish()
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(id={:?}, provider={:?}, context_window={}, input_per_1m={}, output_per_1m={})",
            self.0.id,
            self.0.provider,
            self.0.context_window,
            self.0.input_per_1m,
            self.0.output_per_1m
        )
    }
}

/// The model registry. `Registry()` holds the shipped models; `Registry.default()` is the
/// process-wide one that `count_tokens(model=...)` consults.
#[pyclass(frozen, name = "Registry", module = "trinity_core")]
pub struct PyRegistry(Arc<Registry>);

fn models(list: Vec<Arc<trinity_core::Model>>) -> Vec<PyModel> {
    list.into_iter().map(PyModel).collect()
}

#[pymethods]
impl PyRegistry {
    #[new]
    fn new() -> Self {
        PyRegistry(Arc::new(Registry::builtin()))
    }

    /// A registry with no models.
    #[staticmethod]
    fn empty() -> Self {
        PyRegistry(Arc::new(Registry::empty()))
    }

    /// The process-wide registry (shared with token counting by model name).
    #[staticmethod]
    fn default() -> Self {
        PyRegistry(registry::global())
    }

    /// A model by id or alias; `NotFoundError` (with `.details["suggestions"]`) otherwise.
    fn get(&self, name: &str) -> PyResult<PyModel> {
        call(|| self.0.get(name)).map(PyModel)
    }

    fn __getitem__(&self, name: &str) -> PyResult<PyModel> {
        self.get(name)
    }

    fn __contains__(&self, name: &str) -> bool {
        self.0.get(name).is_ok()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn all(&self) -> Vec<PyModel> {
        models(self.0.all())
    }

    fn by_provider(&self, provider: &str) -> Vec<PyModel> {
        models(self.0.by_provider(provider))
    }

    fn by_capability(&self, capability: &str) -> PyResult<Vec<PyModel>> {
        call(|| self.0.by_capability(capability)).map(models)
    }

    /// Models with typical latency ≤ `max_ms`, fastest first.
    fn by_latency(&self, max_ms: &Bound<'_, PyAny>) -> PyResult<Vec<PyModel>> {
        Ok(models(self.0.by_latency(conv::number(max_ms, "max_ms")?)))
    }

    /// Models with blended price per 1K tokens ≤ `max_per_1k`, cheapest first.
    fn by_cost(&self, max_per_1k: &Bound<'_, PyAny>) -> PyResult<Vec<PyModel>> {
        let max = conv::number(max_per_1k, "max_per_1k")?;
        call(|| self.0.by_cost(max)).map(models)
    }

    fn token_limit(&self, name: &str) -> PyResult<u64> {
        call(|| self.0.token_limit(name))
    }

    /// `{"input", "output", "cached_input", "blended"}` in USD per 1K tokens.
    fn cost_per_1k<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let cost = call(|| self.0.cost_per_1k(name))?;
        conv::serialized(py, &cost)
    }

    fn supports_feature(&self, name: &str, feature: &str) -> PyResult<bool> {
        call(|| self.0.supports_feature(name, feature))
    }

    /// Adds a model from a dict (the shape of `Model.to_dict()`).
    fn add_model(&self, model: &Bound<'_, PyAny>) -> PyResult<PyModel> {
        let value = conv::json(model, "model")?;
        call(|| self.0.add_json(value)).map(PyModel)
    }

    /// Changes fields of a model: `update_model("gpt-4o", {"input_per_1m": 2.0})` or as keywords.
    #[pyo3(signature = (name, updates=None, **fields))]
    fn update_model(
        &self,
        name: &str,
        updates: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyModel> {
        let value = conv::json_with_keywords(updates, fields, "updates")?;
        call(|| self.0.update(name, value)).map(PyModel)
    }

    /// Merges a model file (JSON or YAML, our format): `{"added", "updated", "skipped"}`.
    fn load_file<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let report = py.detach(|| call(|| self.0.load_file(path)))?;
        conv::serialized(py, &report)
    }

    /// Merges LiteLLM's `model_prices_and_context_window.json`, as published.
    fn load_litellm<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let report = py.detach(|| call(|| self.0.load_litellm_file(path)))?;
        conv::serialized(py, &report)
    }

    fn __repr__(&self) -> String {
        format!("Registry({} models)", self.0.len())
    }
}
