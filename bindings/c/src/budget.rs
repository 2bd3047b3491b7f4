//! The client's budget: alerts as a C callback, and spend against the limits as JSON.

use crate::boundary::call;
use crate::client::{client, trinity_client, UserData};
use crate::error::trinity_error;
use crate::ffi::{opt_str_in, put_json, string_out, trinity_string};
use std::ffi::{c_char, c_void};
use trinity_core::rt;

/// Called each time spend passes one of `budget.alerts` of a limit, once per window, with the
/// alert as a JSON object (`limit`, `fraction`, `spent_usd`, `limit_usd`, `window`, `user`?),
/// lent for the duration of the call. It runs on a library runtime thread: it must return
/// quickly and must not call blocking trinity functions.
pub type trinity_budget_alert_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, alert_json: *const c_char, len: usize)>;

/// Registers `callback` for the client's budget alerts; `user_data` must stay usable from a
/// runtime thread for as long as the client lives. Errors: `TRINITY_ERR_INVALID_INPUT` (NULL
/// client or callback), `TRINITY_ERR_CONFIG` (the config sets no budget).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_on_budget_alert(
    client: *const trinity_client,
    callback: trinity_budget_alert_callback,
    user_data: *mut c_void,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let cb = crate::ffi::required(callback, "callback")?;
        let user = UserData(user_data);
        self::client(client)?.on_budget_alert(move |alert| {
            let user = &user;
            if let Ok(mut json) = serde_json::to_vec(alert) {
                let len = json.len();
                json.push(0);
                // SAFETY: the caller's callback with its own `user_data` (header contract).
                cb(user.0, json.as_ptr().cast(), len);
            }
        })
    })
}

/// Writes the spend and holds of the day, the month and `user`'s day (optional: NULL, 0)
/// against their limits to `out_json`: `{"scope", "per_request_usd", "windows": [{"limit",
/// "window", "limit_usd", "spent_usd", "reserved_usd", "remaining_usd", "spent_nano", ...,
/// "resets_at"}], ...}`. Errors: `TRINITY_ERR_CONFIG` (no budget), `TRINITY_ERR_NETWORK` (a
/// Redis budget that cannot be reached), `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently; not from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_budget(
    client: *const trinity_client,
    user: *const c_char,
    user_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let client = self::client(client)?;
        let user = opt_str_in(user, user_len, "user")?;
        put_json(out, &rt::wait(client.budget(user))?)
    })
}
