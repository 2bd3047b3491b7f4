//! `Client`: `await chat(...)`, `chat_sync(...)`, `async for c in chat_stream(...)`,
//! `for c in chat_stream_sync(...)`. Calls run on the core's tokio runtime; the GIL is
//! released while they run, and cancelling the asyncio task aborts the HTTP request.

use crate::bridge::{Completion, LoopBridges};
use crate::config::PyConfig;
use crate::conv;
use crate::error::{call, to_py};
use crate::llm::{PyChatChunk, PyChatResponse};
use futures_util::FutureExt;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};
use tokio::task::AbortHandle;
use trinity_core::config::Config;
use trinity_core::llm::{ChatChunk, ChatRequest, Client};
use trinity_core::{rt, Error, Result};

/// Chunks buffered between the HTTP stream and the Python consumer.
const STREAM_BUFFER: usize = 64;

/// Aborts the tokio task when its asyncio future is cancelled.
#[pyclass(frozen)]
struct AbortOnCancel(AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.abort();
        }
        Ok(())
    }
}

/// Runs `work` on the runtime and returns an asyncio future for its result.
pub(crate) fn spawn_for_asyncio<'py, T, F>(
    py: Python<'py>,
    bridges: &LoopBridges,
    work: F,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let (event_loop, bridge) = bridges.for_running_loop(py)?;
    let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let target = future.clone().unbind();
    let task = rt::spawn(async move {
        let result = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(Error::from_panic(p)));
        let completion: Completion = Box::new(move |py| match result {
            Ok(v) => convert(py, v),
            Err(e) => Err(to_py(e)),
        });
        bridge.complete(target, completion);
    });
    future.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (AbortOnCancel(task.abort_handle()),),
    )?;
    Ok(future)
}

fn start_chat<'py>(
    py: Python<'py>,
    client: &Arc<Client>,
    req: ChatRequest,
    bridges: &LoopBridges,
) -> PyResult<Bound<'py, PyAny>> {
    let client = client.clone();
    spawn_for_asyncio(
        py,
        bridges,
        async move { client.chat(req).await },
        response_to_py,
    )
}

static GET_RUNNING_LOOP_OR_NONE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

fn loop_is_running(py: Python<'_>) -> PyResult<bool> {
    let f = GET_RUNNING_LOOP_OR_NONE.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("asyncio")?.getattr("_get_running_loop")?.unbind())
    })?;
    Ok(!f.bind(py).call0()?.is_none())
}

static AS_COROUTINE: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

type PendingChat = (Arc<Client>, ChatRequest, Arc<LoopBridges>);

/// A chat made outside a running loop: it starts when awaited, on the loop that awaits it.
#[pyclass(frozen)]
struct DeferredChat(std::sync::Mutex<Option<PendingChat>>);

#[pymethods]
impl DeferredChat {
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pending = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (client, req, bridges) = pending.ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("this chat was awaited already")
        })?;
        start_chat(py, &client, req, &bridges)?.call_method0("__await__")
    }
}

pub(crate) fn response_to_py(
    py: Python<'_>,
    r: trinity_core::llm::ChatResponse,
) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyChatResponse(r))?.into_any())
}

/// A request from a dict and/or keywords (keywords win).
pub(crate) fn request(
    request: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<ChatRequest> {
    let value = conv::json_with_keywords(request, kwargs, "request")?;
    call(|| ChatRequest::from_json(value))
}

fn config_from(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Config> {
    match obj {
        None => call(Config::from_env),
        Some(o) if o.is_none() => call(Config::from_env),
        Some(o) => {
            if let Ok(c) = o.cast::<PyConfig>() {
                return Ok(c.get().0.clone());
            }
            let value = conv::json(o, "config")?;
            call(|| Config::from_value(value, trinity_core::config::EnvOverrides::Apply))
        }
    }
}

/// An LLM client over the configured providers.
#[pyclass(frozen, name = "Client", module = "trinity_core")]
pub struct PyClient {
    inner: Arc<Client>,
    bridges: Arc<LoopBridges>,
}

impl PyClient {
    /// The core client, for the modules that run on it (`trinity_core.batch`).
    pub(crate) fn core(&self) -> &Arc<Client> {
        &self.inner
    }

    pub(crate) fn bridges(&self) -> &Arc<LoopBridges> {
        &self.bridges
    }
}

#[pymethods]
impl PyClient {
    /// `Client(config)`: a `Config`, a dict in the config schema, or None (`TRINITY_CONFIG` / env).
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(config: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let config = config_from(config)?;
        let client = call(|| Client::new(config))?;
        client.on_log_with_interest(crate::logs::python_sink(), crate::logs::python_interest());
        Ok(PyClient {
            inner: Arc::new(client),
            bridges: crate::bridge::shared(),
        })
    }

    /// `on_budget_alert(callback)`: `callback(alert)` each time spend passes one of
    /// `budget.alerts` of a limit, once per window; `alert` is a dict (`limit`, `fraction`,
    /// `spent_usd`, `limit_usd`, `window`, `user`?). An exception in it is reported as
    /// unraisable and never breaks a call. `ConfigError` when no budget is configured.
    fn on_budget_alert(&self, callback: Py<PyAny>) -> PyResult<()> {
        call(|| {
            self.inner.on_budget_alert(move |alert| {
                Python::attach(|py| {
                    let cb = callback.bind(py);
                    if let Err(e) = conv::serialized(py, alert).and_then(|a| cb.call1((a,))) {
                        e.write_unraisable(py, Some(cb));
                    }
                })
            })
        })
    }

    /// `await client.budget(user=None)`: spend and holds of the day, the month and `user`'s
    /// day against their limits, as a dict (a shared Redis budget is read without blocking
    /// the loop).
    #[pyo3(signature = (user=None))]
    fn budget<'py>(&self, py: Python<'py>, user: Option<String>) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        spawn_for_asyncio(
            py,
            &self.bridges,
            async move { client.budget(user.as_deref()).await },
            |py, snapshot| Ok(conv::serialized(py, &snapshot)?.unbind()),
        )
    }

    /// The blocking twin of `budget`.
    #[pyo3(signature = (user=None))]
    fn budget_sync<'py>(
        &self,
        py: Python<'py>,
        user: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let client = self.inner.clone();
        let snapshot = py.detach(|| call(|| rt::wait(client.budget(user.as_deref()))))?;
        conv::serialized(py, &snapshot)
    }

    /// The client's own `CostTracker`: every answered call through it, priced.
    #[getter]
    fn costs(&self) -> crate::observe::PyCostTracker {
        crate::observe::PyCostTracker(self.inner.costs().clone())
    }

    /// The client's own `RequestLog`: one record per call (answered, failed, cache hit,
    /// stream, cancelled); `logging.history` of them kept.
    #[getter]
    fn request_log(&self) -> crate::observe::PyRequestLog {
        crate::observe::PyRequestLog(self.inner.request_log().clone())
    }

    /// The client's provider monitor: latency, error rate, availability, state, history and
    /// callbacks per provider.
    #[getter]
    fn monitor(&self) -> crate::monitor::PyProviderMonitor {
        crate::monitor::PyProviderMonitor(self.inner.monitor().clone())
    }

    /// Seed 004's `PerformanceMetrics` over the provider monitor's window.
    #[getter]
    fn performance(&self) -> crate::monitor::PyPerformanceMetrics {
        crate::monitor::PyPerformanceMetrics(self.inner.clone())
    }

    /// The client's metrics as OpenMetrics text (OpenTelemetry GenAI names and the engine's own
    /// under `metrics.prefix`); `ConfigError` when `metrics.enabled` is false.
    fn metrics_text(&self) -> PyResult<String> {
        call(|| self.inner.metrics_text())
    }

    /// The client's metrics as `metric(name, help, type, unit)` objects with `sample(name,
    /// labels, value)`s: `trinity_core.metrics` passes prometheus_client's classes.
    fn metrics_families<'py>(
        &self,
        py: Python<'py>,
        metric: &Bound<'py, PyAny>,
        sample: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        let families = call(|| self.inner.metrics_families())?;
        crate::metrics::to_metrics(py, &families, metric, sample)
    }

    /// The client's response cache (`cache.enabled` with a tier configured), else None.
    #[getter]
    fn cache(&self) -> Option<crate::cache::PyCache> {
        self.inner.cache().cloned().map(crate::cache::PyCache)
    }

    /// `await client.chat(model=..., messages=[...], ...)` → `ChatResponse`.
    ///
    /// Returns a coroutine, as the `openai` SDK does, so `asyncio.create_task`, `gather` and
    /// `asyncio.run` all take it. Inside a running loop the call starts at once; outside one
    /// it starts when first awaited.
    #[pyo3(signature = (request=None, **kwargs))]
    fn chat<'py>(
        &self,
        py: Python<'py>,
        request: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = self::request(request, kwargs)?;
        let awaitable = if loop_is_running(py)? {
            start_chat(py, &self.inner, req, &self.bridges)?
        } else {
            let pending = (self.inner.clone(), req, self.bridges.clone());
            Py::new(py, DeferredChat(std::sync::Mutex::new(Some(pending))))?
                .into_bound(py)
                .into_any()
        };
        let wrap = AS_COROUTINE.get_or_try_init(py, || -> PyResult<_> {
            Ok(py
                .import("trinity_core._aio")?
                .getattr("as_coroutine")?
                .unbind())
        })?;
        wrap.bind(py).call1((awaitable,))
    }

    /// The blocking twin of `chat`, for scripts; the GIL is released while it waits.
    #[pyo3(signature = (request=None, **kwargs))]
    fn chat_sync(
        &self,
        py: Python<'_>,
        request: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyChatResponse> {
        let req = self::request(request, kwargs)?;
        let client = self.inner.clone();
        py.detach(|| call(|| rt::wait(client.chat(req))))
            .map(PyChatResponse)
    }

    /// `async for chunk in client.chat_stream(...)`.
    #[pyo3(signature = (request=None, **kwargs))]
    fn chat_stream(
        &self,
        request: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyChatStream> {
        let req = self::request(request, kwargs)?;
        Ok(PyChatStream::start(
            self.inner.clone(),
            req,
            self.bridges.clone(),
        ))
    }

    /// `for chunk in client.chat_stream_sync(...)`: the blocking twin of `chat_stream`.
    #[pyo3(signature = (request=None, **kwargs))]
    fn chat_stream_sync(
        &self,
        request: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyChatStream> {
        self.chat_stream(request, kwargs)
    }
}

type Rx = Arc<Mutex<mpsc::Receiver<Result<ChatChunk>>>>;

/// A streamed answer; iterate it with `async for` (or `for` when made by `chat_stream_sync`).
/// Dropping or closing it aborts the HTTP request.
#[pyclass(name = "ChatStream", module = "trinity_core")]
pub struct PyChatStream {
    rx: Rx,
    producer: AbortHandle,
    bridges: Arc<LoopBridges>,
}

impl PyChatStream {
    fn start(client: Arc<Client>, req: ChatRequest, bridges: Arc<LoopBridges>) -> Self {
        let channel = trinity_core::llm::spawn_stream(client, req, STREAM_BUFFER);
        PyChatStream {
            rx: Arc::new(Mutex::new(channel.rx)),
            producer: channel.abort,
            bridges,
        }
    }
}

/// `None` ends the iteration.
fn chunk_or_end(
    py: Python<'_>,
    item: Option<Result<ChatChunk>>,
    end: fn() -> PyErr,
) -> PyResult<Py<PyAny>> {
    match item {
        Some(Ok(chunk)) => Ok(Py::new(py, PyChatChunk(chunk))?.into_any()),
        Some(Err(e)) => Err(to_py(e)),
        None => Err(end()),
    }
}

#[pymethods]
impl PyChatStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = self.rx.clone();
        let (event_loop, bridge) = self.bridges.for_running_loop(py)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        // Fast path: a chunk already waiting resolves the future at once.
        if let Ok(mut guard) = rx.try_lock() {
            match guard.try_recv() {
                Ok(item) => {
                    resolve_now(py, &future, chunk_or_end(py, Some(item), end_async))?;
                    return Ok(future);
                }
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    resolve_now(py, &future, chunk_or_end(py, None, end_async))?;
                    return Ok(future);
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
        let target = future.clone().unbind();
        let waiter = rt::spawn(async move {
            let item = rx.lock().await.recv().await;
            bridge.complete(
                target,
                Box::new(move |py| chunk_or_end(py, item, end_async)),
            );
        });
        future.call_method1(
            pyo3::intern!(py, "add_done_callback"),
            (AbortOnCancel(waiter.abort_handle()),),
        )?;
        Ok(future)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let rx = self.rx.clone();
        let item = py.detach(move || rx.blocking_lock().blocking_recv());
        chunk_or_end(py, item, end_sync)
    }

    /// Stops the stream and closes its connection.
    fn close(&self) {
        self.producer.abort();
    }

    /// `await stream.aclose()`, as async generators offer.
    fn aclose<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.producer.abort();
        let (event_loop, _) = self.bridges.for_running_loop(py)?;
        let future = event_loop.call_method0("create_future")?;
        future.call_method1("set_result", (py.None(),))?;
        Ok(future)
    }
}

impl Drop for PyChatStream {
    fn drop(&mut self) {
        self.producer.abort();
    }
}

fn end_async() -> PyErr {
    PyStopAsyncIteration::new_err(())
}

fn end_sync() -> PyErr {
    PyStopIteration::new_err(())
}

fn resolve_now(
    py: Python<'_>,
    future: &Bound<'_, PyAny>,
    value: PyResult<Py<PyAny>>,
) -> PyResult<()> {
    match value {
        Ok(v) => future.call_method1("set_result", (v,))?,
        Err(e) => future.call_method1("set_exception", (e.value(py),))?,
    };
    Ok(())
}
