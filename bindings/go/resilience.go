package trinity

/*
#include <stdint.h>
#include <stdlib.h>
#include "trinity.h"

// goAdmissionDone (below) as the trinity_admission_callback of trinity_limiter_acquire_async.
extern void goAdmissionDone(void *, uint32_t, uint64_t, trinity_error *);
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// BreakerConfig tunes a CircuitBreaker: the config schema's `breaker` section. Zero fields take
// the core's defaults (a count window of 20, 10 minimum calls, 50% failures, 60 s slow calls,
// 30 s open wait, 5 half-open probes).
type BreakerConfig struct {
	// Name appears in errors (Details["breaker"]).
	Name string
	// WindowType is "count" (the last WindowSize calls) or "time" (the last WindowSize seconds).
	WindowType           string
	WindowSize           uint32
	MinimumCalls         uint32
	FailureRateThreshold float64 // (0, 1]
	// A call slower than SlowCall counts as slow; SlowCallRateThreshold of them opens the breaker.
	SlowCall              time.Duration
	SlowCallRateThreshold float64
	OpenWait              time.Duration
	HalfOpenCalls         uint32
}

func (c BreakerConfig) toJSON() string {
	m := map[string]any{}
	set := func(k string, v any, given bool) {
		if given {
			m[k] = v
		}
	}
	set("name", c.Name, c.Name != "")
	set("window_type", c.WindowType, c.WindowType != "")
	set("window_size", c.WindowSize, c.WindowSize != 0)
	set("minimum_calls", c.MinimumCalls, c.MinimumCalls != 0)
	set("failure_rate_threshold", c.FailureRateThreshold, c.FailureRateThreshold != 0)
	set("slow_call_ms", c.SlowCall.Milliseconds(), c.SlowCall != 0)
	set("slow_call_rate_threshold", c.SlowCallRateThreshold, c.SlowCallRateThreshold != 0)
	set("open_wait_ms", c.OpenWait.Milliseconds(), c.OpenWait != 0)
	set("half_open_calls", c.HalfOpenCalls, c.HalfOpenCalls != 0)
	b, _ := json.Marshal(m) // plain strings and numbers: never fails
	return string(b)
}

// BreakerState is a circuit breaker's state.
type BreakerState uint32

const (
	BreakerClosed   BreakerState = C.TRINITY_BREAKER_CLOSED
	BreakerOpen     BreakerState = C.TRINITY_BREAKER_OPEN
	BreakerHalfOpen BreakerState = C.TRINITY_BREAKER_HALF_OPEN
	// BreakerForcedOpen is set by hand: every call is rejected until set otherwise.
	BreakerForcedOpen BreakerState = C.TRINITY_BREAKER_FORCED_OPEN
	// BreakerDisabled is set by hand: every call is admitted and nothing is recorded.
	BreakerDisabled BreakerState = C.TRINITY_BREAKER_DISABLED
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half_open"
	case BreakerForcedOpen:
		return "forced_open"
	case BreakerDisabled:
		return "disabled"
	}
	return fmt.Sprintf("BreakerState(%d)", uint32(s))
}

// Outcome is how a call admitted by a CircuitBreaker ended.
type Outcome uint32

const (
	OutcomeSuccess Outcome = C.TRINITY_OUTCOME_SUCCESS
	OutcomeFailure Outcome = C.TRINITY_OUTCOME_FAILURE
	// OutcomeCancelled counts as neither: the caller gave up.
	OutcomeCancelled Outcome = C.TRINITY_OUTCOME_CANCELLED
)

// Ticket is a CircuitBreaker's admission of one call; Record it exactly once.
type Ticket uint64

// BreakerSnapshot holds a breaker's counters over its current window.
type BreakerSnapshot struct {
	State        string  `json:"state"`
	Calls        uint32  `json:"calls"`
	Failures     uint32  `json:"failures"`
	SlowCalls    uint32  `json:"slow_calls"`
	FailureRate  float64 `json:"failure_rate"`
	SlowCallRate float64 `json:"slow_call_rate"`
	NotPermitted uint64  `json:"not_permitted"`
	RetryAfterMs uint64  `json:"retry_after_ms"`
}

// CircuitBreaker is the core's circuit breaker (resilience4j semantics), safe for concurrent
// use. Close frees it; one garbage collected unclosed is freed then.
type CircuitBreaker struct {
	mu      sync.RWMutex
	ptr     *C.trinity_breaker
	cleanup runtime.Cleanup
}

// NewCircuitBreaker makes a breaker. A bad setting is ErrConfig with Details["path"]
// ("breaker.window_size").
func NewCircuitBreaker(cfg BreakerConfig) (*CircuitBreaker, error) {
	var ptr *C.trinity_breaker
	err := call(func(e **C.trinity_error) C.uint32_t {
		j, jl := cstr(cfg.toJSON())
		return C.trinity_breaker_new(j, jl, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	b := &CircuitBreaker{ptr: ptr}
	b.cleanup = runtime.AddCleanup(b, func(p *C.trinity_breaker) { C.trinity_breaker_free(p) }, ptr)
	return b, nil
}

// Close frees the breaker. It is idempotent; calls after Close fail with ErrInvalidInput.
func (b *CircuitBreaker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ptr != nil {
		b.cleanup.Stop()
		C.trinity_breaker_free(b.ptr)
		b.ptr = nil
	}
	return nil
}

func (b *CircuitBreaker) with(f func(*C.trinity_breaker) error) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return f(b.ptr)
}

// Acquire admits a call, or fails with ErrCircuitOpen (Details: "breaker", "state",
// "retry_after_ms"). Prefer Execute, which always records.
func (b *CircuitBreaker) Acquire() (Ticket, error) {
	var t C.uint64_t
	err := b.with(func(p *C.trinity_breaker) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_breaker_acquire(p, &t, e) })
	})
	return Ticket(t), err
}

// Record reports how the call admitted with t ended. A ticket recorded twice, or not from this
// breaker, is ErrInvalidInput.
func (b *CircuitBreaker) Record(t Ticket, o Outcome) error {
	return b.with(func(p *C.trinity_breaker) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			return C.trinity_breaker_record(p, C.uint64_t(t), C.uint32_t(o), e)
		})
	})
}

// Execute runs fn under the breaker: it fails with ErrCircuitOpen without calling fn when the
// breaker rejects the call, else records fn's result (nil: success; an error: failure; ctx
// done by the time fn returns an error: cancelled, which counts as neither) and returns it.
// A panic in fn is recorded as a failure and propagates.
func (b *CircuitBreaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), ErrCancelled)
	}
	t, err := b.Acquire()
	if err != nil {
		return err
	}
	outcome := OutcomeFailure // also when fn panics
	defer func() { _ = b.Record(t, outcome) }()
	err = fn(ctx)
	switch {
	case err == nil:
		outcome = OutcomeSuccess
	case ctx.Err() != nil:
		outcome = OutcomeCancelled
	}
	return err
}

// State returns the breaker's state; an open breaker whose wait is over reports half-open.
func (b *CircuitBreaker) State() (BreakerState, error) {
	var s C.uint32_t
	err := b.with(func(p *C.trinity_breaker) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_breaker_state(p, &s, e) })
	})
	return BreakerState(s), err
}

// SetState moves the breaker by hand (closed and half-open start fresh counts; open waits
// OpenWait again).
func (b *CircuitBreaker) SetState(s BreakerState) error {
	return b.with(func(p *C.trinity_breaker) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_breaker_set_state(p, C.uint32_t(s), e) })
	})
}

// Snapshot returns the breaker's counters.
func (b *CircuitBreaker) Snapshot() (BreakerSnapshot, error) {
	var out BreakerSnapshot
	err := b.with(func(p *C.trinity_breaker) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_breaker_snapshot(p, s, e)
		})
	})
	return out, err
}

// RateLimit configures a RateLimiter: requests (RPM) and tokens (TPM) per Window, exact
// sliding logs. Zero RPM or TPM is unlimited; a zero Window is a minute.
type RateLimit struct {
	// Name appears in errors and config paths ("rate_limits.NAME.rpm"); with RedisURL it is
	// the shared limit's key.
	Name   string
	RPM    uint64
	TPM    uint64
	Window time.Duration
	// RedisURL ("redis://host:port/db"), when set, shares the limit with every process that
	// uses the same Name on that Redis (one atomic script on the server's clock). TryAcquire,
	// Reconcile and Snapshot then make a round trip; an unreachable Redis is ErrNetwork with
	// Details["unavailable"] == true, which callers treat as "limiter unavailable".
	RedisURL string
}

func (l RateLimit) toJSON() (string, error) {
	m := map[string]any{}
	if l.Name != "" {
		m["name"] = l.Name
	}
	if l.RPM != 0 {
		m["rpm"] = l.RPM
	}
	if l.TPM != 0 {
		m["tpm"] = l.TPM
	}
	if l.RedisURL != "" {
		m["redis_url"] = l.RedisURL
	}
	if l.Window != 0 {
		ms := l.Window.Milliseconds()
		if ms <= 0 {
			return "", conversionError(ErrConfig, "rate_limits.window_ms: expected at least 1 ms")
		}
		m["window_ms"] = ms
	}
	b, _ := json.Marshal(m)
	return string(b), nil
}

// Admission is a RateLimiter's admission of one request; Reconcile it when the real token
// count is known.
type Admission struct {
	ID     uint64
	Tokens uint64
}

// LimiterSnapshot holds what a RateLimiter's window holds now.
type LimiterSnapshot struct {
	RPM               *uint64 `json:"rpm"`
	TPM               *uint64 `json:"tpm"`
	RequestsInWindow  uint64  `json:"requests_in_window"`
	TokensInWindow    uint64  `json:"tokens_in_window"`
	RemainingRequests *uint64 `json:"remaining_requests"`
	RemainingTokens   *uint64 `json:"remaining_tokens"`
	// RetryAfterMs is the wait until one more 1-token request fits.
	RetryAfterMs uint64 `json:"retry_after_ms"`
	Admitted     uint64 `json:"admitted"`
	Rejected     uint64 `json:"rejected"`
}

// RateLimiter is the core's rate limiter, local or shared through Redis, safe for concurrent
// use; local waiters are served in arrival order. Close frees it (and ends Waits in flight with ErrCancelled); one garbage
// collected unclosed is freed then.
type RateLimiter struct {
	mu      sync.RWMutex
	ptr     *C.trinity_limiter
	cleanup runtime.Cleanup
	// cancel tokens of Waits in flight, cancelled by Close so no Wait outlives the limiter.
	waitMu sync.Mutex
	waits  map[*C.trinity_cancel_token]struct{}
	closed bool
}

// NewRateLimiter makes a limiter. A bad limit is ErrConfig with Details["path"].
func NewRateLimiter(cfg RateLimit) (*RateLimiter, error) {
	cfgJSON, err := cfg.toJSON()
	if err != nil {
		return nil, err
	}
	var ptr *C.trinity_limiter
	err = call(func(e **C.trinity_error) C.uint32_t {
		j, jl := cstr(cfgJSON)
		return C.trinity_limiter_new(j, jl, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	l := &RateLimiter{ptr: ptr, waits: map[*C.trinity_cancel_token]struct{}{}}
	l.cleanup = runtime.AddCleanup(l, func(p *C.trinity_limiter) { C.trinity_limiter_free(p) }, ptr)
	return l, nil
}

// Close ends Waits in flight (ErrCancelled) and frees the limiter. It is idempotent; calls
// after Close fail with ErrInvalidInput.
func (l *RateLimiter) Close() error {
	l.waitMu.Lock()
	l.closed = true // Waits starting from now are cancelled at once
	for t := range l.waits {
		C.trinity_cancel(t)
	}
	l.waitMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		l.cleanup.Stop()
		C.trinity_limiter_free(l.ptr)
		l.ptr = nil
	}
	return nil
}

func (l *RateLimiter) with(f func(*C.trinity_limiter) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return f(l.ptr)
}

// TryAcquire admits a request of tokens now or fails with ErrRateLimited; RetryAfter(err)
// says how long until it would fit. A request larger than TPM can never fit: ErrRateLimited
// with Details["retryable"] == false, and RetryAfter reports false.
func (l *RateLimiter) TryAcquire(tokens uint64) (Admission, error) {
	var id, retry C.uint64_t
	err := l.with(func(p *C.trinity_limiter) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			return C.trinity_limiter_try_acquire(p, C.uint64_t(tokens), &id, &retry, e)
		})
	})
	return Admission{ID: uint64(id), Tokens: tokens}, err
}

// admissionResult is what goAdmissionDone hands back to Wait.
type admissionResult struct {
	id  uint64
	err *Error
}

// goAdmissionDone receives the end of a trinity_limiter_acquire_async call, on a library
// runtime thread. user_data is C memory holding the cgo.Handle of Wait's channel (so no
// integer becomes an unsafe.Pointer on the Go side); the channel has room for the one result.
//
//export goAdmissionDone
func goAdmissionDone(userData unsafe.Pointer, code C.uint32_t, admission C.uint64_t, cerr *C.trinity_error) {
	done := cgo.Handle(*(*C.uintptr_t)(userData)).Value().(chan admissionResult)
	if code != C.TRINITY_OK {
		done <- admissionResult{err: copyError(uint32(code), cerr)}
		return
	}
	done <- admissionResult{id: uint64(admission)}
}

// track registers a Wait's cancel token for Close (which cancels it at once when closing).
func (l *RateLimiter) track(token *C.trinity_cancel_token, add bool) {
	l.waitMu.Lock()
	defer l.waitMu.Unlock()
	if !add {
		delete(l.waits, token)
		return
	}
	l.waits[token] = struct{}{}
	if l.closed {
		C.trinity_cancel(token)
	}
}

// Wait waits until a request of tokens is admitted, in arrival order, without holding an OS
// thread. When ctx is done first it leaves the line and the error matches both ErrCancelled
// and ctx.Err() under errors.Is; Close ends it with ErrCancelled. A request larger than TPM
// fails at once with ErrRateLimited.
func (l *RateLimiter) Wait(ctx context.Context, tokens uint64) (Admission, error) {
	token, err := newToken()
	if err != nil {
		return Admission{}, err
	}
	defer C.trinity_cancel_token_free(token)
	l.track(token, true)
	defer l.track(token, false)
	if ctx.Err() != nil {
		C.trinity_cancel(token)
	}
	done := make(chan admissionResult, 1)
	h := cgo.NewHandle(done)
	defer h.Delete() // after the callback: every path below waits for it
	holder := (*C.uintptr_t)(C.malloc(C.size_t(unsafe.Sizeof(C.uintptr_t(0)))))
	defer C.free(unsafe.Pointer(holder))
	*holder = C.uintptr_t(h)
	err = l.with(func(p *C.trinity_limiter) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			cb := C.trinity_admission_callback(C.goAdmissionDone)
			return C.trinity_limiter_acquire_async(p, C.uint64_t(tokens), cb, unsafe.Pointer(holder), token, e)
		})
	})
	if err != nil {
		return Admission{}, err // the callback is never called when the start fails
	}
	var res admissionResult
	select {
	case res = <-done:
	case <-ctx.Done():
		C.trinity_cancel(token)
		res = <-done // promptly: the wait stops at the cancel
	}
	if res.err != nil {
		return Admission{}, withContext(ctx, res.err)
	}
	return Admission{ID: res.id, Tokens: tokens}, nil
}

// Reconcile replaces the token estimate of a with the tokens the request really used (a no-op
// once a has left the window).
func (l *RateLimiter) Reconcile(a Admission, actualTokens uint64) error {
	return l.with(func(p *C.trinity_limiter) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			return C.trinity_limiter_reconcile(p, C.uint64_t(a.ID), C.uint64_t(actualTokens), e)
		})
	})
}

// Snapshot returns what the window holds now.
func (l *RateLimiter) Snapshot() (LimiterSnapshot, error) {
	var out LimiterSnapshot
	err := l.with(func(p *C.trinity_limiter) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_limiter_snapshot(p, s, e)
		})
	})
	return out, err
}

// RetryAfter reads the wait an error asks for (Details["retry_after_ms"], set on
// ErrRateLimited and ErrCircuitOpen); false when there is none or the request can never fit.
func RetryAfter(err error) (time.Duration, bool) {
	var te *Error
	if !errors.As(err, &te) || te.Details == nil || te.Details["retryable"] == false {
		return 0, false
	}
	ms, ok := te.Details["retry_after_ms"].(float64)
	if !ok {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}
