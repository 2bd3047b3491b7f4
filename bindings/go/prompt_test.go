package trinity

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

type promptCase struct {
	slice, name string
	text        string           // a text prompt, or
	messages    []map[string]any // a conversation
}

func (c promptCase) prompt() any {
	if c.messages != nil {
		return c.messages
	}
	return c.text
}

func promptCorpus(t *testing.T) []promptCase {
	t.Helper()
	root := filepath.Join("..", "..", "core", "tests", "fixtures", "prompts")
	var cases []promptCase
	for _, slice := range []string{"json", "logs", "history", "boilerplate", "chat"} {
		files, err := filepath.Glob(filepath.Join(root, slice, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v", slice, err)
		}
		sort.Strings(files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c := promptCase{slice: slice, name: filepath.Base(f)}
			if strings.HasSuffix(c.name, ".messages.json") {
				if err := json.Unmarshal(raw, &c.messages); err != nil {
					t.Fatal(err)
				}
			} else {
				c.text = string(raw)
			}
			cases = append(cases, c)
		}
	}
	if len(cases) < 35 {
		t.Fatalf("only %d corpus files", len(cases))
	}
	return cases
}

// The test's own reader: distinct numbers and URLs of every string of a prompt, lines that are
// repeat references left out.
var (
	spanRe   = regexp.MustCompile(`(?:https?|ftp|file)://[^\s<>"'` + "`" + `]+|\d+(?:\.\d+)?`)
	markerRe = regexp.MustCompile(`^\[same as (?:message \d+, )?lines? \d+(?:-\d+)?(?: above)?(?:, \d+ times)?\]$`)
)

func promptStrings(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			promptStrings(e, out)
		}
	case []map[string]any:
		for _, e := range x {
			promptStrings(e, out)
		}
	case map[string]any:
		for _, e := range x {
			promptStrings(e, out)
		}
	case Prompt:
		if x.IsMessages() {
			promptStrings(x.Messages, out)
		} else {
			*out = append(*out, x.Text)
		}
	}
}

func spanSet(prompt any) map[string]bool {
	var texts []string
	promptStrings(prompt, &texts)
	set := map[string]bool{}
	for _, t := range texts {
		for _, line := range strings.Split(t, "\n") {
			if markerRe.MatchString(line) {
				continue
			}
			for _, s := range spanRe.FindAllString(line, -1) {
				set[s] = true
			}
		}
	}
	return set
}

func TestPromptOptimizerOnTheCorpus(t *testing.T) {
	var opt PromptOptimizer
	checked, repeats := 0, 0
	for _, c := range promptCorpus(t) {
		out, err := opt.OptimizeForCost(c.prompt(), "gpt-4o")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out.TokensAfter > out.TokensBefore || out.Encoding != "o200k_base" || out.Goal != "cost" {
			t.Fatalf("%s: %+v", c.name, out)
		}
		if out.Prompt.IsMessages() != (c.messages != nil) {
			t.Fatalf("%s: the prompt changed kind", c.name)
		}
		if c.messages == nil {
			before, _ := CountTokens(c.text)
			after, _ := CountTokens(out.Prompt.Text)
			if out.TokensBefore != before || out.TokensAfter != after {
				t.Fatalf("%s: counts %d/%d, CountTokens %d/%d", c.name, out.TokensBefore, out.TokensAfter, before, after)
			}
		}
		// Every distinct number and URL survives byte for byte.
		before, after := spanSet(c.prompt()), spanSet(out.Prompt)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("%s: numbers/URLs %d before, %d after", c.name, len(before), len(after))
		}
		checked += len(before)
		repeats += out.Passes.Repeats
		// Optimizing twice is optimizing once, for each goal, and deterministic.
		for _, f := range []func(any, string) (OptimizedPrompt, error){opt.OptimizeForCost, opt.OptimizeForLatency, opt.OptimizeForQuality} {
			once, err := f(c.prompt(), "")
			if err != nil {
				t.Fatal(err)
			}
			twice, err := f(once.Prompt, "")
			if err != nil || !reflect.DeepEqual(twice.Prompt, once.Prompt) || len(twice.Applied) != 0 || twice.TokensAfter != once.TokensAfter {
				t.Fatalf("%s: not idempotent (%v)", c.name, err)
			}
			again, _ := f(c.prompt(), "")
			if !reflect.DeepEqual(again, once) {
				t.Fatalf("%s: not deterministic", c.name)
			}
		}
	}
	if checked < 500 || repeats < 5 {
		t.Fatalf("only %d spans and %d repeats checked", checked, repeats)
	}
}

func TestPromptCompressFitsTheTarget(t *testing.T) {
	var opt PromptOptimizer
	lossy, refused := 0, 0
	for _, c := range promptCorpus(t) {
		if c.messages != nil {
			continue
		}
		full, _ := opt.OptimizeForCost(c.text, "")
		for _, pct := range []int{95, 80, 60, 30} {
			target := full.TokensAfter * pct / 100
			out, err := opt.Compress(c.text, target, "gpt-4o")
			var te *Error
			if errors.As(err, &te) {
				min, _ := te.Details["min_tokens"].(float64)
				if !errors.Is(err, ErrContextTooLarge) || te.Code != "context_too_large" || int(min) <= target {
					t.Fatalf("%s at %d%%: %v %v", c.name, pct, err, te.Details)
				}
				refused++
				continue
			}
			n, _ := CountTokens(out.Text)
			if err != nil || out.TokensAfter > target || out.TokensAfter != n || out.TargetTokens != target {
				t.Fatalf("%s at %d%%: %d tokens (%d counted) for %d: %v", c.name, pct, out.TokensAfter, n, target, err)
			}
			if !reflect.DeepEqual(spanSet(c.text), spanSet(out.Text)) {
				t.Fatalf("%s at %d%%: a number or URL changed", c.name, pct)
			}
			if !out.Lossless {
				lossy++
				if len(out.Dropped) == 0 || out.Dropped[0].Reason == "" || out.Dropped[0].Tokens == 0 {
					t.Fatalf("%s: %+v", c.name, out.Dropped)
				}
				again, err := opt.Compress(out.Text, target, "gpt-4o")
				if err != nil || again.Text != out.Text {
					t.Fatalf("%s: compressing again changed it (%v)", c.name, err)
				}
			}
		}
	}
	if lossy < 30 || refused < 1 {
		t.Fatalf("%d lossy fits, %d refused", lossy, refused)
	}
}

func TestPromptLayoutBreakpoints(t *testing.T) {
	var opt PromptOptimizer
	var rules []string
	for i := 0; i < 150; i++ {
		rules = append(rules, fmt.Sprintf("Rule %d: cite the handbook section and keep customer data private.", i))
	}
	msgs := []map[string]any{{"role": "system", "content": strings.Join(rules, "\n") + "\nCurrent date: 2026-05-01"}}
	for i := 0; i < 30; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("Question %d about order %d?", i, 1000+i)},
			map[string]any{"role": "assistant", "content": "Noted."})
	}
	msgs = append(msgs, map[string]any{"role": "user", "content": "And the last one?"})
	reg := newReg(t)
	for _, model := range []string{"claude-opus-5", "claude-sonnet-4-5", "claude-haiku-4-5"} {
		m, err := reg.GetModel(model)
		if err != nil || m.CacheMinTokens == nil {
			t.Fatalf("%s: %v", model, err)
		}
		min := int(*m.CacheMinTokens)
		l, err := opt.OptimizeForModel(msgs, model)
		if err != nil || l.Caching != "breakpoints" || l.CacheMinTokens == nil || *l.CacheMinTokens != min || len(l.Breakpoints) > 4 {
			t.Fatalf("%s: %+v, %v", model, l, err)
		}
		for _, b := range l.Breakpoints {
			if b.PrefixTokens < min || b.Message == nil || b.Offset != nil {
				t.Fatalf("%s: breakpoint %+v under %d", model, b, min)
			}
		}
		if len(l.Moved) != 1 || l.Moved[0] != "Current date: 2026-05-01" || *l.ReachesMinimum != (l.StablePrefixTokens >= min) {
			t.Fatalf("%s: %v %v", model, l.Moved, *l.ReachesMinimum)
		}
		again, err := opt.OptimizeForModel(l.Prompt, model)
		if err != nil || !reflect.DeepEqual(again.Prompt, l.Prompt) {
			t.Fatalf("%s: layout not idempotent (%v)", model, err)
		}
	}
	l, err := opt.OptimizeForModel("Just a question.", "gpt-3.5-turbo")
	if err != nil || l.Caching != "unknown" || l.CacheMinTokens != nil || l.ReachesMinimum != nil || l.Prompt.IsMessages() {
		t.Fatalf("%+v, %v", l, err)
	}
}

func TestPromptBadInput(t *testing.T) {
	var opt PromptOptimizer
	nums := "Order 1 2 3 4 5 6 7 8 9 at https://a.example/x"
	for i, tc := range []struct {
		err  error
		want *Error
	}{
		{second(opt.OptimizeForCost(42, "")), ErrInvalidInput},
		{second(opt.OptimizeForCost(nil, "")), ErrInvalidInput},
		{second(opt.OptimizeForCost(map[string]any{"role": "user"}, "")), ErrInvalidInput},
		{second(opt.OptimizeForLatency([]any{"not a message"}, "")), ErrInvalidInput},
		{second(opt.OptimizeForQuality(json.RawMessage(`{"a":`), "")), ErrInvalidInput},
		{second(opt.OptimizeForCost(func() {}, "")), ErrInvalidInput},
		{second(opt.OptimizeForCost("bad \xff", "")), ErrInvalidInput},
		{second(opt.OptimizeForCost("hi", "no-such-model")), ErrNotFound},
		{second(opt.OptimizeForModel("hi", "no-such-model")), ErrNotFound},
		{second(opt.OptimizeForModel("hi", "")), ErrNotFound},
		{second(opt.Compress("hi", -1, "")), ErrInvalidInput},
		{second(opt.Compress("bad \xfe", 10, "")), ErrInvalidInput},
		{second(opt.Compress("hi", 10, "no-such-model")), ErrNotFound},
		{second(opt.Compress(nums, 3, "")), ErrContextTooLarge},
	} {
		var te *Error
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &te) || te.Code != tc.want.Code {
			t.Fatalf("case %d: got %v, want %s", i, tc.err, tc.want.Code)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestPromptOptimizerConcurrently(t *testing.T) {
	var opt PromptOptimizer
	cases := promptCorpus(t)
	want := make([]OptimizedPrompt, len(cases))
	for i, c := range cases {
		want[i], _ = opt.OptimizeForCost(c.prompt(), "")
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(cases))
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := opt.OptimizeForCost(c.prompt(), "")
			if err != nil || !reflect.DeepEqual(got, want[i]) {
				errs <- c.name
			}
		}()
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("%s: differs when run concurrently", name)
	}
}
