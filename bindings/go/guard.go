package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// GuardConfig bounds one agent run. Zero fields take the core's defaults: no step or time
// limit, loop detection on, no event log.
type GuardConfig struct {
	// MaxSteps is how many steps the run may take; the next one is refused (reason
	// "max_steps"). 0: no limit.
	MaxSteps int
	// MaxTime is the run's wall time from NewRunGuard; a step or guarded Chat still running at
	// the deadline is cut short (reason "max_time"). 0: no limit.
	MaxTime time.Duration
	// Loops tunes loop detection; nil takes the defaults.
	Loops *LoopConfig
	// EventLog is a JSON Lines file the run's events are appended to (created if missing).
	EventLog string
	// LogArguments writes each step's arguments (scrubbed of keys and personal data) into the
	// event log; without it the log holds a fingerprint of them.
	LogArguments bool
	// Extra fields are sent as given and win over the typed ones, in the core's JSON shape
	// ({"max_time_s": 1.5, "loops": {...}}): an escape hatch for settings this struct lacks.
	Extra map[string]any
}

// LoopRuleOff as a LoopConfig threshold turns that rule off.
const LoopRuleOff = -1

// LoopConfig tunes loop detection, which needs no LLM. A zero threshold takes the core's
// default; LoopRuleOff (any negative value) turns the rule off.
type LoopConfig struct {
	// Disabled turns every rule off.
	Disabled bool
	// SameAction: the same action (name and arguments) with the same result this many times in
	// a row (default 5).
	SameAction int
	// NearDuplicate: as SameAction once cosmetic differences (whitespace, key order, case, ids,
	// timestamps) are normalised away (default 5).
	NearDuplicate int
	// AlternationCycles: two different steps taking turns, A-B-A-B, this many full cycles
	// (default 3).
	AlternationCycles int
	// SameError: one tool failing with the same error this many times in a row, whatever its
	// arguments (default 3).
	SameError int
	// CosmeticKeys replace the argument keys whose values never make two calls different
	// (request ids, nonces, timestamps); nil keeps the defaults.
	CosmeticKeys []string
	// MeaningfulKeys replace the argument keys whose values always make two calls different
	// (page, offset, cursor, since, line ranges); nil keeps the defaults.
	MeaningfulKeys []string
}

func (l *LoopConfig) toMap() map[string]any {
	m := map[string]any{}
	if l.Disabled {
		m["enabled"] = false
	}
	for key, v := range map[string]int{"same_action": l.SameAction, "near_duplicate": l.NearDuplicate,
		"alternation_cycles": l.AlternationCycles, "same_error": l.SameError} {
		switch {
		case v < 0:
			m[key] = 0
		case v > 0:
			m[key] = v
		}
	}
	if l.CosmeticKeys != nil {
		m["cosmetic_keys"] = l.CosmeticKeys
	}
	if l.MeaningfulKeys != nil {
		m["meaningful_keys"] = l.MeaningfulKeys
	}
	return m
}

func (c GuardConfig) toJSON() (string, error) {
	m := map[string]any{}
	if c.MaxSteps != 0 {
		m["max_steps"] = c.MaxSteps
	}
	if c.MaxTime != 0 {
		m["max_time_s"] = c.MaxTime.Seconds()
	}
	if c.Loops != nil {
		m["loops"] = c.Loops.toMap()
	}
	if c.EventLog != "" {
		m["event_log"] = c.EventLog
	}
	if c.LogArguments {
		m["log_arguments"] = true
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", conversionError(ErrInvalidInput, "guard config: "+err.Error())
	}
	return string(b), nil
}

// The reasons a guard stops a run: GuardStop.Reason, and Details["reason"] of its
// ErrGuardStopped errors.
const (
	StopMaxSteps     = "max_steps"
	StopMaxTime      = "max_time"
	StopLoopDetected = "loop_detected"
)

// Action is what a step does: a tool (or any named action) and its arguments, any value
// encoding/json takes. Arguments given as JSON text, as models write them, compare as the value
// they hold.
type Action struct {
	Name      string `json:"name"`
	Arguments any    `json:"arguments,omitempty"`
}

// StepError is a failed step's error as the guard records it: a code and a message, which the
// same_error rule compares. Return one (or wrap one) from a step to choose its code; any other
// error is recorded with the code of the *Error it wraps, "timeout" or "cancelled" for a
// context's error, else its Go type ("errors.errorString", "fs.PathError").
type StepError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *StepError) Error() string { return e.Code + ": " + e.Message }

func stepErrorOf(err error) *StepError {
	var se *StepError
	if errors.As(err, &se) {
		return se
	}
	var te *Error
	switch {
	case errors.As(err, &te):
		return &StepError{Code: te.Code, Message: te.Message}
	case errors.Is(err, context.DeadlineExceeded):
		return &StepError{Code: "timeout", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &StepError{Code: "cancelled", Message: err.Error()}
	}
	return &StepError{Code: strings.TrimPrefix(fmt.Sprintf("%T", err), "*"), Message: err.Error()}
}

// outcomeOf is a step's result in the core's shape: {"ok": value} or {"error": {code, message}}.
// A value encoding/json rejects is recorded as null, as the core does.
func outcomeOf(value any, err error) map[string]any {
	if err != nil {
		return map[string]any{"error": stepErrorOf(err)}
	}
	b, jerr := json.Marshal(value)
	if jerr != nil {
		return map[string]any{"ok": nil}
	}
	return map[string]any{"ok": json.RawMessage(b)}
}

func jsonOf(what string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", conversionError(ErrInvalidInput, what+": "+err.Error())
	}
	return string(b), nil
}

// LLMCall is an LLM call made outside the guard, for RecordLLMCall.
type LLMCall struct {
	// Model is what was asked for (a model or a route alias); ResponseModel what answered.
	Model         string
	ResponseModel string
	Provider      string
	InputTokens   *uint64
	OutputTokens  *uint64
	// CostNanoUSD nil: the call could not be priced (counted apart, never as $0).
	CostNanoUSD *uint64
	Duration    time.Duration
	// Err is set when the call failed (recorded as a StepError is).
	Err error
}

func (c LLMCall) toMap() map[string]any {
	m := map[string]any{"model": c.Model, "duration_ms": float64(c.Duration) / float64(time.Millisecond)}
	set := func(k string, v any, given bool) {
		if given {
			m[k] = v
		}
	}
	set("response_model", c.ResponseModel, c.ResponseModel != "")
	set("provider", c.Provider, c.Provider != "")
	set("input_tokens", c.InputTokens, c.InputTokens != nil)
	set("output_tokens", c.OutputTokens, c.OutputTokens != nil)
	set("cost_nano_usd", c.CostNanoUSD, c.CostNanoUSD != nil)
	if c.Err != nil {
		m["error"] = stepErrorOf(c.Err)
	}
	return m
}

// MetricSummary is one metric over the run; the pointers are nil while Count is 0.
type MetricSummary struct {
	Count   uint64   `json:"count"`
	Total   float64  `json:"total"`
	Average *float64 `json:"average"`
	Min     *float64 `json:"min"`
	Max     *float64 `json:"max"`
	P50     *float64 `json:"p50"`
	P95     *float64 `json:"p95"`
	P99     *float64 `json:"p99"`
}

// GuardStop says why the guard stopped the run.
type GuardStop struct {
	// Reason is StopMaxSteps, StopMaxTime or StopLoopDetected.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Details are the stop error's details: "rule", "steps", "actions" for a loop; "limit",
	// "elapsed_ms", "cancelled", "step", "action" for the limits.
	Details map[string]any `json:"details"`
}

// EventLogStatus is what the event log has written; a failed write is counted here (and never
// fails the run).
type EventLogStatus struct {
	Path         string `json:"path"`
	LinesWritten uint64 `json:"lines_written"`
	WriteErrors  uint64 `json:"write_errors"`
	LastError    string `json:"last_error"`
}

// PerformanceReport is the run so far: counts, and count, total, average, min, max, p50, p95
// and p99 per metric.
type PerformanceReport struct {
	RunID     string  `json:"run_id"`
	ElapsedMs float64 `json:"elapsed_ms"`
	// Steps finished, a step cut at the deadline included.
	Steps       uint64 `json:"steps"`
	FailedSteps uint64 `json:"failed_steps"`
	LLMCalls    uint64 `json:"llm_calls"`
	// FailedLLMCalls includes calls cut at the deadline.
	FailedLLMCalls uint64 `json:"failed_llm_calls"`
	// UnpricedLLMCalls were answered but could not be priced: left out of CostUSD.
	UnpricedLLMCalls uint64 `json:"unpriced_llm_calls"`
	// Stopped is nil while the run may go on.
	Stopped           *GuardStop    `json:"stopped"`
	StepDurationMs    MetricSummary `json:"step_duration_ms"`
	LLMCallDurationMs MetricSummary `json:"llm_call_duration_ms"`
	// InputTokens, OutputTokens and Tokens (both) are per LLM call; CostUSD per priced call.
	InputTokens  MetricSummary `json:"input_tokens"`
	OutputTokens MetricSummary `json:"output_tokens"`
	Tokens       MetricSummary `json:"tokens"`
	CostUSD      MetricSummary `json:"cost_usd"`
	// EventLog is nil without one.
	EventLog *EventLogStatus `json:"event_log"`
}

// EventLogContents is an event log as ReadEventLog reads it.
type EventLogContents struct {
	// Records are the valid lines: {"timestamp", "type" (run_start, step, llm_call, run_stop),
	// "level", "run_id", ...} with OpenTelemetry GenAI attribute names where one applies.
	Records []map[string]any `json:"records"`
	// DroppedLines are the 1-based numbers of lines dropped: torn, or not a JSON object.
	DroppedLines []uint64 `json:"dropped_lines"`
	// TornTail: the file ended in a line cut short (a crash mid-write).
	TornTail bool `json:"torn_tail"`
}

// RunGuard bounds an agent loop: a step limit, a wall-time limit that cuts a hung step or LLM
// call short, loop detection, an event log and a performance report. Every stop is an error
// matching ErrGuardStopped, with Details["reason"] StopMaxSteps, StopMaxTime or
// StopLoopDetected (and "rule", "steps" for a loop), and it is sticky: every later step,
// Check and Chat answers the same error. Safe for concurrent use; Close frees it, and a
// RunGuard garbage collected unclosed is freed then.
type RunGuard struct {
	mu      sync.RWMutex
	ptr     *C.trinity_guard
	cleanup runtime.Cleanup
}

// NewRunGuard makes a guard and starts its clock. A bad setting is ErrInvalidInput with
// Details["path"] naming it ("loops.same_error", "max_time_s"); an event log that cannot be
// opened is ErrIO.
func NewRunGuard(cfg GuardConfig) (*RunGuard, error) {
	text, err := cfg.toJSON()
	if err != nil {
		return nil, err
	}
	var ptr *C.trinity_guard
	err = call(func(e **C.trinity_error) C.uint32_t {
		t, tl := cstr(text)
		return C.trinity_guard_new(t, tl, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	g := &RunGuard{ptr: ptr}
	g.cleanup = runtime.AddCleanup(g, func(p *C.trinity_guard) { C.trinity_guard_free(p) }, ptr)
	return g, nil
}

// Close frees the guard; every event-log line already written stays. It waits for a guarded
// Chat in flight, and is idempotent; calls after Close fail with ErrInvalidInput.
func (g *RunGuard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ptr != nil {
		g.cleanup.Stop()
		C.trinity_guard_free(g.ptr)
		g.ptr = nil
	}
	return nil
}

func (g *RunGuard) with(f func(*C.trinity_guard) error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return f(g.ptr)
}

// BeginStep starts a step and returns its number (1 for the run's first), to hand to
// FinishStep or DeadlineReached. It fails with ErrGuardStopped when the run was stopped, its
// time is up, or the step would go past MaxSteps. Prefer RunStep, which always finishes.
func (g *RunGuard) BeginStep(action Action) (uint64, error) {
	body, err := jsonOf("action", action)
	if err != nil {
		return 0, err
	}
	var step C.uint64_t
	err = g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			a, al := cstr(body)
			return C.trinity_guard_begin_step(p, a, al, &step, e)
		})
	})
	return uint64(step), err
}

// FinishStep ends step with its result: stepErr nil records result (as JSON), else the error
// (see StepError). It fails with ErrGuardStopped when this step completes a loop, the time ran
// out meanwhile, or another step stopped the run; with ErrInvalidInput for a step that is not
// in progress (Details["step"]).
func (g *RunGuard) FinishStep(step uint64, result any, stepErr error) error {
	body, err := jsonOf("outcome", outcomeOf(result, stepErr))
	if err != nil {
		return err
	}
	return g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			o, ol := cstr(body)
			return C.trinity_guard_finish_step(p, C.uint64_t(step), o, ol, e)
		})
	})
}

// DeadlineReached says that the caller's own timer fired at the deadline (Remaining) while
// step ran, and that the caller cancelled the work: the step is recorded as cancelled and the
// run stopped with StopMaxTime. It returns that ErrGuardStopped error (or the earlier stop).
func (g *RunGuard) DeadlineReached(step uint64) error {
	return g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			return C.trinity_guard_deadline_reached(p, C.uint64_t(step), e)
		})
	})
}

// RecordStep reports a step that ran outside the guard, after the fact (begin and finish at
// once), and returns its number. duration 0 means not known. Errors as BeginStep and
// FinishStep: a step that completes a loop is recorded, then answered with ErrGuardStopped.
func (g *RunGuard) RecordStep(action Action, result any, stepErr error, duration time.Duration) (uint64, error) {
	fields := map[string]any{"action": action, "outcome": outcomeOf(result, stepErr)}
	if duration != 0 {
		fields["duration_ms"] = float64(duration) / float64(time.Millisecond)
	}
	body, err := jsonOf("step", fields)
	if err != nil {
		return 0, err
	}
	var step C.uint64_t
	err = g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			s, sl := cstr(body)
			return C.trinity_guard_record_step(p, s, sl, &step, e)
		})
	})
	return uint64(step), err
}

// stepResult is what a step's function hands back to RunStep.
type stepResult struct {
	value    any
	err      error
	panicked bool
	panic    any
}

// RunStep runs fn as one step: begins it (ErrGuardStopped without calling fn when the run is
// stopped or over a limit), runs fn with a context whose deadline is the guard's, and finishes
// the step with fn's result, which it returns. When the guard's deadline passes first, fn's
// context is done (context.Cause matches ErrGuardStopped) and RunStep returns at once with the
// guard's ErrGuardStopped error (StopMaxTime, Details["cancelled"] true): the run ends within
// MaxTime however long fn would hang. When ctx is done first, RunStep returns at once with an
// error matching ctx.Err() and ErrCancelled, recorded as a failed step. In both cases fn is not
// waited for: it should return when its context is done, and its result is dropped.
// A guard stop raised by finishing the step (a loop) wins over fn's result. A panic in fn is
// recorded as a failed step ("panic") and propagates, unless RunStep already returned.
func (g *RunGuard) RunStep(ctx context.Context, action Action, fn func(ctx context.Context) (any, error)) (any, error) {
	if ctx.Err() != nil {
		return nil, withContext(ctx, conversionError(ErrCancelled, "the step was cancelled before it began"))
	}
	step, err := g.BeginStep(action)
	if err != nil {
		return nil, err
	}
	// The cause tells fn why its context ended; its identity tells RunStep.
	deadline := conversionError(ErrGuardStopped, "run guard: the run's max_time was reached")
	var stepCtx context.Context
	var cancel context.CancelFunc
	if left, ok := g.Remaining(); ok {
		stepCtx, cancel = context.WithTimeoutCause(ctx, left, deadline)
	} else {
		stepCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	done := make(chan stepResult, 1) // fn's goroutine never blocks on it, even after RunStep returned
	go func() {
		r := stepResult{panicked: true}
		defer func() {
			if r.panicked {
				r.panic = recover()
			}
			done <- r
		}()
		r.value, r.err = fn(stepCtx)
		r.panicked = false
	}()
	select {
	case r := <-done:
		if r.panicked {
			_ = g.FinishStep(step, nil, &StepError{Code: "panic", Message: fmt.Sprint(r.panic)})
			if r.panic == nil {
				runtime.Goexit() // fn called runtime.Goexit (t.FailNow): end this goroutine too
			}
			panic(r.panic)
		}
		if r.err != nil && context.Cause(stepCtx) == deadline {
			return nil, g.DeadlineReached(step) // fn saw the deadline and gave up
		}
		if err := g.FinishStep(step, r.value, r.err); err != nil {
			return nil, err
		}
		return r.value, r.err
	case <-stepCtx.Done():
		if context.Cause(stepCtx) == deadline {
			return nil, g.DeadlineReached(step)
		}
		cancelled := withContext(ctx, conversionError(ErrCancelled, "the step was cancelled: "+ctx.Err().Error()))
		if err := g.FinishStep(step, nil, cancelled); err != nil {
			return nil, err
		}
		return nil, cancelled
	}
}

// RunTypedStep is RunStep for a function with a typed result.
func RunTypedStep[T any](ctx context.Context, g *RunGuard, action Action, fn func(ctx context.Context) (T, error)) (T, error) {
	v, err := g.RunStep(ctx, action, func(ctx context.Context) (any, error) { return fn(ctx) })
	t, _ := v.(T)
	return t, err
}

// Chat is c.Chat as an LLM call of this run: refused with ErrGuardStopped once the run is
// stopped; cut at the guard's deadline (the HTTP request is aborted, the call recorded as
// failed and the run stopped: ErrGuardStopped, StopMaxTime); otherwise recorded with its
// duration, tokens and cost. When ctx is done first the request is aborted and the error
// matches ErrCancelled and ctx.Err(); that call is recorded as failed and the run goes on. Other
// errors as c.Chat's.
func (g *RunGuard) Chat(ctx context.Context, c *Client, req ChatRequest) (ChatResponse, error) {
	var out ChatResponse
	if c == nil {
		return out, conversionError(ErrInvalidInput, "client: nil")
	}
	body, err := requestJSON(req)
	if err != nil {
		return out, err
	}
	token, err := newToken()
	if err != nil {
		return out, err
	}
	if ctx.Err() != nil {
		C.trinity_cancel(token) // the call still validates the request, then reports cancelled
	}
	cancelled := make(chan struct{})
	stopWatching := context.AfterFunc(ctx, func() {
		C.trinity_cancel(token)
		close(cancelled)
	})
	err = g.with(func(gp *C.trinity_guard) error {
		return c.with(func(cp *C.trinity_client) error {
			return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
				r, rl := cstr(body)
				return C.trinity_guard_chat(gp, cp, r, rl, token, s, e)
			})
		})
	})
	if !stopWatching() {
		<-cancelled // the token is in use until trinity_cancel returns
	}
	C.trinity_cancel_token_free(token)
	if te, ok := err.(*Error); ok {
		return out, withContext(ctx, te)
	}
	return out, err
}

// RecordLLMCall reports an LLM call made outside the guard. It is recorded either way; the
// error is ErrGuardStopped when the run is stopped or out of time.
func (g *RunGuard) RecordLLMCall(llm LLMCall) error {
	body, err := jsonOf("llm call", llm.toMap())
	if err != nil {
		return err
	}
	return g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			b, bl := cstr(body)
			return C.trinity_guard_record_llm_call(p, b, bl, e)
		})
	})
}

// Check is nil while the run may go on (not stopped and within its time), else the stop's
// ErrGuardStopped error (a run past its deadline is stopped now).
func (g *RunGuard) Check() error {
	return g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_guard_check(p, e) })
	})
}

// Remaining is the time left before the guard's deadline, to the millisecond (0 once past
// it); false when the guard has no time limit (or is closed).
func (g *RunGuard) Remaining() (time.Duration, bool) {
	var ms C.int64_t
	err := g.with(func(p *C.trinity_guard) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_guard_remaining_ms(p, &ms, e) })
	})
	if err != nil || ms < 0 {
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// PerformanceReport returns the figures of the run so far.
func (g *RunGuard) PerformanceReport() (*PerformanceReport, error) {
	var out PerformanceReport
	err := g.with(func(p *C.trinity_guard) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_guard_report(p, s, e)
		})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ReadEventLog reads a guard's event log, keeping every complete line that is a JSON object
// (a process killed mid-write leaves at most one torn last line, dropped here). ErrIO when the
// file cannot be read.
func ReadEventLog(path string) (*EventLogContents, error) {
	var out EventLogContents
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, pl := cstr(path)
		return C.trinity_read_event_log(p, pl, s, e)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
