package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Prompt is a prompt as the optimizer returns it: Text for a text prompt, Messages (non-nil)
// for a conversation. It marshals back to the same JSON, so an optimized prompt can be passed
// to the optimizer again.
type Prompt struct {
	Text     string
	Messages []map[string]any
}

// IsMessages reports whether the prompt is a conversation.
func (p Prompt) IsMessages() bool { return p.Messages != nil }

// MarshalJSON writes a JSON string (a text) or array (a conversation).
func (p Prompt) MarshalJSON() ([]byte, error) {
	if p.Messages != nil {
		return json.Marshal(p.Messages)
	}
	return json.Marshal(p.Text)
}

// UnmarshalJSON reads a JSON string or array.
func (p *Prompt) UnmarshalJSON(b []byte) error {
	*p = Prompt{}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		p.Messages = []map[string]any{}
		return json.Unmarshal(t, &p.Messages)
	}
	return json.Unmarshal(b, &p.Text)
}

// PromptPasses says how much each lossless pass changed.
type PromptPasses struct {
	WhitespaceLines int `json:"whitespace_lines"`
	BlankLines      int `json:"blank_lines"`
	JSONValues      int `json:"json_values"`
	TableRows       int `json:"table_rows"`
	HTMLComments    int `json:"html_comments"`
	HTMLLines       int `json:"html_lines"`
	// Repeats is the number of repeated blocks replaced by a "[same as ...]" reference, and
	// RepeatedLines the lines they held.
	Repeats       int `json:"repeats"`
	RepeatedLines int `json:"repeated_lines"`
}

// OptimizedPrompt is a prompt after the lossless passes, with its token counts before and after
// (by the model's counter; o200k_base when no model is given).
type OptimizedPrompt struct {
	Prompt       Prompt `json:"prompt"`
	Goal         string `json:"goal"`
	TokensBefore int    `json:"tokens_before"`
	TokensAfter  int    `json:"tokens_after"`
	Encoding     string `json:"encoding"`
	// Estimated is true when the model's own tokenizer is not the one counted with.
	Estimated bool `json:"estimated"`
	// Applied names the passes that changed something.
	Applied []string     `json:"applied"`
	Passes  PromptPasses `json:"passes"`
}

// CacheBreakpoint is a cache_control breakpoint placed on a message's content block, or for a
// text prompt the byte offset where the cacheable prefix ends.
type CacheBreakpoint struct {
	Message      *int `json:"message,omitempty"`
	Block        *int `json:"block,omitempty"`
	Offset       *int `json:"offset,omitempty"`
	PrefixTokens int  `json:"prefix_tokens"`
}

// PromptLayout is a prompt after the lossless passes, laid out for a model's prompt cache.
type PromptLayout struct {
	Prompt       Prompt       `json:"prompt"`
	Model        string       `json:"model"`
	Provider     string       `json:"provider"`
	TokensBefore int          `json:"tokens_before"`
	TokensAfter  int          `json:"tokens_after"`
	Encoding     string       `json:"encoding"`
	Estimated    bool         `json:"estimated"`
	Applied      []string     `json:"applied"`
	Passes       PromptPasses `json:"passes"`
	// Caching: "breakpoints" (Anthropic cache_control), "automatic" (prefix caching) or
	// "unknown" (no minimum in the registry).
	Caching string `json:"caching"`
	// CacheMinTokens is the registry's shortest cacheable prefix (nil: unknown).
	CacheMinTokens     *int              `json:"cache_min_tokens"`
	StablePrefixTokens int               `json:"stable_prefix_tokens"`
	ReachesMinimum     *bool             `json:"reaches_minimum"`
	Breakpoints        []CacheBreakpoint `json:"breakpoints"`
	// ExistingBreakpoints counts the cache_control marks the input had (Anthropic allows 4).
	ExistingBreakpoints int `json:"existing_breakpoints"`
	// Moved lists the per-request lines (dates, request ids) moved after the stable content.
	Moved []string `json:"moved"`
}

// DroppedText is a sentence or table row Compress left out.
type DroppedText struct {
	Text string `json:"text"`
	// Reason: "duplicate" or "low_information".
	Reason string `json:"reason"`
	Tokens int    `json:"tokens"`
}

// CompressedPrompt is a text fitted to a token target.
type CompressedPrompt struct {
	Text         string `json:"text"`
	TokensBefore int    `json:"tokens_before"`
	TokensAfter  int    `json:"tokens_after"`
	TargetTokens int    `json:"target_tokens"`
	Encoding     string `json:"encoding"`
	Estimated    bool   `json:"estimated"`
	// Lossless is true when nothing was dropped.
	Lossless bool          `json:"lossless"`
	Dropped  []DroppedText `json:"dropped"`
}

// PromptOptimizer is seed 004's PromptOptimizer: fewer tokens for the same prompt. Its zero value
// is ready to use; it counts with the process-wide registry and is safe for concurrent use.
//
// A prompt is a string (a text), a slice of messages ([]map[string]any, structs, or
// json.RawMessage of an array) or a Prompt. Bad input is ErrInvalidInput, an unknown model
// ErrNotFound. model "" counts with o200k_base.
type PromptOptimizer struct{}

func promptJSON(prompt any) (string, error) {
	if s, ok := prompt.(string); ok && !utf8.ValidString(s) {
		return "", conversionError(ErrInvalidInput, "prompt: invalid UTF-8")
	}
	doc, err := json.Marshal(prompt)
	if err != nil {
		return "", conversionError(ErrInvalidInput, "prompt: "+err.Error())
	}
	return string(doc), nil
}

func (PromptOptimizer) optimize(prompt any, model, goal string) (OptimizedPrompt, error) {
	var out OptimizedPrompt
	doc, err := promptJSON(prompt)
	if err != nil {
		return out, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, pl := cstr(doc)
		m, ml := optStr(model)
		g, gl := cstr(goal)
		return C.trinity_prompt_optimize(p, pl, m, ml, g, gl, s, e)
	})
	return out, err
}

// OptimizeForCost runs the lossless passes: whitespace and blank lines outside code, pretty
// JSON compacted, repeated blocks replaced by a reference, HTML and table padding. Numbers,
// URLs, code, quoted strings and {{templates}} keep their bytes; the output is a function of
// the input, and optimizing it again changes nothing.
func (o PromptOptimizer) OptimizeForCost(prompt any, model string) (OptimizedPrompt, error) {
	return o.optimize(prompt, model, "cost")
}

// OptimizeForLatency runs the lossless passes (fewer input tokens is less prefill).
func (o PromptOptimizer) OptimizeForLatency(prompt any, model string) (OptimizedPrompt, error) {
	return o.optimize(prompt, model, "latency")
}

// OptimizeForQuality runs the lossless passes (nothing the model needs is removed).
func (o PromptOptimizer) OptimizeForQuality(prompt any, model string) (OptimizedPrompt, error) {
	return o.optimize(prompt, model, "quality")
}

// OptimizeForModel runs the lossless passes and lays the prompt out for model's prompt cache:
// per-request lines after the stable content; for Anthropic models, cache_control breakpoints
// (at most 4, each over the model's minimum).
func (PromptOptimizer) OptimizeForModel(prompt any, model string) (PromptLayout, error) {
	var out PromptLayout
	doc, err := promptJSON(prompt)
	if err != nil {
		return out, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, pl := cstr(doc)
		m, ml := cstr(model)
		return C.trinity_prompt_optimize_for_model(p, pl, m, ml, s, e)
	})
	return out, err
}

// Compress fits text to targetTokens: unchanged when it fits, else the lossless passes, then
// the least informative sentences dropped (never numbers, URLs, quotes, code or the final
// sentence). ErrContextTooLarge, with Details["min_tokens"], when the protected text alone is
// over the target.
func (PromptOptimizer) Compress(text string, targetTokens int, model string) (CompressedPrompt, error) {
	var out CompressedPrompt
	if targetTokens < 0 {
		return out, conversionError(ErrInvalidInput, "targetTokens: negative")
	}
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		t, tl := cstr(text)
		m, ml := optStr(model)
		return C.trinity_prompt_compress(t, tl, C.uint64_t(targetTokens), m, ml, s, e)
	})
	return out, err
}
