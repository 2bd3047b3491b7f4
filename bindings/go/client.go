package trinity

/*
#include <stdint.h>
#include "trinity.h"

// The Go callbacks (callbacks.go). A cgo.Handle travels as user_data; converting it to a
// pointer here, in C, keeps go vet's unsafe.Pointer check meaningful on the Go side.
extern void goChatDone(void *, uint32_t, char *, size_t, trinity_error *);
extern void goBudgetAlert(void *, char *, size_t);

static uint32_t go_on_budget_alert(const trinity_client *c, uintptr_t h, trinity_error **err) {
	return trinity_client_on_budget_alert(c, (trinity_budget_alert_callback)goBudgetAlert, (void *)h, err);
}

static uint32_t go_chat_async(const trinity_client *c, const char *req, size_t len, uintptr_t h,
                              const trinity_cancel_token *t, trinity_error **err) {
	return trinity_chat_async(c, req, len, (trinity_chat_callback)goChatDone, (void *)h, t, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"sync"
)

// Client is an LLM client over the configured providers, safe for concurrent use. Close frees
// it; a Client that is garbage collected unclosed is freed then.
type Client struct {
	// mu makes Close wait for C calls on the handle (streams run one for their whole length).
	mu      sync.RWMutex
	ptr     *C.trinity_client
	cleanup runtime.Cleanup
	// handles of OnBudgetAlert and OnLog functions, deleted by Close.
	alerts []cgo.Handle
	// live streams, stopped by Close so it never waits on a reader that went away.
	liveMu sync.Mutex
	live   map[*Stream]struct{}
}

// NewClient makes a client from a YAML or JSON config (the schema ParseConfig takes; TRINITY_*
// environment variables override it). An empty config reads the file named by TRINITY_CONFIG,
// else defaults plus TRINITY_* variables. A bad config is ErrConfig with Details["path"].
func NewClient(config string) (*Client, error) {
	var ptr *C.trinity_client
	err := call(func(e **C.trinity_error) C.uint32_t {
		t, tl := cstr(config)
		return C.trinity_client_new(t, tl, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	c := &Client{ptr: ptr, live: map[*Stream]struct{}{}}
	c.cleanup = runtime.AddCleanup(c, func(p *C.trinity_client) { C.trinity_client_free(p) }, ptr)
	return c, nil
}

// Close stops the client's open streams and frees it. Chat calls in flight finish normally.
// It is idempotent; calls after Close fail with ErrInvalidInput.
func (c *Client) Close() error {
	c.liveMu.Lock()
	for s := range c.live {
		s.halt()
	}
	c.liveMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		c.cleanup.Stop()
		C.trinity_client_free(c.ptr)
		c.ptr = nil
	}
	for _, h := range c.alerts {
		h.Delete()
	}
	c.alerts = nil
	return nil
}

// BudgetAlert is one fraction of a budget limit reached, once per window.
type BudgetAlert struct {
	// Limit: daily_usd, monthly_usd, per_user_daily_usd or per_request_usd.
	Limit    string  `json:"limit"`
	Fraction float64 `json:"fraction"`
	SpentUSD float64 `json:"spent_usd"`
	LimitUSD float64 `json:"limit_usd"`
	// Window: "2026-12-03" or "2026-12".
	Window string `json:"window"`
	User   string `json:"user,omitempty"`
}

// OnBudgetAlert calls fn each time spend passes one of budget.alerts of a limit, on a library
// thread (fn must return quickly). ErrConfig when the config sets no budget.
func (c *Client) OnBudgetAlert(fn func(BudgetAlert)) error {
	return c.register(fn, func(p *C.trinity_client, h C.uintptr_t, e **C.trinity_error) C.uint32_t {
		return C.go_on_budget_alert(p, h, e)
	})
}

// register hands fn to C as a cgo.Handle through reg; Close deletes the handle.
func (c *Client) register(fn any, reg func(*C.trinity_client, C.uintptr_t, **C.trinity_error) C.uint32_t) error {
	h := cgo.NewHandle(fn)
	err := c.with(func(p *C.trinity_client) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			return reg(p, C.uintptr_t(h), e)
		})
	})
	if err != nil {
		h.Delete()
		return err
	}
	c.mu.Lock()
	c.alerts = append(c.alerts, h)
	c.mu.Unlock()
	return nil
}

// Budget reports the spend and holds of the day, the month and user's day ("" for none)
// against their limits: {"scope", "per_request_usd", "windows": [...]}.
func (c *Client) Budget(user string) (map[string]any, error) {
	var out map[string]any
	err := c.with(func(p *C.trinity_client) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			u, ul := optStr(user)
			return C.trinity_client_budget(p, u, ul, s, e)
		})
	})
	return out, err
}

// with runs f on the live handle (NULL after Close, which C reports as invalid input).
func (c *Client) with(f func(*C.trinity_client) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return f(c.ptr)
}

// requestJSON encodes a request; a value encoding/json rejects is ErrInvalidInput.
func requestJSON(req ChatRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", conversionError(ErrInvalidInput, "request: "+err.Error())
	}
	return string(b), nil
}

// newToken makes a C cancel token; the caller frees it with C.trinity_cancel_token_free.
func newToken() (*C.trinity_cancel_token, error) {
	var t *C.trinity_cancel_token
	err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_cancel_token_new(&t, e) })
	return t, err
}

// chatResult is what goChatDone hands back: the answer's JSON or the error.
type chatResult struct {
	json []byte
	err  *Error
}

// Chat sends a request and waits for the answer. Bad requests fail with ErrInvalidInput or
// ErrNotFound before any network call; provider failures with ErrAuth, ErrRateLimited,
// ErrTimeout, ErrProvider or ErrNetwork. When ctx is cancelled or its deadline passes, the
// HTTP request is aborted and the error matches both ErrCancelled and ctx.Err()
// (context.Canceled or context.DeadlineExceeded) under errors.Is.
func (c *Client) Chat(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	var out ChatResponse
	body, err := requestJSON(req)
	if err != nil {
		return out, err
	}
	token, err := newToken()
	if err != nil {
		return out, err
	}
	defer C.trinity_cancel_token_free(token)
	if ctx.Err() != nil {
		C.trinity_cancel(token) // the call still validates the request, then reports cancelled
	}
	done := make(chan chatResult, 1)
	h := cgo.NewHandle(done)
	defer h.Delete() // after the callback: every path below waits for it
	err = c.with(func(p *C.trinity_client) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			r, rl := cstr(body)
			return C.go_chat_async(p, r, rl, C.uintptr_t(h), token, e)
		})
	})
	if err != nil {
		return out, err // the callback is never called when the start fails
	}
	var res chatResult
	select {
	case res = <-done:
	case <-ctx.Done():
		C.trinity_cancel(token)
		res = <-done // promptly: the call stops at the cancel
	}
	if res.err != nil {
		return out, withContext(ctx, res.err)
	}
	if err := json.Unmarshal(res.json, &out); err != nil {
		return out, conversionError(ErrInternal, "decoding the library's JSON: "+err.Error())
	}
	return out, nil
}
