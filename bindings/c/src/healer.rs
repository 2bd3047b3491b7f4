//! CSS healer: a page or stylesheet in, `{"html"|"css", "fixes"}` JSON out.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::healer;

/// Options JSON, NULL/0 for the defaults.
unsafe fn options(ptr: *const c_char, len: usize) -> trinity_core::Result<serde_json::Value> {
    if ptr.is_null() && len == 0 {
        return Ok(serde_json::Value::Null);
    }
    // SAFETY: forwarded caller contract.
    unsafe { json_in(ptr, len, "options_json") }
}

type HealFn = fn(&[u8], serde_json::Value) -> trinity_core::Result<serde_json::Value>;

/// The body of both exports: validate, heal, write the JSON.
unsafe fn heal(
    f: HealFn,
    (text, text_len, what): (*const c_char, usize, &str),
    (options_json, options_len): (*const c_char, usize),
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let text = str_in(text, text_len, what)?;
        let opts = options(options_json, options_len)?;
        put_json(out, &f(text.as_bytes(), opts)?)
    })
}

/// Heals a page so it never scrolls sideways. `options_json` (NULL/0 for defaults) is
/// `{"safety_net", "viewport", "grid", "findings": [...], "widths": [...]}`. Writes
/// `{"html", "fixes": [{"rule", "selector", "reason", "added"}]}` to `out_json`.
/// Errors: `TRINITY_ERR_INVALID_INPUT` (invalid UTF-8, bad options: details `{"path"}`).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_heal_html(
    html: *const c_char,
    html_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    let (text, opts) = ((html, html_len, "html"), (options_json, options_len));
    unsafe { heal(healer::heal_html_json, text, opts, out_json, out_err) }
}

/// Heals a stylesheet: the author's CSS unchanged, then the override rules. Same options and
/// errors as `trinity_heal_html`; writes `{"css", "fixes"}` to `out_json`.
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_heal_css(
    css: *const c_char,
    css_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    let (text, opts) = ((css, css_len, "css"), (options_json, options_len));
    unsafe { heal(healer::heal_css_json, text, opts, out_json, out_err) }
}
