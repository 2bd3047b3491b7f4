//! Batch runs (`trinity_core::batch`): `batchRun(client, options)` makes a `NativeBatchRun` over
//! the core's `Running`, whose `next()` hands over every output line already journaled in one
//! promise (the wrapper in node/src/batch.ts yields them one at a time); `cancel()` stops it as
//! a first signal does. `batchStatus(output)` reads the journal.

use crate::client::NativeClient;
use crate::error::guard;
use crate::task::spawn_promise;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;
use trinity_core::batch::{self, BatchOptions, Running};

/// Lines waiting for JS; a slow reader holds the run back.
const LINES_BUFFER: usize = 64;

/// A request that failed for good.
#[napi(object)]
pub struct BatchFailedRequest {
    pub custom_id: String,
    /// The request log's id of its last attempt.
    pub request_id: String,
    /// Its error code.
    pub error: String,
}

/// How a run went (or, from `batchStatus`, the runs so far).
#[napi(object)]
pub struct BatchSummary {
    pub total: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub remaining: f64,
    /// Done before this run began (resume).
    pub skipped: f64,
    pub cost_usd: f64,
    /// Every request is done and the output holds them in input order.
    pub complete: bool,
    /// Why admission stopped early: `cancelled`, `budget_exceeded: ...`.
    pub stopped: Option<String>,
    pub failed_requests: Vec<BatchFailedRequest>,
    /// Bytes of a torn journal tail a resume dropped.
    pub journal_bytes_dropped: f64,
    pub output: String,
}

impl From<batch::Summary> for BatchSummary {
    fn from(s: batch::Summary) -> Self {
        BatchSummary {
            total: s.total as f64,
            succeeded: s.succeeded as f64,
            failed: s.failed as f64,
            remaining: s.remaining as f64,
            skipped: s.skipped as f64,
            cost_usd: s.cost_usd,
            complete: s.complete,
            stopped: s.stopped,
            failed_requests: s
                .failed_requests
                .into_iter()
                .map(|f| BatchFailedRequest {
                    custom_id: f.custom_id,
                    request_id: f.request_id,
                    error: f.error,
                })
                .collect(),
            journal_bytes_dropped: s.journal_bytes_dropped as f64,
            output: s.output,
        }
    }
}

/// A batch run's counters at the moment they are read.
#[napi(object)]
pub struct BatchProgress {
    pub total: f64,
    /// Done by an earlier run into the same output (a resume).
    pub skipped: f64,
    pub succeeded: f64,
    pub failed: f64,
    pub in_flight: f64,
    /// Not finished yet, in flight included.
    pub remaining: f64,
    pub cost_usd: f64,
}

#[napi]
pub struct NativeBatchRun {
    running: Arc<Running>,
}

/// A run of `options` (`{input, output, resume?, retry_failed?, concurrency?, grace_s?}`)
/// through `client`; it starts with the first `next()`.
#[napi(ts_args_type = "client: NativeClient, options: Record<string, unknown>")]
pub fn batch_run(env: Env, client: &NativeClient, options: Value) -> Result<NativeBatchRun> {
    guard(&env, || {
        let opts = BatchOptions::from_json(options)?;
        Ok(NativeBatchRun {
            running: Running::new(client.core().clone(), opts, LINES_BUFFER)?,
        })
    })
}

/// Done, failed, remaining and cost from the journal next to `output`.
#[napi]
pub fn batch_status(env: Env, output: String) -> Result<BatchSummary> {
    guard(&env, || {
        batch::status(output.as_ref()).map(BatchSummary::from)
    })
}

#[napi]
impl NativeBatchRun {
    /// The output lines journaled since the last call (waiting for one); an empty array once
    /// the run is over; rejects with the run's error.
    #[napi(ts_return_type = "Promise<Array<Record<string, unknown>>>")]
    pub fn next<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<Value>>> {
        let running = self.running.clone();
        spawn_promise(
            env,
            async move {
                let lines = running.next_batch(LINES_BUFFER).await;
                if lines.is_empty() {
                    running.finished().await?;
                }
                Ok(lines)
            },
            |lines| lines,
        )
    }

    /// The summary once the run is over, else null.
    #[napi]
    pub fn progress(&self) -> BatchProgress {
        let p = self.running.progress().snapshot();
        BatchProgress {
            total: p.total as f64,
            skipped: p.skipped as f64,
            succeeded: p.succeeded as f64,
            failed: p.failed as f64,
            in_flight: p.in_flight as f64,
            remaining: p.remaining as f64,
            cost_usd: p.cost_usd,
        }
    }

    #[napi]
    pub fn summary(&self) -> Option<BatchSummary> {
        match self.running.outcome() {
            Some(Ok(s)) => Some(s.into()),
            _ => None,
        }
    }

    /// The summary at the end (read the lines, or `cancel()` first); rejects with the run's
    /// error.
    #[napi]
    pub fn finished<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, BatchSummary>> {
        let running = self.running.clone();
        spawn_promise(
            env,
            async move { running.finished().await },
            BatchSummary::from,
        )
    }

    /// Stops as a first signal does: nothing new is admitted, in-flight requests get
    /// `grace_s` (none: cancelled at once); lines not read stay in the files only.
    #[napi]
    pub fn cancel(&self) {
        self.running.cancel("cancelled");
    }

    /// A second signal: in-flight requests are cancelled now.
    #[napi]
    pub fn abort(&self) {
        self.running.abort("cancelled");
    }
}

impl Drop for NativeBatchRun {
    fn drop(&mut self) {
        if self.running.outcome().is_none() {
            self.running.cancel("cancelled");
        }
    }
}
