package trinity

// Issue 16: RunBatch drives the shared small batch (tests/fixtures/batch) against the real mock
// server with the results every language gets: every custom_id once and joined to its own
// answer, the summary's counts, a run stopped through its context that leaves valid files and
// a resume that finishes exactly the rest, BatchStatus agreeing, bad input naming its line.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

const batchFixtures = "../../tests/fixtures/batch"

type batchCases struct {
	Server      json.RawMessage   `json:"server"`
	SlowServer  json.RawMessage   `json:"slow_server"`
	Config      json.RawMessage   `json:"config"`
	Input       string            `json:"input"`
	Concurrency int               `json:"concurrency"`
	Summary     map[string]any    `json:"summary"`
	Answers     map[string]string `json:"answers"`
	Failed      map[string]string `json:"failed"`
	Bad         []struct {
		Input           string  `json:"input"`
		Code            string  `json:"code"`
		Line            float64 `json:"line"`
		MessageContains string  `json:"message_contains"`
	} `json:"bad"`
}

type batchLine struct {
	CustomID string `json:"custom_id"`
	Response *struct {
		Body struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		} `json:"body"`
	} `json:"response"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func loadBatchCases(t *testing.T) (batchCases, string, []string) {
	t.Helper()
	var cases batchCases
	raw, err := os.ReadFile(filepath.Join(batchFixtures, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	input, _ := filepath.Abs(filepath.Join(batchFixtures, cases.Input))
	var ids []string
	for _, l := range readBatchLines(t, input) {
		ids = append(ids, l.CustomID)
	}
	return cases, input, ids
}

func readBatchLines(t *testing.T, path string) []batchLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []batchLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l batchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lines = append(lines, l)
	}
	return lines
}

func requestsServed(t *testing.T, srv *MockServer) uint64 {
	t.Helper()
	st, err := srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.Requests
}

func batchClient(t *testing.T, cases batchCases, srv *MockServer) *Client {
	t.Helper()
	c, err := NewClient(strings.ReplaceAll(string(cases.Config), "{url}", srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// batchContext bounds one test's batch runs: a run that has not ended after two minutes (these
// take well under a second) is stopped, so a hang fails its test with the summary it reached
// instead of stalling the whole suite until go test's own timeout.
func batchContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func checkBatchLines(t *testing.T, cases batchCases, lines []batchLine) {
	t.Helper()
	for _, l := range lines {
		if answer, ok := cases.Answers[l.CustomID]; ok {
			if l.Response == nil || len(l.Response.Body.Choices) != 1 || l.Response.Body.Choices[0].Message.Content != answer || l.Error != nil {
				t.Errorf("%s: not answered with its own prompt: %+v", l.CustomID, l)
			}
		} else if l.Error == nil || l.Error.Code != cases.Failed[l.CustomID] {
			t.Errorf("%s: expected error %q: %+v", l.CustomID, cases.Failed[l.CustomID], l)
		}
	}
}

// checkBatchSummary compares the fields cases.json gives (skipped as given when >= 0).
func checkBatchSummary(t *testing.T, cases batchCases, s BatchSummary, skipped int) {
	t.Helper()
	raw, _ := json.Marshal(s)
	var got map[string]any
	_ = json.Unmarshal(raw, &got)
	for k, want := range cases.Summary {
		if k == "skipped" && skipped >= 0 {
			want = float64(skipped)
		}
		if got[k] != want {
			t.Errorf("summary.%s = %v, want %v", k, got[k], want)
		}
	}
	var failed []string
	for _, f := range s.FailedRequests {
		failed = append(failed, f.CustomID)
	}
	var want []string
	for id := range cases.Failed {
		want = append(want, id)
	}
	sort.Strings(failed)
	sort.Strings(want)
	if strings.Join(failed, ",") != strings.Join(want, ",") {
		t.Errorf("failed requests %v, want %v", failed, want)
	}
}

func TestBatchRunsTheSharedFixture(t *testing.T) {
	cases, input, ids := loadBatchCases(t)
	srv := mock(t, string(cases.Server))
	c := batchClient(t, cases, srv)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := c.RunBatch(batchContext(t), BatchOptions{Input: input, Output: out, Concurrency: cases.Concurrency})
	if err != nil {
		t.Fatalf("%v (summary %+v)", err, s)
	}
	checkBatchSummary(t, cases, s, -1)
	lines := readBatchLines(t, out)
	if len(lines) != len(ids) {
		t.Fatalf("%d lines, want %d", len(lines), len(ids))
	}
	for i, l := range lines {
		if l.CustomID != ids[i] {
			t.Fatalf("line %d is %s, want %s (input order)", i, l.CustomID, ids[i])
		}
	}
	checkBatchLines(t, cases, lines)
	if errs := readBatchLines(t, strings.TrimSuffix(out, ".jsonl")+".errors.jsonl"); len(errs) != len(cases.Failed) {
		t.Errorf("%d lines in the errors file", len(errs))
	}
	st, err := BatchStatus(out)
	if err != nil {
		t.Fatal(err)
	}
	checkBatchSummary(t, cases, st, -1)
	if st.CostUSD != s.CostUSD {
		t.Errorf("status cost %v, run cost %v", st.CostUSD, s.CostUSD)
	}
	// A run into an output that has a journal must be resumed, not restarted.
	if _, err := c.RunBatch(batchContext(t), BatchOptions{Input: input, Output: out}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("run again without Resume: %v", err)
	}
}

func TestBatchCancelledThenResumed(t *testing.T) {
	cases, input, ids := loadBatchCases(t)
	srv := mock(t, string(cases.SlowServer))
	c := batchClient(t, cases, srv)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	ctx, cancel := context.WithCancel(batchContext(t))
	// Cancel once the progress counts 5 finished requests (OnProgress calls never overlap, and
	// the last one returns before RunBatch does).
	var readings []BatchProgress
	first, err := c.RunBatch(ctx, BatchOptions{Input: input, Output: out, Concurrency: 2,
		ProgressEvery: 5 * time.Millisecond, OnProgress: func(p BatchProgress) {
			readings = append(readings, p)
			if p.Succeeded+p.Failed >= 5 {
				cancel()
			}
		}})
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	done := first.Succeeded + first.Failed
	if first.Stopped != "cancelled" || first.Complete || done < 5 || done >= len(ids) || first.Remaining != len(ids)-done {
		t.Fatalf("%+v", first)
	}
	for _, p := range readings {
		if p.Total > 0 && p.Skipped+p.Succeeded+p.Failed+p.Remaining != p.Total {
			t.Fatalf("a reading that does not add up: %+v", p)
		}
	}
	if last := readings[len(readings)-1]; len(readings) < 2 || last.Total != len(ids) || last.Succeeded+last.Failed != done || last.InFlight != 0 {
		t.Fatalf("%d readings, the last %+v, %d done", len(readings), last, done)
	}
	part := readBatchLines(t, out+".part")
	seen := map[string]bool{}
	for _, l := range part {
		seen[l.CustomID] = true
	}
	if len(part) != done || len(seen) != done {
		t.Fatalf("part file: %d lines, %d ids, %d done", len(part), len(seen), done)
	}
	checkBatchLines(t, cases, part)
	if st, err := BatchStatus(out); err != nil || st.Remaining != first.Remaining {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := c.RunBatch(ctx, BatchOptions{Input: input, Output: out, Resume: true}); !errors.Is(err, ErrCancelled) {
		t.Fatalf("already cancelled: %v", err)
	}
	sent := requestsServed(t, srv)
	var last BatchProgress
	rest, err := c.RunBatch(batchContext(t), BatchOptions{Input: input, Output: out, Resume: true, Concurrency: cases.Concurrency,
		OnProgress: func(p BatchProgress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Skipped != done || last.Remaining != 0 || last.Succeeded+last.Failed != len(ids)-done {
		t.Errorf("progress of the resume: %+v", last)
	}
	checkBatchSummary(t, cases, rest, done)
	if got := int(requestsServed(t, srv) - sent); got != len(ids)-done {
		t.Errorf("the resume sent %d requests, want exactly the rest (%d)", got, len(ids)-done)
	}
	lines := readBatchLines(t, out)
	if len(lines) != len(ids) {
		t.Fatalf("%d lines", len(lines))
	}
	checkBatchLines(t, cases, lines)
	st, err := BatchStatus(out)
	if err != nil {
		t.Fatal(err)
	}
	checkBatchSummary(t, cases, st, -1)
}

func TestBatchBadInputNamesItsLine(t *testing.T) {
	cases, input, _ := loadBatchCases(t)
	srv := mock(t, string(cases.Server))
	c := batchClient(t, cases, srv)
	dir := t.TempDir()
	for _, bad := range cases.Bad {
		in, _ := filepath.Abs(filepath.Join(batchFixtures, bad.Input))
		_, err := c.RunBatch(batchContext(t), BatchOptions{Input: in, Output: filepath.Join(dir, "bad.jsonl")})
		var e *Error
		if !errors.As(err, &e) || e.Code != bad.Code || e.Details["line"] != bad.Line || !strings.Contains(e.Message, bad.MessageContains) {
			t.Errorf("%s: %v (%+v)", bad.Input, err, e)
		}
		if _, err := os.Stat(filepath.Join(dir, "bad.jsonl.journal")); err == nil {
			t.Error("a journal was made")
		}
	}
	if requestsServed(t, srv) != 0 {
		t.Error("requests were sent")
	}
	if _, err := c.RunBatch(batchContext(t), BatchOptions{Input: input, Output: filepath.Join(dir, "x.jsonl"), Concurrency: -1}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("negative concurrency: %v", err)
	}
	if _, err := BatchStatus(filepath.Join(dir, "never.jsonl")); !errors.Is(err, ErrNotFound) {
		t.Errorf("no journal: %v", err)
	}
}
