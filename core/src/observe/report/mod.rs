//! The performance report (seed 004's `generateReport('html' | 'pdf')`). It shows what
//! load-test reports leave out: per provider latency percentiles, error rate, throughput and
//! output tokens per second over time (the monitor's history), state and recoveries, circuit
//! breakers, and from the request log errors by code and provider, retries and fallbacks,
//! cache hits by tier, time to first token, calls over time and cost by model and over time.
//!
//! The figures are gathered once into a renderer-neutral [`Model`] (headings, paragraphs,
//! tables, line charts); [`html`] draws it as one self-contained page (no script, no CDN, charts
//! as inline SVG) and [`pdf`] as an A4 document (pdf-writer, base-14 Helvetica with
//! WinAnsiEncoding, so its text is extractable). The size of either is bounded, not by the
//! traffic: the request log's records are read one at a time into [`RecordStats`] (bounded
//! tables and at most [`MAX_TIME_BUCKETS`] time buckets), and every chart series is averaged
//! down to at most [`MAX_CHART_POINTS`] points: a million records and a day of history for
//! three providers make ~80 kB of HTML and ~150 kB of PDF.

mod html;
mod pdf;

pub use html::html;
pub use pdf::pdf;

/// The formats a report renders to.
pub const FORMATS: [&str; 2] = ["html", "pdf"];

/// `invalid_input` unless `format` is one of [`FORMATS`]: checked before any work is done.
pub fn check_format(format: &str) -> crate::Result<()> {
    if FORMATS.contains(&format) {
        return Ok(());
    }
    Err(
        crate::Error::invalid_input(format!("format: expected 'html' or 'pdf', got '{format}'"))
            .with_details(serde_json::json!({ "format": format, "allowed": FORMATS })),
    )
}

/// The report as `format` (see [`check_format`]), as bytes.
pub fn render(d: &ReportData<'_>, format: &str) -> crate::Result<Vec<u8>> {
    check_format(format)?;
    Ok(match format {
        "pdf" => pdf(d),
        _ => html(d).into_bytes(),
    })
}

use super::monitor::{HistoryPoint, ProviderHealth};
use super::RequestRecord;
use std::collections::BTreeMap;

/// The most points a chart series is drawn with; longer series are averaged over time buckets.
pub const MAX_CHART_POINTS: usize = 300;
/// The most distinct keys of each [`RecordStats`] table (error code × provider, cache tier,
/// model); calls past it are counted under `other`.
pub const MAX_KEYS: usize = 256;
/// The most time buckets [`RecordStats`] keeps; when full, neighbours merge (the width doubles).
pub const MAX_TIME_BUCKETS: usize = 512;
const OTHER: &str = "other";
/// The first width of a [`RecordStats`] time bucket.
const FIRST_WIDTH_MS: i64 = 1000;

/// One circuit breaker: its deployment (`provider/model`) and its state now.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerRow {
    pub deployment: String,
    /// `closed`, `half_open` or `open`.
    pub state: String,
}

/// What the report is drawn from.
pub struct ReportData<'a> {
    pub title: &'a str,
    pub generated_ms: i64,
    pub health: &'a [ProviderHealth],
    /// Per provider, its history buckets, oldest first.
    pub history: &'a BTreeMap<String, Vec<HistoryPoint>>,
    /// The request log's records, summed up (fed oldest first).
    pub records: &'a RecordStats,
    /// The circuit breakers (from the metrics; empty when metrics are off).
    pub breaker: Vec<BreakerRow>,
}

/// What the report needs of the request log, gathered one record at a time: a million records
/// cost no more memory than a hundred (the tables are capped at [`MAX_KEYS`] keys, the time
/// buckets at [`MAX_TIME_BUCKETS`]).
#[derive(Clone, Debug, Default)]
pub struct RecordStats {
    calls: u64,
    /// Error code → provider of the last attempt → calls.
    errors: BTreeMap<String, BTreeMap<String, u64>>,
    error_pairs: usize,
    tiers: BTreeMap<String, u64>,
    /// Model → (calls, USD).
    cost_by_model: BTreeMap<String, (u64, f64)>,
    retries: u64,
    fallbacks: u64,
    ttft_sum: f64,
    streams: u64,
    spent: f64,
    /// 0 before the first record.
    width_ms: i64,
    buckets: Vec<TimeBucket>,
}

#[derive(Clone, Debug)]
struct TimeBucket {
    /// Start / width.
    index: i64,
    last_ms: i64,
    calls: u64,
    errors: u64,
    /// Cumulative spend after the bucket's last call.
    spent: f64,
    ttft_sum: f64,
    streams: u64,
}

impl TimeBucket {
    fn merge(&mut self, later: &TimeBucket) {
        self.last_ms = self.last_ms.max(later.last_ms);
        self.calls += later.calls;
        self.errors += later.errors;
        self.spent = later.spent;
        self.ttft_sum += later.ttft_sum;
        self.streams += later.streams;
    }
}

/// The value of `key` in `map`, made when missing; past `cap` keys, the value of [`OTHER`].
/// Allocates only for a key not seen yet.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str, cap: usize) -> &'m mut V {
    let key = if map.contains_key(key) || map.len() < cap {
        key
    } else {
        OTHER
    };
    if map.contains_key(key) {
        return map.get_mut(key).expect("checked");
    }
    map.entry(key.to_owned()).or_default()
}

impl RecordStats {
    /// Counts one record (feed them oldest first: a record older than the last bucket counts
    /// in the last bucket).
    pub fn add(&mut self, r: &RequestRecord) {
        self.calls += 1;
        let error = r.error_code.is_some();
        if let Some(code) = &r.error_code {
            // A failed call was served by no one: the provider of its last attempt failed it.
            let provider = r
                .provider
                .as_deref()
                .or_else(|| r.attempt_log.last().map(|a| a.provider.as_str()))
                .unwrap_or("–");
            let known = self
                .errors
                .get(code.as_str())
                .is_some_and(|m| m.contains_key(provider));
            let (code, provider) = if known || self.error_pairs < MAX_KEYS {
                (code.as_str(), provider)
            } else {
                (OTHER, OTHER)
            };
            let by_provider = slot(&mut self.errors, code, usize::MAX);
            if !by_provider.contains_key(provider) {
                self.error_pairs += 1;
            }
            *slot(by_provider, provider, usize::MAX) += 1;
        }
        *slot(
            &mut self.tiers,
            r.cache_tier.as_deref().unwrap_or("miss"),
            MAX_KEYS,
        ) += 1;
        for pair in r.attempt_log.windows(2) {
            let same = pair[0].provider == pair[1].provider && pair[0].model == pair[1].model;
            *(if same {
                &mut self.retries
            } else {
                &mut self.fallbacks
            }) += 1;
        }
        let ttft = r.time_to_first_token_ms.filter(|t| t.is_finite());
        if let Some(t) = ttft {
            self.ttft_sum += t;
            self.streams += 1;
        }
        let cost = r.cost_usd.filter(|c| c.is_finite()).unwrap_or(0.0);
        let model = r.model.as_deref().unwrap_or(&r.model_requested);
        let e = slot(&mut self.cost_by_model, model, MAX_KEYS);
        e.0 += 1;
        e.1 += cost;
        self.spent += cost;
        self.add_to_bucket(r.timestamp_ms, error, ttft);
    }

    fn add_to_bucket(&mut self, ts: i64, error: bool, ttft: Option<f64>) {
        if self.width_ms == 0 {
            self.width_ms = FIRST_WIDTH_MS;
        }
        let bucket = TimeBucket {
            index: ts.div_euclid(self.width_ms),
            last_ms: ts,
            calls: 1,
            errors: error.into(),
            spent: self.spent,
            ttft_sum: ttft.unwrap_or(0.0),
            streams: ttft.is_some().into(),
        };
        match self.buckets.last_mut() {
            Some(last) if last.index >= bucket.index => last.merge(&bucket),
            _ => {
                self.buckets.push(bucket);
                while self.buckets.len() > MAX_TIME_BUCKETS {
                    self.coarsen();
                }
            }
        }
    }

    /// Doubles the bucket width, merging neighbours.
    fn coarsen(&mut self) {
        self.width_ms = self.width_ms.saturating_mul(2);
        let mut merged: Vec<TimeBucket> = Vec::with_capacity(self.buckets.len() / 2 + 1);
        for mut b in self.buckets.drain(..) {
            b.index = b.index.div_euclid(2);
            match merged.last_mut() {
                Some(last) if last.index >= b.index => last.merge(&b),
                _ => merged.push(b),
            }
        }
        self.buckets = merged;
    }

    /// Records counted.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// What they cost, USD.
    pub fn spent_usd(&self) -> f64 {
        self.spent
    }
}

/// The report, ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    pub title: String,
    pub generated: String,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Block {
    /// Level 2 (a section) or 3 (a part of one).
    Heading(u8, String),
    Paragraph(String),
    /// Column heads, then rows; the first column is text, the others figures.
    Table(Vec<String>, Vec<Vec<String>>),
    Chart(Chart),
}

/// A line chart; every series has at most [`MAX_CHART_POINTS`] points, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Chart {
    pub title: String,
    pub unit: String,
    /// (name, points of (ms since the epoch, value)).
    pub series: Vec<(String, Vec<(i64, f64)>)>,
}

impl Chart {
    fn block(title: &str, unit: &str, series: Vec<(&str, Vec<(i64, f64)>)>) -> Block {
        Chart::with(title, unit, series, Reduce::Mean)
    }

    fn with(
        title: &str,
        unit: &str,
        series: Vec<(&str, Vec<(i64, f64)>)>,
        reduce: Reduce,
    ) -> Block {
        Block::Chart(Chart {
            title: title.into(),
            unit: unit.into(),
            series: series
                .into_iter()
                .map(|(name, points)| {
                    let points = downsample(points, MAX_CHART_POINTS, reduce);
                    (name.to_owned(), points)
                })
                .collect(),
        })
    }
}

/// How [`downsample`] makes one point of many.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reduce {
    /// Their mean time and value (rates, latencies).
    Mean,
    /// The latest (running totals: the curve still ends at the total).
    Last,
}

/// `points` when there are at most `max`, else one point per each of `max` equal spans of time.
fn downsample(points: Vec<(i64, f64)>, max: usize, reduce: Reduce) -> Vec<(i64, f64)> {
    if points.len() <= max || max == 0 {
        return points;
    }
    if reduce == Reduce::Last {
        let x0 = points.iter().map(|p| p.0).min().unwrap_or(0);
        let x1 = points.iter().map(|p| p.0).max().unwrap_or(0);
        let span = (x1 as f64 - x0 as f64).max(1.0);
        let mut last: Vec<Option<(i64, f64)>> = vec![None; max];
        for &(x, y) in &points {
            let i = (((x as f64 - x0 as f64) / span * max as f64) as usize).min(max - 1);
            if last[i].is_none_or(|p| p.0 <= x) {
                last[i] = Some((x, y));
            }
        }
        return last.into_iter().flatten().collect();
    }
    let x0 = points.iter().map(|p| p.0).min().unwrap_or(0);
    let x1 = points.iter().map(|p| p.0).max().unwrap_or(0);
    let span = (x1 as f64 - x0 as f64).max(1.0);
    let mut sums = vec![(0i128, 0.0f64, 0u32); max];
    for &(x, y) in &points {
        let i = (((x as f64 - x0 as f64) / span * max as f64) as usize).min(max - 1);
        let s = &mut sums[i];
        s.0 += i128::from(x);
        s.1 += y;
        s.2 += 1;
    }
    sums.into_iter()
        .filter(|s| s.2 > 0)
        .map(|(x, y, n)| ((x / i128::from(n)) as i64, y / f64::from(n)))
        .collect()
}

pub(crate) fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "–".to_owned(), |x| format!("{x:.digits$}"))
}

fn series(points: &[HistoryPoint], f: impl Fn(&HistoryPoint) -> Option<f64>) -> Vec<(i64, f64)> {
    points
        .iter()
        .filter_map(|p| f(p).filter(|v| v.is_finite()).map(|v| (p.start_ms, v)))
        .collect()
}

fn heads(h: &[&str]) -> Vec<String> {
    h.iter().map(|s| (*s).to_owned()).collect()
}

impl Model {
    /// Gathers every figure of the report once.
    pub(crate) fn new(d: &ReportData<'_>) -> Model {
        let mut blocks = Vec::new();
        let rows: Vec<Vec<String>> = d
            .health
            .iter()
            .map(|h| {
                vec![
                    h.provider.clone(),
                    h.state.as_str().to_owned(),
                    h.requests.to_string(),
                    num(h.error_rate.map(|e| e * 100.0), 1),
                    num(h.latency_ms, 1),
                    num(h.p50_ms, 1),
                    num(h.p95_ms, 1),
                    num(h.p99_ms, 1),
                    num(Some(h.requests_per_minute), 1),
                    num(h.tokens_per_second, 1),
                    format!("{:.2}%", h.availability * 100.0),
                    h.recoveries.to_string(),
                    num(h.avg_error_recovery_ms.map(|m| m / 1000.0), 1),
                ]
            })
            .collect();
        blocks.push(Block::Heading(2, "Providers (live window)".into()));
        blocks.push(Block::Table(
            heads(&[
                "provider",
                "state",
                "attempts",
                "error %",
                "mean ms",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "per min",
                "tokens/s",
                "availability",
                "recoveries",
                "mean recovery s",
            ]),
            rows,
        ));
        blocks.push(Block::Heading(2, "Circuit breakers".into()));
        if d.breaker.is_empty() {
            blocks.push(Block::Paragraph("none".into()));
        } else {
            blocks.push(Block::Table(
                heads(&["deployment", "state"]),
                d.breaker
                    .iter()
                    .map(|b| vec![b.deployment.clone(), b.state.clone()])
                    .collect(),
            ));
        }
        for (provider, points) in d.history {
            blocks.push(Block::Heading(2, format!("{provider} over time")));
            blocks.push(Chart::block(
                "Latency percentiles",
                "ms",
                vec![
                    ("p50", series(points, |p| p.p50_ms)),
                    ("p95", series(points, |p| p.p95_ms)),
                    ("p99", series(points, |p| p.p99_ms)),
                ],
            ));
            blocks.push(Chart::block(
                "Error rate",
                "%",
                vec![(
                    "errors",
                    series(points, |p| p.error_rate.map(|e| e * 100.0)),
                )],
            ));
            blocks.push(Chart::block(
                "Attempts per bucket",
                "",
                vec![("attempts", series(points, |p| Some(p.requests as f64)))],
            ));
            blocks.push(Chart::block(
                "Output tokens per second",
                "tok/s",
                vec![("tokens/s", series(points, |p| p.tokens_per_second))],
            ));
        }
        records_section(d.records, &mut blocks);
        Model {
            title: d.title.to_owned(),
            generated: super::iso8601_ms(d.generated_ms),
            blocks,
        }
    }
}

/// What the request log's records add: errors, retries, cache, TTFT, calls and cost.
fn records_section(s: &RecordStats, blocks: &mut Vec<Block>) {
    let n = s.calls.max(1) as f64;
    blocks.push(Block::Heading(
        2,
        format!("Calls in the request log ({})", s.calls),
    ));
    blocks.push(Block::Paragraph(format!(
        "Retries: {} · fallbacks: {} · mean time to first token: {} ms over {} streams",
        s.retries,
        s.fallbacks,
        num((s.streams > 0).then(|| s.ttft_sum / s.streams as f64), 1),
        s.streams
    )));
    let rows = s
        .errors
        .iter()
        .flat_map(|(code, by)| {
            by.iter()
                .map(move |(p, c)| vec![code.clone(), p.clone(), c.to_string()])
        })
        .collect();
    blocks.push(Block::Heading(3, "Errors by code and provider".into()));
    blocks.push(Block::Table(heads(&["error", "provider", "calls"]), rows));
    let rows = s
        .tiers
        .iter()
        .map(|(t, c)| {
            vec![
                t.clone(),
                c.to_string(),
                format!("{:.1}%", *c as f64 / n * 100.0),
            ]
        })
        .collect();
    blocks.push(Block::Heading(3, "Cache by tier".into()));
    blocks.push(Block::Table(heads(&["tier", "calls", "share"]), rows));
    let rows = s
        .cost_by_model
        .iter()
        .map(|(m, (c, usd))| vec![m.clone(), c.to_string(), format!("{usd:.6}")])
        .collect();
    blocks.push(Block::Heading(3, "Cost by model".into()));
    blocks.push(Block::Table(heads(&["model", "calls", "USD"]), rows));

    let width = s.width_ms.max(1);
    let per_minute = 60_000.0 / width as f64;
    // Buckets without calls are not kept: a gap is drawn as zero calls.
    let (mut calls, mut errors) = (Vec::new(), Vec::new());
    let mut prev: Option<i64> = None;
    for b in &s.buckets {
        if let Some(p) = prev.filter(|p| b.index > p + 1) {
            for i in [p + 1, b.index - 1] {
                calls.push((i * width, 0.0));
                errors.push((i * width, 0.0));
            }
        }
        calls.push((b.index * width, b.calls as f64 * per_minute));
        errors.push((b.index * width, b.errors as f64 * per_minute));
        prev = Some(b.index);
    }
    calls.dedup_by_key(|p| p.0);
    errors.dedup_by_key(|p| p.0);
    blocks.push(Chart::block(
        "Calls per minute",
        "calls/min",
        vec![("calls", calls), ("errors", errors)],
    ));
    blocks.push(Chart::block(
        "Time to first token (mean)",
        "ms",
        vec![(
            "TTFT",
            s.buckets
                .iter()
                .filter(|b| b.streams > 0)
                .map(|b| (b.index * width, b.ttft_sum / b.streams as f64))
                .collect(),
        )],
    ));
    blocks.push(Chart::with(
        "Cost over time (cumulative)",
        "USD",
        vec![(
            "spent",
            s.buckets.iter().map(|b| (b.last_ms, b.spent)).collect(),
        )],
        Reduce::Last,
    ));
}

#[cfg(test)]
mod tests;
