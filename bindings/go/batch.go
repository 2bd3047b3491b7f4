package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"time"
)

// BatchOptions says what RunBatch runs. Input holds JSON Lines of chat requests, each with a
// "custom_id" (OpenAI Batch API lines {custom_id, method, url, body} are accepted unchanged);
// results go to Output in input order once every request is done (the failed ones also to its
// ".errors.jsonl" sibling), and until then to Output+".part" and Output+".journal".
type BatchOptions struct {
	Input  string
	Output string
	// Resume continues the run into Output: the requests already done are not sent again.
	// Refused when the input or a result-changing setting changed.
	Resume bool
	// RetryFailed, with Resume, sends the requests that failed again.
	RetryFailed bool
	// Concurrency is how many requests are in flight at once; 0 means 32.
	Concurrency int
	// Grace is how long in-flight requests may take after ctx is cancelled; 0 cancels them at once.
	Grace time.Duration
	// OnProgress, when set, is called with the run's counters every ProgressEvery (default
	// 500 ms) from a goroutine of its own, and once more with the last reading before RunBatch
	// returns. Calls never overlap.
	OnProgress    func(BatchProgress)
	ProgressEvery time.Duration
}

// BatchProgress is one reading of a running batch's counters.
type BatchProgress struct {
	// Total is the number of requests in the input (0 until it has been checked).
	Total int `json:"total"`
	// Skipped were done by an earlier run into the same output (a resume).
	Skipped int `json:"skipped"`
	// Succeeded and Failed count requests once their journal group is synced.
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	InFlight  int `json:"in_flight"`
	// Remaining is what is not finished yet, in flight included.
	Remaining int `json:"remaining"`
	// CostUSD is this run's cost so far.
	CostUSD float64 `json:"cost_usd"`
}

// BatchFailedRequest is a request that failed for good.
type BatchFailedRequest struct {
	CustomID string `json:"custom_id"`
	// RequestID is the request log's id of its last attempt.
	RequestID string `json:"request_id"`
	// Error is its error code ("not_found", "auth", ...).
	Error string `json:"error"`
}

// BatchSummary is how a run went (or, from BatchStatus, the runs so far).
type BatchSummary struct {
	Total     int `json:"total"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Remaining int `json:"remaining"`
	// Skipped were done before this run began (resume).
	Skipped int     `json:"skipped"`
	CostUSD float64 `json:"cost_usd"`
	// Complete: every request is done and Output holds them in input order.
	Complete bool `json:"complete"`
	// Stopped says why admission stopped early: "cancelled", "budget_exceeded: ...".
	Stopped             string               `json:"stopped,omitempty"`
	FailedRequests      []BatchFailedRequest `json:"failed_requests"`
	JournalBytesDropped uint64               `json:"journal_bytes_dropped"`
	Output              string               `json:"output"`
}

// RunBatch runs (or resumes) a batch through c and waits for its end. Every request is journaled
// before it counts as done, so after a crash or a stop a run with Resume finishes exactly the
// rest. A bad input line is ErrInvalidInput naming the line (Details["line"]), before anything
// is sent. Cancelling ctx stops the run as the CLI's first signal does: nothing new is admitted,
// in-flight requests get opts.Grace; RunBatch then returns the summary (Stopped "cancelled") with
// an error matching ErrCancelled and ctx.Err(), once the files are valid. A budget that runs out
// also stops it, reported in Summary.Stopped with a nil error. Close waits for a running batch.
func (c *Client) RunBatch(ctx context.Context, opts BatchOptions) (BatchSummary, error) {
	var out BatchSummary
	if ctx.Err() != nil {
		return out, withContext(ctx, conversionError(ErrCancelled, "the batch run was cancelled before it started"))
	}
	fields := map[string]any{"input": opts.Input, "output": opts.Output, "resume": opts.Resume, "retry_failed": opts.RetryFailed}
	if opts.Concurrency != 0 {
		fields["concurrency"] = opts.Concurrency
	}
	if opts.Grace != 0 {
		fields["grace_s"] = opts.Grace.Seconds()
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return out, conversionError(ErrInvalidInput, "batch options: "+err.Error())
	}
	token, err := newToken()
	if err != nil {
		return out, err
	}
	var progress *C.trinity_batch_progress
	if opts.OnProgress != nil {
		if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_batch_progress_new(&progress, e) }); err != nil {
			C.trinity_cancel_token_free(token)
			return out, err
		}
		defer C.trinity_batch_progress_free(progress)
	}
	stopReporting := reportProgress(progress, opts)
	cancelled := make(chan struct{})
	stopWatching := context.AfterFunc(ctx, func() {
		C.trinity_cancel(token)
		close(cancelled)
	})
	err = c.with(func(p *C.trinity_client) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			o, ol := cstr(string(body))
			return C.trinity_batch_run(p, o, ol, token, progress, s, e)
		})
	})
	if !stopWatching() {
		<-cancelled // the token is in use until trinity_cancel returns
	}
	C.trinity_cancel_token_free(token)
	stopReporting()
	if err != nil {
		return out, err
	}
	if ctx.Err() != nil && out.Stopped == "cancelled" {
		return out, withContext(ctx, conversionError(ErrCancelled, "the batch run was stopped; Resume continues it"))
	}
	return out, nil
}

// reportProgress calls opts.OnProgress with readings of progress until the returned function is
// called, which makes the last call and waits for it. Without OnProgress it does nothing.
func reportProgress(progress *C.trinity_batch_progress, opts BatchOptions) (stop func()) {
	if opts.OnProgress == nil {
		return func() {}
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	read := func() {
		var p BatchProgress
		// Reading counters cannot fail for a live handle; a reading that did is skipped.
		if callJSON(&p, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_batch_progress_read(progress, s, e)
		}) == nil {
			opts.OnProgress(p)
		}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				read()
			case <-done:
				read()
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// BatchStatus reports what the journal next to output says: done, failed, remaining, cost.
// ErrNotFound when there is none.
func BatchStatus(output string) (BatchSummary, error) {
	var out BatchSummary
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		o, ol := cstr(output)
		return C.trinity_batch_status(o, ol, s, e)
	})
	return out, err
}
