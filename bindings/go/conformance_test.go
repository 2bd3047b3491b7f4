package trinity

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Replays tests/fixtures/*.json through the Go API with the checks of core/tests/conformance.rs,
// and writes the ids that passed to $CONFORMANCE_REPORT (default target/conformance/go.json).

type fixtureCase struct {
	ID     string         `json:"id"`
	Op     string         `json:"op"`
	Input  map[string]any `json:"input"`
	Expect map[string]any `json:"expect"`
	// chat.json: the mock server's config (nil: none) and provider "p".
	Server   map[string]any `json:"server"`
	Provider map[string]any `json:"provider"`
}

// byClass maps the fixtures' class names to the Go sentinels that stand for them.
var byClass = map[string]*Error{
	"InvalidInputError": ErrInvalidInput, "ConfigError": ErrConfig, "NotFoundError": ErrNotFound,
	"ContextTooLargeError": ErrContextTooLarge, "BudgetExceededError": ErrBudgetExceeded,
	"AuthError": ErrAuth, "RateLimitedError": ErrRateLimited, "TimeoutError": ErrTimeout,
	"ProviderError": ErrProvider, "NetworkError": ErrNetwork, "CircuitOpenError": ErrCircuitOpen,
	"CancelledError": ErrCancelled, "CacheError": ErrCache, "IoError": ErrIO, "InternalError": ErrInternal,
	"GuardStoppedError": ErrGuardStopped,
}

func str(in map[string]any, key string) string { s, _ := in[key].(string); return s }

func countOpts(in map[string]any) []Option {
	return []Option{WithModel(str(in, "model")), WithEncoding(str(in, "encoding"))}
}

// asJSON round-trips a Go value so results compare with the fixtures as decoded JSON.
func asJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func ids(models []Model, err error) (map[string]any, error) {
	list := make([]any, len(models))
	for i, m := range models {
		list[i] = m.ID
	}
	return map[string]any{"models": list}, err
}

// chat runs a chat.json case as core/tests/conformance.rs does. The input goes out as given
// (Extra), since some cases are requests the typed struct cannot even express.
func chat(c fixtureCase, stream bool) (map[string]any, error) {
	provider := map[string]any{}
	for k, v := range c.Provider {
		provider[k] = v
	}
	delete(provider, "base_path")
	if c.Server != nil {
		cfg, _ := json.Marshal(c.Server)
		srv, err := NewMockServer(string(cfg))
		if err != nil {
			return nil, err
		}
		defer srv.Close()
		provider["base_url"] = srv.URL() + str(c.Provider, "base_path")
		provider["api_key"] = "sk-test"
	}
	cfg, _ := json.Marshal(map[string]any{"providers": map[string]any{"p": provider}})
	client, err := NewClient(string(cfg))
	if err != nil {
		return nil, err
	}
	defer client.Close()
	req := ChatRequest{Extra: c.Input}
	ctx := context.Background()
	if !stream {
		r, err := client.Chat(ctx, req)
		names := []any{}
		for _, t := range r.ToolCalls {
			names = append(names, t.Function.Name)
		}
		return map[string]any{"content": r.Content, "finish_reason": r.FinishReason, "provider": r.Provider, "tool_names": names}, err
	}
	s, err := client.ChatStream(ctx, req)
	if err != nil {
		return nil, err
	}
	var content strings.Builder
	finish, chunks := "", 0
	for chunk, err := range s.All() {
		if err != nil {
			return nil, err
		}
		content.WriteString(chunk.Delta)
		if chunk.Delta != "" {
			chunks++
		}
		if chunk.FinishReason != "" {
			finish = chunk.FinishReason
		}
	}
	return map[string]any{"content": content.String(), "finish_reason": finish, "chunks": float64(chunks)}, nil
}

// healCase runs a healer.json case: {text, fix_rules, idempotent}; `<key>_hex` inputs are raw bytes.
func healCase(in map[string]any, key string) (map[string]any, error) {
	f := HealCSS
	if key == "html" {
		f = HealHTML
	}
	src := str(in, key)
	if h, ok := in[key+"_hex"].(string); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		src = string(b)
	}
	var opts any
	if o, ok := in["options"]; ok {
		opts = o
	}
	out, err := f(src, opts)
	if err != nil {
		return nil, err
	}
	again, err := f(out.Text, opts)
	if err != nil {
		return nil, err
	}
	rules := make([]any, 0, len(out.Fixes))
	for _, fix := range out.Fixes {
		rules = append(rules, fix.Rule)
	}
	return map[string]any{"text": out.Text, "fix_rules": rules, "idempotent": again.Text == out.Text}, nil
}

func run(c fixtureCase, reg *Registry) (map[string]any, error) {
	in := c.Input
	name := str(in, "name")
	switch c.Op {
	case "chat", "chat_stream":
		return chat(c, c.Op == "chat_stream")
	case "heal_html", "heal_css":
		return healCase(in, strings.TrimPrefix(c.Op, "heal_"))
	case "guard_replay":
		return guardReplay(in)
	case "error_kind":
		for class, s := range byClass {
			if s.Code == str(in, "code") {
				return map[string]any{"number": float64(s.Number), "class": class}, nil
			}
		}
		return nil, fmt.Errorf("no sentinel has code %q", str(in, "code"))
	case "count_tokens":
		repeat := 1
		if r, ok := in["repeat"].(float64); ok {
			repeat = int(r)
		}
		n, err := CountTokens(strings.Repeat(str(in, "text"), repeat), countOpts(in)...)
		return map[string]any{"tokens": float64(n)}, err
	case "count_tokens_batch":
		var texts []string
		for _, t := range in["texts"].([]any) {
			texts = append(texts, t.(string))
		}
		counts, err := CountTokensBatch(texts, countOpts(in)...)
		return map[string]any{"counts": asJSON(counts)}, err
	case "count_message_tokens":
		tc, err := CountMessageTokens(in["messages"], str(in, "model"))
		out, _ := asJSON(tc).(map[string]any)
		return out, err
	case "cost":
		var usage Usage
		b, _ := json.Marshal(in["usage"])
		if err := json.Unmarshal(b, &usage); err != nil {
			// Go's types refuse a count that is not an integer before the library sees it.
			return nil, conversionError(ErrInvalidInput, "usage: "+err.Error())
		}
		d, err := Cost(str(in, "model"), usage, false)
		return map[string]any{"cost": asJSON(d)}, err
	case "get_model":
		m, err := reg.GetModel(name)
		return map[string]any{"model": asJSON(m)}, err
	case "token_limit":
		v, err := reg.TokenLimit(name)
		return map[string]any{"value": float64(v)}, err
	case "cost_per_1k":
		v, err := reg.CostPer1kTokens(name)
		return map[string]any{"value": v}, err
	case "supports_feature":
		v, err := reg.SupportsFeature(name, str(in, "feature"))
		return map[string]any{"value": v}, err
	case "by_provider":
		return ids(reg.ByProvider(str(in, "provider")))
	case "by_capability":
		return ids(reg.ByCapability(str(in, "capability")))
	case "by_latency":
		return ids(reg.ByLatency(in["max_ms"].(float64)))
	case "by_cost":
		return ids(reg.ByCost(in["max_per_1k"].(float64)))
	case "add_model":
		// Through the typed Model, as a Go caller would: missing fields become zero values,
		// which the core rejects as it rejects them missing.
		var m Model
		b, _ := json.Marshal(in["model"])
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		return map[string]any{"ok": true}, reg.AddModel(m)
	case "update_model":
		m, err := reg.UpdateModel(name, in["updates"].(map[string]any))
		return map[string]any{"model": asJSON(m)}, err
	case "parse_config":
		cfg, err := ParseConfig(str(in, "text"), false)
		return map[string]any{"config": cfg}, err
	case "prune_context", "prioritize_context", "warn_if_too_large", "available_context_window",
		"validate_conversation":
		return contextOp(c.Op, in)
	case "cache_key":
		ns, strategy := str(in, "namespace"), str(in, "strategy")
		if ns == "" {
			ns = "trinity"
		}
		if strategy == "" {
			strategy = "content"
		}
		cache, err := NewCache(map[string]any{"namespace": ns, "strategy": strategy})
		if err != nil {
			return nil, err
		}
		defer cache.Close()
		key, err := cache.Key(in["request"], str(in, "provider"))
		return map[string]any{"key": key}, err
	}
	return nil, fmt.Errorf("unknown op %q: every runner must handle every op", c.Op)
}

// guardReplay runs a guard.json case as core/tests/conformance.rs does: each step goes in as
// {action, outcome} until the guard stops the run. The config goes out as given (Extra), since
// a case may hold a key the typed GuardConfig cannot express.
func guardReplay(in map[string]any) (map[string]any, error) {
	g, err := NewRunGuard(GuardConfig{Extra: mapOf(in["config"])})
	if err != nil {
		return nil, err
	}
	defer g.Close()
	var stopped any
	for i, s := range listOf(in["steps"]) {
		action, outcome := mapOf(mapOf(s)["action"]), mapOf(mapOf(s)["outcome"])
		var stepErr error
		if e, failed := outcome["error"]; failed {
			stepErr = &StepError{Code: str(mapOf(e), "code"), Message: str(mapOf(e), "message")}
		}
		_, err := g.RecordStep(Action{Name: str(action, "name"), Arguments: action["arguments"]}, outcome["ok"], stepErr, 0)
		if err != nil {
			var te *Error
			if !errors.Is(err, ErrGuardStopped) || !errors.As(err, &te) {
				return nil, err
			}
			d := te.Details
			stopped = map[string]any{"at": float64(i + 1), "reason": d["reason"], "rule": d["rule"], "steps": d["steps"]}
			break
		}
	}
	r, err := g.PerformanceReport()
	if err != nil {
		return nil, err
	}
	return map[string]any{"stopped": stopped, "steps": float64(r.Steps), "failed_steps": float64(r.FailedSteps)}, nil
}

// tokensOf reads an optional count of the fixture (absent: nil).
func tokensOf(in map[string]any, key string) *uint64 {
	if n, ok := in[key].(float64); ok {
		return Tokens(uint64(n))
	}
	return nil
}

// contextOp runs a context.json case: the whole result as JSON, warnings without their
// messages (which are for people), as the fixture's expect.result holds it.
func contextOp(op string, in map[string]any) (map[string]any, error) {
	switch op {
	case "prune_context":
		o := mapOf(in["options"])
		opts := ContextOptions{MaxInputTokens: tokensOf(o, "max_input_tokens"),
			ReserveOutputTokens: tokensOf(o, "reserve_output_tokens"), Strategy: str(o, "strategy"),
			Dialect: str(o, "dialect")}
		p, err := PruneContext(in["messages"], str(in, "model"), opts)
		out, _ := asJSON(p).(map[string]any)
		return out, err
	case "prioritize_context":
		p, err := PrioritizeContext(in["items"], str(in, "query"))
		out, _ := asJSON(p).(map[string]any)
		return out, err
	case "warn_if_too_large":
		ws, err := WarnIfTooLarge(in["request"], str(in, "model"))
		list := []any{}
		for _, w := range ws {
			list = append(list, asJSON(map[string]any{"code": w.Code, "tokens": w.Tokens, "limit": w.Limit, "path": w.Path}))
		}
		return map[string]any{"warnings": list}, err
	case "available_context_window":
		w, err := AvailableContextWindow(str(in, "model"), ContextOptions{
			ReserveOutputTokens: tokensOf(in, "reserve_output_tokens"), MaxInputTokens: tokensOf(in, "max_input_tokens")})
		out, _ := asJSON(w).(map[string]any)
		return out, err
	default:
		v, err := ValidateConversation(in["messages"], str(in, "dialect"))
		return map[string]any{"violation": asJSON(v)}, err
	}
}

func contains(list []any, v any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

func dotted(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func check(t *testing.T, c fixtureCase, reg *Registry, got map[string]any, err error) {
	t.Helper()
	want := c.Expect
	if code, ok := want["error"]; ok {
		var te *Error
		if !errors.As(err, &te) {
			t.Fatalf("expected error %v, got %v (%v)", code, err, got)
		}
		if te.Code != code || !errors.Is(err, byCode(te.Code)) {
			t.Fatalf("expected %v, got %v", code, te)
		}
		if p, ok := want["path"]; ok && te.Details["path"] != p {
			t.Fatalf("path %v, want %v", te.Details["path"], p)
		}
		if s, ok := want["suggestions_include"]; ok {
			list, _ := te.Details["suggestions"].([]any)
			if !contains(list, s) {
				t.Fatalf("suggestions %v lack %v", list, s)
			}
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := want["result"]; ok && !reflect.DeepEqual(any(got), w) {
		g, _ := json.Marshal(got)
		t.Fatalf("result: got %s", g)
	}
	for _, key := range []string{"tokens", "counts", "number", "class", "estimated", "encoding", "ok",
		"content", "finish_reason", "provider", "tool_names", "key", "fix_rules", "idempotent"} {
		if w, ok := want[key]; ok && !reflect.DeepEqual(got[key], w) {
			t.Fatalf("%s: got %v, want %v", key, got[key], w)
		}
	}
	if parts, ok := want["contains"].([]any); ok {
		for _, p := range parts {
			if text, _ := got["text"].(string); !strings.Contains(text, p.(string)) {
				t.Fatalf("no %q in the healed text", p)
			}
		}
	}
	if w, ok := want["value"]; ok {
		wf, isNum := w.(float64)
		gf, _ := got["value"].(float64)
		if (isNum && math.Abs(gf-wf) >= 1e-9) || (!isNum && !reflect.DeepEqual(got["value"], w)) {
			t.Fatalf("value: got %v, want %v", got["value"], w)
		}
	}
	cost, _ := got["cost"].(map[string]any)
	for k, w := range mapOf(want["cost"]) {
		if !reflect.DeepEqual(cost[k], w) {
			t.Fatalf("cost.%s: got %v, want %v", k, cost[k], w)
		}
	}
	model, _ := got["model"].(map[string]any)
	for k, w := range mapOf(want["model"]) {
		if !reflect.DeepEqual(model[k], w) {
			t.Fatalf("model.%s: got %v, want %v", k, model[k], w)
		}
	}
	for path, w := range mapOf(want["values"]) {
		if g := dotted(got["config"], path); !reflect.DeepEqual(g, w) {
			t.Fatalf("config %s: got %v, want %v", path, g, w)
		}
	}
	listed, _ := got["models"].([]any)
	for _, w := range listOf(want["includes"]) {
		if !contains(listed, w) {
			t.Fatalf("missing %v", w)
		}
	}
	for _, w := range listOf(want["excludes"]) {
		if contains(listed, w) {
			t.Fatalf("has %v", w)
		}
	}
	if n, ok := want["min_count"].(float64); ok && float64(len(listed)) < n {
		t.Fatalf("%d models, want at least %v", len(listed), n)
	}
	if n, ok := want["min_chunks"].(float64); ok && got["chunks"].(float64) < n {
		t.Fatalf("%v chunks, want at least %v", got["chunks"], n)
	}
	if n, ok := want["count"].(float64); ok && float64(len(listed)) != n {
		t.Fatalf("%d models, want %v", len(listed), n)
	}
	if key, ok := want["sorted_by"].(string); ok {
		metric := func(id any) float64 {
			if key == "blended_cost" {
				v, _ := reg.CostPer1kTokens(id.(string))
				return v
			}
			m, _ := reg.GetModel(id.(string))
			return float64(m.TypicalLatencyMs)
		}
		for i := 1; i < len(listed); i++ {
			if metric(listed[i-1]) > metric(listed[i]) {
				t.Fatalf("not sorted by %s at %v", key, listed[i])
			}
		}
	}
	if then := mapOf(want["then_get"]); then != nil {
		m, err := reg.GetModel(then["name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got := asJSON(m).(map[string]any)
		for k, w := range mapOf(then["model"]) {
			if !reflect.DeepEqual(got[k], w) {
				t.Fatalf("then_get.%s: got %v, want %v", k, got[k], w)
			}
		}
	}
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
func listOf(v any) []any         { l, _ := v.([]any); return l }

func byCode(code string) *Error {
	for _, s := range byClass {
		if s.Code == code {
			return s
		}
	}
	return nil
}

// fixturesDir is tests/fixtures, or $CONFORMANCE_FIXTURES (to check that the runner can fail).
func fixturesDir() string {
	if dir := os.Getenv("CONFORMANCE_FIXTURES"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "tests", "fixtures")
}

// installTokenizers points the engine at target/tokenizers and installs the open-model
// tokenizers there (once), as every runner does, so open-model counts are exact everywhere.
func installTokenizers(t *testing.T) {
	t.Helper()
	if err := SetTokenizerDir(filepath.Join("..", "..", "target", "tokenizers")); err != nil {
		t.Fatal(err)
	}
	if _, err := FetchTokenizers(); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	installTokenizers(t)
	var passed []string
	for _, file := range []string{"errors", "tokens", "registry", "config", "chat", "cache", "healer", "cost", "context", "guard"} {
		raw, err := os.ReadFile(filepath.Join(fixturesDir(), file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Cases []fixtureCase }
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, c := range doc.Cases {
			ok := t.Run(c.ID, func(t *testing.T) {
				reg, err := NewRegistry()
				if err != nil {
					t.Fatal(err)
				}
				defer reg.Close()
				got, err := run(c, reg)
				check(t, c, reg, got, err)
			})
			if ok {
				passed = append(passed, c.ID)
			}
		}
	}
	out := os.Getenv("CONFORMANCE_REPORT")
	if out == "" {
		out = filepath.Join("..", "..", "target", "conformance", "go.json")
	}
	report, _ := json.Marshal(map[string]any{"language": "go", "passed": passed})
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, report, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("go: %d passed", len(passed))
}
