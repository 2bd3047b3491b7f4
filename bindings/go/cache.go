package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
)

// CacheStats are the cache's counters: overall hits, misses, hit rate and money saved, and the
// same per tier (memory, redis, filesystem).
type CacheStats struct {
	Hits     uint64      `json:"hits"`
	Misses   uint64      `json:"misses"`
	HitRate  float64     `json:"hit_rate"`
	SavedUSD float64     `json:"saved_usd"`
	Entries  uint64      `json:"entries"`
	Tiers    []TierStats `json:"tiers"`
}

// TierStats are one tier's counters.
type TierStats struct {
	Tier         string  `json:"tier"`
	Hits         uint64  `json:"hits"`
	Misses       uint64  `json:"misses"`
	Writes       uint64  `json:"writes"`
	Bytes        uint64  `json:"bytes"`
	Evictions    uint64  `json:"evictions"`
	Errors       uint64  `json:"errors"`
	Corrupt      uint64  `json:"corrupt"`
	MeanLookupUs float64 `json:"mean_lookup_us"`
}

// Cache is the response cache (memory, Redis and filesystem tiers as configured), safe for
// concurrent use. Close frees it; a Cache garbage collected unclosed is freed then.
type Cache struct {
	mu      sync.RWMutex
	ptr     *C.trinity_cache
	cleanup runtime.Cleanup
}

// NewCache makes a cache from a config: the `cache` section of the config schema (ttl_s,
// namespace, strategy, memory, redis, filesystem) or seed 000's shape (backend, ttl, max_size,
// redis host/port/db, filesystem path). A nil config is a memory tier with the defaults.
func NewCache(config map[string]any) (*Cache, error) {
	text := ""
	if config != nil {
		b, err := json.Marshal(config)
		if err != nil {
			return nil, conversionError(ErrInvalidInput, "config: "+err.Error())
		}
		text = string(b)
	}
	var ptr *C.trinity_cache
	p, n := cstr(text)
	if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_cache_new(p, n, &ptr, e) }); err != nil {
		return nil, err
	}
	c := &Cache{ptr: ptr}
	c.cleanup = runtime.AddCleanup(c, func(p *C.trinity_cache) { C.trinity_cache_free(p) }, ptr)
	return c, nil
}

// Close frees the cache. It is idempotent; calls after Close fail with ErrInvalidInput.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		c.cleanup.Stop()
		C.trinity_cache_free(c.ptr)
		c.ptr = nil
	}
	return nil
}

// Get returns the value under key and whether there was one. A missing, expired or damaged
// entry, a failing tier, or a key that is not UTF-8 is a miss, not an error.
func (c *Cache) Get(key string) (string, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var s C.trinity_string
	var found C.bool
	k, kn := cstr(key)
	err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_cache_get(c.ptr, k, kn, &s, &found, e) })
	if err != nil || !bool(found) {
		return "", false, err
	}
	defer C.trinity_string_free(&s)
	return C.GoStringN(s.ptr, C.int(s.len)), true, nil
}

// Put stores value under key for ttlSeconds (0: the configured TTL).
func (c *Cache) Put(key, value string, ttlSeconds uint64) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, kn := cstr(key)
	v, vn := cstr(value)
	return call(func(e **C.trinity_error) C.uint32_t {
		return C.trinity_cache_put(c.ptr, k, kn, v, vn, C.uint64_t(ttlSeconds), e)
	})
}

// Key is the cache key of a chat request (a ChatRequest, or a map in the request schema;
// provider optional: ""), the same key every language derives.
func (c *Cache) Key(req any, provider string) (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, err := json.Marshal(req)
	if err != nil {
		return "", conversionError(ErrInvalidInput, "request: "+err.Error())
	}
	r, rn := cstr(string(b))
	p, pn := optStr(provider)
	var s C.trinity_string
	if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_cache_key(c.ptr, r, rn, p, pn, &s, e) }); err != nil {
		return "", err
	}
	defer C.trinity_string_free(&s)
	return C.GoStringN(s.ptr, C.int(s.len)), nil
}

// Stats returns the cache's counters.
func (c *Cache) Stats() (CacheStats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out CacheStats
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		return C.trinity_cache_stats(c.ptr, s, e)
	})
	return out, err
}
