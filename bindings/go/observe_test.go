package trinity

import (
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Today (UTC midnight): TrackRequest adds at the current time, and the tracker's retention
// counts back from the newest record.
var t0 = time.Now().UTC().Truncate(24 * time.Hour)

func u64(v uint64) *uint64 { return &v }

func TestCostTrackerSumsExactlyAndCountsUnpriced(t *testing.T) {
	tr, err := NewCostTracker(0)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1250; i++ {
				r := CostRecord{TimestampMs: t0.Add(time.Duration(i%60) * time.Minute).UnixMilli(), Provider: "openai",
					Model: "gpt-4o-mini", InputTokens: 7, OutputTokens: 3, CostNanoUSD: u64(2850)}
				if err := tr.Track(r); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if err := tr.Track(CostRecord{TimestampMs: t0.UnixMilli(), Provider: "x", Model: "y"}); err != nil {
		t.Fatal(err)
	}
	total, err := tr.Total(t0, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if total.NanoUSD != 10_000*2850 || total.Requests != 10_001 || total.UnpricedRequests != 1 {
		t.Fatalf("total %+v", total)
	}
	byP, _ := tr.CostByProvider(t0, t0.Add(time.Hour))
	if byP["openai"].Requests != 10_000 || byP["x"].NanoUSD != 0 {
		t.Fatalf("by provider %+v", byP)
	}
	cost, err := tr.TrackRequest("gpt-4o-mini", 7, 3, 0)
	if err != nil || cost == nil || *cost != 2850 {
		t.Fatalf("track request %v %v", cost, err)
	}
	if cost, err := tr.TrackRequest("no-such-model-xyz", 7, 3, 0); err != nil || cost != nil {
		t.Fatalf("unpriced %v %v", cost, err)
	}
	alerts, err := tr.BudgetAlerts(0.02, t0)
	if err != nil || len(alerts) != 4 || alerts[2].Severity != "critical" || alerts[3].Kind != "unpriced" || alerts[3].UnpricedRequests != 2 {
		t.Fatalf("alerts %+v %v", alerts, err)
	}
	if _, err := tr.BudgetAlerts(-1, t0); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad limit: %v", err)
	}
	stats, _ := tr.Stats()
	if stats.Buckets == 0 || stats.Series < 2 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestCostTrackerCSVReadsBackWithHostileNames(t *testing.T) {
	tr, _ := NewCostTracker(0)
	defer tr.Close()
	names := []string{"plain", "comma, inside", "quote \" inside", "line\nbreak", "=1+1"}
	for i, n := range names {
		_ = tr.Track(CostRecord{TimestampMs: t0.Add(time.Duration(i) * time.Minute).UnixMilli(), Provider: n, Model: "m " + n, CostNanoUSD: u64(1)})
	}
	text, err := tr.ExportCSV(t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(names)+1 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, n := range names {
		if rows[i+1][1] != n || rows[i+1][2] != "m "+n {
			t.Fatalf("row %d: %q", i, rows[i+1])
		}
	}
}

func TestRequestLogRingQueriesAndNoKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log.jsonl")
	l, err := NewRequestLog(map[string]any{"history": 10, "sink": map[string]any{"path": path, "max_bytes": 1024, "max_files": 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 50; i++ {
		provider := "anthropic"
		if i%2 == 1 {
			provider = "openai"
		}
		if _, err := l.Record(map[string]any{"timestamp_ms": i, "provider": provider, "model_requested": "m", "latency_ms": i}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := l.History(3)
	if err != nil || len(h) != 3 || h[2].TimestampMs != 49 {
		t.Fatalf("history %+v %v", h, err)
	}
	q, _ := l.Query(LogQuery{Provider: "openai", MinLatencyMs: 45})
	if len(q) != 3 { // 45, 47, 49
		t.Fatalf("query %d", len(q))
	}
	id, err := l.LogRequest(map[string]any{"model": "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	key := "sk-ant-api03-Zyxwvutsrqponm_lkjih-gfedcba"
	rec, err := l.LogError(id, errors.New("x-api-key "+key+" is invalid"))
	if err != nil || rec.Status != "error" || *rec.ErrorCode != "internal" {
		t.Fatalf("log error %+v %v", rec, err)
	}
	for _, f := range []string{"json", "jsonl", "csv"} {
		text, err := l.Export(f)
		if err != nil || strings.Contains(text, key) || !strings.Contains(text, "[REDACTED]") {
			t.Fatalf("%s export: %v", f, err)
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 3 {
		t.Fatalf("%d sink files", len(files))
	}
	if _, err := NewRequestLog(map[string]any{"sink": map[string]any{"path": "/no/such/dir/x.jsonl"}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad sink path: %v", err)
	}
}
