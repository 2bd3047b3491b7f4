//! The client's provider monitor: figures and history as JSON, events to a C callback.

use crate::boundary::call;
use crate::client::{client, trinity_client, UserData};
use crate::error::trinity_error;
use crate::ffi::{opt_str_in, put_json, str_in, string_out, trinity_string};
use std::ffi::{c_char, c_void};
use trinity_core::observe::monitor::Condition;

/// Called with a monitor event as a JSON object (`kind`, `provider`, `from`, `to`, `value`?,
/// `threshold`?, `at_ms`, `health`), lent for the duration of the call. It runs on the
/// monitor's own thread, never a call's: it may block briefly, but must not call blocking
/// trinity functions.
pub type trinity_monitor_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char, len: usize)>;

/// Writes the figures of `provider` over the monitor's window to `out_json` (`{"provider",
/// "state", "error_rate", "latency_ms", "p50_ms", "p95_ms", "p99_ms", "availability",
/// "queue_depth", ...}`, or `null` before anything was seen of it); with `provider` NULL, an
/// array of every provider's. Errors: `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_monitor(
    client: *const trinity_client,
    provider: *const c_char,
    provider_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let monitor = self::client(client)?.monitor();
        match opt_str_in(provider, provider_len, "provider")? {
            Some(p) => put_json(out, &monitor.health(p)),
            None => put_json(out, &monitor.snapshot()),
        }
    })
}

/// Writes `provider`'s history buckets of the last `hours` to `out_json`, oldest first
/// (`[{"start_ms", "end_ms", "requests", "failures", "error_rate", "latency_ms", "p95_ms",
/// ...}]`). Errors: `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_monitor_history(
    client: *const trinity_client,
    provider: *const c_char,
    provider_len: usize,
    hours: f64,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let provider = str_in(provider, provider_len, "provider")?;
        put_json(
            out,
            &self::client(client)?.monitor().history(provider, hours),
        )
    })
}

/// Registers `callback` for `kind` (`"state_change"`, `"down"`, `"high_latency"` with
/// `threshold` in ms of p95, `"high_error_rate"` with `threshold` in 0..1) of `provider`
/// (NULL: any provider); a threshold fires once per crossing. `user_data` must stay usable from
/// another thread for as long as the client lives. Errors: `TRINITY_ERR_INVALID_INPUT` (NULL
/// client or callback, unknown kind, threshold out of range).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_on_monitor_event(
    client: *const trinity_client,
    kind: *const c_char,
    kind_len: usize,
    provider: *const c_char,
    provider_len: usize,
    threshold: f64,
    callback: trinity_monitor_callback,
    user_data: *mut c_void,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let cb = crate::ffi::required(callback, "callback")?;
        let kind = str_in(kind, kind_len, "kind")?;
        let provider = opt_str_in(provider, provider_len, "provider")?;
        let condition = Condition::parse(kind, Some(threshold))?;
        let user = UserData(user_data);
        self::client(client)?
            .monitor()
            .on(provider, condition, move |event| {
                let user = &user;
                if let Ok(mut json) = serde_json::to_vec(event) {
                    let len = json.len();
                    json.push(0);
                    // SAFETY: the caller's callback with its own `user_data` (header contract).
                    cb(user.0, json.as_ptr().cast(), len);
                }
            })
    })
}
