//! `CostTracker`: what calls cost, summed per minute per (provider, model), queried over time
//! ranges, exported as CSV and checked against a daily limit (seed 004's `CostTracker`).
//!
//! Memory is bounded whatever the traffic: a call adds to its minute's bucket for its
//! (provider, model) series, so the tracker holds at most `retention_minutes × max_series`
//! buckets. Minutes older than the retention (counted back from the newest record seen, so
//! the data's clock, not the wall clock, decides) are evicted as time moves on; a record
//! older than that is dropped and counted in [`TrackerStats::dropped`]. Series past
//! `max_series` (model names are caller strings) are summed under the model [`OTHER_SERIES`]
//! of their provider, as metrics libraries cap label cardinality.
//!
//! Money is integer nano-USD. A call that could not be priced (unknown model, missing rate)
//! adds its tokens and counts in `unpriced_requests`, never $0 to the cost: a summary whose
//! `unpriced_requests` is not 0 is a lower bound.

use crate::cost::cost;
use crate::cost::price::NANOS_PER_USD;
use crate::error::{Error, Result};
use crate::llm::Usage;
use crate::observe::iso8601_ms;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// The model name series beyond `max_series` are summed under.
pub const OTHER_SERIES: &str = "(other)";

/// Alert thresholds of [`CostTracker::budget_alerts`], as fractions of the daily limit.
pub const DEFAULT_ALERT_THRESHOLDS: [f64; 3] = [0.5, 0.8, 1.0];

/// One call, as the client (or a caller) reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRecord {
    /// When the call was made, ms since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    pub provider: String,
    pub model: String,
    /// All prompt tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (part of `input_tokens`).
    #[serde(default)]
    pub cached_tokens: u64,
    /// The call's cost; `None`: it could not be priced (counted, never summed as $0).
    #[serde(default)]
    pub cost_nano_usd: Option<u64>,
    /// Answered from the response cache (cost 0).
    #[serde(default)]
    pub cache_hit: bool,
}

impl TrackRecord {
    /// The record of an answered call (a cache hit costs 0 and counts in `cache_hits`).
    pub fn from_response(resp: &crate::llm::ChatResponse, timestamp_ms: i64) -> TrackRecord {
        TrackRecord {
            timestamp_ms,
            provider: resp.provider.clone(),
            model: resp.model.clone(),
            input_tokens: resp.usage.prompt_tokens,
            output_tokens: resp.usage.completion_tokens,
            cached_tokens: resp.usage.cached_tokens,
            cost_nano_usd: resp.cost_detail.as_ref().and_then(|d| d.total_nano_usd),
            cache_hit: resp.cached,
        }
    }
}

/// Seed 004's `trackRequest` argument: priced here from the registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackRequest {
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Cached input tokens (seed 004's `cacheHit`), part of `input_tokens`.
    #[serde(default)]
    pub cache_hit: u64,
}

/// Totals over a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSummary {
    /// `nano_usd` in USD.
    pub usd: f64,
    /// Exact sum of the priced calls, in nano-USD.
    pub nano_usd: u64,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    /// Calls that could not be priced: when not 0, `usd` is a lower bound.
    pub unpriced_requests: u64,
    /// Calls answered from the response cache.
    pub cache_hits: u64,
}

/// A daily-limit alert: spend today (UTC) has reached `threshold` of the limit, or some of
/// today's calls could not be priced (`kind: "unpriced"`: spend is a lower bound).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetAlert {
    /// `budget` or `unpriced`.
    pub kind: String,
    /// `info` (below 0.8), `warning` (0.8 up to 1.0), `critical` (the limit reached).
    pub severity: String,
    /// The fraction of the limit this alert is for (0 for `unpriced`).
    pub threshold: f64,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub spent_usd: f64,
    pub spent_nano_usd: u64,
    pub limit_usd: f64,
    /// `spent / limit`.
    pub fraction: f64,
    pub unpriced_requests: u64,
    /// When the day's window resets (next UTC midnight), ms since the epoch.
    pub resets_at_ms: i64,
    pub message: String,
}

/// Counters about the tracker itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackerStats {
    /// Minute buckets held now (at most `retention_minutes × (max_series + providers)`).
    pub buckets: usize,
    /// Distinct (provider, model) series.
    pub series: usize,
    /// Records older than the retention when they arrived.
    pub dropped: u64,
    /// Records summed under [`OTHER_SERIES`] because `max_series` was reached.
    pub overflowed: u64,
}

/// How long and how wide the tracker keeps totals.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackerSettings {
    /// Minutes kept (default 31 days).
    pub retention_minutes: u32,
    /// Distinct (provider, model) series before new ones go to [`OTHER_SERIES`] (default 10,000).
    pub max_series: u32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            retention_minutes: 31 * 24 * 60,
            max_series: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    nano_usd: u64,
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    unpriced: u64,
    cache_hits: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.nano_usd = self.nano_usd.saturating_add(o.nano_usd);
        self.requests += o.requests;
        self.input_tokens = self.input_tokens.saturating_add(o.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(o.output_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(o.cached_tokens);
        self.unpriced += o.unpriced;
        self.cache_hits += o.cache_hits;
    }

    fn summary(&self) -> CostSummary {
        CostSummary {
            usd: self.nano_usd as f64 / NANOS_PER_USD,
            nano_usd: self.nano_usd,
            requests: self.requests,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            unpriced_requests: self.unpriced,
            cache_hits: self.cache_hits,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// (minute since the epoch, series) → totals.
    buckets: BTreeMap<(i64, u32), Totals>,
    /// provider → model → series number.
    index: FxHashMap<String, FxHashMap<String, u32>>,
    /// series number → (provider, model).
    series: Vec<(String, String)>,
    newest_minute: i64,
    dropped: u64,
    overflowed: u64,
}

/// Per-minute cost totals per (provider, model). Thread-safe: one mutex, held for a map update.
pub struct CostTracker {
    settings: TrackerSettings,
    inner: Mutex<Inner>,
}

impl Default for CostTracker {
    fn default() -> Self {
        CostTracker::new(TrackerSettings::default()).expect("default settings are valid")
    }
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

/// `[start, end)` in ms → `[first, last)` minute: a minute is in when its start is.
fn minutes(start_ms: i64, end_ms: i64) -> (i64, i64) {
    (
        start_ms.div_euclid(MINUTE_MS) + i64::from(start_ms.rem_euclid(MINUTE_MS) != 0),
        end_ms.div_euclid(MINUTE_MS) + i64::from(end_ms.rem_euclid(MINUTE_MS) != 0),
    )
}

/// Exact USD text for nano-USD (`2.850000000`), as the CSV carries it.
pub fn usd_text(nano: u64) -> String {
    format!("{}.{:09}", nano / 1_000_000_000, nano % 1_000_000_000)
}

impl CostTracker {
    pub fn new(settings: TrackerSettings) -> Result<CostTracker> {
        if settings.retention_minutes == 0 || settings.max_series == 0 {
            return Err(Error::invalid_input(
                "retention_minutes and max_series must be positive",
            ));
        }
        Ok(CostTracker {
            settings,
            inner: Mutex::new(Inner {
                newest_minute: i64::MIN,
                ..Default::default()
            }),
        })
    }

    pub fn settings(&self) -> TrackerSettings {
        self.settings
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one call to its minute.
    pub fn track(&self, r: &TrackRecord) {
        let totals = Totals {
            nano_usd: r.cost_nano_usd.unwrap_or(0),
            requests: 1,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cached_tokens: r.cached_tokens,
            unpriced: u64::from(r.cost_nano_usd.is_none()),
            cache_hits: u64::from(r.cache_hit),
        };
        self.add(r.timestamp_ms, &r.provider, &r.model, &totals);
    }

    /// Seed 004's `trackRequest`: prices the call from the registry (`cache_hit` = cached input
    /// tokens), takes the provider from the registry (`unknown` for a model it lacks) and the
    /// time from `now_ms`. Returns the cost in nano-USD (`None`: unpriced).
    pub fn track_request(&self, req: &TrackRequest, now_ms: i64) -> Option<u64> {
        let model = crate::registry::global().find(&req.model);
        let usage = Usage {
            prompt_tokens: req.input_tokens,
            completion_tokens: req.output_tokens,
            total_tokens: req.input_tokens.saturating_add(req.output_tokens),
            cached_tokens: req.cache_hit.min(req.input_tokens),
            ..Default::default()
        };
        let detail = cost(model.as_deref(), &usage, false);
        crate::cost::count_unpriced(&detail);
        let (provider, name) = match &model {
            Some(m) => (m.provider.as_str(), m.id.as_str()),
            None => ("unknown", req.model.as_str()),
        };
        self.add(
            now_ms,
            provider,
            name,
            &Totals {
                nano_usd: detail.total_nano_usd.unwrap_or(0),
                requests: 1,
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
                cached_tokens: usage.cached_tokens,
                unpriced: u64::from(detail.total_nano_usd.is_none()),
                cache_hits: 0,
            },
        );
        detail.total_nano_usd
    }

    fn add(&self, ts: i64, provider: &str, model: &str, t: &Totals) {
        let minute = minute_of(ts);
        let retention = i64::from(self.settings.retention_minutes);
        let mut g = self.lock();
        if minute > g.newest_minute {
            g.newest_minute = minute;
            // Evict what fell out of the retention (the map is ordered by minute first).
            let oldest = minute - retention + 1;
            while let Some(entry) = g.buckets.first_entry() {
                if entry.key().0 >= oldest {
                    break;
                }
                entry.remove();
            }
        } else if minute <= g.newest_minute - retention {
            g.dropped += 1;
            return;
        }
        let series = self.series(&mut g, provider, model);
        g.buckets.entry((minute, series)).or_default().add(t);
    }

    fn series(&self, g: &mut Inner, provider: &str, model: &str) -> u32 {
        if let Some(&s) = g.index.get(provider).and_then(|m| m.get(model)) {
            return s;
        }
        let full = g.series.len() >= self.settings.max_series as usize;
        let model = if full {
            g.overflowed += 1;
            if let Some(&s) = g.index.get(provider).and_then(|m| m.get(OTHER_SERIES)) {
                return s;
            }
            OTHER_SERIES
        } else {
            model
        };
        let s = g.series.len() as u32;
        g.series.push((provider.to_owned(), model.to_owned()));
        g.index
            .entry(provider.to_owned())
            .or_default()
            .insert(model.to_owned(), s);
        s
    }

    /// Sums buckets of `[start_ms, end_ms)` by a key of their series.
    fn sum_by<K: Ord>(
        &self,
        start_ms: i64,
        end_ms: i64,
        key: impl Fn(&(String, String)) -> K,
    ) -> BTreeMap<K, Totals> {
        let (first, last) = minutes(start_ms, end_ms);
        let mut out = BTreeMap::new();
        if first >= last {
            return out;
        }
        let g = self.lock();
        for (&(_, s), t) in g.buckets.range((first, 0)..(last, 0)) {
            out.entry(key(&g.series[s as usize]))
                .or_insert_with(Totals::default)
                .add(t);
        }
        out
    }

    /// Totals of the calls in `[start_ms, end_ms)` (whole minutes: a minute counts when its
    /// start is in the range).
    pub fn total(&self, start_ms: i64, end_ms: i64) -> CostSummary {
        self.sum_by(start_ms, end_ms, |_| ())
            .remove(&())
            .unwrap_or_default()
            .summary()
    }

    /// Totals per provider.
    pub fn by_provider(&self, start_ms: i64, end_ms: i64) -> BTreeMap<String, CostSummary> {
        self.sum_by(start_ms, end_ms, |(p, _)| p.clone())
            .into_iter()
            .map(|(k, t)| (k, t.summary()))
            .collect()
    }

    /// Totals per model (a model served by two providers sums both).
    pub fn by_model(&self, start_ms: i64, end_ms: i64) -> BTreeMap<String, CostSummary> {
        self.sum_by(start_ms, end_ms, |(_, m)| m.clone())
            .into_iter()
            .map(|(k, t)| (k, t.summary()))
            .collect()
    }

    /// Alerts for the UTC day holding `now_ms` against `daily_limit_usd`: one per threshold
    /// reached (default [`DEFAULT_ALERT_THRESHOLDS`]), plus one `unpriced` alert when some of
    /// the day's calls could not be priced. Empty when spend is below every threshold.
    pub fn budget_alerts(
        &self,
        daily_limit_usd: f64,
        now_ms: i64,
        thresholds: &[f64],
    ) -> Result<Vec<BudgetAlert>> {
        if !daily_limit_usd.is_finite() || daily_limit_usd <= 0.0 {
            return Err(Error::invalid_input(format!(
                "daily_limit: expected a positive number of USD, got {daily_limit_usd}"
            ))
            .with_details(serde_json::json!({ "field": "daily_limit" })));
        }
        if let Some(t) = thresholds.iter().find(|t| !t.is_finite() || **t <= 0.0) {
            return Err(Error::invalid_input(format!(
                "thresholds: expected positive fractions, got {t}"
            )));
        }
        let day_start = now_ms.div_euclid(DAY_MS) * DAY_MS;
        let spent = self.total(day_start, day_start + DAY_MS);
        let limit_nano = (daily_limit_usd * NANOS_PER_USD).round() as u64;
        let fraction = spent.nano_usd as f64 / limit_nano.max(1) as f64;
        let day = iso8601_ms(day_start)[..10].to_owned();
        let alert = |kind: &str, severity: &str, threshold: f64, message: String| BudgetAlert {
            kind: kind.into(),
            severity: severity.into(),
            threshold,
            day: day.clone(),
            spent_usd: spent.usd,
            spent_nano_usd: spent.nano_usd,
            limit_usd: daily_limit_usd,
            fraction,
            unpriced_requests: spent.unpriced_requests,
            resets_at_ms: day_start + DAY_MS,
            message,
        };
        let mut sorted = thresholds.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut out = Vec::new();
        for t in sorted {
            if (spent.nano_usd as f64) < limit_nano as f64 * t {
                continue;
            }
            let severity = match t {
                t if t >= 1.0 => "critical",
                t if t >= 0.8 => "warning",
                _ => "info",
            };
            out.push(alert(
                "budget",
                severity,
                t,
                format!(
                    "daily spend ${} reached {:.0}% of the ${daily_limit_usd} limit on {day}",
                    usd_text(spent.nano_usd),
                    t * 100.0
                ),
            ));
        }
        if spent.unpriced_requests > 0 {
            out.push(alert(
                "unpriced",
                "warning",
                0.0,
                format!(
                    "{} call(s) on {day} could not be priced: spend is a lower bound",
                    spent.unpriced_requests
                ),
            ));
        }
        Ok(out)
    }

    /// The buckets of `[start_ms, end_ms)` as CSV (RFC 4180, header row, CRLF-free `\n` line
    /// ends, fields quoted when they hold a comma, quote or line break): `minute` (ISO 8601
    /// UTC), `provider`, `model`, `requests`, `input_tokens`, `output_tokens`, `cached_tokens`,
    /// `cost_usd` (exact, 9 decimals), `cost_nano_usd`, `unpriced_requests`, `cache_hits`;
    /// ordered by minute, provider, model.
    pub fn export_csv(&self, start_ms: i64, end_ms: i64) -> String {
        let (first, last) = minutes(start_ms, end_ms);
        let mut rows: Vec<(i64, &str, &str, Totals)> = Vec::new();
        let g = self.lock();
        if first < last {
            for (&(m, s), t) in g.buckets.range((first, 0)..(last, 0)) {
                let (p, model) = &g.series[s as usize];
                rows.push((m, p, model, *t));
            }
        }
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = [
            "minute",
            "provider",
            "model",
            "requests",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost_usd",
            "cost_nano_usd",
            "unpriced_requests",
            "cache_hits",
        ];
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        for (m, p, model, t) in rows {
            let _ = w.write_record([
                iso8601_ms(m * MINUTE_MS).as_str(),
                p,
                model,
                &t.requests.to_string(),
                &t.input_tokens.to_string(),
                &t.output_tokens.to_string(),
                &t.cached_tokens.to_string(),
                &usd_text(t.nano_usd),
                &t.nano_usd.to_string(),
                &t.unpriced.to_string(),
                &t.cache_hits.to_string(),
            ]);
        }
        drop(g);
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    pub fn stats(&self) -> TrackerStats {
        let g = self.lock();
        TrackerStats {
            buckets: g.buckets.len(),
            series: g.series.len(),
            dropped: g.dropped,
            overflowed: g.overflowed,
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        *self.lock() = Inner {
            newest_minute: i64::MIN,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_whole_minutes() {
        assert_eq!(minutes(0, 60_000), (0, 1));
        assert_eq!(minutes(1, 60_000), (1, 1));
        assert_eq!(minutes(-1, 1), (0, 1));
        assert_eq!(usd_text(2_850_000_000), "2.850000000");
        assert_eq!(usd_text(5), "0.000000005");
    }
}
