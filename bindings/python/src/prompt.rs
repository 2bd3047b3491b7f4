//! Prompt optimisation: `PromptOptimizer` (seed 004's methods, snake_case) and the module-level
//! `optimize_prompt`, `optimize_prompt_for_model`, `compress_prompt`. A prompt is a `str` or a
//! list of message dicts; results are dicts (TypedDicts in `_native.pyi`). The core does the
//! work, with the GIL released, against the process-wide registry (`Registry.default()`).

use crate::conv;
use crate::error::{call, invalid_input};
use pyo3::prelude::*;
use trinity_core::prompt::{self, Goal, Prompt};

/// A `str` (lone surrogates read as U+FFFD, as `count_tokens` reads them) or a list of dicts.
fn prompt_arg(obj: &Bound<'_, PyAny>) -> PyResult<Prompt> {
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Ok(Prompt::Text(conv::text(obj, "prompt")?.into_owned()));
    }
    let value = conv::json(obj, "prompt")?;
    call(|| Prompt::from_json(value))
}

fn target_arg(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_input("target_tokens: expected an int, got bool"));
    }
    obj.extract::<u64>().map_err(|_| {
        invalid_input(format!(
            "target_tokens: expected a non-negative int, got {}",
            conv::type_name(obj)
        ))
    })
}

fn optimize<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyAny>>,
    goal: Goal,
) -> PyResult<Bound<'py, PyAny>> {
    let prompt = prompt_arg(prompt)?;
    let model = conv::opt_text(model, "model")?;
    let registry = trinity_core::registry::global();
    let out =
        py.detach(|| call(|| prompt::optimize(&registry, &prompt, model.as_deref(), goal)))?;
    conv::serialized(py, &out)
}

fn for_model<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    model: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let prompt = prompt_arg(prompt)?;
    let model = conv::text(model, "model")?;
    let registry = trinity_core::registry::global();
    let out = py.detach(|| call(|| prompt::optimize_for_model(&registry, &prompt, &model)))?;
    conv::serialized(py, &out)
}

fn compress<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    target_tokens: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let prompt = prompt_arg(prompt)?;
    let target = target_arg(target_tokens)?;
    let model = conv::opt_text(model, "model")?;
    let registry = trinity_core::registry::global();
    let out = py.detach(|| {
        call(|| prompt::compress_prompt(&registry, &prompt, target, model.as_deref()))
    })?;
    conv::serialized(py, &out)
}

/// The lossless passes over `prompt` (str or messages), counted for `model` (default
/// o200k_base): `{prompt, goal, tokens_before, tokens_after, encoding, estimated, applied,
/// passes}`. `goal` is "cost", "latency" or "quality" (the same passes today).
#[pyfunction]
#[pyo3(signature = (prompt, model=None, *, goal="cost"))]
pub fn optimize_prompt<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyAny>>,
    goal: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let goal = call(|| Goal::parse(goal))?;
    optimize(py, prompt, model, goal)
}

/// The lossless passes, laid out for `model`'s prompt cache (stable content first, Anthropic
/// `cache_control` breakpoints over the model's minimum).
#[pyfunction]
pub fn optimize_prompt_for_model<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    model: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    for_model(py, prompt, model)
}

/// A text prompt fitted to `target_tokens` (lossy when it must be; numbers, URLs, quotes and
/// code kept): `{text, tokens_before, tokens_after, target_tokens, encoding, estimated,
/// lossless, dropped}`. `ContextTooLargeError` when the protected content alone is over.
#[pyfunction]
#[pyo3(signature = (prompt, target_tokens, model=None))]
pub fn compress_prompt<'py>(
    py: Python<'py>,
    prompt: &Bound<'py, PyAny>,
    target_tokens: &Bound<'py, PyAny>,
    model: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    compress(py, prompt, target_tokens, model)
}

/// Seed 004's `PromptOptimizer`: the functions above as methods.
#[pyclass(frozen, name = "PromptOptimizer", module = "trinity_core")]
pub struct PyPromptOptimizer;

#[pymethods]
impl PyPromptOptimizer {
    #[new]
    fn new() -> Self {
        PyPromptOptimizer
    }

    #[pyo3(signature = (prompt, model=None))]
    fn optimize_for_cost<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        optimize(py, prompt, model, Goal::Cost)
    }

    #[pyo3(signature = (prompt, model=None))]
    fn optimize_for_latency<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        optimize(py, prompt, model, Goal::Latency)
    }

    #[pyo3(signature = (prompt, model=None))]
    fn optimize_for_quality<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        optimize(py, prompt, model, Goal::Quality)
    }

    fn optimize_for_model<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        model: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        for_model(py, prompt, model)
    }

    #[pyo3(signature = (prompt, target_tokens, model=None))]
    fn compress<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        target_tokens: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        compress(py, prompt, target_tokens, model)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(optimize_prompt, m)?)?;
    m.add_function(wrap_pyfunction!(optimize_prompt_for_model, m)?)?;
    m.add_function(wrap_pyfunction!(compress_prompt, m)?)?;
    m.add_class::<PyPromptOptimizer>()
}
