//! Results of tokio tasks delivered to asyncio futures without touching the GIL on tokio
//! threads: a finished task queues its result and, if the queue was empty, writes one byte to
//! a socket the event loop watches (`loop.add_reader`); the loop thread then drains the queue
//! and resolves every future in one go. One bridge per event loop.
//!
//! Awaiting a tokio future through a generic bridge costs tens of µs per call; this costs a
//! queue push and, under load, a fraction of a wake-up.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyAny;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Turns a finished result into a Python value (or exception), on the loop thread.
pub type Completion = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

pub struct Bridge {
    queue: Mutex<Vec<(Py<PyAny>, Completion)>>,
    signalled: AtomicBool,
    writer: UnixStream,
    reader: UnixStream,
    event_loop: Py<PyAny>,
}

impl Bridge {
    /// Queues `completion` for `future` (an asyncio future of this bridge's loop).
    pub fn complete(&self, future: Py<PyAny>, completion: Completion) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((future, completion));
        if !self.signalled.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a wake-up is already pending: nothing is lost.
            let _ = (&self.writer).write(&[1]);
        }
    }

    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 256];
        while matches!((&self.reader).read(&mut buf), Ok(n) if n > 0) {}
        // Reset before taking the queue: a result queued after this point writes a new byte.
        self.signalled.store(false, Ordering::Release);
        let items = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        for (future, completion) in items {
            let future = future.bind(py);
            // A cancelled future is done already; its result is dropped.
            if future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                continue;
            }
            match completion(py) {
                Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
                Err(err) => {
                    future.call_method1(pyo3::intern!(py, "set_exception"), (err.value(py),))?
                }
            };
        }
        Ok(())
    }
}

/// The loop's reader callback.
#[pyclass(frozen)]
struct Drain(Arc<Bridge>);

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        self.0.drain(py)
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The process-wide bridges. Shared rather than per `Client`: a client dropped while its calls
/// are pending (`await tc.Client(cfg).chat(...)`) must not take the loop's reader with it.
pub fn shared() -> Arc<LoopBridges> {
    static SHARED: std::sync::LazyLock<Arc<LoopBridges>> = std::sync::LazyLock::new(Arc::default);
    SHARED.clone()
}

/// One bridge per running loop (see `shared`).
#[derive(Default)]
pub struct LoopBridges {
    current: Mutex<Option<Arc<Bridge>>>,
}

impl LoopBridges {
    /// The running loop and its bridge (made and registered on first use).
    pub fn for_running_loop<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Arc<Bridge>)> {
        let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
        })?;
        let event_loop = get_loop.bind(py).call0()?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = current.as_ref() {
            if b.event_loop.bind(py).is(&event_loop) {
                return Ok((event_loop, b.clone()));
            }
        }
        let (writer, reader) = UnixStream::pair()?;
        writer.set_nonblocking(true)?;
        reader.set_nonblocking(true)?;
        let bridge = Arc::new(Bridge {
            queue: Mutex::new(Vec::new()),
            signalled: AtomicBool::new(false),
            writer,
            reader,
            event_loop: event_loop.clone().unbind(),
        });
        event_loop.call_method1(
            "add_reader",
            (bridge.reader.as_raw_fd(), Drain(bridge.clone())),
        )?;
        *current = Some(bridge.clone());
        Ok((event_loop, bridge))
    }
}

impl Drop for LoopBridges {
    fn drop(&mut self) {
        if let Some(b) = self.current.get_mut().ok().and_then(Option::take) {
            Python::attach(|py| {
                let lp = b.event_loop.bind(py);
                if !lp
                    .call_method0("is_closed")
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(true)
                {
                    let _ = lp.call_method1("remove_reader", (b.reader.as_raw_fd(),));
                }
            });
        }
    }
}
