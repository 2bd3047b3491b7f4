//! Engine logs into Python's `logging`. Each client hands its records to
//! `trinity_core._log.emit` in batches, on the engine's log thread: one GIL acquisition per
//! batch, none on a runtime thread, none per event.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;
use std::collections::HashMap;
use std::sync::Arc;
use trinity_core::observe::log::{self, Interest, Level, LogRecord, Sink};

/// `trinity_core._log`'s `emit`, `enabled` and `wanted`.
static LOG: PyOnceLock<[Py<PyAny>; 3]> = PyOnceLock::new();

fn log_functions(py: Python<'_>) -> PyResult<&[Py<PyAny>; 3]> {
    LOG.get_or_try_init(py, || {
        let m = py.import("trinity_core._log")?;
        Ok([
            m.getattr("emit")?.unbind(),
            m.getattr("enabled")?.unbind(),
            m.getattr("wanted")?.unbind(),
        ])
    })
}

/// What `logging` would keep of the engine's records now (`trinity_core._log.wanted`): the most
/// verbose level a `trinity_core` logger passes to a handler that outputs, else nothing.
pub fn python_interest() -> Interest {
    Arc::new(|| {
        Python::attach(|py| {
            let level: Option<String> = log_functions(py)
                .and_then(|[_, _, wanted]| wanted.bind(py).call0()?.extract())
                .unwrap_or_else(|e| {
                    e.write_unraisable(py, None);
                    None
                });
            level.and_then(|l| l.parse::<Level>().ok())
        })
    })
}

/// The sink every client made from Python gets.
pub fn python_sink() -> Sink {
    Arc::new(|records: &[LogRecord]| {
        Python::attach(|py| {
            if let Err(e) = emit(py, records) {
                e.write_unraisable(py, None);
            }
        })
    })
}

fn emit(py: Python<'_>, records: &[LogRecord]) -> PyResult<()> {
    let [emit, enabled, _] = log_functions(py)?;
    let (emit, enabled) = (emit.bind(py), enabled.bind(py));
    // Asked once per logger and level a batch: records nobody listens to are not converted
    // (with no handler configured, that is all of them).
    let mut wanted: HashMap<(String, &str), bool> = HashMap::new();
    let batch = PyList::empty(py);
    for r in records {
        let name = r.logger_name();
        let on = match wanted.get(&(name.clone(), r.level)) {
            Some(&on) => on,
            None => {
                let on = enabled.call1((&name, r.level))?.is_truthy()?;
                wanted.insert((name.clone(), r.level), on);
                on
            }
        };
        if !on {
            continue;
        }
        let fields = pythonize::pythonize(py, &r.fields)?;
        batch.append((
            name,
            r.level,
            &r.message,
            r.request_id.as_deref(),
            fields,
            r.timestamp_ms,
            &r.line,
        ))?;
    }
    if !batch.is_empty() {
        emit.call1((batch,))?;
    }
    Ok(())
}

/// `flush_logs(timeout=5.0)`: waits (without the GIL) until every engine log record emitted
/// before it has reached `logging`; False if that took longer than `timeout` seconds.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
pub fn flush_logs(py: Python<'_>, timeout: f64) -> bool {
    let timeout = std::time::Duration::from_secs_f64(timeout.max(0.0));
    py.detach(|| log::flush(timeout))
}

/// `dropped_log_records()`: records dropped because the log thread fell behind.
#[pyfunction]
pub fn dropped_log_records() -> u64 {
    log::dropped()
}
