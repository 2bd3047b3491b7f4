//! Batch runs that survive a crash (issue 16): JSON Lines of chat requests through the client
//! (cache, limits, breaker, budgets all apply), results joined by `custom_id`, a checksummed
//! journal synced before a request counts as done, a resume that finishes every request exactly
//! once and refuses when the input or a result-changing setting changed, and a stop that admits
//! nothing new and leaves valid files.
//!
//! Files, for `-o OUTPUT`: `OUTPUT.part` (results in finishing order, while running),
//! `OUTPUT.journal` (manifest + one line per finished request), then `OUTPUT` (input order) and
//! its errors file (`results.errors.jsonl` for `results.jsonl`) once every request is done;
//! `OUTPUT.lock` while a run goes, so a second run into the same output is refused.

mod input;
pub mod journal;
mod lock;
pub mod manifest;
pub mod output;
mod run;
mod running;

pub use input::{index, parse_line, Index};
pub use run::{run, Control, Progress, ProgressSnapshot};
pub use running::Running;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a run goes. None of these change results, so they may differ on resume.
#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Continue the run whose journal is next to `output` (else a journal there is an error).
    pub resume: bool,
    /// On resume, run the requests that failed again (their old lines are replaced).
    pub retry_failed: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// After a stop, how long in-flight requests may finish before they are cancelled
    /// (`None`: cancelled at once).
    pub grace: Option<Duration>,
    /// Where each output line goes once its journal group is synced (so a line received is
    /// done for good), in finishing order: the bindings' async iterators read it. The run
    /// awaits each send, so a slow reader slows the run and memory stays flat; a reader that
    /// went away (receiver dropped or closed) is no longer sent to, and the run goes on.
    pub results: Option<tokio::sync::mpsc::Sender<Value>>,
}

/// `BatchOptions` as JSON (the C and Go face): `{input, output, resume?, retry_failed?,
/// concurrency?, grace_s?}`; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsJson {
    input: PathBuf,
    output: PathBuf,
    #[serde(default)]
    resume: bool,
    #[serde(default)]
    retry_failed: bool,
    #[serde(default = "default_concurrency")]
    concurrency: usize,
    #[serde(default)]
    grace_s: Option<f64>,
}

fn default_concurrency() -> usize {
    32
}

impl BatchOptions {
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> BatchOptions {
        BatchOptions {
            input: input.into(),
            output: output.into(),
            resume: false,
            retry_failed: false,
            concurrency: default_concurrency(),
            grace: None,
            results: None,
        }
    }

    /// Options from `{input, output, resume?, retry_failed?, concurrency?, grace_s?}`;
    /// `invalid_input` naming the field otherwise.
    pub fn from_json(value: Value) -> Result<BatchOptions> {
        let o: OptionsJson = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid_input(format!("batch options: {path}: {}", e.inner()))
                .with_details(serde_json::json!({ "path": path }))
        })?;
        let opts = BatchOptions {
            resume: o.resume,
            retry_failed: o.retry_failed,
            concurrency: o.concurrency,
            grace: BatchOptions::grace_from_secs(o.grace_s)?,
            ..BatchOptions::new(o.input, o.output)
        };
        opts.validate()?;
        Ok(opts)
    }

    /// A grace period given in seconds (`grace_s`): finite and at least 0.
    pub fn grace_from_secs(secs: Option<f64>) -> Result<Option<Duration>> {
        match secs {
            None => Ok(None),
            Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
            Some(s) => Err(Error::invalid_input(format!(
                "grace_s: expected seconds, at least 0, not {s}"
            ))
            .with_details(serde_json::json!({ "path": "grace_s" }))),
        }
    }

    /// What `run` refuses before it reads anything.
    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            return Err(Error::invalid_input("concurrency: expected at least 1")
                .with_details(serde_json::json!({ "path": "concurrency" })));
        }
        Ok(())
    }
}

/// A failed request, for `--trace-ids`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failed {
    pub custom_id: String,
    pub request_id: String,
    pub error: String,
}

/// How a run (or, from `status`, the runs so far) went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub total: usize,
    /// Answered, in this run and before it.
    pub succeeded: usize,
    pub failed: usize,
    pub remaining: usize,
    /// Finished before this run began (resume).
    pub skipped: usize,
    pub cost_usd: f64,
    /// Every request is done and `output` holds them in input order.
    pub complete: bool,
    /// Why admission stopped early: `signal`, `cancelled`, `budget_exceeded: ...`.
    pub stopped: Option<String>,
    pub failed_requests: Vec<Failed>,
    /// Bytes of a torn or corrupt journal tail that a resume dropped.
    pub journal_bytes_dropped: u64,
    pub output: String,
}

/// What the journal next to `output` says: done, failed, remaining, cost.
pub fn status(output: &Path) -> Result<Summary> {
    let path = journal::path_for(output);
    let Some(c) = journal::read(&path)? else {
        return Err(Error::not_found(format!(
            "no batch journal at {}",
            path.display()
        )));
    };
    let total = c.manifest["total"].as_u64().unwrap_or(0) as usize;
    Ok(summarize(
        total,
        &c.records,
        None,
        0,
        output,
        c.dropped_bytes,
    ))
}

/// What the run holds of its part file: where every line of it stands (agreeing with the
/// journal, newer than any earlier record), the records of this run's failures, and the
/// journal's whole cost, every record added in journal order (as `status` adds them, so the two
/// agree to the last bit). Answered requests keep no record in memory.
#[derive(Debug, Default)]
pub(crate) struct Written {
    pub spans: output::Spans,
    pub failures: Vec<journal::Record>,
    pub cost_usd: f64,
}

/// The cost of `records`, added in their order.
pub(crate) fn cost_of(records: &[journal::Record]) -> f64 {
    records
        .iter()
        .filter_map(|r| r.cost_usd)
        .fold(0.0, |a, b| a + b)
}

/// The summary of a journal's `records` (the last record of an id wins). With `written` (a run
/// that went through its part file), the part file decides what is done: a request without a
/// line there is remaining, whatever an earlier record said, since any resume sends it again.
fn summarize(
    total: usize,
    records: &[journal::Record],
    written: Option<&Written>,
    skipped: usize,
    output: &Path,
    dropped: u64,
) -> Summary {
    let no_failures = Vec::new();
    let fresh = written.map_or(&no_failures, |w| &w.failures);
    let mut last: HashMap<&str, &journal::Record> = HashMap::new();
    for r in records.iter().chain(fresh) {
        last.insert(r.id.as_str(), r);
    }
    let failed_now = |r: &journal::Record| match written {
        Some(w) => w.spans.get(&r.id).is_some_and(|s| s.failed),
        None => !r.ok,
    };
    let failed_requests: Vec<Failed> = records
        .iter()
        .chain(fresh)
        .filter(|r| failed_now(r) && std::ptr::eq(last[r.id.as_str()], *r))
        .map(|r| Failed {
            custom_id: r.id.clone(),
            request_id: r.request_id.clone(),
            error: r.error.clone().unwrap_or_default(),
        })
        .collect();
    let (done, failed) = match written {
        Some(w) => (w.spans.len(), w.spans.values().filter(|s| s.failed).count()),
        None => (last.len(), last.values().filter(|r| !r.ok).count()),
    };
    let complete = output.exists() && !output::part_path(output).exists();
    Summary {
        total,
        succeeded: done - failed,
        failed,
        remaining: total.saturating_sub(done),
        skipped,
        cost_usd: written.map_or_else(|| cost_of(records), |w| w.cost_usd),
        complete,
        stopped: None,
        failed_requests,
        journal_bytes_dropped: dropped,
        output: output.display().to_string(),
    }
}

/// `path` with `.ext` appended to its file name.
pub(crate) fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

/// `fsync` (data only) on a blocking thread. The writer awaits it, so admission and sending go
/// on meanwhile and the next group gathers what finishes; the order of writes is unchanged.
pub(crate) async fn sync_data(file: &std::sync::Arc<std::fs::File>) -> std::io::Result<()> {
    let f = file.clone();
    tokio::task::spawn_blocking(move || f.sync_data())
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Syncs the directory holding `path`, so a rename in it survives power loss.
pub(crate) fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
