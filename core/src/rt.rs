//! The one tokio runtime of the process, shared by every binding.
//!
//! Fork-safe: the runtime remembers the pid that built it. A child created by `fork()` has
//! none of the parent's worker threads, so it builds a fresh runtime on first use and
//! leaks (never drops) the parent's, whose threads it cannot join.

use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::runtime::{Builder, Handle, Runtime};

struct Owned {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Owned>> = Mutex::new(None);

fn build() -> Runtime {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("trinity-rt")
        .enable_all()
        .build()
        .expect("tokio runtime could not start (out of threads or file descriptors)")
}

/// The process runtime for `pid`, rebuilt when `pid` is not the one that built it.
fn runtime_for(pid: u32) -> Arc<Runtime> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    match slot.as_ref() {
        Some(owned) if owned.pid == pid => owned.runtime.clone(),
        _ => {
            if let Some(stale) = slot.take() {
                // Inherited from the parent across fork: its threads are gone, so it is never dropped.
                std::mem::forget(stale.runtime);
            }
            let runtime = Arc::new(build());
            *slot = Some(Owned {
                pid,
                runtime: runtime.clone(),
            });
            runtime
        }
    }
}

/// The shared runtime.
pub fn runtime() -> Arc<Runtime> {
    runtime_for(std::process::id())
}

/// A handle to the shared runtime, for bindings that drive futures themselves (pyo3, napi).
pub fn handle() -> Handle {
    runtime().handle().clone()
}

/// Spawns a task on the shared runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}

/// Spawns on the runtime running the caller (a paused test runtime included), else on the shared one.
pub fn spawn_here<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(h) => h.spawn(future),
        Err(_) => spawn(future),
    }
}

/// Runs a future to completion from a thread that is not a runtime worker (C, Go, `_sync` calls).
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// `block_on` for the bindings' blocking calls: refused with `invalid_input` on a runtime
/// thread (a callback the runtime is running), where blocking would stall the runtime and
/// tokio would panic.
pub fn wait<T>(work: impl Future<Output = crate::Result<T>>) -> crate::Result<T> {
    if Handle::try_current().is_ok() {
        return Err(crate::Error::invalid_input(
            "a blocking trinity call cannot run on a trinity runtime thread (inside a callback)",
        ));
    }
    block_on(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, not two: the runtime is process-global and the harness runs tests in parallel.
    #[test]
    fn one_runtime_per_process_and_a_new_one_after_fork() {
        let a = runtime();
        let b = runtime();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            block_on(async { spawn(async { 21 * 2 }).await.unwrap() }),
            42
        );

        let here = std::process::id();
        let parent = runtime_for(here);
        // Simulate the child side of a fork: a different pid sees a fresh runtime that works.
        let child = runtime_for(here.wrapping_add(1));
        assert!(!Arc::ptr_eq(&parent, &child));
        assert_eq!(child.block_on(async { 7 }), 7);
        // Back in "our" pid, a fresh runtime is built again and works.
        // A blocking call from a runtime thread is refused, not a panic.
        let nested = block_on(async { spawn(async { wait(async { Ok(1) }) }).await.unwrap() });
        assert_eq!(nested.unwrap_err().kind, crate::ErrorKind::InvalidInput);
        assert_eq!(wait(async { Ok(2) }).unwrap(), 2);

        let again = runtime();
        assert_eq!(
            again.block_on(async {
                tokio::task::yield_now().await;
                1
            }),
            1
        );
    }
}
