//! Retries: exponential backoff with full (or decorrelated) jitter, capped after jitter;
//! `Retry-After` honoured up to a cap (beyond it the call fails fast with `rate_limited`);
//! `x-should-retry` obeyed; a retry quota per deployment so a dead provider cannot multiply
//! the load while a flaky one keeps its retries.

use crate::config::{Jitter, PositiveInt, RetryBudgetConfig, RetryConfig};
use crate::error::{Error, ErrorKind, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// The retry quota of one deployment: the AWS SDKs' standard retry quota, a token bucket
/// (botocore `retries/quota.py` and `retries/standard.py`; the same in every AWS SDK).
///
/// A retry takes `retry_cost` tokens (`timeout_cost` after a timeout). A request that succeeds
/// at its first attempt adds one token; one that succeeds after retries gives back what its
/// last retry took. So retries that work cost nothing in the end and a flaky provider keeps
/// them (the sliding "10% of requests" budget this replaces lost a fifth of the requests an
/// SDK saves at 25% failures), while retries that fail are paid for: a dead provider gets at
/// most `capacity / retry_cost` of them, then only as many as its successes earn. The breaker
/// is the first line against a dead provider; the quota bounds what gets through before it.
pub struct RetryQuota {
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    tokens: AtomicU32,
}

/// What a request that succeeded at its first attempt adds back.
const NO_RETRY_INCREMENT: u32 = 1;

impl RetryQuota {
    /// A full bucket.
    pub fn new(capacity: u32, retry_cost: u32, timeout_cost: u32) -> Self {
        RetryQuota {
            capacity,
            retry_cost,
            timeout_cost,
            tokens: AtomicU32::new(capacity),
        }
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// Takes the cost of retrying after `err`; `None` when the bucket cannot pay it.
    pub fn try_acquire(&self, err: &Error) -> Option<u32> {
        let cost = match err.kind {
            ErrorKind::Timeout => self.timeout_cost,
            _ => self.retry_cost,
        };
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .ok()
            .map(|_| cost)
    }

    /// A request succeeded: `last_cost` is what its last retry took (`None`: no retry).
    pub fn release(&self, last_cost: Option<u32>) {
        let add = last_cost.unwrap_or(NO_RETRY_INCREMENT);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(add).min(self.capacity))
            });
    }
}

impl From<&RetryBudgetConfig> for RetryQuota {
    fn from(c: &RetryBudgetConfig) -> Self {
        let clamp = |v: PositiveInt| v.get().min(u32::MAX as u64) as u32;
        RetryQuota::new(
            clamp(c.capacity),
            clamp(c.retry_cost),
            clamp(c.timeout_cost),
        )
    }
}

/// Runs `attempt(n)` (n = 1, 2, ...) until it succeeds, the policy stops, or the quota cannot
/// pay for another retry. Returns the result and the number of attempts made. Errors carry
/// `details.attempts`, and `details.retry_budget_exhausted` when the quota stopped them.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    quota: Option<&RetryQuota>,
    mut attempt: F,
) -> (Result<T>, u32)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut rng = ChaCha8Rng::from_rng(&mut rand::rng());
    let mut prev = policy.base;
    let mut n = 1;
    let mut last_cost = None;
    loop {
        let err = match attempt(n).await {
            Ok(v) => {
                if let Some(q) = quota {
                    q.release(last_cost);
                }
                return (Ok(v), n);
            }
            Err(e) => e,
        };
        let stop = |e: Error| {
            let details = merged(&e, serde_json::json!({ "attempts": n }));
            (Err(e.with_details(details)), n)
        };
        match policy.decide(&err, n, prev, &mut rng) {
            Decision::Stop(e) => return stop(e),
            Decision::RetryAfter(wait) => {
                if let Some(q) = quota {
                    match q.try_acquire(&err) {
                        Some(cost) => last_cost = Some(cost),
                        None => {
                            let details =
                                merged(&err, serde_json::json!({ "retry_budget_exhausted": true }));
                            return stop(err.with_details(details));
                        }
                    }
                }
                prev = wait;
                tokio::time::sleep(wait).await;
            }
        }
        n += 1;
    }
}

/// Kinds that say the upstream was unwell (whatever `x-should-retry` said about retrying it).
pub fn is_transient_kind(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Network | ErrorKind::Provider
    )
}
