//! What the router knows about one deployment: its breaker, its rate limiters, its retry
//! quota, calls in flight and an EWMA of its latency. Shared by every route that uses the deployment.

use crate::resilience::limiter_redis::RedisRateLimiter;
use crate::resilience::{BreakerState, CircuitBreaker, RateLimit, RateLimiter, RetryQuota};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Weight of the newest sample in the latency average.
const EWMA_ALPHA: f64 = 0.2;

pub struct Health {
    pub name: String,
    pub breaker: Option<Arc<CircuitBreaker>>,
    /// Checked in order (a deployment's own limit, then its provider's / API key's).
    pub limiters: Vec<Arc<RateLimiter>>,
    /// Limits shared with other processes through Redis, checked after the local ones.
    pub shared: Vec<Arc<SharedLimit>>,
    /// Pays for retries (none: retries limited by the policy alone).
    pub quota: Option<Arc<RetryQuota>>,
    /// Set while the provider monitor reports the deployment's provider `down`.
    pub provider_down: Option<Arc<AtomicBool>>,
    in_flight: AtomicU32,
    /// f64 bits; 0 = no sample yet.
    ewma_ms: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    /// Attempts refused by this client's own rate limits (local or shared).
    limited: AtomicU64,
    /// Times every deployment was at its limit and the call waited for this one, and for how
    /// long in all (ns).
    limit_waits: AtomicU64,
    limit_wait_ns: AtomicU64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HealthSnapshot {
    pub name: String,
    pub state: Option<BreakerState>,
    pub in_flight: u32,
    pub latency_ewma_ms: Option<f64>,
    pub calls: u64,
    pub failures: u64,
    /// Breaker transitions into each state so far (empty without a breaker).
    pub transitions: Vec<(BreakerState, u64)>,
    /// Attempts refused by this client's own rate limits; waits for them and their total.
    pub limited: u64,
    pub limit_waits: u64,
    pub limit_wait_s: f64,
}

impl Health {
    pub fn new(
        name: impl Into<String>,
        breaker: Option<Arc<CircuitBreaker>>,
        limiters: Vec<Arc<RateLimiter>>,
    ) -> Self {
        Health {
            name: name.into(),
            breaker,
            limiters,
            shared: Vec::new(),
            quota: None,
            provider_down: None,
            in_flight: AtomicU32::new(0),
            ewma_ms: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            limited: AtomicU64::new(0),
            limit_waits: AtomicU64::new(0),
            limit_wait_ns: AtomicU64::new(0),
        }
    }

    /// An attempt refused by one of this client's own rate limits.
    pub(crate) fn count_limited(&self) {
        self.limited.fetch_add(1, Ordering::Relaxed);
    }

    /// A call waits `wait` for this deployment's limit to let it through.
    pub(crate) fn count_limit_wait(&self, wait: Duration) {
        self.limit_waits.fetch_add(1, Ordering::Relaxed);
        self.limit_wait_ns
            .fetch_add(wait.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Open (and not yet due for a probe) or forced open: skip without trying.
    pub fn is_open(&self) -> bool {
        self.breaker
            .as_ref()
            .is_some_and(|b| matches!(b.state(), BreakerState::Open | BreakerState::ForcedOpen))
    }

    /// The provider monitor reports the provider `down`: tried after the others.
    pub fn provider_down(&self) -> bool {
        self.provider_down
            .as_ref()
            .is_some_and(|d| d.load(Ordering::Relaxed))
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// `None` before the first successful call.
    pub fn latency_ms(&self) -> Option<f64> {
        let bits = self.ewma_ms.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn observe(&self, ok: bool, took: Duration) {
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sample = took.as_secs_f64() * 1000.0;
        // A lost update under contention only skips one sample of an average.
        let next = match self.latency_ms() {
            None => sample,
            Some(old) => old + EWMA_ALPHA * (sample - old),
        };
        self.ewma_ms
            .store(next.max(f64::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        HealthSnapshot {
            name: self.name.clone(),
            state: self.breaker.as_ref().map(|b| b.state()),
            in_flight: self.in_flight(),
            latency_ewma_ms: self.latency_ms(),
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            transitions: self
                .breaker
                .as_ref()
                .map(|b| b.transitions())
                .unwrap_or_default(),
            limited: self.limited.load(Ordering::Relaxed),
            limit_waits: self.limit_waits.load(Ordering::Relaxed),
            limit_wait_s: self.limit_wait_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Counts a call in flight until dropped.
pub(crate) struct InFlight<'a>(&'a Health);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A Redis-backed limit, connected on first use (the client is built outside any runtime).
pub struct SharedLimit {
    pub url: String,
    pub key: String,
    pub limit: RateLimit,
    limiter: tokio::sync::OnceCell<Arc<RedisRateLimiter>>,
}

impl SharedLimit {
    pub fn new(url: impl Into<String>, key: impl Into<String>, limit: RateLimit) -> Self {
        SharedLimit {
            url: url.into(),
            key: key.into(),
            limit,
            limiter: tokio::sync::OnceCell::new(),
        }
    }

    pub async fn limiter(&self) -> crate::Result<&Arc<RedisRateLimiter>> {
        self.limiter
            .get_or_try_init(|| async {
                RedisRateLimiter::new(&self.url, &self.key, self.limit.clone())
                    .await
                    .map(Arc::new)
            })
            .await
    }
}
