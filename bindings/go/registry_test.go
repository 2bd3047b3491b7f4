package trinity

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func newReg(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestVersion(t *testing.T) {
	if Version() == "" || ABIVersion() != HeaderABIVersion {
		t.Fatalf("version %q, ABI %d, header ABI %d", Version(), ABIVersion(), HeaderABIVersion)
	}
}

func TestNotFoundIsSentinelWithSuggestions(t *testing.T) {
	_, err := newReg(t).GetModel("gpt-4o-mni")
	var te *Error
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidInput) || !errors.As(err, &te) {
		t.Fatalf("got %v", err)
	}
	if te.Code != "not_found" || te.Number != 102 || te.Message == "" {
		t.Fatalf("got %+v", te)
	}
	if s, _ := te.Details["suggestions"].([]any); len(s) == 0 || s[0] != "gpt-4o-mini" {
		t.Fatalf("suggestions %v", te.Details["suggestions"])
	}
}

func TestTypedModelRoundTrip(t *testing.T) {
	r := newReg(t)
	price := 0.25
	minimum := uint32(2048)
	m := Model{ID: "acme-go-1", Provider: "acme", Aliases: []string{"acme-go"}, ContextWindow: 8192,
		MaxOutputTokens: 1024, InputPer1M: 0.5, OutputPer1M: 1.5, CachedInputPer1M: &price,
		CacheMinTokens: &minimum, Capabilities: []string{"chat", "tools"}, Tokenizer: "cl100k_base"}
	if err := r.AddModel(m); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetModel("ACME-GO")
	if err != nil || got.ID != m.ID || *got.CachedInputPer1M != price || got.TypicalLatencyMs == 0 ||
		got.CacheMinTokens == nil || *got.CacheMinTokens != minimum {
		t.Fatalf("got %+v, %v", got, err)
	}
	if err := r.AddModel(m); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("duplicate: %v", err)
	}
	up, err := r.UpdateModel("acme-go", map[string]any{"context_window": 16384})
	if err != nil || up.ContextWindow != 16384 {
		t.Fatalf("update: %+v, %v", up, err)
	}
	if yes, err := r.SupportsFeature("acme-go", "function_calling"); err != nil || !yes {
		t.Fatalf("supports: %v, %v", yes, err)
	}
	if _, err := r.UpdateModel("acme-go", map[string]any{"bad": make(chan int)}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unmarshalable update: %v", err)
	}
}

func TestLookups(t *testing.T) {
	r := newReg(t)
	all, err := r.List()
	if err != nil || len(all) < 30 {
		t.Fatalf("%d models, %v", len(all), err)
	}
	openai, _ := r.ByProvider("OpenAI")
	cheap, _ := r.ByCost(0.001)
	fast, _ := r.ByLatency(300)
	vision, _ := r.ByCapability("vision")
	if len(openai) == 0 || len(cheap) == 0 || len(fast) == 0 || len(vision) == 0 {
		t.Fatal("a lookup returned nothing")
	}
	if _, err := r.ByCapability("flying"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("bad capability: %v", err)
	}
	if limit, err := r.TokenLimit("gpt-4o"); err != nil || limit != 128000 {
		t.Fatalf("limit %d, %v", limit, err)
	}
}

func TestLoadFiles(t *testing.T) {
	r, err := NewEmptyRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.LoadLiteLLMFile(filepath.Join(fixturesDir(), "litellm_model_prices_sample.json"))
	if err != nil || rep.Added == 0 {
		t.Fatalf("%+v, %v", rep, err)
	}
	path := filepath.Join(t.TempDir(), "models.yaml")
	doc := "models:\n- {id: local-1, provider: ollama, context_window: 4096, max_output_tokens: 512,\n" +
		"   input_per_1m: 0, output_per_1m: 0, capabilities: [chat], tokenizer: llama3}\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.LoadFile(path); err != nil || rep.Added != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if _, err := r.LoadFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestCloseIsIdempotentAndLaterCallsFail(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	if _, err := r.GetModel("gpt-4o"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("after Close: %v", err)
	}
}

// One registry shared by many goroutines: reads, writes and Close racing with calls.
func TestConcurrentUse(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := r.GetModel("claude-sonnet"); err != nil {
					errs <- err
					return
				}
				if _, err := r.UpdateModel("gpt-4o-mini", map[string]any{"typical_latency_ms": 100 + g}); err != nil {
					errs <- err
					return
				}
				if _, err := r.ByCost(0.01); err != nil {
					errs <- err
					return
				}
				if n, err := CountTokens("concurrent tokens", WithModel("gpt-4o")); err != nil || n == 0 {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Close while goroutines still call: each call either completes or sees a closed registry.
	var wg2 sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 100; i++ {
				if _, err := r.GetModel("gpt-4o"); err != nil && !errors.Is(err, ErrInvalidInput) {
					t.Error(err)
				}
			}
		}()
	}
	r.Close()
	wg2.Wait()
}
