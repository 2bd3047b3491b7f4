//! The core's `CostTracker` and request log for the TypeScript `CostTracker` and
//! `RequestLogger`. Records cross as plain objects: camelCase keys in and out (snake_case keys
//! are accepted in too), converted here by name only.
//!
//! `trackRequest` is a free function over the tracker's numeric handle with plain number
//! arguments: a class method call costs napi-rs a type-tag check that is several times the
//! work (see `resilience`).

use crate::error::{guard, to_js};
use crate::resilience::{stale, Handle, Handles};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};
use std::sync::Arc;
use trinity_core::cost::tracker::{
    CostTracker, TrackRecord, TrackRequest, TrackerSettings, DEFAULT_ALERT_THRESHOLDS,
};
use trinity_core::observe::request_log::SinkSettings;
use trinity_core::observe::{now_ms, DebugInfo, LogQuery, RequestLog, RequestLogSettings};
use trinity_core::Error as CoreError;

fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the keys of every object in `v`, except inside `messages` (a body, kept as given)
/// (map-valued results are renamed below their names, see `named_to_camel`); whole numbers
/// become integers.
fn rename(v: Value, f: fn(&str) -> String) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = if k == "messages" { v } else { rename(v, f) };
                    (f(&k), v)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| rename(v, f)).collect()),
        // JS numbers arrive as f64: whole ones become integers, as the core's counts are.
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => {
                Value::from(x as i64)
            }
            _ => Value::Number(n),
        },
        other => other,
    }
}

pub(crate) fn to_camel<T: serde::Serialize>(v: &T) -> Value {
    rename(
        serde_json::to_value(v).expect("core values serialize"),
        camel,
    )
}

/// A `Map` result: names as given, the summaries in camelCase.
fn named_to_camel<T: serde::Serialize>(v: &T) -> Value {
    match serde_json::to_value(v).expect("core values serialize") {
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, rename(v, camel))).collect())
        }
        other => other,
    }
}

fn from_camel<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> trinity_core::Result<T> {
    serde_json::from_value(rename(v, snake))
        .map_err(|e| CoreError::invalid_input(format!("{what}: {e}")))
}

fn count(v: f64, what: &str) -> trinity_core::Result<u64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v as u64)
    } else {
        Err(CoreError::invalid_input(format!(
            "{what}: expected a non-negative number"
        )))
    }
}

fn ms(v: f64, what: &str) -> trinity_core::Result<i64> {
    if v.is_finite() {
        Ok(v.round() as i64)
    } else {
        Err(CoreError::invalid_input(format!(
            "{what}: expected a Date or epoch ms"
        )))
    }
}

static TRACKERS: Handles<CostTracker> = Handles::new();

/// Options of `new CostTracker()`.
#[napi(object)]
#[derive(Default)]
pub struct CostTrackerOptions {
    /// Minutes of totals kept (default 31 days).
    pub retention_minutes: Option<u32>,
    /// Distinct (provider, model) series before new ones are summed under `(other)`.
    pub max_series: Option<u32>,
}

#[napi]
pub struct NativeCostTracker {
    cell: Handle<CostTracker>,
}

/// `trackRequest` over a tracker's handle: prices the call now; the cost in nano-USD, or
/// `null` when it could not be priced (counted as unpriced, never as $0).
#[napi]
pub fn cost_tracker_track_request(
    env: Env,
    handle: u32,
    model: String,
    input_tokens: f64,
    output_tokens: f64,
    cache_hit: Option<f64>,
) -> Result<Option<f64>> {
    let req = (|| {
        Ok::<_, CoreError>(TrackRequest {
            input_tokens: count(input_tokens, "inputTokens")?,
            output_tokens: count(output_tokens, "outputTokens")?,
            cache_hit: count(cache_hit.unwrap_or(0.0), "cacheHit")?,
            model,
        })
    })()
    .map_err(|e| to_js(&env, e))?;
    match TRACKERS.with(handle, |t| t.track_request(&req, now_ms())) {
        Some(cost) => Ok(cost.map(|n| n as f64)),
        None => Err(to_js(&env, stale("CostTracker"))),
    }
}

#[napi]
impl NativeCostTracker {
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<CostTrackerOptions>) -> Result<Self> {
        let o = options.unwrap_or_default();
        let d = TrackerSettings::default();
        guard(&env, || {
            let t = CostTracker::new(TrackerSettings {
                retention_minutes: o.retention_minutes.unwrap_or(d.retention_minutes),
                max_series: o.max_series.unwrap_or(d.max_series),
            })?;
            Ok(NativeCostTracker {
                cell: TRACKERS.register(t),
            })
        })
    }

    /// For `costTrackerTrackRequest`; valid while this object lives.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.cell.id
    }

    /// A call already priced: `{timestampMs, provider, model, inputTokens, outputTokens,
    /// cachedTokens, costNanoUsd (null: unpriced), cacheHit}`.
    #[napi]
    pub fn track(&self, env: Env, record: Value) -> Result<()> {
        guard(&env, || {
            let r: TrackRecord = from_camel(record, "record")?;
            self.cell.track(&r);
            Ok(())
        })
    }

    #[napi]
    pub fn by_provider(&self, env: Env, start_ms: f64, end_ms: f64) -> Result<Value> {
        guard(&env, || {
            let s = self
                .cell
                .by_provider(ms(start_ms, "start")?, ms(end_ms, "end")?);
            Ok(named_to_camel(&s))
        })
    }

    #[napi]
    pub fn by_model(&self, env: Env, start_ms: f64, end_ms: f64) -> Result<Value> {
        guard(&env, || {
            let s = self
                .cell
                .by_model(ms(start_ms, "start")?, ms(end_ms, "end")?);
            Ok(named_to_camel(&s))
        })
    }

    #[napi]
    pub fn total(&self, env: Env, start_ms: f64, end_ms: f64) -> Result<Value> {
        guard(&env, || {
            let s = self.cell.total(ms(start_ms, "start")?, ms(end_ms, "end")?);
            Ok(to_camel(&s))
        })
    }

    #[napi]
    pub fn budget_alerts(
        &self,
        env: Env,
        daily_limit: f64,
        now_ms_at: Option<f64>,
        thresholds: Option<Vec<f64>>,
    ) -> Result<Value> {
        guard(&env, || {
            let now = match now_ms_at {
                Some(n) => ms(n, "now")?,
                None => now_ms(),
            };
            let t = thresholds.unwrap_or_else(|| DEFAULT_ALERT_THRESHOLDS.to_vec());
            Ok(to_camel(&self.cell.budget_alerts(daily_limit, now, &t)?))
        })
    }

    #[napi]
    pub fn export_csv(&self, env: Env, start_ms: f64, end_ms: f64) -> Result<String> {
        guard(&env, || {
            Ok(self
                .cell
                .export_csv(ms(start_ms, "start")?, ms(end_ms, "end")?))
        })
    }

    #[napi]
    pub fn stats(&self) -> Value {
        to_camel(&self.cell.stats())
    }

    #[napi]
    pub fn clear(&self) {
        self.cell.clear()
    }
}

/// Options of `new RequestLogger()`.
#[napi(object)]
#[derive(Default)]
pub struct RequestLogOptions {
    /// Records kept in memory (default 1000).
    pub history: Option<u32>,
    /// Keep message bodies (default false).
    pub log_bodies: Option<bool>,
    /// `{path, maxBytes?, maxFiles?}`: also append each record to a JSON Lines file.
    pub sink: Option<Value>,
}

#[napi]
pub struct NativeRequestLog {
    log: Arc<RequestLog>,
}

impl NativeRequestLog {
    /// A client's own log.
    pub(crate) fn shared(log: Arc<RequestLog>) -> Self {
        NativeRequestLog { log }
    }
}

impl NativeCostTracker {
    /// A client's own tracker.
    pub(crate) fn shared(tracker: Arc<CostTracker>) -> Self {
        NativeCostTracker {
            cell: TRACKERS.register_shared(tracker),
        }
    }
}

#[napi]
impl NativeRequestLog {
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<RequestLogOptions>) -> Result<Self> {
        let o = options.unwrap_or_default();
        guard(&env, || {
            let d = RequestLogSettings::default();
            let sink = match o.sink {
                Some(Value::Null) | None => None,
                Some(v) => Some(from_camel::<SinkSettings>(v, "sink")?),
            };
            Ok(NativeRequestLog {
                log: Arc::new(RequestLog::new(RequestLogSettings {
                    history: o.history.map_or(d.history, |h| h as usize),
                    log_bodies: o.log_bodies.unwrap_or(false),
                    sink,
                })?),
            })
        })
    }

    /// A finished call (a record; missing fields take their defaults). Returns its id.
    #[napi]
    pub fn record(&self, env: Env, record: Value) -> Result<String> {
        guard(&env, || Ok(self.log.record(from_camel(record, "record")?)))
    }

    #[napi]
    pub fn log_request(&self, env: Env, request: Value) -> Result<String> {
        guard(&env, || self.log.log_request_value(rename(request, snake)))
    }

    #[napi]
    pub fn log_response(&self, env: Env, request_id: String, response: Value) -> Result<Value> {
        guard(&env, || {
            let r = self
                .log
                .log_response(&request_id, rename(response, snake))?;
            Ok(to_camel(&r))
        })
    }

    #[napi]
    pub fn log_error(&self, env: Env, request_id: String, error: Value) -> Result<Value> {
        guard(&env, || {
            let r = self.log.log_error(&request_id, rename(error, snake))?;
            Ok(to_camel(&r))
        })
    }

    #[napi]
    pub fn history(&self, limit: u32) -> Value {
        to_camel(&self.log.history(limit as usize))
    }

    /// `{startMs, endMs, provider, model, status, minLatencyMs, limit}`, all optional.
    #[napi]
    pub fn query(&self, env: Env, query: Value) -> Result<Value> {
        guard(&env, || {
            let q: LogQuery = from_camel(query, "query")?;
            Ok(to_camel(&self.log.query(&q)))
        })
    }

    /// Records as `json` (an array), `jsonl` or `csv`: the record schema's snake_case names,
    /// the same text every language exports and the sink writes.
    #[napi]
    pub fn export(&self, env: Env, format: String) -> Result<String> {
        guard(&env, || self.log.export(&format))
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.log.len() as u32
    }

    #[napi(getter)]
    pub fn sink_errors(&self) -> f64 {
        self.log.sink_errors() as f64
    }

    #[napi]
    pub fn clear(&self) {
        self.log.clear()
    }
}

/// Seed 004's `DebugInfo` of a record (camelCase in and out).
#[napi]
pub fn debug_info(env: Env, record: Value) -> Result<Value> {
    guard(&env, || {
        let r = from_camel(record, "record")?;
        Ok(to_camel(&DebugInfo::from_record(&r)))
    })
}
