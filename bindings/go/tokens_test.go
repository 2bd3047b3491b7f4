package trinity

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCountTokensOptions(t *testing.T) {
	text := "Hello, world! This is trinity-core counting tokens."
	for _, opts := range [][]Option{nil, {WithEncoding("cl100k_base")}, {WithModel("gpt-4o")}, {WithModel("gpt-3.5-turbo")}} {
		if n, err := CountTokens(text, opts...); err != nil || n != 12 {
			t.Fatalf("%d, %v", n, err)
		}
	}
	if n, err := CountTokens(""); err != nil || n != 0 {
		t.Fatalf("empty: %d, %v", n, err)
	}
}

func TestCountTokensBadInput(t *testing.T) {
	if _, err := CountTokens("ok", WithEncoding("r50k")); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown encoding: %v", err)
	}
	if _, err := CountTokens("ok", WithModel("no-such-model")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := CountTokens("bad \xff utf-8"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := CountTokensBatch([]string{"fine", "\xfe"}); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("invalid UTF-8 in batch: %v", err)
	}
	if n, err := CountTokens("nul\x00inside"); err != nil || n == 0 {
		t.Fatalf("NUL byte: %d, %v", n, err)
	}
}

func TestCountTokensBatch(t *testing.T) {
	texts := []string{"", "one", "two words", "大型语言模型"}
	counts, err := CountTokensBatch(texts, WithEncoding("o200k_base"))
	if err != nil || len(counts) != len(texts) {
		t.Fatalf("%v, %v", counts, err)
	}
	for i, text := range texts {
		if n, _ := CountTokens(text, WithEncoding("o200k_base")); n != counts[i] {
			t.Fatalf("%q: batch %d, single %d", text, counts[i], n)
		}
	}
	if counts, err := CountTokensBatch(nil); err != nil || len(counts) != 0 {
		t.Fatalf("empty batch: %v, %v", counts, err)
	}
}

func TestCountMessageTokens(t *testing.T) {
	msgs := []map[string]any{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}}
	exact, err := CountMessageTokens(msgs, "gpt-4o")
	if err != nil || exact.Estimated || exact.Encoding != "o200k_base" || exact.Tokens == 0 {
		t.Fatalf("%+v, %v", exact, err)
	}
	est, err := CountMessageTokens(json.RawMessage(`[{"role":"user","content":"Hi"}]`), "claude-sonnet")
	if err != nil || !est.Estimated {
		t.Fatalf("%+v, %v", est, err)
	}
	_, err = CountMessageTokens([]any{map[string]any{"content": "no role"}}, "gpt-4o")
	var te *Error
	if !errors.As(err, &te) || te.Code != "invalid_input" || te.Details["path"] != "messages[0].role" {
		t.Fatalf("missing role: %v", err)
	}
	if _, err := CountMessageTokens(func() {}, "gpt-4o"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unmarshalable: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("providers: {openai: {kind: openai, api_key: sk-secret-123}}", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := dotted(cfg, "providers.openai.api_key"); got != "[redacted]" {
		t.Fatalf("api_key %v", got)
	}
	_, err = ParseConfig("providers: {openai: {kind: openai, timeout_ms: -1}}", false)
	var te *Error
	if !errors.Is(err, ErrConfig) || !errors.As(err, &te) || te.Details["path"] != "providers.openai.timeout_ms" {
		t.Fatalf("bad timeout: %v", err)
	}
	t.Setenv("TRINITY_RETRY__MAX_ATTEMPTS", "7")
	cfg, err = ParseConfig("", true)
	if err != nil || dotted(cfg, "retry.max_attempts") != float64(7) {
		t.Fatalf("env override: %v, %v", dotted(cfg, "retry.max_attempts"), err)
	}
}

func TestCostPricesUsageExactly(t *testing.T) {
	// 3,000 prompt tokens of which 2,000 written to the cache for an hour, 100 out: $1, $2 and $5 per 1M.
	d, err := Cost("claude-haiku-4-5", Usage{PromptTokens: 3000, CacheWrite1hTokens: 2000, CompletionTokens: 100}, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.TotalNanoUSD == nil || *d.TotalNanoUSD != 5_500_000 || d.CacheWriteNanoUSD != 4_000_000 {
		t.Fatalf("got %+v", d)
	}
	d, err = Cost("claude-opus-4-1-20250805", Usage{PromptTokens: 10}, false)
	if err != nil || d.TotalNanoUSD != nil || d.UnpricedReason != "unknown_model" {
		t.Fatalf("an unknown model is unpriced with a reason: %+v %v", d, err)
	}
}
