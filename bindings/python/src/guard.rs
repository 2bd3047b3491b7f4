//! `RunGuard`: the core's run guard (`trinity_core::guard`) for agent loops — a step limit, a
//! wall-time limit, loop detection, a crash-safe event log and a performance report.
//! trinity_core/guard.py subclasses it with `run_step` (the step awaited under asyncio's
//! timeout, cancelled at the deadline) and the `async def chat`.
//!
//! Steps are held by number (`begin_step` → `finish_step`), so a step may end on another
//! thread or task than the one that began it. Every rule — limits, loops, what is logged — is
//! the core's; this file converts Python values to the core's JSON shapes and back.

use crate::client::{response_to_py, spawn_for_asyncio, PyClient};
use crate::conv;
use crate::error::{call, invalid_input, is_trinity_error, to_py};
use crate::llm::PyChatResponse;
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use trinity_core::guard::{self, Action, LlmCall, RunGuard, StepOutcome};
use trinity_core::rt;

/// Nesting followed before a value is given up as its `repr()`.
const MAX_DEPTH: usize = 64;

/// A step's arguments or result as JSON, never refused: JSON-able values (dict, list, tuple,
/// str, int, float, bool, None) as themselves; inside a dict, list or tuple each part that is
/// not JSON-able (and each dict key that is not a str) by its `repr()` (`str()` for keys).
pub(crate) fn lenient_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    lenient(obj, 0)
}

fn lenient(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if let Ok(v) = conv::json(obj, "value") {
        return Ok(v);
    }
    if depth < MAX_DEPTH {
        if let Ok(d) = obj.cast::<PyDict>() {
            let mut map = Map::new();
            for (k, v) in d.iter() {
                let key = match k.cast::<PyString>() {
                    Ok(s) => s.to_string_lossy().into_owned(),
                    Err(_) => k.str()?.to_string_lossy().into_owned(),
                };
                map.insert(key, lenient(&v, depth + 1)?);
            }
            return Ok(Value::Object(map));
        }
        if let Ok(l) = obj.cast::<PyList>() {
            return l.iter().map(|v| lenient(&v, depth + 1)).collect();
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            return t.iter().map(|v| lenient(&v, depth + 1)).collect();
        }
    }
    Ok(Value::String(obj.repr()?.to_string_lossy().into_owned()))
}

/// A failed step's (or LLM call's) error as `{code, message}`: an exception — a
/// `TrinityError`'s `.code`, else its class name, and `str(e)` — or a dict with those keys
/// (checked by the core, which names a bad field).
fn error_json(error: &Bound<'_, PyAny>) -> PyResult<Value> {
    if error.is_instance_of::<PyBaseException>() {
        let code = if is_trinity_error(error) {
            error.getattr("code")?.extract::<String>()?
        } else {
            conv::type_name(error)
        };
        return Ok(json!({ "code": code, "message": error.str()?.to_string_lossy() }));
    }
    if error.cast::<PyDict>().is_err() {
        return Err(invalid_input(format!(
            "error: expected an exception or a dict {{code, message}}, got {}",
            conv::type_name(error)
        )));
    }
    conv::json(error, "error")
}

/// `{"ok": result}` or `{"error": {...}}`; both given is refused.
fn outcome_json(
    result: Option<&Bound<'_, PyAny>>,
    error: Option<&Bound<'_, PyAny>>,
) -> PyResult<Value> {
    let result = result.filter(|r| !r.is_none());
    match (result, error.filter(|e| !e.is_none())) {
        (Some(_), Some(_)) => Err(invalid_input(
            "a step has a result or an error, not both: pass result=... or error=...",
        )),
        (_, Some(e)) => Ok(json!({ "error": error_json(e)? })),
        (Some(r), None) => Ok(json!({ "ok": lenient_json(r)? })),
        (None, None) => Ok(json!({ "ok": null })),
    }
}

fn opt_json(v: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Value> {
    match v {
        Some(v) => conv::json(v, what),
        None => Ok(Value::Null),
    }
}

fn action(name: &Bound<'_, PyAny>, arguments: Option<&Bound<'_, PyAny>>) -> PyResult<Action> {
    let name = conv::text(name, "name")?.into_owned();
    let arguments = match arguments {
        Some(a) if !a.is_none() => lenient_json(a)?,
        _ => Value::Null,
    };
    Ok(Action::new(name, arguments))
}

/// The settings: `config` (a dict, or None) with the keywords given over it (keywords win,
/// key by key: `loops=` replaces the dict's whole `loops`). A path-like `event_log` becomes
/// its string; anything else is the core's to accept or refuse (naming the key).
#[allow(clippy::too_many_arguments)]
fn settings(
    config: Option<&Bound<'_, PyAny>>,
    max_steps: Option<&Bound<'_, PyAny>>,
    max_time_s: Option<&Bound<'_, PyAny>>,
    loops: Option<&Bound<'_, PyAny>>,
    event_log: Option<&Bound<'_, PyAny>>,
    log_arguments: Option<&Bound<'_, PyAny>>,
) -> PyResult<Value> {
    let path = |v: &Bound<'_, PyAny>| -> PyResult<Value> {
        if v.is_none() || v.is_instance_of::<PyString>() {
            return conv::json(v, "event_log");
        }
        match v.extract::<PathBuf>() {
            Ok(p) => Ok(Value::String(p.to_string_lossy().into_owned())),
            Err(_) => conv::json(v, "event_log"),
        }
    };
    let mut value = match config {
        None => Value::Object(Map::new()),
        Some(c) if c.is_none() => Value::Object(Map::new()),
        Some(c) => match c.cast::<PyDict>() {
            Ok(d) => {
                let d = d.copy()?;
                if let Some(log) = d.get_item("event_log")? {
                    d.set_item("event_log", conv::to_py(c.py(), &path(&log)?)?)?;
                }
                conv::json(d.as_any(), "config")?
            }
            Err(_) => conv::json(c, "config")?,
        },
    };
    if let Some(obj) = value.as_object_mut() {
        for (key, v) in [
            ("max_steps", max_steps),
            ("max_time_s", max_time_s),
            ("loops", loops),
            ("log_arguments", log_arguments),
        ] {
            if let Some(v) = v.filter(|v| !v.is_none()) {
                obj.insert(key.into(), conv::json(v, key)?);
            }
        }
        if let Some(v) = event_log.filter(|v| !v.is_none()) {
            obj.insert("event_log".into(), path(v)?);
        }
    }
    Ok(value)
}

/// Bounds one agent run: `max_steps`, `max_time_s`, loop detection, an event log.
#[pyclass(frozen, subclass, name = "RunGuard", module = "trinity_core._native")]
pub struct PyRunGuard {
    inner: Arc<RunGuard>,
}

#[pymethods]
impl PyRunGuard {
    /// `RunGuard(config=None, *, max_steps=None, max_time_s=None, loops=None, event_log=None,
    /// log_arguments=None)`: a dict of the settings and/or keywords (keywords win; None means
    /// not given). An unknown or bad key raises `InvalidInputError` naming it
    /// (`details["path"]`). The clock starts now.
    #[new]
    #[pyo3(signature = (config=None, *, max_steps=None, max_time_s=None, loops=None, event_log=None, log_arguments=None))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        max_steps: Option<&Bound<'_, PyAny>>,
        max_time_s: Option<&Bound<'_, PyAny>>,
        loops: Option<&Bound<'_, PyAny>>,
        event_log: Option<&Bound<'_, PyAny>>,
        log_arguments: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let value = settings(
            config,
            max_steps,
            max_time_s,
            loops,
            event_log,
            log_arguments,
        )?;
        let guard = py.detach(|| call(|| RunGuard::from_json(value)))?;
        Ok(PyRunGuard {
            inner: Arc::new(guard),
        })
    }

    /// `run_…`, random per guard; on every event-log line and in every stop's `details`.
    #[getter]
    fn run_id(&self) -> &str {
        self.inner.run_id()
    }

    /// Steps begun so far.
    #[getter]
    fn steps(&self) -> u64 {
        self.inner.steps()
    }

    /// Seconds since the guard was made.
    #[getter]
    fn elapsed_s(&self) -> f64 {
        self.inner.elapsed().as_secs_f64()
    }

    /// Seconds left before `max_time_s` runs out (0 once past it); None without a time limit.
    #[getter]
    fn remaining_s(&self) -> Option<f64> {
        self.inner.remaining().map(|d| d.as_secs_f64())
    }

    /// The `GuardStoppedError` the run was stopped with, or None while it may go on.
    #[getter]
    fn stopped(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.inner
            .stopped()
            .map(|e| to_py(e).into_value(py).into_any())
    }

    /// Raises `GuardStoppedError` once the run is stopped or out of time.
    fn check(&self) -> PyResult<()> {
        call(|| self.inner.check())
    }

    /// Begins a step (a tool call, or any named action) and returns its number (1 for the
    /// first). Raises `GuardStoppedError` when the run is stopped, out of time, or the step
    /// would pass `max_steps`. `arguments`: see `finish_step` for how values are converted.
    #[pyo3(signature = (name, arguments=None))]
    fn begin_step(
        &self,
        name: &Bound<'_, PyAny>,
        arguments: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let action = action(name, arguments)?;
        call(|| self.inner.begin(action))
    }

    /// Ends step `number` with its `result`, or with `error` (an exception: a `TrinityError`'s
    /// `.code`, else the class name, and `str(e)`; or a dict `{code, message}`). The result is
    /// kept as JSON: JSON-able parts as themselves, anything else by its `repr()`. Raises
    /// `GuardStoppedError` when this step completed a loop or the time ran out meanwhile;
    /// `InvalidInputError` for a step that is not in progress.
    #[pyo3(signature = (number, result=None, *, error=None))]
    fn finish_step(
        &self,
        number: u64,
        result: Option<&Bound<'_, PyAny>>,
        error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = outcome_json(result, error)?;
        call(|| self.inner.finish(number, StepOutcome::from_json(outcome)?))
    }

    /// The caller's own timer fired at the deadline while step `number` ran and it cancelled
    /// the work: the step is recorded as cancelled and the run stopped (`max_time`). Returns
    /// the `GuardStoppedError` to raise (it does not raise it).
    fn deadline_reached(&self, py: Python<'_>, number: u64) -> Py<PyAny> {
        to_py(self.inner.deadline_reached(number))
            .into_value(py)
            .into_any()
    }

    /// A step that ran outside the guard, reported after the fact (`begin_step` and
    /// `finish_step` at once; `duration_ms` if known, else 0). Returns its number.
    #[pyo3(signature = (name, arguments=None, *, result=None, error=None, duration_ms=None))]
    fn record_step(
        &self,
        name: &Bound<'_, PyAny>,
        arguments: Option<&Bound<'_, PyAny>>,
        result: Option<&Bound<'_, PyAny>>,
        error: Option<&Bound<'_, PyAny>>,
        duration_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let action = action(name, arguments)?;
        let mut step = json!({
            "action": {"name": action.name, "arguments": action.arguments},
            "outcome": outcome_json(result, error)?,
        });
        if let Some(ms) = duration_ms.filter(|d| !d.is_none()) {
            step["duration_ms"] = json!(conv::number(ms, "duration_ms")?);
        }
        call(|| self.inner.record_step_json(step))
    }

    /// An LLM call made outside the guard, reported after the fact: its duration, tokens,
    /// cost (None: not priced, counted apart in the report, never as 0) and error (an
    /// exception or `{code, message}`). Raises `GuardStoppedError` once the run is stopped or
    /// out of time (the call is recorded either way).
    #[pyo3(signature = (model, *, input_tokens=None, output_tokens=None, cost_usd=None, duration_ms=None, error=None, provider=None, response_model=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_llm_call(
        &self,
        model: &Bound<'_, PyAny>,
        input_tokens: Option<&Bound<'_, PyAny>>,
        output_tokens: Option<&Bound<'_, PyAny>>,
        cost_usd: Option<&Bound<'_, PyAny>>,
        duration_ms: Option<&Bound<'_, PyAny>>,
        error: Option<&Bound<'_, PyAny>>,
        provider: Option<&Bound<'_, PyAny>>,
        response_model: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let cost_nano_usd = match cost_usd.filter(|c| !c.is_none()) {
            None => None,
            Some(c) => {
                let usd = conv::number(c, "cost_usd")?;
                if !(usd.is_finite() && usd >= 0.0) {
                    return Err(invalid_input(format!(
                        "cost_usd: expected dollars >= 0, got {usd}"
                    )));
                }
                Some((usd * 1e9).round() as u64)
            }
        };
        let value = json!({
            "model": conv::text(model, "model")?,
            "input_tokens": opt_json(input_tokens, "input_tokens")?,
            "output_tokens": opt_json(output_tokens, "output_tokens")?,
            "cost_nano_usd": cost_nano_usd,
            "duration_ms": match duration_ms.filter(|d| !d.is_none()) {
                Some(d) => conv::number(d, "duration_ms")?,
                None => 0.0,
            },
            "error": match error.filter(|e| !e.is_none()) {
                Some(e) => error_json(e)?,
                None => Value::Null,
            },
            "provider": conv::opt_text(provider, "provider")?,
            "response_model": conv::opt_text(response_model, "response_model")?,
        });
        call(|| self.inner.record_llm_call(LlmCall::from_json(value)?))
    }

    /// An awaitable of one chat request through `client` as an LLM call of this run (the
    /// request as `Client.chat` takes it): refused once the run is stopped, cancelled in the
    /// engine at the deadline (`GuardStoppedError`, reason `max_time`), recorded with its
    /// tokens and cost. Needs a running event loop (`trinity_core.RunGuard.chat` is the
    /// coroutine).
    #[pyo3(signature = (client, request=None, **kwargs))]
    fn chat<'py>(
        &self,
        py: Python<'py>,
        client: &Bound<'py, PyClient>,
        request: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = crate::client::request(request, kwargs)?;
        let client = client.get();
        let core = client.core().clone();
        let guard = self.inner.clone();
        spawn_for_asyncio(
            py,
            client.bridges(),
            async move { guard.chat(&core, req).await },
            response_to_py,
        )
    }

    /// The blocking twin of `chat`; the GIL is released while it waits.
    #[pyo3(signature = (client, request=None, **kwargs))]
    fn chat_sync(
        &self,
        py: Python<'_>,
        client: &Bound<'_, PyClient>,
        request: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyChatResponse> {
        let req = crate::client::request(request, kwargs)?;
        let core = client.get().core().clone();
        let guard = self.inner.clone();
        py.detach(|| call(|| rt::wait(guard.chat(&core, req))))
            .map(PyChatResponse)
    }

    /// The run so far as a dict: steps, failed_steps, llm_calls, ..., `stopped`, and per
    /// metric (step_duration_ms, llm_call_duration_ms, input_tokens, output_tokens, tokens,
    /// cost_usd) count, total, average, min, max, p50, p95, p99.
    fn performance_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.inner.performance_report())
    }

    /// Seed 003's name for `performance_report`.
    fn get_performance_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.performance_report(py)
    }

    fn __repr__(&self) -> String {
        let stopped = match self.inner.stopped() {
            Some(e) => guard::StopReason::of(&e)
                .map(|r| format!(", stopped={:?}", r.as_str()))
                .unwrap_or_default(),
            None => String::new(),
        };
        format!(
            "RunGuard(run_id={:?}, steps={}{stopped})",
            self.inner.run_id(),
            self.inner.steps()
        )
    }
}

/// `read_event_log(path)`: `{records, dropped_lines, torn_tail}` — every complete line that is
/// a JSON object, and the (1-based) numbers of the lines dropped: a torn last line after a
/// crash, or garbage.
#[pyfunction]
pub fn read_event_log(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let contents = py.detach(|| call(|| guard::read_event_log(&path)))?;
    conv::serialized(py, &contents)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRunGuard>()?;
    m.add_function(wrap_pyfunction!(read_event_log, m)?)?;
    Ok(())
}
