// Registry look-ups and token counts of a sample document, as a Go program would run them.
//
//	go run . [DOCUMENT]   (default: ../data/sample.md)
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	trinity "example.invalid/trinity-core/bindings/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	path := filepath.Join("..", "data", "sample.md")
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc := string(raw)
	reg, err := trinity.NewRegistry()
	if err != nil {
		return err
	}
	defer reg.Close()
	all, err := reg.List()
	if err != nil {
		return err
	}
	fmt.Printf("trinity-core %s (Go) · %d models · %s: %d bytes\n", trinity.Version(), len(all), filepath.Base(path), len(doc))

	fmt.Printf("%-22s %-10s %9s %7s %6s %10s %9s\n", "model", "provider", "context", "tokens", "exact", "prompt $", "$/1K")
	messages := []map[string]string{{"role": "user", "content": doc}}
	for _, name := range []string{"gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "claude-sonnet", "gemini-2.5-flash", "llama3.1:8b"} {
		m, err := reg.GetModel(name)
		if err != nil {
			return err
		}
		count, err := trinity.CountMessageTokens(messages, m.ID)
		if err != nil {
			return err
		}
		perK, err := reg.CostPer1kTokens(m.ID)
		if err != nil {
			return err
		}
		exact := "yes"
		if count.Estimated {
			exact = "est."
		}
		fmt.Printf("%-22s %-10s %9d %7d %6s %10.6f %9.5f\n", name, m.Provider, m.ContextWindow, count.Tokens,
			exact, float64(count.Tokens)*m.InputPer1M/1e6, perK)
	}

	for _, enc := range []string{"cl100k_base", "o200k_base"} {
		n, err := trinity.CountTokens(doc, trinity.WithEncoding(enc))
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d tokens\n", enc, n)
	}
	paragraphs := strings.Split(doc, "\n\n")
	counts, err := trinity.CountTokensBatch(paragraphs, trinity.WithModel("gpt-4o"))
	if err != nil {
		return err
	}
	fmt.Printf("%d paragraphs (batch, gpt-4o): %v tokens\n", len(paragraphs), counts)

	cheap, err := reg.ByCost(0.001)
	if err != nil {
		return err
	}
	var picks []string
	for _, m := range cheap {
		if m.TypicalLatencyMs <= 500 && len(picks) < 5 {
			picks = append(picks, m.ID)
		}
	}
	fmt.Println("cheap (<= $0.001/1K) and fast (<= 500 ms):", strings.Join(picks, ", "))

	_, err = reg.GetModel("gpt-4o-mni")
	var te *trinity.Error
	if !errors.Is(err, trinity.ErrNotFound) || !errors.As(err, &te) {
		return fmt.Errorf("expected not_found, got %v", err)
	}
	fmt.Printf("unknown model -> %s: %s (suggestions %v)\n", te.Code, te.Message, te.Details["suggestions"])
	return nil
}
