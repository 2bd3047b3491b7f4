//! The model registry handle. Models cross the boundary as JSON objects with the core's fields
//! (`id`, `provider`, `aliases`, `context_window`, `input_per_1m`, `capabilities`, ...).
//!
//! The registry is internally locked: every function on a live handle is safe from any thread,
//! concurrently; only `trinity_registry_free` needs the caller to be the handle's last user.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use std::sync::Arc;
use trinity_core::{Error, Model, Registry, Result};

/// A model registry. Opaque; make with `trinity_registry_new`, free with `trinity_registry_free`.
pub struct trinity_registry {
    inner: Registry,
}

unsafe fn registry<'a>(reg: *const trinity_registry) -> Result<&'a Registry> {
    // SAFETY: NULL or a live handle from `trinity_registry_new*` (header contract).
    unsafe { reg.as_ref() }
        .map(|r| &r.inner)
        .ok_or_else(|| Error::invalid_input("registry: NULL handle (never made, or already freed)"))
}

fn put_models(out: &mut trinity_string, models: &[Arc<Model>]) -> Result<()> {
    put_json(out, &models.iter().map(|m| &**m).collect::<Vec<&Model>>())
}

fn new_handle(out: *mut *mut trinity_registry, make: fn() -> Registry) -> Result<()> {
    // SAFETY: NULL or writable storage for one pointer.
    let out = unsafe { non_null(out, "out_registry") }?;
    *out = Box::into_raw(Box::new(trinity_registry { inner: make() }));
    Ok(())
}

/// Makes a registry holding the shipped models (OpenAI, Anthropic, Gemini, Mistral, local).
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_new(
    out_registry: *mut *mut trinity_registry,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || new_handle(out_registry, Registry::builtin))
}

/// Makes a registry with no models.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_new_empty(
    out_registry: *mut *mut trinity_registry,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || new_handle(out_registry, Registry::empty))
}

/// Frees a registry. NULL is a no-op.
///
/// Thread safety: the caller must be the handle's last user (no call on it in flight).
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_free(reg: *mut trinity_registry) {
    crate::boundary::guard((), || {
        if !reg.is_null() {
            // SAFETY: a handle from `new_handle`, freed once (header contract).
            drop(unsafe { Box::from_raw(reg) });
        }
    })
}

/// Writes the model named `name` (an id or alias, case-insensitive) as a JSON object.
/// Errors: `TRINITY_ERR_NOT_FOUND`, with details `{"model", "suggestions": [closest ids]}`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_get(
    reg: *const trinity_registry,
    name: *const c_char,
    name_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let model = registry(reg)?.get(str_in(name, name_len, "name")?)?;
        put_json(out, &*model)
    })
}

/// Writes every model, ordered by id, as a JSON array of model objects.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_list(
    reg: *const trinity_registry,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_models(out, &registry(reg)?.all())
    })
}

/// Writes the models of one provider (case-insensitive; an unknown provider gives `[]`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_by_provider(
    reg: *const trinity_registry,
    provider: *const c_char,
    provider_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_models(
            out,
            &registry(reg)?.by_provider(str_in(provider, provider_len, "provider")?),
        )
    })
}

/// Writes the models with a capability: chat, vision, tools, json_mode, streaming, reasoning
/// (common synonyms such as "function_calling" accepted). Errors: `TRINITY_ERR_INVALID_INPUT`
/// for an unknown capability.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_by_capability(
    reg: *const trinity_registry,
    capability: *const c_char,
    capability_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let cap = str_in(capability, capability_len, "capability")?;
        put_models(out, &registry(reg)?.by_capability(cap)?)
    })
}

/// Writes the models whose typical latency is at most `max_ms`, fastest first.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_by_latency(
    reg: *const trinity_registry,
    max_ms: f64,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_models(out, &registry(reg)?.by_latency(max_ms))
    })
}

/// Writes the models whose blended USD price per 1K tokens (mean of input and output) is at
/// most `max_per_1k`, cheapest first. Errors: `TRINITY_ERR_INVALID_INPUT` for a negative or
/// non-finite bound.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_by_cost(
    reg: *const trinity_registry,
    max_per_1k: f64,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_models(out, &registry(reg)?.by_cost(max_per_1k)?)
    })
}

/// Writes a model's context window, in tokens, to `out_limit`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_token_limit(
    reg: *const trinity_registry,
    name: *const c_char,
    name_len: usize,
    out_limit: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_limit, "out_limit")?;
        *out = registry(reg)?.token_limit(str_in(name, name_len, "name")?)?;
        Ok(())
    })
}

/// Writes a model's blended USD price per 1K tokens (mean of input and output) to `out_cost`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_cost_per_1k(
    reg: *const trinity_registry,
    name: *const c_char,
    name_len: usize,
    out_cost: *mut f64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_cost, "out_cost")?;
        *out = registry(reg)?
            .cost_per_1k(str_in(name, name_len, "name")?)?
            .blended;
        Ok(())
    })
}

/// Writes whether a model has a capability (see `trinity_registry_by_capability`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_supports_feature(
    reg: *const trinity_registry,
    name: *const c_char,
    name_len: usize,
    feature: *const c_char,
    feature_len: usize,
    out_supported: *mut bool,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_supported, "out_supported")?;
        let name = str_in(name, name_len, "name")?;
        *out = registry(reg)?.supports_feature(name, str_in(feature, feature_len, "feature")?)?;
        Ok(())
    })
}

/// Adds a model given as a JSON object; its id and aliases must be new.
/// Errors: `TRINITY_ERR_INVALID_INPUT` with details `{"field"}` naming the bad or taken field.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_add_model(
    reg: *const trinity_registry,
    model_json: *const c_char,
    model_len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let model = json_in(model_json, model_len, "model_json")?;
        registry(reg)?.add_json(model)?;
        Ok(())
    })
}

/// Changes some fields of a model (`updates_json` is a partial model object; the id cannot
/// change) and writes the updated model as JSON.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_update_model(
    reg: *const trinity_registry,
    name: *const c_char,
    name_len: usize,
    updates_json: *const c_char,
    updates_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let name = str_in(name, name_len, "name")?;
        let updates = json_in(updates_json, updates_len, "updates_json")?;
        put_json(out, &*registry(reg)?.update(name, updates)?)
    })
}

/// Merges a model file in our format (JSON or YAML, `{"models": [...]}` or a list): new ids are
/// added, known ids updated; all or nothing. Writes `{"added", "updated", "skipped"}`.
/// Errors: `TRINITY_ERR_IO` (unreadable file), `TRINITY_ERR_INVALID_INPUT` (bad content).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_load_file(
    reg: *const trinity_registry,
    path: *const c_char,
    path_len: usize,
    out_report_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_report_json, "out_report_json")?;
        put_json(
            out,
            &registry(reg)?.load_file(str_in(path, path_len, "path")?)?,
        )
    })
}

/// Merges the chat models of a LiteLLM `model_prices_and_context_window.json` file, unchanged
/// format. Writes `{"added", "updated", "skipped"}`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_registry_load_litellm_file(
    reg: *const trinity_registry,
    path: *const c_char,
    path_len: usize,
    out_report_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_report_json, "out_report_json")?;
        put_json(
            out,
            &registry(reg)?.load_litellm_file(str_in(path, path_len, "path")?)?,
        )
    })
}
