package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Error is a failure reported by trinity-core. Code and Number are stable across versions and
// languages ("not_found", 102); compare them, or use errors.Is with the Err* sentinels, rather
// than the message.
type Error struct {
	Code    string
	Number  uint32
	Message string
	// Details holds machine-readable context, e.g. {"path": "providers.x.kind"} or
	// {"suggestions": ["gpt-4o"]}; nil when there is none.
	Details map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("trinity: %s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, trinity.ErrNotFound) true for every error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Number == e.Number
}

// One sentinel per error kind, numbered by the header's TRINITY_ERR_* macros.
var (
	ErrInvalidInput    = sentinel(C.TRINITY_ERR_INVALID_INPUT)
	ErrConfig          = sentinel(C.TRINITY_ERR_CONFIG)
	ErrNotFound        = sentinel(C.TRINITY_ERR_NOT_FOUND)
	ErrContextTooLarge = sentinel(C.TRINITY_ERR_CONTEXT_TOO_LARGE)
	ErrBudgetExceeded  = sentinel(C.TRINITY_ERR_BUDGET_EXCEEDED)
	ErrAuth            = sentinel(C.TRINITY_ERR_AUTH)
	ErrRateLimited     = sentinel(C.TRINITY_ERR_RATE_LIMITED)
	ErrTimeout         = sentinel(C.TRINITY_ERR_TIMEOUT)
	ErrProvider        = sentinel(C.TRINITY_ERR_PROVIDER)
	ErrNetwork         = sentinel(C.TRINITY_ERR_NETWORK)
	ErrCircuitOpen     = sentinel(C.TRINITY_ERR_CIRCUIT_OPEN)
	ErrCancelled       = sentinel(C.TRINITY_ERR_CANCELLED)
	ErrCache           = sentinel(C.TRINITY_ERR_CACHE)
	ErrIO              = sentinel(C.TRINITY_ERR_IO)
	ErrInternal        = sentinel(C.TRINITY_ERR_INTERNAL)
	ErrGuardStopped    = sentinel(C.TRINITY_ERR_GUARD_STOPPED)
)

func sentinel(number C.uint32_t) *Error {
	return &Error{Code: C.GoString(C.trinity_error_code_str(number)), Number: uint32(number)}
}

// takeError converts and frees a C error object (which may be NULL if the caller passed none).
func takeError(number uint32, cerr *C.trinity_error) *Error {
	defer C.trinity_error_free(cerr)
	return copyError(number, cerr)
}

// copyError converts a C error object the library still owns (one lent to a callback).
func copyError(number uint32, cerr *C.trinity_error) *Error {
	e := &Error{Number: number, Code: C.GoString(C.trinity_error_code_str(C.uint32_t(number)))}
	if cerr == nil {
		return e
	}
	e.Message = C.GoString(C.trinity_error_message(cerr))
	if d := C.trinity_error_details(cerr); d != nil {
		_ = json.Unmarshal([]byte(C.GoString(d)), &e.Details)
	}
	return e
}

// withContext joins a cancellation caused by ctx with ctx's own error, so both
// errors.Is(err, context.Canceled) (or DeadlineExceeded) and errors.Is(err, ErrCancelled) hold.
func withContext(ctx context.Context, err *Error) error {
	if ctx.Err() == nil || !errors.Is(err, ErrCancelled) {
		return err
	}
	return fmt.Errorf("%w: %w", ctx.Err(), err)
}

// conversionError reports a Go value that cannot be handed to C (e.g. messages json.Marshal rejects).
func conversionError(kind *Error, message string) *Error {
	return &Error{Code: kind.Code, Number: kind.Number, Message: message}
}
