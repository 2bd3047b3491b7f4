//! The response cache handle: `trinity_cache_new` from a cache config, `get`, `put`, `key` (the
//! chat key every language derives alike), `stats`, `free`. Values are UTF-8 text.
//!
//! Every function on a live handle is safe from any thread, concurrently; only
//! `trinity_cache_free` needs the caller to be the handle's last user.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, opt_str_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::cache::{self, value, Cache, Kind};
use trinity_core::llm::ChatRequest;
use trinity_core::{Error, Result};

/// A response cache. Opaque; make with `trinity_cache_new`, free with `trinity_cache_free`.
pub struct trinity_cache {
    inner: std::sync::Arc<Cache>,
}

unsafe fn handle<'a>(ptr: *const trinity_cache) -> Result<&'a Cache> {
    // SAFETY: NULL or a live handle from `trinity_cache_new` (header contract).
    unsafe { ptr.as_ref() }
        .map(|c| &*c.inner)
        .ok_or_else(|| Error::invalid_input("cache: NULL handle (never made, or already freed)"))
}

/// Makes a cache from a JSON config: the `cache` section of the config schema (`ttl_s`,
/// `namespace`, `strategy`, `memory`, `redis: {url}`, `filesystem: {path}`) or seed 000's
/// shape (`backend`, `ttl`, `max_size`, `redis: {host, port, db}`, `filesystem: {path}`).
/// With `len` 0: a memory tier with the defaults.
/// Errors: `TRINITY_ERR_CONFIG` (details `{"path"}`), `TRINITY_ERR_INVALID_INPUT`, `TRINITY_ERR_IO`.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_new(
    config_json: *const c_char,
    len: usize,
    out_cache: *mut *mut trinity_cache,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_cache, "out_cache")?;
        *out = std::ptr::null_mut();
        let value = if len == 0 {
            serde_json::json!({})
        } else {
            json_in(config_json, len, "config_json")?
        };
        let inner = std::sync::Arc::new(Cache::new(&cache::config::from_json(value)?)?);
        *out = Box::into_raw(Box::new(trinity_cache { inner }));
        Ok(())
    })
}

/// Frees a cache. NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_free(cache: *mut trinity_cache) {
    crate::boundary::guard((), || {
        if !cache.is_null() {
            // SAFETY: a handle from `trinity_cache_new`, freed once (header contract).
            drop(unsafe { Box::from_raw(cache) });
        }
    })
}

/// Looks `key` up: memory, then Redis, then the filesystem. On a hit `*out_found` is true and
/// `out_value` holds the value (text; a JSON value set from another language as JSON text); on
/// a miss (missing, expired, damaged, or a key that is not UTF-8) `*out_found` is false and
/// `out_value` is `{NULL, 0}`. A failing tier is a miss, never an error.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle or out-parameter).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_get(
    cache: *const trinity_cache,
    key: *const c_char,
    key_len: usize,
    out_value: *mut trinity_string,
    out_found: *mut bool,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let c = handle(cache)?;
        let found = non_null(out_found, "out_found")?;
        *found = false;
        let out = string_out(out_value, "out_value")?;
        let Ok(key) = str_in(key, key_len, "key") else {
            c.count_unusable_key();
            return Ok(());
        };
        if let Some(e) = c.get_blocking(key) {
            let text = match e.kind {
                Kind::Value => match value::decode(&e.payload)? {
                    value::Value::Text(s) => s,
                    value::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    value::Value::Json(j) => j.to_string(),
                },
                _ => String::from_utf8_lossy(&e.payload).into_owned(),
            };
            *out = trinity_string::new(text);
            *found = true;
        }
        Ok(())
    })
}

/// Stores UTF-8 `value` under `key` in every tier for `ttl_s` seconds (0: the configured TTL).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL handle, key or value not UTF-8).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_put(
    cache: *const trinity_cache,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    ttl_s: u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let c = handle(cache)?;
        let key = str_in(key, key_len, "key")?;
        let v = str_in(value, value_len, "value")?;
        let e = c.entry(
            Kind::Value,
            value::encode_text(v),
            (ttl_s > 0).then_some(ttl_s),
        );
        c.put_blocking(key, e);
        Ok(())
    })
}

/// The cache key of a chat request (a ChatRequest JSON object) under this cache's namespace
/// and strategy, `provider` optional (NULL/0): the same key every language derives.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON or request, details `{"path"}`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_key(
    cache: *const trinity_cache,
    request_json: *const c_char,
    len: usize,
    provider: *const c_char,
    provider_len: usize,
    out_key: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let c = handle(cache)?;
        let out = string_out(out_key, "out_key")?;
        let req = ChatRequest::from_json(json_in(request_json, len, "request_json")?)?;
        let provider = opt_str_in(provider, provider_len, "provider")?;
        *out = trinity_string::new(c.key_for(&req, provider));
        Ok(())
    })
}

/// Statistics as JSON: hits, misses, hit_rate, saved_usd, entries, and per tier hits, misses,
/// writes, bytes, evictions, errors, corrupt, mean_lookup_us.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cache_stats(
    cache: *const trinity_cache,
    out_stats_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let c = handle(cache)?;
        put_json(string_out(out_stats_json, "out_stats_json")?, &c.stats())
    })
}
