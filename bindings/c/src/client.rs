//! The LLM client: `trinity_chat` (blocking), `trinity_chat_async` (callback), and
//! `trinity_chat_stream` (blocking, a callback per chunk). Requests and answers are the core's
//! JSON (`ChatRequest`, `ChatResponse`, `ChatChunk`); calls run on the core's tokio runtime.

use crate::boundary::{call, guard};
use crate::cancel::{token_of, trinity_cancel_token, until_cancelled};
use crate::error::{trinity_error, TRINITY_OK};
use crate::ffi::{json_bytes, json_in, non_null, put_json, str_in, string_out, trinity_string};
use futures_util::{FutureExt, StreamExt};
use std::ffi::{c_char, c_void};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, ChatResponse, Client};
use trinity_core::{rt, Error, Result};

/// An LLM client over the configured providers. Opaque; make with `trinity_client_new`, free
/// with `trinity_client_free`.
pub struct trinity_client {
    inner: Arc<Client>,
}

/// Called once when a `trinity_chat_async` call ends. On success `code` is `TRINITY_OK`,
/// `response_json`/`len` hold the answer (a ChatResponse object, NUL-terminated) and `err` is
/// NULL; on failure `code` is the error number, `response_json` is NULL and `err` describes it.
/// Both are lent for the duration of the callback only: copy what you keep, free neither.
pub type trinity_chat_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        code: u32,
        response_json: *const c_char,
        len: usize,
        err: *const trinity_error,
    ),
>;

/// Called for each streamed chunk with its JSON (a ChatChunk object, NUL-terminated, lent for
/// the duration of the callback). Return true to go on, false to stop the stream (its HTTP
/// connection is closed and `trinity_chat_stream` returns `TRINITY_OK`).
pub type trinity_chunk_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, chunk_json: *const c_char, len: usize) -> bool,
>;

/// The caller's `user_data`, carried to the runtime thread that calls back. The caller vouches
/// for it being usable there (header contract).
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: the header makes thread-safety of `user_data` the caller's promise (a budget alert
// callback may run on several runtime threads over the client's life).
unsafe impl Send for UserData {}
unsafe impl Sync for UserData {}

pub(crate) unsafe fn client<'a>(ptr: *const trinity_client) -> Result<&'a Arc<Client>> {
    // SAFETY: NULL or a live handle from `trinity_client_new` (header contract).
    unsafe { ptr.as_ref() }
        .map(|c| &c.inner)
        .ok_or_else(|| Error::invalid_input("client: NULL handle (never made, or already freed)"))
}

/// Parses and validates a request before anything is sent or spawned.
pub(crate) unsafe fn request(ptr: *const c_char, len: usize) -> Result<ChatRequest> {
    // SAFETY: forwarded caller contract.
    ChatRequest::from_json(unsafe { json_in(ptr, len, "request_json") }?)
}

/// Makes a client from a YAML or JSON config (the schema of `trinity_config_parse`; `TRINITY_*`
/// environment variables override it). With `len` 0 the config comes from the environment:
/// the file named by `TRINITY_CONFIG`, else defaults plus `TRINITY_*` variables.
/// Errors: `TRINITY_ERR_CONFIG` with details `{"path"}`; `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread; not while another thread changes the environment.
#[no_mangle]
pub unsafe extern "C" fn trinity_client_new(
    config: *const c_char,
    len: usize,
    out_client: *mut *mut trinity_client,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_client, "out_client")?;
        *out = std::ptr::null_mut();
        let text = str_in(config, len, "config")?;
        let config = if text.is_empty() {
            Config::from_env()?
        } else {
            Config::parse(text, EnvOverrides::Apply)?
        };
        let inner = Arc::new(Client::new(config)?);
        *out = Box::into_raw(Box::new(trinity_client { inner }));
        Ok(())
    })
}

/// Frees a client. Async calls already started keep the client alive until they call back.
/// NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user (no function on it still running,
/// including a `trinity_chat_stream` on another thread).
#[no_mangle]
pub unsafe extern "C" fn trinity_client_free(client: *mut trinity_client) {
    guard((), || {
        if !client.is_null() {
            // SAFETY: a handle from `trinity_client_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Sends a chat request (a ChatRequest JSON object: model, messages, temperature, tools, ...)
/// and waits for the answer, written to `out_response_json` as a ChatResponse object
/// (content, tool_calls, finish_reason, usage, provider, model, latency_ms, cost_usd, ...).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON or request, details `{"path"}`) and
/// `TRINITY_ERR_NOT_FOUND` (no provider serves the model) before any network call;
/// `AUTH`, `RATE_LIMITED`, `TIMEOUT`, `PROVIDER`, `NETWORK` from the provider.
///
/// Thread safety: safe from any thread, concurrently; not from a trinity callback (it would
/// block a runtime thread: that returns `TRINITY_ERR_INVALID_INPUT`).
#[no_mangle]
pub unsafe extern "C" fn trinity_chat(
    client: *const trinity_client,
    request_json: *const c_char,
    len: usize,
    out_response_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_response_json, "out_response_json")?;
        let client = self::client(client)?;
        let req = request(request_json, len)?;
        put_json(out, &rt::wait(client.chat(req))?)
    })
}

/// Hands a finished call to its callback, exactly once.
fn deliver(cb: CallbackFn, user: UserData, result: Result<ChatResponse>) {
    match result.and_then(|r| json_bytes(&r)) {
        Ok(json) => {
            // SAFETY: the caller's callback, with its own `user_data`; `json` outlives the call.
            unsafe {
                cb(
                    user.0,
                    TRINITY_OK,
                    json.as_ptr().cast(),
                    json.len() - 1,
                    std::ptr::null(),
                )
            }
        }
        Err(e) => {
            let code = e.kind.number();
            let err = trinity_error::boxed(e);
            // SAFETY: as above; `err` is freed only after the callback returns.
            unsafe {
                cb(user.0, code, std::ptr::null(), 0, err);
                crate::error::trinity_error_free(err);
            }
        }
    }
}

type CallbackFn =
    unsafe extern "C" fn(*mut c_void, u32, *const c_char, usize, *const trinity_error);

/// Starts a chat request and returns at once; `callback` runs exactly once when the call ends,
/// on a runtime thread, with the answer or the error (see `trinity_chat_callback`).
/// `cancel` is optional (NULL): `trinity_cancel` on it aborts the HTTP request, and the callback
/// then runs promptly with `TRINITY_ERR_CANCELLED`.
///
/// A bad request (`TRINITY_ERR_INVALID_INPUT`), a NULL client or callback is returned here and
/// the callback is NOT called; once this returns `TRINITY_OK` it is called exactly once, maybe
/// before this function returns. Errors found later (unknown model, provider failures) go to
/// the callback.
///
/// The callback runs on a trinity runtime thread: it must return quickly (hand work to your own
/// thread) and must not call blocking trinity functions (`trinity_chat`, `trinity_chat_stream`,
/// `trinity_mock_server_free`). It may call `trinity_cancel`, free the cancel token, free the
/// client, and start new async calls. `user_data` must be usable from that thread until then.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_chat_async(
    client: *const trinity_client,
    request_json: *const c_char,
    len: usize,
    callback: trinity_chat_callback,
    user_data: *mut c_void,
    cancel: *const trinity_cancel_token,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let cb = crate::ffi::required(callback, "callback")?;
        let client = self::client(client)?.clone();
        let req = request(request_json, len)?;
        let token = token_of(cancel);
        let user = UserData(user_data);
        rt::spawn(async move {
            let work = until_cancelled(token, client.chat(req));
            // A panic in the core still owes the caller its one callback.
            let result = AssertUnwindSafe(work)
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(Error::from_panic(p)));
            deliver(cb, user, result);
        });
        Ok(())
    })
}

/// Sends a chat request and streams the answer: `on_chunk` runs on the calling thread for each
/// chunk (text `delta`, `tool_calls` deltas, and on the last one `finish_reason` and `usage`),
/// and this function returns when the stream ends. Returns `TRINITY_OK` when the stream ended
/// or `on_chunk` returned false (the HTTP connection is then closed); `TRINITY_ERR_CANCELLED`
/// after `trinity_cancel` on `cancel` (optional, NULL) from another thread; otherwise the error,
/// which may come after some chunks (e.g. `TRINITY_ERR_NETWORK` for a cut stream).
/// Request errors are the same as `trinity_chat`'s; `on_chunk` must not be NULL.
///
/// `on_chunk` must not call blocking trinity functions (they return `TRINITY_ERR_INVALID_INPUT`);
/// a slow `on_chunk` slows the stream (TCP backpressure), it never loses chunks.
///
/// Thread safety: safe from any thread, concurrently; not from a trinity callback.
#[no_mangle]
pub unsafe extern "C" fn trinity_chat_stream(
    client: *const trinity_client,
    request_json: *const c_char,
    len: usize,
    on_chunk: trinity_chunk_callback,
    user_data: *mut c_void,
    cancel: *const trinity_cancel_token,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let on_chunk = crate::ffi::required(on_chunk, "on_chunk")?;
        let client = self::client(client)?;
        let req = request(request_json, len)?;
        rt::wait(until_cancelled(token_of(cancel), async {
            let mut stream = client.chat_stream(req).await?;
            while let Some(chunk) = stream.next().await {
                let json = json_bytes(&chunk?)?;
                // SAFETY: the caller's callback and `user_data`, on the caller's thread.
                if !on_chunk(user_data, json.as_ptr().cast(), json.len() - 1) {
                    break; // dropping `stream` closes the connection
                }
            }
            Ok(())
        }))
    })
}
