//! `trinity report`: a performance report from request-log files (the JSON Lines sink), after
//! the fact. Each record's attempts are replayed through a [`ProviderMonitor`] on a manual clock
//! set to the log's own times, so the states, recoveries and history buckets are the ones the
//! live monitor would have found; a second monitor, whose window is the whole log, gives the
//! per-provider totals. Records are read one line at a time: memory does not grow with the log.

use super::monitor::{HistoryPoint, Outcome, ProviderHealth, ProviderMonitor};
use super::report::{self, RecordStats, ReportData};
use super::RequestRecord;
use crate::config::MonitorConfig;
use crate::resilience::ManualClock;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// History buckets per provider the replay aims for (the live monitor keeps 288 a day).
const HISTORY_BUCKETS: u64 = 288;
/// Evaluations a replay runs at most, however long the log: the interval grows to fit.
const MAX_EVALUATIONS: u64 = 50_000;

/// What a replay read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplaySummary {
    pub records: u64,
    pub attempts: u64,
    /// The log's first call start and last call end, ms since the Unix epoch.
    pub first_ms: i64,
    pub last_ms: i64,
    pub providers: Vec<String>,
}

/// Reads `paths` (request-log JSON Lines, rotated files in any order) and renders the report
/// as `format` (`html` or `pdf`). `monitor` is the client's `monitor` section: its thresholds
/// decide the states; its history settings are replaced to cover the whole log.
pub fn report_from_logs(
    paths: &[PathBuf],
    monitor: &MonitorConfig,
    format: &str,
    title: &str,
) -> Result<(Vec<u8>, ReplaySummary)> {
    report::check_format(format)?;
    if paths.is_empty() {
        return Err(Error::invalid_input("no request-log file given"));
    }
    // First pass: the span, for the clock's origin and the history's bucket width.
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for_each_line(paths, |_, line| {
        #[derive(Deserialize)]
        struct Times {
            #[serde(default)]
            timestamp_ms: i64,
            #[serde(default)]
            end_timestamp_ms: Option<i64>,
        }
        let t: Times = serde_json::from_str(line).map_err(|e| e.to_string())?;
        first = first.min(t.timestamp_ms);
        last = last.max(t.end_timestamp_ms.unwrap_or(t.timestamp_ms));
        Ok(())
    })?;
    if first > last {
        return Err(Error::invalid_input("the request log holds no record"));
    }
    let mut replay = Replay::new(monitor, first, last);
    for_each_line(paths, |_, line| {
        let r: RequestRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
        replay.add(&r);
        Ok(())
    })?;
    replay.finish(format, title)
}

/// Calls `f` with each non-empty line of `paths`; a line `f` refuses is an `invalid_input`
/// error naming the file and line.
fn for_each_line(
    paths: &[PathBuf],
    mut f: impl FnMut(usize, &str) -> std::result::Result<(), String>,
) -> Result<()> {
    for path in paths {
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| io_error(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            f(i + 1, &line).map_err(|e| {
                Error::invalid_input(format!(
                    "{}:{}: not a request-log record: {e}",
                    path.display(),
                    i + 1
                ))
            })?;
        }
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::io(&path.display().to_string(), e)
}

/// A replay in progress: feed records with [`Replay::add`], oldest first where possible.
pub struct Replay {
    /// Evaluated as the log's time passes: states, recoveries, history.
    monitor: Arc<ProviderMonitor>,
    clock: ManualClock,
    /// One window over the whole log: the totals of the providers' table.
    whole: Arc<ProviderMonitor>,
    whole_clock: ManualClock,
    origin_ms: i64,
    eval_every_ms: u64,
    /// Evaluations run up to here (ms on the clock).
    evaluated_ms: u64,
    /// A gap longer than this needs no evaluation at every interval: the state has settled.
    settle_ms: u64,
    stats: RecordStats,
    summary: ReplaySummary,
}

impl Replay {
    /// A replay of calls made between `first_ms` and `last_ms` (ms since the epoch).
    pub fn new(config: &MonitorConfig, first_ms: i64, last_ms: i64) -> Replay {
        let span_s = ((last_ms - first_ms).max(0) as u64).div_ceil(1000).max(1);
        let mut live = config.clone();
        live.enabled = true;
        live.history_bucket_s.0 = span_s.div_ceil(HISTORY_BUCKETS).max(1);
        live.history_hours.0 = span_s.div_ceil(3600) + 1;
        let mut whole = live.clone();
        whole.window_s.0 = span_s + 1;
        whole.fast_window_s.0 = span_s + 1;
        let (monitor, clock) = ProviderMonitor::for_replay(&live, first_ms);
        let (whole, whole_clock) = ProviderMonitor::for_replay(&whole, first_ms);
        let eval_every_ms = config
            .eval_interval_ms
            .0
            .max((span_s * 1000).div_ceil(MAX_EVALUATIONS));
        Replay {
            monitor,
            clock,
            whole,
            whole_clock,
            origin_ms: first_ms,
            eval_every_ms,
            evaluated_ms: 0,
            settle_ms: (config.window_s.0 + config.fast_window_s.0 + config.recover_s.0) * 1000
                + 2 * eval_every_ms,
            stats: RecordStats::default(),
            summary: ReplaySummary {
                first_ms,
                last_ms,
                ..ReplaySummary::default()
            },
        }
    }

    /// Moves the clock to `at_ms` (since the epoch; never backwards), evaluating the monitor
    /// at each interval passed on the way.
    fn advance_to(&mut self, at_ms: i64) {
        let target = (at_ms - self.origin_ms).max(0) as u64;
        let now = self.clock.now_ns() / 1_000_000;
        if target <= now {
            return;
        }
        let step = self.eval_every_ms;
        // After a long quiet gap only the last `settle_ms` of evaluations can change anything.
        if target.saturating_sub(self.evaluated_ms) > self.settle_ms {
            let skip_to = target - self.settle_ms;
            self.evaluated_ms = skip_to - skip_to % step;
        }
        while self.evaluated_ms + step <= target {
            self.evaluated_ms += step;
            self.clock.set_ns(self.evaluated_ms * 1_000_000);
            self.monitor.evaluate();
        }
        self.clock.set_ns(target * 1_000_000);
    }

    /// One call: its attempts, each at the time it ended (the call's start, its queue wait
    /// and the latencies of the attempts before it).
    pub fn add(&mut self, r: &RequestRecord) {
        self.stats.add(r);
        self.summary.records += 1;
        let mut at = r.timestamp_ms as f64 + r.queued_ms;
        let n = r.attempt_log.len();
        for (i, a) in r.attempt_log.iter().enumerate() {
            at += a.latency_ms;
            self.advance_to(at as i64);
            let whole_at = ((at as i64 - self.origin_ms).max(0) as u64) * 1_000_000;
            if whole_at > self.whole_clock.now_ns() {
                self.whole_clock.set_ns(whole_at);
            }
            // The HTTP status on the record is the last attempt's.
            let status = if i + 1 == n { r.http_status } else { None };
            let outcome = Outcome::of_code(a.error_code.as_deref(), status);
            // Output tokens belong to the attempt that answered.
            let tokens =
                (outcome == Outcome::Ok && i + 1 == n && !r.cache_hit).then_some(r.output_tokens);
            let took = Duration::from_secs_f64(a.latency_ms.max(0.0) / 1000.0);
            self.monitor
                .observe_with(&a.provider, outcome, took, tokens);
            self.whole.observe_with(&a.provider, outcome, took, tokens);
            self.summary.attempts += 1;
        }
    }

    /// The providers' figures and history at the end of the log (evaluated up to it).
    pub fn view(&mut self) -> ReplayView {
        // Evaluate once past the end, so the last calls count in the state.
        let end = self.summary.last_ms.max(self.origin_ms) + self.eval_every_ms as i64;
        self.advance_to(end);
        let hours = (self.summary.last_ms - self.origin_ms) as f64 / 3_600_000.0 + 1.0;
        let providers = self.monitor.providers();
        let health = providers
            .iter()
            .filter_map(|p| {
                let mut h = self.whole.health(p)?;
                // States, incidents and availability are the live monitor's.
                if let Some(live) = self.monitor.health(p) {
                    h.state = live.state;
                    h.since_ms = live.since_ms;
                    h.availability = live.availability;
                    h.recoveries = live.recoveries;
                    h.avg_error_recovery_ms = live.avg_error_recovery_ms;
                }
                Some(h)
            })
            .collect();
        let history = providers
            .iter()
            .map(|p| (p.clone(), self.monitor.history(p, hours)))
            .collect();
        ReplayView { health, history }
    }

    /// The report and what was read; `invalid_input` for a format [`report::check_format`]
    /// refuses.
    pub fn finish(mut self, format: &str, title: &str) -> Result<(Vec<u8>, ReplaySummary)> {
        let view = self.view();
        let data = ReportData {
            title,
            generated_ms: super::now_ms(),
            health: &view.health,
            history: &view.history,
            records: &self.stats,
            breaker: Vec::new(),
        };
        let bytes = report::render(&data, format)?;
        self.summary.providers = view.history.into_keys().collect();
        Ok((bytes, self.summary))
    }
}

/// The providers as the replay ends: totals over the whole log with the live monitor's state,
/// incidents and availability; history buckets oldest first.
pub struct ReplayView {
    pub health: Vec<ProviderHealth>,
    pub history: BTreeMap<String, Vec<HistoryPoint>>,
}
