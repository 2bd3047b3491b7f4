//! Prompt optimisation (seed 004's PromptOptimizer), JSON in and out: the lossless passes, a
//! layout for a model's prompt cache, and `compress` to a token target. Counts use the
//! process-wide registry (`trinity_registry_new` handles are separate registries).

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, opt_str_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::prompt::{self, Goal, Prompt};

/// The lossless passes over a prompt: whitespace and blank lines outside code, pretty JSON
/// compacted, repeated blocks replaced by a `[same as ...]` reference, HTML and table padding;
/// numbers, URLs, code fences, quoted strings and `{{templates}}` keep their bytes, and running
/// it again changes nothing. `prompt_json` is a JSON string (a text) or an array of message
/// objects (OpenAI, Anthropic or Gemini shape). `model` (optional, NULL/0: o200k_base) picks the
/// counter; `goal` (optional: "cost", "latency" or "quality", NULL/0: "cost") is reported.
/// Writes `{"prompt", "goal", "tokens_before", "tokens_after", "encoding", "estimated",
/// "applied", "passes"}` to `out_json`; `prompt` has the input's kind.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON, a prompt of another kind, a message that is
/// not an object, an unknown goal), `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_prompt_optimize(
    prompt_json: *const c_char,
    prompt_len: usize,
    model: *const c_char,
    model_len: usize,
    goal: *const c_char,
    goal_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let prompt = Prompt::from_json(json_in(prompt_json, prompt_len, "prompt_json")?)?;
        let model = opt_str_in(model, model_len, "model")?;
        let goal = opt_str_in(goal, goal_len, "goal")?.map_or(Ok(Goal::Cost), Goal::parse)?;
        let registry = trinity_core::registry::global();
        put_json(out, &prompt::optimize(&registry, &prompt, model, goal)?)
    })
}

/// The lossless passes, laid out for `model`'s prompt cache: per-request lines (dates, request
/// ids) after the stable content; for Anthropic models, `cache_control` breakpoints (at most 4,
/// each over the model's `cache_min_tokens`). `prompt_json` as for `trinity_prompt_optimize`.
/// Writes `{"prompt", "model", "provider", "tokens_before", "tokens_after", "encoding",
/// "estimated", "applied", "passes", "caching", "cache_min_tokens", "stable_prefix_tokens",
/// "reaches_minimum", "breakpoints", "existing_breakpoints", "moved"}` to `out_json`.
/// Errors: `TRINITY_ERR_INVALID_INPUT`, `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_prompt_optimize_for_model(
    prompt_json: *const c_char,
    prompt_len: usize,
    model: *const c_char,
    model_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let prompt = Prompt::from_json(json_in(prompt_json, prompt_len, "prompt_json")?)?;
        let model = str_in(model, model_len, "model")?;
        let registry = trinity_core::registry::global();
        put_json(out, &prompt::optimize_for_model(&registry, &prompt, model)?)
    })
}

/// Fits a UTF-8 text (not JSON) to `target_tokens`: unchanged when it fits, else the lossless
/// passes, then the least informative sentences dropped until it fits (never numbers, URLs,
/// quotes, code or the final sentence). `model` as for `trinity_prompt_optimize`. Writes
/// `{"text", "tokens_before", "tokens_after", "target_tokens", "encoding", "estimated",
/// "lossless", "dropped": [{"text", "reason", "tokens"}]}` to `out_json`.
/// Errors: `TRINITY_ERR_CONTEXT_TOO_LARGE` when the protected content alone is over the target
/// (details `{"target_tokens", "min_tokens"}`), `TRINITY_ERR_INVALID_INPUT`,
/// `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_prompt_compress(
    text: *const c_char,
    text_len: usize,
    target_tokens: u64,
    model: *const c_char,
    model_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let text = str_in(text, text_len, "text")?;
        let model = opt_str_in(model, model_len, "model")?;
        let registry = trinity_core::registry::global();
        put_json(
            out,
            &prompt::compress(&registry, text, target_tokens, model)?,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{trinity_error_code_name, trinity_error_details, trinity_error_free};
    use crate::ffi::trinity_string_free;
    use std::ffi::CStr;
    use std::ptr::{null, null_mut};

    /// Runs `f` with an out string and error; returns the JSON or the error's code and details.
    fn run(
        f: impl FnOnce(*mut trinity_string, *mut *mut trinity_error) -> u32,
    ) -> Result<serde_json::Value, (String, Option<serde_json::Value>)> {
        let mut s = trinity_string {
            ptr: null_mut(),
            len: 0,
        };
        let mut err: *mut trinity_error = null_mut();
        let rc = f(&mut s, &mut err);
        // SAFETY: `s` and `err` were filled by the library.
        unsafe {
            if rc == 0 {
                let text = CStr::from_ptr(s.ptr).to_str().unwrap().to_string();
                trinity_string_free(&mut s);
                Ok(serde_json::from_str(&text).unwrap())
            } else {
                assert!(s.ptr.is_null());
                let code = CStr::from_ptr(trinity_error_code_name(err))
                    .to_str()
                    .unwrap()
                    .to_string();
                let d = trinity_error_details(err);
                let details = (!d.is_null())
                    .then(|| serde_json::from_slice(CStr::from_ptr(d).to_bytes()).unwrap());
                trinity_error_free(err);
                Err((code, details))
            }
        }
    }

    fn optimize(
        prompt: &str,
        model: &str,
        goal: &str,
    ) -> Result<serde_json::Value, (String, Option<serde_json::Value>)> {
        let opt = |s: &str| {
            if s.is_empty() {
                null()
            } else {
                s.as_ptr().cast()
            }
        };
        // SAFETY: every pointer is valid for its length.
        run(|o, e| unsafe {
            trinity_prompt_optimize(
                prompt.as_ptr().cast(),
                prompt.len(),
                opt(model),
                model.len(),
                opt(goal),
                goal.len(),
                o,
                e,
            )
        })
    }

    #[test]
    fn optimize_round_trips_json_and_reports_codes() {
        let out = optimize(r#""{\n  \"a\": 1,\n  \"b\": [1, 2]\n}""#, "", "").unwrap();
        assert_eq!(out["prompt"], r#"{"a":1,"b":[1,2]}"#);
        assert_eq!(out["goal"], "cost");
        assert!(out["tokens_after"].as_u64() < out["tokens_before"].as_u64());
        let msgs = r#"[{"role":"user","content":"hi   there  "}]"#;
        let out = optimize(msgs, "gpt-4o", "latency").unwrap();
        assert_eq!(out["prompt"][0]["content"], "hi there");
        assert_eq!(out["goal"], "latency");
        for (prompt, model, goal, code) in [
            ("42", "", "", "invalid_input"),
            ("not json", "", "", "invalid_input"),
            (r#"["hi"]"#, "", "", "invalid_input"),
            (r#""hi""#, "", "speed", "invalid_input"),
            (r#""hi""#, "no-such-model", "", "not_found"),
        ] {
            assert_eq!(
                optimize(prompt, model, goal).unwrap_err().0,
                code,
                "{prompt}"
            );
        }
        // SAFETY: NULL with a length, and a NULL out-parameter, are rejected before any read.
        unsafe {
            let rc = run(|o, e| trinity_prompt_optimize(null(), 3, null(), 0, null(), 0, o, e));
            assert_eq!(rc.unwrap_err().0, "invalid_input");
            let p = r#""hi""#;
            let mut err = null_mut();
            let rc = trinity_prompt_optimize(
                p.as_ptr().cast(),
                p.len(),
                null(),
                0,
                null(),
                0,
                null_mut(),
                &mut err,
            );
            assert_ne!(rc, 0);
            trinity_error_free(err);
        }
    }

    #[test]
    fn compress_fits_or_says_how_much_the_protected_text_needs() {
        let text = "Filler sentence one here. Another filler sentence follows. What is 2 + 2?";
        // SAFETY: valid pointers and lengths.
        let fit = run(|o, e| unsafe {
            trinity_prompt_compress(text.as_ptr().cast(), text.len(), 12, null(), 0, o, e)
        })
        .unwrap();
        assert!(fit["tokens_after"].as_u64().unwrap() <= 12);
        assert!(fit["text"].as_str().unwrap().ends_with("What is 2 + 2?"));
        let (code, details) = run(|o, e| unsafe {
            trinity_prompt_compress(text.as_ptr().cast(), text.len(), 2, null(), 0, o, e)
        })
        .unwrap_err();
        assert_eq!(code, "context_too_large");
        assert!(details.unwrap()["min_tokens"].as_u64().unwrap() > 2);
        let model = "gpt-4o";
        let layout = run(|o, e| unsafe {
            let p = r#""Rules.\nCurrent date: 2026-05-01\nMore rules.""#;
            trinity_prompt_optimize_for_model(
                p.as_ptr().cast(),
                p.len(),
                model.as_ptr().cast(),
                model.len(),
                o,
                e,
            )
        })
        .unwrap();
        assert_eq!(layout["caching"], "automatic");
        assert_eq!(layout["moved"][0], "Current date: 2026-05-01");
    }
}
