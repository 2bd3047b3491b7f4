//! What a call costs at the registry's prices, as the client prices every answer.

use crate::boundary::call;
use crate::error::trinity_error;
use crate::ffi::{json_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;

/// Prices `usage_json` (`{"prompt_tokens", "completion_tokens", "cached_tokens",
/// "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens"}`, absent counts are 0) for
/// `model` (dated and prefixed names are found). Writes the cost detail to `out_json`:
/// `{"total_nano_usd", "total_usd", "input_nano_usd", ..., "estimated", "unpriced_reason"?}`;
/// the totals are `null`, with `unpriced_reason` (`unknown_model`, `missing_rate:<field>`),
/// for a model or rate the registry lacks. Money is integer nano-USD (10⁻⁹ USD).
/// Errors: `TRINITY_ERR_INVALID_INPUT` (NULL or invalid UTF-8, bad JSON, a count that is not a
/// non-negative integer).
///
/// Thread safety: safe from any thread, concurrently.
#[no_mangle]
pub unsafe extern "C" fn trinity_cost(
    model: *const c_char,
    model_len: usize,
    usage_json: *const c_char,
    usage_len: usize,
    estimated: bool,
    out_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_json, "out_json")?;
        let model = str_in(model, model_len, "model")?;
        let usage = json_in(usage_json, usage_len, "usage_json")?;
        put_json(out, &trinity_core::cost::cost_for(model, usage, estimated)?)
    })
}
