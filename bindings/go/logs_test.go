package trinity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 14: a client's log records reach OnLog and a slog handler with the request log's id and
// the GenAI fields; a retry is announced only when one happened; keys are scrubbed.
func TestLogsReachOnLogAndSlog(t *testing.T) {
	srv := mock(t, `{"seed": 3, "faults": {"script": ["ok", "503", "ok"]}}`)
	key := "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l"
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": %q}}, "retry": {"max_attempts": 2, "base_ms": 1}}`, srv.URL()+"/v1", key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	var records []LogEntry
	if err := c.OnLog(func(r LogEntry) { mu.Lock(); records = append(records, r); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var bufMu sync.Mutex
	if err := c.SetLogger(slog.New(slog.NewJSONHandler(lockedWriter{&bufMu, &buf}, nil))); err != nil {
		t.Fatal(err)
	}
	ask := func(text, model string) ChatResponse {
		r, err := c.Chat(context.Background(), ChatRequest{Model: model, Messages: []Message{{Role: "user", Content: text}}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first, second := ask("first", "p/gpt-4o-mini"), ask("second", "p/gpt-4o-mini")
	ask("keyed", "p/"+key)
	if !FlushLogs(10 * time.Second) {
		t.Fatal("logs not flushed")
	}
	mu.Lock()
	defer mu.Unlock()
	var answered, retries []LogEntry
	for _, r := range records {
		switch {
		case strings.HasPrefix(r.Message, "call answered"):
			answered = append(answered, r)
		case strings.HasPrefix(r.Message, "retrying"):
			retries = append(retries, r)
		}
	}
	if len(answered) != 3 || answered[0].RequestID != first.Debug.RequestID || answered[1].RequestID != second.Debug.RequestID {
		t.Fatalf("answered records %+v", answered)
	}
	if len(retries) != 1 || retries[0].RequestID != second.Debug.RequestID || retries[0].Level != "warn" {
		t.Fatalf("retry records %+v", retries)
	}
	if answered[0].Fields["gen_ai.request.model"] != "p/gpt-4o-mini" || answered[0].Fields["gen_ai.usage.input_tokens"] != float64(first.Usage.PromptTokens) {
		t.Fatalf("fields %v", answered[0].Fields)
	}
	bufMu.Lock()
	out := buf.String()
	bufMu.Unlock()
	if strings.Contains(out, key) || strings.Contains(fmt.Sprint(records), key) {
		t.Fatal("a key reached the logs")
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line); err != nil || line["request_id"] != first.Debug.RequestID || line["level"] != "INFO" {
		t.Fatalf("slog line %v (%v)", line, err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
