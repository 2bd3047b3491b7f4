//! Context tools (seed 004's ContextManager): the window a conversation may use, pruning that
//! the provider still accepts, the providers' rules, ordering by relevance, and warnings before
//! a request is sent. JSON in, JSON out, with the shipped registry's models; token estimates are
//! `trinity_count_tokens` / `trinity_count_message_tokens`.
//!
//! Options (`options_json`, optional: NULL, 0) are one JSON object for the window and for
//! pruning: `{"max_input_tokens", "reserve_output_tokens", "strategy": "drop_oldest" |
//! "keep_first_last" | "summarize", "dialect": "openai" | "anthropic" | "gemini" | "strict"}`,
//! every field optional; an unknown field is `TRINITY_ERR_INVALID_INPUT`.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, opt_str_in, put_json, str_in, string_out, trinity_string};
use serde_json::Value;
use std::ffi::c_char;
use trinity_core::context::{self, Dialect, PruneOptions};
use trinity_core::{Error, Result};

unsafe fn options(ptr: *const c_char, len: usize) -> Result<PruneOptions> {
    // SAFETY: forwarded caller contract.
    match unsafe { opt_str_in(ptr, len, "options_json") }? {
        None => Ok(PruneOptions::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Error::invalid_input(format!("options_json: {e}"))),
    }
}

unsafe fn list(ptr: *const c_char, len: usize, what: &str) -> Result<Vec<Value>> {
    // SAFETY: forwarded caller contract.
    match unsafe { json_in(ptr, len, what) }? {
        Value::Array(list) => Ok(list),
        _ => Err(Error::invalid_input(format!(
            "{what}: expected a JSON array"
        ))),
    }
}

/// Writes what a conversation may use of `model`'s window:
/// `{"model", "context_window", "reserved_output", "available", "exact"}` (the window less
/// `reserve_output_tokens`, default the model's max output, capped by `max_input_tokens`).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad options), `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_available_context_window(
    model: *const c_char,
    model_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let model = str_in(model, model_len, "model")?;
        let opts = options(options_json, options_len)?;
        let registry = trinity_core::registry::global();
        let w = context::available_window(
            &registry,
            model,
            opts.reserve_output_tokens,
            opts.max_input_tokens,
        )?;
        put_json(out, &w)
    })
}

/// Prunes a JSON array of messages (OpenAI, Anthropic or Gemini shape) to fit `model`'s window
/// less the answer's room, keeping it valid for `dialect`: tool calls kept or dropped with all
/// their results, system messages verbatim, the latest user message kept (or cut in the middle
/// with a marker). Writes `{"messages", "dropped", "tokens_before", "tokens_after", "budget",
/// "truncated", "summarized"}`. The C API takes no summarize callback: with `"summarize"` the
/// dropped turns are dropped without a summary.
/// Errors: `TRINITY_ERR_CONTEXT_TOO_LARGE` (even the instructions and the latest user message do
/// not fit; details `{"tokens", "budget"}`), `TRINITY_ERR_INVALID_INPUT` (bad JSON, options or
/// message shape, details `{"path"}`), `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_prune_context(
    messages_json: *const c_char,
    messages_len: usize,
    model: *const c_char,
    model_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let messages = list(messages_json, messages_len, "messages_json")?;
        let model = str_in(model, model_len, "model")?;
        let opts = options(options_json, options_len)?;
        let registry = trinity_core::registry::global();
        put_json(
            out,
            &context::prune(&registry, &messages, model, &opts, None)?,
        )
    })
}

/// Checks a JSON array of messages against `dialect`'s rules (`openai`, `anthropic`, `gemini`,
/// `strict`; NULL, 0 means `openai`). Writes `null` when they hold, else the first rule broken:
/// `{"index", "rule"}`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON, unknown dialect).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_validate_conversation(
    messages_json: *const c_char,
    messages_len: usize,
    dialect: *const c_char,
    dialect_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let messages = list(messages_json, messages_len, "messages_json")?;
        let dialect: Dialect = match opt_str_in(dialect, dialect_len, "dialect")? {
            None => Dialect::default(),
            Some(d) => serde_json::from_value(Value::String(d.to_owned()))
                .map_err(|_| Error::invalid_input(format!("dialect: unknown value '{d}'")))?,
        };
        put_json(out, &context::validate(&messages, dialect).err())
    })
}

/// Reorders a JSON array of documents (strings, ranked against `query`, which they require) or
/// of messages (the earlier turns ranked against the latest user message, or `query`) so that
/// the most relevant sit first and last (BM25). Only whole turns move, so a valid conversation
/// stays valid. Writes `{"items", "order", "scores"}`: the items in their new order, the input
/// index of each, and each input's score (`null` for a message that stays in place).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON, strings mixed with objects, documents without
/// a query).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_prioritize_context(
    items_json: *const c_char,
    items_len: usize,
    query: *const c_char,
    query_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let items = list(items_json, items_len, "items_json")?;
        let query = opt_str_in(query, query_len, "query")?;
        put_json(out, &context::prioritize(&items, query)?)
    })
}

/// Warnings for a JSON request (OpenAI, Anthropic or Gemini shape) sent to `model` (NULL, 0:
/// the request's `"model"`): a JSON array of `{"code", "message", "tokens", "limit", "path"}`,
/// with `code` one of `over_window`, `near_window`, `output_reserve_missing`, `large_image`,
/// `large_tool_schema`, `under_cache_minimum`, `volatile_before_cache_breakpoint`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON or request shape, no model; details
/// `{"path"}`), `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_warn_if_too_large(
    request_json: *const c_char,
    request_len: usize,
    model: *const c_char,
    model_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let request = json_in(request_json, request_len, "request_json")?;
        let model = opt_str_in(model, model_len, "model")?;
        let registry = trinity_core::registry::global();
        put_json(
            out,
            &context::warn_if_too_large(&registry, &request, model)?,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(*mut trinity_string, *mut *mut trinity_error) -> u32) -> (u32, String) {
        let mut s = trinity_string {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        let rc = f(&mut s, std::ptr::null_mut());
        let text = match s.ptr.is_null() {
            true => String::new(),
            // SAFETY: a string the library just wrote.
            false => unsafe {
                let t = std::str::from_utf8(std::slice::from_raw_parts(s.ptr as *const u8, s.len))
                    .unwrap()
                    .to_owned();
                crate::ffi::trinity_string_free(&mut s);
                t
            },
        };
        (rc, text)
    }

    #[test]
    fn json_in_json_out_and_errors_as_numbers() {
        let docs = br#"["bananas are yellow", "Canberra is the capital of Australia"]"#;
        let q = b"capital of Australia";
        let (rc, out) = run(|o, e| unsafe {
            trinity_prioritize_context(
                docs.as_ptr().cast(),
                docs.len(),
                q.as_ptr().cast(),
                q.len(),
                o,
                e,
            )
        });
        assert_eq!(rc, 0);
        assert!(out.starts_with(r#"{"items":["Canberra"#), "{out}");
        // Documents without a query, a NULL out-parameter, bad options: errors, never a crash.
        let (rc, out) = run(|o, e| unsafe {
            trinity_prioritize_context(docs.as_ptr().cast(), docs.len(), std::ptr::null(), 0, o, e)
        });
        assert_eq!(
            (rc, out.as_str()),
            (trinity_core::ErrorKind::InvalidInput.number(), "")
        );
        let rc = unsafe {
            trinity_prioritize_context(
                docs.as_ptr().cast(),
                docs.len(),
                q.as_ptr().cast(),
                q.len(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, trinity_core::ErrorKind::InvalidInput.number());
        let m = b"gpt-4o-mini";
        let bad = br#"{"strategy": "newest"}"#;
        let (rc, _) = run(|o, e| unsafe {
            trinity_available_context_window(
                m.as_ptr().cast(),
                m.len(),
                bad.as_ptr().cast(),
                bad.len(),
                o,
                e,
            )
        });
        assert_eq!(rc, trinity_core::ErrorKind::InvalidInput.number());
        let msgs = br#"[{"role": "user", "content": "hi"}]"#;
        let (rc, out) = run(|o, e| unsafe {
            trinity_validate_conversation(
                msgs.as_ptr().cast(),
                msgs.len(),
                std::ptr::null(),
                0,
                o,
                e,
            )
        });
        assert_eq!((rc, out.as_str()), (0, "null"));
    }
}
