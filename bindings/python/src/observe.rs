//! The core's `CostTracker` and request log for Python: `CostTracker` (seed 004's names in
//! snake_case), `RequestLog` and `debug_info(record)`. Times in are `datetime` (aware, or naive
//! read as local time, as `datetime.timestamp()` reads it) or epoch seconds (int or float);
//! times out are epoch ms, as the core keeps them. Calls take a mutex for a map update (no
//! GIL release: nothing blocks).

use crate::conv;
use crate::error::{call, invalid_input};
use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use std::sync::Arc;
use trinity_core::cost::tracker::{
    CostTracker, TrackRecord, TrackRequest, TrackerSettings, DEFAULT_ALERT_THRESHOLDS,
};
use trinity_core::observe::request_log::SinkSettings;
use trinity_core::observe::{now_ms, DebugInfo, LogQuery, RequestLog, RequestLogSettings};

/// A `datetime` or epoch seconds as epoch ms.
fn epoch_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    let seconds = if obj.hasattr(pyo3::intern!(obj.py(), "timestamp"))? {
        obj.call_method0(pyo3::intern!(obj.py(), "timestamp"))?
            .extract::<f64>()?
    } else {
        conv::number(obj, what).map_err(|_| {
            invalid_input(format!(
                "{what}: expected a datetime or epoch seconds, got {}",
                conv::type_name(obj)
            ))
        })?
    };
    if !seconds.is_finite() {
        return Err(invalid_input(format!("{what}: expected a finite time")));
    }
    Ok((seconds * 1e3).round() as i64)
}

fn opt_epoch_ms(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    match obj {
        Some(o) if !o.is_none() => epoch_ms(o, what).map(Some),
        _ => Ok(None),
    }
}

fn from_json<T: serde::de::DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<T> {
    let v = conv::json(obj, what)?;
    serde_json::from_value(v).map_err(|e| invalid_input(format!("{what}: {e}")))
}

/// Seed 004's `CostTracker`: per-minute cost totals per provider and model.
#[pyclass(frozen, name = "CostTracker", module = "trinity_core._native")]
pub struct PyCostTracker(pub Arc<CostTracker>);

#[pymethods]
impl PyCostTracker {
    #[new]
    #[pyo3(signature = (*, retention_minutes=31 * 24 * 60, max_series=10_000))]
    fn new(retention_minutes: u32, max_series: u32) -> PyResult<Self> {
        call(|| {
            CostTracker::new(TrackerSettings {
                retention_minutes,
                max_series,
            })
        })
        .map(|t| PyCostTracker(Arc::new(t)))
    }

    /// Prices a call from the registry and adds it now; returns its cost in nano-USD
    /// (`None`: the model or a rate is unknown, counted as unpriced, never as $0).
    #[pyo3(signature = (model, input_tokens, output_tokens, cache_hit=0))]
    fn track_request(
        &self,
        model: &str,
        input_tokens: u64,
        output_tokens: u64,
        cache_hit: u64,
    ) -> Option<u64> {
        let req = TrackRequest {
            model: model.to_owned(),
            input_tokens,
            output_tokens,
            cache_hit,
        };
        self.0.track_request(&req, now_ms())
    }

    /// Adds a call already priced: `{timestamp_ms, provider, model, input_tokens,
    /// output_tokens, cached_tokens, cost_nano_usd (None: unpriced), cache_hit}`.
    fn track(&self, record: &Bound<'_, PyAny>) -> PyResult<()> {
        let r: TrackRecord = from_json(record, "record")?;
        self.0.track(&r);
        Ok(())
    }

    /// `{provider: {usd, nano_usd, requests, input_tokens, output_tokens, cached_tokens,
    /// unpriced_requests, cache_hits}}` over `[start, end)`.
    fn get_cost_by_provider<'py>(
        &self,
        py: Python<'py>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (s, e) = (epoch_ms(start, "start")?, epoch_ms(end, "end")?);
        conv::serialized(py, &self.0.by_provider(s, e))
    }

    fn get_cost_by_model<'py>(
        &self,
        py: Python<'py>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (s, e) = (epoch_ms(start, "start")?, epoch_ms(end, "end")?);
        conv::serialized(py, &self.0.by_model(s, e))
    }

    /// USD over `[start, end)` (priced calls; see `summary` for the unpriced count).
    fn get_total_cost(&self, start: &Bound<'_, PyAny>, end: &Bound<'_, PyAny>) -> PyResult<f64> {
        let (s, e) = (epoch_ms(start, "start")?, epoch_ms(end, "end")?);
        Ok(self.0.total(s, e).usd)
    }

    /// The totals over `[start, end)`, as one dict.
    fn summary<'py>(
        &self,
        py: Python<'py>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (s, e) = (epoch_ms(start, "start")?, epoch_ms(end, "end")?);
        conv::serialized(py, &self.0.total(s, e))
    }

    /// Alerts for today (UTC; `now` to ask about another day) against `daily_limit` USD.
    #[pyo3(signature = (daily_limit, now=None, thresholds=None))]
    fn get_budget_alert<'py>(
        &self,
        py: Python<'py>,
        daily_limit: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
        thresholds: Option<Vec<f64>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = conv::number(daily_limit, "daily_limit")?;
        let now = opt_epoch_ms(now, "now")?.unwrap_or_else(now_ms);
        let t = thresholds.unwrap_or_else(|| DEFAULT_ALERT_THRESHOLDS.to_vec());
        let alerts = call(|| self.0.budget_alerts(limit, now, &t))?;
        conv::serialized(py, &alerts)
    }

    /// The minute buckets of `[start, end)` as RFC 4180 CSV with a header row.
    fn export_csv(&self, start: &Bound<'_, PyAny>, end: &Bound<'_, PyAny>) -> PyResult<String> {
        let (s, e) = (epoch_ms(start, "start")?, epoch_ms(end, "end")?);
        Ok(self.0.export_csv(s, e))
    }

    /// `{buckets, series, dropped, overflowed}`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.stats())
    }

    fn clear(&self) {
        self.0.clear()
    }
}

/// Seed 004's `RequestLogger`: one record per call, the last `history` in memory.
#[pyclass(frozen, name = "RequestLog", module = "trinity_core._native")]
pub struct PyRequestLog(pub Arc<RequestLog>);

#[pymethods]
impl PyRequestLog {
    #[new]
    #[pyo3(signature = (*, history=1000, log_bodies=false, sink=None))]
    fn new(history: usize, log_bodies: bool, sink: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let sink = match sink {
            Some(s) if !s.is_none() => Some(from_json::<SinkSettings>(s, "sink")?),
            _ => None,
        };
        call(|| {
            RequestLog::new(RequestLogSettings {
                history,
                log_bodies,
                sink,
            })
        })
        .map(|l| PyRequestLog(Arc::new(l)))
    }

    /// Adds a finished call (a record dict; missing fields take their defaults). Returns its id.
    fn record(&self, record: &Bound<'_, PyAny>) -> PyResult<String> {
        let r = from_json(record, "record")?;
        Ok(self.0.record(r))
    }

    /// A call starts: `{model, provider?, request_id?, messages?, ...}` (keys a record lacks are
    /// left out).
    /// Returns the request id to pass to `log_response` / `log_error`.
    fn log_request(&self, request: &Bound<'_, PyAny>) -> PyResult<String> {
        let v = conv::json(request, "request")?;
        call(|| self.0.log_request_value(v))
    }

    /// The call answered: the response's fields (`usage`, `cost_nano_usd`, `provider`,
    /// `model`, `latency_ms`, ...) complete the record, which is returned.
    fn log_response<'py>(
        &self,
        py: Python<'py>,
        request_id: &str,
        response: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = conv::json(response, "response")?;
        let r = call(|| self.0.log_response(request_id, v))?;
        conv::serialized(py, &r)
    }

    /// The call failed: an exception (its `.code`, else `internal`, and its text) or a dict
    /// `{code, message, http_status?}`. The message is scrubbed of keys before it is stored.
    fn log_error<'py>(
        &self,
        py: Python<'py>,
        request_id: &str,
        error: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = if error.is_instance_of::<PyBaseException>() {
            let code = match error.getattr("code") {
                Ok(c) => c.extract::<String>().unwrap_or_else(|_| "internal".into()),
                Err(_) => "internal".into(),
            };
            serde_json::json!({ "code": code, "message": error.str()?.to_string() })
        } else {
            conv::json(error, "error")?
        };
        let r = call(|| self.0.log_error(request_id, v))?;
        conv::serialized(py, &r)
    }

    /// The newest `limit` records, oldest first.
    #[pyo3(signature = (limit=100))]
    fn get_history<'py>(&self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyAny>> {
        conv::serialized(py, &self.0.history(limit))
    }

    /// Records matching every filter given, oldest first: `[start, end)` on the start time,
    /// the served provider/model (else the requested one), `status` (`success`, `error`,
    /// `pending` or an error code), `min_latency_ms`; the newest `limit` of them.
    #[pyo3(signature = (*, start=None, end=None, provider=None, model=None, status=None, min_latency_ms=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        start: Option<&Bound<'py, PyAny>>,
        end: Option<&Bound<'py, PyAny>>,
        provider: Option<String>,
        model: Option<String>,
        status: Option<String>,
        min_latency_ms: Option<f64>,
        limit: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let q = LogQuery {
            start_ms: opt_epoch_ms(start, "start")?,
            end_ms: opt_epoch_ms(end, "end")?,
            provider,
            model,
            status,
            min_latency_ms,
            limit,
        };
        conv::serialized(py, &self.0.query(&q))
    }

    /// The records in memory as `json` (an array), `jsonl` or `csv`.
    #[pyo3(signature = (format="json"))]
    fn export_logs(&self, format: &str) -> PyResult<String> {
        call(|| self.0.export(format))
    }

    #[getter]
    fn sink_errors(&self) -> u64 {
        self.0.sink_errors()
    }

    fn clear(&self) {
        self.0.clear()
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }
}

/// Seed 004's `DebugInfo` of a record: `{request_id, provider, model, duration_ms,
/// input_tokens, output_tokens, cost, latency_ms, time_to_first_token_ms}`.
#[pyfunction]
pub fn debug_info<'py>(py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let r = from_json(record, "record")?;
    conv::serialized(py, &DebugInfo::from_record(&r))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCostTracker>()?;
    m.add_class::<PyRequestLog>()?;
    m.add_function(wrap_pyfunction!(debug_info, m)?)?;
    Ok(())
}
