//! Seed 003's `get_performance_report()`: count, average, min, max — plus p50, p95, p99 — per
//! metric, over the whole run.
//!
//! Count, sum, min and max are exact. Percentiles are nearest-rank (the smallest value with at
//! least q of the values at or below it): exact over the values themselves for the first
//! 65,536 of a metric (what agent runs take), then from an HDR histogram — the crate the
//! provider monitor already uses — at 3 significant digits (within 0.1%), so a run of any
//! length keeps its memory bounded.

use super::events::EventLogStatus;
use super::limits::StopReason;
use hdrhistogram::Histogram;
use serde::Serialize;

/// One metric's figures; the optional ones are `None` (JSON `null`) while `count` is 0.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    pub count: u64,
    pub total: f64,
    pub average: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// The run so far.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerformanceReport {
    pub run_id: String,
    /// Since the guard was created.
    pub elapsed_ms: f64,
    /// Steps finished (a step cancelled at the deadline included).
    pub steps: u64,
    pub failed_steps: u64,
    pub llm_calls: u64,
    pub failed_llm_calls: u64,
    /// Answered calls that could not be priced: left out of `cost_usd`, never counted as 0.
    pub unpriced_llm_calls: u64,
    /// Why the guard stopped the run, if it did.
    pub stopped: Option<StopInfo>,
    pub step_duration_ms: MetricSummary,
    pub llm_call_duration_ms: MetricSummary,
    /// Per LLM call.
    pub input_tokens: MetricSummary,
    pub output_tokens: MetricSummary,
    /// Input plus output, per LLM call.
    pub tokens: MetricSummary,
    /// Per priced LLM call.
    pub cost_usd: MetricSummary,
    pub event_log: Option<EventLogStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StopInfo {
    pub reason: StopReason,
    pub message: String,
    /// The `guard_stopped` error's details (rule, steps, limits).
    pub details: serde_json::Value,
}

/// Values of one metric, as integers in its unit.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
    /// Every value while there are at most [`EXACT_UP_TO`]; emptied after.
    values: Vec<u64>,
    hist: Histogram<u64>,
}

/// Values kept for exact percentiles (512 KiB a metric at most).
const EXACT_UP_TO: usize = 65_536;

impl Series {
    pub fn new() -> Series {
        Series {
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            values: Vec::new(),
            // Auto-resizing: no upper bound to guess.
            hist: Histogram::new(3).expect("3 significant digits is valid"),
        }
    }

    pub fn record(&mut self, v: u64) {
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.values.len() < EXACT_UP_TO && self.count as usize <= EXACT_UP_TO {
            self.values.push(v);
        } else if !self.values.is_empty() {
            self.values = Vec::new();
        }
        // `record` grows the histogram (`saturating_record` would clamp to its current top).
        if self.hist.record(v).is_err() {
            self.hist.saturating_record(v);
        }
    }

    /// The figures divided by `unit` (1000 for µs → ms, 10⁹ for nano-USD → USD).
    pub fn summary(&self, unit: f64) -> MetricSummary {
        let scaled = |v: u64| v as f64 / unit;
        if self.count == 0 {
            return MetricSummary {
                count: 0,
                total: 0.0,
                average: None,
                min: None,
                max: None,
                p50: None,
                p95: None,
                p99: None,
            };
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let q = |q: f64| {
            let v = if sorted.len() as u64 == self.count {
                let rank = ((q * self.count as f64).ceil() as usize).clamp(1, sorted.len());
                sorted[rank - 1]
            } else {
                // The histogram answers the top of a bucket: keep it within what was seen.
                self.hist.value_at_quantile(q).clamp(self.min, self.max)
            };
            Some(scaled(v))
        };
        MetricSummary {
            count: self.count,
            total: self.sum as f64 / unit,
            average: Some(self.sum as f64 / self.count as f64 / unit),
            min: Some(scaled(self.min)),
            max: Some(scaled(self.max)),
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// Everything the report is made of.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub steps: u64,
    pub failed_steps: u64,
    pub llm_calls: u64,
    pub failed_llm_calls: u64,
    pub unpriced_llm_calls: u64,
    pub step_us: Series,
    pub llm_us: Series,
    pub input_tokens: Series,
    pub output_tokens: Series,
    pub tokens: Series,
    pub cost_nano_usd: Series,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            steps: 0,
            failed_steps: 0,
            llm_calls: 0,
            failed_llm_calls: 0,
            unpriced_llm_calls: 0,
            step_us: Series::new(),
            llm_us: Series::new(),
            input_tokens: Series::new(),
            output_tokens: Series::new(),
            tokens: Series::new(),
            cost_nano_usd: Series::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_figures() {
        let mut s = Series::new();
        assert_eq!(s.summary(1.0).count, 0);
        assert_eq!(s.summary(1.0).p50, None);
        for v in 1..=100 {
            s.record(v);
        }
        let m = s.summary(1.0);
        assert_eq!(m.count, 100);
        assert_eq!(m.total, 5050.0);
        assert_eq!(m.average, Some(50.5));
        assert_eq!(m.min, Some(1.0));
        assert_eq!(m.max, Some(100.0));
        assert_eq!(m.p50, Some(50.0));
        assert_eq!(m.p95, Some(95.0));
        assert_eq!(m.p99, Some(99.0));
        // µs → ms, large values within 0.1%.
        let mut s = Series::new();
        for v in [1_000_000u64, 2_000_000, 3_000_000, 250_000_000] {
            s.record(v);
        }
        let m = s.summary(1000.0);
        assert_eq!(m.min, Some(1000.0));
        assert_eq!(m.max, Some(250_000.0));
        assert_eq!(m.average, Some(64_000.0));
        assert_eq!(m.p50, Some(2000.0));
        assert_eq!(m.p99, Some(250_000.0));
        // Past the exact window: from the histogram, within 0.1%.
        let mut s = Series::new();
        for v in 0..(EXACT_UP_TO as u64 * 2) {
            s.record(1_000_000 + v);
        }
        assert!(s.values.is_empty());
        let m = s.summary(1.0);
        let want = 1_000_000.0 + EXACT_UP_TO as f64;
        let p50 = m.p50.unwrap();
        assert!((p50 - want).abs() / want < 0.001, "{p50}");
        assert_eq!(m.min, Some(1_000_000.0));
    }
}
