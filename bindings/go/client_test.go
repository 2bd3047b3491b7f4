package trinity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const fixtures = `{"fixtures": {
  "greet": {"prompt": "Say hello", "response": "Hello from Go!"},
  "count": {"prompt": "Count", "response": "one two three", "chunks": ["one ", "two ", "three"]},
  "tool": {"prompt": "Weather?", "response": "", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]}}`

func mock(t *testing.T, config string) *MockServer {
	t.Helper()
	srv, err := NewMockServer(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// clientFor configures one provider "p" of the given kind at the mock server.
func clientFor(t *testing.T, srv *MockServer, kind string) *Client {
	t.Helper()
	path := "/v1"
	if kind == "gemini" {
		path = "/v1beta"
	}
	// One attempt per call: each injected fault reaches the test as it is.
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": %q, "base_url": %q, "api_key": "sk-test"}}, "retry": {"max_attempts": 1}}`, kind, srv.URL()+path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ask(prompt string) ChatRequest {
	return ChatRequest{Model: "p/mock-model", Messages: []Message{{Role: "user", Content: prompt}}}
}

func collect(t *testing.T, s *Stream) (string, []ChatChunk) {
	t.Helper()
	var text strings.Builder
	var chunks []ChatChunk
	for c, err := range s.All() {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(c.Delta)
		chunks = append(chunks, c)
	}
	return text.String(), chunks
}

func TestChatEveryWireFormat(t *testing.T) {
	srv := mock(t, fixtures+"}")
	ctx := context.Background()
	for _, kind := range []string{"openai", "openai_compatible", "anthropic", "gemini"} {
		t.Run(kind, func(t *testing.T) {
			c := clientFor(t, srv, kind)
			temp := 0.0
			req := ask("Say hello")
			req.Temperature = &temp
			r, err := c.Chat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Content != "Hello from Go!" || r.FinishReason != "stop" || r.Provider != "p" || r.Usage.CompletionTokens == 0 {
				t.Fatalf("%+v", r)
			}
			s, err := c.ChatStream(ctx, ask("Count"))
			if err != nil {
				t.Fatal(err)
			}
			text, chunks := collect(t, s)
			finish := ""
			for _, c := range chunks {
				finish += c.FinishReason
			}
			if text != "one two three" || len(chunks) < 3 || finish != "stop" {
				t.Fatalf("%q %+v", text, chunks)
			}
			req = ask("Weather?")
			req.Tools = []Tool{{Function: FunctionDef{Name: "get_weather", Parameters: map[string]any{"type": "object"}}}}
			r, err = c.Chat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.ToolCalls) != 1 || r.ToolCalls[0].Function.Name != "get_weather" || !strings.Contains(r.ToolCalls[0].Function.Arguments, "Paris") {
				t.Fatalf("%+v", r)
			}
		})
	}
	stats, err := srv.Stats()
	if err != nil || stats.Streams != 4 || stats.Requests < 12 {
		t.Fatalf("%+v %v", stats, err)
	}
}

func TestFaultsAreSentinels(t *testing.T) {
	ctx := context.Background()
	for fault, want := range map[string]*Error{"429": ErrRateLimited, "500": ErrProvider, "503": ErrProvider, "reset": ErrNetwork, "malformed": ErrProvider} {
		srv := mock(t, fmt.Sprintf(`{"faults": {"script": [%q]}}`, fault))
		_, err := clientFor(t, srv, "openai").Chat(ctx, ask("hi"))
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", fault, err, want)
		}
	}
	srv := mock(t, `{"api_key": "sk-right"}`)
	if _, err := clientFor(t, srv, "anthropic").Chat(ctx, ask("hi")); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	// A stream cut after it started ends with ErrNetwork from Err, after some chunks.
	srv = mock(t, fixtures+`, "faults": {"script": ["cut"]}}`)
	s, err := clientFor(t, srv, "openai").ChatStream(ctx, ask("Count"))
	if err != nil {
		t.Fatal(err)
	}
	for s.Next() {
	}
	if !errors.Is(s.Err(), ErrNetwork) {
		t.Fatal(s.Err())
	}
	// Before the stream starts, an HTTP error comes from ChatStream itself.
	srv = mock(t, `{"faults": {"script": ["429"]}}`)
	if _, err := clientFor(t, srv, "openai").ChatStream(ctx, ask("Count")); !errors.Is(err, ErrRateLimited) {
		t.Fatal(err)
	}
}

func TestBadInput(t *testing.T) {
	c, err := NewClient(`{"providers": {"p": {"kind": "mock"}}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	_, err = c.Chat(ctx, ChatRequest{Model: "p/x"})
	var te *Error
	if !errors.As(err, &te) || !errors.Is(err, ErrInvalidInput) || te.Details["path"] != "messages" {
		t.Fatal(err)
	}
	req := ask("x")
	req.Extra = map[string]any{"frobnicate": true}
	if _, err := c.Chat(ctx, req); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := c.ChatStream(ctx, ChatRequest{Model: "p/x"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
	if _, err := NewClient(`{"providers": {"p": {"kind": "telepathy"}}}`); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if _, err := NewMockServer(`{"no_such_field": 1}`); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.Chat(ctx, ask("x")); !errors.Is(err, ErrInvalidInput) {
		t.Fatal(err)
	}
}

// A context that ends during a slow call returns promptly with an error matching both the
// context's error and ErrCancelled.
func TestContextCancelsSlowCalls(t *testing.T) {
	srv := mock(t, fixtures+`, "latency": {"dist": "fixed", "ms": 3000}}`)
	c := clientFor(t, srv, "openai")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat(ctx, ask("Say hello"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrCancelled) || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.ChatStream(ctx, ask("Count"))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
	if _, err := c.Chat(ctx, ask("Say hello")); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestStreamStopsEarly(t *testing.T) {
	srv := mock(t, fixtures+`, "stream_chunk_delay_ms": 20}`)
	c := clientFor(t, srv, "openai")
	s, err := c.ChatStream(context.Background(), ask("Count"))
	if err != nil {
		t.Fatal(err)
	}
	for range s.All() {
		break // closes the stream
	}
	if s.Next() || s.Err() != nil {
		t.Fatal("a closed stream has no more chunks and no error")
	}
	// Client.Close stops streams nobody reads.
	s, err = c.ChatStream(context.Background(), ask("Count"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close waited on an unread stream")
	}
	s.Close()
}

func TestConcurrentChats(t *testing.T) {
	srv := mock(t, fixtures+"}")
	c := clientFor(t, srv, "openai")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if i%2 == 0 {
				r, err := c.Chat(context.Background(), ask("Say hello"))
				if err == nil && r.Content != "Hello from Go!" {
					err = fmt.Errorf("content %q", r.Content)
				}
				errs <- err
				return
			}
			s, err := c.ChatStream(context.Background(), ask("Count"))
			if err == nil {
				for s.Next() {
				}
				err = s.Err()
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// 32 streams each make a request; the 32 identical chats in flight together may share
	// calls (single-flight), so at least one and at most 32 of them reach the server.
	stats, _ := srv.Stats()
	if stats.Streams != 32 || stats.Requests < 33 || stats.Requests > 64 {
		t.Fatalf("%+v", stats)
	}
	if err := srv.ResetStats(); err != nil {
		t.Fatal(err)
	}
	if err := srv.ResetFaults(); err != nil {
		t.Fatal(err)
	}
	if stats, _ := srv.Stats(); stats.Requests != 0 {
		t.Fatalf("%+v", stats)
	}
}

func TestBudgetRefusesBeforeTheNetworkAndAlerts(t *testing.T) {
	srv := mock(t, `{"seed": 3}`)
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": "k"}},
		"budget": {"daily_usd": 0.01, "alerts": [0.00001]}}`, srv.URL()+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	alerts := make(chan BudgetAlert, 4)
	if err := c.OnBudgetAlert(func(a BudgetAlert) { alerts <- a }); err != nil {
		t.Fatal(err)
	}
	req := func(max int) ChatRequest {
		return ChatRequest{Model: "p/gpt-4o-mini", MaxTokens: max, Messages: []Message{{Role: "user", Content: "hi"}}}
	}
	r, err := c.Chat(context.Background(), req(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(context.Background(), req(100_000)); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("100,000 answer tokens pass $0.01: %v", err)
	}
	if st, err := srv.Stats(); err != nil || st.Requests != 1 {
		t.Fatalf("%+v %v: one request reached the server; the refused one must not", st, err)
	}
	select {
	case a := <-alerts:
		if a.Limit != "daily_usd" || a.Fraction != 0.00001 {
			t.Fatalf("alert %+v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert")
	}
	snap, err := c.Budget("")
	if err != nil {
		t.Fatal(err)
	}
	day := snap["windows"].([]any)[0].(map[string]any)
	if uint64(day["spent_nano"].(float64)) != *r.CostDetail.TotalNanoUSD {
		t.Fatalf("spent %v, the call cost %v", day["spent_nano"], *r.CostDetail.TotalNanoUSD)
	}
}

// Issue 12: the client keeps its own request log and cost tracker; answers carry DebugInfo,
// errors their request id.
func TestClientKeepsItsOwnBooks(t *testing.T) {
	srv := mock(t, `{"seed": 3, "faults": {"script": ["ok", "400"]}}`)
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": "k"}}}`, srv.URL()+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	req := ChatRequest{Model: "p/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "log me"}}}
	r, err := c.Chat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Debug == nil || r.Debug.Provider != "p" || r.Debug.Cost == nil || *r.Debug.Cost != *r.CostUSD {
		t.Fatalf("debug %+v", r.Debug)
	}
	_, err = c.Chat(context.Background(), req)
	var te *Error
	if !errors.As(err, &te) || te.Code != "invalid_input" {
		t.Fatalf("want the scripted 400: %v", err)
	}
	log, err := c.RequestLog()
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	costs, err := c.Costs()
	if err != nil {
		t.Fatal(err)
	}
	defer costs.Close()
	c.Close() // the handles outlive the client
	recs, err := log.History(10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%v %+v", err, recs)
	}
	if recs[0].RequestID != r.Debug.RequestID || recs[0].Status != "success" || recs[0].Attempts != 1 {
		t.Fatalf("first record %+v", recs[0])
	}
	if recs[1].RequestID != te.Details["request_id"] || *recs[1].ErrorCode != "invalid_input" || *recs[1].HTTPStatus != 400 {
		t.Fatalf("error record %+v, details %v", recs[1], te.Details)
	}
	total, err := costs.Total(time.Unix(0, 0), time.Now().Add(time.Hour))
	if err != nil || total.Requests != 1 || total.USD != *r.CostUSD {
		t.Fatalf("%v %+v", err, total)
	}
}

func TestMetricsText(t *testing.T) {
	srv := mock(t, `{"seed": 3}`)
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": "k"}}}`, srv.URL()+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Chat(context.Background(), ChatRequest{Model: "p/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "m"}}}); err != nil {
		t.Fatal(err)
	}
	text, err := c.MetricsText()
	if err != nil || !strings.Contains(text, `trinity_requests_total{provider="p",model="gpt-4o-mini",status="success",error_code=""} 1`) ||
		!strings.HasSuffix(text, "# EOF\n") {
		t.Fatalf("%v\n%s", err, text)
	}
	off, err := NewClient(`{"providers": {"p": {"kind": "mock"}}, "metrics": {"enabled": false}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if _, err := off.MetricsText(); !errors.Is(err, ErrConfig) {
		t.Fatalf("metrics off: %v", err)
	}
}
