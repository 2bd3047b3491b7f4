package trinity

/*
#include "trinity.h"
*/
import "C"

// ParseConfig parses and validates a YAML or JSON config and returns it normalized: defaults
// filled in, secrets shown as "[redacted]". With applyEnv, TRINITY_* environment variables
// override the text (TRINITY_PROVIDERS__OPENAI__TIMEOUT_MS sets providers.openai.timeout_ms).
// A bad field is an ErrConfig whose Details["path"] names it.
func ParseConfig(text string, applyEnv bool) (map[string]any, error) {
	var out map[string]any
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		t, tl := cstr(text)
		return C.trinity_config_parse(t, tl, C.bool(applyEnv), s, e)
	})
	return out, err
}
