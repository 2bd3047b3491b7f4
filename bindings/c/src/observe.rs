//! The cost tracker and request log handles, JSON in and JSON out.
//!
//! `trinity_cost_tracker_*`: per-minute cost totals per (provider, model), range queries,
//! budget alerts, CSV. `trinity_request_log_*`: one record per call, the last `history` kept,
//! queries, JSON / JSON Lines / CSV exports, an optional JSON Lines sink rotated by size.
//! Times are ms since the Unix epoch (UTC); money is integer nano-USD plus USD.
//!
//! Every function on a live handle is safe from any thread, concurrently; only the `_free`
//! functions need the caller to be the handle's last user.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, str_in, string_out, trinity_string};
use serde::Deserialize;
use std::ffi::c_char;
use std::sync::Arc;
use trinity_core::cost::tracker::{
    CostTracker, TrackRecord, TrackRequest, TrackerSettings, DEFAULT_ALERT_THRESHOLDS,
};
use trinity_core::observe::{now_ms, LogQuery, RequestLog, RequestLogSettings};
use trinity_core::{Error, Result};

/// A cost tracker. Opaque; make with `trinity_cost_tracker_new`, free with `trinity_cost_tracker_free`.
pub struct trinity_cost_tracker {
    inner: Arc<CostTracker>,
}

/// A request log. Opaque; make with `trinity_request_log_new`, free with `trinity_request_log_free`.
pub struct trinity_request_log {
    inner: Arc<RequestLog>,
}

unsafe fn tracker<'a>(ptr: *const trinity_cost_tracker) -> Result<&'a CostTracker> {
    // SAFETY: NULL or a live handle from `trinity_cost_tracker_new` (header contract).
    unsafe { ptr.as_ref() }
        .map(|t| &*t.inner)
        .ok_or_else(|| Error::invalid_input("tracker: NULL handle (never made, or already freed)"))
}

unsafe fn request_log<'a>(ptr: *const trinity_request_log) -> Result<&'a RequestLog> {
    // SAFETY: NULL or a live handle from `trinity_request_log_new` (header contract).
    unsafe { ptr.as_ref() }
        .map(|t| &*t.inner)
        .ok_or_else(|| Error::invalid_input("log: NULL handle (never made, or already freed)"))
}

/// JSON text as `T`, or the defaults when `len` is 0.
unsafe fn typed_in<T: serde::de::DeserializeOwned + Default>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<T> {
    if len == 0 {
        return Ok(T::default());
    }
    let v = unsafe { json_in(ptr, len, what) }?;
    serde_json::from_value(v).map_err(|e| {
        Error::invalid_input(format!("{what}: {e}"))
            .with_details(serde_json::json!({ "field": what }))
    })
}

/// Makes a cost tracker. `settings_json`: `{"retention_minutes": 44640, "max_series": 10000}`
/// (both optional; `len` 0 for the defaults).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON, a setting of 0, NULL out-parameter).
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_cost_tracker_new(
    settings_json: *const c_char,
    len: usize,
    out_tracker: *mut *mut trinity_cost_tracker,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_tracker, "out_tracker")?;
        *out = std::ptr::null_mut();
        let settings: TrackerSettings = typed_in(settings_json, len, "settings_json")?;
        let inner = Arc::new(CostTracker::new(settings)?);
        *out = Box::into_raw(Box::new(trinity_cost_tracker { inner }));
        Ok(())
    })
}

/// Frees a cost tracker. NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user.
#[no_mangle]
pub unsafe extern "C" fn trinity_cost_tracker_free(tracker: *mut trinity_cost_tracker) {
    crate::boundary::guard((), || {
        if !tracker.is_null() {
            // SAFETY: a handle from `trinity_cost_tracker_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(tracker) });
        }
    })
}

/// Adds one call. `record_json` is either a priced record, `{"timestamp_ms", "provider",
/// "model", "input_tokens", "output_tokens", "cached_tokens", "cost_nano_usd" (null:
/// unpriced), "cache_hit"}`, or seed 004's request, `{"model", "input_tokens",
/// "output_tokens", "cache_hit" (cached input tokens)}` (no `provider`), priced from the
/// registry at the current time. Writes `{"cost_nano_usd": n | null}` to `out_json` (may be NULL).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, bad JSON, unknown or mistyped field).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cost_tracker_track(
    tracker: *const trinity_cost_tracker,
    record_json: *const c_char,
    len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let t = self::tracker(tracker)?;
        let v = json_in(record_json, len, "record_json")?;
        let bad = |e: serde_json::Error| Error::invalid_input(format!("record_json: {e}"));
        let cost = if v.get("provider").is_some() {
            let r: TrackRecord = serde_json::from_value(v).map_err(bad)?;
            t.track(&r);
            r.cost_nano_usd
        } else {
            let r: TrackRequest = serde_json::from_value(v).map_err(bad)?;
            t.track_request(&r, now_ms())
        };
        if !out_json.is_null() {
            put_json(
                string_out(out_json, "out_json")?,
                &serde_json::json!({ "cost_nano_usd": cost }),
            )?;
        }
        Ok(())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackerQuery {
    /// `total`, `by_provider`, `by_model`, `budget_alerts`, `export_csv` or `stats`.
    op: String,
    #[serde(default)]
    start_ms: i64,
    #[serde(default = "far_future")]
    end_ms: i64,
    daily_limit: Option<f64>,
    now_ms: Option<i64>,
    thresholds: Option<Vec<f64>>,
}

fn far_future() -> i64 {
    i64::MAX / 2
}

/// Answers a query, `{"op", "start_ms", "end_ms", ...}` (`[start_ms, end_ms)`, whole minutes;
/// default: everything), writing JSON to `out_json`:
/// - `total`: `{"usd", "nano_usd", "requests", "input_tokens", "output_tokens", "cached_tokens",
///   "unpriced_requests", "cache_hits"}`;
/// - `by_provider`, `by_model`: `{name: totals}`;
/// - `budget_alerts` (`"daily_limit"` USD, optional `"now_ms"`, `"thresholds"`): `[{"kind",
///   "severity", "threshold", "day", "spent_usd", "spent_nano_usd", "limit_usd", "fraction",
///   "unpriced_requests", "resets_at_ms", "message"}]`;
/// - `export_csv`: the CSV text as a JSON string;
/// - `stats`: `{"buckets", "series", "dropped", "overflowed"}`.
///
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, bad JSON, unknown op, bad daily limit).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cost_tracker_query(
    tracker: *const trinity_cost_tracker,
    query_json: *const c_char,
    len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let t = self::tracker(tracker)?;
        let out = string_out(out_json, "out_json")?;
        let v = json_in(query_json, len, "query_json")?;
        let q: TrackerQuery = serde_json::from_value(v)
            .map_err(|e| Error::invalid_input(format!("query_json: {e}")))?;
        let (s, e) = (q.start_ms, q.end_ms);
        match q.op.as_str() {
            "total" => put_json(out, &t.total(s, e)),
            "by_provider" => put_json(out, &t.by_provider(s, e)),
            "by_model" => put_json(out, &t.by_model(s, e)),
            "export_csv" => put_json(out, &t.export_csv(s, e)),
            "stats" => put_json(out, &t.stats()),
            "budget_alerts" => {
                let thresholds = q.thresholds.unwrap_or_else(|| DEFAULT_ALERT_THRESHOLDS.to_vec());
                let limit = q.daily_limit.unwrap_or(f64::NAN);
                put_json(out, &t.budget_alerts(limit, q.now_ms.unwrap_or_else(now_ms), &thresholds)?)
            }
            other => Err(Error::invalid_input(format!(
                "op: expected total, by_provider, by_model, budget_alerts, export_csv or stats, got '{other}'"
            ))),
        }
    })
}

/// Makes a request log. `settings_json`: `{"history": 1000, "log_bodies": false, "sink":
/// {"path", "max_bytes", "max_files"}}` (all optional; `len` 0 for the defaults).
/// Errors: `TRINITY_ERR_CONFIG` (a sink path in a missing directory; details `{"path":
/// "logging.sink.path"}`), `TRINITY_ERR_INVALID_INPUT`, `TRINITY_ERR_IO`.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_request_log_new(
    settings_json: *const c_char,
    len: usize,
    out_log: *mut *mut trinity_request_log,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_log, "out_log")?;
        *out = std::ptr::null_mut();
        let settings: RequestLogSettings = typed_in(settings_json, len, "settings_json")?;
        let inner = Arc::new(RequestLog::new(settings)?);
        *out = Box::into_raw(Box::new(trinity_request_log { inner }));
        Ok(())
    })
}

/// Frees a request log (closing its sink). NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user.
#[no_mangle]
pub unsafe extern "C" fn trinity_request_log_free(log: *mut trinity_request_log) {
    crate::boundary::guard((), || {
        if !log.is_null() {
            // SAFETY: a handle from `trinity_request_log_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(log) });
        }
    })
}

/// Logs a call. `kind` is `record` (a finished call: the record's fields), `request` (a call
/// starts: `{"model", "provider", "request_id", "messages", ...}`), `response` or `error`
/// (completing the call named by `request_id`: the answer's fields, or `{"code", "message",
/// "http_status"}`; the message is scrubbed of API keys). Writes to `out_json` the request id
/// as a JSON string (`record`, `request`) or the finished record (`response`, `error`).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, bad JSON, unknown kind or field).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_request_log_log(
    log: *const trinity_request_log,
    kind: *const c_char,
    kind_len: usize,
    request_id: *const c_char,
    request_id_len: usize,
    json: *const c_char,
    json_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let l = request_log(log)?;
        let out = string_out(out_json, "out_json")?;
        let kind = str_in(kind, kind_len, "kind")?;
        let id = str_in(request_id, request_id_len, "request_id")?;
        let v = json_in(json, json_len, "json")?;
        match kind {
            "record" => {
                let r = serde_json::from_value(v)
                    .map_err(|e| Error::invalid_input(format!("json: {e}")))?;
                put_json(out, &l.record(r))
            }
            "request" => put_json(out, &l.log_request_value(v)?),
            "response" => put_json(out, &l.log_response(id, v)?),
            "error" => put_json(out, &l.log_error(id, v)?),
            other => Err(Error::invalid_input(format!(
                "kind: expected record, request, response or error, got '{other}'"
            ))),
        }
    })
}

/// Records matching `query_json`, oldest first, as a JSON array: `{"start_ms", "end_ms",
/// "provider", "model", "status", "min_latency_ms", "limit"}`, all optional (`len` 0: all;
/// `{"limit": n}` is the history of the newest n).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, bad JSON, unknown field).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_request_log_query(
    log: *const trinity_request_log,
    query_json: *const c_char,
    len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let l = request_log(log)?;
        let out = string_out(out_json, "out_json")?;
        let q: LogQuery = typed_in(query_json, len, "query_json")?;
        put_json(out, &l.query(&q))
    })
}

/// The records in memory as `json` (an array), `jsonl` or `csv` text in `out_text`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, unknown format).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_request_log_export(
    log: *const trinity_request_log,
    format: *const c_char,
    format_len: usize,
    out_text: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let l = request_log(log)?;
        let out = string_out(out_text, "out_text")?;
        let format = str_in(format, format_len, "format")?;
        *out = trinity_string::new(l.export(format)?);
        Ok(())
    })
}

/// A new handle on the client's own cost tracker (every answered call through the client,
/// priced), to query like any tracker and free with `trinity_cost_tracker_free`; it stays
/// valid after the client is freed. Errors: `TRINITY_ERR_INVALID_INPUT` (NULL client or
/// out-parameter).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_cost_tracker(
    client: *const crate::client::trinity_client,
    out_tracker: *mut *mut trinity_cost_tracker,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_tracker, "out_tracker")?;
        *out = std::ptr::null_mut();
        let inner = crate::client::client(client)?.costs().clone();
        *out = Box::into_raw(Box::new(trinity_cost_tracker { inner }));
        Ok(())
    })
}

/// A new handle on the client's own request log (one record per call through the client:
/// answered, failed, cache hit, stream, cancelled), freed with `trinity_request_log_free`; it
/// stays valid after the client is freed. Errors: `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_request_log(
    client: *const crate::client::trinity_client,
    out_log: *mut *mut trinity_request_log,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_log, "out_log")?;
        *out = std::ptr::null_mut();
        let inner = crate::client::client(client)?.request_log().clone();
        *out = Box::into_raw(Box::new(trinity_request_log { inner }));
        Ok(())
    })
}

/// Writes the client's metrics as OpenMetrics text (OpenTelemetry GenAI names and the
/// engine's own under `metrics.prefix`, ending `# EOF`) to `out_text`. Errors:
/// `TRINITY_ERR_CONFIG` (`metrics.enabled` is false), `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_metrics_text(
    client: *const crate::client::trinity_client,
    out_text: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_text, "out_text")?;
        *out = trinity_string::new(crate::client::client(client)?.metrics_text()?);
        Ok(())
    })
}
