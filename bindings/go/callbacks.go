package trinity

// The functions C calls back. A file with //export may only declare in its preamble, so the C
// trampolines that pass these to the library live in client.go.

/*
#include "trinity.h"
*/
import "C"

import (
	"encoding/json"
	"runtime/cgo"
	"unsafe"
)

// goChatDone receives the end of a trinity_chat_async call, on a library runtime thread. It
// copies what C lends (the JSON, the error) and hands it to the waiting Chat without blocking:
// the channel has room for the one result.
//
//export goChatDone
func goChatDone(userData unsafe.Pointer, code C.uint32_t, js *C.char, n C.size_t, cerr *C.trinity_error) {
	done := cgo.Handle(uintptr(userData)).Value().(chan chatResult)
	if code != C.TRINITY_OK {
		done <- chatResult{err: copyError(uint32(code), cerr)}
		return
	}
	done <- chatResult{json: C.GoBytes(unsafe.Pointer(js), C.int(n))}
}

// goStreamChunk receives one chunk of a trinity_chat_stream call, on the goroutine that made
// the call; it returns false to stop the stream.
//
//export goStreamChunk
func goStreamChunk(userData unsafe.Pointer, js *C.char, n C.size_t) C.bool {
	s := cgo.Handle(uintptr(userData)).Value().(*Stream)
	return C.bool(s.deliver(unsafe.Slice((*byte)(unsafe.Pointer(js)), int(n))))
}

// goBudgetAlert receives one budget alert, on a library runtime thread. A handle deleted by
// Close (an alert racing it) is ignored.
//
//export goBudgetAlert
func goBudgetAlert(userData unsafe.Pointer, js *C.char, n C.size_t) {
	defer func() { _ = recover() }()
	fn := cgo.Handle(uintptr(userData)).Value().(func(BudgetAlert))
	var alert BudgetAlert
	if json.Unmarshal(C.GoBytes(unsafe.Pointer(js), C.int(n)), &alert) == nil {
		fn(alert)
	}
}

// goLogRecord receives one of a client's log records, on the library's log thread. A handle
// deleted by Close (a record racing it) is ignored.
//
//export goLogRecord
func goLogRecord(userData unsafe.Pointer, line *C.char, lineLen C.size_t, js *C.char, n C.size_t) {
	defer func() { _ = recover() }()
	fn := cgo.Handle(uintptr(userData)).Value().(func(LogEntry))
	var rec LogEntry
	if rec.UnmarshalJSON(C.GoBytes(unsafe.Pointer(js), C.int(n))) == nil {
		fn(rec)
	}
}

// goMonitorEvent receives one provider monitor event, on the monitor's thread. A handle
// deleted by Close (an event racing it) is ignored.
//
//export goMonitorEvent
func goMonitorEvent(userData unsafe.Pointer, js *C.char, n C.size_t) {
	defer func() { _ = recover() }()
	fn := cgo.Handle(uintptr(userData)).Value().(func(MonitorEvent))
	var ev MonitorEvent
	if json.Unmarshal(C.GoBytes(unsafe.Pointer(js), C.int(n)), &ev) == nil {
		fn(ev)
	}
}
