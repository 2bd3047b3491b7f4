package trinity

/*
#include <stdint.h>
#include "trinity.h"

extern void goMonitorEvent(void *, char *, size_t);

static uint32_t go_on_monitor_event(const trinity_client *c, const char *kind, size_t kind_len,
                                    const char *provider, size_t provider_len, double threshold,
                                    uintptr_t h, trinity_error **err) {
	return trinity_client_on_monitor_event(c, kind, kind_len, provider, provider_len, threshold,
	                                       (trinity_monitor_callback)goMonitorEvent, (void *)h, err);
}
*/
import "C"

// ProviderHealth is one provider's figures over the monitor's window (monitor.window_s).
type ProviderHealth struct {
	Provider string `json:"provider"`
	// State: "unknown", "healthy", "degraded" or "down".
	State             string   `json:"state"`
	SinceMs           int64    `json:"since_ms"`
	WindowS           uint64   `json:"window_s"`
	Requests          uint64   `json:"requests"`
	Answered          uint64   `json:"answered"`
	Failures          uint64   `json:"failures"`
	RateLimited       uint64   `json:"rate_limited"`
	ErrorRate         *float64 `json:"error_rate"`
	LatencyMs         *float64 `json:"latency_ms"`
	P50Ms             *float64 `json:"p50_ms"`
	P95Ms             *float64 `json:"p95_ms"`
	P99Ms             *float64 `json:"p99_ms"`
	MinMs             *float64 `json:"min_ms"`
	MaxMs             *float64 `json:"max_ms"`
	RequestsPerMinute float64  `json:"requests_per_minute"`
	TokensPerSecond   *float64 `json:"tokens_per_second"`
	Availability      float64  `json:"availability"`
	// Recoveries counts incidents (degraded or down) that ended; AvgErrorRecoveryMs their mean length.
	Recoveries         uint64   `json:"recoveries"`
	AvgErrorRecoveryMs *float64 `json:"avg_error_recovery_ms"`
	QueueDepth         uint64   `json:"queue_depth"`
	// ConsecutiveFailures counts failed attempts or health checks in a row.
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
}

// HistoryPoint is one bucket of a provider's history (monitor.history_bucket_s).
type HistoryPoint struct {
	StartMs   int64    `json:"start_ms"`
	EndMs     int64    `json:"end_ms"`
	Requests  uint64   `json:"requests"`
	Failures  uint64   `json:"failures"`
	ErrorRate *float64 `json:"error_rate"`
	LatencyMs *float64 `json:"latency_ms"`
	P50Ms     *float64 `json:"p50_ms"`
	P95Ms     *float64 `json:"p95_ms"`
	P99Ms     *float64 `json:"p99_ms"`
	// TokensPerSecond: output tokens per second of generation in the bucket.
	TokensPerSecond *float64 `json:"tokens_per_second"`
}

// MonitorEvent is what a monitor callback gets.
type MonitorEvent struct {
	// Kind: "state_change", "provider_down", "high_latency" or "high_error_rate".
	Kind      string         `json:"kind"`
	Provider  string         `json:"provider"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Value     *float64       `json:"value"`
	Threshold *float64       `json:"threshold"`
	AtMs      int64          `json:"at_ms"`
	Health    ProviderHealth `json:"health"`
}

// Monitor is a client's provider monitor (Client.Monitor).
type Monitor struct{ c *Client }

// Monitor gives the client's provider monitor: health figures, history and callbacks.
func (c *Client) Monitor() Monitor { return Monitor{c} }

// Health is provider's figures, or nil before anything was seen of it.
func (m Monitor) Health(provider string) (*ProviderHealth, error) {
	var out *ProviderHealth
	err := m.c.with(func(p *C.trinity_client) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			n, nl := cstr(provider)
			return C.trinity_client_monitor(p, n, nl, s, e)
		})
	})
	return out, err
}

// Snapshot is every provider's figures.
func (m Monitor) Snapshot() ([]ProviderHealth, error) {
	var out []ProviderHealth
	err := m.c.with(func(p *C.trinity_client) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			return C.trinity_client_monitor(p, nil, 0, s, e)
		})
	})
	return out, err
}

// History is provider's buckets over the last hours, oldest first.
func (m Monitor) History(provider string, hours float64) ([]HistoryPoint, error) {
	var out []HistoryPoint
	err := m.c.with(func(p *C.trinity_client) error {
		return callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
			n, nl := cstr(provider)
			return C.trinity_client_monitor_history(p, n, nl, C.double(hours), s, e)
		})
	})
	return out, err
}

// On calls fn when kind ("state_change", "down", "high_latency" with threshold in ms of p95,
// "high_error_rate" with threshold in 0..1) comes true for provider ("" for any), once per
// crossing of a threshold, on the monitor's thread. ErrInvalidInput for an unknown kind or a
// threshold out of range.
func (m Monitor) On(kind, provider string, threshold float64, fn func(MonitorEvent)) error {
	return m.c.register(fn, func(p *C.trinity_client, h C.uintptr_t, e **C.trinity_error) C.uint32_t {
		k, kl := cstr(kind)
		n, nl := optStr(provider)
		return C.go_on_monitor_event(p, k, kl, n, nl, C.double(threshold), h, e)
	})
}

// OnProviderDown calls fn each time provider ("" for any) goes down.
func (m Monitor) OnProviderDown(provider string, fn func(MonitorEvent)) error {
	return m.On("down", provider, 0, fn)
}
