//! Batch runs (`trinity_core::batch`): `trinity_batch_run` (blocking), `trinity_batch_status`,
//! and `trinity_batch_progress`, counters another thread reads while a run goes. Options,
//! summaries and progress readings are the core's JSON.

use crate::boundary::call;
use crate::cancel::{token_of, trinity_cancel_token};
use crate::client::{client, trinity_client};
use crate::error::trinity_error;
use crate::ffi::{json_in, non_null, put_json, str_in, string_out, trinity_string};
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
/// `progress` is optional (NULL): a handle from `trinity_batch_progress_new`, whose counters the
/// run updates as it goes, for `trinity_batch_progress_read` from another thread. Give each run
/// a fresh one (the counters add up over the runs given it).
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
    progress: *const trinity_batch_progress,
    out_summary_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_summary_json, "out_summary_json")?;
        let client = self::client(client)?.clone();
        let opts = BatchOptions::from_json(json_in(options_json, len, "options_json")?)?;
        let token = token_of(cancel);
        // SAFETY: NULL or a live handle (header contract); the run keeps its own reference.
        let progress = progress
            .as_ref()
            .map_or_else(Arc::default, |p| p.counters.clone());
        let control = Control::new();
        let summary = rt::wait(async {
            let run = batch::run(client, &opts, control.clone(), progress);
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

/// A batch run's progress counters. Opaque; make with `trinity_batch_progress_new`, give to
/// `trinity_batch_run`, read with `trinity_batch_progress_read`, free with
/// `trinity_batch_progress_free`.
pub struct trinity_batch_progress {
    counters: Arc<Progress>,
}

/// Makes progress counters, all zero, for one `trinity_batch_run`.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub unsafe extern "C" fn trinity_batch_progress_new(
    out_progress: *mut *mut trinity_batch_progress,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = non_null(out_progress, "out_progress")?;
        *out = Box::into_raw(Box::new(trinity_batch_progress {
            counters: Arc::default(),
        }));
        Ok(())
    })
}

/// Reads the counters into `out_progress_json`: `{total, skipped, succeeded, failed, in_flight,
/// remaining, cost_usd}` (`total` is 0 until the run has checked its input; `cost_usd` is this
/// run's). `succeeded` and `failed` count requests once their journal group is synced.
/// Errors: `TRINITY_ERR_INVALID_INPUT` for a NULL argument.
///
/// Thread safety: safe from any thread, concurrently, while the run goes and after it.
#[no_mangle]
pub unsafe extern "C" fn trinity_batch_progress_read(
    progress: *const trinity_batch_progress,
    out_progress_json: *mut trinity_string,
    out_err: *mut *mut trinity_error,
) -> u32 {
    call(out_err, || unsafe {
        let out = string_out(out_progress_json, "out_progress_json")?;
        // SAFETY: NULL or a live handle (header contract); read through a shared reference,
        // as other threads may read it at the same time.
        let p = progress
            .as_ref()
            .ok_or_else(|| trinity_core::Error::invalid_input("progress: NULL pointer"))?;
        put_json(out, &p.counters.snapshot())
    })
}

/// Frees the handle. A run it was given to keeps its own reference, so freeing it while the
/// run goes is safe (the run's counters are then out of reach). NULL is a no-op.
///
/// Thread safety: safe from any thread, once per handle.
#[no_mangle]
pub unsafe extern "C" fn trinity_batch_progress_free(progress: *mut trinity_batch_progress) {
    crate::boundary::guard((), || {
        if !progress.is_null() {
            // SAFETY: made by trinity_batch_progress_new, freed once (header contract).
            drop(unsafe { Box::from_raw(progress) });
        }
    })
}
