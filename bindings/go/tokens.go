package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"encoding/json"
	"unsafe"
)

// Option picks how CountTokens and CountTokensBatch count.
type Option func(*countOptions)

type countOptions struct{ model, encoding string }

// WithModel counts with the encoding of a registry model (id or alias), e.g. "gpt-4o".
func WithModel(model string) Option { return func(o *countOptions) { o.model = model } }

// WithEncoding counts with "cl100k_base" or "o200k_base"; it wins over WithModel.
// With neither option, "o200k_base" is used.
func WithEncoding(encoding string) Option { return func(o *countOptions) { o.encoding = encoding } }

func options(opts []Option) countOptions {
	var o countOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// CountTokens counts the tokens of text exactly as OpenAI's tiktoken does.
func CountTokens(text string, opts ...Option) (int, error) {
	o := options(opts)
	var n C.uint64_t
	err := call(func(e **C.trinity_error) C.uint32_t {
		t, tl := cstr(text)
		m, ml := optStr(o.model)
		enc, el := optStr(o.encoding)
		return C.trinity_count_tokens(t, tl, m, ml, enc, el, &n, e)
	})
	return int(n), err
}

// CountTokensBatch counts many texts in one call, on every core for large batches.
func CountTokensBatch(texts []string, opts ...Option) ([]int, error) {
	o := options(opts)
	counts := make([]C.uint64_t, len(texts))
	buf := newCBuffer(texts)
	defer buf.free()
	err := call(func(e **C.trinity_error) C.uint32_t {
		m, ml := optStr(o.model)
		enc, el := optStr(o.encoding)
		return C.trinity_count_tokens_batch(unsafe.SliceData(buf.ptrs), unsafe.SliceData(buf.lens),
			C.size_t(len(texts)), m, ml, enc, el, unsafe.SliceData(counts), e)
	})
	if err != nil {
		return nil, err
	}
	out := make([]int, len(counts))
	for i, c := range counts {
		out[i] = int(c)
	}
	return out, nil
}

// TokenCount is the count of a list of chat messages.
type TokenCount struct {
	Tokens   int    `json:"tokens"`
	Encoding string `json:"encoding"`
	// Estimated is true when the model's own tokenizer is not an OpenAI encoding
	// (Anthropic, Gemini, Llama, ...) or images were priced.
	Estimated bool   `json:"estimated"`
	Model     string `json:"model"`
}

// CountMessageTokens counts chat messages ([]map[string]any, a slice of structs, or
// json.RawMessage of `[{"role", "content", "name"?}]`) for model, with OpenAI's per-message overhead.
func CountMessageTokens(messages any, model string) (TokenCount, error) {
	var out TokenCount
	doc, err := json.Marshal(messages)
	if err != nil {
		return out, conversionError(ErrInvalidInput, "messages: "+err.Error())
	}
	text := string(doc)
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		j, jl := cstr(text)
		m, ml := cstr(model)
		return C.trinity_count_message_tokens(j, jl, m, ml, s, e)
	})
	return out, err
}
