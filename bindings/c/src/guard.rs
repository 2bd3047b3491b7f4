//! Run guards for agent loops (`trinity_core::guard`): `trinity_guard_new` from the guard's JSON
//! settings; steps by number (`begin_step` / `finish_step`, or `deadline_reached` when the
//! caller's own timer cut a step short), steps and LLM calls reported after the fact, a guarded
//! blocking chat, the time left, the performance report; and `trinity_read_event_log`.
//!
//! Every stop is `TRINITY_ERR_GUARD_STOPPED` with details `{"reason": "max_steps" | "max_time" |
//! "loop_detected", ...}` (`rule` and `steps` for a loop), and is sticky: every later step,
//! check or chat answers the same error.
//!
//! The guard is internally locked: every function on a live handle is safe from any thread,
//! concurrently; only `trinity_guard_free` needs the caller to be the handle's last user.

use crate::boundary::{call, guard as no_panic};
use crate::cancel::{token_of, trinity_cancel_token, until_cancelled};
use crate::client::{client, request, trinity_client};
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::guard::{read_event_log, Action, LlmCall, RunGuard, StepOutcome};
use trinity_core::{rt, Error, Result};

/// A run guard. Opaque; make with `trinity_guard_new`, free with `trinity_guard_free`.
pub struct trinity_guard {
    inner: RunGuard,
}

unsafe fn handle<'a>(ptr: *const trinity_guard) -> Result<&'a RunGuard> {
    // SAFETY: NULL or a live handle from `trinity_guard_new` (header contract).
    unsafe { ptr.as_ref() }
        .map(|g| &g.inner)
        .ok_or_else(|| Error::invalid_input("guard: NULL handle (never made, or already freed)"))
}

/// Makes a run guard and starts its clock. `config_json` is `{"max_steps", "max_time_s"
/// (seconds, fractions allowed), "loops": {"enabled", "same_action", "near_duplicate",
/// "alternation_cycles", "same_error" (a threshold of 0 turns its rule off), "cosmetic_keys",
/// "meaningful_keys"}, "event_log" (a JSON Lines file, appended to), "log_arguments"}`; every
/// key is optional, and NULL, 0 (or `null`) is the defaults: no step or time limit, loop
/// detection on, no event log. Errors: `TRINITY_ERR_INVALID_INPUT` for a bad or unknown key
/// (details `{"path"}` name it, e.g. `"loops.same_error"`); `TRINITY_ERR_IO` when the event log
/// cannot be opened.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_new(
    config_json: *const c_char,
    len: usize,
    out_guard: *mut *mut trinity_guard,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_guard, "out_guard")?;
        *out = std::ptr::null_mut();
        let config = if config_json.is_null() && len == 0 {
            serde_json::Value::Null
        } else {
            json_in(config_json, len, "config_json")?
        };
        let inner = RunGuard::from_json(config)?;
        *out = Box::into_raw(Box::new(trinity_guard { inner }));
        Ok(())
    })
}

/// Frees a guard (closing its event log; every line already written stays). NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user (no call on it in flight,
/// including a `trinity_guard_chat` on another thread).
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_free(g: *mut trinity_guard) {
    no_panic((), || {
        if !g.is_null() {
            // SAFETY: a handle from `trinity_guard_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(g) });
        }
    })
}

/// Begins a step: `action_json` is `{"name", "arguments"?}` (any JSON arguments; JSON text
/// holding an object, as models write arguments, compares as that object). Writes the step's
/// number (1 for the run's first) to `out_step`; the step stays open until
/// `trinity_guard_finish_step` or `trinity_guard_deadline_reached` with that number.
/// Errors: `TRINITY_ERR_GUARD_STOPPED` when the run was stopped, its time is up, or this step
/// would go past `max_steps`; `TRINITY_ERR_INVALID_INPUT` for a bad action (details `{"path"}`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_begin_step(
    g: *const trinity_guard,
    action_json: *const c_char,
    len: usize,
    out_step: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_step, "out_step")?;
        *out = 0;
        let g = handle(g)?;
        let action = Action::from_json(json_in(action_json, len, "action_json")?)?;
        *out = g.begin(action)?;
        Ok(())
    })
}

/// Finishes step `step` with how it went: `outcome_json` is `{"ok": <any JSON result>}` or
/// `{"error": {"code", "message"?}}`. The step is recorded (and logged) and checked for loops.
/// Errors: `TRINITY_ERR_GUARD_STOPPED` when this step completes a loop (details `{"reason":
/// "loop_detected", "rule", "steps", "actions", "threshold"}`), the time ran out meanwhile, or
/// another step stopped the run; `TRINITY_ERR_INVALID_INPUT` for a bad outcome (details
/// `{"path"}`) or a step that is not open (never begun, or already finished: details
/// `{"step"}`), which leaves the guard as it was.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_finish_step(
    g: *const trinity_guard,
    step: u64,
    outcome_json: *const c_char,
    len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let g = handle(g)?;
        let outcome = StepOutcome::from_json(json_in(outcome_json, len, "outcome_json")?)?;
        g.finish(step, outcome)
    })
}

/// The caller's own timer fired at the deadline (`trinity_guard_remaining_ms`) while step
/// `step` ran, and the caller cancelled that work: the step is recorded as cancelled and the
/// run stopped with `max_time`. Always fails: it returns `TRINITY_ERR_GUARD_STOPPED` with the
/// stop's error (details `{"reason": "max_time", "cancelled": true, "step", "action", ...}`),
/// the error to report to whoever ran the step; or the earlier stop if the run was stopped
/// already. `TRINITY_ERR_INVALID_INPUT` only for a NULL guard.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_deadline_reached(
    g: *const trinity_guard,
    step: u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        Err(handle(g)?.deadline_reached(step))
    })
}

/// Reports a step that ran outside the guard, after the fact (begin and finish at once):
/// `step_json` is `{"action": {"name", "arguments"?}, "outcome": {"ok": v} | {"error": {"code",
/// "message"?}}, "duration_ms"?}`. Writes its number to `out_step` (0 when the call fails).
/// Errors: as `trinity_guard_begin_step` and `trinity_guard_finish_step`: a step that completes
/// a loop is recorded, and answered with `TRINITY_ERR_GUARD_STOPPED`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_record_step(
    g: *const trinity_guard,
    step_json: *const c_char,
    len: usize,
    out_step: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_step, "out_step")?;
        *out = 0;
        let g = handle(g)?;
        *out = g.record_step_json(json_in(step_json, len, "step_json")?)?;
        Ok(())
    })
}

/// Reports an LLM call made outside the guard: `call_json` is `{"model", "response_model"?,
/// "provider"?, "input_tokens"?, "output_tokens"?, "cost_nano_usd"? (absent: not priced),
/// "duration_ms", "error"?: {"code", "message"}}`. It is recorded either way; errors:
/// `TRINITY_ERR_GUARD_STOPPED` when the run is stopped or out of time,
/// `TRINITY_ERR_INVALID_INPUT` for a bad call (details `{"path"}`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_record_llm_call(
    g: *const trinity_guard,
    call_json: *const c_char,
    len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let g = handle(g)?;
        let llm_call = LlmCall::from_json(json_in(call_json, len, "call_json")?)?;
        g.record_llm_call(llm_call)
    })
}

/// `trinity_chat` as an LLM call of this run: refused with `TRINITY_ERR_GUARD_STOPPED` once the
/// run is stopped; cut at the guard's deadline (the HTTP request is aborted, the call recorded
/// as cancelled and the run stopped with `max_time`, details `{"reason": "max_time",
/// "action": "llm call to <model>"}`); otherwise recorded with its duration, tokens and cost.
/// Writes the ChatResponse object to `out_response_json`. `cancel` is optional (NULL):
/// `trinity_cancel` on it aborts the call with `TRINITY_ERR_CANCELLED` (recorded as failed; the
/// run goes on). Other errors as `trinity_chat`'s.
///
/// Thread safety: safe from any thread, concurrently; not from a trinity callback (it would
/// block a runtime thread: that returns `TRINITY_ERR_INVALID_INPUT`). The guard and the client
/// must outlive the call.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_chat(
    g: *const trinity_guard,
    client: *const trinity_client,
    request_json: *const c_char,
    len: usize,
    cancel: *const trinity_cancel_token,
    out_response_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_response_json, "out_response_json")?;
        let g = handle(g)?;
        let client = self::client(client)?;
        let req = request(request_json, len)?;
        put_json(
            out,
            &rt::wait(until_cancelled(token_of(cancel), g.chat(client, req)))?,
        )
    })
}

/// `TRINITY_OK` while the run may go on (not stopped and within its time); otherwise
/// `TRINITY_ERR_GUARD_STOPPED` with the stop's error (a run past its deadline is stopped now).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_check(
    g: *const trinity_guard,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe { handle(g)?.check() })
}

/// Writes the time left before the guard's deadline, in whole milliseconds (rounded down; 0
/// once past it), to `out_ms`; -1 when the guard has no time limit. A host that runs steps
/// itself arms its own timer with this, and calls `trinity_guard_deadline_reached` when it
/// fires. Errors: `TRINITY_ERR_INVALID_INPUT` (NULL guard or out-parameter).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_remaining_ms(
    g: *const trinity_guard,
    out_ms: *mut i64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_ms, "out_ms")?;
        *out = match handle(g)?.remaining() {
            None => -1,
            Some(left) => i64::try_from(left.as_millis()).unwrap_or(i64::MAX),
        };
        Ok(())
    })
}

/// Writes the performance report so far to `out_json`: `{"run_id", "elapsed_ms", "steps",
/// "failed_steps", "llm_calls", "failed_llm_calls", "unpriced_llm_calls", "stopped": null |
/// {"reason", "message", "details"}, "step_duration_ms", "llm_call_duration_ms",
/// "input_tokens", "output_tokens", "tokens", "cost_usd", "event_log": null | {"path",
/// "lines_written", "write_errors", "last_error"}}`, each metric `{"count", "total", "average",
/// "min", "max", "p50", "p95", "p99"}` (null while its count is 0).
/// Errors: `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_guard_report(
    g: *const trinity_guard,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_json(out, &handle(g)?.performance_report())
    })
}

/// Reads a guard's event log (JSON Lines), keeping every complete line that is a JSON object:
/// writes `{"records": [...], "dropped_lines": [1-based numbers], "torn_tail": bool}` to
/// `out_json` (a process killed mid-write leaves at most one torn last line, dropped here).
/// Errors: `TRINITY_ERR_IO` when the file cannot be read; `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently, also while a guard appends to the file.
#[no_mangle]
pub unsafe extern "C" fn trinity_read_event_log(
    path: *const c_char,
    len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let path = str_in(path, len, "path")?;
        put_json(out, &read_event_log(path)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{trinity_error_code, trinity_error_details, trinity_error_free};
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};
    use trinity_core::ErrorKind;

    fn text(s: &str) -> (*const c_char, usize) {
        (s.as_ptr().cast(), s.len())
    }

    #[test]
    fn steps_by_number_and_errors_by_kind() {
        // SAFETY: every pointer is live or NULL as each function allows.
        unsafe {
            let mut g = null_mut();
            let (c, n) = text(r#"{"max_steps": 1}"#);
            assert_eq!(trinity_guard_new(c, n, &mut g, null_mut()), 0);
            let mut step = 0;
            let (a, n) = text(r#"{"name": "ls"}"#);
            assert_eq!(trinity_guard_begin_step(g, a, n, &mut step, null_mut()), 0);
            assert_eq!(step, 1);
            let mut err = null_mut();
            let rc = trinity_guard_deadline_reached(g, step, &mut err);
            assert_eq!(rc, ErrorKind::GuardStopped.number());
            assert_eq!(trinity_error_code(err), rc);
            let details = CStr::from_ptr(trinity_error_details(err)).to_str().unwrap();
            assert!(details.contains(r#""reason":"max_time""#), "{details}");
            trinity_error_free(err);
            // Sticky, and the step is closed.
            let (o, n) = text(r#"{"ok": 1}"#);
            assert_eq!(
                trinity_guard_finish_step(g, step, o, n, null_mut()),
                ErrorKind::InvalidInput.number()
            );
            assert_eq!(
                trinity_guard_check(g, null_mut()),
                ErrorKind::GuardStopped.number()
            );
            trinity_guard_free(g);

            let mut g = null_mut();
            let mut err = null_mut();
            let (c, n) = text(r#"{"loops": {"same_action": 1}}"#);
            let rc = trinity_guard_new(c, n, &mut g, &mut err);
            assert_eq!(rc, ErrorKind::InvalidInput.number());
            assert!(g.is_null());
            let details = CStr::from_ptr(trinity_error_details(err)).to_str().unwrap();
            assert_eq!(details, r#"{"path":"loops.same_action"}"#);
            trinity_error_free(err);
            assert_eq!(
                trinity_guard_deadline_reached(null(), 1, null_mut()),
                ErrorKind::InvalidInput.number()
            );
            let mut ms = 0;
            assert_eq!(
                trinity_guard_remaining_ms(null(), &mut ms, null_mut()),
                ErrorKind::InvalidInput.number()
            );
            trinity_guard_free(null_mut());
        }
    }
}
