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

// Model is one chat model, with the core's JSON field names. Prices are USD per 1M tokens.
type Model struct {
	ID               string   `json:"id"`
	Provider         string   `json:"provider"`
	Name             string   `json:"name,omitempty"`
	Aliases          []string `json:"aliases,omitempty"`
	ContextWindow    uint64   `json:"context_window"`
	MaxOutputTokens  uint64   `json:"max_output_tokens"`
	InputPer1M       float64  `json:"input_per_1m"`
	OutputPer1M      float64  `json:"output_per_1m"`
	CachedInputPer1M *float64 `json:"cached_input_per_1m,omitempty"`
	// CacheMinTokens is the shortest prompt prefix the provider caches (nil: none or unknown).
	CacheMinTokens *uint32 `json:"cache_min_tokens,omitempty"`
	// Capabilities: chat, vision, tools, json_mode, streaming, reasoning.
	Capabilities []string `json:"capabilities"`
	// Tokenizer: o200k_base and cl100k_base count exactly; other families are estimated.
	Tokenizer string `json:"tokenizer"`
	// TypicalLatencyMs is the typical time to first token; 0 leaves the core's default.
	TypicalLatencyMs uint64 `json:"typical_latency_ms,omitempty"`
	// DeprecationDate is YYYY-MM-DD.
	DeprecationDate *string `json:"deprecation_date,omitempty"`
}

// LoadReport says what a file load did.
type LoadReport struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
	Skipped int `json:"skipped"`
}

// Registry is a model registry, safe for concurrent use. Close frees it; a Registry that is
// garbage collected unclosed is freed then.
type Registry struct {
	// mu makes Close wait for calls in flight, so C never sees a freed handle.
	mu      sync.RWMutex
	ptr     *C.trinity_registry
	cleanup runtime.Cleanup
}

// NewRegistry returns a registry holding the shipped models.
func NewRegistry() (*Registry, error) {
	return newRegistry(func(out **C.trinity_registry, e **C.trinity_error) C.uint32_t {
		return C.trinity_registry_new(out, e)
	})
}

// NewEmptyRegistry returns a registry with no models.
func NewEmptyRegistry() (*Registry, error) {
	return newRegistry(func(out **C.trinity_registry, e **C.trinity_error) C.uint32_t {
		return C.trinity_registry_new_empty(out, e)
	})
}

func newRegistry(newFn func(**C.trinity_registry, **C.trinity_error) C.uint32_t) (*Registry, error) {
	var ptr *C.trinity_registry
	if err := call(func(e **C.trinity_error) C.uint32_t { return newFn(&ptr, e) }); err != nil {
		return nil, err
	}
	r := &Registry{ptr: ptr}
	r.cleanup = runtime.AddCleanup(r, func(p *C.trinity_registry) { C.trinity_registry_free(p) }, ptr)
	return r, nil
}

// Close frees the registry. It is idempotent; calls after Close fail with ErrInvalidInput.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr != nil {
		r.cleanup.Stop()
		C.trinity_registry_free(r.ptr)
		r.ptr = nil
	}
	return nil
}

// with runs f on the live handle (NULL after Close, which C reports as invalid input).
func (r *Registry) with(f func(*C.trinity_registry) error) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return f(r.ptr)
}

func (r *Registry) models(f func(*C.trinity_registry, *C.trinity_string, **C.trinity_error) C.uint32_t) ([]Model, error) {
	var out []Model
	err := r.with(func(p *C.trinity_registry) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t { return f(p, s, e) })
	})
	return out, err
}

// GetModel returns a model by id or alias (case-insensitive). An unknown name is ErrNotFound
// with Details["suggestions"] listing the closest ids.
func (r *Registry) GetModel(name string) (Model, error) {
	var out Model
	err := r.with(func(p *C.trinity_registry) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			n, nl := cstr(name)
			return C.trinity_registry_get(p, n, nl, s, e)
		})
	})
	return out, err
}

// List returns every model, ordered by id.
func (r *Registry) List() ([]Model, error) {
	return r.models(func(p *C.trinity_registry, s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		return C.trinity_registry_list(p, s, e)
	})
}

// ByProvider returns the models of one provider (case-insensitive), ordered by id.
func (r *Registry) ByProvider(provider string) ([]Model, error) {
	return r.models(func(p *C.trinity_registry, s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		v, vl := cstr(provider)
		return C.trinity_registry_by_provider(p, v, vl, s, e)
	})
}

// ByCapability returns the models with a capability (chat, vision, tools, json_mode, streaming,
// reasoning, or a common synonym such as "function_calling").
func (r *Registry) ByCapability(capability string) ([]Model, error) {
	return r.models(func(p *C.trinity_registry, s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		v, vl := cstr(capability)
		return C.trinity_registry_by_capability(p, v, vl, s, e)
	})
}

// ByLatency returns the models whose typical latency is at most maxMs, fastest first.
func (r *Registry) ByLatency(maxMs float64) ([]Model, error) {
	return r.models(func(p *C.trinity_registry, s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		return C.trinity_registry_by_latency(p, C.double(maxMs), s, e)
	})
}

// ByCost returns the models whose blended USD price per 1K tokens is at most maxPer1K, cheapest first.
func (r *Registry) ByCost(maxPer1K float64) ([]Model, error) {
	return r.models(func(p *C.trinity_registry, s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		return C.trinity_registry_by_cost(p, C.double(maxPer1K), s, e)
	})
}

// TokenLimit returns a model's context window, in tokens.
func (r *Registry) TokenLimit(name string) (uint64, error) {
	var out C.uint64_t
	err := r.with(func(p *C.trinity_registry) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			n, nl := cstr(name)
			return C.trinity_registry_token_limit(p, n, nl, &out, e)
		})
	})
	return uint64(out), err
}

// CostPer1kTokens returns a model's blended USD price per 1K tokens (mean of input and output).
func (r *Registry) CostPer1kTokens(name string) (float64, error) {
	var out C.double
	err := r.with(func(p *C.trinity_registry) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			n, nl := cstr(name)
			return C.trinity_registry_cost_per_1k(p, n, nl, &out, e)
		})
	})
	return float64(out), err
}

// SupportsFeature reports whether a model has a capability.
func (r *Registry) SupportsFeature(name, feature string) (bool, error) {
	var out C.bool
	err := r.with(func(p *C.trinity_registry) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			n, nl := cstr(name)
			f, fl := cstr(feature)
			return C.trinity_registry_supports_feature(p, n, nl, f, fl, &out, e)
		})
	})
	return bool(out), err
}

// AddModel adds a model; its id and aliases must be new. A bad field is ErrInvalidInput with
// Details["field"] naming it.
func (r *Registry) AddModel(m Model) error {
	doc, err := json.Marshal(m)
	if err != nil {
		return conversionError(ErrInvalidInput, "model: "+err.Error())
	}
	text := string(doc)
	return r.with(func(p *C.trinity_registry) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			j, jl := cstr(text)
			return C.trinity_registry_add_model(p, j, jl, e)
		})
	})
}

// UpdateModel changes some fields of a model (keys are the JSON field names, e.g.
// "typical_latency_ms"; the id cannot change) and returns the updated model.
func (r *Registry) UpdateModel(name string, updates map[string]any) (Model, error) {
	var out Model
	doc, err := json.Marshal(updates)
	if err != nil {
		return out, conversionError(ErrInvalidInput, "updates: "+err.Error())
	}
	text := string(doc)
	err = r.with(func(p *C.trinity_registry) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			n, nl := cstr(name)
			j, jl := cstr(text)
			return C.trinity_registry_update_model(p, n, nl, j, jl, s, e)
		})
	})
	return out, err
}

// LoadFile merges a model file in trinity's format (JSON or YAML): new ids are added, known ids
// updated; all or nothing.
func (r *Registry) LoadFile(path string) (LoadReport, error) {
	return r.load(path, false)
}

// LoadLiteLLMFile merges the chat models of LiteLLM's model_prices_and_context_window.json.
func (r *Registry) LoadLiteLLMFile(path string) (LoadReport, error) {
	return r.load(path, true)
}

func (r *Registry) load(path string, litellm bool) (LoadReport, error) {
	var out LoadReport
	err := r.with(func(p *C.trinity_registry) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			v, vl := cstr(path)
			if litellm {
				return C.trinity_registry_load_litellm_file(p, v, vl, s, e)
			}
			return C.trinity_registry_load_file(p, v, vl, s, e)
		})
	})
	return out, err
}
