//! Local rate limits: requests and tokens per window (a minute by default) as exact sliding
//! logs, so no window of that length ever holds more than the limit. Waiters are served in
//! arrival order (a large request at the head is not starved by small ones behind it); a
//! request larger than the whole token limit fails at once. Token estimates made before the
//! call are reconciled with the usage reported after it.

use super::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// Requests and tokens allowed per `window`; `None` means unlimited.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimit {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub window: Duration,
}

impl RateLimit {
    pub fn per_minute(rpm: Option<u64>, tpm: Option<u64>) -> Self {
        RateLimit {
            rpm,
            tpm,
            window: Duration::from_secs(60),
        }
    }
}

/// An admitted request: hand it to `reconcile` once the real token count is known.
#[derive(Clone, Copy, Debug)]
pub struct Admission {
    id: u64,
    pub tokens: u64,
}

impl Admission {
    /// The admission's id, for bindings that hand admissions across an FFI as a number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Rebuilds an admission from `id()` for `reconcile`, which replaces the stored estimate
    /// (so `tokens` here is informational); an id no longer in the window makes it a no-op.
    pub fn from_id(id: u64, tokens: u64) -> Admission {
        Admission { id, tokens }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LimiterSnapshot {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub requests_in_window: u64,
    pub tokens_in_window: u64,
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Until one more 1-token request would fit, in ms.
    pub retry_after_ms: u64,
    pub admitted: u64,
    pub rejected: u64,
}

pub struct RateLimiter {
    name: String,
    clock: Clock,
    state: Mutex<State>,
    /// FIFO turnstile: the holder is the head waiter; `try_acquire` never jumps the line.
    turnstile: tokio::sync::Mutex<()>,
    /// Callers in `acquire` (in line or at its head): `try_acquire` admits only when none.
    waiting: std::sync::atomic::AtomicUsize,
}

struct State {
    limit: RateLimit,
    /// Admission times (ns), oldest first.
    requests: VecDeque<u64>,
    /// (time ns, tokens, id), oldest first.
    tokens: VecDeque<(u64, u64, u64)>,
    token_sum: u64,
    next_id: u64,
    admitted: u64,
    rejected: u64,
}

impl State {
    fn prune(&mut self, now: u64) {
        let w = self.limit.window.as_nanos() as u64;
        while self
            .requests
            .front()
            .is_some_and(|&t| t.saturating_add(w) <= now)
        {
            self.requests.pop_front();
        }
        while let Some(&(t, n, _)) = self.tokens.front() {
            if t.saturating_add(w) > now {
                break;
            }
            self.token_sum -= n;
            self.tokens.pop_front();
        }
    }

    /// When `tokens` more would fit (ns on the limiter's clock); `now` when they fit already.
    fn fits_at(&self, now: u64, tokens: u64) -> u64 {
        let w = self.limit.window.as_nanos() as u64;
        let mut at = now;
        if let Some(rpm) = self.limit.rpm {
            let len = self.requests.len() as u64;
            if len >= rpm {
                at = at.max(self.requests[(len - rpm) as usize].saturating_add(w));
            }
        }
        if let Some(tpm) = self.limit.tpm {
            let mut excess = (self.token_sum + tokens).saturating_sub(tpm);
            for &(t, n, _) in &self.tokens {
                if excess == 0 {
                    break;
                }
                excess = excess.saturating_sub(n);
                at = at.max(t.saturating_add(w));
            }
        }
        at
    }

    fn admit(&mut self, now: u64, tokens: u64) -> Admission {
        let id = self.next_id;
        self.next_id += 1;
        self.admitted += 1;
        if self.limit.rpm.is_some() {
            self.requests.push_back(now);
        }
        if self.limit.tpm.is_some() {
            self.tokens.push_back((now, tokens, id));
            self.token_sum += tokens;
        }
        Admission { id, tokens }
    }
}

impl RateLimiter {
    pub fn new(name: impl Into<String>, limit: RateLimit) -> Result<Self> {
        Self::with_clock(name, limit, Clock::default())
    }

    pub fn with_clock(name: impl Into<String>, limit: RateLimit, clock: Clock) -> Result<Self> {
        validate(&limit)?;
        Ok(RateLimiter {
            name: name.into(),
            clock,
            state: Mutex::new(State {
                limit,
                requests: VecDeque::new(),
                tokens: VecDeque::new(),
                token_sum: 0,
                next_id: 0,
                admitted: 0,
                rejected: 0,
            }),
            turnstile: tokio::sync::Mutex::new(()),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Admits now or fails with `rate_limited` (details: `retry_after_ms`). Never jumps ahead
    /// of waiters in `acquire`.
    #[inline]
    pub fn try_acquire(&self, tokens: u64) -> Result<Admission> {
        let now = self.clock.now_ns();
        let mut s = self.lock();
        self.check_size(&s, tokens)?;
        s.prune(now);
        let at = s.fits_at(now, tokens);
        let line_free = self.waiting.load(std::sync::atomic::Ordering::Acquire) == 0;
        if at <= now && line_free {
            return Ok(s.admit(now, tokens));
        }
        s.rejected += 1;
        let wait = if line_free {
            at - now
        } else {
            (at - now).max(1_000_000)
        };
        Err(self.limited(wait))
    }

    /// Waits in line until `tokens` fit, then admits. Dropping the future leaves the line.
    pub async fn acquire(&self, tokens: u64) -> Result<Admission> {
        self.check_size(&self.lock(), tokens)?;
        let _in_line = InLine::join(&self.waiting);
        let _head = self.turnstile.lock().await;
        loop {
            let now = self.clock.now_ns();
            let at = {
                let mut s = self.lock();
                s.prune(now);
                let at = s.fits_at(now, tokens);
                if at <= now {
                    return Ok(s.admit(now, tokens));
                }
                at
            };
            self.clock.sleep_until_ns(at).await;
        }
    }

    /// Replaces the estimate of an admitted request with the tokens it really used.
    pub fn reconcile(&self, admission: Admission, actual_tokens: u64) {
        let mut s = self.lock();
        if let Ok(i) = s.tokens.binary_search_by_key(&admission.id, |e| e.2) {
            let old = std::mem::replace(&mut s.tokens[i].1, actual_tokens);
            s.token_sum = s.token_sum - old + actual_tokens;
        }
    }

    /// How long until `tokens` would be admitted (zero when now).
    pub fn retry_after(&self, tokens: u64) -> Duration {
        let now = self.clock.now_ns();
        let mut s = self.lock();
        s.prune(now);
        Duration::from_nanos(s.fits_at(now, tokens) - now)
    }

    pub fn limit(&self) -> RateLimit {
        self.lock().limit.clone()
    }

    /// New limits apply at once to the admissions already in the window.
    pub fn set_limit(&self, limit: RateLimit) -> Result<()> {
        validate(&limit)?;
        let mut s = self.lock();
        if limit.window != s.limit.window
            || limit.rpm.is_some() != s.limit.rpm.is_some()
            || limit.tpm.is_some() != s.limit.tpm.is_some()
        {
            s.requests.clear();
            s.tokens.clear();
            s.token_sum = 0;
        }
        s.limit = limit;
        Ok(())
    }

    pub fn snapshot(&self) -> LimiterSnapshot {
        let now = self.clock.now_ns();
        let mut s = self.lock();
        s.prune(now);
        let requests = s.requests.len() as u64;
        LimiterSnapshot {
            rpm: s.limit.rpm,
            tpm: s.limit.tpm,
            requests_in_window: requests,
            tokens_in_window: s.token_sum,
            remaining_requests: s.limit.rpm.map(|r| r.saturating_sub(requests)),
            remaining_tokens: s.limit.tpm.map(|t| t.saturating_sub(s.token_sum)),
            retry_after_ms: (s.fits_at(now, 1) - now).div_ceil(1_000_000),
            admitted: s.admitted,
            rejected: s.rejected,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_size(&self, s: &State, tokens: u64) -> Result<()> {
        match s.limit.tpm {
            Some(tpm) if tokens > tpm => Err(Error::new(
                ErrorKind::RateLimited,
                format!("rate limit '{}': a request of {tokens} tokens can never fit the limit of {tpm} tokens per window", self.name),
            )
            .with_details(serde_json::json!({ "limiter": self.name, "tokens": tokens, "tpm": tpm, "retryable": false }))),
            _ => Ok(()),
        }
    }

    fn limited(&self, wait_ns: u64) -> Error {
        Error::new(ErrorKind::RateLimited, format!("rate limit '{}' reached", self.name)).with_details(
            serde_json::json!({ "limiter": self.name, "retry_after_ms": wait_ns.div_ceil(1_000_000) }),
        )
    }
}

/// Counts a caller in `acquire` until it is admitted or gives up.
struct InLine<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InLine<'a> {
    fn join(count: &'a std::sync::atomic::AtomicUsize) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InLine(count)
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

fn validate(limit: &RateLimit) -> Result<()> {
    let bad = |field: &str, msg: &str| {
        Err(Error::config(format!("rate_limits.{field}: {msg}"))
            .with_details(serde_json::json!({ "path": format!("rate_limits.{field}") })))
    };
    if limit.rpm == Some(0) {
        return bad("rpm", "expected a positive integer");
    }
    if limit.tpm == Some(0) {
        return bad("tpm", "expected a positive integer");
    }
    if limit.window.is_zero() {
        return bad("window_ms", "expected a positive integer");
    }
    Ok(())
}

/// Limiters by name (a provider, a deployment, an API key); a name without a limit is unlimited.
#[derive(Default)]
pub struct LimiterSet {
    limiters: std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<RateLimiter>>>,
    clock: Clock,
}

impl LimiterSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_clock(clock: Clock) -> Self {
        LimiterSet {
            limiters: Default::default(),
            clock,
        }
    }

    /// Sets (or replaces the limits of) the limiter called `name`.
    pub fn set_limit(&self, name: &str, limit: RateLimit) -> Result<()> {
        if let Some(l) = self.get(name) {
            return l.set_limit(limit);
        }
        let limiter =
            std::sync::Arc::new(RateLimiter::with_clock(name, limit, self.clock.clone())?);
        self.limiters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), limiter);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<std::sync::Arc<RateLimiter>> {
        self.limiters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// `Ok(None)` for a name without limits.
    pub fn try_acquire(&self, name: &str, tokens: u64) -> Result<Option<Admission>> {
        self.get(name).map(|l| l.try_acquire(tokens)).transpose()
    }

    pub async fn acquire(&self, name: &str, tokens: u64) -> Result<Option<Admission>> {
        match self.get(name) {
            Some(l) => l.acquire(tokens).await.map(Some),
            None => Ok(None),
        }
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .limiters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}
