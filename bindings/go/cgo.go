package trinity

/*
#include <stdlib.h>
#include "trinity.h"
*/
import "C"

import (
	"encoding/json"
	"unsafe"
)

// cstr lends a Go string to C as (ptr, len) for the duration of one call; C copies what it
// keeps, and the bytes hold no Go pointers, so cgo's rules allow passing them directly.
func cstr(s string) (*C.char, C.size_t) {
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// optStr is cstr for an optional argument: "" means not given (NULL, 0).
func optStr(s string) (*C.char, C.size_t) {
	if s == "" {
		return nil, 0
	}
	return cstr(s)
}

// call runs one C function that reports failure through its out_err parameter.
func call(f func(outErr **C.trinity_error) C.uint32_t) error {
	var cerr *C.trinity_error
	if rc := f(&cerr); rc != C.TRINITY_OK {
		return takeError(uint32(rc), cerr)
	}
	return nil
}

// callJSON runs a C function that writes JSON to a trinity_string, and decodes it into out.
func callJSON(out any, f func(outJSON *C.trinity_string, outErr **C.trinity_error) C.uint32_t) error {
	var s C.trinity_string
	err := call(func(e **C.trinity_error) C.uint32_t { return f(&s, e) })
	if err != nil {
		return err
	}
	defer C.trinity_string_free(&s)
	// The library's JSON always decodes: a failure here is a bug, reported as internal.
	if err := json.Unmarshal(unsafe.Slice((*byte)(unsafe.Pointer(s.ptr)), int(s.len)), out); err != nil {
		return conversionError(ErrInternal, "decoding the library's JSON: "+err.Error())
	}
	return nil
}

// cBuffer copies strings into one C allocation for calls taking arrays of (ptr, len), since C
// memory may not hold Go pointers. The caller frees it with free.
type cBuffer struct {
	data unsafe.Pointer
	ptrs []*C.char
	lens []C.size_t
}

func newCBuffer(texts []string) *cBuffer {
	total := 1
	for _, t := range texts {
		total += len(t)
	}
	b := &cBuffer{data: C.malloc(C.size_t(total)), ptrs: make([]*C.char, len(texts)), lens: make([]C.size_t, len(texts))}
	all := unsafe.Slice((*byte)(b.data), total)
	at := 0
	for i, t := range texts {
		copy(all[at:], t)
		b.ptrs[i] = (*C.char)(unsafe.Add(b.data, at))
		b.lens[i] = C.size_t(len(t))
		at += len(t)
	}
	return b
}

func (b *cBuffer) free() { C.free(b.data) }
