package trinity

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// history is a system message, turns of a question, three parallel tool calls with their
// results and an answer, then the latest question.
func history(turns int) []map[string]any {
	msgs := []map[string]any{{"role": "system", "content": "You are terse."}}
	for i := 0; i < turns; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("question %d ", i) + strings.Repeat("words ", 200)})
		var calls []map[string]any
		for k := 0; k < 3; k++ {
			calls = append(calls, map[string]any{"id": fmt.Sprintf("c%d-%d", i, k), "type": "function",
				"function": map[string]any{"name": "f", "arguments": "{}"}})
		}
		msgs = append(msgs, map[string]any{"role": "assistant", "content": nil, "tool_calls": calls})
		for _, c := range calls {
			msgs = append(msgs, map[string]any{"role": "tool", "tool_call_id": c["id"], "content": strings.Repeat("result ", 50)})
		}
		msgs = append(msgs, map[string]any{"role": "assistant", "content": fmt.Sprintf("answer %d", i)})
	}
	return append(msgs, map[string]any{"role": "user", "content": "the latest question"})
}

func TestPruneContextFitsAndStaysValid(t *testing.T) {
	msgs := history(40)
	p, err := PruneContext(msgs, "gpt-4o-mini", ContextOptions{MaxInputTokens: Tokens(3000)})
	if err != nil {
		t.Fatal(err)
	}
	if p.TokensAfter > 3000 || p.Budget != 3000 || len(p.Dropped) == 0 || p.Truncated {
		t.Fatalf("%+v", p)
	}
	count, err := CountMessageTokens(p.Messages, "gpt-4o-mini")
	if err != nil || uint64(count.Tokens) != p.TokensAfter {
		t.Fatalf("recount %d, %v; pruned says %d", count.Tokens, err, p.TokensAfter)
	}
	if v, err := ValidateConversation(p.Messages, "openai"); v != nil || err != nil {
		t.Fatalf("%v, %v", v, err)
	}
	if _, err := PruneContext(msgs, "gpt-4o-mini", ContextOptions{MaxInputTokens: Tokens(10)}); !errors.Is(err, ErrContextTooLarge) {
		t.Fatalf("tiny budget: %v", err)
	}
	if _, err := PruneContext(msgs, "gpt-4o-mini", ContextOptions{Strategy: "newest"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad strategy: %v", err)
	}
	if _, err := PruneContext(msgs, "gpt-4-omni-max", ContextOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
	leading := []map[string]any{{"role": "assistant", "content": "hi"}, {"role": "user", "content": "q"}}
	p, err = PruneContext(leading, "claude-haiku-4-5", ContextOptions{Dialect: "anthropic"})
	if err != nil || len(p.Messages) != 1 || p.Dropped[0] != 0 {
		t.Fatalf("%+v, %v", p, err)
	}
}

func TestAvailableContextWindowAndRules(t *testing.T) {
	w, err := AvailableContextWindow("gpt-4o-mini", ContextOptions{ReserveOutputTokens: Tokens(1000)})
	if err != nil || w.Available != w.ContextWindow-1000 || !w.Exact {
		t.Fatalf("%+v, %v", w, err)
	}
	orphan := []map[string]any{{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "x", "content": "r"}}
	v, err := ValidateConversation(orphan, "")
	if err != nil || v == nil || v.Index != 1 {
		t.Fatalf("%v, %v", v, err)
	}
	if _, err := ValidateConversation(orphan, "klingon"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown dialect: %v", err)
	}
}

func TestPrioritizeContext(t *testing.T) {
	docs := []string{"Bananas are yellow.", "Canberra is the capital of Australia.", "Rust has no GC.", "Oslo is rainy."}
	r, err := PrioritizeContext(docs, "What is the capital of Australia?")
	if err != nil || r.Items[0] != docs[1] || len(r.Order) != 4 || *r.Scores[0] != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := PrioritizeContext(docs, ""); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("documents without a query: %v", err)
	}
	msgs := history(3)
	msgs[len(msgs)-1] = map[string]any{"role": "user", "content": "what was question 1 about?"}
	r, err = PrioritizeContext(msgs, "")
	if err != nil || r.Order[0] != 0 || r.Order[len(r.Order)-1] != len(msgs)-1 || r.Scores[0] != nil {
		t.Fatalf("%+v, %v", r.Order, err)
	}
	if v, err := ValidateConversation(r.Items, "openai"); v != nil || err != nil {
		t.Fatalf("%v, %v", v, err)
	}
}

func TestWarnIfTooLarge(t *testing.T) {
	hi := []map[string]any{{"role": "user", "content": "hi"}}
	ws, err := WarnIfTooLarge(map[string]any{"model": "gpt-4o-mini", "max_tokens": 100, "messages": hi}, "")
	if err != nil || len(ws) != 0 {
		t.Fatalf("%+v, %v", ws, err)
	}
	ws, err = WarnIfTooLarge(map[string]any{"messages": hi, "max_tokens": 16385}, "gpt-3.5-turbo")
	if err != nil || len(ws) != 1 || ws[0].Code != "over_window" || *ws[0].Limit != 16385 || ws[0].Path != nil {
		t.Fatalf("%+v, %v", ws, err)
	}
	timestamped := map[string]any{"max_tokens": 100, "messages": hi, "system": []map[string]any{
		{"type": "text", "text": "Now: 2026-12-05 10:00:00", "cache_control": map[string]any{"type": "ephemeral"}}}}
	ws, err = WarnIfTooLarge(timestamped, "claude-haiku-4-5")
	if err != nil || len(ws) != 2 || ws[0].Code != "under_cache_minimum" || ws[1].Code != "volatile_before_cache_breakpoint" {
		t.Fatalf("%+v, %v", ws, err)
	}
	if _, err := WarnIfTooLarge(map[string]any{"messages": hi}, ""); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("no model: %v", err)
	}
	if _, err := WarnIfTooLarge(map[string]any{"messages": hi}, "gpt-4-omni-max"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := WarnIfTooLarge(make(chan int), "gpt-4o"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unencodable request: %v", err)
	}
}

// Calls from many goroutines at once agree with a call made alone.
func TestContextConcurrently(t *testing.T) {
	msgs := history(10)
	want, err := PruneContext(msgs, "gpt-4o-mini", ContextOptions{MaxInputTokens: Tokens(1500)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := PruneContext(msgs, "gpt-4o-mini", ContextOptions{MaxInputTokens: Tokens(1500)})
			if err != nil || got.TokensAfter != want.TokensAfter || len(got.Dropped) != len(want.Dropped) {
				errs <- fmt.Errorf("%+v, %v", got.Dropped, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
