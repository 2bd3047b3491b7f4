//! Provider health (`client.monitor`, seed 004's `ProviderMonitor`), fed by every attempt the
//! client makes and, where configured, by active health checks.
//!
//! Each provider keeps three bucketed sliding windows: a fast one of 1 s buckets (counts only)
//! that decides `down` within seconds, the live window (`monitor.window_s` in 10 buckets, with
//! HDR latency histograms at 2 significant digits: percentiles within 1%) behind latency,
//! error rate and `degraded`, and the history (`history_bucket_s` buckets over
//! `history_hours`, 1 significant digit: about 1.3 KB a bucket). States move down at once and
//! up only after the better state has held `recover_s` (hysteresis). A task on the runtime
//! evaluates every `eval_interval_ms` and fires callbacks there, never on the request path.
//!
//! What counts as a failure is the provider's doing: a 5xx, a timeout, a network error. A 429
//! is counted as `rate_limited` (the provider is up, just busy); other 4xx are the caller's.

use crate::config::{HealthCheckConfig, MonitorConfig};
use crate::error::{Error, ErrorKind};
use crate::resilience::{Clock, ManualClock};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Latencies are recorded in µs up to an hour (longer ones saturate).
const HIGHEST_US: u64 = 3_600_000_000;
const LIVE_BUCKETS: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderState {
    /// Nothing observed yet.
    Unknown,
    Healthy,
    Degraded,
    Down,
}

impl ProviderState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderState::Unknown => "unknown",
            ProviderState::Healthy => "healthy",
            ProviderState::Degraded => "degraded",
            ProviderState::Down => "down",
        }
    }

    /// Worse states rank higher (`unknown` ranks with `healthy`).
    fn rank(self) -> u8 {
        match self {
            ProviderState::Unknown | ProviderState::Healthy => 0,
            ProviderState::Degraded => 1,
            ProviderState::Down => 2,
        }
    }
}

/// How one attempt (or health check) ended, for the provider's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The provider's fault: 5xx, timeout, network.
    Failed,
    /// 429: up, but busy.
    RateLimited,
    /// The caller's fault (4xx) or a local refusal: counted as a request only.
    Rejected,
}

impl Outcome {
    pub fn of_error(e: &Error) -> Outcome {
        let status = e
            .details
            .as_ref()
            .and_then(|d| d.get("status"))
            .and_then(|s| s.as_u64());
        match e.kind {
            ErrorKind::RateLimited => Outcome::RateLimited,
            ErrorKind::Provider if status.is_some_and(|s| (400..500).contains(&s)) => {
                Outcome::Rejected
            }
            ErrorKind::Provider | ErrorKind::Timeout | ErrorKind::Network => Outcome::Failed,
            _ => Outcome::Rejected,
        }
    }

    /// The outcome of an attempt the request log recorded: its error code (`None`: answered)
    /// and, for a `provider` error, the HTTP status if known (a 4xx is the caller's fault).
    pub fn of_code(code: Option<&str>, status: Option<u16>) -> Outcome {
        let Some(code) = code else {
            return Outcome::Ok;
        };
        match ErrorKind::from_code(code) {
            Some(ErrorKind::RateLimited) => Outcome::RateLimited,
            Some(ErrorKind::Provider) if status.is_some_and(|s| (400..500).contains(&s)) => {
                Outcome::Rejected
            }
            Some(ErrorKind::Provider | ErrorKind::Timeout | ErrorKind::Network) => Outcome::Failed,
            _ => Outcome::Rejected,
        }
    }
}

/// One provider's figures over the live window (`window_s`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProviderHealth {
    pub provider: String,
    pub state: ProviderState,
    /// When the provider entered its state, ms since the Unix epoch.
    pub since_ms: i64,
    pub window_s: u64,
    pub requests: u64,
    /// Attempts that answered (the rest failed, were rate limited or refused).
    pub answered: u64,
    pub failures: u64,
    pub rate_limited: u64,
    /// Failures / requests; `None` without requests.
    pub error_rate: Option<f64>,
    /// Mean latency of answered attempts, ms.
    pub latency_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Slowest and fastest answered attempt over the window, ms.
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Attempts per minute over the window.
    pub requests_per_minute: f64,
    /// Output tokens per second of generation, over the answers that reported usage.
    pub tokens_per_second: Option<f64>,
    /// Share of the last hour (or of the time since first seen) the provider was not `down`.
    pub availability: f64,
    /// Incidents (degraded or down) that ended, and how long they lasted on average, ms.
    pub recoveries: u64,
    pub avg_error_recovery_ms: Option<f64>,
    /// Attempts in flight now, plus requests waiting in its queue.
    pub queue_depth: u64,
    /// Failed attempts or health checks in a row.
    pub consecutive_failures: u32,
}

/// One history bucket.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub start_ms: i64,
    pub end_ms: i64,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: Option<f64>,
    pub latency_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub tokens_per_second: Option<f64>,
}

/// Seed 003's summary of one figure: how many, their mean, the least and the most.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub average: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Seed 004's `PerformanceMetrics` of one provider over the window (times in ms).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Performance {
    pub provider: String,
    /// Answered attempts: count, mean, fastest, slowest.
    pub latency_ms: Summary,
    pub p95_latency_ms: Option<f64>,
    pub p99_latency_ms: Option<f64>,
    pub requests_per_minute: f64,
    pub tokens_per_second: Option<f64>,
    pub error_rate: Option<f64>,
    pub avg_error_recovery_ms: Option<f64>,
}

impl From<&ProviderHealth> for Performance {
    fn from(h: &ProviderHealth) -> Performance {
        Performance {
            provider: h.provider.clone(),
            latency_ms: Summary {
                count: h.answered,
                average: h.latency_ms,
                min: h.min_ms,
                max: h.max_ms,
            },
            p95_latency_ms: h.p95_ms,
            p99_latency_ms: h.p99_ms,
            requests_per_minute: h.requests_per_minute,
            tokens_per_second: h.tokens_per_second,
            error_rate: h.error_rate,
            avg_error_recovery_ms: h.avg_error_recovery_ms,
        }
    }
}

/// What a callback is told.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitorEvent {
    /// `state_change`, `provider_down`, `high_latency` or `high_error_rate`.
    pub kind: &'static str,
    pub provider: String,
    pub from: ProviderState,
    pub to: ProviderState,
    /// The figure that crossed its threshold (p95 ms, error rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub at_ms: i64,
    pub health: ProviderHealth,
}

type Callback = Arc<dyn Fn(&MonitorEvent) + Send + Sync>;

/// What a callback waits for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Condition {
    StateChange,
    Down,
    /// p95 over the window at or above this many ms.
    HighLatency(f64),
    /// Error rate over the window at or above this.
    HighErrorRate(f64),
}

impl Condition {
    /// From a binding: `state_change`, `down`, `high_latency` (p95 ms) or `high_error_rate`,
    /// snake_case or camelCase; the threshold is checked when registered.
    pub fn parse(kind: &str, threshold: Option<f64>) -> crate::Result<Condition> {
        let t = threshold.unwrap_or(f64::NAN);
        match kind {
            "state_change" | "stateChange" => Ok(Condition::StateChange),
            "down" | "provider_down" | "providerDown" => Ok(Condition::Down),
            "high_latency" | "highLatency" => Ok(Condition::HighLatency(t)),
            "high_error_rate" | "highErrorRate" => Ok(Condition::HighErrorRate(t)),
            other => Err(Error::invalid_input(format!(
                "kind: expected state_change, down, high_latency or high_error_rate, got '{other}'"
            ))),
        }
    }
}

struct Watch {
    /// `None`: every provider.
    provider: Option<String>,
    condition: Condition,
    /// Providers whose condition already fired and has not cleared since.
    fired: Mutex<Vec<String>>,
    callback: Callback,
}

#[derive(Clone, Copy, Default)]
struct Counts {
    requests: u64,
    failures: u64,
    rate_limited: u64,
    answered: u64,
    latency_sum_us: u64,
    output_tokens: u64,
    /// Time of the answers that reported output tokens.
    token_us: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.rate_limited += o.rate_limited;
        self.answered += o.answered;
        self.latency_sum_us += o.latency_sum_us;
        self.output_tokens += o.output_tokens;
        self.token_us += o.token_us;
    }

    fn tokens_per_second(&self) -> Option<f64> {
        (self.token_us > 0).then(|| self.output_tokens as f64 / (self.token_us as f64 / 1e6))
    }

    fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.failures as f64 / self.requests as f64)
    }

    fn mean_ms(&self) -> Option<f64> {
        (self.answered > 0).then(|| self.latency_sum_us as f64 / self.answered as f64 / 1000.0)
    }
}

struct Slot {
    index: u64,
    counts: Counts,
    latency: Option<Histogram<u32>>,
}

/// Buckets of `width_s` seconds, the newest `keep` of them.
struct Ring {
    width_s: u64,
    keep: u64,
    sigfig: Option<u8>,
    slots: VecDeque<Slot>,
}

impl Ring {
    fn new(width_s: u64, keep: u64, sigfig: Option<u8>) -> Ring {
        Ring {
            width_s: width_s.max(1),
            keep: keep.max(1),
            sigfig,
            slots: VecDeque::new(),
        }
    }

    fn record(&mut self, now_s: u64, outcome: Outcome, latency_us: u64, tokens: Option<u64>) {
        let index = now_s / self.width_s;
        if self.slots.back().is_none_or(|s| s.index < index) {
            let latency = self
                .sigfig
                .map(|d| Histogram::new_with_bounds(1, HIGHEST_US, d).expect("valid bounds"));
            self.slots.push_back(Slot {
                index,
                counts: Counts::default(),
                latency,
            });
            while self
                .slots
                .front()
                .is_some_and(|s| s.index + self.keep <= index)
            {
                self.slots.pop_front();
            }
        }
        // An attempt that ended in an older bucket than the newest lands in the newest.
        let slot = self.slots.back_mut().expect("pushed above");
        let c = &mut slot.counts;
        c.requests += 1;
        match outcome {
            Outcome::Ok => {
                c.answered += 1;
                c.latency_sum_us += latency_us;
                if let Some(t) = tokens {
                    c.output_tokens += t;
                    c.token_us += latency_us.max(1);
                }
                if let Some(h) = &mut slot.latency {
                    h.saturating_record(latency_us.max(1));
                }
            }
            Outcome::Failed => c.failures += 1,
            Outcome::RateLimited => c.rate_limited += 1,
            Outcome::Rejected => {}
        }
    }

    /// Slots of the last `span_s` seconds up to `now_s`.
    fn recent(&self, now_s: u64, span_s: u64) -> impl Iterator<Item = &Slot> {
        let newest = now_s / self.width_s;
        let n = span_s.div_ceil(self.width_s).max(1);
        self.slots
            .iter()
            .filter(move |s| s.index + n > newest && s.index <= newest)
    }
}

struct Percentiles {
    min: Option<f64>,
    max: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
}

fn percentiles<'a>(slots: impl Iterator<Item = &'a Slot>) -> Percentiles {
    let mut merged: Option<Histogram<u32>> = None;
    for h in slots.filter_map(|s| s.latency.as_ref()) {
        match &mut merged {
            None => merged = Some(h.clone()),
            // Same bounds and precision: adding cannot fail.
            Some(m) => {
                let _ = m.add(h);
            }
        }
    }
    let q = |h: &Histogram<u32>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    match merged.filter(|h| !h.is_empty()) {
        None => Percentiles {
            min: None,
            max: None,
            p50: None,
            p95: None,
            p99: None,
        },
        Some(h) => Percentiles {
            min: Some(h.min() as f64 / 1000.0),
            max: Some(h.max() as f64 / 1000.0),
            p50: Some(q(&h, 0.50)),
            p95: Some(q(&h, 0.95)),
            p99: Some(q(&h, 0.99)),
        },
    }
}

/// One evaluation's sums of the windows.
struct Figures {
    fast: Counts,
    live: Counts,
    pct: Percentiles,
}

struct Entry {
    fast: Ring,
    live: Ring,
    history: Ring,
    consecutive_failures: u32,
    state: ProviderState,
    /// Times in ms on the monitor's clock.
    since_ms: u64,
    /// A better state the provider qualifies for, and since when.
    better: Option<(ProviderState, u64)>,
    first_seen_ms: u64,
    /// When the current incident (degraded or down) began.
    incident_since: Option<u64>,
    /// Incidents that ended, and their total length.
    recoveries: u64,
    recovery_ms: u64,
    /// Periods spent `down`, (start, end), the last hour's.
    down: VecDeque<(u64, Option<u64>)>,
}

/// The provider monitor of one client.
pub struct ProviderMonitor {
    config: MonitorConfig,
    clock: Clock,
    /// Wall time (ms since the epoch) at clock 0.
    wall_origin_ms: i64,
    entries: RwLock<BTreeMap<String, Arc<Mutex<Entry>>>>,
    in_flight: RwLock<BTreeMap<String, Arc<AtomicU64>>>,
    queue_waiting: RwLock<Option<QueueDepth>>,
    watches: RwLock<Vec<Watch>>,
    started: AtomicBool,
    callback_panics: AtomicU64,
    /// Per provider, set while it is `down` (the router reads it on every call).
    down_flags: RwLock<BTreeMap<String, Arc<AtomicBool>>>,
    /// The client whose log the transitions go to (0: none).
    log_client: AtomicU64,
}

/// Requests waiting in a provider's queue (the client's queues).
pub type QueueDepth = Box<dyn Fn(&str) -> u64 + Send + Sync>;

impl ProviderMonitor {
    pub fn new(config: &MonitorConfig) -> Arc<ProviderMonitor> {
        Self::with_clock(config, Clock::System)
    }

    pub fn with_clock(config: &MonitorConfig, clock: Clock) -> Arc<ProviderMonitor> {
        let wall_origin_ms = super::now_ms() - clock.now_ms() as i64;
        Self::build(config, clock, wall_origin_ms)
    }

    /// A monitor that replays a request log: its clock starts at 0 at `wall_origin_ms` and
    /// moves only by the returned handle, and nothing evaluates in the background (the caller
    /// calls [`Self::evaluate`] as the log's time passes).
    pub fn for_replay(
        config: &MonitorConfig,
        wall_origin_ms: i64,
    ) -> (Arc<ProviderMonitor>, ManualClock) {
        let (clock, handle) = Clock::manual();
        let m = Self::build(config, clock, wall_origin_ms);
        m.started.store(true, Ordering::Release);
        (m, handle)
    }

    fn build(config: &MonitorConfig, clock: Clock, wall_origin_ms: i64) -> Arc<ProviderMonitor> {
        Arc::new(ProviderMonitor {
            config: config.clone(),
            clock,
            wall_origin_ms,
            entries: RwLock::default(),
            in_flight: RwLock::default(),
            queue_waiting: RwLock::default(),
            watches: RwLock::default(),
            started: AtomicBool::new(false),
            callback_panics: AtomicU64::new(0),
            down_flags: RwLock::default(),
            log_client: AtomicU64::new(0),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn set_queue_depth(&self, f: QueueDepth) {
        *self
            .queue_waiting
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// Transitions are logged in this client's span ([`super::log::CLIENT_FIELD`]).
    pub fn set_log_client(&self, id: u64) {
        self.log_client.store(id, Ordering::Relaxed);
    }

    /// The flag the router reads for `provider`: set while it is `down`.
    pub fn down_flag(&self, provider: &str) -> Arc<AtomicBool> {
        self.down_flags
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(provider.to_owned())
            .or_default()
            .clone()
    }

    fn now_s(&self) -> u64 {
        self.clock.now_ns() / 1_000_000_000
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Wall time (ms since the epoch) of `ms` on the monitor's clock.
    fn wall_ms(&self, ms: u64) -> i64 {
        self.wall_origin_ms + ms as i64
    }

    fn entry(&self, provider: &str) -> Arc<Mutex<Entry>> {
        if let Some(e) = self.find(provider) {
            return e;
        }
        let c = &self.config;
        let now = self.now_ms();
        let live_width = c.window_s.0.div_ceil(LIVE_BUCKETS);
        let history_keep = (c.history_hours.0 * 3600).div_ceil(c.history_bucket_s.0);
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(provider.to_owned())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Entry {
                    fast: Ring::new(1, c.fast_window_s.0, None),
                    live: Ring::new(live_width, LIVE_BUCKETS + 1, Some(2)),
                    history: Ring::new(c.history_bucket_s.0, history_keep, Some(1)),
                    consecutive_failures: 0,
                    state: ProviderState::Unknown,
                    since_ms: now,
                    better: None,
                    first_seen_ms: now,
                    incident_since: None,
                    recoveries: 0,
                    recovery_ms: 0,
                    down: VecDeque::new(),
                }))
            })
            .clone()
    }

    /// An attempt at `provider` starts: counted in its queue depth until the guard drops.
    pub fn attempt_started(&self, provider: &str) -> InFlightGuard {
        let counter = {
            let map = self.in_flight.read().unwrap_or_else(|p| p.into_inner());
            map.get(provider).cloned()
        };
        let counter = counter.unwrap_or_else(|| {
            self.in_flight
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(provider.to_owned())
                .or_default()
                .clone()
        });
        counter.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(counter)
    }

    /// Records how an attempt at `provider` ended and how long it took.
    pub fn observe(self: &Arc<Self>, provider: &str, outcome: Outcome, took: Duration) {
        self.observe_with(provider, outcome, took, None);
    }

    /// [`Self::observe`] with the output tokens of an answer, for tokens per second.
    pub fn observe_with(
        self: &Arc<Self>,
        provider: &str,
        outcome: Outcome,
        took: Duration,
        output_tokens: Option<u64>,
    ) {
        if !self.config.enabled {
            return;
        }
        self.ensure_started();
        let now = self.now_s();
        let us = took.as_micros().min(u128::from(HIGHEST_US)) as u64;
        let entry = self.entry(provider);
        let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
        e.fast.record(now, outcome, us, output_tokens);
        e.live.record(now, outcome, us, output_tokens);
        e.history.record(now, outcome, us, output_tokens);
        match outcome {
            Outcome::Failed => e.consecutive_failures = e.consecutive_failures.saturating_add(1),
            Outcome::Ok => e.consecutive_failures = 0,
            Outcome::RateLimited | Outcome::Rejected => {}
        }
    }

    /// The fast and live windows summed and the live percentiles, at `now` (seconds).
    fn figures(&self, e: &Entry, now: u64) -> Figures {
        let c = &self.config;
        let mut fast = Counts::default();
        for s in e.fast.recent(now, c.fast_window_s.0) {
            fast.add(&s.counts);
        }
        let mut live = Counts::default();
        for s in e.live.recent(now, c.window_s.0) {
            live.add(&s.counts);
        }
        let pct = percentiles(e.live.recent(now, c.window_s.0));
        Figures { fast, live, pct }
    }

    /// The state the figures call for now (before hysteresis).
    fn target_state(&self, e: &Entry, f: &Figures) -> ProviderState {
        let c = &self.config;
        let (fast, live, pct) = (&f.fast, &f.live, &f.pct);
        let min = c.min_requests.0;
        let rate_at_least = |counts: &Counts, r: f64| {
            counts.requests >= min && counts.error_rate().is_some_and(|x| x >= r)
        };
        if e.consecutive_failures as u64 >= c.down_after_failures.0
            || rate_at_least(fast, c.down_error_rate.0)
        {
            ProviderState::Down
        } else if rate_at_least(live, c.degraded_error_rate.0)
            || c.degraded_latency_ms
                .zip(pct.p95)
                .is_some_and(|(limit, p95)| p95 >= limit.0 as f64)
        {
            ProviderState::Degraded
        } else if live.requests == 0 && fast.requests == 0 && e.state == ProviderState::Unknown {
            ProviderState::Unknown
        } else {
            ProviderState::Healthy
        }
    }

    /// `provider`'s figures at `now` (ms), from `f` computed at the same time.
    fn health_of(&self, provider: &str, e: &Entry, now: u64, f: &Figures) -> ProviderHealth {
        let (pct, live) = (&f.pct, &f.live);
        let hour_start = now.saturating_sub(3_600_000).max(e.first_seen_ms);
        let span = now.saturating_sub(hour_start);
        let down: u64 = e
            .down
            .iter()
            .map(|&(a, b)| b.unwrap_or(now).min(now).saturating_sub(a.max(hour_start)))
            .sum();
        let availability = match span {
            0 if e.state == ProviderState::Down => 0.0,
            0 => 1.0,
            _ => 1.0 - (down.min(span) as f64 / span as f64),
        };
        ProviderHealth {
            provider: provider.to_owned(),
            state: e.state,
            since_ms: self.wall_ms(e.since_ms),
            window_s: self.config.window_s.0,
            requests: live.requests,
            answered: live.answered,
            failures: live.failures,
            rate_limited: live.rate_limited,
            error_rate: live.error_rate(),
            latency_ms: live.mean_ms(),
            p50_ms: pct.p50,
            p95_ms: pct.p95,
            p99_ms: pct.p99,
            min_ms: pct.min,
            max_ms: pct.max,
            requests_per_minute: live.requests as f64 * 60.0 / self.config.window_s.0 as f64,
            tokens_per_second: live.tokens_per_second(),
            availability,
            recoveries: e.recoveries,
            avg_error_recovery_ms: (e.recoveries > 0)
                .then(|| e.recovery_ms as f64 / e.recoveries as f64),
            queue_depth: self.queue_depth(provider),
            consecutive_failures: e.consecutive_failures,
        }
    }

    /// Attempts in flight at `provider` plus requests waiting in its queue.
    pub fn queue_depth(&self, provider: &str) -> u64 {
        let in_flight = self
            .in_flight
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(provider)
            .map_or(0, |c| c.load(Ordering::Relaxed));
        let waiting = self
            .queue_waiting
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |f| f(provider));
        in_flight + waiting
    }

    /// Every provider seen (or checked), by name.
    pub fn providers(&self) -> Vec<String> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// `provider`'s entry, if anything was seen of it.
    fn find(&self, provider: &str) -> Option<Arc<Mutex<Entry>>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(provider)
            .cloned()
    }

    /// `provider`'s figures over the live window; `None` before anything was seen of it.
    pub fn health(&self, provider: &str) -> Option<ProviderHealth> {
        let entry = self.find(provider)?;
        let e = entry.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now_ms();
        let figures = self.figures(&e, now / 1000);
        Some(self.health_of(provider, &e, now, &figures))
    }

    /// Every provider's figures.
    pub fn snapshot(&self) -> Vec<ProviderHealth> {
        self.providers()
            .iter()
            .filter_map(|p| self.health(p))
            .collect()
    }

    /// Seed 004's performance figures of every provider.
    pub fn performance(&self) -> Vec<Performance> {
        self.snapshot().iter().map(Performance::from).collect()
    }

    /// `provider`'s state (`unknown` before anything was seen of it).
    pub fn state(&self, provider: &str) -> ProviderState {
        self.find(provider).map_or(ProviderState::Unknown, |e| {
            e.lock().unwrap_or_else(|p| p.into_inner()).state
        })
    }

    /// History buckets of the last `hours`, oldest first.
    pub fn history(&self, provider: &str, hours: f64) -> Vec<HistoryPoint> {
        let Some(entry) = self.find(provider) else {
            return Vec::new();
        };
        let e = entry.lock().unwrap_or_else(|p| p.into_inner());
        let span = (hours.max(0.0) * 3600.0).ceil() as u64;
        let width = e.history.width_s;
        e.history
            .recent(self.now_s(), span)
            .map(|s| {
                let pct = percentiles(std::iter::once(s));
                HistoryPoint {
                    start_ms: self.wall_ms(s.index * width * 1000),
                    end_ms: self.wall_ms((s.index + 1) * width * 1000),
                    requests: s.counts.requests,
                    failures: s.counts.failures,
                    error_rate: s.counts.error_rate(),
                    latency_ms: s.counts.mean_ms(),
                    p50_ms: pct.p50,
                    p95_ms: pct.p95,
                    p99_ms: pct.p99,
                    tokens_per_second: s.counts.tokens_per_second(),
                }
            })
            .collect()
    }

    /// Calls `f` when `condition` comes true for `provider` (every provider: `None`): on each
    /// state change, or once per crossing of a threshold (armed again when it clears). Runs on
    /// the monitor's evaluation thread, never on the request path. `invalid_input` for a
    /// threshold that is negative, not finite, or an error rate over 1.
    pub fn on(
        self: &Arc<Self>,
        provider: Option<&str>,
        condition: Condition,
        f: impl Fn(&MonitorEvent) + Send + Sync + 'static,
    ) -> crate::Result<()> {
        let bad = match condition {
            Condition::HighLatency(t) => !(t.is_finite() && t >= 0.0),
            Condition::HighErrorRate(t) => !(0.0..=1.0).contains(&t),
            Condition::StateChange | Condition::Down => false,
        };
        if bad {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("threshold: expected a non-negative number (an error rate at most 1), got {condition:?}"),
            ));
        }
        self.watches
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Watch {
                provider: provider.map(str::to_owned),
                condition,
                fired: Mutex::default(),
                callback: Arc::new(f),
            });
        self.ensure_started();
        Ok(())
    }

    /// Every state change of any provider.
    pub fn on_state_change(self: &Arc<Self>, f: impl Fn(&MonitorEvent) + Send + Sync + 'static) {
        let _ = self.on(None, Condition::StateChange, f);
    }

    /// Each time `provider` goes `down`.
    pub fn on_provider_down(
        self: &Arc<Self>,
        provider: Option<&str>,
        f: impl Fn(&MonitorEvent) + Send + Sync + 'static,
    ) {
        let _ = self.on(provider, Condition::Down, f);
    }

    /// When `provider`'s p95 latency over the window reaches `threshold_ms`.
    pub fn on_high_latency(
        self: &Arc<Self>,
        provider: Option<&str>,
        threshold_ms: f64,
        f: impl Fn(&MonitorEvent) + Send + Sync + 'static,
    ) -> crate::Result<()> {
        self.on(provider, Condition::HighLatency(threshold_ms), f)
    }

    /// When `provider`'s error rate over the window reaches `threshold`.
    pub fn on_high_error_rate(
        self: &Arc<Self>,
        provider: Option<&str>,
        threshold: f64,
        f: impl Fn(&MonitorEvent) + Send + Sync + 'static,
    ) -> crate::Result<()> {
        self.on(provider, Condition::HighErrorRate(threshold), f)
    }

    /// Callbacks that panicked (each is caught; the monitor goes on).
    pub fn callback_panics(&self) -> u64 {
        self.callback_panics.load(Ordering::Relaxed)
    }

    /// Starts the evaluation task and the health checks (once; they end with the monitor).
    pub fn ensure_started(self: &Arc<Self>) {
        if !self.config.enabled || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        let every = Duration::from_millis(self.config.eval_interval_ms.0);
        crate::rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(monitor) = weak.upgrade() else {
                    return;
                };
                // Callbacks are the user's code (a Python callable may wait for the GIL): run
                // off the runtime's workers; a slow one only delays the next evaluation.
                let _ = tokio::task::spawn_blocking(move || monitor.evaluate()).await;
            }
        });
    }

    /// Starts `GET base_url + path` checks of `provider` with `check` doing the request.
    pub fn start_checks<F, Fut>(self: &Arc<Self>, provider: &str, cfg: &HealthCheckConfig, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::Result<()>> + Send,
    {
        if !self.config.enabled {
            return;
        }
        self.entry(provider);
        self.ensure_started();
        let weak = Arc::downgrade(self);
        let provider = provider.to_owned();
        let every = Duration::from_millis(cfg.interval_ms.0);
        let timeout = Duration::from_millis(cfg.timeout_ms.0);
        crate::rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if weak.strong_count() == 0 {
                    return;
                }
                let started = std::time::Instant::now();
                let outcome = match tokio::time::timeout(timeout, check()).await {
                    Ok(Ok(())) => Outcome::Ok,
                    Ok(Err(e)) => match Outcome::of_error(&e) {
                        // A check the provider refuses (404 path, 401) says nothing of outages.
                        Outcome::Rejected | Outcome::RateLimited => continue,
                        o => o,
                    },
                    Err(_) => Outcome::Failed,
                };
                let Some(monitor) = weak.upgrade() else {
                    return;
                };
                monitor.observe(&provider, outcome, started.elapsed());
            }
        });
    }

    /// Moves each provider to the state its figures call for (worse at once, better after
    /// `recover_s`) and fires the callbacks that are due.
    pub fn evaluate(&self) {
        // Made at each evaluation, not once: a span is only built while some sink wants it,
        // and sinks come and go after the client is made.
        let span = tracing::info_span!(
            target: "trinity_core::monitor",
            "trinity.monitor",
            trinity.client = self.log_client.load(Ordering::Relaxed),
        );
        let _in_client = span.enter();
        let now = self.now_ms();
        let recover = self.config.recover_s.0 * 1000;
        let entries: Vec<(String, Arc<Mutex<Entry>>)> = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut events = Vec::new();
        for (provider, entry) in entries {
            let mut e = entry.lock().unwrap_or_else(|p| p.into_inner());
            // Computed once: a transition changes the state, not the windows.
            let figures = self.figures(&e, now / 1000);
            let target = self.target_state(&e, &figures);
            let from = e.state;
            let to = if target == from {
                e.better = None;
                None
            } else if target.rank() > from.rank() || from == ProviderState::Unknown {
                e.better = None;
                Some(target)
            } else {
                // Better: only once it has held for `recover_s` (flapping suppressed).
                let since = match e.better {
                    Some((s, t)) if s == target => t,
                    _ => {
                        e.better = Some((target, now));
                        now
                    }
                };
                (now.saturating_sub(since) >= recover).then_some(target)
            };
            if let Some(to) = to {
                e.state = to;
                e.since_ms = now;
                if to.rank() > 0 {
                    e.incident_since.get_or_insert(now);
                } else if let Some(start) = e.incident_since.take() {
                    e.recoveries += 1;
                    e.recovery_ms += now - start;
                }
                e.better = None;
                if to == ProviderState::Down {
                    e.down.push_back((now, None));
                } else if from == ProviderState::Down {
                    if let Some(last) = e.down.back_mut() {
                        last.1 = Some(now);
                    }
                }
                while e
                    .down
                    .front()
                    .is_some_and(|&(_, end)| end.is_some_and(|t| t + 3_600_000 < now))
                {
                    e.down.pop_front();
                }
                self.down_flag(&provider)
                    .store(to == ProviderState::Down, Ordering::Relaxed);
                log_transition(&provider, from, to);
            }
            let health = self.health_of(&provider, &e, now, &figures);
            drop(e);
            self.due(&provider, from, to, &health, &mut events);
        }
        for (callback, event) in events {
            let call = std::panic::AssertUnwindSafe(|| callback(&event));
            if std::panic::catch_unwind(call).is_err() {
                self.callback_panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The callbacks a provider's new figures call for.
    fn due(
        &self,
        provider: &str,
        from: ProviderState,
        to: Option<ProviderState>,
        health: &ProviderHealth,
        out: &mut Vec<(Callback, MonitorEvent)>,
    ) {
        let at_ms = super::now_ms();
        let watches = self.watches.read().unwrap_or_else(|p| p.into_inner());
        for w in watches.iter() {
            if w.provider.as_deref().is_some_and(|p| p != provider) {
                continue;
            }
            let (kind, on, value, threshold) = match w.condition {
                Condition::StateChange => ("state_change", to.is_some(), None, None),
                Condition::Down => (
                    "provider_down",
                    health.state == ProviderState::Down,
                    None,
                    None,
                ),
                Condition::HighLatency(t) => (
                    "high_latency",
                    health.p95_ms.is_some_and(|v| v >= t),
                    health.p95_ms,
                    Some(t),
                ),
                Condition::HighErrorRate(t) => (
                    "high_error_rate",
                    health.requests >= self.config.min_requests.0
                        && health.error_rate.is_some_and(|v| v >= t),
                    health.error_rate,
                    Some(t),
                ),
            };
            let fire = if w.condition == Condition::StateChange {
                on
            } else {
                // Once per crossing: armed again only when the condition clears.
                let mut fired = w.fired.lock().unwrap_or_else(|p| p.into_inner());
                let was = fired.iter().position(|p| p == provider);
                match (on, was) {
                    (true, None) => {
                        fired.push(provider.to_owned());
                        true
                    }
                    (false, Some(i)) => {
                        fired.swap_remove(i);
                        false
                    }
                    _ => false,
                }
            };
            if fire {
                out.push((
                    w.callback.clone(),
                    MonitorEvent {
                        kind,
                        provider: provider.to_owned(),
                        from,
                        to: to.unwrap_or(from),
                        value,
                        threshold,
                        at_ms,
                        health: health.clone(),
                    },
                ));
            }
        }
    }
}

/// Worse states at warn, a recovery at info; a first sight of a healthy provider says nothing
/// worth a line above debug.
fn log_transition(provider: &str, from: ProviderState, to: ProviderState) {
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                gen_ai.provider.name = provider,
                trinity.provider.from = from.as_str(),
                trinity.provider.to = to.as_str(),
                "provider {provider}: {} -> {}",
                from.as_str(),
                to.as_str()
            )
        };
    }
    match (from, to) {
        (_, ProviderState::Degraded | ProviderState::Down) => line!(warn),
        (ProviderState::Unknown, _) => line!(debug),
        _ => line!(info),
    }
}

/// Counts an attempt in its provider's queue depth until dropped.
pub struct InFlightGuard(Arc<AtomicU64>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
