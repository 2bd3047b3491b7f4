// Chat and stream against the mock provider server, as a Go program would against a real
// provider (swap the URL and key), with a deadline on every call.
//
//	go run ./chat
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	trinity "example.invalid/trinity-core/bindings/go"
)

const mockConfig = `{"fixtures": {"haiku": {"prompt": "Write a haiku about Go",
  "response": "Goroutines hum; channels carry what they must; the race detector sleeps."}},
  "stream_chunk_delay_ms": 5}`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run() error {
	srv, err := trinity.NewMockServer(mockConfig)
	if err != nil {
		return err
	}
	defer srv.Close()
	client, err := trinity.NewClient(fmt.Sprintf(
		`{"providers": {"mock": {"kind": "openai", "base_url": %q, "api_key": "sk-demo"}}}`, srv.URL()+"/v1"))
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Printf("trinity-core %s (Go) · mock server at %s\n", trinity.Version(), srv.URL())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	temperature := 0.2
	req := trinity.ChatRequest{
		Model:       "mock/gpt-4o-mini",
		Messages:    []trinity.Message{{Role: "user", Content: "Write a haiku about Go"}},
		Temperature: &temperature,
	}
	r, err := client.Chat(ctx, req)
	if err != nil {
		return err
	}
	cost := 0.0
	if r.CostUSD != nil {
		cost = *r.CostUSD
	}
	fmt.Printf("chat   %s\n       provider %s, model %s, %d+%d tokens, $%.6f, %.1f ms\n",
		r.Content, r.Provider, r.Model, r.Usage.PromptTokens, r.Usage.CompletionTokens, cost, r.LatencyMs)

	stream, err := client.ChatStream(ctx, req)
	if err != nil {
		return err
	}
	fmt.Print("stream ")
	chunks := 0
	for chunk, err := range stream.All() {
		if err != nil {
			return err
		}
		fmt.Print(chunk.Delta)
		chunks++
	}
	fmt.Printf("\n       (%d chunks)\n", chunks)

	// A deadline shorter than a slow provider's answer: the HTTP request is aborted.
	slow, err := trinity.NewMockServer(`{"latency": {"dist": "fixed", "ms": 2000}}`)
	if err != nil {
		return err
	}
	defer slow.Close()
	slowClient, err := trinity.NewClient(fmt.Sprintf(
		`{"providers": {"slow": {"kind": "openai", "base_url": %q, "api_key": "sk-demo"}}}`, slow.URL()+"/v1"))
	if err != nil {
		return err
	}
	defer slowClient.Close()
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	started := time.Now()
	_, err = slowClient.Chat(short, req)
	fmt.Printf("slow   gave up after %d ms: deadline exceeded=%v, trinity.ErrCancelled=%v\n",
		time.Since(started).Milliseconds(), errors.Is(err, context.DeadlineExceeded), errors.Is(err, trinity.ErrCancelled))
	stats, err := srv.Stats()
	if err != nil {
		return err
	}
	fmt.Printf("mock served %d requests (%d streamed)\n", stats.Requests, stats.Streams)
	return nil
}
