//! `NativeProviderRoute`: the core router (`trinity_core::router::Route<usize>`, the target being
//! a provider's index) over JS provider callbacks, for the TypeScript `ProviderFailover` and
//! `ProviderPool`. Strategy, breaker admission and recording, retries and failover are the
//! core's, exactly as in `llm::Client`; only the provider call itself runs in JS.
//!
//! Per attempt the core calls the JS callback `(index, attempt) => Promise<ProviderOutcome>`
//! through a threadsafe function. The callback runs the user's provider, keeps its value on the
//! JS side under a token, and resolves with `{ ok: true, token }` or with the error's
//! `{ ok: false, code, message, details }`, which becomes the core `Error` the router classifies.

use crate::resilience::NativeCircuitBreaker;
use crate::task::{spawn_promise, unless_cancelled, AbortToken};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::{Map, Value};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use trinity_core::config::{Jitter, RouteStrategy};
use trinity_core::resilience::{self, RetryPolicy};
use trinity_core::router::{Health, Member, Plan, Route, Served, UsedTokens};
use trinity_core::{Error as CoreError, ErrorKind};

/// Where a failure's token travels inside the core error's details (removed before JS sees it).
const TOKEN_KEY: &str = "provider_token";

/// What the JS callback resolves with for one attempt.
#[napi(object)]
pub struct ProviderOutcome {
    pub ok: bool,
    /// The key under which the JS side keeps the value (or the error) of this attempt.
    pub token: Option<u32>,
    /// A core error code; anything else counts as `provider`.
    pub code: Option<String>,
    pub message: Option<String>,
    pub details: Option<Value>,
}

/// The answer of `execute` (one per member for `executeAll`): the member that served and the
/// token of its value, or the core's final error. `member` is a position in the request's
/// member list.
#[napi(object)]
pub struct RouteResult {
    pub ok: bool,
    pub member: Option<u32>,
    /// The token of the value (ok) or of the provider error the final error came from.
    pub token: Option<u32>,
    /// Calls made in all.
    pub attempts: u32,
    pub code: Option<String>,
    pub message: Option<String>,
    pub details: Option<Value>,
}

#[napi(object)]
#[derive(Default)]
pub struct RouteRetryOptions {
    /// Attempts per provider, the first included (default 1: no retries, straight to the next).
    pub max_attempts: Option<f64>,
    pub base_ms: Option<f64>,
    pub cap_ms: Option<f64>,
    /// `full` (default), `decorrelated` or `none`.
    pub jitter: Option<String>,
    pub max_retry_after_ms: Option<f64>,
}

#[napi(object)]
#[derive(Default)]
pub struct RouteCallOptions {
    /// Provider indexes to route over, in order (default: every provider, in the order added).
    pub members: Option<Vec<u32>>,
    /// Overrides the route's strategy for this call.
    pub strategy: Option<String>,
    /// Estimated USD per member (same order as `members`); null where unknown.
    pub costs: Option<Vec<Option<f64>>>,
    /// Members estimated above it are skipped.
    pub max_cost_usd: Option<f64>,
    /// Estimated tokens, for rate limits.
    pub tokens: Option<f64>,
}

/// A success carries only the JS-side token of the value.
struct Called(Option<u32>);

impl UsedTokens for Called {
    fn used_tokens(&self) -> Option<u64> {
        None
    }
}

type Callback = ThreadsafeFunction<
    FnArgs<(u32, u32)>,
    Promise<ProviderOutcome>,
    FnArgs<(u32, u32)>,
    Status,
    false,
>;

/// A config enum by its schema name (`least_busy`; `least-busy` too).
macro_rules! parse {
    ($ty:ty, $what:expr, $s:expr) => {
        serde_json::from_value::<$ty>(Value::String($s.replace('-', "_")))
            .map_err(|_| CoreError::invalid_input(format!("{}: unknown value '{}'", $what, $s)))
    };
}

fn millis(v: Option<f64>, what: &str, default: Duration) -> trinity_core::Result<Duration> {
    match v {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_millis(v as u64)),
        Some(_) => Err(CoreError::invalid_input(format!(
            "{what}: expected a non-negative number"
        ))),
    }
}

impl RouteRetryOptions {
    fn policy(self) -> trinity_core::Result<RetryPolicy> {
        let d = RetryPolicy::default();
        Ok(RetryPolicy {
            max_attempts: match self.max_attempts {
                None => 1,
                Some(v) if v.is_finite() && v >= 1.0 => v.min(u32::MAX as f64) as u32,
                Some(_) => {
                    return Err(CoreError::invalid_input(
                        "retry.maxAttempts: expected a number >= 1",
                    ))
                }
            },
            base: millis(self.base_ms, "retry.baseMs", d.base)?,
            cap: millis(self.cap_ms, "retry.capMs", d.cap)?,
            jitter: match self.jitter {
                Some(j) => parse!(Jitter, "retry.jitter", j)?,
                None => d.jitter,
            },
            max_retry_after: millis(
                self.max_retry_after_ms,
                "retry.maxRetryAfterMs",
                d.max_retry_after,
            )?,
        })
    }
}

struct Provider {
    health: Arc<Health>,
    weight: f64,
}

#[napi]
pub struct NativeProviderRoute {
    strategy: RouteStrategy,
    policy: RetryPolicy,
    providers: RwLock<Vec<Provider>>,
    /// Every provider in the order added, by the route's strategy; rebuilt when one is added.
    route: RwLock<Arc<Route<usize>>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// The core error a provider's failure stands for; its token rides in the details.
fn outcome_error(o: ProviderOutcome) -> CoreError {
    let kind = o
        .code
        .as_deref()
        .and_then(ErrorKind::from_code)
        .unwrap_or(ErrorKind::Provider);
    let mut details = match o.details {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(t) = o.token {
        details.insert(TOKEN_KEY.into(), t.into());
    }
    let e = CoreError::new(kind, o.message.unwrap_or_else(|| kind.code().into()));
    if details.is_empty() {
        e
    } else {
        e.with_details(Value::Object(details))
    }
}

/// One attempt: the JS callback, then the promise it returned.
async fn attempt(cb: &Callback, member: usize, n: u32) -> trinity_core::Result<Called> {
    let broken =
        |e: napi::Error| CoreError::internal(format!("provider callback failed: {}", e.reason));
    let promise = cb
        .call_async_catch((member as u32, n).into())
        .await
        .map_err(broken)?;
    let o = promise.await.map_err(broken)?;
    if o.ok {
        Ok(Called(o.token))
    } else {
        Err(outcome_error(o))
    }
}

impl RouteResult {
    fn served(s: Served<Called>) -> Self {
        RouteResult {
            ok: true,
            member: Some(s.member as u32),
            token: s.value.0,
            attempts: s.attempts,
            code: None,
            message: None,
            details: None,
        }
    }

    fn failed(member: Option<usize>, mut e: CoreError) -> Self {
        let (mut token, mut attempts) = (None, 0);
        if let Some(Value::Object(d)) = &mut e.details {
            token = d
                .remove(TOKEN_KEY)
                .and_then(|v| v.as_u64())
                .map(|v| v as u32);
            attempts = d.get("attempts").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
            if d.is_empty() {
                e.details = None;
            }
        }
        RouteResult {
            ok: false,
            member: member.map(|m| m as u32),
            token,
            attempts,
            code: Some(e.kind.code().into()),
            message: Some(e.message),
            details: e.details,
        }
    }
}

/// One call's route and plan inputs.
struct Prepared {
    route: Arc<Route<usize>>,
    costs: Vec<Option<f64>>,
    cap: Option<f64>,
    tokens: u64,
    policy: RetryPolicy,
    cancel: Option<tokio_util::sync::CancellationToken>,
}

impl Prepared {
    fn plan(&self) -> Plan<'_> {
        Plan {
            tokens: self.tokens,
            costs: &self.costs,
            policy: &self.policy,
        }
    }
}

impl NativeProviderRoute {
    fn build(
        &self,
        strategy: RouteStrategy,
        members: &[u32],
        cap: Option<f64>,
    ) -> trinity_core::Result<Route<usize>> {
        let providers = read(&self.providers);
        let members = members
            .iter()
            .map(|&i| {
                let p = providers.get(i as usize).ok_or_else(|| {
                    CoreError::invalid_input(format!("unknown provider index {i}"))
                })?;
                Ok(Member {
                    target: i as usize,
                    weight: p.weight,
                    health: p.health.clone(),
                })
            })
            .collect::<trinity_core::Result<Vec<_>>>()?;
        Ok(Route::new(strategy, members, cap))
    }

    /// The held route, or one over the call's members / strategy / cap (same `Health`s).
    fn route_for(&self, o: &RouteCallOptions) -> trinity_core::Result<Arc<Route<usize>>> {
        let strategy = match &o.strategy {
            Some(s) => parse!(RouteStrategy, "strategy", s)?,
            None => self.strategy,
        };
        if o.members.is_none() && strategy == self.strategy && o.max_cost_usd.is_none() {
            return Ok(read(&self.route).clone());
        }
        let all: Vec<u32> = (0..read(&self.providers).len() as u32).collect();
        let members = o.members.as_deref().unwrap_or(&all);
        Ok(Arc::new(self.build(strategy, members, o.max_cost_usd)?))
    }

    /// What one call needs on the core runtime.
    fn prepare(
        &self,
        options: Option<RouteCallOptions>,
        abort: Option<&AbortToken>,
    ) -> trinity_core::Result<Prepared> {
        let o = options.unwrap_or_default();
        Ok(Prepared {
            route: self.route_for(&o)?,
            tokens: o.tokens.filter(|t| *t >= 0.0).unwrap_or(0.0) as u64,
            cap: o.max_cost_usd,
            costs: o.costs.unwrap_or_default(),
            policy: self.policy.clone(),
            cancel: abort.map(|a| a.token.clone()),
        })
    }
}

#[napi]
impl NativeProviderRoute {
    /// `strategy`: failover (default), weighted, least_busy, latency, cost, race or parallel.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        strategy: Option<String>,
        retry: Option<RouteRetryOptions>,
    ) -> Result<Self> {
        crate::error::guard(&env, || {
            let strategy = match strategy {
                Some(s) => parse!(RouteStrategy, "strategy", s)?,
                None => RouteStrategy::Failover,
            };
            Ok(NativeProviderRoute {
                strategy,
                policy: retry.unwrap_or_default().policy()?,
                providers: RwLock::new(Vec::new()),
                route: RwLock::new(Arc::new(Route::new(strategy, Vec::new(), None))),
            })
        })
    }

    /// Adds a provider guarded by `breaker` (shared with the JS `CircuitBreaker` object);
    /// returns its index, the number the callback receives.
    #[napi]
    pub fn add_provider(
        &self,
        env: Env,
        name: String,
        breaker: &NativeCircuitBreaker,
        weight: Option<f64>,
    ) -> Result<u32> {
        crate::error::guard(&env, || {
            let weight = weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(CoreError::invalid_input(
                    "weight: expected a non-negative number",
                ));
            }
            let n = {
                let mut p = write(&self.providers);
                p.push(Provider {
                    health: Arc::new(Health::new(name, Some(breaker.core()), Vec::new())),
                    weight,
                });
                p.len() as u32
            };
            let all: Vec<u32> = (0..n).collect();
            *write(&self.route) = Arc::new(self.build(self.strategy, &all, None)?);
            Ok(n - 1)
        })
    }

    /// One answer by the strategy. Resolves (never rejects, unless the arguments are wrong)
    /// with a `RouteResult`; `abort` cancels every attempt in flight (code `cancelled`).
    #[napi(
        ts_args_type = "callback: (index: number, attempt: number) => Promise<ProviderOutcome>, options?: RouteCallOptions | undefined | null, abort?: AbortToken | undefined | null"
    )]
    pub fn execute<'env>(
        &self,
        env: &'env Env,
        callback: Callback,
        options: Option<RouteCallOptions>,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, RouteResult>> {
        let mut p = crate::error::guard(env, || self.prepare(options, abort))?;
        let cancel = p.cancel.take();
        spawn_promise(
            env,
            async move {
                // The route itself answers `budget_exceeded` when every provider is over its cap.
                let (plan, cb) = (p.plan(), &callback);
                let run = p.route.execute(&plan, |i, n| attempt(cb, i, n));
                Ok(match unless_cancelled(run, cancel).await {
                    Ok(s) => RouteResult::served(s),
                    Err(e) => RouteResult::failed(None, e),
                })
            },
            |r| r,
        )
    }

    /// Every available member at once (the core's `execute_all`); one result per member, in
    /// member order. A member the route left out gets, without being called, `budget_exceeded`
    /// (priced over the cap) or `circuit_open` (its breaker was open).
    #[napi(
        ts_args_type = "callback: (index: number, attempt: number) => Promise<ProviderOutcome>, options?: RouteCallOptions | undefined | null, abort?: AbortToken | undefined | null"
    )]
    pub fn execute_all<'env>(
        &self,
        env: &'env Env,
        callback: Callback,
        options: Option<RouteCallOptions>,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, Vec<RouteResult>>> {
        let mut p = crate::error::guard(env, || self.prepare(options, abort))?;
        let cancel = p.cancel.take();
        spawn_promise(
            env,
            async move {
                let (plan, cb) = (p.plan(), &callback);
                let run = async { Ok(p.route.execute_all(&plan, |i, n| attempt(cb, i, n)).await) };
                let done = unless_cancelled(run, cancel).await;
                let mut out: Vec<Option<RouteResult>> =
                    (0..p.route.members.len()).map(|_| None).collect();
                match done {
                    Ok(all) => {
                        for (i, r) in all {
                            out[i] = Some(match r {
                                Ok(v) => RouteResult::served(Served {
                                    value: v,
                                    member: i,
                                    attempts: 1,
                                }),
                                Err(e) => RouteResult::failed(Some(i), e),
                            });
                        }
                    }
                    Err(e) => {
                        for slot in out.iter_mut() {
                            *slot = Some(RouteResult::failed(None, e.clone()));
                        }
                    }
                }
                Ok(out
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| r.unwrap_or_else(|| left_out(&p.route, i, &p.costs, p.cap)))
                    .collect())
            },
            |r| r,
        )
    }

    /// Names in index order.
    #[napi]
    pub fn providers(&self) -> Vec<String> {
        read(&self.providers)
            .iter()
            .map(|p| p.health.name.clone())
            .collect()
    }
}

/// A member the route did not call: priced over the cap, or its breaker was open.
fn left_out(
    route: &Route<usize>,
    i: usize,
    costs: &[Option<f64>],
    cap: Option<f64>,
) -> RouteResult {
    if let Some(e) = trinity_core::router::over_budget(costs.get(i..=i).unwrap_or(&[]), 1, cap) {
        return RouteResult::failed(Some(i), e);
    }
    let h = &route.members[i].health;
    let state = h.breaker.as_ref().map_or("open", |b| b.state().as_str());
    let mut r = RouteResult::failed(
        Some(i),
        CoreError::new(
            ErrorKind::CircuitOpen,
            format!("circuit breaker '{}' is {state}", h.name),
        )
        .with_details(serde_json::json!({ "breaker": h.name, "state": state })),
    );
    r.attempts = 0;
    r
}

/// The core's `is_retryable` over an error's code and details: whether the same provider is
/// worth another attempt (429, 5xx, timeouts, network; never 400, 401, 404).
#[napi]
pub fn is_retryable(code: String, details: Option<Value>) -> bool {
    let kind = ErrorKind::from_code(&code).unwrap_or(ErrorKind::Provider);
    let mut e = CoreError::new(kind, "");
    if let Some(d) = details {
        e = e.with_details(d);
    }
    resilience::is_retryable(&e)
}
