//! Routing over a model's deployments: failover (config order), weighted, least-busy, lowest
//! latency (EWMA), cost-optimal under a cap, race-first (first good answer wins, the others are
//! cancelled) and parallel (every answer). Deployments whose breaker is open, whose estimated
//! cost is over the cap, or whose rate limit is reached are skipped; when every deployment is
//! only rate-limited, the route waits for the first to free up (up to the Retry-After cap).
//!
//! Per deployment: breaker → rate limiters → the call, retried with backoff while the error
//! is retryable and the deployment's retry quota pays for it; then the next deployment. A final error (400, 401, 404, context too large)
//! is returned at once: it would fail everywhere.
//!
//! Generic over the target so the bindings' pools of user callbacks route the same way.

mod health;

pub use health::{Health, HealthSnapshot, SharedLimit};

use crate::config::RouteStrategy;
use crate::error::{Error, ErrorKind, Result};
use crate::resilience::limiter_redis::{RedisAdmission, RedisRateLimiter};
use crate::resilience::retry::{self, merged};
use crate::resilience::{is_retryable, Admission, Outcome, RateLimiter, RetryPolicy, Ticket};
use futures_util::stream::{FuturesUnordered, StreamExt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Member<D> {
    pub target: D,
    pub weight: f64,
    /// Estimated USD per call, for the `cost` strategy and the cap (set per request).
    pub health: Arc<Health>,
}

pub struct Route<D> {
    pub strategy: RouteStrategy,
    pub members: Vec<Member<D>>,
    /// Deployments estimated to cost more per call are skipped.
    pub max_cost_usd: Option<f64>,
    rng: Mutex<ChaCha8Rng>,
}

/// A successful call: the value, which member served it, and attempts made in all.
#[derive(Debug)]
pub struct Served<T> {
    pub value: T,
    pub member: usize,
    pub attempts: u32,
}

/// What one request asks of the route.
pub struct Plan<'a> {
    /// Estimated tokens (prompt + expected output), for the tokens-per-minute limits.
    pub tokens: u64,
    /// Estimated USD per member (same order as `members`); `None` where unknown.
    pub costs: &'a [Option<f64>],
    pub policy: &'a RetryPolicy,
}

impl<D: Clone> Route<D> {
    pub fn new(
        strategy: RouteStrategy,
        members: Vec<Member<D>>,
        max_cost_usd: Option<f64>,
    ) -> Self {
        Self::seeded(strategy, members, max_cost_usd, rand::rng().random())
    }

    /// With a fixed seed for the weighted strategy's draws.
    pub fn seeded(
        strategy: RouteStrategy,
        members: Vec<Member<D>>,
        max_cost_usd: Option<f64>,
        seed: u64,
    ) -> Self {
        Route {
            strategy,
            members,
            max_cost_usd,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    /// Members to try, best first, without open breakers or members over the cost cap.
    pub fn order(&self, costs: &[Option<f64>]) -> Vec<usize> {
        let cost = |i: usize| costs.get(i).copied().flatten();
        let mut idx: Vec<usize> = (0..self.members.len())
            .filter(|&i| !self.members[i].health.is_open())
            .filter(|&i| match (self.max_cost_usd, cost(i)) {
                (Some(cap), Some(c)) => c <= cap,
                _ => true,
            })
            .collect();
        let m = &self.members;
        match self.strategy {
            RouteStrategy::Failover | RouteStrategy::Race | RouteStrategy::Parallel => {}
            RouteStrategy::Weighted => {
                // Efraimidis–Spirakis: an ordering drawn in proportion to the weights.
                let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
                let mut keyed: Vec<(f64, usize)> = idx
                    .iter()
                    .map(|&i| {
                        let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                        let w = m[i].weight;
                        (if w > 0.0 { -u.ln() / w } else { f64::INFINITY }, i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                idx = keyed.into_iter().map(|(_, i)| i).collect();
            }
            RouteStrategy::LeastBusy => idx.sort_by_key(|&i| m[i].health.in_flight()),
            // Untried deployments first (their latency is unknown), then fastest.
            RouteStrategy::Latency => idx.sort_by(|&a, &b| {
                let key = |i: usize| m[i].health.latency_ms().unwrap_or(-1.0);
                key(a).total_cmp(&key(b))
            }),
            RouteStrategy::Cost => idx.sort_by(|&a, &b| {
                let key = |i: usize| cost(i).unwrap_or(f64::INFINITY);
                key(a).total_cmp(&key(b))
            }),
        }
        // Deployments of a provider the monitor reports down go last, in the same order: still
        // tried when nothing else answers.
        idx.sort_by_key(|&i| m[i].health.provider_down());
        idx
    }

    /// One answer, by the route's strategy (`parallel` returns the first success in order).
    pub async fn execute<T, F, Fut>(&self, plan: &Plan<'_>, call: F) -> Result<Served<T>>
    where
        F: Fn(D, u32) -> Fut,
        Fut: Future<Output = Result<T>>,
        T: UsedTokens,
    {
        if let Some(e) = over_budget(plan.costs, self.members.len(), self.max_cost_usd) {
            return Err(e);
        }
        if matches!(self.strategy, RouteStrategy::Race | RouteStrategy::Parallel) {
            return self.race(plan, &call).await;
        }
        let mut attempts = 0;
        for round in 0..2 {
            let mut last: Option<Error> = None;
            // The deployment whose own limit frees up first, and when.
            let mut soonest: Option<(Duration, usize)> = None;
            for i in self.order(plan.costs) {
                let (result, n) = self.try_member(i, plan, &call).await;
                attempts += n;
                match result {
                    Ok(value) => {
                        return Ok(Served {
                            value,
                            member: i,
                            attempts,
                        })
                    }
                    Err(e) if is_local_limit(&e) => {
                        let wait = retry_after(&e);
                        if soonest.is_none_or(|(s, _)| wait < s) {
                            soonest = Some((wait, i));
                        }
                        last.get_or_insert(e);
                    }
                    Err(e) if fails_over(&e) => last = Some(e),
                    Err(e) => return Err(with_attempts(e, attempts)),
                }
            }
            // Every deployment was skipped or failed. If the best was only rate-limited here, wait once.
            match (round, soonest, &last) {
                (0, Some((wait, i)), Some(e))
                    if is_local_limit(e) && wait <= plan.policy.max_retry_after =>
                {
                    self.members[i].health.count_limit_wait(wait);
                    tracing::info!(
                        trinity.wait_ms = wait.as_millis() as u64,
                        "every deployment is at its rate limit here: waiting {} ms",
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await
                }
                _ => {
                    return Err(with_attempts(
                        last.unwrap_or_else(|| self.none_available()),
                        attempts,
                    ))
                }
            }
        }
        Err(with_attempts(self.none_available(), attempts))
    }

    /// Every available member at once; all results, in member order.
    pub async fn execute_all<T, F, Fut>(&self, plan: &Plan<'_>, call: F) -> Vec<(usize, Result<T>)>
    where
        F: Fn(D, u32) -> Fut,
        Fut: Future<Output = Result<T>>,
        T: UsedTokens,
    {
        let order = self.order(plan.costs);
        let runs = order.iter().map(|&i| self.try_member(i, plan, &call));
        let results = futures_util::future::join_all(runs).await;
        let mut all: Vec<(usize, Result<T>)> = order
            .into_iter()
            .zip(results)
            .map(|(i, (r, _))| (i, r))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all
    }

    /// Race-first: the first success wins and the others are dropped (cancelled). `Parallel`
    /// waits for every member and returns the first success in member order.
    async fn race<T, F, Fut>(&self, plan: &Plan<'_>, call: &F) -> Result<Served<T>>
    where
        F: Fn(D, u32) -> Fut,
        Fut: Future<Output = Result<T>>,
        T: UsedTokens,
    {
        let order = self.order(plan.costs);
        if self.strategy == RouteStrategy::Parallel {
            let mut attempts = 0;
            let mut last = None;
            let runs = order
                .iter()
                .map(|&i| async move { (i, self.try_member(i, plan, call).await) });
            for (i, (r, n)) in futures_util::future::join_all(runs).await {
                attempts += n;
                match r {
                    Ok(value) if last.as_ref().is_none_or(|l: &Result<Served<T>>| l.is_err()) => {
                        last = Some(Ok(Served {
                            value,
                            member: i,
                            attempts: 0,
                        }))
                    }
                    Ok(_) => {}
                    Err(e) if last.is_none() => last = Some(Err(e)),
                    Err(_) => {}
                }
            }
            return match last {
                Some(Ok(s)) => Ok(Served { attempts, ..s }),
                Some(Err(e)) => Err(with_attempts(e, attempts)),
                None => Err(self.none_available()),
            };
        }
        let mut racers: FuturesUnordered<_> = order
            .iter()
            .map(|&i| async move { (i, self.try_member(i, plan, call).await) })
            .collect();
        let (mut attempts, mut last) = (0, None);
        while let Some((i, (r, n))) = racers.next().await {
            attempts += n;
            match r {
                Ok(value) => {
                    return Ok(Served {
                        value,
                        member: i,
                        attempts,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(with_attempts(
            last.unwrap_or_else(|| self.none_available()),
            attempts,
        ))
    }

    /// One member with retries: breaker, limiters, call; outcomes recorded.
    async fn try_member<T, F, Fut>(&self, i: usize, plan: &Plan<'_>, call: &F) -> (Result<T>, u32)
    where
        F: Fn(D, u32) -> Fut,
        Fut: Future<Output = Result<T>>,
        T: UsedTokens,
    {
        let m = &self.members[i];
        let (result, n) = retry::run(plan.policy, m.health.quota.as_deref(), |n| async move {
            let guard = Attempt::admit(&m.health, plan.tokens).await?;
            let _in_flight = m.health.start();
            let started = Instant::now();
            let result = call(m.target.clone(), n).await;
            guard.finish(&result, started.elapsed());
            result
        })
        .await;
        // A try refused at admission (its breaker opened meanwhile, or a limit of our own) sent
        // nothing: it is not an attempt. Such a refusal is never retried, so it can only be the last.
        let sent = match &result {
            Err(e) if e.kind == ErrorKind::CircuitOpen || is_local_limit(e) => n - 1,
            _ => n,
        };
        (result, sent)
    }

    fn none_available(&self) -> Error {
        let names: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.health.name.as_str())
            .collect();
        Error::new(
            ErrorKind::CircuitOpen,
            format!(
                "no deployment available (all open or over the cost cap): {}",
                names.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "deployments": names }))
    }
}

/// `budget_exceeded` when a cap is set and every member's estimated cost is over it (rather
/// than "no deployment available").
pub fn over_budget(costs: &[Option<f64>], members: usize, cap: Option<f64>) -> Option<Error> {
    let cap = cap?;
    let all_over = members > 0
        && (0..members).all(|i| costs.get(i).copied().flatten().is_some_and(|c| c > cap));
    all_over.then(|| {
        Error::new(
            ErrorKind::BudgetExceeded,
            format!("no deployment within the budget of {cap} USD per call"),
        )
        .with_details(serde_json::json!({ "max_cost_usd": cap, "costs": costs }))
    })
}

/// Token usage of a result, to reconcile the tokens-per-minute estimate.
pub trait UsedTokens {
    fn used_tokens(&self) -> Option<u64>;

    /// Output tokens of a whole answer (tokens per second); none for a stream just opened.
    fn output_tokens(&self) -> Option<u64> {
        None
    }
}

impl UsedTokens for crate::llm::ChatResponse {
    fn used_tokens(&self) -> Option<u64> {
        Some(self.usage.total_tokens).filter(|&t| t > 0)
    }

    fn output_tokens(&self) -> Option<u64> {
        Some(self.usage.completion_tokens).filter(|&t| t > 0)
    }
}

/// The breaker ticket and limiter admissions of one attempt; a dropped attempt (cancelled)
/// records nothing against the deployment.
struct Attempt<'a> {
    health: &'a Health,
    ticket: Option<Ticket>,
    admissions: Vec<(&'a Arc<RateLimiter>, Admission)>,
    shared: Vec<(Arc<RedisRateLimiter>, RedisAdmission)>,
}

impl<'a> Attempt<'a> {
    /// Breaker, then local limits, then shared ones. A Redis that cannot be reached fails open:
    /// the local limits still hold, and an outage of the limiter is not one of the provider.
    async fn admit(health: &'a Health, tokens: u64) -> Result<Attempt<'a>> {
        let ticket = match &health.breaker {
            Some(b) => Some(b.try_acquire().map_err(skip)?),
            None => None,
        };
        let mut attempt = Attempt {
            health,
            ticket,
            admissions: Vec::new(),
            shared: Vec::new(),
        };
        let limited = |e: Error| {
            health.count_limited();
            limited_here(e)
        };
        for limiter in &health.limiters {
            let admission = limiter.try_acquire(tokens).map_err(limited)?;
            attempt.admissions.push((limiter, admission));
        }
        for shared in &health.shared {
            let limiter = match shared.limiter().await {
                Ok(l) => l,
                Err(_) => continue,
            };
            match limiter.try_acquire(tokens).await {
                Ok(a) => attempt.shared.push((limiter.clone(), a)),
                Err(e) if e.kind == ErrorKind::RateLimited => return Err(limited(e)),
                Err(_) => continue,
            }
        }
        Ok(attempt)
    }

    fn finish<T: UsedTokens>(mut self, result: &Result<T>, took: Duration) {
        let outcome = match result {
            Ok(v) => {
                if let Some(used) = v.used_tokens() {
                    for (limiter, admission) in &self.admissions {
                        limiter.reconcile(*admission, used);
                    }
                    for (limiter, admission) in std::mem::take(&mut self.shared) {
                        crate::rt::spawn_here(
                            async move { limiter.reconcile(&admission, used).await },
                        );
                    }
                }
                Outcome::Success
            }
            Err(e) if is_retryable(e) || e.kind == ErrorKind::Auth => Outcome::Failure,
            // The deployment answered properly (e.g. a 400 for a bad request): healthy.
            Err(_) => Outcome::Success,
        };
        self.health.observe(outcome == Outcome::Success, took);
        if let (Some(b), Some(t)) = (&self.health.breaker, self.ticket.take()) {
            b.record(t, outcome);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let (Some(b), Some(t)) = (&self.health.breaker, self.ticket.take()) {
            b.record(t, Outcome::Cancelled);
        }
    }
}

/// A rate limit of this client's own (local or shared) was reached: try another deployment
/// rather than retry this one.
fn limited_here(e: Error) -> Error {
    let details = merged(
        &e,
        serde_json::json!({ "local_limit": true, "should_retry": false }),
    );
    e.with_details(details)
}

/// An open breaker met at attempt time: move on to the next deployment, no retry here.
fn skip(e: Error) -> Error {
    let details = merged(&e, serde_json::json!({ "should_retry": false }));
    e.with_details(details)
}

fn is_local_limit(e: &Error) -> bool {
    e.details
        .as_ref()
        .and_then(|d| d.get("local_limit"))
        .and_then(|v| v.as_bool())
        == Some(true)
        && e.details
            .as_ref()
            .and_then(|d| d.get("retryable"))
            .and_then(|v| v.as_bool())
            != Some(false)
}

fn retry_after(e: &Error) -> Duration {
    Duration::from_millis(
        e.details
            .as_ref()
            .and_then(|d| d.get("retry_after_ms"))
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
    )
}

/// Errors another deployment may not have: retryable ones, an open breaker, auth and a missing model.
fn fails_over(e: &Error) -> bool {
    let should = e
        .details
        .as_ref()
        .and_then(|d| d.get("should_retry"))
        .and_then(|v| v.as_bool());
    match e.kind {
        ErrorKind::CircuitOpen | ErrorKind::Auth | ErrorKind::NotFound => true,
        ErrorKind::RateLimited
            if e.details
                .as_ref()
                .and_then(|d| d.get("retry_after_over_cap"))
                .is_some() =>
        {
            true
        }
        _ => is_retryable(e) || (should == Some(false) && retry::is_transient_kind(e.kind)),
    }
}

fn with_attempts(e: Error, attempts: u32) -> Error {
    let details = merged(&e, serde_json::json!({ "attempts": attempts }));
    e.with_details(details)
}
