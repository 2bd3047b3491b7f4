package trinity

/*
#include "trinity.h"
*/
import "C"

import "encoding/json"

// Context tools (seed 004's ContextManager): the window a conversation may use, pruning that the
// provider still accepts, the providers' rules, ordering by relevance, and warnings before a
// request is sent. Messages are any JSON-encodable value in OpenAI, Anthropic or Gemini shape;
// the shipped registry's models. CountTokens estimates tokens.

// ContextOptions say how much of the window a conversation may use and how to prune it. Nil
// and empty fields take the core's defaults.
type ContextOptions struct {
	// MaxInputTokens is a budget below the window for the conversation itself.
	MaxInputTokens *uint64 `json:"max_input_tokens,omitempty"`
	// ReserveOutputTokens is the room kept for the answer (default: the model's max output).
	ReserveOutputTokens *uint64 `json:"reserve_output_tokens,omitempty"`
	// Strategy: drop_oldest (default), keep_first_last, summarize (without a summary here:
	// the C API takes no callback).
	Strategy string `json:"strategy,omitempty"`
	// Dialect whose rules the result follows: openai (default), anthropic, gemini, strict.
	Dialect string `json:"dialect,omitempty"`
}

// Tokens returns a pointer to n, for the optional counts of ContextOptions.
func Tokens(n uint64) *uint64 { return &n }

// ContextWindow is what a conversation may use of a model's window.
type ContextWindow struct {
	Model          string `json:"model"`
	ContextWindow  uint64 `json:"context_window"`
	ReservedOutput uint64 `json:"reserved_output"`
	Available      uint64 `json:"available"`
	// Exact is true when counted with the model's own tokenizer.
	Exact bool `json:"exact"`
}

// Pruned is a conversation cut to fit, and what happened to it.
type Pruned struct {
	Messages []map[string]any `json:"messages"`
	// Dropped lists the input indexes of the messages dropped whole.
	Dropped      []int  `json:"dropped"`
	TokensBefore uint64 `json:"tokens_before"`
	TokensAfter  uint64 `json:"tokens_after"`
	Budget       uint64 `json:"budget"`
	// Truncated: the latest user message was cut in the middle, with a marker.
	Truncated  bool `json:"truncated"`
	Summarized bool `json:"summarized"`
}

// Violation is the first rule of a dialect a conversation breaks.
type Violation struct {
	Index int    `json:"index"`
	Rule  string `json:"rule"`
}

// Prioritized is documents or messages in their new order.
type Prioritized struct {
	// Items in their new order: the most relevant first and last, the least in the middle.
	Items []any `json:"items"`
	// Order gives, for each output item, the input index it came from.
	Order []int `json:"order"`
	// Scores by input index: BM25 relevance, nil for a message that stays in place.
	Scores []*float64 `json:"scores"`
}

// ContextWarning is one warning of WarnIfTooLarge. Code is stable (over_window, near_window,
// output_reserve_missing, large_image, large_tool_schema, under_cache_minimum,
// volatile_before_cache_breakpoint); Message is for people.
type ContextWarning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Tokens is the figure measured; Limit what it was held against (nil: none).
	Tokens uint64  `json:"tokens"`
	Limit  *uint64 `json:"limit"`
	// Path says where in the request ("messages[3].content[1]", "tools[0]"), or is nil.
	Path *string `json:"path"`
}

func marshal(v any, what string) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", conversionError(ErrInvalidInput, what+": "+err.Error())
	}
	return string(b), nil
}

// AvailableContextWindow is the window of model less the room kept for the answer.
func AvailableContextWindow(model string, opts ContextOptions) (ContextWindow, error) {
	var out ContextWindow
	o, err := marshal(opts, "options")
	if err != nil {
		return out, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		m, ml := cstr(model)
		op, ol := cstr(o)
		return C.trinity_available_context_window(m, ml, op, ol, s, e)
	})
	return out, err
}

// PruneContext cuts messages to fit model's window less the answer's room, keeping them valid
// for opts.Dialect: tool calls kept or dropped with all their results, system messages
// verbatim, the latest user message kept (or cut with a marker). It fails with
// ErrContextTooLarge when even the instructions and the latest user message cannot fit.
func PruneContext(messages any, model string, opts ContextOptions) (Pruned, error) {
	var out Pruned
	doc, err := marshal(messages, "messages")
	if err != nil {
		return out, err
	}
	o, err := marshal(opts, "options")
	if err != nil {
		return out, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		j, jl := cstr(doc)
		m, ml := cstr(model)
		op, ol := cstr(o)
		return C.trinity_prune_context(j, jl, m, ml, op, ol, s, e)
	})
	return out, err
}

// ValidateConversation checks messages against dialect's rules ("" means openai): nil when
// they hold, else the first rule broken.
func ValidateConversation(messages any, dialect string) (*Violation, error) {
	var out *Violation
	doc, err := marshal(messages, "messages")
	if err != nil {
		return nil, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		j, jl := cstr(doc)
		d, dl := optStr(dialect)
		return C.trinity_validate_conversation(j, jl, d, dl, s, e)
	})
	return out, err
}

// PrioritizeContext reorders documents ([]string, ranked against query) or messages (the
// earlier turns ranked against the latest user message, or query when not "") so that the most
// relevant sit first and last. Only whole turns move, so a valid conversation stays valid.
func PrioritizeContext(items any, query string) (Prioritized, error) {
	var out Prioritized
	doc, err := marshal(items, "items")
	if err != nil {
		return out, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		j, jl := cstr(doc)
		q, ql := optStr(query)
		return C.trinity_prioritize_context(j, jl, q, ql, s, e)
	})
	return out, err
}

// WarnIfTooLarge returns the warnings for request (OpenAI, Anthropic or Gemini shape) sent to
// model ("" means the request's "model").
func WarnIfTooLarge(request any, model string) ([]ContextWarning, error) {
	out := []ContextWarning{}
	doc, err := marshal(request, "request")
	if err != nil {
		return nil, err
	}
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		j, jl := cstr(doc)
		m, ml := optStr(model)
		return C.trinity_warn_if_too_large(j, jl, m, ml, s, e)
	})
	return out, err
}
