//! The mock provider server (OpenAI, Anthropic and Gemini wire formats, streaming, latency and
//! faults) on a free loopback port, for tests and demos in C and Go.

use crate::boundary::{call, guard};
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, str_in, string_out, trinity_string};
use std::ffi::{c_char, CString};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{Error, Result};

/// A running mock server. Opaque; start with `trinity_mock_server_start`, stop and free with
/// `trinity_mock_server_free`.
pub struct trinity_mock_server {
    server: MockServer,
    /// `server.url()` kept as a C string so `trinity_mock_server_url` can lend it.
    url: CString,
}

unsafe fn server<'a>(ptr: *const trinity_mock_server) -> Result<&'a MockServer> {
    // SAFETY: NULL or a live handle (header contract).
    unsafe { ptr.as_ref() }
        .map(|s| &s.server)
        .ok_or_else(|| Error::invalid_input("mock server: NULL handle (never started, or freed)"))
}

/// Starts a mock server on 127.0.0.1 from a YAML or JSON config, e.g.
/// `{"fixtures": {"greet": {"prompt": "hi", "response": "hello"}}, "seed": 1,
///   "latency": {"dist": "fixed", "ms": 50}, "faults": {"script": ["429", "ok"]}}`
/// (`port` 0 or absent: a free port). With `len` 0 it echoes prompts back.
/// OpenAI clients use `url + "/v1"`, Anthropic `url + "/v1"`, Gemini `url + "/v1beta"`.
/// Errors: `TRINITY_ERR_CONFIG` (bad config), `TRINITY_ERR_IO` (cannot bind),
/// `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_start(
    config: *const c_char,
    len: usize,
    out_server: *mut *mut trinity_mock_server,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_server, "out_server")?;
        *out = std::ptr::null_mut();
        let text = str_in(config, len, "config")?;
        let config = if text.trim().is_empty() {
            MockConfig::default()
        } else {
            MockConfig::from_yaml_str(text)?
        };
        let server = MockServer::start(config)?;
        let url = CString::new(server.url()).expect("a URL has no NUL");
        *out = Box::into_raw(Box::new(trinity_mock_server { server, url }));
        Ok(())
    })
}

/// `http://127.0.0.1:PORT`, NUL-terminated, valid until the server is freed; NULL for NULL.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_url(srv: *const trinity_mock_server) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: NULL or a live handle.
        unsafe { srv.as_ref() }.map_or(std::ptr::null(), |s| s.url.as_ptr())
    })
}

/// The port the server listens on; 0 for NULL.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_port(srv: *const trinity_mock_server) -> u16 {
    guard(0, || {
        // SAFETY: NULL or a live handle.
        unsafe { srv.as_ref() }.map_or(0, |s| s.server.port())
    })
}

/// Writes what the server served as JSON: `{"requests", "streams", "routes": {"POST
/// /v1/chat/completions": n, ...}, "faults": {"ok": n, "429": n, ...}}`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_stats(
    srv: *const trinity_mock_server,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_json(out, &server(srv)?.stats())
    })
}

/// Zeroes the counters `trinity_mock_server_stats` reports.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_reset_stats(
    srv: *const trinity_mock_server,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        server(srv)?.reset_stats();
        Ok(())
    })
}

/// New faults from now on: `faults_json` is a `faults` section (`{"rates": {"503": 1.0}}`;
/// `{}`: none), its script played from the start. Errors: `TRINITY_ERR_CONFIG` (a bad
/// section), `TRINITY_ERR_INVALID_INPUT`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_set_faults(
    srv: *const trinity_mock_server,
    faults_json: *const c_char,
    faults_len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let faults = json_in(faults_json, faults_len, "faults_json")?;
        server(srv)?.set_faults(faults)
    })
}

/// Replays the fault script from its start and restarts the seeded random draws.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_reset_faults(
    srv: *const trinity_mock_server,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        server(srv)?.reset_faults();
        Ok(())
    })
}

/// Stops the server and frees it: it stops accepting, lets answers in flight finish (waiting up
/// to 5 s; held `timeout` faults are dropped), then returns. NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user; not from a trinity callback
/// (there it only signals the stop, without waiting).
#[no_mangle]
pub unsafe extern "C" fn trinity_mock_server_free(srv: *mut trinity_mock_server) {
    guard((), || {
        if !srv.is_null() {
            // SAFETY: a handle from `trinity_mock_server_start`, freed once; dropping stops it.
            drop(unsafe { Box::from_raw(srv) });
        }
    })
}
