//! The circuit breaker and the (local) rate limiter as opaque handles.
//!
//! Breaker: `trinity_breaker_acquire` admits a call and writes a ticket number; hand it back,
//! exactly once, to `trinity_breaker_record` with the call's outcome. Tickets stay on this side
//! (numbers are never reused, so a stale or repeated ticket is `TRINITY_ERR_INVALID_INPUT`
//! instead of a wrong count); a ticket never recorded stays held until the breaker is freed.
//! Limiter: admissions cross as numbers (`trinity_limiter_reconcile` takes one back); nothing
//! is held per admission.
//!
//! Both handles are internally locked: every function on a live handle is safe from any
//! thread, concurrently; only `*_free` needs the caller to be the handle's last user.

use crate::boundary::{call, guard};
use crate::cancel::{token_of, trinity_cancel_token, until_cancelled};
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, string_out, trinity_string};
use futures_util::FutureExt;
use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::resilience::{
    Admission, BreakerSettings, BreakerState, CircuitBreaker, LimiterSnapshot, Outcome, RateLimit,
    RateLimiter, RedisAdmission, RedisRateLimiter, Ticket,
};
use trinity_core::{rt, Error, ErrorKind, Result};

/// Breaker states, as `trinity_breaker_state` writes them and `trinity_breaker_set_state` takes.
pub const TRINITY_BREAKER_CLOSED: u32 = 0;
pub const TRINITY_BREAKER_OPEN: u32 = 1;
pub const TRINITY_BREAKER_HALF_OPEN: u32 = 2;
/// Set by hand: rejects every call until set otherwise.
pub const TRINITY_BREAKER_FORCED_OPEN: u32 = 3;
/// Set by hand: admits every call and records nothing.
pub const TRINITY_BREAKER_DISABLED: u32 = 4;

/// How an admitted call ended, for `trinity_breaker_record`.
pub const TRINITY_OUTCOME_SUCCESS: u32 = 0;
pub const TRINITY_OUTCOME_FAILURE: u32 = 1;
/// Neither: the caller gave up, or the error says nothing about the callee's health.
pub const TRINITY_OUTCOME_CANCELLED: u32 = 2;

const STATES: [(u32, BreakerState); 5] = [
    (TRINITY_BREAKER_CLOSED, BreakerState::Closed),
    (TRINITY_BREAKER_OPEN, BreakerState::Open),
    (TRINITY_BREAKER_HALF_OPEN, BreakerState::HalfOpen),
    (TRINITY_BREAKER_FORCED_OPEN, BreakerState::ForcedOpen),
    (TRINITY_BREAKER_DISABLED, BreakerState::Disabled),
];

/// A circuit breaker. Opaque; make with `trinity_breaker_new`, free with `trinity_breaker_free`.
pub struct trinity_breaker {
    inner: CircuitBreaker,
    /// Admitted calls not yet recorded, by ticket number; numbers count up and are never reused.
    tickets: Mutex<(u64, HashMap<u64, Ticket>)>,
}

/// A rate limiter. Opaque; make with `trinity_limiter_new`, free with `trinity_limiter_free`.
pub struct trinity_limiter {
    inner: Limiter,
}

/// The core limiter behind a handle: this process's own, or one shared through Redis. Cloned
/// into `trinity_limiter_acquire_async` waits, which may outlive the handle.
#[derive(Clone)]
enum Limiter {
    Local(Arc<RateLimiter>),
    Redis(Arc<RedisRateLimiter>),
}

impl Limiter {
    fn try_acquire(&self, tokens: u64) -> Result<u64> {
        match self {
            Limiter::Local(l) => l.try_acquire(tokens).map(|a| a.id()),
            Limiter::Redis(r) => rt::wait(r.try_acquire(tokens)).map(|a| a.number),
        }
    }

    async fn acquire(self, tokens: u64) -> Result<u64> {
        match self {
            Limiter::Local(l) => l.acquire(tokens).await.map(|a| a.id()),
            Limiter::Redis(r) => r.acquire(tokens).await.map(|a| a.number),
        }
    }

    fn reconcile(&self, admission: u64, actual_tokens: u64) -> Result<()> {
        match self {
            Limiter::Local(l) => {
                l.reconcile(Admission::from_id(admission, actual_tokens), actual_tokens);
                Ok(())
            }
            Limiter::Redis(r) => {
                rt::wait(r.reconcile(&RedisAdmission::from_number(admission), actual_tokens))
            }
        }
    }

    fn snapshot(&self) -> Result<LimiterSnapshot> {
        match self {
            Limiter::Local(l) => Ok(l.snapshot()),
            Limiter::Redis(r) => rt::wait(r.snapshot()),
        }
    }
}

unsafe fn breaker<'a>(b: *const trinity_breaker) -> Result<&'a trinity_breaker> {
    // SAFETY: NULL or a live handle from `trinity_breaker_new` (header contract).
    unsafe { b.as_ref() }
        .ok_or_else(|| Error::invalid_input("breaker: NULL handle (never made, or already freed)"))
}

unsafe fn limiter<'a>(l: *const trinity_limiter) -> Result<&'a Limiter> {
    // SAFETY: NULL or a live handle from `trinity_limiter_new` (header contract).
    unsafe { l.as_ref() }
        .map(|l| &l.inner)
        .ok_or_else(|| Error::invalid_input("limiter: NULL handle (never made, or already freed)"))
}

/// A JSON object argument (NULL, 0: `{}`) split into its optional `"name"` and the rest.
unsafe fn named_config(
    ptr: *const c_char,
    len: usize,
) -> Result<(String, serde_json::Map<String, serde_json::Value>)> {
    let value = if ptr.is_null() && len == 0 {
        serde_json::json!({})
    } else {
        // SAFETY: forwarded caller contract.
        unsafe { json_in(ptr, len, "config_json") }?
    };
    let serde_json::Value::Object(mut fields) = value else {
        return Err(Error::invalid_input("config_json: expected a JSON object"));
    };
    let name = match fields.remove("name") {
        None => "default".to_string(),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(Error::invalid_input("config_json.name: expected a string")),
    };
    Ok((name, fields))
}

/// The config schema validates a section and names the bad field (`breaker.window_size`).
fn section(value: serde_json::Value) -> Result<Config> {
    Config::from_value(value, EnvOverrides::Ignore)
}

/// Makes a circuit breaker. `config_json` is a JSON object with the fields of the config
/// schema's `breaker` section (`window_type` "count" | "time", `window_size`, `minimum_calls`,
/// `failure_rate_threshold`, `slow_call_ms`, `slow_call_rate_threshold`, `open_wait_ms`,
/// `half_open_calls`; missing fields take the defaults) plus an optional `"name"` used in
/// errors; NULL, 0 is all defaults. Errors: `TRINITY_ERR_CONFIG` with details `{"path"}`
/// naming the bad field; `TRINITY_ERR_INVALID_INPUT` for text that is not a JSON object.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_new(
    config_json: *const c_char,
    config_len: usize,
    out_breaker: *mut *mut trinity_breaker,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_breaker, "out_breaker")?;
        *out = std::ptr::null_mut();
        let (name, fields) = named_config(config_json, config_len)?;
        let c = section(serde_json::json!({ "breaker": fields }))?;
        let inner = CircuitBreaker::new(name, BreakerSettings::from(&c.breaker))?;
        *out = Box::into_raw(Box::new(trinity_breaker {
            inner,
            tickets: Mutex::new((0, HashMap::new())),
        }));
        Ok(())
    })
}

/// Frees a breaker (and any tickets never recorded). NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user (no call on it in flight).
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_free(b: *mut trinity_breaker) {
    guard((), || {
        if !b.is_null() {
            // SAFETY: a handle from `trinity_breaker_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(b) });
        }
    })
}

/// Admits a call, writing its ticket to `out_ticket`; record its outcome with
/// `trinity_breaker_record`. Errors: `TRINITY_ERR_CIRCUIT_OPEN` with details
/// `{"breaker", "state", "retry_after_ms"}` when the breaker rejects the call.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_acquire(
    b: *const trinity_breaker,
    out_ticket: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_ticket, "out_ticket")?;
        let b = breaker(b)?;
        let ticket = b.inner.try_acquire()?;
        let mut held = b.tickets.lock().unwrap_or_else(|p| p.into_inner());
        held.0 += 1;
        let number = held.0;
        held.1.insert(number, ticket);
        *out = number;
        Ok(())
    })
}

/// Records how the call admitted with `ticket` ended: `TRINITY_OUTCOME_SUCCESS`, `_FAILURE`
/// (counted in the failure rate) or `_CANCELLED` (counted in nothing; frees a half-open probe).
/// A call slower than the `slow_call_ms` setting also counts as slow. Errors:
/// `TRINITY_ERR_INVALID_INPUT` for an unknown outcome, or a ticket this breaker did not issue
/// or that was already recorded.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_record(
    b: *const trinity_breaker,
    ticket: u64,
    outcome: u32,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let b = breaker(b)?;
        let outcome = match outcome {
            TRINITY_OUTCOME_SUCCESS => Outcome::Success,
            TRINITY_OUTCOME_FAILURE => Outcome::Failure,
            TRINITY_OUTCOME_CANCELLED => Outcome::Cancelled,
            n => {
                return Err(Error::invalid_input(format!(
                    "outcome: expected TRINITY_OUTCOME_SUCCESS, _FAILURE or _CANCELLED, got {n}"
                )))
            }
        };
        let taken = b
            .tickets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .remove(&ticket);
        let ticket = taken.ok_or_else(|| {
            Error::invalid_input(format!(
                "ticket {ticket}: not issued by this breaker, or already recorded"
            ))
        })?;
        b.inner.record(ticket, outcome);
        Ok(())
    })
}

/// Writes the state (`TRINITY_BREAKER_*`) to `out_state`. An open breaker whose wait is over
/// reports half-open: the next call is a probe.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_state(
    b: *const trinity_breaker,
    out_state: *mut u32,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_state, "out_state")?;
        let state = breaker(b)?.inner.state();
        *out = STATES
            .iter()
            .find(|(_, s)| *s == state)
            .map(|(n, _)| *n)
            .ok_or_else(|| Error::internal(format!("breaker state {state:?} has no number")))?;
        Ok(())
    })
}

/// Moves the breaker by hand to `state` (`TRINITY_BREAKER_*`): closed and half-open start fresh
/// counts, open waits `open_wait_ms` again. Errors: `TRINITY_ERR_INVALID_INPUT` for an
/// unknown state.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_set_state(
    b: *const trinity_breaker,
    state: u32,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let b = breaker(b)?;
        let (_, to) = STATES.iter().find(|(n, _)| *n == state).ok_or_else(|| {
            Error::invalid_input(format!("state: no TRINITY_BREAKER_* is {state}"))
        })?;
        b.inner.set_state(*to);
        Ok(())
    })
}

/// Writes the breaker's counters as a JSON object: `state` ("closed", "open", "half_open",
/// "forced_open", "disabled"), `calls`, `failures`, `slow_calls`, `failure_rate`,
/// `slow_call_rate`, `not_permitted`, `retry_after_ms`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_breaker_snapshot(
    b: *const trinity_breaker,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_json(out, &breaker(b)?.inner.snapshot())
    })
}

/// Makes a rate limiter: requests (`rpm`) and tokens (`tpm`) per window as exact sliding logs,
/// waiters served in arrival order. `config_json` is a JSON object `{"name", "rpm", "tpm",
/// "window_ms", "redis_url"}`, all optional: a missing `rpm` or `tpm` is unlimited, `window_ms`
/// defaults to 60000 (a minute). Errors: `TRINITY_ERR_CONFIG` with details `{"path"}`
/// (`rate_limits.NAME.rpm`); `TRINITY_ERR_INVALID_INPUT` for text that is not a JSON object.
///
/// With `"redis_url"` (`redis://host:port/db`) the limit is shared by every process that names
/// the same `name` on that Redis: one atomic script on the server's clock, exact across
/// processes. Then `trinity_limiter_try_acquire`, `_reconcile` and `_snapshot` make a network
/// round trip (so they are blocking calls, not for trinity callbacks), waiters in different
/// processes are served in no particular order, and an unreachable Redis is
/// `TRINITY_ERR_NETWORK` with details `{"unavailable": true}` (here, and on any later call).
///
/// Thread safety: safe from any thread; with `redis_url`, not from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_new(
    config_json: *const c_char,
    config_len: usize,
    out_limiter: *mut *mut trinity_limiter,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_limiter, "out_limiter")?;
        *out = std::ptr::null_mut();
        let (name, mut fields) = named_config(config_json, config_len)?;
        let redis_url = match fields.remove("redis_url") {
            None => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(_) => {
                return Err(Error::invalid_input(
                    "config_json.redis_url: expected a string",
                ))
            }
        };
        let window_path = format!("rate_limits.{name}.window_ms");
        let window_ms = match fields.remove("window_ms") {
            None => 60_000,
            Some(v) => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                Error::config(format!("{window_path}: expected a positive integer"))
                    .with_details(serde_json::json!({ "path": window_path }))
            })?,
        };
        let window = Duration::from_millis(window_ms);
        let limit = if fields.is_empty() {
            RateLimit {
                rpm: None,
                tpm: None,
                window,
            }
        } else {
            let c = section(serde_json::json!({ "rate_limits": { &name: fields } }))?;
            let l = &c.rate_limits[&name];
            RateLimit {
                rpm: l.rpm.map(|v| v.get()),
                tpm: l.tpm.map(|v| v.get()),
                window,
            }
        };
        let inner = match redis_url {
            None => Limiter::Local(Arc::new(RateLimiter::new(name, limit)?)),
            Some(url) => Limiter::Redis(Arc::new(rt::wait(RedisRateLimiter::new(
                &url, &name, limit,
            ))?)),
        };
        *out = Box::into_raw(Box::new(trinity_limiter { inner }));
        Ok(())
    })
}

/// Frees a limiter. NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user (no call on it in flight, including
/// a blocked `trinity_limiter_acquire`).
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_free(l: *mut trinity_limiter) {
    guard((), || {
        if !l.is_null() {
            // SAFETY: a handle from `trinity_limiter_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(l) });
        }
    })
}

/// Admits a request of `tokens` tokens now, writing its admission number to `out_admission`
/// (for `trinity_limiter_reconcile`). Never jumps ahead of callers waiting in
/// `trinity_limiter_acquire`. Errors: `TRINITY_ERR_RATE_LIMITED`, with the wait until it would
/// fit written to `out_retry_after_ms` (may be NULL) and in details `{"retry_after_ms"}`; a
/// request larger than `tpm` can never fit: details `{"retryable": false}`, and
/// `out_retry_after_ms` is set to UINT64_MAX.
///
/// Thread safety: safe from any thread, concurrently; for a limiter shared through Redis, not
/// from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_try_acquire(
    l: *const trinity_limiter,
    tokens: u64,
    out_admission: *mut u64,
    out_retry_after_ms: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_admission, "out_admission")?;
        // SAFETY: NULL or writable storage for one u64 (header contract).
        let mut retry_out = out_retry_after_ms.as_mut();
        if let Some(r) = retry_out.as_deref_mut() {
            *r = 0;
        }
        match limiter(l)?.try_acquire(tokens) {
            Ok(a) => {
                *out = a;
                Ok(())
            }
            Err(e) => {
                if let Some(r) = retry_out {
                    *r = retry_after_ms(&e);
                }
                Err(e)
            }
        }
    })
}

/// The wait a `rate_limited` error asks for; `u64::MAX` for one that can never fit.
fn retry_after_ms(e: &Error) -> u64 {
    let details = e.details.as_ref();
    let never = details.and_then(|d| d.get("retryable")) == Some(&serde_json::Value::Bool(false));
    match details.and_then(|d| d.get("retry_after_ms")?.as_u64()) {
        Some(ms) if e.kind == ErrorKind::RateLimited && !never => ms,
        _ => u64::MAX,
    }
}

/// Blocks until a request of `tokens` tokens is admitted, in arrival order, and writes its
/// admission number to `out_admission`. Errors: `TRINITY_ERR_RATE_LIMITED` with details
/// `{"retryable": false}` at once for a request larger than `tpm`; `TRINITY_ERR_CANCELLED`
/// when `cancel` (may be NULL) is cancelled, which leaves the line;
/// `TRINITY_ERR_INVALID_INPUT` when called from a trinity callback.
///
/// Thread safety: safe from any thread, concurrently; not from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_acquire(
    l: *const trinity_limiter,
    tokens: u64,
    cancel: *const trinity_cancel_token,
    out_admission: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_admission, "out_admission")?;
        let l = limiter(l)?;
        *out = rt::wait(until_cancelled(token_of(cancel), l.clone().acquire(tokens)))?;
        Ok(())
    })
}

/// Called once when a `trinity_limiter_acquire_async` ends: `code` is `TRINITY_OK` and
/// `admission` the admission number, or `code` is the error number and `err` describes it
/// (lent for the duration of the callback: copy what you keep, do not free it).
pub type trinity_admission_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        code: u32,
        admission: u64,
        err: *const trinity_error,
    ),
>;

/// The caller's `user_data`, carried to the runtime thread that calls back (header contract).
struct UserData(*mut c_void);
// SAFETY: the header makes `user_data`'s use from a runtime thread the caller's promise.
unsafe impl Send for UserData {}

/// `trinity_limiter_acquire` without blocking: returns at once, and `callback` runs exactly once,
/// on a runtime thread, when the request is admitted (in arrival order) or fails: at once with
/// `TRINITY_ERR_RATE_LIMITED` (details `{"retryable": false}`) for a request larger than `tpm`,
/// or `TRINITY_ERR_CANCELLED` promptly after `trinity_cancel` on `cancel` (optional, NULL), which
/// leaves the line. A NULL limiter or callback is returned here and the callback is NOT called;
/// once this returns `TRINITY_OK` it is called exactly once, maybe before this returns. The wait
/// keeps the limiter alive: the handle may be freed meanwhile.
///
/// The callback must return quickly and must not call blocking trinity functions; `user_data`
/// must be usable from a runtime thread until it runs.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_acquire_async(
    l: *const trinity_limiter,
    tokens: u64,
    callback: trinity_admission_callback,
    user_data: *mut c_void,
    cancel: *const trinity_cancel_token,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let cb = crate::ffi::required(callback, "callback")?;
        let l = limiter(l)?.clone();
        let token = token_of(cancel);
        let user = UserData(user_data);
        rt::spawn(async move {
            let work = until_cancelled(token, l.acquire(tokens));
            // A panic in the core still owes the caller its one callback.
            let result = AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(Error::from_panic(p)));
            let user = user; // moved whole into the task (not just its raw-pointer field)
            match result {
                // SAFETY: the caller's callback with its own `user_data` (header contract).
                Ok(a) => cb(user.0, crate::error::TRINITY_OK, a, std::ptr::null()),
                Err(e) => {
                    let code = e.kind.number();
                    let err = trinity_error::boxed(e);
                    // SAFETY: as above; `err` is freed only after the callback returns.
                    cb(user.0, code, 0, err);
                    crate::error::trinity_error_free(err);
                }
            }
        });
        Ok(())
    })
}

/// Replaces the token estimate of admission `admission` with the tokens the request really
/// used. An admission that has left the window (or that this limiter never made) is a no-op.
///
/// Thread safety: safe from any thread, concurrently; for a limiter shared through Redis, not
/// from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_reconcile(
    l: *const trinity_limiter,
    admission: u64,
    actual_tokens: u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        limiter(l)?.reconcile(admission, actual_tokens)
    })
}

/// Writes the limiter's state as a JSON object: `rpm`, `tpm` (null: unlimited),
/// `requests_in_window`, `tokens_in_window`, `remaining_requests`, `remaining_tokens`,
/// `retry_after_ms` (until one more 1-token request fits), `admitted`, `rejected`.
///
/// Thread safety: safe from any thread, concurrently; for a limiter shared through Redis, not
/// from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_limiter_snapshot(
    l: *const trinity_limiter,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_json(out, &limiter(l)?.snapshot()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn every_state_round_trips() {
        let mut b = null_mut();
        // SAFETY: valid out-parameters; the handle is freed once.
        unsafe {
            assert_eq!(trinity_breaker_new(null(), 0, &mut b, null_mut()), 0);
            for (n, _) in STATES {
                assert_eq!(trinity_breaker_set_state(b, n, null_mut()), 0);
                let mut got = u32::MAX;
                assert_eq!(trinity_breaker_state(b, &mut got, null_mut()), 0);
                assert_eq!(got, n);
            }
            trinity_breaker_free(b);
        }
    }

    #[test]
    fn tickets_record_once() {
        let mut b = null_mut();
        let mut t = 0;
        // SAFETY: valid out-parameters; the handle is freed once.
        unsafe {
            assert_eq!(trinity_breaker_new(null(), 0, &mut b, null_mut()), 0);
            assert_eq!(trinity_breaker_acquire(b, &mut t, null_mut()), 0);
            let bad = ErrorKind::InvalidInput.number();
            assert_eq!(trinity_breaker_record(b, t, 9, null_mut()), bad);
            assert_eq!(trinity_breaker_record(b, t, 0, null_mut()), 0);
            assert_eq!(trinity_breaker_record(b, t, 0, null_mut()), bad);
            trinity_breaker_free(b);
        }
    }

    #[test]
    fn limits_shared_through_redis() {
        let mut redis = trinity_core::testing::RedisServer::start().expect("redis-server");
        let cfg = format!(
            r#"{{"name": "c-shared", "rpm": 3, "tpm": 100, "window_ms": 60000, "redis_url": "{}"}}"#,
            redis.url()
        );
        let (mut a, mut b) = (null_mut(), null_mut());
        let limited = ErrorKind::RateLimited.number();
        // SAFETY: valid pointers and lengths; each handle is freed once.
        unsafe {
            let new = |out| trinity_limiter_new(cfg.as_ptr().cast(), cfg.len(), out, null_mut());
            assert_eq!(new(&mut a), 0);
            assert_eq!(new(&mut b), 0);
            let (mut n, mut retry) = (0, 0);
            // Two handles (as two processes would), one limit.
            assert_eq!(
                trinity_limiter_try_acquire(a, 60, &mut n, &mut retry, null_mut()),
                0
            );
            assert_eq!(
                trinity_limiter_try_acquire(b, 50, &mut n, &mut retry, null_mut()),
                limited
            );
            assert!(retry > 59_000 && retry <= 60_000, "{retry}");
            assert_eq!(trinity_limiter_reconcile(b, 999, 1, null_mut()), 0); // unknown: no-op
            let first = {
                let mut n = 0;
                assert_eq!(
                    trinity_limiter_try_acquire(a, 10, &mut n, null_mut(), null_mut()),
                    0
                );
                n
            };
            assert_eq!(trinity_limiter_reconcile(a, first, 30, null_mut()), 0);
            assert_eq!(trinity_limiter_acquire(b, 5, null(), &mut n, null_mut()), 0);
            assert_eq!(
                trinity_limiter_try_acquire(b, 1, &mut n, &mut retry, null_mut()),
                limited
            );
            let mut s = trinity_string {
                ptr: null_mut(),
                len: 0,
            };
            assert_eq!(trinity_limiter_snapshot(b, &mut s, null_mut()), 0);
            let json = std::slice::from_raw_parts(s.ptr as *const u8, s.len);
            let snap: serde_json::Value = serde_json::from_slice(json).unwrap();
            crate::ffi::trinity_string_free(&mut s);
            assert_eq!(snap["requests_in_window"], 3);
            assert_eq!(snap["tokens_in_window"], 95);

            redis.kill();
            let mut err = null_mut();
            let rc = trinity_limiter_try_acquire(a, 1, &mut n, null_mut(), &mut err);
            assert_eq!(rc, ErrorKind::Network.number());
            crate::error::trinity_error_free(err);
            trinity_limiter_free(a);
            trinity_limiter_free(b);
            let rc = trinity_limiter_new(cfg.as_ptr().cast(), cfg.len(), &mut a, null_mut());
            assert_eq!(rc, ErrorKind::Network.number());
            assert!(a.is_null());
        }
    }

    #[test]
    fn never_fitting_requests_have_no_retry_after() {
        let e = Error::new(ErrorKind::RateLimited, "x")
            .with_details(serde_json::json!({"retryable": false, "tpm": 5}));
        assert_eq!(retry_after_ms(&e), u64::MAX);
        let e = Error::new(ErrorKind::RateLimited, "x")
            .with_details(serde_json::json!({"retry_after_ms": 12}));
        assert_eq!(retry_after_ms(&e), 12);
    }
}
