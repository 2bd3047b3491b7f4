package trinity

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestCacheGetPutStats(t *testing.T) {
	c, err := NewCache(map[string]any{"backend": "memory", "max_size": 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, found, err := c.Get("missing"); found || err != nil {
		t.Fatalf("miss: found %v err %v", found, err)
	}
	if err := c.Put("k", "välue", 60); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Get("k"); !found || v != "välue" || err != nil {
		t.Fatalf("hit: %q %v %v", v, found, err)
	}
	if _, found, err := c.Get("\xff../"); found || err != nil {
		t.Fatalf("invalid UTF-8 key: found %v err %v", found, err)
	}
	// Goroutines hop threads: the handle is safe for concurrent use.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				_ = c.Put("shared", "x", 0)
				_, _, _ = c.Get("shared")
			}
		}()
	}
	wg.Wait()
	s, err := c.Stats()
	if err != nil || s.Hits < 801 || s.Misses != 2 || s.Tiers[0].Tier != "memory" {
		t.Fatalf("stats %+v err %v", s, err)
	}
	key, err := c.Key(ChatRequest{Model: "gpt-4o-mini", Messages: []Message{{Role: "user", Content: "hi"}}}, "")
	if err != nil || len(key) != len("trinity:content:")+64 {
		t.Fatalf("key %q err %v", key, err)
	}
	c.Close()
	if _, _, err := c.Get("k"); err == nil {
		t.Fatal("a closed cache must fail")
	}
}

// A client with the cache enabled answers a repeated chat from it (no provider call) and
// replays a stream chunk by chunk.
func TestClientServesRepeatsFromTheCache(t *testing.T) {
	srv := mock(t, fixtures+"}")
	c, err := NewClient(fmt.Sprintf(`{"providers": {"p": {"kind": "openai", "base_url": %q, "api_key": "sk-test"}},
		"cache": {"enabled": true, "memory": {"max_entries": 100, "max_bytes": 1000000}}}`, srv.URL()+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	first, err := c.Chat(ctx, ask("Say hello"))
	if err != nil || first.Cached {
		t.Fatalf("first: %+v %v", first, err)
	}
	second, err := c.Chat(ctx, ask("Say hello"))
	if err != nil || !second.Cached || second.Content != first.Content {
		t.Fatalf("second: %+v %v", second, err)
	}
	live, liveChunks := collect(t, mustStream(t, c, "Count"))
	replay, replayChunks := collect(t, mustStream(t, c, "Count"))
	if replay != live || len(replayChunks) != len(liveChunks) || !replayChunks[0].Cached {
		t.Fatalf("replay %q (%d chunks) vs %q (%d)", replay, len(replayChunks), live, len(liveChunks))
	}
	stats, _ := srv.Stats()
	if stats.Requests != 2 {
		t.Fatalf("provider calls: %+v", stats)
	}
}

func mustStream(t *testing.T, c *Client, prompt string) *Stream {
	t.Helper()
	s, err := c.ChatStream(context.Background(), ask(prompt))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
