//! The run: dispatch in input order (skipping what the journal says is done), at most
//! `concurrency` in flight, one writer that appends each finished request to the part file,
//! syncs it, then journals the group and syncs that; a request counts as done only then.

use super::journal::{self, Record};
use super::{input, manifest, output, BatchOptions, Summary};
use crate::error::{Error, ErrorKind, Result};
use crate::llm::{ChatRequest, ChatResponse, Client};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// How a caller stops a run: `stop` admits nothing new and lets in-flight requests finish
/// (within the grace period), `abort` cancels them too. Signals, Python task cancellation and
/// Node's AbortSignal all end here.
#[derive(Debug, Default)]
pub struct Control {
    stop: CancellationToken,
    abort: CancellationToken,
    reason: Mutex<Option<String>>,
}

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::default()
    }

    /// Admits nothing new; the first reason given is the one reported.
    pub fn stop(&self, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        r.get_or_insert_with(|| reason.to_string());
        self.stop.cancel();
    }

    /// Stops, and cancels what is in flight.
    pub fn abort(&self, reason: &str) {
        self.stop(reason);
        self.abort.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Counters a progress display reads (atomics; the run never formats anything).
#[derive(Debug, Default)]
pub struct Progress {
    pub total: AtomicUsize,
    pub skipped: AtomicUsize,
    pub succeeded: AtomicUsize,
    pub failed: AtomicUsize,
    pub in_flight: AtomicUsize,
    /// This run's cost, nano-USD.
    pub cost_nano: AtomicU64,
}

/// One reading of [`Progress`], for a display or a binding (`BatchRun.progress` in Python,
/// `progress()` in Node).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProgressSnapshot {
    /// Requests in the input (0 until it has been indexed).
    pub total: usize,
    /// Done by an earlier run into the same output (a resume).
    pub skipped: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub in_flight: usize,
    /// Not finished yet, in flight included.
    pub remaining: usize,
    /// This run's cost so far.
    pub cost_usd: f64,
}

impl Progress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        let total = self.total.load(Ordering::Relaxed);
        let skipped = self.skipped.load(Ordering::Relaxed);
        let succeeded = self.succeeded.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        ProgressSnapshot {
            total,
            skipped,
            succeeded,
            failed,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            remaining: total.saturating_sub(skipped + succeeded + failed),
            cost_usd: self.cost_nano.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

type Finished = (String, Result<ChatResponse>);

/// The shortest time between two group commits: a request waits at most this long after it
/// finishes before its line is synced and it counts as done.
const GROUP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Runs (or resumes) the batch `opts` describes through `client`.
pub async fn run(
    client: Arc<Client>,
    opts: &BatchOptions,
    control: Arc<Control>,
    progress: Arc<Progress>,
) -> Result<Summary> {
    opts.validate()?;
    // Held until the run and every piece of blocking work it started have ended.
    let lock = Arc::new(super::lock::acquire(&opts.output)?);
    let input_path = opts.input.clone();
    let index = tokio::task::spawn_blocking(move || input::index(&input_path))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    let manifest = manifest::manifest(
        &index.sha256,
        index.ids.len(),
        manifest::settings(client.config()),
    );
    let journal_path = journal::path_for(&opts.output);
    let part_path = output::part_path(&opts.output);
    let previous = journal::read(&journal_path)?;
    let (writer, records, dropped) = match previous {
        Some(_) if !opts.resume => {
            return Err(Error::invalid_input(format!(
            "{} exists: a run into {} began already. Resume it (--resume) or choose another output",
            journal_path.display(),
            opts.output.display()
        )))
        }
        Some(c) => {
            manifest::check_resume(&c.manifest, &manifest)?;
            let w = journal::Writer::append(&journal_path, Some(c.valid_len))?;
            (w, c.records, c.dropped_bytes)
        }
        None => {
            if opts.output.exists() || part_path.exists() {
                return Err(Error::invalid_input(format!(
                    "{} exists and has no journal: not overwriting it",
                    opts.output.display()
                )));
            }
            (
                journal::Writer::create(&journal_path, &manifest)?,
                Vec::new(),
                0,
            )
        }
    };
    // Done: journaled (failures too, unless retried) and present in the part file. A finished
    // run has no part file and nothing left to do.
    let finished_before = opts.output.exists() && !part_path.exists();
    // What the journal last says of each request: the part lines to keep. Failures are left
    // out when they are to be retried.
    let journaled: HashMap<String, output::Journaled> = {
        let mut last = HashMap::new();
        for r in &records {
            last.insert(r.id.as_str(), r);
        }
        last.into_iter()
            .filter(|(_, r)| r.ok || !opts.retry_failed)
            .map(|(id, r)| {
                let j = output::Journaled {
                    ok: r.ok,
                    request_id: r.request_id.clone(),
                };
                (id.to_string(), j)
            })
            .collect()
    };
    let retrying = finished_before && journaled.len() < index.ids.len();
    // Where every done request's line sits in the part file; none for a finished run, which
    // has nothing left to send or write and whose summary is the journal's.
    let spans = if finished_before && !retrying {
        None
    } else {
        if retrying {
            // A finished run whose failures run again: its output becomes the part file again.
            std::fs::rename(&opts.output, &part_path)
                .map_err(|e| Error::io(&opts.output.display().to_string(), e))?;
        }
        let (part, held) = (part_path.clone(), lock.clone());
        let spans = tokio::task::spawn_blocking(move || {
            let _held = held;
            output::recover_part(&part, &journaled)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        Some(spans)
    };
    let done = spans.as_ref().map_or(index.ids.len(), |s| s.len());
    progress.total.store(index.ids.len(), Ordering::Relaxed);
    progress.skipped.store(done, Ordering::Relaxed);

    // What the part file and the journal hold so far; a dispatch adds what this run writes.
    let so_far = spans.map(|spans| super::Written {
        spans,
        failures: Vec::new(),
        cost_usd: super::cost_of(&records),
    });
    let written = match so_far {
        Some(so_far) if done < index.ids.len() => Some(
            dispatch(
                &client, opts, &index, so_far, writer, &control, &progress, &lock,
            )
            .await?,
        ),
        other => other,
    };
    let mut summary = super::summarize(
        index.ids.len(),
        &records,
        written.as_ref(),
        done,
        &opts.output,
        dropped,
    );
    summary.stopped = control.reason();
    if let Some(written) = written.filter(|_| summary.remaining == 0) {
        let (part, out, order, held) = (part_path, opts.output.clone(), index.ids, lock);
        tokio::task::spawn_blocking(move || {
            let _held = held;
            output::finish(&part, &out, &order, &written.spans)
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        summary.complete = true;
    }
    Ok(summary)
}

/// Sends every request without a line in `so_far`, in input order, and writes what finishes;
/// returns `so_far` with this run's lines, failures and costs added.
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    client: &Arc<Client>,
    opts: &BatchOptions,
    index: &input::Index,
    so_far: super::Written,
    journal: journal::Writer,
    control: &Arc<Control>,
    progress: &Arc<Progress>,
    lock: &Arc<super::lock::RunLock>,
) -> Result<super::Written> {
    let part_path = output::part_path(&opts.output);
    let part = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part_path)
        .map_err(|e| Error::io(&part_path.display().to_string(), e))?;
    // Room for what finishes during a group commit, so senders rarely wait on the writer.
    let (tx, rx) = mpsc::channel::<Finished>((opts.concurrency * 4).max(1024));
    let sem = Arc::new(Semaphore::new(opts.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    // The writer is a task of its own: its JSON and file work runs beside admission, so a
    // slot that comes free is refilled at once. Dropping the run aborts it.
    let writing = {
        let (control, held) = (control.clone(), lock.clone());
        let written = write_results(
            rx,
            part,
            part_path,
            journal,
            // The writer notes only this run's lines; the done ones stay here, for skipping.
            super::Written {
                spans: output::Spans::new(),
                failures: Vec::new(),
                cost_usd: so_far.cost_usd,
            },
            index.sha256.clone(),
            control.clone(),
            progress.clone(),
            opts.results.clone(),
        );
        AbortOnDrop(tokio::spawn(async move {
            let _held = held;
            let r = written.await;
            if r.is_err() {
                // Nothing more can be written: stop sending requests whose answers would be lost.
                control.abort("the batch writer failed");
            }
            r
        }))
    };
    let sending = async {
        let file = std::fs::File::open(&opts.input)
            .map_err(|e| Error::io(&opts.input.display().to_string(), e))?;
        let mut reader = BufReader::new(file);
        let mut buf = String::new();
        let mut line = 0;
        loop {
            if control.is_stopped() {
                break;
            }
            buf.clear();
            if reader
                .read_line(&mut buf)
                .map_err(|e| Error::io(&opts.input.display().to_string(), e))?
                == 0
            {
                break;
            }
            line += 1;
            if buf.trim().is_empty() {
                continue;
            }
            // Lines already done are skipped on their id alone (the first pass checked them).
            if !so_far.spans.is_empty()
                && input::custom_id(&buf).is_some_and(|id| so_far.spans.contains_key(&id))
            {
                continue;
            }
            let (id, req) = input::parse_line(&buf, line)?;
            let permit = tokio::select! {
                biased;
                () = control.stop.cancelled() => break,
                p = sem.clone().acquire_owned() => p.expect("never closed"),
            };
            if control.is_stopped() {
                break;
            }
            progress.in_flight.fetch_add(1, Ordering::Relaxed);
            let (client, tx, abort) = (client.clone(), tx.clone(), control.abort.clone());
            tasks.spawn(async move {
                let result = send(&client, req, &abort).await;
                let _ = tx.send((id, result)).await;
                drop(permit);
            });
            // A finished task stays in the set, with its whole allocation, until it is joined:
            // reap them as we go, so memory follows the concurrency, not the input's length.
            while tasks.try_join_next().is_some() {}
        }
        // Stopped: in-flight requests get the grace period, then are cancelled.
        if control.is_stopped() {
            let grace = opts.grace.unwrap_or_default();
            let all_done = async { while tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(grace, all_done).await.is_err() {
                control.abort.cancel();
            }
        }
        while tasks.join_next().await.is_some() {}
        drop(tx);
        Ok::<(), Error>(())
    };
    let (sent, written) = tokio::join!(sending, writing.join());
    let mut written = written?;
    sent?;
    // No id is in both: the done ones were skipped.
    written.spans.extend(so_far.spans);
    Ok(written)
}

/// The writer task, aborted when its handle is dropped (the run's future was dropped).
struct AbortOnDrop<T>(tokio::task::JoinHandle<Result<T>>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T> {
        match (&mut self.0).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::new(
                ErrorKind::Cancelled,
                "the batch writer was stopped",
            )),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn send(
    client: &Client,
    req: ChatRequest,
    abort: &CancellationToken,
) -> Result<ChatResponse> {
    tokio::select! {
        r = client.chat(req) => r,
        () = abort.cancelled() => Err(Error::new(ErrorKind::Cancelled, "the batch was stopped")),
    }
}

/// Appends finished requests to the part file and the journal, synced in groups (whatever has
/// finished while the last group was being written). Cancelled requests and ones refused by a
/// budget are not written: they are not done, and a resume sends them. Once a group is
/// journaled, its lines go to `results` (when given), each awaited. Returns `so_far` with every
/// line written, every failure and every cost (in journal order) added.
#[allow(clippy::too_many_arguments)]
async fn write_results(
    mut rx: mpsc::Receiver<Finished>,
    part: std::fs::File,
    part_path: std::path::PathBuf,
    mut journal: journal::Writer,
    so_far: super::Written,
    input_sha: String,
    control: Arc<Control>,
    progress: Arc<Progress>,
    mut results: Option<mpsc::Sender<Value>>,
) -> Result<super::Written> {
    let input_sha = input_sha.as_str();
    let journal = &mut journal;
    let io = |e| Error::io(&part_path.display().to_string(), e);
    let part_sync = Arc::new(part.try_clone().map_err(io)?);
    // Appending: lines go after what the part file holds.
    let mut offset = part.metadata().map_err(io)?.len();
    let mut part = std::io::BufWriter::new(part);
    let super::Written {
        mut spans,
        mut failures,
        mut cost_usd,
    } = so_far;
    let mut group: Vec<Finished> = Vec::new();
    let mut journaled_lines: Vec<Value> = Vec::new();
    let mut last_sync = tokio::time::Instant::now();
    while let Some(first) = rx.recv().await {
        group.push(first);
        // Group commit: at most one pair of syncs per GROUP_INTERVAL. What finishes meanwhile
        // joins this group (a full channel holds the senders back).
        tokio::time::sleep_until(last_sync + GROUP_INTERVAL).await;
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let mut batch = Vec::with_capacity(group.len());
        for (id, result) in group.drain(..) {
            progress.in_flight.fetch_sub(1, Ordering::Relaxed);
            let line_id = output::line_id(input_sha, &id);
            let (line, record) = match &result {
                Ok(r) => (output::success(&line_id, &id, r), record_ok(&id, r)),
                Err(e) if e.kind == ErrorKind::Cancelled => continue,
                Err(e) if e.kind == ErrorKind::BudgetExceeded => {
                    control.stop(&format!("budget_exceeded: {}", e.message));
                    continue;
                }
                Err(e) => (output::failure(&line_id, &id, e), record_failed(&id, e)),
            };
            let mut text = serde_json::to_string(&line).expect("plain data");
            text.push('\n');
            part.write_all(text.as_bytes()).map_err(io)?;
            let failed = !record.ok;
            spans.insert(
                id,
                output::Span {
                    offset,
                    len: text.len(),
                    failed,
                },
            );
            offset += text.len() as u64;
            batch.push(record);
            if results.is_some() {
                journaled_lines.push(line);
            }
        }
        if batch.is_empty() {
            continue;
        }
        crash::at(crash::Point::PartWrite, &mut part);
        part.flush().map_err(io)?;
        super::sync_data(&part_sync).await.map_err(io)?;
        crash::at(crash::Point::BetweenPartAndJournal, &mut part);
        for r in &batch {
            journal.push(r);
        }
        crash::at_journal(journal);
        if let Err(e) = journal.commit().await {
            control.abort("journal write failed");
            return Err(e);
        }
        last_sync = tokio::time::Instant::now();
        for r in &batch {
            if r.ok {
                progress.succeeded.fetch_add(1, Ordering::Relaxed);
            } else {
                progress.failed.fetch_add(1, Ordering::Relaxed);
            }
            let nano = (r.cost_usd.unwrap_or(0.0) * 1e9).round() as u64;
            progress.cost_nano.fetch_add(nano, Ordering::Relaxed);
        }
        cost_usd = batch
            .iter()
            .filter_map(|r| r.cost_usd)
            .fold(cost_usd, |a, b| a + b);
        failures.extend(batch.into_iter().filter(|r| !r.ok));
        // Done for good now: the reader gets them. A reader that went away is dropped.
        if let Some(tx) = &results {
            let mut gone = false;
            for line in journaled_lines.drain(..) {
                if tx.send(line).await.is_err() {
                    gone = true;
                    break;
                }
            }
            if gone {
                results = None;
            }
        }
    }
    Ok(super::Written {
        spans,
        failures,
        cost_usd,
    })
}

fn record_ok(id: &str, r: &ChatResponse) -> Record {
    Record {
        id: id.to_string(),
        ok: true,
        cost_usd: r.cost_usd,
        request_id: r
            .debug
            .as_ref()
            .map(|d| d.request_id.clone())
            .unwrap_or_default(),
        attempts: r.attempts,
        error: None,
    }
}

fn record_failed(id: &str, e: &Error) -> Record {
    let details = e.details.as_ref();
    Record {
        id: id.to_string(),
        ok: false,
        cost_usd: None,
        request_id: details
            .and_then(|d| d.get("request_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        attempts: details
            .and_then(|d| d.get("attempts"))
            .and_then(Value::as_u64)
            .unwrap_or(1) as u32,
        error: Some(e.code().to_string()),
    }
}

/// Crash points for the soak tests: `TRINITY_BATCH_CRASH=<point>:<n>` aborts the process at the
/// n-th group reaching `<point>`: `part_write` (half a line written), `between` (output synced,
/// journal not written), `journal_write` (half a journal line written). Read once; unset in
/// normal runs, where each check is one relaxed load.
mod crash {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::LazyLock;

    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Point {
        PartWrite,
        BetweenPartAndJournal,
        JournalWrite,
    }

    static PLAN: LazyLock<Option<(Point, u64)>> = LazyLock::new(|| {
        let v = std::env::var("TRINITY_BATCH_CRASH").ok()?;
        let (point, n) = v.split_once(':')?;
        let point = match point {
            "part_write" => Point::PartWrite,
            "between" => Point::BetweenPartAndJournal,
            "journal_write" => Point::JournalWrite,
            _ => return None,
        };
        Some((point, n.parse().ok()?))
    });
    static SEEN: AtomicU64 = AtomicU64::new(0);

    fn due(point: Point) -> bool {
        matches!(*PLAN, Some((p, n)) if p == point && SEEN.fetch_add(1, Ordering::Relaxed) + 1 == n)
    }

    pub fn at(point: Point, part: &mut std::io::BufWriter<std::fs::File>) {
        if due(point) {
            if point == Point::PartWrite {
                let _ = part.write_all(b"{\"custom_id\":\"torn");
            }
            let _ = part.flush();
            std::process::abort();
        }
    }

    pub fn at_journal(journal: &mut super::journal::Writer) {
        if due(Point::JournalWrite) {
            journal.write_torn();
            std::process::abort();
        }
    }
}
