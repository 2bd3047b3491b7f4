//! A run on the shared runtime whose output lines a caller reads as they are journaled: what the
//! Python and Node async iterators wrap. It starts on the first read (or `finished`), sends each
//! line once its journal group is synced, and ends with the run's summary or error.
//!
//! Cancelling is a first signal: admission stops, in-flight requests get the options' grace
//! period (none: cancelled at once), and the lines no longer read are drained here (they are in
//! the files), so the run never waits on a reader that went away.

use super::{run, BatchOptions, Control, Progress, Summary};
use crate::error::{Error, ErrorKind, Result};
use crate::llm::Client;
use crate::rt;
use futures_util::FutureExt;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

type Pending = (Arc<Client>, BatchOptions);

pub struct Running {
    control: Arc<Control>,
    progress: Arc<Progress>,
    pending: Mutex<Option<Pending>>,
    lines: tokio::sync::Mutex<mpsc::Receiver<Value>>,
    end: watch::Sender<Option<Result<Summary>>>,
    cancelled: AtomicBool,
}

impl Running {
    /// A run of `opts` through `client`, not started yet; at most `buffer` lines wait for the
    /// reader (`opts.results` is replaced).
    pub fn new(client: Arc<Client>, mut opts: BatchOptions, buffer: usize) -> Result<Arc<Running>> {
        opts.validate()?;
        let (tx, rx) = mpsc::channel(buffer.max(1));
        opts.results = Some(tx);
        Ok(Arc::new(Running {
            control: Control::new(),
            progress: Arc::default(),
            pending: Mutex::new(Some((client, opts))),
            lines: tokio::sync::Mutex::new(rx),
            end: watch::channel(None).0,
            cancelled: AtomicBool::new(false),
        }))
    }

    /// Starts the run on the shared runtime, once.
    fn start(self: &Arc<Self>) {
        let Some((client, opts)) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let me = self.clone();
        rt::spawn(async move {
            let work = run(client, &opts, me.control.clone(), me.progress.clone());
            let result = AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(Error::from_panic(p)));
            me.end.send_replace(Some(result));
            // Only now the lines' sender goes: a reader that sees the end finds the outcome set.
            drop(opts);
        });
    }

    /// The next output line; `None` once the run is over (then `outcome` is set).
    pub async fn next(self: &Arc<Self>) -> Option<Value> {
        self.start();
        self.lines.lock().await.recv().await
    }

    /// The lines waiting now, at most `max` (at least one, waiting for it); empty once the run
    /// is over. One wake-up hands over many lines to a reader that pays per hop (Node).
    pub async fn next_batch(self: &Arc<Self>, max: usize) -> Vec<Value> {
        self.start();
        let mut rx = self.lines.lock().await;
        let Some(first) = rx.recv().await else {
            return Vec::new();
        };
        let mut batch = vec![first];
        while batch.len() < max.max(1) {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        batch
    }

    /// The summary (or the error) once the run is over.
    pub fn outcome(&self) -> Option<Result<Summary>> {
        self.end.borrow().clone()
    }

    /// Waits for the end. The run goes only as fast as its lines are read: read them, or
    /// `cancel` first.
    pub async fn finished(self: &Arc<Self>) -> Result<Summary> {
        self.start();
        let mut end = self.end.subscribe();
        let value = end
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::internal("the batch run went away"))?;
        value.clone().expect("waited for it")
    }

    /// Stops as a first signal does (`stopped: reason`): nothing new is admitted, in-flight
    /// requests get the grace period; lines not read are no longer awaited. A run not started
    /// never starts and ends with a `cancelled` error. Idempotent.
    pub fn cancel(self: &Arc<Self>, reason: &str) {
        let never_started = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if never_started.is_some() {
            self.end.send_replace(Some(Err(Error::new(
                ErrorKind::Cancelled,
                "the batch was cancelled before it started",
            ))));
            return;
        }
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.control.stop(reason);
        let me = self.clone();
        rt::spawn(async move { while me.next().await.is_some() {} });
    }

    /// A second signal: in-flight requests are cancelled now.
    pub fn abort(self: &Arc<Self>, reason: &str) {
        self.cancel(reason);
        self.control.abort(reason);
    }

    /// Counters for a progress display.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}
