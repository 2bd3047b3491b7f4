//! The request log: one [`RequestRecord`] per call (success, error, cache hit, stream), a ring
//! of the last `logging.history` records in memory, queries over them, JSON and CSV exports,
//! and an optional JSON Lines file sink rotated by size.
//!
//! Records never hold headers, so no API key can reach them through one; error messages are
//! scrubbed of key and bearer-token patterns ([`super::scrub`]) before they are stored, and
//! message bodies are dropped unless `logging.log_bodies` is on.
//!
//! Field names, and what they map to elsewhere (LiteLLM `StandardLoggingPayload` / Helicone
//! `request_response_rmt` / Langfuse observation / OTel GenAI):
//!
//! | ours | LiteLLM | Helicone | Langfuse | OTel |
//! |---|---|---|---|---|
//! | `request_id` | `id` | `request_id` | `id` | — |
//! | `provider_request_id` | `hidden_params` | `response_id` | — | `gen_ai.response.id` |
//! | `timestamp_ms`, `end_timestamp_ms` | `startTime`, `endTime` | `request_created_at`, `response_created_at` | `start_time`, `end_time` | span start/end |
//! | `provider`, `model` (served) | `custom_llm_provider`, `model` | `provider`, `model` | `provided_model_name` | `gen_ai.provider.name`, `gen_ai.response.model` |
//! | `provider_requested`, `model_requested` | `model_group` | — | — | `gen_ai.request.model` |
//! | `route`, `attempts`, `attempt_log` | `trace_id` (retries/fallbacks) | — | `trace_id` | — |
//! | `stream` | `stream` | — | — | — |
//! | `status`, `error_code`, `error_message`, `http_status` | `status`, `error_information` | `status` | `level`, `status_message` | `error.type` |
//! | `input_tokens` (cached included), `cached_tokens`, `cache_write_tokens`, `output_tokens`, `reasoning_tokens` | `prompt_tokens`, `completion_tokens`, `usage_object` | `prompt_tokens`, `prompt_cache_read_tokens`, `prompt_cache_write_tokens`, `completion_tokens` | `usage_details` | `gen_ai.usage.*` |
//! | `cost_usd`, `cost_nano_usd`, `cost_detail`, `unpriced_reason` | `response_cost`, `cost_breakdown`, `response_cost_failure_debug_info` | `cost` (×10⁹) | `total_cost`, `cost_details` | — |
//! | `latency_ms`, `time_to_first_token_ms`, `queued_ms`, `overhead_ms` | `response_time`, `completionStartTime`, `litellm_overhead_time_ms` | `latency`, `time_to_first_token` | `completion_start_time` | `gen_ai.response.time_to_first_chunk` |
//! | `cache_hit`, `cache_tier` | `cache_hit` | `cache_reference_id` | — | — |
//! | `user` | `end_user` | `user_id` | `user_id` | — |
//! | `messages`, `response` (only with `log_bodies`) | `messages`, `response` | `request_body`, `response_body` | `input`, `output` | opt-in content |

use super::now_ms;
use super::scrub::scrub_in_place;
use crate::config::LoggingConfig;
use crate::cost::CostDetail;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Bumped when a field changes meaning or is removed (added fields keep the version).
pub const SCHEMA_VERSION: u32 = 1;

/// One deployment tried for a call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    /// `None`: the attempt answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub latency_ms: f64,
}

/// One call. Every field has a default, so callers (and other languages) send what they know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestRecord {
    pub schema_version: u32,
    /// Ours, unique per call (`req_…` when the caller gives none).
    pub request_id: String,
    /// The provider's own id for the call (`x-request-id`), for support tickets.
    pub provider_request_id: Option<String>,
    /// When the call started / ended, ms since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    pub end_timestamp_ms: Option<i64>,
    /// `success`, `error`, or `pending` (logged, not answered yet).
    pub status: String,
    /// The error's stable code (`rate_limited`, `timeout`, ...).
    pub error_code: Option<String>,
    /// Scrubbed of keys and bearer tokens.
    pub error_message: Option<String>,
    pub http_status: Option<u16>,
    /// What the caller asked for (a route alias or a model) and the provider it named, if any.
    pub model_requested: String,
    pub provider_requested: Option<String>,
    /// What answered.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The routing strategy (`failover`, `weighted`, `race`, ...).
    pub route: Option<String>,
    pub attempts: u32,
    pub attempt_log: Vec<Attempt>,
    pub stream: bool,
    /// All prompt tokens, cached and cache-written ones included.
    pub input_tokens: u64,
    pub cached_tokens: u64,
    /// 5-minute and 1-hour cache writes together.
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    /// Part of `output_tokens`.
    pub reasoning_tokens: u64,
    /// `None` with `unpriced_reason` when the call could not be priced; 0 for a cache hit.
    pub cost_usd: Option<f64>,
    pub cost_nano_usd: Option<u64>,
    pub cost_detail: Option<CostDetail>,
    pub unpriced_reason: Option<String>,
    /// End to end, as the caller saw it.
    pub latency_ms: f64,
    pub time_to_first_token_ms: Option<f64>,
    /// A stream's mean time between output chunks after the first.
    pub time_per_output_chunk_ms: Option<f64>,
    /// Waiting in the request queue.
    pub queued_ms: f64,
    /// Time spent in the engine itself (not queued, not waiting on the provider).
    pub overhead_ms: Option<f64>,
    pub cache_hit: bool,
    /// `memory`, `redis` or `fs` for a cache hit.
    pub cache_tier: Option<String>,
    /// `metadata.user` of the request.
    pub user: Option<String>,
    /// Request messages: kept only when `log_bodies` is on.
    pub messages: Option<serde_json::Value>,
    /// The answer's text: kept only when `log_bodies` is on.
    pub response: Option<String>,
}

impl Default for RequestRecord {
    fn default() -> Self {
        RequestRecord {
            schema_version: SCHEMA_VERSION,
            request_id: String::new(),
            provider_request_id: None,
            timestamp_ms: 0,
            end_timestamp_ms: None,
            status: "success".into(),
            error_code: None,
            error_message: None,
            http_status: None,
            model_requested: String::new(),
            provider_requested: None,
            provider: None,
            model: None,
            route: None,
            attempts: 0,
            attempt_log: Vec::new(),
            stream: false,
            input_tokens: 0,
            cached_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: None,
            cost_nano_usd: None,
            cost_detail: None,
            unpriced_reason: None,
            latency_ms: 0.0,
            time_to_first_token_ms: None,
            time_per_output_chunk_ms: None,
            queued_ms: 0.0,
            overhead_ms: None,
            cache_hit: false,
            cache_tier: None,
            user: None,
            messages: None,
            response: None,
        }
    }
}

impl RequestRecord {
    /// The record of an answered call, for `model_requested` (the route or model asked for),
    /// started at `timestamp_ms`. The client adds what only it knows (route, attempt log,
    /// queue and first-token times, cache tier, user, and the bodies when they are kept).
    pub fn from_response(
        resp: &crate::llm::ChatResponse,
        model_requested: &str,
        timestamp_ms: i64,
    ) -> RequestRecord {
        let u = &resp.usage;
        let detail = resp.cost_detail.clone();
        RequestRecord {
            request_id: String::new(),
            provider_request_id: resp.request_id.clone(),
            timestamp_ms,
            end_timestamp_ms: Some(timestamp_ms + resp.latency_ms.round() as i64),
            model_requested: model_requested.to_owned(),
            provider: Some(resp.provider.clone()),
            model: Some(resp.model.clone()),
            attempts: resp.attempts,
            input_tokens: u.prompt_tokens,
            cached_tokens: u.cached_tokens,
            cache_write_tokens: u.cache_write_tokens + u.cache_write_1h_tokens,
            output_tokens: u.completion_tokens,
            reasoning_tokens: u.reasoning_tokens,
            cost_usd: resp.cost_usd,
            cost_nano_usd: detail.as_ref().and_then(|d| d.total_nano_usd),
            unpriced_reason: detail.as_ref().and_then(|d| d.unpriced_reason.clone()),
            cost_detail: detail,
            latency_ms: resp.latency_ms,
            cache_hit: resp.cached,
            ..Default::default()
        }
    }

    /// The record of a failed call: `status: error`, the error's code, its message (scrubbed
    /// when the record is logged) and `details.status` as the HTTP status when there is one.
    pub fn from_error(
        err: &Error,
        model_requested: &str,
        timestamp_ms: i64,
        latency_ms: f64,
    ) -> RequestRecord {
        let http_status = err
            .details
            .as_ref()
            .and_then(|d| d.get("status"))
            .and_then(|s| s.as_u64())
            .and_then(|s| u16::try_from(s).ok());
        RequestRecord {
            timestamp_ms,
            end_timestamp_ms: Some(timestamp_ms + latency_ms.round() as i64),
            status: "error".into(),
            error_code: Some(err.code().into()),
            error_message: Some(err.message.clone()),
            http_status,
            model_requested: model_requested.to_owned(),
            latency_ms,
            ..Default::default()
        }
    }
}

/// Seed 004's `DebugInfo`, for a response: derived from its record by [`DebugInfo::from_record`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DebugInfo {
    pub request_id: String,
    pub provider: String,
    pub model: String,
    /// End to end, ms (queue and engine included).
    pub duration_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// USD; `None` when unpriced.
    pub cost: Option<f64>,
    /// The provider's part, ms: `duration` less queueing and engine overhead.
    pub latency_ms: f64,
    pub time_to_first_token_ms: Option<f64>,
}

impl DebugInfo {
    pub fn from_record(r: &RequestRecord) -> DebugInfo {
        DebugInfo {
            request_id: r.request_id.clone(),
            provider: r.provider.clone().unwrap_or_default(),
            model: r.model.clone().unwrap_or_else(|| r.model_requested.clone()),
            duration_ms: r.latency_ms,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost: r.cost_usd,
            latency_ms: (r.latency_ms - r.queued_ms - r.overhead_ms.unwrap_or(0.0)).max(0.0),
            time_to_first_token_ms: r.time_to_first_token_ms,
        }
    }
}

/// A filter over the ring; every field optional, all given ones must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogQuery {
    /// `[start_ms, end_ms)` on `timestamp_ms`.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// The served provider or model (else the requested one, for a call that failed).
    pub provider: Option<String>,
    pub model: Option<String>,
    /// `success`, `error`, `pending`, or an error code (`timeout`).
    pub status: Option<String>,
    pub min_latency_ms: Option<f64>,
    /// The newest `limit` matches.
    pub limit: Option<usize>,
}

impl LogQuery {
    fn matches(&self, r: &RequestRecord) -> bool {
        let served = |served: &Option<String>, asked: Option<&String>, want: &String| {
            served.as_ref().or(asked) == Some(want)
        };
        self.start_ms.is_none_or(|s| r.timestamp_ms >= s)
            && self.end_ms.is_none_or(|e| r.timestamp_ms < e)
            && self
                .provider
                .as_ref()
                .is_none_or(|p| served(&r.provider, r.provider_requested.as_ref(), p))
            && self
                .model
                .as_ref()
                .is_none_or(|m| served(&r.model, Some(&r.model_requested), m))
            && self
                .status
                .as_ref()
                .is_none_or(|s| &r.status == s || r.error_code.as_ref() == Some(s))
            && self.min_latency_ms.is_none_or(|l| r.latency_ms >= l)
    }
}

/// The request log's settings (from `logging` in the config, or given directly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLogSettings {
    /// Records kept in memory.
    pub history: usize,
    pub log_bodies: bool,
    pub sink: Option<SinkSettings>,
}

impl Default for RequestLogSettings {
    fn default() -> Self {
        RequestLogSettings::from_config(&LoggingConfig::default())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSettings {
    pub path: PathBuf,
    #[serde(default = "d_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "d_max_files")]
    pub max_files: u32,
}

fn d_max_bytes() -> u64 {
    10 * 1024 * 1024
}
fn d_max_files() -> u32 {
    5
}

impl RequestLogSettings {
    pub fn from_config(c: &LoggingConfig) -> RequestLogSettings {
        RequestLogSettings {
            history: c.history.0 as usize,
            log_bodies: c.log_bodies,
            sink: c.sink.as_ref().map(|s| SinkSettings {
                path: PathBuf::from(&s.path),
                max_bytes: s.max_bytes.0,
                max_files: s.max_files.0.min(u32::MAX as u64) as u32,
            }),
        }
    }
}

/// Why a sink path is unusable (for config validation): empty, a directory, or in a directory
/// that does not exist.
pub fn check_sink_path(path: &str) -> std::result::Result<(), String> {
    if path.trim().is_empty() {
        return Err("expected a file path".into());
    }
    let p = Path::new(path);
    if p.is_dir() {
        return Err(format!("'{path}' is a directory, expected a file path"));
    }
    match p.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(format!("directory '{}' does not exist", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The JSON Lines file: appends whole lines; past `max_bytes` the file is rotated.
struct Sink {
    settings: SinkSettings,
    file: File,
    size: u64,
}

impl Sink {
    fn open(settings: SinkSettings) -> Result<Sink> {
        if let Err(why) = check_sink_path(&settings.path.to_string_lossy()) {
            return Err(Error::config(format!("logging.sink.path: {why}"))
                .with_details(serde_json::json!({ "path": "logging.sink.path" })));
        }
        if settings.max_bytes == 0 {
            return Err(
                Error::config("logging.sink.max_bytes: expected a positive number")
                    .with_details(serde_json::json!({ "path": "logging.sink.max_bytes" })),
            );
        }
        let file = Self::append(&settings.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Sink {
            settings,
            file,
            size,
        })
    }

    fn append(path: &Path) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(&format!("request log sink {}", path.display()), e))
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.settings.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// `path.N-1 → path.N … path → path.1`, the one past `max_files` deleted.
    fn rotate(&mut self) -> Result<()> {
        let keep = self.settings.max_files.max(1);
        let _ = std::fs::remove_file(self.rotated(keep));
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))
                    .map_err(|e| Error::io("request log sink rotation", e))?;
            }
        }
        std::fs::rename(&self.settings.path, self.rotated(1))
            .map_err(|e| Error::io("request log sink rotation", e))?;
        self.file = Self::append(&self.settings.path)?;
        self.size = 0;
        Ok(())
    }

    fn write(&mut self, line: &[u8]) -> Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.settings.max_bytes {
            self.rotate()?;
        }
        self.file
            .write_all(line)
            .map_err(|e| Error::io("request log sink", e))?;
        self.size += line.len() as u64;
        Ok(())
    }
}

struct Inner {
    ring: VecDeque<RequestRecord>,
    /// Logged with `log_request`, not answered yet (bounded like the ring).
    pending: HashMap<String, RequestRecord>,
    pending_order: VecDeque<String>,
    sink: Option<Sink>,
}

/// The request log. Thread-safe: one mutex around the ring and the sink.
pub struct RequestLog {
    settings: RequestLogSettings,
    inner: Mutex<Inner>,
    sink_errors: AtomicU64,
    next_id: AtomicU64,
}

impl RequestLog {
    /// Opens the sink if one is set (errors name `logging.sink.path`).
    pub fn new(settings: RequestLogSettings) -> Result<RequestLog> {
        if settings.history == 0 {
            return Err(Error::config("logging.history: expected a positive number")
                .with_details(serde_json::json!({ "path": "logging.history" })));
        }
        let sink = settings.sink.clone().map(Sink::open).transpose()?;
        Ok(RequestLog {
            inner: Mutex::new(Inner {
                ring: VecDeque::with_capacity(settings.history.min(4096)),
                pending: HashMap::new(),
                pending_order: VecDeque::new(),
                sink,
            }),
            settings,
            sink_errors: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        })
    }

    pub fn from_config(c: &LoggingConfig) -> Result<RequestLog> {
        RequestLog::new(RequestLogSettings::from_config(c))
    }

    pub fn settings(&self) -> &RequestLogSettings {
        &self.settings
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new request id (`req_<ms hex>_<n>`), unique within this log.
    pub fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("req_{:x}_{n}", now_ms())
    }

    /// What a record may hold: the schema version set, an id given, bodies dropped unless
    /// `log_bodies`, the error message scrubbed.
    fn clean(&self, mut r: RequestRecord) -> RequestRecord {
        r.schema_version = SCHEMA_VERSION;
        if r.request_id.is_empty() {
            r.request_id = self.new_id();
        }
        if !self.settings.log_bodies {
            r.messages = None;
            r.response = None;
        }
        if let Some(m) = &mut r.error_message {
            scrub_in_place(m);
        }
        if r.cost_usd.is_none() {
            r.cost_usd = r.cost_nano_usd.map(|n| n as f64 / 1e9);
        }
        if r.unpriced_reason.is_none() {
            r.unpriced_reason = r
                .cost_detail
                .as_ref()
                .and_then(|d| d.unpriced_reason.clone());
        }
        r
    }

    /// Adds a finished call (what the client calls once per call). Returns its request id.
    pub fn record(&self, r: RequestRecord) -> String {
        let r = self.clean(r);
        let id = r.request_id.clone();
        let mut g = self.lock();
        self.push(&mut g, r);
        id
    }

    fn push(&self, g: &mut Inner, r: RequestRecord) {
        if let Some(sink) = &mut g.sink {
            let mut line = serde_json::to_vec(&scrubbed(&r)).expect("records serialize");
            line.push(b'\n');
            if sink.write(&line).is_err() {
                self.sink_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        if g.ring.len() == self.settings.history {
            g.ring.pop_front();
        }
        g.ring.push_back(r);
    }

    /// Seed 004's `logRequest`: a call starts (`status: pending`); returns its request id.
    /// It enters the ring when answered ([`Self::log_response`] / [`Self::log_error`]).
    pub fn log_request(&self, r: RequestRecord) -> String {
        let mut r = self.clean(r);
        r.status = "pending".into();
        if r.timestamp_ms == 0 {
            r.timestamp_ms = now_ms();
        }
        let id = r.request_id.clone();
        let mut g = self.lock();
        if g.pending.insert(id.clone(), r).is_none() {
            g.pending_order.push_back(id.clone());
        }
        while g.pending.len() > self.settings.history {
            if let Some(old) = g.pending_order.pop_front() {
                g.pending.remove(&old);
            }
        }
        id
    }

    fn finish(&self, request_id: &str, fill: impl FnOnce(&mut RequestRecord)) -> RequestRecord {
        let mut g = self.lock();
        let mut r = g
            .pending
            .remove(request_id)
            .unwrap_or_else(|| RequestRecord {
                request_id: request_id.to_owned(),
                ..Default::default()
            });
        if let Some(i) = g.pending_order.iter().position(|x| x == request_id) {
            g.pending_order.remove(i);
        }
        let end = now_ms();
        if r.timestamp_ms == 0 {
            r.timestamp_ms = end;
        }
        fill(&mut r);
        if r.end_timestamp_ms.is_none() {
            r.end_timestamp_ms = Some(end.max(r.timestamp_ms));
        }
        if r.latency_ms == 0.0 {
            r.latency_ms = (r.end_timestamp_ms.unwrap_or(end) - r.timestamp_ms).max(0) as f64;
        }
        let r = self.clean(r);
        let out = scrubbed(&r);
        self.push(&mut g, r);
        out
    }

    /// [`Self::log_request`] for a request object as callers hold it: `model` and `provider`
    /// are what was asked for (`model_requested`, `provider_requested`), other keys the record
    /// does not have (`temperature`, ...) are left out.
    pub fn log_request_value(&self, request: serde_json::Value) -> Result<String> {
        let mut m = match request {
            serde_json::Value::Object(m) => m,
            _ => return Err(Error::invalid_input("request: expected an object")),
        };
        for (from, to) in [
            ("model", "model_requested"),
            ("provider", "provider_requested"),
        ] {
            if let Some(v) = m.remove(from) {
                m.entry(to).or_insert(v);
            }
        }
        let fields = merge_fields(serde_json::Value::Object(m))?;
        let mut r = RequestRecord::default();
        apply(&mut r, fields);
        Ok(self.log_request(r))
    }

    /// Seed 004's `logResponse`: the answer's fields (tokens, cost, provider, latency...)
    /// over the pending request's; a request id never logged makes a record of its own.
    pub fn log_response(
        &self,
        request_id: &str,
        response: serde_json::Value,
    ) -> Result<RequestRecord> {
        let update = merge_fields(response)?;
        Ok(self.finish(request_id, |r| {
            apply(r, update);
            r.status = "success".into();
        }))
    }

    /// Seed 004's `logError`: `code` (stable error code), `message` (scrubbed), `http_status`.
    pub fn log_error(&self, request_id: &str, error: serde_json::Value) -> Result<RequestRecord> {
        let update = merge_fields(error)?;
        Ok(self.finish(request_id, |r| {
            apply(r, update);
            r.status = "error".into();
            if r.error_code.is_none() {
                r.error_code = Some("internal".into());
            }
        }))
    }

    /// The newest `limit` records, oldest first.
    pub fn history(&self, limit: usize) -> Vec<RequestRecord> {
        let g = self.lock();
        g.ring
            .iter()
            .skip(g.ring.len().saturating_sub(limit))
            .map(scrubbed)
            .collect()
    }

    /// Records matching `q`, oldest first (the newest `q.limit` of them when set).
    pub fn query(&self, q: &LogQuery) -> Vec<RequestRecord> {
        let g = self.lock();
        let mut out: Vec<RequestRecord> = g
            .ring
            .iter()
            .filter(|r| q.matches(r))
            .map(scrubbed)
            .collect();
        if let Some(limit) = q.limit {
            out.drain(..out.len().saturating_sub(limit));
        }
        out
    }

    /// The ring as `json` (an array of records) or `csv` (one row per record, flat columns:
    /// the scalar fields; `attempt_log` and `cost_detail` as JSON text, bodies left out).
    pub fn export(&self, format: &str) -> Result<String> {
        let records = self.history(usize::MAX);
        match format {
            "json" => Ok(serde_json::to_string(&records).expect("records serialize")),
            "jsonl" => Ok(records
                .iter()
                .map(|r| serde_json::to_string(r).expect("records serialize") + "\n")
                .collect()),
            "csv" => Ok(to_csv(&records)),
            other => Err(Error::invalid_input(format!(
                "format: expected 'json', 'jsonl' or 'csv', got '{other}'"
            ))
            .with_details(serde_json::json!({ "field": "format" }))),
        }
    }

    /// Records in memory.
    pub fn len(&self) -> usize {
        self.lock().ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the sink failed to write (disk full, permissions): the call itself never fails.
    pub fn sink_errors(&self) -> u64 {
        self.sink_errors.load(Ordering::Relaxed)
    }

    pub fn clear(&self) {
        let mut g = self.lock();
        g.ring.clear();
        g.pending.clear();
        g.pending_order.clear();
    }
}

/// A response or error object (JSON) as record fields: `code`/`message` are taken for
/// `error_code`/`error_message`, `usage` for the token fields, `content` for `response`,
/// `cached` for `cache_hit`; keys the record does not have (a response's `id`, `choices`...)
/// are left out; known ones must have the record's types.
fn merge_fields(v: serde_json::Value) -> Result<serde_json::Map<String, serde_json::Value>> {
    let serde_json::Value::Object(mut m) = v else {
        return Err(Error::invalid_input("expected an object"));
    };
    for (from, to) in [
        ("code", "error_code"),
        ("message", "error_message"),
        ("content", "response"),
        ("cached", "cache_hit"),
    ] {
        if let Some(v) = m.remove(from) {
            m.entry(to).or_insert(v);
        }
    }
    if let Some(serde_json::Value::Object(u)) = m.remove("usage") {
        for (from, to) in [
            ("prompt_tokens", "input_tokens"),
            ("completion_tokens", "output_tokens"),
            ("cached_tokens", "cached_tokens"),
            ("cache_write_tokens", "cache_write_tokens"),
            ("reasoning_tokens", "reasoning_tokens"),
        ] {
            if let Some(v) = u.get(from) {
                m.entry(to).or_insert(v.clone());
            }
        }
    }
    let known = serde_json::to_value(RequestRecord::default()).expect("records serialize");
    m.retain(|k, _| known.get(k).is_some());
    serde_json::from_value::<RequestRecord>(serde_json::Value::Object(m.clone()))
        .map_err(|e| Error::invalid_input(format!("record: {e}")))?;
    Ok(m)
}

fn apply(r: &mut RequestRecord, update: serde_json::Map<String, serde_json::Value>) {
    let mut v = serde_json::to_value(&*r).expect("records serialize");
    if let serde_json::Value::Object(o) = &mut v {
        o.extend(update);
    }
    if let Ok(merged) = serde_json::from_value(v) {
        *r = merged;
    }
}

const CSV_COLUMNS: [&str; 33] = [
    "schema_version",
    "request_id",
    "provider_request_id",
    "timestamp_ms",
    "end_timestamp_ms",
    "status",
    "error_code",
    "error_message",
    "http_status",
    "model_requested",
    "provider_requested",
    "provider",
    "model",
    "route",
    "attempts",
    "attempt_log",
    "stream",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_nano_usd",
    "cost_detail",
    "unpriced_reason",
    "latency_ms",
    "time_to_first_token_ms",
    "time_per_output_chunk_ms",
    "queued_ms",
    "overhead_ms",
    "cache_hit",
    "cache_tier",
];

fn to_csv(records: &[RequestRecord]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CSV_COLUMNS);
    for r in records {
        let v = serde_json::to_value(r).expect("records serialize");
        let row = CSV_COLUMNS.iter().map(|c| match &v[*c] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let _ = w.write_record(row);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A record as it leaves the log (queries, exports, the sink): what came from the caller (model
/// and provider names, the user) scrubbed of keys and personal data. Done on the way out, not on
/// every call: reads are rarer than calls.
fn scrubbed(r: &RequestRecord) -> RequestRecord {
    let mut r = r.clone();
    scrub_in_place(&mut r.model_requested);
    for s in [
        &mut r.provider_requested,
        &mut r.provider,
        &mut r.model,
        &mut r.user,
    ]
    .into_iter()
    .flatten()
    {
        scrub_in_place(s);
    }
    for a in &mut r.attempt_log {
        scrub_in_place(&mut a.provider);
        scrub_in_place(&mut a.model);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_info_is_derived_from_a_record() {
        let r = RequestRecord {
            request_id: "r1".into(),
            provider: Some("openai".into()),
            model: Some("gpt-4o".into()),
            latency_ms: 120.0,
            queued_ms: 15.0,
            overhead_ms: Some(5.0),
            cost_usd: Some(0.25),
            ..Default::default()
        };
        let d = DebugInfo::from_record(&r);
        assert_eq!((d.duration_ms, d.latency_ms), (120.0, 100.0));
        assert_eq!(d.cost, Some(0.25));
    }
}
