//! What the client keeps of every call: one request-log record and one cost-tracker entry per
//! call through it (answered, failed, cache hit, joined to an identical call in flight,
//! streamed, or cancelled), and the `DebugInfo` each answer carries.
//!
//! A [`Call`] is opened when a call starts and closed exactly once: by an answer, an error,
//! the end of its stream, or (when the caller drops it first) as `cancelled`.

use super::pricing::StreamEnd;
use super::types::{ChatRequest, ChatResponse};
use crate::config::{Config, RouteStrategy};
use crate::cost::tracker::TrackerSettings;
use crate::cost::{CostDetail, CostTracker, TrackRecord};
use crate::error::{Error, Result};
use crate::observe::request_log::Attempt;
use crate::observe::{now_ms, ClientMetrics, DebugInfo, RequestLog, RequestRecord};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The client's request log and cost tracker.
pub struct Books {
    pub costs: Arc<CostTracker>,
    pub log: Arc<RequestLog>,
    /// `logging.request_log`: off, calls are neither logged nor tracked.
    enabled: bool,
    /// `metrics.enabled`: counted from the same records.
    pub metrics: Option<ClientMetrics>,
}

impl Books {
    pub fn new(config: &Config) -> Result<Books> {
        Ok(Books {
            costs: Arc::new(CostTracker::new(TrackerSettings::default())?),
            log: Arc::new(RequestLog::from_config(&config.logging)?),
            enabled: config.logging.request_log,
            metrics: config
                .metrics
                .enabled
                .then(|| ClientMetrics::new(&config.metrics)),
        })
    }

    /// A finished call's record: logged, counted, and kept when the request log is on.
    fn keep(&self, r: RequestRecord, track: Option<TrackRecord>) {
        log_finished(&r);
        if let Some(m) = &self.metrics {
            m.observe(&r);
        }
        if self.enabled {
            if let Some(t) = track {
                self.costs.track(&t);
            }
            self.log.record(r);
        }
    }
}

/// The call's last log line (its request span gives the request id and the model asked for).
fn log_finished(r: &RequestRecord) {
    // Outside a logged request span (this client's sinks want nothing) the event would be
    // dropped: not even its message is built.
    if !crate::observe::log::active() || tracing::Span::current().is_none() {
        return;
    }
    let provider = r.provider.as_deref().unwrap_or("");
    let model = r.model.as_deref().unwrap_or("");
    let served = if provider.is_empty() {
        String::new()
    } else {
        format!(" by {provider}/{model}")
    };
    let how = match (&r.cache_tier, r.attempts) {
        (Some(tier), _) if tier == "in_flight" => {
            " (joined an identical call in flight)".to_owned()
        }
        (Some(tier), _) => format!(" (cache hit, {tier})"),
        (None, n) if n > 1 => format!(" after {n} attempts"),
        _ => String::new(),
    };
    if r.status == "error" {
        tracing::warn!(
            error.type = r.error_code.as_deref().unwrap_or(""),
            gen_ai.provider.name = provider,
            gen_ai.response.model = model,
            trinity.attempts = r.attempts,
            trinity.latency_ms = r.latency_ms,
            "call failed{served}{how}: {}: {}",
            r.error_code.as_deref().unwrap_or("error"),
            r.error_message.as_deref().unwrap_or("")
        );
    } else {
        tracing::info!(
            gen_ai.provider.name = provider,
            gen_ai.response.model = model,
            gen_ai.usage.input_tokens = r.input_tokens,
            gen_ai.usage.output_tokens = r.output_tokens,
            trinity.cost_usd = r.cost_usd,
            trinity.cache_tier = r.cache_tier.as_deref(),
            trinity.attempts = r.attempts,
            trinity.latency_ms = r.latency_ms,
            "call answered{served}{how} in {:.1} ms",
            r.latency_ms
        );
    }
}

/// What the request path saw of one call: the route, each attempt, time queued.
#[derive(Default)]
pub struct Trace {
    pub route: Option<RouteStrategy>,
    pub attempts: Vec<Attempt>,
    pub queued_ms: f64,
    /// When the first attempt started waiting for its queue slot, and the last one ended:
    /// the engine's own time is what lies outside them.
    pub first_start: Option<Instant>,
    pub last_end: Option<Instant>,
    /// The deployment that served the call (`provider`, `model`).
    pub served: Option<(String, String)>,
}

pub type SharedTrace = Arc<Mutex<Trace>>;

fn lock(t: &SharedTrace) -> std::sync::MutexGuard<'_, Trace> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// One attempt at a deployment, timed from its queue slot to its answer. Logged when it
/// ends; dropped unfinished (a race's loser, a cancelled call) it is logged as `cancelled`.
pub struct AttemptTimer {
    trace: SharedTrace,
    provider: String,
    model: String,
    started: Instant,
    logged: bool,
}

impl AttemptTimer {
    pub fn start(trace: &SharedTrace, provider: &str, model: &str) -> AttemptTimer {
        let started = Instant::now();
        {
            let mut t = lock(trace);
            t.first_start.get_or_insert(started);
            log_next_attempt(&t.attempts, provider, model);
        }
        AttemptTimer {
            trace: trace.clone(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            started,
            logged: false,
        }
    }

    /// The queue slot is taken: the time since the start was spent waiting for it.
    pub fn slot_taken(&self) {
        lock(&self.trace).queued_ms += ms(self.started.elapsed());
    }

    pub fn end<T>(mut self, result: &Result<T>) {
        self.log(result.as_ref().err().map(|e| e.code().to_owned()));
    }

    fn log(&mut self, error_code: Option<String>) {
        self.logged = true;
        let now = Instant::now();
        let mut t = lock(&self.trace);
        t.last_end = Some(now);
        t.attempts.push(Attempt {
            provider: std::mem::take(&mut self.provider),
            model: std::mem::take(&mut self.model),
            error_code,
            latency_ms: ms(now - self.started),
        });
    }
}

/// A retry (same deployment) or a fallback (another one) after a failed attempt. Only then:
/// a first attempt, or one raced beside another still running, is not announced as a retry.
fn log_next_attempt(before: &[Attempt], provider: &str, model: &str) {
    let Some(prev) = before.last() else { return };
    let Some(code) = prev.error_code.as_deref() else {
        return;
    };
    let n = before.len() + 1;
    if prev.provider == provider && prev.model == model {
        tracing::warn!(
            gen_ai.provider.name = provider,
            gen_ai.request.model = model,
            error.type = code,
            trinity.attempt = n,
            "retrying {provider}/{model} after {code} (attempt {n})"
        );
    } else {
        tracing::warn!(
            gen_ai.provider.name = provider,
            gen_ai.request.model = model,
            error.type = code,
            trinity.attempt = n,
            "falling back to {provider}/{model} after {}/{} failed with {code} (attempt {n})",
            prev.provider,
            prev.model
        );
    }
}

impl Drop for AttemptTimer {
    fn drop(&mut self) {
        if !self.logged {
            self.log(Some(crate::ErrorKind::Cancelled.code().to_owned()));
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How an answer was had.
pub enum Source {
    /// From the providers, through the route.
    Upstream,
    /// From a tier of the response cache (`memory`, `redis`, `fs`).
    Cache(&'static str),
    /// Shared with an identical call already in flight: no call of its own, so no cost.
    Joined,
}

/// One call in progress. Closed once; dropped open, it is logged as `cancelled`.
pub struct Call {
    books: Arc<Books>,
    started: Instant,
    record: Option<RequestRecord>,
    pub trace: SharedTrace,
    /// The call's request span: its last log line is emitted inside it, wherever it ends
    /// (a stream ends in its consumer's task).
    pub span: tracing::Span,
}

impl Call {
    pub fn open(books: &Arc<Books>, req: &ChatRequest, stream: bool) -> Call {
        let log_bodies = books.log.settings().log_bodies;
        let wanted = books.enabled || books.metrics.is_some() || crate::observe::log::active();
        let record = wanted.then(|| RequestRecord {
            request_id: books.log.new_id(),
            timestamp_ms: now_ms(),
            model_requested: req.model.clone(),
            stream,
            user: super::client::budget_user(req).map(str::to_owned),
            messages: log_bodies
                .then(|| serde_json::to_value(&req.messages).ok())
                .flatten(),
            ..Default::default()
        });
        Call {
            books: books.clone(),
            started: Instant::now(),
            record,
            trace: SharedTrace::default(),
            span: tracing::Span::none(),
        }
    }

    /// The id the request log knows the call by (none when neither the request log, the
    /// metrics nor a log sink wants a record).
    pub fn request_id(&self) -> Option<&str> {
        self.record.as_ref().map(|r| r.request_id.as_str())
    }

    /// Route, attempts, and the split of the call's time (end to end, queued, the engine's).
    fn fill(&self, r: &mut RequestRecord) {
        let now = Instant::now();
        let mut t = lock(&self.trace);
        r.route = t.route.map(|s| s.as_str().to_owned());
        r.attempt_log = std::mem::take(&mut t.attempts);
        r.attempts = r.attempt_log.len() as u32;
        r.queued_ms = t.queued_ms;
        r.latency_ms = ms(now - self.started);
        r.end_timestamp_ms = Some(r.timestamp_ms + r.latency_ms.round() as i64);
        let before = t.first_start.map_or(now, |s| s) - self.started;
        let after = t.last_end.map_or(std::time::Duration::ZERO, |e| now - e);
        r.overhead_ms = Some(ms(before + after));
        if r.provider.is_none() {
            if let Some((p, m)) = t.served.take() {
                r.provider = Some(p);
                r.model = Some(m);
            }
        }
    }

    /// An answer: its record logged and tracked, its `debug` set.
    pub fn answered(mut self, resp: &mut ChatResponse, source: Source) {
        if let Source::Joined = source {
            resp.cost_usd = Some(0.0);
            resp.cost_detail = Some(CostDetail::free());
            resp.attempts = 0;
            resp.cached = true;
        }
        let Some(start) = self.record.take() else {
            return;
        };
        let _in_span = self.span.clone().entered();
        let mut r = RequestRecord::from_response(resp, &start.model_requested, start.timestamp_ms);
        self.fill(&mut r);
        match source {
            Source::Upstream => {}
            Source::Cache(tier) => r.cache_tier = Some(tier.to_owned()),
            Source::Joined => r.cache_tier = Some("in_flight".into()),
        }
        r.cache_hit = !matches!(source, Source::Upstream);
        if self.books.log.settings().log_bodies {
            r.response = Some(resp.content.clone());
        }
        keep_from_start(&mut r, start);
        if self.books.enabled {
            resp.debug = Some(DebugInfo::from_record(&r));
        }
        // Built only for a tracker that will take it: this runs on every call.
        let track = self
            .books
            .enabled
            .then(|| TrackRecord::from_response(resp, r.timestamp_ms));
        self.books.keep(r, track);
    }

    /// An error: scrubbed of keys, logged, and returned with the request id in its details.
    pub fn failed(mut self, err: Error) -> Error {
        self.fail(err)
    }

    fn fail(&mut self, err: Error) -> Error {
        let err = crate::observe::scrub::scrub_error(err);
        let Some(start) = self.record.take() else {
            return err;
        };
        let _in_span = self.span.clone().entered();
        let mut r =
            RequestRecord::from_error(&err, &start.model_requested, start.timestamp_ms, 0.0);
        self.fill(&mut r);
        let err = match self.books.enabled {
            true => with_request_id(err, &start.request_id),
            false => err,
        };
        keep_from_start(&mut r, start);
        self.books.keep(r, None);
        err
    }

    /// A stream's end: the usage and cost it reported (or that were counted), or its error.
    pub fn stream_ended(mut self, end: StreamEnd) {
        let Some(start) = self.record.take() else {
            return;
        };
        let _in_span = self.span.clone().entered();
        let mut r = match &end.error {
            Some(e) => {
                RequestRecord::from_error(e, &start.model_requested, start.timestamp_ms, 0.0)
            }
            None => RequestRecord {
                timestamp_ms: start.timestamp_ms,
                ..Default::default()
            },
        };
        self.fill(&mut r);
        let u = &end.usage;
        r.input_tokens = u.prompt_tokens;
        r.cached_tokens = u.cached_tokens;
        r.cache_write_tokens = u.cache_write_tokens + u.cache_write_1h_tokens;
        r.output_tokens = u.completion_tokens;
        r.reasoning_tokens = u.reasoning_tokens;
        r.cost_usd = end.detail.total_usd;
        r.cost_nano_usd = end.detail.total_nano_usd;
        r.unpriced_reason = end.detail.unpriced_reason.clone();
        r.time_to_first_token_ms = end.first_token.map(|t| ms(t - self.started));
        r.time_per_output_chunk_ms = end.per_chunk.map(|d| d.as_secs_f64() * 1000.0);
        r.cache_hit = end.cached;
        if end.cached {
            r.cache_tier = end.cache_tier.map(str::to_owned);
        }
        r.response = Some(end.received);
        if end.cancelled {
            r.status = "error".into();
            r.error_code = Some(crate::ErrorKind::Cancelled.code().into());
            r.error_message = Some("the stream was dropped before it ended".into());
        }
        let billed = end.error.is_none() || r.output_tokens > 0;
        let track = (self.books.enabled && billed).then(|| TrackRecord {
            timestamp_ms: r.timestamp_ms,
            provider: r.provider.clone().unwrap_or_default(),
            model: r
                .model
                .clone()
                .unwrap_or_else(|| start.model_requested.clone()),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_tokens: r.cached_tokens,
            cost_nano_usd: r.cost_nano_usd,
            cache_hit: r.cache_hit,
        });
        r.cost_detail = Some(end.detail);
        keep_from_start(&mut r, start);
        self.books.keep(r, track);
    }
}

/// What only the start of the call knew.
fn keep_from_start(r: &mut RequestRecord, start: RequestRecord) {
    r.request_id = start.request_id;
    r.model_requested = start.model_requested;
    r.stream = start.stream;
    r.user = start.user;
    r.messages = start.messages;
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.record.is_some() {
            self.fail(Error::new(
                crate::ErrorKind::Cancelled,
                "the caller dropped the call before it ended",
            ));
        }
    }
}

/// `err` with `details.request_id`, so a caller can find the call in the request log.
fn with_request_id(mut err: Error, request_id: &str) -> Error {
    let id = serde_json::Value::String(request_id.to_owned());
    match &mut err.details {
        Some(serde_json::Value::Object(m)) => {
            m.entry("request_id").or_insert(id);
        }
        Some(_) => {}
        None => err.details = Some(serde_json::json!({ "request_id": id })),
    }
    err
}
