package trinity

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newGuard(t *testing.T, cfg GuardConfig) *RunGuard {
	t.Helper()
	g, err := NewRunGuard(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// stopReason is Details["reason"] of a guard stop, "" for any other error.
func stopReason(err error) string {
	var te *Error
	if !errors.Is(err, ErrGuardStopped) || !errors.As(err, &te) {
		return ""
	}
	r, _ := te.Details["reason"].(string)
	return r
}

func details(err error) map[string]any {
	var te *Error
	if errors.As(err, &te) {
		return te.Details
	}
	return nil
}

func report(t *testing.T, g *RunGuard) *PerformanceReport {
	t.Helper()
	r, err := g.PerformanceReport()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGuardMaxSteps(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxSteps: 3})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		v, err := g.RunStep(ctx, Action{Name: "read", Arguments: map[string]any{"page": i}}, func(ctx context.Context) (any, error) {
			return fmt.Sprintf("page %d", i), nil
		})
		if err != nil || v != fmt.Sprintf("page %d", i) {
			t.Fatalf("step %d: %v %v", i, v, err)
		}
	}
	called := false
	_, err := g.RunStep(ctx, Action{Name: "read"}, func(ctx context.Context) (any, error) { called = true; return nil, nil })
	if stopReason(err) != StopMaxSteps || called {
		t.Fatalf("4th step: %v (called %v)", err, called)
	}
	if d := details(err); d["limit"] != 3.0 || d["step"] != 4.0 {
		t.Fatalf("details %v", d)
	}
	// Sticky: the check and every later step answer the same stop.
	if err := g.Check(); stopReason(err) != StopMaxSteps {
		t.Fatal(err)
	}
	if _, err := g.RecordStep(Action{Name: "x"}, 1, nil, 0); stopReason(err) != StopMaxSteps {
		t.Fatal(err)
	}
	r := report(t, g)
	if r.Steps != 3 || r.FailedSteps != 0 || r.Stopped == nil || r.Stopped.Reason != StopMaxSteps || r.StepDurationMs.Count != 3 {
		t.Fatalf("%+v", r)
	}
	if r.EventLog != nil || r.LLMCalls != 0 || r.CostUSD.Average != nil || len(r.RunID) < 5 {
		t.Fatalf("%+v", r)
	}
	if left, ok := g.Remaining(); ok || left != 0 {
		t.Fatal("no time limit, yet", left)
	}
}

func TestGuardHangingStepIsCutAtTheDeadline(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxTime: 300 * time.Millisecond})
	if left, ok := g.Remaining(); !ok || left <= 0 || left > 300*time.Millisecond {
		t.Fatal(left, ok)
	}
	seen := make(chan error, 2)
	start := time.Now()
	_, err := g.RunStep(context.Background(), Action{Name: "fetch", Arguments: map[string]any{"url": "https://example.com"}},
		func(ctx context.Context) (any, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the step's context has no deadline")
			}
			select {
			case <-ctx.Done(): // a well-behaved tool gives up here
				seen <- ctx.Err()
				seen <- context.Cause(ctx)
				return nil, ctx.Err()
			case <-time.After(30 * time.Second):
				return "too late", nil
			}
		})
	took := time.Since(start)
	if stopReason(err) != StopMaxTime {
		t.Fatalf("%v", err)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("cut after %v", took)
	}
	if d := details(err); d["cancelled"] != true || d["action"] != "fetch" || d["step"] != 1.0 {
		t.Fatalf("details %v", d)
	}
	if e := <-seen; !errors.Is(e, context.DeadlineExceeded) {
		t.Fatalf("the step saw %v", e)
	}
	if cause := <-seen; !errors.Is(cause, ErrGuardStopped) {
		t.Fatalf("the step's cause: %v", cause)
	}
	if left, ok := g.Remaining(); !ok || left != 0 {
		t.Fatal(left, ok)
	}
	called := false
	if _, err := g.RunStep(context.Background(), Action{Name: "next"}, func(context.Context) (any, error) { called = true; return nil, nil }); stopReason(err) != StopMaxTime || called {
		t.Fatal(err, called)
	}
	r := report(t, g)
	if r.Steps != 1 || r.FailedSteps != 1 || r.Stopped.Reason != StopMaxTime {
		t.Fatalf("%+v", r)
	}
}

func TestGuardStepIgnoringItsContextStillEndsTheRunOnTime(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxTime: 200 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	_, err := RunTypedStep(context.Background(), g, Action{Name: "stuck"}, func(context.Context) (int, error) {
		<-release // ignores its context
		return 1, nil
	})
	if stopReason(err) != StopMaxTime || time.Since(start) > 3*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

func TestGuardCallerCancelIsAFailedStep(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxTime: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := g.RunStep(ctx, Action{Name: "wait"}, func(ctx context.Context) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrGuardStopped) {
		t.Fatal(err)
	}
	if err := g.Check(); err != nil {
		t.Fatal("the run goes on:", err)
	}
	if r := report(t, g); r.Steps != 1 || r.FailedSteps != 1 {
		t.Fatalf("%+v", r)
	}
	if _, err := g.RunStep(ctx, Action{Name: "late"}, func(context.Context) (any, error) { return nil, nil }); !errors.Is(err, ErrCancelled) {
		t.Fatal(err)
	}
}

func TestGuardLoopThroughRunStep(t *testing.T) {
	g := newGuard(t, GuardConfig{})
	ctx := context.Background()
	search := Action{Name: "search", Arguments: map[string]any{"q": "rust"}}
	var err error
	for i := 1; i <= 5 && err == nil; i++ {
		var hits []string
		hits, err = RunTypedStep(ctx, g, search, func(context.Context) ([]string, error) { return []string{"a", "b"}, nil })
		if i < 5 && (err != nil || len(hits) != 2) {
			t.Fatalf("step %d: %v %v", i, hits, err)
		}
	}
	if stopReason(err) != StopLoopDetected {
		t.Fatal(err)
	}
	d := details(err)
	if d["rule"] != "same_action" || !reflect.DeepEqual(d["steps"], []any{1.0, 2.0, 3.0, 4.0, 5.0}) {
		t.Fatalf("details %v", d)
	}
	r := report(t, g)
	if r.Steps != 5 || r.Stopped.Details["rule"] != "same_action" {
		t.Fatalf("%+v", r)
	}

	// The same error three times, whatever the arguments: plain Go errors and StepErrors alike.
	g = newGuard(t, GuardConfig{Loops: &LoopConfig{SameAction: LoopRuleOff}})
	for i := 1; i <= 3; i++ {
		_, err = g.RunStep(ctx, Action{Name: "open", Arguments: map[string]any{"path": fmt.Sprintf("f%d", i)}}, func(context.Context) (any, error) {
			return nil, errors.New("connection refused")
		})
	}
	if d := details(err); stopReason(err) != StopLoopDetected || d["rule"] != "same_error" {
		t.Fatal(err)
	}
	g = newGuard(t, GuardConfig{})
	for i := 1; i <= 3; i++ {
		_, err = g.RecordStep(Action{Name: "open"}, nil, fmt.Errorf("wrapped: %w", &StepError{Code: "not_found", Message: "gone"}), 0)
	}
	if details(err)["rule"] != "same_error" {
		t.Fatal(err)
	}

	// Loops off: twenty repeats go through.
	g = newGuard(t, GuardConfig{Loops: &LoopConfig{Disabled: true}})
	for i := 0; i < 20; i++ {
		if _, err := g.RecordStep(search, "same", nil, time.Millisecond); err != nil {
			t.Fatal(i, err)
		}
	}
}

func TestGuardBeginFinishAndDeadlineReached(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxTime: 150 * time.Millisecond})
	step, err := g.BeginStep(Action{Name: "a"})
	if err != nil || step != 1 {
		t.Fatal(step, err)
	}
	if err := g.FinishStep(step, map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.FinishStep(step, nil, nil); !errors.Is(err, ErrInvalidInput) || details(err)["step"] != 1.0 {
		t.Fatal("finished twice:", err)
	}
	if err := g.FinishStep(99, nil, nil); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("unknown step:", err)
	}
	step, _ = g.BeginStep(Action{Name: "b"})
	left, _ := g.Remaining()
	time.Sleep(left + 10*time.Millisecond) // the host's timer
	err = g.DeadlineReached(step)
	if stopReason(err) != StopMaxTime || details(err)["action"] != "b" {
		t.Fatal(err)
	}
	if err := g.Check(); stopReason(err) != StopMaxTime {
		t.Fatal(err)
	}
}

func TestGuardChat(t *testing.T) {
	srv := mock(t, `{"seed": 3, "default_response": "echo"}`)
	c := clientFor(t, srv, "openai")
	g := newGuard(t, GuardConfig{MaxSteps: 3})
	req := ChatRequest{Model: "p/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hello there"}}}
	r, err := g.Chat(context.Background(), c, req)
	if err != nil || r.Content != "hello there" {
		t.Fatal(r, err)
	}
	rep := report(t, g)
	if rep.LLMCalls != 1 || rep.FailedLLMCalls != 0 || rep.InputTokens.Total != float64(r.Usage.PromptTokens) ||
		rep.OutputTokens.Total != float64(r.Usage.CompletionTokens) || rep.CostUSD.Count != 1 || rep.Steps != 0 {
		t.Fatalf("%+v", rep)
	}
	if _, err := g.Chat(context.Background(), nil, req); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := g.Chat(context.Background(), c, ChatRequest{Model: "p/x"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("no messages:", err)
	}
}

func TestGuardChatToAHangingServerEndsAtTheDeadline(t *testing.T) {
	srv := mock(t, `{"seed": 3, "default_response": "echo", "latency": {"dist": "fixed", "ms": 30000}}`)
	c := clientFor(t, srv, "openai")
	req := ChatRequest{Model: "p/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hello there"}}}
	g := newGuard(t, GuardConfig{MaxTime: 300 * time.Millisecond})
	start := time.Now()
	_, err := g.Chat(context.Background(), c, req)
	took := time.Since(start)
	if stopReason(err) != StopMaxTime || took < 250*time.Millisecond || took > 5*time.Second {
		t.Fatalf("%v after %v", err, took)
	}
	if rep := report(t, g); rep.LLMCalls != 1 || rep.FailedLLMCalls != 1 {
		t.Fatalf("%+v", rep)
	}
	// A caller's context ends the call without stopping the run.
	g = newGuard(t, GuardConfig{MaxTime: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = g.Chat(ctx, c, req)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	if err := g.Check(); err != nil {
		t.Fatal(err)
	}
	// The call the caller gave up on is in the report, as a failed one.
	if rep := report(t, g); rep.LLMCalls != 1 || rep.FailedLLMCalls != 1 {
		t.Fatalf("%+v", rep)
	}
	if _, err := g.Chat(ctx, c, req); !errors.Is(err, ErrCancelled) {
		t.Fatal("done context:", err)
	}
}

func TestGuardEventLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	g := newGuard(t, GuardConfig{MaxSteps: 2, EventLog: path, LogArguments: true})
	ctx := context.Background()
	if _, err := g.RunStep(ctx, Action{Name: "search", Arguments: map[string]any{"q": "weather", "key": "sk-proj-abcdefghijklmnop1234"}},
		func(context.Context) (any, error) { return []string{"sunny"}, nil }); err != nil {
		t.Fatal(err)
	}
	call := LLMCall{Model: "gpt-4o", Provider: "openai", InputTokens: Tokens(100), OutputTokens: Tokens(20),
		CostNanoUSD: Tokens(450_000), Duration: 250 * time.Millisecond}
	if err := g.RecordLLMCall(call); err != nil {
		t.Fatal(err)
	}
	if err := g.RecordLLMCall(LLMCall{Model: "gpt-4o", Duration: time.Second, Err: ErrRateLimited}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.RecordStep(Action{Name: "open"}, nil, &StepError{Code: "not_found", Message: "gone"}, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := g.BeginStep(Action{Name: "third"}); stopReason(err) != StopMaxSteps {
		t.Fatal(err)
	}
	rep := report(t, g)
	if rep.EventLog == nil || rep.EventLog.Path != path || rep.EventLog.LinesWritten != 6 || rep.EventLog.WriteErrors != 0 {
		t.Fatalf("%+v", rep.EventLog)
	}
	if rep.LLMCalls != 2 || rep.FailedLLMCalls != 1 || rep.CostUSD.Total != 0.00045 || *rep.LLMCallDurationMs.Max != 1000 {
		t.Fatalf("%+v", rep)
	}
	g.Close()

	log, err := ReadEventLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var types []any
	for _, r := range log.Records {
		types = append(types, r["type"])
	}
	if !reflect.DeepEqual(types, []any{"run_start", "step", "llm_call", "llm_call", "step", "run_stop"}) {
		t.Fatal(types)
	}
	step := log.Records[1]
	args, _ := step["gen_ai.tool.call.arguments"].(map[string]any)
	if step["gen_ai.tool.name"] != "search" || args["q"] != "weather" || args["key"] == "sk-proj-abcdefghijklmnop1234" {
		t.Fatalf("%v", step)
	}
	if log.Records[2]["gen_ai.usage.input_tokens"] != 100.0 || log.Records[3]["error.type"] != "rate_limited" {
		t.Fatalf("%v", log.Records[2:4])
	}
	if log.Records[4]["error.type"] != "not_found" || log.Records[5]["reason"] != StopMaxSteps || log.TornTail {
		t.Fatalf("%v", log.Records[4:])
	}

	// A crash mid-write leaves a torn last line: dropped on reading.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"type": "step", "trunc`)
	f.Close()
	log, err = ReadEventLog(path)
	if err != nil || len(log.Records) != 6 || !log.TornTail || !reflect.DeepEqual(log.DroppedLines, []uint64{7}) {
		t.Fatalf("%+v %v", log, err)
	}
	if _, err := ReadEventLog(filepath.Join(t.TempDir(), "missing.jsonl")); !errors.Is(err, ErrIO) {
		t.Fatal(err)
	}
}

func TestGuardBadConfigAndInput(t *testing.T) {
	for _, c := range []struct {
		cfg  GuardConfig
		path string
	}{
		{GuardConfig{Extra: map[string]any{"max_step": 3}}, "max_step"},
		{GuardConfig{Extra: map[string]any{"loops": map[string]any{"repeat": 3}}}, "loops.repeat"},
		{GuardConfig{Loops: &LoopConfig{SameError: 1}}, "loops.same_error"},
		{GuardConfig{MaxSteps: -1}, "max_steps"},
		{GuardConfig{MaxTime: -time.Second}, "max_time_s"},
	} {
		g, err := NewRunGuard(c.cfg)
		if g != nil || !errors.Is(err, ErrInvalidInput) || details(err)["path"] != c.path {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
	}
	if _, err := NewRunGuard(GuardConfig{EventLog: "/nonexistent/dir/events.jsonl"}); !errors.Is(err, ErrIO) {
		t.Fatal(err)
	}
	if _, err := NewRunGuard(GuardConfig{Extra: map[string]any{"x": make(chan int)}}); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
	g := newGuard(t, GuardConfig{})
	if _, err := g.BeginStep(Action{Name: "a", Arguments: func() {}}); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
	if err := g.RecordLLMCall(LLMCall{Model: "m", Duration: -time.Second}); !errors.Is(err, ErrInvalidInput) || details(err)["path"] != "duration_ms" {
		t.Fatal(err)
	}
	// A result encoding/json rejects is recorded as null, as the core does.
	if _, err := g.RecordStep(Action{Name: "a"}, make(chan int), nil, 0); err != nil {
		t.Fatal(err)
	}
	g.Close()
	g.Close()
	if _, err := g.BeginStep(Action{Name: "a"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("after Close:", err)
	}
	if _, err := g.PerformanceReport(); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("after Close:", err)
	}
	if err := g.Check(); !errors.Is(err, ErrInvalidInput) {
		t.Fatal("after Close:", err)
	}
}

func TestGuardPanicInAStepIsRecordedAndPropagates(t *testing.T) {
	g := newGuard(t, GuardConfig{})
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatal("recovered", p)
		}
		if r := report(t, g); r.Steps != 1 || r.FailedSteps != 1 {
			t.Fatalf("%+v", r)
		}
	}()
	g.RunStep(context.Background(), Action{Name: "p"}, func(context.Context) (any, error) { panic("boom") })
}

func TestGuardConcurrentSteps(t *testing.T) {
	g := newGuard(t, GuardConfig{MaxSteps: 100, MaxTime: time.Minute})
	var began atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				_, err := g.RunStep(context.Background(), Action{Name: fmt.Sprintf("w%d", w), Arguments: i}, func(context.Context) (any, error) {
					began.Add(1)
					return i, nil
				})
				if err != nil && stopReason(err) != StopMaxSteps {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if began.Load() != 100 {
		t.Fatal(began.Load())
	}
	if r := report(t, g); r.Steps != 100 || r.Stopped.Reason != StopMaxSteps {
		t.Fatalf("%+v", r)
	}
}
