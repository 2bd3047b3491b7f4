//! The core's resilience primitives for Python: `CircuitBreaker`, `RateLimiter`, `RequestQueue`
//! and `RetryPolicy`. Admission and recording are plain native calls (no coroutine, no GIL
//! release: they take a mutex for a few ns); waits return asyncio futures resolved through the
//! process-wide loop bridge (`bridge::shared`). Context-manager and decorator sugar lives in
//! `trinity_core/resilience.py`.

use crate::bridge::Completion;
use crate::config::PyConfig;
use crate::conv;
use crate::error::{call, invalid_input, to_py};
use futures_util::FutureExt;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use pyo3::PyTraverseError;
use rand::SeedableRng;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::resilience::retry::Decision;
use trinity_core::resilience::{
    self as core, Admission, BreakerSettings, BreakerState, Outcome, QueueSettings, RateLimit,
    RetryPolicy, Ticket,
};
use trinity_core::{rt, Error, ErrorKind, Result};

/// Aborts the runtime task when its asyncio future is cancelled.
#[pyclass(frozen)]
struct AbortTask(tokio::task::AbortHandle);

#[pymethods]
impl AbortTask {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, value: PyResult<Py<PyAny>>) -> PyResult<()> {
    match value {
        Ok(v) => future.call_method1(pyo3::intern!(py, "set_result"), (v,))?,
        Err(e) => future.call_method1(pyo3::intern!(py, "set_exception"), (e.value(py),))?,
    };
    Ok(())
}

/// An asyncio future for `work`. The work is polled once here: a slot or admission that is
/// free now resolves the future at once, without a trip through the runtime. Otherwise the
/// same future moves to the runtime and the bridge resolves the asyncio future when it ends;
/// cancelling the asyncio future drops it (which leaves the queue or the limiter's line).
/// `timers`: the first poll may start a tokio timer, so it runs inside the runtime's context.
fn start<'py, T, F>(
    py: Python<'py>,
    work: F,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
    timers: bool,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let (event_loop, bridge) = crate::bridge::shared().for_running_loop(py)?;
    let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let mut work = Box::pin(AssertUnwindSafe(work).catch_unwind());
    let first = {
        let handle = timers.then(rt::handle);
        let _runtime = handle.as_ref().map(|h| h.enter());
        work.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    };
    let finish =
        |r: std::thread::Result<Result<T>>| r.unwrap_or_else(|p| Err(Error::from_panic(p)));
    if let Poll::Ready(result) = first {
        let value = finish(result).map_err(to_py).and_then(|v| convert(py, v));
        settle(py, &future, value)?;
        return Ok(future);
    }
    let target = future.clone().unbind();
    let task = rt::spawn(async move {
        let result = finish(work.await);
        let completion: Completion =
            Box::new(move |py| result.map_err(to_py).and_then(|v| convert(py, v)));
        bridge.complete(target, completion);
    });
    future.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (AbortTask(task.abort_handle()),),
    )?;
    Ok(future)
}

/// One config-schema section (`breaker`, `queue`, `retry`) from a `Config`, a dict and/or
/// keywords (keywords win), validated by the core: errors name the field (`breaker.window_size`).
fn section(
    py: Python<'_>,
    name: &str,
    config: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<Config> {
    let from_config = match config.map(|c| c.cast::<PyConfig>()) {
        Some(Ok(c)) => Some(conv::to_py(py, &c.get().0.to_json()[name])?),
        _ => None,
    };
    let value = conv::json_with_keywords(from_config.as_ref().or(config), fields, "config")?;
    call(|| Config::from_value(serde_json::json!({ name: value }), EnvOverrides::Ignore))
}

fn config_error(path: &str, what: &str) -> PyErr {
    to_py(
        Error::config(format!("{path}: {what}")).with_details(serde_json::json!({ "path": path })),
    )
}

/// Seconds as a `Duration`: finite and positive, else `ConfigError` naming `path`.
fn seconds(value: f64, path: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| config_error(path, "expected a positive number of seconds"))
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

/// Proof of admission by a `CircuitBreaker`; hand it back to `record` exactly once.
#[pyclass(frozen, name = "BreakerTicket", module = "trinity_core._native")]
pub struct PyTicket {
    ticket: Ticket,
    recorded: AtomicBool,
}

fn outcome(name: &str) -> PyResult<Outcome> {
    match name {
        "success" => Ok(Outcome::Success),
        "failure" => Ok(Outcome::Failure),
        "cancelled" => Ok(Outcome::Cancelled),
        other => Err(invalid_input(format!(
            "outcome: expected 'success', 'failure' or 'cancelled', got {other:?}"
        ))),
    }
}

/// The core circuit breaker (count or time window, failure and slow-call rates, half-open
/// probes). `trinity_core.CircuitBreaker` adds `async with` and the decorator.
#[pyclass(
    frozen,
    subclass,
    name = "CircuitBreaker",
    module = "trinity_core._native"
)]
pub struct PyCircuitBreaker {
    inner: Arc<core::CircuitBreaker>,
    exclude: Py<PyTuple>,
    /// The `on_state_change` callbacks, held here (not in the core's listeners) so that the
    /// garbage collector sees them: a callback that refers back to its breaker is a cycle.
    callbacks: Callbacks,
}

type Callbacks = Arc<Mutex<Vec<Py<PyAny>>>>;

#[pymethods]
impl PyCircuitBreaker {
    /// `CircuitBreaker(name="default", config=None, *, exclude=(), **fields)`: `config` is a
    /// `Config` or a dict of the `breaker` section; `fields` override it.
    #[new]
    #[pyo3(signature = (name="default", config=None, *, exclude=None, **fields))]
    fn new(
        py: Python<'_>,
        name: &str,
        config: Option<&Bound<'_, PyAny>>,
        exclude: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let c = section(py, "breaker", config, fields)?;
        let breaker = call(|| core::CircuitBreaker::new(name, BreakerSettings::from(&c.breaker)))?;
        if !c.breaker.enabled {
            breaker.set_state(BreakerState::Disabled);
        }
        let exclude = match exclude {
            None => PyTuple::empty(py),
            Some(e) if e.is_instance_of::<PyTuple>() => e.cast::<PyTuple>()?.clone(),
            Some(e) => PyTuple::new(py, [e])?,
        };
        let base = py.get_type::<pyo3::exceptions::PyBaseException>();
        for t in exclude.iter() {
            let is_exception = t
                .cast::<pyo3::types::PyType>()
                .is_ok_and(|t| t.is_subclass(&base).unwrap_or(false));
            if !is_exception {
                return Err(invalid_input(format!(
                    "exclude: expected exception classes, got {}",
                    conv::type_name(&t)
                )));
            }
        }
        Ok(PyCircuitBreaker {
            inner: Arc::new(breaker),
            exclude: exclude.unbind(),
            callbacks: Callbacks::default(),
        })
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    /// Exception types that count as neither success nor failure.
    #[getter]
    fn exclude(&self, py: Python<'_>) -> Py<PyTuple> {
        self.exclude.clone_ref(py)
    }

    /// Admits a call (→ a ticket) or raises `CircuitOpenError` (`details`: breaker, state, retry_after_ms).
    fn acquire(&self) -> PyResult<PyTicket> {
        match self.inner.try_acquire() {
            Ok(ticket) => Ok(PyTicket {
                ticket,
                recorded: AtomicBool::new(false),
            }),
            Err(e) => Err(to_py(e)),
        }
    }

    /// Records how an admitted call ended: "success", "failure" or "cancelled" (counts as neither).
    #[pyo3(signature = (ticket, outcome="success"))]
    fn record(&self, ticket: &Bound<'_, PyTicket>, outcome: &str) -> PyResult<()> {
        let outcome = self::outcome(outcome)?;
        let t = ticket.get();
        if t.recorded.swap(true, Ordering::AcqRel) {
            return Err(invalid_input("this ticket's outcome was recorded already"));
        }
        self.inner.record(t.ticket, outcome);
        Ok(())
    }

    /// "closed", "open", "half_open", "forced_open" or "disabled".
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    fn set_state(&self, state: &str) -> PyResult<()> {
        let to: BreakerState = serde_json::from_value(serde_json::Value::from(state)).map_err(|_| {
            invalid_input(format!(
                "state: expected 'closed', 'open', 'half_open', 'forced_open' or 'disabled', got {state:?}"
            ))
        })?;
        self.inner.set_state(to);
        Ok(())
    }

    /// state, calls, failures, slow_calls, failure_rate, slow_call_rate, not_permitted, retry_after_ms.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.inner.snapshot())
    }

    /// Calls `callback({"breaker", "from", "to", "failure_rate", "slow_call_rate"})` after each
    /// transition, on the thread that caused it. An exception in it is reported, not raised.
    fn on_state_change(&self, callback: Py<PyAny>) {
        let callbacks = self.callbacks.clone();
        let index = {
            let mut all = callbacks.lock().unwrap_or_else(|p| p.into_inner());
            all.push(callback);
            all.len() - 1
        };
        self.inner.on_state_change(move |change| {
            Python::attach(|py| {
                let callback = callbacks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(index)
                    .map(|c| c.clone_ref(py));
                let Some(cb) = callback.map(|c| c.into_bound(py)) else {
                    return; // cleared by the garbage collector
                };
                if let Err(e) = conv::serialized(py, change).and_then(|c| cb.call1((c,))) {
                    e.write_unraisable(py, Some(&cb));
                }
            })
        });
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> std::result::Result<(), PyTraverseError> {
        visit.call(&self.exclude)?;
        if let Ok(callbacks) = self.callbacks.try_lock() {
            for c in callbacks.iter() {
                visit.call(c)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let callbacks =
            std::mem::take(&mut *self.callbacks.lock().unwrap_or_else(|p| p.into_inner()));
        drop(callbacks); // outside the lock: a destructor may call back in
    }

    fn __repr__(&self) -> String {
        format!(
            "CircuitBreaker(name={:?}, state={:?})",
            self.inner.name(),
            self.state()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limiter

/// An admitted request; pass it to `RateLimiter.reconcile` once its real token count is known.
#[pyclass(frozen, name = "Admission", module = "trinity_core._native")]
pub struct PyAdmission(Admission);

#[pymethods]
impl PyAdmission {
    #[getter]
    fn tokens(&self) -> u64 {
        self.0.tokens
    }
}

fn admission_to_py(py: Python<'_>, a: Admission) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyAdmission(a))?.into_any())
}

/// Requests and tokens per window as exact sliding logs; waiters are served in arrival order.
#[pyclass(
    frozen,
    subclass,
    name = "RateLimiter",
    module = "trinity_core._native"
)]
pub struct PyRateLimiter(Arc<core::RateLimiter>);

fn rate_limit(
    py: Python<'_>,
    name: &str,
    rpm: Option<&Bound<'_, PyAny>>,
    tpm: Option<&Bound<'_, PyAny>>,
    window_s: f64,
) -> PyResult<RateLimit> {
    let window = seconds(window_s, &format!("rate_limits.{name}.window_s"))?;
    let given = |v: Option<&Bound<'_, PyAny>>| v.filter(|v| !v.is_none()).is_some();
    if !given(rpm) && !given(tpm) {
        return Ok(RateLimit {
            rpm: None,
            tpm: None,
            window,
        });
    }
    // The `rate_limits` schema checks the numbers and names the bad one.
    let limit = PyDict::new(py);
    limit.set_item("rpm", rpm)?;
    limit.set_item("tpm", tpm)?;
    let limits = PyDict::new(py);
    limits.set_item(name, limit)?;
    let c = section(py, "rate_limits", Some(limits.as_any()), None)?;
    let l = &c.rate_limits[name];
    Ok(RateLimit {
        rpm: l.rpm.map(|v| v.get()),
        tpm: l.tpm.map(|v| v.get()),
        window,
    })
}

#[pymethods]
impl PyRateLimiter {
    /// `RateLimiter(rpm=None, tpm=None, window_s=60, *, name="default")`; None is unlimited.
    #[new]
    #[pyo3(signature = (rpm=None, tpm=None, window_s=60.0, *, name="default"))]
    fn new(
        py: Python<'_>,
        rpm: Option<&Bound<'_, PyAny>>,
        tpm: Option<&Bound<'_, PyAny>>,
        window_s: f64,
        name: &str,
    ) -> PyResult<Self> {
        let limit = rate_limit(py, name, rpm, tpm, window_s)?;
        call(|| core::RateLimiter::new(name, limit)).map(|l| PyRateLimiter(Arc::new(l)))
    }

    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    /// Admits now or raises `RateLimitedError` (`details["retry_after_ms"]`); never jumps the line.
    #[pyo3(signature = (tokens=1))]
    fn try_acquire(&self, tokens: u64) -> PyResult<PyAdmission> {
        match self.0.try_acquire(tokens) {
            Ok(a) => Ok(PyAdmission(a)),
            Err(e) => Err(to_py(e)),
        }
    }

    /// `await limiter.acquire(tokens)`: waits in line until `tokens` fit, then admits.
    #[pyo3(signature = (tokens=1))]
    fn acquire<'py>(&self, py: Python<'py>, tokens: u64) -> PyResult<Bound<'py, PyAny>> {
        let limiter = self.0.clone();
        start(
            py,
            async move { limiter.acquire(tokens).await },
            admission_to_py,
            true,
        )
    }

    /// The blocking twin of `acquire`, for scripts; the GIL is released while it waits.
    #[pyo3(signature = (tokens=1))]
    fn acquire_sync(&self, py: Python<'_>, tokens: u64) -> PyResult<PyAdmission> {
        let limiter = self.0.clone();
        py.detach(|| call(|| rt::wait(limiter.acquire(tokens))))
            .map(PyAdmission)
    }

    /// Replaces an admission's token estimate with the tokens it really used.
    fn reconcile(&self, admission: &Bound<'_, PyAdmission>, actual_tokens: u64) {
        self.0.reconcile(admission.get().0, actual_tokens);
    }

    /// Seconds until `tokens` would be admitted (0.0 when now).
    #[pyo3(signature = (tokens=1))]
    fn retry_after(&self, tokens: u64) -> f64 {
        self.0.retry_after(tokens).as_secs_f64()
    }

    /// New limits, applied at once to the admissions already in the window.
    #[pyo3(signature = (rpm=None, tpm=None, window_s=60.0))]
    fn set_limit(
        &self,
        py: Python<'_>,
        rpm: Option<&Bound<'_, PyAny>>,
        tpm: Option<&Bound<'_, PyAny>>,
        window_s: f64,
    ) -> PyResult<()> {
        let limit = rate_limit(py, self.0.name(), rpm, tpm, window_s)?;
        call(|| self.0.set_limit(limit))
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.snapshot())
    }

    fn __repr__(&self) -> String {
        let l = self.0.limit();
        format!(
            "RateLimiter(rpm={:?}, tpm={:?}, window_s={})",
            l.rpm,
            l.tpm,
            l.window.as_secs_f64()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Request queue

/// One of a `RequestQueue`'s slots: `release()` it (or leave the `with` block) to start the next waiter.
#[pyclass(frozen, name = "QueuePermit", module = "trinity_core._native")]
pub struct PyQueuePermit(Mutex<Option<core::QueuePermit>>);

#[pymethods]
impl PyQueuePermit {
    /// Frees the slot (idempotent).
    fn release(&self) {
        let permit = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(permit);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, _t: Py<PyAny>, _v: Py<PyAny>, _tb: Py<PyAny>) -> bool {
        self.release();
        false
    }
}

fn permit_to_py(py: Python<'_>, p: core::QueuePermit) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyQueuePermit(Mutex::new(Some(p))))?.into_any())
}

/// Priority queue with bounded concurrency and aging; a full queue raises `RateLimitedError`.
#[pyclass(
    frozen,
    subclass,
    name = "RequestQueue",
    module = "trinity_core._native"
)]
pub struct PyRequestQueue(Arc<core::RequestQueue>);

#[pymethods]
impl PyRequestQueue {
    /// `RequestQueue(config=None, *, max_concurrency=64, max_length=10000, aging_ms=5000)`:
    /// `config` is a `Config` or a dict of the `queue` section; keywords override it.
    #[new]
    #[pyo3(signature = (config=None, **fields))]
    fn new(
        py: Python<'_>,
        config: Option<&Bound<'_, PyAny>>,
        fields: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let c = section(py, "queue", config, fields)?;
        call(|| core::RequestQueue::new(QueueSettings::from(&c.queue)))
            .map(|q| PyRequestQueue(Arc::new(q)))
    }

    /// `await queue.acquire(priority)` → a `QueuePermit`; higher priority goes first.
    #[pyo3(signature = (priority=0))]
    fn acquire<'py>(&self, py: Python<'py>, priority: i64) -> PyResult<Bound<'py, PyAny>> {
        let queue = self.0.clone();
        start(
            py,
            async move { queue.acquire(priority).await },
            permit_to_py,
            false,
        )
    }

    /// The blocking twin of `acquire`, for scripts; the GIL is released while it waits.
    #[pyo3(signature = (priority=0))]
    fn acquire_sync(&self, py: Python<'_>, priority: i64) -> PyResult<PyQueuePermit> {
        let queue = self.0.clone();
        py.detach(|| call(|| rt::wait(queue.acquire(priority))))
            .map(|p| PyQueuePermit(Mutex::new(Some(p))))
    }

    /// Requests waiting for a slot.
    fn len(&self) -> usize {
        self.0.len()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }

    #[getter]
    fn in_flight(&self) -> usize {
        self.0.in_flight()
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.snapshot())
    }
}

// ---------------------------------------------------------------------------------------------
// Retries

static TRINITY_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A Python exception as a core error: a `TrinityError` keeps its code and details; anything
/// else is `internal` (not retryable). `retryable` overrides the core's verdict.
fn core_error(py: Python<'_>, exc: &Bound<'_, PyAny>, retryable: Option<bool>) -> PyResult<Error> {
    let base = TRINITY_ERROR.get_or_try_init(py, || -> PyResult<_> {
        Ok(py
            .import("trinity_core._native")?
            .getattr("TrinityError")?
            .unbind())
    })?;
    let mut err = if exc.is_instance(base.bind(py))? {
        let code: String = exc.getattr("code")?.extract()?;
        let details = exc.getattr("details")?;
        let mut e = Error::new(
            ErrorKind::from_code(&code).unwrap_or(ErrorKind::Internal),
            exc.str()?.to_string(),
        );
        if !details.is_none() {
            e = e.with_details(conv::json(&details, "details")?);
        }
        e
    } else {
        Error::internal(exc.str()?.to_string())
    };
    if let Some(r) = retryable {
        let mut details = match err.details.take() {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        details.insert("should_retry".into(), r.into());
        err = err.with_details(details.into());
    }
    Ok(err)
}

/// Whether the core retries an error with this code and details (429, 5xx, timeouts, resets).
#[pyfunction]
#[pyo3(signature = (code, details=None))]
pub fn is_retryable(code: &str, details: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
    let kind = ErrorKind::from_code(code)
        .ok_or_else(|| invalid_input(format!("code: unknown error code {code:?}")))?;
    let mut err = Error::new(kind, "");
    if let Some(d) = details.filter(|d| !d.is_none()) {
        err = err.with_details(conv::json(d, "details")?);
    }
    Ok(core::is_retryable(&err))
}

/// The core's retry policy: exponential backoff with full (or decorrelated) jitter, capped;
/// `Retry-After` (`details["retry_after_ms"]`) honoured up to `max_retry_after`. Times in seconds.
#[pyclass(frozen, name = "RetryPolicy", module = "trinity_core._native")]
pub struct PyRetryPolicy {
    policy: RetryPolicy,
    rng: Mutex<rand::rngs::StdRng>,
}

fn millis(value: f64) -> serde_json::Value {
    // Out-of-range and NaN values become 0 or negative, which the schema rejects by path.
    serde_json::Value::from((value * 1000.0).round() as i64)
}

#[pymethods]
impl PyRetryPolicy {
    #[new]
    #[pyo3(signature = (max_attempts=3, base=0.5, cap=30.0, jitter="full", max_retry_after=60.0, seed=None))]
    fn new(
        py: Python<'_>,
        max_attempts: i64,
        base: f64,
        cap: f64,
        jitter: &str,
        max_retry_after: f64,
        seed: Option<u64>,
    ) -> PyResult<Self> {
        let retry = serde_json::json!({
            "max_attempts": max_attempts,
            "base_ms": millis(base),
            "cap_ms": millis(cap),
            "jitter": jitter,
            "max_retry_after_ms": millis(max_retry_after),
        });
        let retry = conv::to_py(py, &retry)?;
        let c = section(py, "retry", Some(&retry), None)?;
        let rng = match seed {
            Some(s) => rand::rngs::StdRng::seed_from_u64(s),
            None => rand::rngs::StdRng::from_rng(&mut rand::rng()),
        };
        Ok(PyRetryPolicy {
            policy: RetryPolicy::from(&c.retry),
            rng: Mutex::new(rng),
        })
    }

    #[getter]
    fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The delay (s) before retry number `n` (0 = the first retry); `prev` is the previous delay.
    #[pyo3(signature = (n, prev=None))]
    fn backoff(&self, n: u32, prev: Option<f64>) -> PyResult<f64> {
        let prev = self.prev(prev)?;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.policy.backoff(n, prev, &mut *rng).as_secs_f64())
    }

    /// After attempt number `attempt` (1-based) failed with `error`: the delay in seconds
    /// before the next attempt, or the exception to raise (`error` itself, or a
    /// `RateLimitedError` when its Retry-After is over `max_retry_after`). `retryable`
    /// overrides the core's verdict on the error.
    #[pyo3(signature = (error, attempt, prev=None, retryable=None))]
    fn decide(
        &self,
        py: Python<'_>,
        error: &Bound<'_, PyAny>,
        attempt: u32,
        prev: Option<f64>,
        retryable: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let err = core_error(py, error, retryable)?;
        let prev = self.prev(prev)?;
        let decision = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            self.policy.decide(&err, attempt, prev, &mut *rng)
        };
        match decision {
            Decision::RetryAfter(wait) => {
                Ok(wait.as_secs_f64().into_pyobject(py)?.into_any().unbind())
            }
            Decision::Stop(e) if e == err => Ok(error.clone().unbind()),
            Decision::Stop(e) => Ok(to_py(e).value(py).clone().into_any().unbind()),
        }
    }
}

impl PyRetryPolicy {
    fn prev(&self, prev: Option<f64>) -> PyResult<Duration> {
        match prev {
            None => Ok(self.policy.base),
            Some(p) => Duration::try_from_secs_f64(p)
                .map_err(|_| invalid_input("prev: expected seconds >= 0")),
        }
    }
}

/// Adds the resilience classes and `is_retryable` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCircuitBreaker>()?;
    m.add_class::<PyTicket>()?;
    m.add_class::<PyRateLimiter>()?;
    m.add_class::<PyAdmission>()?;
    m.add_class::<PyRequestQueue>()?;
    m.add_class::<PyQueuePermit>()?;
    m.add_class::<PyRetryPolicy>()?;
    m.add_function(wrap_pyfunction!(is_retryable, m)?)?;
    Ok(())
}
