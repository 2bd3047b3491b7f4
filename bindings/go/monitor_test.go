package trinity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Issue 14: a provider switched to 100% 503 is reported down within 5 s and healthy again after
// it recovers, each callback once.
func TestMonitorReportsAProviderDownAndBack(t *testing.T) {
	srv := mock(t, `{"seed": 5}`)
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": "k"}},
		"retry": {"max_attempts": 1}, "breaker": {"enabled": false},
		"monitor": {"window_s": 6, "recover_s": 2, "eval_interval_ms": 250}}`, srv.URL()+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Monitor()
	if h, err := m.Health("p"); err != nil || h != nil {
		t.Fatalf("before any call: %+v %v", h, err)
	}
	var mu sync.Mutex
	var downs, changes []MonitorEvent
	if err := m.OnProviderDown("p", func(e MonitorEvent) { mu.Lock(); downs = append(downs, e); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := m.On("state_change", "", 0, func(e MonitorEvent) { mu.Lock(); changes = append(changes, e); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if err := m.On("sideways", "", 0, func(MonitorEvent) {}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown kind: %v", err)
	}
	state := func() string {
		h, err := m.Health("p")
		if err != nil || h == nil {
			return ""
		}
		return h.State
	}
	traffic := func(done func() bool, limit time.Duration) time.Duration {
		start := time.Now()
		for !done() {
			if time.Since(start) > limit {
				t.Fatalf("not within %v", limit)
			}
			_, _ = c.Chat(context.Background(), ChatRequest{Model: "p/gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hi"}}})
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	traffic(func() bool { return state() == "healthy" }, 10*time.Second)
	if err := srv.SetFaults(`{"rates": {"503": 1.0}}`); err != nil {
		t.Fatal(err)
	}
	took := traffic(func() bool { mu.Lock(); defer mu.Unlock(); return len(downs) > 0 }, 10*time.Second)
	if took > 5*time.Second {
		t.Fatalf("down after %v", took)
	}
	if err := srv.SetFaults(`{}`); err != nil {
		t.Fatal(err)
	}
	traffic(func() bool { return state() == "healthy" }, 30*time.Second)
	time.Sleep(600 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(downs) != 1 || downs[0].Health.ConsecutiveFailures < 1 {
		t.Fatalf("downs %+v", downs)
	}
	if last := changes[len(changes)-1]; last.To != "healthy" {
		t.Fatalf("changes end with %+v", last)
	}
	points, err := m.History("p", 1)
	if err != nil || len(points) == 0 || points[len(points)-1].P95Ms == nil {
		t.Fatalf("history %+v %v", points, err)
	}
	all, err := m.Snapshot()
	if err != nil || len(all) != 1 || all[0].Availability <= 0 || all[0].Availability >= 1 {
		t.Fatalf("snapshot %+v %v", all, err)
	}
	if h := all[0]; h.Recoveries != 1 || h.AvgErrorRecoveryMs == nil || *h.AvgErrorRecoveryMs < 2000 || h.TokensPerSecond == nil {
		t.Fatalf("performance figures %+v", h)
	}
}
