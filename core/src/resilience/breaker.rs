//! Circuit breaker with resilience4j's semantics: a count- or time-based sliding window of
//! outcomes, failure-rate and slow-call-rate thresholds evaluated once `minimum_calls` are in,
//! an open wait, then a fixed number of half-open probes whose outcomes close or reopen it.
//!
//! A call takes a `Ticket` (`try_acquire`) and hands it back with its outcome (`record`).
//! A cancelled call counts as neither success nor failure; in half-open it frees its probe slot.
//! Outcomes of calls admitted under an earlier state are ignored (a slow call that started
//! while closed cannot close a breaker that has opened since).

use super::clock::Clock;
use crate::config::{BreakerConfig, WindowType};
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
    /// Set by hand: rejects every call until set otherwise.
    ForcedOpen,
    /// Set by hand: admits every call and records nothing.
    Disabled,
}

impl BreakerState {
    pub const ALL: [BreakerState; 5] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::Disabled => "disabled",
        }
    }
}

/// The breaker's tuning, from the `breaker` config section or set by hand.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerSettings {
    pub window_type: WindowType,
    /// Calls (count window) or seconds (time window).
    pub window_size: u32,
    pub minimum_calls: u32,
    /// 0..=1: the failure rate at or above which the breaker opens.
    pub failure_rate_threshold: f64,
    pub slow_call: Duration,
    pub slow_call_rate_threshold: f64,
    pub open_wait: Duration,
    pub half_open_calls: u32,
}

impl From<&BreakerConfig> for BreakerSettings {
    fn from(c: &BreakerConfig) -> Self {
        BreakerSettings {
            window_type: c.window_type,
            window_size: clamp_u32(c.window_size.get()),
            minimum_calls: clamp_u32(c.minimum_calls.get()),
            failure_rate_threshold: c.failure_rate_threshold.0,
            slow_call: Duration::from_millis(c.slow_call_ms.get()),
            slow_call_rate_threshold: c.slow_call_rate_threshold.0,
            open_wait: Duration::from_millis(c.open_wait_ms.get()),
            half_open_calls: clamp_u32(c.half_open_calls.get()),
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        (&BreakerConfig::default()).into()
    }
}

fn clamp_u32(v: u64) -> u32 {
    v.clamp(1, u32::MAX as u64) as u32
}

/// How an admitted call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// Neither: the caller gave up (or the error says nothing about the callee's health).
    Cancelled,
}

/// Proof of admission; hand it back to `record`.
#[must_use = "record the outcome with CircuitBreaker::record"]
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    generation: u64,
    start_ns: u64,
}

/// A transition, as passed to listeners.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateChange {
    pub breaker: String,
    pub from: BreakerState,
    pub to: BreakerState,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
}

/// Counters for dashboards and the bindings' `getState`-style calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub calls: u32,
    pub failures: u32,
    pub slow_calls: u32,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
    /// Calls rejected since the breaker was made.
    pub not_permitted: u64,
    /// Until the open breaker lets a probe through, else 0.
    pub retry_after_ms: u64,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

pub struct CircuitBreaker {
    name: String,
    clock: Clock,
    /// The generation while every call is admitted (closed or disabled), else `u64::MAX`:
    /// the common check is one atomic load, no lock. Written under the lock.
    admit_all: AtomicU64,
    inner: Mutex<Inner>,
    listeners: RwLock<Vec<Listener>>,
}

struct Inner {
    settings: BreakerSettings,
    state: BreakerState,
    /// Bumped on every transition; tickets of an older generation are ignored.
    generation: u64,
    window: Window,
    open_until_ns: u64,
    probes_issued: u32,
    probes: Tally,
    not_permitted: u64,
    /// Transitions into each state, by [`BreakerState::ALL`] index.
    transitions: [u64; 5],
}

#[derive(Clone, Copy, Default)]
struct Tally {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Tally {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += failed as u32;
        self.slow += slow as u32;
    }

    fn rates(&self) -> (f64, f64) {
        if self.calls == 0 {
            return (0.0, 0.0);
        }
        let n = self.calls as f64;
        (self.failures as f64 / n, self.slow as f64 / n)
    }
}

/// The sliding window of closed-state outcomes.
enum Window {
    /// The last N outcomes (bit 0: failed, bit 1: slow).
    Count {
        ring: Vec<u8>,
        size: usize,
        next: usize,
        tally: Tally,
    },
    /// One bucket per second over the last N seconds.
    Time { buckets: Vec<(u64, Tally)> },
}

impl Window {
    fn new(s: &BreakerSettings) -> Window {
        let n = s.window_size as usize;
        match s.window_type {
            WindowType::Count => Window::Count {
                ring: Vec::with_capacity(n),
                size: n,
                next: 0,
                tally: Tally::default(),
            },
            WindowType::Time => Window::Time {
                buckets: vec![(u64::MAX, Tally::default()); n],
            },
        }
    }

    fn add(&mut self, now_ns: u64, failed: bool, slow: bool) {
        let bits = failed as u8 | (slow as u8) << 1;
        match self {
            Window::Count {
                ring,
                size,
                next,
                tally,
            } => {
                if ring.len() < *size {
                    ring.push(bits);
                } else {
                    let old = std::mem::replace(&mut ring[*next], bits);
                    tally.calls -= 1;
                    tally.failures -= (old & 1) as u32;
                    tally.slow -= (old >> 1) as u32;
                }
                *next = (*next + 1) % *size;
                tally.add(failed, slow);
            }
            Window::Time { buckets } => {
                let sec = now_ns / 1_000_000_000;
                let i = (sec % buckets.len() as u64) as usize;
                if buckets[i].0 != sec {
                    buckets[i] = (sec, Tally::default());
                }
                buckets[i].1.add(failed, slow);
            }
        }
    }

    fn tally(&self, now_ns: u64) -> Tally {
        match self {
            Window::Count { tally, .. } => *tally,
            Window::Time { buckets } => {
                let sec = now_ns / 1_000_000_000;
                let oldest = sec.saturating_sub(buckets.len() as u64 - 1);
                let mut t = Tally::default();
                for (s, b) in buckets {
                    if *s != u64::MAX && *s >= oldest && *s <= sec {
                        t.calls += b.calls;
                        t.failures += b.failures;
                        t.slow += b.slow;
                    }
                }
                t
            }
        }
    }
}

impl CircuitBreaker {
    pub fn new(name: impl Into<String>, settings: BreakerSettings) -> Result<Self> {
        Self::with_clock(name, settings, Clock::default())
    }

    pub fn with_clock(
        name: impl Into<String>,
        settings: BreakerSettings,
        clock: Clock,
    ) -> Result<Self> {
        validate(&settings)?;
        Ok(CircuitBreaker {
            name: name.into(),
            clock,
            admit_all: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                window: Window::new(&settings),
                settings,
                state: BreakerState::Closed,
                generation: 0,
                open_until_ns: 0,
                probes_issued: 0,
                probes: Tally::default(),
                not_permitted: 0,
                transitions: [0; 5],
            }),
            listeners: RwLock::new(Vec::new()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Admits a call or fails with `circuit_open` (details: `breaker`, `state`, `retry_after_ms`).
    #[inline]
    pub fn try_acquire(&self) -> Result<Ticket> {
        let now = self.clock.now_ns();
        let generation = self.admit_all.load(Ordering::Acquire);
        if generation != u64::MAX {
            // A call racing a transition gets the old generation: its outcome is then ignored.
            return Ok(Ticket {
                generation,
                start_ns: now,
            });
        }
        let mut change = None;
        let result = {
            let mut g = self.lock();
            if g.state == BreakerState::Open && now >= g.open_until_ns {
                change = g.transition(&self.name, BreakerState::HalfOpen, now);
                self.publish(&g);
            }
            let admitted = match g.state {
                BreakerState::Closed | BreakerState::Disabled => true,
                BreakerState::HalfOpen if g.probes_issued < g.settings.half_open_calls => {
                    g.probes_issued += 1;
                    true
                }
                _ => false,
            };
            if admitted {
                Ok(Ticket {
                    generation: g.generation,
                    start_ns: now,
                })
            } else {
                g.not_permitted += 1;
                Err(g.open_error(&self.name, now))
            }
        };
        self.notify(change);
        result
    }

    /// Records how an admitted call ended; a call slower than `slow_call` counts as slow.
    pub fn record(&self, ticket: Ticket, outcome: Outcome) {
        let now = self.clock.now_ns();
        let mut g = self.lock();
        if ticket.generation != g.generation || g.state == BreakerState::Disabled {
            return;
        }
        let slow = now.saturating_sub(ticket.start_ns) >= g.settings.slow_call.as_nanos() as u64;
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Cancelled => {
                if g.state == BreakerState::HalfOpen {
                    g.probes_issued -= 1;
                }
                return;
            }
        };
        let change = match g.state {
            BreakerState::Closed => {
                g.window.add(now, failed, slow);
                let t = g.window.tally(now);
                (t.calls >= g.settings.minimum_calls && g.trips(t))
                    .then(|| g.transition(&self.name, BreakerState::Open, now))
                    .flatten()
            }
            BreakerState::HalfOpen => {
                g.probes.add(failed, slow);
                if g.probes.calls >= g.settings.half_open_calls {
                    let to = if g.trips(g.probes) {
                        BreakerState::Open
                    } else {
                        BreakerState::Closed
                    };
                    g.transition(&self.name, to, now)
                } else {
                    None
                }
            }
            _ => None,
        };
        self.publish(&g);
        drop(g);
        self.notify(change);
    }

    /// Runs `call` under the breaker. `counts_as_failure` decides which errors are the callee's
    /// fault; other errors, and dropping the future, record nothing.
    pub async fn run<T, F>(&self, call: F, counts_as_failure: impl Fn(&Error) -> bool) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let ticket = self.try_acquire()?;
        let mut guard = RecordOnDrop {
            breaker: self,
            ticket: Some(ticket),
        };
        let result = call.await;
        let outcome = match &result {
            Ok(_) => Outcome::Success,
            Err(e) if counts_as_failure(e) => Outcome::Failure,
            Err(_) => Outcome::Cancelled,
        };
        if let Some(t) = guard.ticket.take() {
            self.record(t, outcome);
        }
        result
    }

    pub fn state(&self) -> BreakerState {
        let now = self.clock.now_ns();
        let g = self.lock();
        // An open breaker whose wait is over reports half-open: the next call is a probe.
        if g.state == BreakerState::Open && now >= g.open_until_ns {
            BreakerState::HalfOpen
        } else {
            g.state
        }
    }

    /// Moves the breaker by hand (`Closed` and `HalfOpen` start fresh counts; `Open` waits `open_wait`).
    pub fn set_state(&self, to: BreakerState) {
        let now = self.clock.now_ns();
        let change = {
            let mut g = self.lock();
            let change = g.transition(&self.name, to, now);
            self.publish(&g);
            change
        };
        self.notify(change);
    }

    pub fn settings(&self) -> BreakerSettings {
        self.lock().settings.clone()
    }

    /// Replaces the tuning; the window restarts empty, the state is kept.
    pub fn set_settings(&self, settings: BreakerSettings) -> Result<()> {
        validate(&settings)?;
        let mut g = self.lock();
        g.window = Window::new(&settings);
        g.settings = settings;
        Ok(())
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        let now = self.clock.now_ns();
        let g = self.lock();
        let t = g.window.tally(now);
        let (failure_rate, slow_call_rate) = t.rates();
        BreakerSnapshot {
            state: g.state,
            calls: t.calls,
            failures: t.failures,
            slow_calls: t.slow,
            failure_rate,
            slow_call_rate,
            not_permitted: g.not_permitted,
            retry_after_ms: g.retry_after_ns(now) / 1_000_000,
        }
    }

    /// How often the breaker entered each state since it was made (states never entered left
    /// out), for the `breaker_transitions` metric.
    pub fn transitions(&self) -> Vec<(BreakerState, u64)> {
        let g = self.lock();
        BreakerState::ALL
            .into_iter()
            .zip(g.transitions)
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// Calls `listener` after every state change (outside the breaker's lock).
    pub fn on_state_change(&self, listener: impl Fn(&StateChange) + Send + Sync + 'static) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(listener));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mirrors the state for the lock-free check; call with the lock held after a transition.
    fn publish(&self, g: &Inner) {
        let open = matches!(g.state, BreakerState::Closed | BreakerState::Disabled);
        self.admit_all.store(
            if open { g.generation } else { u64::MAX },
            Ordering::Release,
        );
    }

    fn notify(&self, change: Option<StateChange>) {
        if let Some(change) = change {
            let listeners = self
                .listeners
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            for l in listeners {
                l(&change);
            }
        }
    }
}

impl Inner {
    fn trips(&self, t: Tally) -> bool {
        let (fr, sr) = t.rates();
        fr >= self.settings.failure_rate_threshold || sr >= self.settings.slow_call_rate_threshold
    }

    fn transition(&mut self, name: &str, to: BreakerState, now: u64) -> Option<StateChange> {
        let (failure_rate, slow_call_rate) = match self.state {
            BreakerState::HalfOpen => self.probes.rates(),
            _ => self.window.tally(now).rates(),
        };
        let from = self.state;
        if from != to {
            self.transitions[to as usize] += 1;
        }
        self.state = to;
        self.generation += 1;
        self.probes_issued = 0;
        self.probes = Tally::default();
        if to == BreakerState::Open {
            self.open_until_ns = now.saturating_add(self.settings.open_wait.as_nanos() as u64);
        }
        if matches!(to, BreakerState::Closed | BreakerState::HalfOpen) {
            self.window = Window::new(&self.settings);
        }
        (from != to).then(|| StateChange {
            breaker: name.to_string(),
            from,
            to,
            failure_rate,
            slow_call_rate,
        })
    }

    fn retry_after_ns(&self, now: u64) -> u64 {
        match self.state {
            BreakerState::Open => self.open_until_ns.saturating_sub(now),
            _ => 0,
        }
    }

    fn open_error(&self, name: &str, now: u64) -> Error {
        let retry_after_ms = self.retry_after_ns(now).div_ceil(1_000_000);
        Error::new(
            ErrorKind::CircuitOpen,
            format!("circuit breaker '{name}' is {}", self.state.as_str()),
        )
        .with_details(serde_json::json!({
            "breaker": name,
            "state": self.state.as_str(),
            "retry_after_ms": retry_after_ms,
        }))
    }
}

/// Records `Cancelled` when a `run` future is dropped mid-call.
struct RecordOnDrop<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Option<Ticket>,
}

impl Drop for RecordOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.breaker.record(t, Outcome::Cancelled);
        }
    }
}

fn validate(s: &BreakerSettings) -> Result<()> {
    let bad = |what: &str| {
        Err(Error::config(format!("breaker.{what}")).with_details(serde_json::json!({ "path": format!("breaker.{}", what.split(':').next().unwrap_or(what)) })))
    };
    if s.window_size == 0 {
        return bad("window_size: expected a positive integer");
    }
    if s.minimum_calls == 0 {
        return bad("minimum_calls: expected a positive integer");
    }
    if s.half_open_calls == 0 {
        return bad("half_open_calls: expected a positive integer");
    }
    for (name, v) in [
        ("failure_rate_threshold", s.failure_rate_threshold),
        ("slow_call_rate_threshold", s.slow_call_rate_threshold),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return bad(&format!("{name}: expected a ratio in (0, 1]"));
        }
    }
    Ok(())
}
