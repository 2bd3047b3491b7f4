//! The core's resilience primitives for the TypeScript `CircuitBreaker`, `RateLimiter` and
//! `RequestQueue`. The JS function a caller protects runs in JS; what crosses here is the
//! admission (a breaker ticket, a limiter admission, a queue permit) and its outcome.
//!
//! Breaker tickets and queue permits stay on this side in a slab; JS holds their index. The
//! breaker's `tryAcquire`/`record` are synchronous (a slab slot and the breaker's mutex, no
//! allocation on the success path); waiting (limiter, queue) is a promise settled from the
//! core runtime when the core grants the turn.
//!
//! The hot calls (breaker admission and outcome, limiter admission) are free functions taking
//! a numeric handle rather than class methods: napi-rs checks the receiver's type tag on every
//! method call, which costs several times the work itself (about 0.9 µs against 0.1 µs for a
//! free function, measured here). The class object owns the handle and frees it when collected;
//! the wrapper keeps the object alive for as long as it uses the handle.

use crate::error::{guard, to_js};
use crate::task::{spawn_promise, unless_cancelled, AbortToken};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use trinity_core::config::{QueueConfig, WindowType};
use trinity_core::resilience::{
    Admission, BreakerSettings, BreakerState, CircuitBreaker, LimiterSet, Outcome, QueuePermit,
    QueueSettings, RateLimit, RequestQueue, StateChange, Ticket,
};
use trinity_core::{Error as CoreError, ErrorKind};

/// Values held for JS by index: freed slots are reused, so indexes stay small.
struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    const fn new() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, v: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(v);
                i
            }
            None => {
                self.items.push(Some(v));
                (self.items.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, i: u32) -> Option<T> {
        let v = self.items.get_mut(i as usize)?.take();
        if v.is_some() {
            self.free.push(i);
        }
        v
    }
}

/// Objects reachable from free functions by number. Numbers are never reused, so a stale one
/// finds nothing rather than another object.
pub(crate) struct Handles<T>(RwLock<Vec<Option<Arc<T>>>>);

impl<T> Handles<T> {
    pub(crate) const fn new() -> Self {
        Handles(RwLock::new(Vec::new()))
    }

    /// Registers `v` until the returned `Handle` is dropped.
    pub(crate) fn register(&'static self, v: T) -> Handle<T> {
        self.register_shared(Arc::new(v))
    }

    /// Registers a value shared with its owner (a client's own tracker).
    pub(crate) fn register_shared(&'static self, v: Arc<T>) -> Handle<T> {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        g.push(Some(v.clone()));
        Handle {
            table: self,
            id: (g.len() - 1) as u32,
            value: v,
        }
    }

    fn remove(&self, h: u32) {
        let mut g = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = g.get_mut(h as usize) {
            *slot = None;
        }
    }

    #[inline]
    pub(crate) fn with<R>(&self, h: u32, f: impl FnOnce(&T) -> R) -> Option<R> {
        let g = self.0.read().unwrap_or_else(|p| p.into_inner());
        g.get(h as usize).and_then(|v| v.as_deref()).map(f)
    }
}

/// A class object's entry in a `Handles` table: the object and its number, unregistered on drop
/// (when JS collects the class object that owns it).
pub(crate) struct Handle<T: 'static> {
    table: &'static Handles<T>,
    pub(crate) id: u32,
    value: Arc<T>,
}

impl<T> std::ops::Deref for Handle<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Drop for Handle<T> {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

pub(crate) fn stale(what: &str) -> CoreError {
    CoreError::invalid_input(format!("{what}: unknown handle"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn non_negative(v: f64, what: &str) -> trinity_core::Result<u64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v as u64)
    } else {
        Err(CoreError::invalid_input(format!(
            "{what}: expected a non-negative number"
        )))
    }
}

/// Positive whole numbers only: napi turns JS numbers into f64, and `0`/`NaN` would be a
/// silent "unlimited" or a config error with a confusing path.
fn positive(v: f64, what: &str) -> trinity_core::Result<u64> {
    match non_negative(v, what)? {
        0 => Err(CoreError::invalid_input(format!(
            "{what}: expected a positive number"
        ))),
        n => Ok(n),
    }
}

fn to_u32(v: f64, what: &str) -> trinity_core::Result<u32> {
    u32::try_from(positive(v, what)?)
        .map_err(|_| CoreError::invalid_input(format!("{what}: too large")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker

/// The core's breaker settings; every field optional (missing ones keep their current value).
/// Names as in the config schema's `breaker` section, in camelCase.
#[napi(object)]
#[derive(Default)]
pub struct BreakerOptions {
    /// `count` (the last `windowSize` calls) or `time` (the last `windowSize` seconds).
    pub window_type: Option<String>,
    pub window_size: Option<f64>,
    pub minimum_calls: Option<f64>,
    /// (0, 1]: the failure rate at or above which the breaker opens.
    pub failure_rate_threshold: Option<f64>,
    pub slow_call_ms: Option<f64>,
    pub slow_call_rate_threshold: Option<f64>,
    pub open_wait_ms: Option<f64>,
    pub half_open_calls: Option<f64>,
}

impl BreakerOptions {
    fn apply(self, mut s: BreakerSettings) -> trinity_core::Result<BreakerSettings> {
        if let Some(t) = self.window_type {
            s.window_type = match t.as_str() {
                "count" => WindowType::Count,
                "time" => WindowType::Time,
                _ => {
                    return Err(CoreError::invalid_input(format!(
                        "windowType: expected 'count' or 'time', got '{t}'"
                    )))
                }
            };
        }
        if let Some(v) = self.window_size {
            s.window_size = to_u32(v, "windowSize")?;
        }
        if let Some(v) = self.minimum_calls {
            s.minimum_calls = to_u32(v, "minimumCalls")?;
        }
        if let Some(v) = self.failure_rate_threshold {
            s.failure_rate_threshold = v;
        }
        if let Some(v) = self.slow_call_ms {
            s.slow_call = Duration::from_millis(positive(v, "slowCallMs")?);
        }
        if let Some(v) = self.slow_call_rate_threshold {
            s.slow_call_rate_threshold = v;
        }
        if let Some(v) = self.open_wait_ms {
            s.open_wait = Duration::from_millis(non_negative(v, "openWaitMs")?);
        }
        if let Some(v) = self.half_open_calls {
            s.half_open_calls = to_u32(v, "halfOpenCalls")?;
        }
        Ok(s)
    }
}

/// The breaker's settings as they are now (all fields set).
#[napi(object)]
pub struct BreakerSettingsInfo {
    pub window_type: String,
    pub window_size: u32,
    pub minimum_calls: u32,
    pub failure_rate_threshold: f64,
    pub slow_call_ms: f64,
    pub slow_call_rate_threshold: f64,
    pub open_wait_ms: f64,
    pub half_open_calls: u32,
}

/// The core's `BreakerSnapshot`.
#[napi(object)]
pub struct BreakerStats {
    /// `closed`, `open`, `half_open`, `forced_open` or `disabled`.
    pub state: String,
    pub calls: u32,
    pub failures: u32,
    pub slow_calls: u32,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
    pub not_permitted: f64,
    pub retry_after_ms: f64,
}

fn parse_state(s: &str) -> trinity_core::Result<BreakerState> {
    Ok(match s {
        "closed" => BreakerState::Closed,
        "open" => BreakerState::Open,
        "half_open" | "half-open" => BreakerState::HalfOpen,
        "forced_open" | "forced-open" => BreakerState::ForcedOpen,
        "disabled" => BreakerState::Disabled,
        _ => {
            return Err(CoreError::invalid_input(format!(
                "state: expected closed, open, half-open, forced-open or disabled, got '{s}'"
            )))
        }
    })
}

/// Outcome codes for `record`: the wrapper's constants.
const SUCCESS: u32 = 0;
const FAILURE: u32 = 1;

struct BreakerCell {
    breaker: Arc<CircuitBreaker>,
    tickets: Mutex<Slab<Ticket>>,
}

impl BreakerCell {
    #[inline]
    fn try_acquire(&self) -> trinity_core::Result<u32> {
        let t = self.breaker.try_acquire()?;
        Ok(lock(&self.tickets).insert(t))
    }

    #[inline]
    fn record(&self, ticket: u32, outcome: u32) -> bool {
        let Some(t) = lock(&self.tickets).remove(ticket) else {
            return false;
        };
        let outcome = match outcome {
            SUCCESS => Outcome::Success,
            FAILURE => Outcome::Failure,
            _ => Outcome::Cancelled,
        };
        self.breaker.record(t, outcome);
        true
    }
}

static BREAKERS: Handles<BreakerCell> = Handles::new();

/// `NativeCircuitBreaker.tryAcquire` as a free function over its `handle`, for the hot path.
/// A ticket is >= 0. A rejection is a negative number rather than a thrown error, so the
/// wrapper builds its `CircuitOpenError` without a native error object (and a second stack
/// trace): `-1 - (retry_after_ms * 4 + state)`, state 0 open, 1 half-open, 2 forced-open.
#[napi]
pub fn breaker_try_acquire(env: Env, handle: u32) -> Result<i64> {
    match BREAKERS.with(handle, BreakerCell::try_acquire) {
        Some(Ok(t)) => Ok(i64::from(t)),
        Some(Err(e)) if e.kind == ErrorKind::CircuitOpen => Ok(-1 - rejection_code(&e)),
        Some(Err(e)) => Err(to_js(&env, e)),
        None => Err(to_js(&env, stale("breakerTryAcquire"))),
    }
}

/// `retry_after_ms * 4 + state` from the core's `circuit_open` details.
fn rejection_code(e: &CoreError) -> i64 {
    let d = e.details.as_ref();
    let state = match d.and_then(|d| d.get("state")).and_then(|v| v.as_str()) {
        Some("half_open") => 1,
        Some("forced_open") => 2,
        _ => 0,
    };
    let retry = d
        .and_then(|d| d.get("retry_after_ms"))
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        .min(1 << 48) as i64;
    retry * 4 + state
}

/// `NativeCircuitBreaker.record` as a free function over its `handle`.
#[napi]
pub fn breaker_record(handle: u32, ticket: u32, outcome: u32) -> bool {
    BREAKERS
        .with(handle, |c| c.record(ticket, outcome))
        .unwrap_or(false)
}

#[napi]
pub struct NativeCircuitBreaker {
    cell: Handle<BreakerCell>,
}

impl NativeCircuitBreaker {
    /// The core breaker, for a route's `Health` (the router records into the same breaker).
    pub(crate) fn core(&self) -> Arc<CircuitBreaker> {
        self.cell.breaker.clone()
    }
}

/// A breaker transition, as `onStateChange` listeners receive it.
#[napi(object)]
pub struct BreakerStateChange {
    pub breaker: String,
    /// `closed`, `open`, `half_open`, `forced_open` or `disabled`.
    pub from: String,
    pub to: String,
    pub failure_rate: f64,
    pub slow_call_rate: f64,
}

type StateListener =
    ThreadsafeFunction<BreakerStateChange, (), BreakerStateChange, Status, false, true>;

#[napi]
impl NativeCircuitBreaker {
    /// Calls `listener` after every state change, on the JS thread and without blocking the
    /// breaker (the core's `on_state_change` queues the call). The listener does not keep the
    /// process alive.
    #[napi(ts_args_type = "listener: (change: BreakerStateChange) => void")]
    pub fn on_state_change(&self, listener: StateListener) {
        self.cell.breaker.on_state_change(move |c: &StateChange| {
            listener.call(
                BreakerStateChange {
                    breaker: c.breaker.clone(),
                    from: c.from.as_str().into(),
                    to: c.to.as_str().into(),
                    failure_rate: c.failure_rate,
                    slow_call_rate: c.slow_call_rate,
                },
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        });
    }

    /// `options` over the core defaults (count window 100, minimum 20 calls, failure rate 0.65,
    /// open 30 s, 3 half-open probes).
    #[napi(constructor)]
    pub fn new(env: Env, name: Option<String>, options: Option<BreakerOptions>) -> Result<Self> {
        guard(&env, || {
            let settings = options
                .unwrap_or_default()
                .apply(BreakerSettings::default())?;
            Ok(NativeCircuitBreaker {
                cell: BREAKERS.register(BreakerCell {
                    breaker: Arc::new(CircuitBreaker::new(
                        name.unwrap_or_else(|| "breaker".into()),
                        settings,
                    )?),
                    tickets: Mutex::new(Slab::new()),
                }),
            })
        })
    }

    /// For `breakerTryAcquire`/`breakerRecord`; valid while this object lives.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.cell.id
    }

    /// Admits a call (returns its ticket for `record`) or throws `circuit_open`.
    #[napi]
    pub fn try_acquire(&self, env: Env) -> Result<u32> {
        self.cell.try_acquire().map_err(|e| to_js(&env, e))
    }

    /// Hands a ticket back: 0 success, 1 failure, anything else cancelled (counts as neither).
    /// Returns false for a ticket already recorded or never issued.
    #[napi]
    pub fn record(&self, ticket: u32, outcome: u32) -> bool {
        self.cell.record(ticket, outcome)
    }

    #[napi]
    pub fn state(&self) -> &'static str {
        self.cell.breaker.state().as_str()
    }

    #[napi]
    pub fn set_state(&self, env: Env, state: String) -> Result<()> {
        guard(&env, || {
            self.cell.breaker.set_state(parse_state(&state)?);
            Ok(())
        })
    }

    /// Changes the given settings (the window restarts empty; the state is kept).
    #[napi]
    pub fn configure(&self, env: Env, options: BreakerOptions) -> Result<()> {
        guard(&env, || {
            self.cell
                .breaker
                .set_settings(options.apply(self.cell.breaker.settings())?)
        })
    }

    #[napi]
    pub fn settings(&self) -> BreakerSettingsInfo {
        let s = self.cell.breaker.settings();
        BreakerSettingsInfo {
            window_type: match s.window_type {
                WindowType::Count => "count",
                WindowType::Time => "time",
            }
            .to_string(),
            window_size: s.window_size,
            minimum_calls: s.minimum_calls,
            failure_rate_threshold: s.failure_rate_threshold,
            slow_call_ms: ms(s.slow_call),
            slow_call_rate_threshold: s.slow_call_rate_threshold,
            open_wait_ms: ms(s.open_wait),
            half_open_calls: s.half_open_calls,
        }
    }

    #[napi]
    pub fn stats(&self) -> BreakerStats {
        let s = self.cell.breaker.snapshot();
        BreakerStats {
            state: s.state.as_str().to_string(),
            calls: s.calls,
            failures: s.failures,
            slow_calls: s.slow_calls,
            failure_rate: s.failure_rate,
            slow_call_rate: s.slow_call_rate,
            not_permitted: s.not_permitted as f64,
            retry_after_ms: s.retry_after_ms as f64,
        }
    }

    #[napi(getter)]
    pub fn name(&self) -> String {
        self.cell.breaker.name().to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// The core's `LimiterSnapshot`; absent limits (and their remainders) are `null`.
#[napi(object)]
pub struct LimiterStats {
    pub rpm: Option<f64>,
    pub tpm: Option<f64>,
    pub requests_in_window: f64,
    pub tokens_in_window: f64,
    pub remaining_requests: Option<f64>,
    pub remaining_tokens: Option<f64>,
    pub retry_after_ms: f64,
    pub admitted: f64,
    pub rejected: f64,
}

static LIMITERS: Handles<LimiterSet> = Handles::new();

/// Admits now (true) or not (false); a name without limits is always admitted. A request
/// larger than the token limit can never fit: that throws `rate_limited` (retryable false).
fn limiter_admit(set: &LimiterSet, name: &str, tokens: f64) -> trinity_core::Result<bool> {
    let tokens = if tokens >= 0.0 { tokens as u64 } else { 0 };
    match set.try_acquire(name, tokens) {
        Ok(_) => Ok(true),
        Err(e) if e.kind == ErrorKind::RateLimited && !never_fits(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `NativeLimiterSet.tryAcquire` as a free function over its `handle`.
#[napi]
pub fn limiter_try_acquire(env: Env, handle: u32, name: String, tokens: f64) -> Result<bool> {
    LIMITERS
        .with(handle, |set| limiter_admit(set, &name, tokens))
        .unwrap_or_else(|| Err(stale("limiterTryAcquire")))
        .map_err(|e| to_js(&env, e))
}

/// Rate limits by name (a provider): the core's `LimiterSet`.
#[napi]
pub struct NativeLimiterSet {
    set: Handle<LimiterSet>,
}

#[napi]
impl NativeLimiterSet {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeLimiterSet {
            set: LIMITERS.register(LimiterSet::new()),
        }
    }

    /// For `limiterTryAcquire`; valid while this object lives.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.set.id
    }

    /// `rpm`/`tpm` null or undefined: no limit of that kind. `windowMs` defaults to a minute.
    #[napi]
    pub fn set_limit(
        &self,
        env: Env,
        name: String,
        rpm: Option<f64>,
        tpm: Option<f64>,
        window_ms: Option<f64>,
    ) -> Result<()> {
        guard(&env, || {
            let limit = RateLimit {
                rpm: rpm.map(|v| positive(v, "rpm")).transpose()?,
                tpm: tpm.map(|v| positive(v, "tpm")).transpose()?,
                window: Duration::from_millis(match window_ms {
                    Some(v) => positive(v, "windowMs")?,
                    None => 60_000,
                }),
            };
            self.set.set_limit(&name, limit)
        })
    }

    /// See `limiter_admit`.
    #[napi]
    pub fn try_acquire(&self, env: Env, name: String, tokens: f64) -> Result<bool> {
        limiter_admit(&self.set, &name, tokens).map_err(|e| to_js(&env, e))
    }

    /// `tryAcquire` that returns the admission's id (>= 0) for `reconcile`; -1: admitted, the
    /// name has no limits; -2: not admitted now.
    #[napi]
    pub fn admit(&self, env: Env, name: String, tokens: f64) -> Result<f64> {
        let tokens = if tokens >= 0.0 { tokens as u64 } else { 0 };
        match self.set.try_acquire(&name, tokens) {
            Ok(Some(a)) => Ok(a.id() as f64),
            Ok(None) => Ok(-1.0),
            Err(e) if e.kind == ErrorKind::RateLimited && !never_fits(&e) => Ok(-2.0),
            Err(e) => Err(to_js(&env, e)),
        }
    }

    /// Replaces the token estimate of admission `id` (from `admit`) with the tokens really
    /// used; the core's `RateLimiter::reconcile`. A no-op once the admission left the window.
    #[napi]
    pub fn reconcile(&self, name: String, id: f64, actual_tokens: f64) {
        if let (Some(l), true) = (self.set.get(&name), id >= 0.0) {
            let actual = if actual_tokens >= 0.0 {
                actual_tokens as u64
            } else {
                0
            };
            l.reconcile(Admission::from_id(id as u64, actual), actual);
        }
    }

    /// Resolves when `tokens` are admitted (waiting in line, first come first served).
    #[napi]
    pub fn acquire<'env>(
        &self,
        env: &'env Env,
        name: String,
        tokens: f64,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let tokens = if tokens >= 0.0 { tokens as u64 } else { 0 };
        let set = self.set.value.clone();
        let token = abort.map(|a| a.token.clone());
        spawn_promise(
            env,
            async move { unless_cancelled(set.acquire(&name, tokens), token).await },
            |_| (),
        )
    }

    /// Milliseconds until `tokens` more would be admitted (0: now, or no limit).
    #[napi]
    pub fn retry_after(&self, name: String, tokens: Option<f64>) -> f64 {
        let tokens = tokens.map_or(1, |t| if t >= 1.0 { t as u64 } else { 1 });
        self.set
            .get(&name)
            .map_or(0.0, |l| l.retry_after(tokens).as_millis() as f64)
    }

    /// Null for a name without limits.
    #[napi]
    pub fn stats(&self, name: String) -> Option<LimiterStats> {
        let s = self.set.get(&name)?.snapshot();
        let f = |v: u64| v as f64;
        Some(LimiterStats {
            rpm: s.rpm.map(f),
            tpm: s.tpm.map(f),
            requests_in_window: f(s.requests_in_window),
            tokens_in_window: f(s.tokens_in_window),
            remaining_requests: s.remaining_requests.map(f),
            remaining_tokens: s.remaining_tokens.map(f),
            retry_after_ms: f(s.retry_after_ms),
            admitted: f(s.admitted),
            rejected: f(s.rejected),
        })
    }

    #[napi]
    pub fn names(&self) -> Vec<String> {
        self.set.names()
    }
}

fn never_fits(e: &CoreError) -> bool {
    e.details
        .as_ref()
        .and_then(|d| d.get("retryable"))
        .and_then(|v| v.as_bool())
        == Some(false)
}

// ---------------------------------------------------------------------------------------------
// Request queue

/// The core's `QueueSnapshot`.
#[napi(object)]
pub struct QueueStats {
    pub length: u32,
    pub in_flight: u32,
    pub max_concurrency: u32,
    pub completed: f64,
    pub cancelled: f64,
    pub rejected: f64,
    pub average_wait_ms: f64,
    pub average_service_ms: f64,
    pub estimated_wait_ms: f64,
    pub throughput_per_s: f64,
}

#[napi(object)]
pub struct QueueOptions {
    /// Permits out at once (default 64).
    pub max_concurrency: Option<f64>,
    /// Waiters at most; one more is rejected with `rate_limited` (default 10 000).
    pub max_length: Option<f64>,
    /// Waiting this long raises a waiter's priority by one step (default 5000 ms).
    pub aging_ms: Option<f64>,
}

#[napi]
pub struct NativeRequestQueue {
    queue: Arc<RequestQueue>,
    permits: Arc<Mutex<Slab<QueuePermit>>>,
}

#[napi]
impl NativeRequestQueue {
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<QueueOptions>) -> Result<Self> {
        guard(&env, || {
            let mut s = QueueSettings::from(&QueueConfig::default());
            if let Some(o) = options {
                if let Some(v) = o.max_concurrency {
                    s.max_concurrency = positive(v, "maxConcurrency")? as usize;
                }
                if let Some(v) = o.max_length {
                    s.max_length = positive(v, "maxLength")? as usize;
                }
                if let Some(v) = o.aging_ms {
                    s.aging = Duration::from_millis(positive(v, "agingMs")?);
                }
            }
            Ok(NativeRequestQueue {
                queue: Arc::new(RequestQueue::new(s)?),
                permits: Arc::new(Mutex::new(Slab::new())),
            })
        })
    }

    /// Resolves with a permit once the core grants a slot (higher priority first); rejects with
    /// `rate_limited` when the queue is full, `cancelled` when `abort` fires while waiting.
    /// Hand the permit back with `release`.
    #[napi]
    pub fn acquire<'env>(
        &self,
        env: &'env Env,
        priority: f64,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, u32>> {
        let priority = if priority.is_finite() {
            priority as i64
        } else {
            0
        };
        let queue = self.queue.clone();
        let permits = self.permits.clone();
        let token = abort.map(|a| a.token.clone());
        spawn_promise(
            env,
            async move {
                let permit = unless_cancelled(queue.acquire(priority), token).await?;
                Ok(lock(&permits).insert(permit))
            },
            |id| id,
        )
    }

    /// Frees the permit's slot for the next waiter; false if it was already released.
    #[napi]
    pub fn release(&self, permit: u32) -> bool {
        // Dropped outside the slab's lock: the drop takes the queue's lock and wakes a waiter.
        let p = lock(&self.permits).remove(permit);
        p.is_some()
    }

    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.queue.len() as u32
    }

    #[napi(getter)]
    pub fn in_flight(&self) -> u32 {
        self.queue.in_flight() as u32
    }

    #[napi]
    pub fn stats(&self) -> QueueStats {
        let s = self.queue.snapshot();
        QueueStats {
            length: s.length as u32,
            in_flight: s.in_flight as u32,
            max_concurrency: s.max_concurrency as u32,
            completed: s.completed as f64,
            cancelled: s.cancelled as f64,
            rejected: s.rejected as f64,
            average_wait_ms: s.average_wait_ms,
            average_service_ms: s.average_service_ms,
            estimated_wait_ms: s.estimated_wait_ms,
            throughput_per_s: s.throughput_per_s,
        }
    }
}
