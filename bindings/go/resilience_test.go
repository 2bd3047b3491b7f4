package trinity

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errBoom = errors.New("boom")

func newBreaker(t *testing.T, cfg BreakerConfig) *CircuitBreaker {
	t.Helper()
	b, err := NewCircuitBreaker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newLimiter(t *testing.T, cfg RateLimit) *RateLimiter {
	t.Helper()
	l, err := NewRateLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mustState(t *testing.T, b *CircuitBreaker, want BreakerState) {
	t.Helper()
	if s, err := b.State(); err != nil || s != want {
		t.Fatalf("state %v (%v), want %v", s, err, want)
	}
}

func TestBreakerOpensRejectsProbesAndCloses(t *testing.T) {
	b := newBreaker(t, BreakerConfig{Name: "go", WindowSize: 4, MinimumCalls: 4,
		FailureRateThreshold: 0.5, OpenWait: 100 * time.Millisecond, HalfOpenCalls: 1})
	ctx := context.Background()
	for i, fail := range []bool{false, true, false, true} {
		err := b.Execute(ctx, func(context.Context) error {
			if fail {
				return errBoom
			}
			return nil
		})
		if (err != nil) != fail || (fail && !errors.Is(err, errBoom)) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	mustState(t, b, BreakerOpen)
	ran := false
	err := b.Execute(ctx, func(context.Context) error { ran = true; return nil })
	var te *Error
	if ran || !errors.Is(err, ErrCircuitOpen) || !errors.As(err, &te) || te.Details["breaker"] != "go" {
		t.Fatalf("open breaker: ran %v, %v", ran, err)
	}
	if d, ok := RetryAfter(err); !ok || d <= 0 || d > 100*time.Millisecond {
		t.Fatalf("retry after %v %v", d, ok)
	}
	snap, err := b.Snapshot()
	if err != nil || snap.State != "open" || snap.NotPermitted != 1 || snap.FailureRate != 0.5 {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	time.Sleep(150 * time.Millisecond)
	mustState(t, b, BreakerHalfOpen)
	if err := b.Execute(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mustState(t, b, BreakerClosed)
}

func TestBreakerCancelledCallsCountAsNeither(t *testing.T) {
	b := newBreaker(t, BreakerConfig{WindowSize: 10, MinimumCalls: 1})
	ctx, cancel := context.WithCancel(context.Background())
	err := b.Execute(ctx, func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// Already cancelled: fn never runs, and the error matches both.
	err = b.Execute(ctx, func(context.Context) error { t.Fatal("ran"); return nil })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("got %v", err)
	}
	if s, _ := b.Snapshot(); s.Calls != 0 || s.State != "closed" {
		t.Fatalf("cancelled calls were counted: %+v", s)
	}
}

func TestBreakerPanicIsAFailureAndPropagates(t *testing.T) {
	b := newBreaker(t, BreakerConfig{WindowSize: 2, MinimumCalls: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic was swallowed")
			}
		}()
		_ = b.Execute(context.Background(), func(context.Context) error { panic("callee") })
	}()
	mustState(t, b, BreakerOpen)
}

func TestBreakerTicketsStatesAndBadConfig(t *testing.T) {
	b := newBreaker(t, BreakerConfig{})
	tk, err := b.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Record(tk, OutcomeSuccess); err != nil {
		t.Fatal(err)
	}
	if err := b.Record(tk, OutcomeSuccess); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("second record: %v", err)
	}
	for _, s := range []BreakerState{BreakerForcedOpen, BreakerDisabled, BreakerOpen, BreakerClosed} {
		if err := b.SetState(s); err != nil {
			t.Fatal(err)
		}
		mustState(t, b, s)
	}
	if err := b.SetState(BreakerState(9)); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad state: %v", err)
	}
	if BreakerHalfOpen.String() != "half_open" {
		t.Fatal(BreakerHalfOpen.String())
	}
	_, err = NewCircuitBreaker(BreakerConfig{FailureRateThreshold: 1.5})
	var te *Error
	if !errors.Is(err, ErrConfig) || !errors.As(err, &te) || te.Details["path"] != "breaker.failure_rate_threshold" {
		t.Fatalf("bad config: %v", err)
	}
	_, err = NewCircuitBreaker(BreakerConfig{WindowType: "sliding"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("bad window type: %v", err)
	}
	b.Close()
	b.Close()
	if _, err := b.State(); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("after Close: %v", err)
	}
	if err := b.Execute(context.Background(), func(context.Context) error { return nil }); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestBreakerConcurrentExecute(t *testing.T) {
	b := newBreaker(t, BreakerConfig{WindowSize: 100})
	var wg sync.WaitGroup
	var calls atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				err := b.Execute(context.Background(), func(context.Context) error {
					calls.Add(1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if _, err := b.Snapshot(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	s, _ := b.Snapshot()
	if calls.Load() != 16*300 || s.Calls != 100 || s.Failures != 0 {
		t.Fatalf("%d calls, snapshot %+v", calls.Load(), s)
	}
}

func TestLimiterRetryAfterReconcileAndNeverFits(t *testing.T) {
	l := newLimiter(t, RateLimit{Name: "go", RPM: 2, TPM: 100, Window: 300 * time.Millisecond})
	a, err := l.TryAcquire(60)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.TryAcquire(50)
	d, ok := RetryAfter(err)
	if !errors.Is(err, ErrRateLimited) || !ok || d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("over tpm: %v (retry %v %v)", err, d, ok)
	}
	if err := l.Reconcile(a, 20); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryAcquire(50); err != nil {
		t.Fatalf("after reconcile: %v", err)
	}
	s, err := l.Snapshot()
	if err != nil || s.RequestsInWindow != 2 || s.TokensInWindow != 70 || *s.RemainingRequests != 0 ||
		*s.RPM != 2 || s.Admitted != 2 || s.Rejected != 1 {
		t.Fatalf("snapshot %+v, %v", s, err)
	}
	start := time.Now()
	_, err = l.Wait(context.Background(), 101)
	var te *Error
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &te) || te.Details["retryable"] != false ||
		time.Since(start) > 100*time.Millisecond {
		t.Fatalf("never fits: %v", err)
	}
	if _, ok := RetryAfter(err); ok {
		t.Fatal("a request that can never fit has no retry-after")
	}
	// rpm reached: Wait blocks until the first admission leaves the window.
	start = time.Now()
	if _, err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if w := time.Since(start); w < 100*time.Millisecond || w > 2*time.Second {
		t.Fatalf("waited %v", w)
	}
}

func TestLimiterWaitHonoursContextAndClose(t *testing.T) {
	l := newLimiter(t, RateLimit{RPM: 1, Window: time.Minute})
	if _, err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Wait(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) || time.Since(start) > 2*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(start))
	}
	// Many waiters, then Close: each ends with ErrCancelled (or ErrInvalidInput if it started
	// after the handle was freed), none hangs.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Wait(context.Background(), 1)
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	l.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrCancelled) && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("waiter after Close: %v", err)
		}
	}
	if _, err := l.TryAcquire(1); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestLimiterConfigErrorsAndUnlimited(t *testing.T) {
	_, err := NewRateLimiter(RateLimit{Name: "x", RPM: 5, Window: time.Microsecond})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("sub-ms window: %v", err)
	}
	l := newLimiter(t, RateLimit{})
	for i := 0; i < 1000; i++ {
		if _, err := l.TryAcquire(1 << 40); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := l.Snapshot()
	if s.RPM != nil || s.TPM != nil || s.Admitted != 1000 {
		t.Fatalf("unlimited: %+v", s)
	}
}

func TestLimiterConcurrentWaitersShareTheLimit(t *testing.T) {
	l := newLimiter(t, RateLimit{RPM: 20, Window: 200 * time.Millisecond})
	var wg sync.WaitGroup
	var admitted atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := l.Wait(ctx, 1); err != nil {
					if !errors.Is(err, ErrCancelled) {
						t.Error(err)
					}
					return
				}
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	// 500 ms spans at most 3 windows of 200 ms: 20 at 0, 200 and 400 ms.
	if n := admitted.Load(); n < 20 || n > 60 {
		t.Fatalf("%d admitted", n)
	}
}

func TestLimiterManyWaitersCancelTogether(t *testing.T) {
	l := newLimiter(t, RateLimit{RPM: 10, Window: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	const n = 500
	var wg sync.WaitGroup
	var ok, cancelled atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Wait(ctx, 1)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrCancelled) && errors.Is(err, context.Canceled):
				cancelled.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if ok.Load() != 10 || cancelled.Load() != n-10 {
		t.Fatalf("%d admitted, %d cancelled", ok.Load(), cancelled.Load())
	}
	if s, _ := l.Snapshot(); s.RequestsInWindow != 10 {
		t.Fatalf("%+v", s)
	}
}

// startRedis runs a redis-server on a free loopback port for the test, or skips without one.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed (make setup-redis)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "redis://" + addr + "/0"
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

func TestLimiterSharedThroughRedis(t *testing.T) {
	url := startRedis(t)
	cfg := RateLimit{Name: "go-shared", RPM: 10, Window: time.Minute, RedisURL: url}
	// Four limiters on one key stand for four processes: 10 admissions in all.
	var limiters []*RateLimiter
	for i := 0; i < 4; i++ {
		limiters = append(limiters, newLimiter(t, cfg))
	}
	var wg sync.WaitGroup
	var admitted, limited atomic.Int64
	for _, l := range limiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := l.TryAcquire(1)
				switch d, ok := RetryAfter(err); {
				case err == nil:
					admitted.Add(1)
				case errors.Is(err, ErrRateLimited) && ok && d > 50*time.Second:
					limited.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 10 || limited.Load() != 30 {
		t.Fatalf("%d admitted, %d limited", admitted.Load(), limited.Load())
	}
	s, err := limiters[0].Snapshot()
	if err != nil || s.RequestsInWindow != 10 || *s.RemainingRequests != 0 {
		t.Fatalf("snapshot %+v, %v", s, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := limiters[1].Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("wait: %v", err)
	}
	_, err = NewRateLimiter(RateLimit{Name: "x", RPM: 1, RedisURL: "redis://127.0.0.1:1/0"})
	var te *Error
	if !errors.Is(err, ErrNetwork) || !errors.As(err, &te) || te.Details["unavailable"] != true {
		t.Fatalf("unreachable Redis: %v", err)
	}
}
