//! Batch runs (`trinity_core::batch`): `trinity_batch_run` (blocking) and `trinity_batch_status`.
//! Options and summaries are the core's JSON.

use crate::boundary::call;
use crate::cancel::{token_of, trinity_cancel_token};
use crate::client::{client, trinity_client};
use crate::error::trinity_error;
use crate::ffi::{json_in, put_json, str_in, string_out, trinity_string};
use std::ffi::c_char;
use std::sync::Arc;
use trinity_core::batch::{self, BatchOptions, Control, Progress};
use trinity_core::rt;

/// Runs (or resumes) a batch through `client` and waits for its end. `options_json` is
/// `{"input", "output", "resume"?, "retry_failed"?, "concurrency"? (32), "grace_s"?}`: `input`
/// holds JSON Lines of chat requests, each with a `custom_id` (OpenAI Batch API lines
/// `{custom_id, method, url, body}` accepted unchanged); results go to `output` in input order
/// once every request is done (failed ones also to its `.errors.jsonl` sibling), and until then
/// to `output.part` and `output.journal`, from which `resume` finishes exactly the requests not
/// done. The summary is written to `out_summary_json`: `{total, succeeded, failed, remaining,
/// skipped, cost_usd, complete, stopped, failed_requests, journal_bytes_dropped, output}`.
///
/// `cancel` is optional (NULL). Unlike other calls, `trinity_cancel` on it does not fail the
/// call: it stops the run as the CLI's first signal does (nothing new is admitted, in-flight
/// requests get `grace_s`, else are cancelled at once) and the call returns `TRINITY_OK` with
/// `"stopped": "cancelled"` once the files are valid; a later resume finishes the rest.
/// A budget that runs out stops it the same way (`"stopped": "budget_exceeded: ..."`).
///
/// Errors: `TRINITY_ERR_INVALID_INPUT` for bad options, a bad input line (the message and
/// details `{"line"}` name it), an output that has a journal without `resume`, or a resume
/// whose input or result-changing settings changed (the message names the first difference);
/// `TRINITY_ERR_IO` for files that cannot be read or written.
///
/// Thread safety: safe from any thread, concurrently for different outputs; not from a trinity
/// callback (it would block a runtime thread: that returns `TRINITY_ERR_INVALID_INPUT`). The
/// client must outlive the call.
#[no_mangle]
pub unsafe extern "C" fn trinity_batch_run(
    client: *const trinity_client,
    options_json: *const c_char,
    len: usize,
    cancel: *const trinity_cancel_token,
    out_summary_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_summary_json, "out_summary_json")?;
        let client = self::client(client)?.clone();
        let opts = BatchOptions::from_json(json_in(options_json, len, "options_json")?)?;
        let token = token_of(cancel);
        let control = Control::new();
        let summary = rt::wait(async {
            let run = batch::run(
                client,
                &opts,
                control.clone(),
                Arc::new(Progress::default()),
            );
            let Some(token) = token else {
                return run.await;
            };
            tokio::pin!(run);
            tokio::select! {
                r = &mut run => r,
                () = token.cancelled() => {
                    control.stop("cancelled");
                    run.await
                }
            }
        })?;
        put_json(out, &summary)
    })
}

/// What the journal next to `output` says about the runs into it: the summary JSON of
/// `trinity_batch_run` (done, failed, remaining, cost), written to `out_summary_json`.
/// Errors: `TRINITY_ERR_NOT_FOUND` when there is no journal; `TRINITY_ERR_INVALID_INPUT` when
/// the file there is not one; `TRINITY_ERR_IO`.
///
/// Thread safety: safe from any thread, concurrently, also while a run writes the journal.
#[no_mangle]
pub unsafe extern "C" fn trinity_batch_status(
    output: *const c_char,
    len: usize,
    out_summary_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_summary_json, "out_summary_json")?;
        let output = str_in(output, len, "output")?;
        put_json(out, &batch::status(output.as_ref())?)
    })
}
