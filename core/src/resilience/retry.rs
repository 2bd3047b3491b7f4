//! Retries: exponential backoff with full (or decorrelated) jitter, capped after jitter;
//! `Retry-After` honoured up to a cap (beyond it the call fails fast with `rate_limited`);
//! `x-should-retry` obeyed; a retry budget so a dead provider cannot multiply the load.

use super::clock::Clock;
use crate::config::{Jitter, RetryConfig};
use crate::error::{Error, ErrorKind, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
    /// A `Retry-After` longer than this is not waited for: the call fails with `rate_limited`.
    pub max_retry_after: Duration,
}

impl From<&RetryConfig> for RetryPolicy {
    fn from(c: &RetryConfig) -> Self {
        RetryPolicy {
            max_attempts: c.max_attempts.get().min(u32::MAX as u64) as u32,
            base: Duration::from_millis(c.base_ms.get()),
            cap: Duration::from_millis(c.cap_ms.get()),
            jitter: c.jitter,
            max_retry_after: Duration::from_millis(c.max_retry_after_ms.get()),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        (&RetryConfig::default()).into()
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq)]
pub enum Decision {
    RetryAfter(Duration),
    /// Do not retry; the error to return (possibly rewritten, e.g. a Retry-After over the cap).
    Stop(Error),
}

/// Whether an error is worth another attempt at the same deployment: 429, 5xx, 408/409,
/// timeouts and connection failures; never 400, 401, 403, 404 or a context overflow.
/// The provider's `x-should-retry` header (in `details.should_retry`) overrides.
pub fn is_retryable(err: &Error) -> bool {
    let details = err.details.as_ref();
    if let Some(should) = details
        .and_then(|d| d.get("should_retry"))
        .and_then(|v| v.as_bool())
    {
        return should;
    }
    if details
        .and_then(|d| d.get("retryable"))
        .and_then(|v| v.as_bool())
        == Some(false)
    {
        return false;
    }
    match err.kind {
        ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Network => true,
        ErrorKind::Provider => match details
            .and_then(|d| d.get("status"))
            .and_then(|v| v.as_u64())
        {
            Some(s) => s >= 500 || s == 408 || s == 409,
            None => true,
        },
        _ => false,
    }
}

fn retry_after(err: &Error) -> Option<Duration> {
    let ms = err.details.as_ref()?.get("retry_after_ms")?.as_u64()?;
    Some(Duration::from_millis(ms))
}

impl RetryPolicy {
    /// The backoff before retry number `n` (0 = the first retry), never above `cap`.
    /// `prev` is the previous delay (decorrelated jitter grows from it).
    pub fn backoff(&self, n: u32, prev: Duration, rng: &mut impl Rng) -> Duration {
        let base = self.base.as_nanos().min(u64::MAX as u128) as u64;
        let cap = self.cap.as_nanos().min(u64::MAX as u128) as u64;
        // base·2^n without overflow: attempt 1,000 is simply the cap.
        let ceiling = base
            .saturating_mul(1u64.checked_shl(n).unwrap_or(u64::MAX))
            .min(cap);
        let ns = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => rng.random_range(0..=ceiling),
            Jitter::Decorrelated => {
                let hi = (prev.as_nanos().min(u64::MAX as u128) as u64)
                    .saturating_mul(3)
                    .max(base);
                rng.random_range(base.min(hi)..=hi).min(cap)
            }
        };
        Duration::from_nanos(ns)
    }

    /// Retry (and after how long) or stop, for the failure of attempt number `attempt` (1-based).
    pub fn decide(
        &self,
        err: &Error,
        attempt: u32,
        prev: Duration,
        rng: &mut impl Rng,
    ) -> Decision {
        if attempt >= self.max_attempts || !is_retryable(err) {
            return Decision::Stop(err.clone());
        }
        match retry_after(err) {
            Some(wait) if wait > self.max_retry_after => Decision::Stop(
                Error::new(
                    ErrorKind::RateLimited,
                    format!(
                        "{} (Retry-After {} ms is over the {} ms cap: not retried)",
                        err.message,
                        wait.as_millis(),
                        self.max_retry_after.as_millis()
                    ),
                )
                .with_details(merged(
                    err,
                    serde_json::json!({ "retry_after_over_cap": true }),
                )),
            ),
            Some(wait) => Decision::RetryAfter(wait),
            None => Decision::RetryAfter(self.backoff(attempt - 1, prev, rng)),
        }
    }
}

/// `err.details` with `extra`'s fields added.
pub(crate) fn merged(err: &Error, extra: serde_json::Value) -> serde_json::Value {
    let mut details = match &err.details {
        Some(serde_json::Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    if let serde_json::Value::Object(extra) = extra {
        details.extend(extra);
    }
    serde_json::Value::Object(details)
}

/// Retries as a share of requests over a sliding 10-second window, plus a small floor so a
/// lone request can still retry: `retries < max(min_retries, ratio × requests)`.
pub struct RetryBudget {
    ratio: f64,
    min_retries: u32,
    clock: Clock,
    buckets: Mutex<[(u64, u32, u32); BUDGET_BUCKETS]>,
}

const BUDGET_BUCKETS: usize = 10;
const BUCKET_NS: u64 = 1_000_000_000;

impl RetryBudget {
    pub fn new(ratio: f64, min_retries: u32, clock: Clock) -> Self {
        RetryBudget {
            ratio,
            min_retries,
            clock,
            buckets: Mutex::new([(u64::MAX, 0, 0); BUDGET_BUCKETS]),
        }
    }

    /// Counts a request (its first attempt).
    pub fn record_request(&self) {
        self.update(|b| b.1 += 1);
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn try_spend(&self) -> bool {
        let now = self.clock.now_ns() / BUCKET_NS;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (mut requests, mut retries) = (0u64, 0u64);
        for (sec, req, ret) in buckets.iter() {
            if *sec != u64::MAX && now.saturating_sub(*sec) < BUDGET_BUCKETS as u64 {
                requests += *req as u64;
                retries += *ret as u64;
            }
        }
        let allowed = (self.ratio * requests as f64)
            .floor()
            .max(self.min_retries as f64);
        if (retries as f64) < allowed {
            Self::bucket(&mut buckets, now).2 += 1;
            true
        } else {
            false
        }
    }

    fn update(&self, f: impl FnOnce(&mut (u64, u32, u32))) {
        let now = self.clock.now_ns() / BUCKET_NS;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        f(Self::bucket(&mut buckets, now));
    }

    fn bucket(buckets: &mut [(u64, u32, u32); BUDGET_BUCKETS], sec: u64) -> &mut (u64, u32, u32) {
        let b = &mut buckets[(sec % BUDGET_BUCKETS as u64) as usize];
        if b.0 != sec {
            *b = (sec, 0, 0);
        }
        b
    }
}

/// Runs `attempt(n)` (n = 1, 2, ...) until it succeeds, the policy stops, or the budget is
/// spent. Returns the result and the number of attempts made. Errors carry `details.attempts`.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    budget: Option<&RetryBudget>,
    mut attempt: F,
) -> (Result<T>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    if let Some(b) = budget {
        b.record_request();
    }
    let mut rng = ChaCha8Rng::from_rng(&mut rand::rng());
    let mut prev = policy.base;
    let mut n = 1;
    loop {
        let err = match attempt(n).await {
            Ok(v) => return (Ok(v), n),
            Err(e) => e,
        };
        let stop = |e: Error| {
            let details = merged(&e, serde_json::json!({ "attempts": n }));
            (Err(e.with_details(details)), n)
        };
        match policy.decide(&err, n, prev, &mut rng) {
            Decision::Stop(e) => return stop(e),
            Decision::RetryAfter(_) if budget.is_some_and(|b| !b.try_spend()) => {
                let details = merged(&err, serde_json::json!({ "retry_budget_exhausted": true }));
                return stop(err.with_details(details));
            }
            Decision::RetryAfter(wait) => {
                prev = wait;
                tokio::time::sleep(wait).await;
            }
        }
        n += 1;
    }
}
