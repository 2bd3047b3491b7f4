//! Config: one schema (YAML or JSON) for every language.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use trinity_core::config::{Config, EnvOverrides};

/// Parses and validates a YAML or JSON config and writes the normalized config, defaults filled
/// in and secrets shown as "[redacted]", to `out_json`. With `apply_env`, `TRINITY_*`
/// environment variables override the text. Errors: `TRINITY_ERR_CONFIG` with details
/// `{"path": "providers.openai.timeout_ms"}` naming the bad field.
///
/// Thread safety: safe from any thread; with `apply_env`, not while another thread changes the
/// environment (`setenv` is not thread-safe in C).
#[no_mangle]
pub unsafe extern "C" fn trinity_config_parse(
    text: *const c_char,
    text_len: usize,
    apply_env: bool,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let text = str_in(text, text_len, "text")?;
        let env = if apply_env {
            EnvOverrides::Apply
        } else {
            EnvOverrides::Ignore
        };
        put_json(out, &Config::parse(text, env)?.to_json())
    })
}
