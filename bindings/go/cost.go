package trinity

/*
#include "trinity.h"
*/
import "C"

import "encoding/json"

// CostDetail is what a call cost. Money is integer nano-USD (1e-9 USD). TotalNanoUSD is nil,
// with UnpricedReason ("unknown_model", "missing_rate:<field>"), for a model or rate the
// registry lacks: never a silent 0.
type CostDetail struct {
	TotalNanoUSD       *uint64  `json:"total_nano_usd"`
	TotalUSD           *float64 `json:"total_usd"`
	InputNanoUSD       uint64   `json:"input_nano_usd"`
	CachedInputNanoUSD uint64   `json:"cached_input_nano_usd"`
	CacheWriteNanoUSD  uint64   `json:"cache_write_nano_usd"`
	OutputNanoUSD      uint64   `json:"output_nano_usd"`
	ReasoningNanoUSD   uint64   `json:"reasoning_nano_usd"`
	TierAboveTokens    *uint64  `json:"tier_above_tokens,omitempty"`
	Estimated          bool     `json:"estimated"`
	UnpricedReason     string   `json:"unpriced_reason,omitempty"`
}

// Cost prices usage for model at the registry's prices, as the client prices every answer
// (dated and prefixed names are found: "openai/gpt-4o", "claude-sonnet-4-5-20250929").
func Cost(model string, usage Usage, estimated bool) (CostDetail, error) {
	var out CostDetail
	doc, err := json.Marshal(usage)
	if err != nil {
		return out, conversionError(ErrInvalidInput, "usage: "+err.Error())
	}
	text := string(doc)
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		m, ml := cstr(model)
		u, ul := cstr(text)
		return C.trinity_cost(m, ml, u, ul, C.bool(estimated), s, e)
	})
	return out, err
}
