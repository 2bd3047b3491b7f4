//! The client's engine logs as a C callback, one call per record.

use crate::boundary::call;
use crate::client::{client, trinity_client, UserData};
use crate::error::trinity_error;
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// Called once per log record of the client, at its `logging.level` and above, scrubbed unless
/// `logging.redact` is false: `line` is the record as `logging.format` renders it, `record_json`
/// the record as a JSON object (`timestamp`, `level`, `target`, `message`, `request_id`, the
/// GenAI fields, `line`); both NUL-terminated and lent for the duration of the call. It runs on
/// the library's log thread, never on a thread making a call; a slow callback delays only
/// later records (a full queue drops them).
pub type trinity_log_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        line: *const c_char,
        line_len: usize,
        record_json: *const c_char,
        json_len: usize,
    ),
>;

/// Registers `callback` for the client's log records; `user_data` must stay usable from the
/// log thread for as long as the client lives. Errors: `TRINITY_ERR_INVALID_INPUT` (NULL client
/// or callback).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_on_log(
    client: *const trinity_client,
    callback: trinity_log_callback,
    user_data: *mut c_void,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let cb = crate::ffi::required(callback, "callback")?;
        let user = UserData(user_data);
        self::client(client)?.on_log(Arc::new(move |records| {
            let user = &user;
            for r in records {
                let mut line = r.line.clone().into_bytes();
                line.push(0);
                let mut json = r.to_object().to_string().into_bytes();
                json.push(0);
                // SAFETY: the caller's callback with its own `user_data` (header contract).
                cb(
                    user.0,
                    line.as_ptr().cast(),
                    line.len() - 1,
                    json.as_ptr().cast(),
                    json.len() - 1,
                );
            }
        }));
        Ok(())
    })
}

/// Waits up to `timeout_ms` until every log record emitted before it has been handed to its
/// callbacks. Returns true when it got there in time.
///
/// Thread safety: safe from any thread; not from a trinity callback.
#[no_mangle]
pub extern "C" fn trinity_flush_logs(timeout_ms: u32) -> bool {
    let timeout = std::time::Duration::from_millis(u64::from(timeout_ms));
    // No panic crosses the boundary (the log thread may fail to start).
    std::panic::catch_unwind(|| trinity_core::observe::log::flush(timeout)).unwrap_or(false)
}
