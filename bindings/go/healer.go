package trinity

/*
#include "trinity.h"
*/
import "C"

import "encoding/json"

// HealOptions says what HealHTML and HealCSS fix; nil options (or nil fields) mean the defaults:
// only the findings are healed (none: the page comes back unchanged); the safety net, viewport
// meta and grid fixes are opt-in; widths 320/375/768/1280.
type HealOptions struct {
	SafetyNet *bool     `json:"safety_net,omitempty"`
	Viewport  *bool     `json:"viewport,omitempty"`
	Grid      *bool     `json:"grid,omitempty"`
	Findings  []Finding `json:"findings,omitempty"`
	Widths    []int     `json:"widths,omitempty"`
}

// Finding is one cause of horizontal overflow, as the Python guardian reports it.
type Finding struct {
	Selector   string  `json:"selector"`
	Cause      string  `json:"cause"` // fixed_width, flex_child, grid_child, wide_table, form_control, nowrap_row, ...
	Widths     []int   `json:"widths"`
	OverflowPx float64 `json:"overflow_px,omitempty"`
	Edge       string  `json:"edge,omitempty"` // "right" (default) or "left"
	Masked     bool    `json:"masked,omitempty"`
	FontSizePx float64 `json:"font_size_px,omitempty"`
	Tag        string  `json:"tag,omitempty"`
}

// Fix is one change the healer made: which rule, on what, why, and the CSS it added.
type Fix struct {
	Rule     string `json:"rule"`
	Selector string `json:"selector"`
	Reason   string `json:"reason"`
	Added    string `json:"added"`
}

// Healed is a healed page (Text from "html") or stylesheet (Text from "css").
type Healed struct {
	Text  string
	Fixes []Fix
}

type healedJSON struct {
	HTML  *string `json:"html"`
	CSS   *string `json:"css"`
	Fixes []Fix   `json:"fixes"`
}

// HealHTML heals a page so it never scrolls sideways. opts is *HealOptions, a map, a
// json.RawMessage, or nil. html must be UTF-8 (else ErrInvalidInput).
func HealHTML(html string, opts any) (Healed, error) {
	return heal(html, opts, true)
}

// HealCSS heals a stylesheet: the author's CSS unchanged, then the override rules.
func HealCSS(css string, opts any) (Healed, error) {
	return heal(css, opts, false)
}

func heal(text string, opts any, html bool) (Healed, error) {
	var optJSON string
	if opts != nil {
		b, err := json.Marshal(opts)
		if err != nil {
			return Healed{}, conversionError(ErrInvalidInput, "options: "+err.Error())
		}
		optJSON = string(b)
	}
	var out healedJSON
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		t, tl := cstr(text)
		o, ol := optStr(optJSON)
		if html {
			return C.trinity_heal_html(t, tl, o, ol, s, e)
		}
		return C.trinity_heal_css(t, tl, o, ol, s, e)
	})
	if err != nil {
		return Healed{}, err
	}
	healed := Healed{Fixes: out.Fixes}
	if out.HTML != nil {
		healed.Text = *out.HTML
	} else if out.CSS != nil {
		healed.Text = *out.CSS
	}
	return healed, nil
}
