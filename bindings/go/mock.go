package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"runtime"
	"sync"
)

// MockServer is the core's mock provider server (OpenAI, Anthropic and Gemini wire formats,
// streaming, latency and faults) on a free 127.0.0.1 port, serving from this process. It is
// safe for concurrent use; Close stops it.
type MockServer struct {
	mu      sync.RWMutex
	ptr     *C.trinity_mock_server
	url     string
	cleanup runtime.Cleanup
}

// MockStats counts what the server served: requests per route, LLM requests per fault drawn
// ("ok" included), and streams.
type MockStats struct {
	Requests uint64            `json:"requests"`
	Streams  uint64            `json:"streams"`
	Routes   map[string]uint64 `json:"routes"`
	Faults   map[string]uint64 `json:"faults"`
}

// NewMockServer starts a server from a YAML or JSON config, e.g.
// `{"fixtures": {"greet": {"prompt": "hi", "response": "hello"}}, "latency": {"dist": "fixed",
// "ms": 50}, "faults": {"script": ["429", "ok"]}, "seed": 1}`; "" echoes prompts back.
// A bad config is ErrConfig.
func NewMockServer(config string) (*MockServer, error) {
	var ptr *C.trinity_mock_server
	err := call(func(e **C.trinity_error) C.uint32_t {
		t, tl := cstr(config)
		return C.trinity_mock_server_start(t, tl, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	m := &MockServer{ptr: ptr, url: C.GoString(C.trinity_mock_server_url(ptr))}
	m.cleanup = runtime.AddCleanup(m, func(p *C.trinity_mock_server) { C.trinity_mock_server_free(p) }, ptr)
	return m, nil
}

// URL is http://127.0.0.1:PORT; OpenAI and Anthropic clients use URL()+"/v1", Gemini
// URL()+"/v1beta".
func (m *MockServer) URL() string { return m.url }

// Stats reports what the server served so far.
func (m *MockServer) Stats() (MockStats, error) {
	var out MockStats
	err := m.with(func(p *C.trinity_mock_server) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_mock_server_stats(p, s, e)
		})
	})
	return out, err
}

// ResetStats zeroes the counters.
func (m *MockServer) ResetStats() error {
	return m.with(func(p *C.trinity_mock_server) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_mock_server_reset_stats(p, e) })
	})
}

// SetFaults makes the server fail by faults (a faults section as JSON, `{"rates": {"503": 1}}`;
// `{}` for none) from now on: a provider that goes down, or comes back, mid-test.
func (m *MockServer) SetFaults(faults string) error {
	return m.with(func(p *C.trinity_mock_server) error {
		return call(func(e **C.trinity_error) C.uint32_t {
			f, fl := cstr(faults)
			return C.trinity_mock_server_set_faults(p, f, fl, e)
		})
	})
}

// ResetFaults replays the fault script from its start and restarts the seeded draws.
func (m *MockServer) ResetFaults() error {
	return m.with(func(p *C.trinity_mock_server) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_mock_server_reset_faults(p, e) })
	})
}

// Close stops the server, letting answers in flight finish (up to 5 s). It is idempotent.
func (m *MockServer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr != nil {
		m.cleanup.Stop()
		C.trinity_mock_server_free(m.ptr)
		m.ptr = nil
	}
	return nil
}

func (m *MockServer) with(f func(*C.trinity_mock_server) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return f(m.ptr)
}
