//! `trinity_core.batch`: the core's crash-safe batch runner (`trinity_core::batch`).
//! `batch_run` makes a `BatchRun` over the core's `Running`: `next()` awaits the next output
//! line as it is journaled (trinity_core/batch.py turns it into an async iterator and a task
//! cancellation into a stop); `batch_run_sync` blocks with the GIL released and stops like the
//! CLI on Ctrl-C; `batch_status` reads the journal.

use crate::bridge::LoopBridges;
use crate::client::{spawn_for_asyncio, PyClient};
use crate::conv;
use crate::error::call;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use trinity_core::batch::{self, BatchOptions, Control, Progress, Running};
use trinity_core::{rt, Error};

/// Lines waiting for the Python reader; a slow reader holds the run back.
const LINES_BUFFER: usize = 64;

/// How often a blocking run looks for a signal (Ctrl-C) to handle.
const SIGNAL_TICK: Duration = Duration::from_millis(100);

fn options(
    input: PathBuf,
    output: PathBuf,
    resume: bool,
    retry_failed: bool,
    concurrency: usize,
    grace_s: Option<f64>,
) -> PyResult<BatchOptions> {
    call(|| {
        let opts = BatchOptions {
            resume,
            retry_failed,
            concurrency,
            grace: BatchOptions::grace_from_secs(grace_s)?,
            ..BatchOptions::new(input, output)
        };
        opts.validate()?;
        Ok(opts)
    })
}

/// A batch run whose output lines are read as they are journaled. It starts on the first
/// `next()`; dropping it unfinished stops it as `cancel()` does.
#[pyclass(frozen, name = "BatchRun", module = "trinity_core.batch")]
pub struct PyBatchRun {
    running: Arc<Running>,
    bridges: Arc<LoopBridges>,
}

#[pymethods]
impl PyBatchRun {
    /// An awaitable of the next output line (a dict), or None once the run is over (then
    /// `summary` is set); the run's error (`InvalidInputError` naming the line, ...) raises.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        spawn_for_asyncio(
            py,
            &self.bridges,
            async move {
                match running.next().await {
                    Some(line) => Ok(Some(line)),
                    None => running.finished().await.map(|_| None),
                }
            },
            |py, line| match line {
                Some(v) => Ok(conv::to_py(py, &v)?.unbind()),
                None => Ok(py.None()),
            },
        )
    }

    /// The summary once the run is over, else None.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.running.outcome() {
            Some(Ok(s)) => conv::serialized(py, &s).map(Some),
            _ => Ok(None),
        }
    }

    /// The counters now: total, skipped, succeeded, failed, in_flight, remaining, cost_usd.
    #[getter]
    fn progress<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.running.progress().snapshot())
    }

    /// An awaitable of the summary at the end (read the lines, or `cancel()` first).
    fn finished<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let running = self.running.clone();
        spawn_for_asyncio(
            py,
            &self.bridges,
            async move { running.finished().await },
            |py, s| Ok(conv::serialized(py, &s)?.unbind()),
        )
    }

    /// Stops as a first signal does: nothing new is admitted, in-flight requests get
    /// `grace_s` (none: cancelled at once), lines not read yet stay in the files only.
    fn cancel(&self) {
        self.running.cancel("cancelled");
    }

    /// A second signal: in-flight requests are cancelled now.
    fn abort(&self) {
        self.running.abort("cancelled");
    }
}

impl Drop for PyBatchRun {
    fn drop(&mut self) {
        if self.running.outcome().is_none() {
            self.running.cancel("cancelled");
        }
    }
}

/// `batch_run(client, input, output, ...)`: a `BatchRun`, not started yet.
#[pyfunction]
#[pyo3(signature = (client, input, output, *, resume=false, retry_failed=false, concurrency=32, grace_s=None))]
pub fn batch_run(
    client: &Bound<'_, PyClient>,
    input: PathBuf,
    output: PathBuf,
    resume: bool,
    retry_failed: bool,
    concurrency: usize,
    grace_s: Option<f64>,
) -> PyResult<PyBatchRun> {
    let opts = options(input, output, resume, retry_failed, concurrency, grace_s)?;
    let client = client.get();
    let running = call(|| Running::new(client.core().clone(), opts, LINES_BUFFER))?;
    Ok(PyBatchRun {
        running,
        bridges: client.bridges().clone(),
    })
}

/// The blocking run: the summary dict. The GIL is released while it runs; a signal handler's
/// exception (Ctrl-C's `KeyboardInterrupt`) stops it as the CLI's first signal does (a second
/// cancels in-flight requests), and is raised once the files are valid.
#[pyfunction]
#[pyo3(signature = (client, input, output, *, resume=false, retry_failed=false, concurrency=32, grace_s=None))]
#[allow(clippy::too_many_arguments)]
pub fn batch_run_sync<'py>(
    py: Python<'py>,
    client: &Bound<'py, PyClient>,
    input: PathBuf,
    output: PathBuf,
    resume: bool,
    retry_failed: bool,
    concurrency: usize,
    grace_s: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let opts = options(input, output, resume, retry_failed, concurrency, grace_s)?;
    let client = client.get().core().clone();
    let control = Control::new();
    let c = control.clone();
    let mut task =
        rt::spawn(async move { batch::run(client, &opts, c, Arc::new(Progress::default())).await });
    let mut interrupted: Option<PyErr> = None;
    let result = loop {
        let waited = py.detach(|| {
            rt::wait(async { Ok(tokio::time::timeout(SIGNAL_TICK, &mut task).await.ok()) })
        });
        match waited {
            Err(e) => {
                control.abort("cancelled");
                break Err(e);
            }
            Ok(Some(joined)) => {
                break joined.unwrap_or_else(|e| Err(Error::internal(e.to_string())));
            }
            Ok(None) => {
                if let Err(e) = py.check_signals() {
                    let reason = format!("signal: {}", e.get_type(py).name()?);
                    if interrupted.is_none() {
                        control.stop(&reason);
                        interrupted = Some(e);
                    } else {
                        control.abort(&reason);
                    }
                }
            }
        }
    };
    if let Some(e) = interrupted {
        return Err(e);
    }
    let summary = call(|| result)?;
    conv::serialized(py, &summary)
}

/// `batch_status(output)`: done, failed, remaining and cost from the journal next to `output`.
#[pyfunction]
pub fn batch_status(py: Python<'_>, output: PathBuf) -> PyResult<Bound<'_, PyAny>> {
    let summary = py.detach(|| call(|| batch::status(&output)))?;
    conv::serialized(py, &summary)
}
