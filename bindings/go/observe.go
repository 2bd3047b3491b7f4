package trinity

/*
#include "trinity.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"time"
)

// CostSummary is the totals over a range. Money is exact integer nano-USD; USD is the same in
// dollars. UnpricedRequests counts calls that could not be priced: when not 0, USD is a lower bound.
type CostSummary struct {
	USD              float64 `json:"usd"`
	NanoUSD          uint64  `json:"nano_usd"`
	Requests         uint64  `json:"requests"`
	InputTokens      uint64  `json:"input_tokens"`
	OutputTokens     uint64  `json:"output_tokens"`
	CachedTokens     uint64  `json:"cached_tokens"`
	UnpricedRequests uint64  `json:"unpriced_requests"`
	CacheHits        uint64  `json:"cache_hits"`
}

// CostAlert is a daily-limit alert (Kind "budget") or today's unpriced calls (Kind "unpriced").
type CostAlert struct {
	Kind             string  `json:"kind"`
	Severity         string  `json:"severity"`
	Threshold        float64 `json:"threshold"`
	Day              string  `json:"day"`
	SpentUSD         float64 `json:"spent_usd"`
	SpentNanoUSD     uint64  `json:"spent_nano_usd"`
	LimitUSD         float64 `json:"limit_usd"`
	Fraction         float64 `json:"fraction"`
	UnpricedRequests uint64  `json:"unpriced_requests"`
	ResetsAtMs       int64   `json:"resets_at_ms"`
	Message          string  `json:"message"`
}

// TrackerStats are the tracker's own counters.
type TrackerStats struct {
	Buckets    uint64 `json:"buckets"`
	Series     uint64 `json:"series"`
	Dropped    uint64 `json:"dropped"`
	Overflowed uint64 `json:"overflowed"`
}

// CostRecord is one call already priced. CostNanoUSD nil: the call could not be priced
// (counted as unpriced, never summed as $0).
type CostRecord struct {
	TimestampMs  int64   `json:"timestamp_ms"`
	Provider     string  `json:"provider"`
	Model        string  `json:"model"`
	InputTokens  uint64  `json:"input_tokens"`
	OutputTokens uint64  `json:"output_tokens"`
	CachedTokens uint64  `json:"cached_tokens"`
	CostNanoUSD  *uint64 `json:"cost_nano_usd"`
	CacheHit     bool    `json:"cache_hit"`
}

// CostTracker keeps cost totals per minute per (provider, model), so memory stays bounded
// whatever the traffic. Safe for concurrent use; Close frees it (or the garbage collector does).
type CostTracker struct {
	mu      sync.RWMutex
	ptr     *C.trinity_cost_tracker
	cleanup runtime.Cleanup
}

// NewCostTracker makes a tracker keeping retentionMinutes of totals (0: 31 days).
func NewCostTracker(retentionMinutes uint32) (*CostTracker, error) {
	text := ""
	if retentionMinutes > 0 {
		b, _ := json.Marshal(map[string]any{"retention_minutes": retentionMinutes})
		text = string(b)
	}
	var ptr *C.trinity_cost_tracker
	p, n := cstr(text)
	if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_cost_tracker_new(p, n, &ptr, e) }); err != nil {
		return nil, err
	}
	return wrapTracker(ptr), nil
}

func wrapTracker(ptr *C.trinity_cost_tracker) *CostTracker {
	t := &CostTracker{ptr: ptr}
	t.cleanup = runtime.AddCleanup(t, func(p *C.trinity_cost_tracker) { C.trinity_cost_tracker_free(p) }, ptr)
	return t
}

// Costs is the client's own cost tracker: every answered call through it, priced. Closing it
// leaves the client's tracker alone; it stays usable after the client is closed.
func (c *Client) Costs() (*CostTracker, error) {
	var ptr *C.trinity_cost_tracker
	err := c.with(func(p *C.trinity_client) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_client_cost_tracker(p, &ptr, e) })
	})
	if err != nil {
		return nil, err
	}
	return wrapTracker(ptr), nil
}

// MetricsText is the client's metrics as OpenMetrics text: the OpenTelemetry GenAI metrics and
// the engine's own under metrics.prefix. ErrConfig when metrics.enabled is false.
func (c *Client) MetricsText() (string, error) {
	var text string
	err := c.with(func(p *C.trinity_client) error {
		var s C.trinity_string
		if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_client_metrics_text(p, &s, e) }); err != nil {
			return err
		}
		defer C.trinity_string_free(&s)
		text = C.GoStringN(s.ptr, C.int(s.len))
		return nil
	})
	return text, err
}

// RequestLog is the client's own request log: one record per call (answered, failed, cache
// hit, stream, cancelled).
func (c *Client) RequestLog() (*RequestLog, error) {
	var ptr *C.trinity_request_log
	err := c.with(func(p *C.trinity_client) error {
		return call(func(e **C.trinity_error) C.uint32_t { return C.trinity_client_request_log(p, &ptr, e) })
	})
	if err != nil {
		return nil, err
	}
	return wrapLog(ptr), nil
}

// Close frees the tracker. It is idempotent; calls after Close fail with ErrInvalidInput.
func (t *CostTracker) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr != nil {
		t.cleanup.Stop()
		C.trinity_cost_tracker_free(t.ptr)
		t.ptr = nil
	}
	return nil
}

func (t *CostTracker) track(doc any) (*uint64, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, conversionError(ErrInvalidInput, "record: "+err.Error())
	}
	text := string(b)
	var out struct {
		CostNanoUSD *uint64 `json:"cost_nano_usd"`
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	err = callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, n := cstr(text)
		return C.trinity_cost_tracker_track(t.ptr, p, n, s, e)
	})
	return out.CostNanoUSD, err
}

// TrackRequest prices a call from the registry (cacheHit: cached input tokens) and adds it
// now. It returns the cost in nano-USD, nil when the model or a rate is unknown.
func (t *CostTracker) TrackRequest(model string, inputTokens, outputTokens, cacheHit uint64) (*uint64, error) {
	return t.track(map[string]any{"model": model, "input_tokens": inputTokens, "output_tokens": outputTokens, "cache_hit": cacheHit})
}

// Track adds a call already priced.
func (t *CostTracker) Track(r CostRecord) error {
	_, err := t.track(r)
	return err
}

func (t *CostTracker) query(out any, q map[string]any) error {
	b, err := json.Marshal(q)
	if err != nil {
		return conversionError(ErrInvalidInput, "query: "+err.Error())
	}
	text := string(b)
	t.mu.RLock()
	defer t.mu.RUnlock()
	return callJSON(out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, n := cstr(text)
		return C.trinity_cost_tracker_query(t.ptr, p, n, s, e)
	})
}

func span(op string, start, end time.Time) map[string]any {
	return map[string]any{"op": op, "start_ms": start.UnixMilli(), "end_ms": end.UnixMilli()}
}

// Total is the totals of [start, end) (whole minutes: a minute counts when its start is in).
func (t *CostTracker) Total(start, end time.Time) (CostSummary, error) {
	var out CostSummary
	return out, t.query(&out, span("total", start, end))
}

// CostByProvider is the totals of [start, end) per provider.
func (t *CostTracker) CostByProvider(start, end time.Time) (map[string]CostSummary, error) {
	var out map[string]CostSummary
	return out, t.query(&out, span("by_provider", start, end))
}

// CostByModel is the totals of [start, end) per model.
func (t *CostTracker) CostByModel(start, end time.Time) (map[string]CostSummary, error) {
	var out map[string]CostSummary
	return out, t.query(&out, span("by_model", start, end))
}

// BudgetAlerts checks the UTC day holding now against dailyLimit USD: one alert per threshold
// reached (0.5, 0.8, 1.0), plus one for unpriced calls.
func (t *CostTracker) BudgetAlerts(dailyLimit float64, now time.Time) ([]CostAlert, error) {
	var out []CostAlert
	return out, t.query(&out, map[string]any{"op": "budget_alerts", "daily_limit": dailyLimit, "now_ms": now.UnixMilli()})
}

// ExportCSV is the minute buckets of [start, end) as RFC 4180 CSV with a header row.
func (t *CostTracker) ExportCSV(start, end time.Time) (string, error) {
	var out string
	return out, t.query(&out, span("export_csv", start, end))
}

// Stats are the tracker's counters (buckets held, series, dropped, overflowed).
func (t *CostTracker) Stats() (TrackerStats, error) {
	var out TrackerStats
	return out, t.query(&out, map[string]any{"op": "stats"})
}

// LogRecord is one call in the request log (schema version 1). The fields not listed here
// (attempt_log, cost_detail, messages) are in the JSON exports.
type LogRecord struct {
	SchemaVersion      uint32   `json:"schema_version"`
	RequestID          string   `json:"request_id"`
	TimestampMs        int64    `json:"timestamp_ms"`
	EndTimestampMs     *int64   `json:"end_timestamp_ms"`
	Status             string   `json:"status"`
	ErrorCode          *string  `json:"error_code"`
	ErrorMessage       *string  `json:"error_message"`
	HTTPStatus         *uint16  `json:"http_status"`
	ModelRequested     string   `json:"model_requested"`
	ProviderRequested  *string  `json:"provider_requested"`
	Provider           *string  `json:"provider"`
	Model              *string  `json:"model"`
	Route              *string  `json:"route"`
	Attempts           uint32   `json:"attempts"`
	Stream             bool     `json:"stream"`
	InputTokens        uint64   `json:"input_tokens"`
	CachedTokens       uint64   `json:"cached_tokens"`
	CacheWriteTokens   uint64   `json:"cache_write_tokens"`
	OutputTokens       uint64   `json:"output_tokens"`
	ReasoningTokens    uint64   `json:"reasoning_tokens"`
	CostUSD            *float64 `json:"cost_usd"`
	CostNanoUSD        *uint64  `json:"cost_nano_usd"`
	UnpricedReason     *string  `json:"unpriced_reason"`
	LatencyMs          float64  `json:"latency_ms"`
	TimeToFirstTokenMs *float64 `json:"time_to_first_token_ms"`
	// A stream's mean time between output chunks after the first.
	TimePerOutputChunkMs *float64 `json:"time_per_output_chunk_ms"`
	QueuedMs             float64  `json:"queued_ms"`
	OverheadMs           *float64 `json:"overhead_ms"`
	CacheHit             bool     `json:"cache_hit"`
	CacheTier            *string  `json:"cache_tier"`
	User                 *string  `json:"user"`
	Response             *string  `json:"response"`
}

// LogQuery filters the request log; zero values are "any". Start/End bound the call's start
// time, [Start, End); Limit keeps the newest matches.
type LogQuery struct {
	Start        time.Time
	End          time.Time
	Provider     string
	Model        string
	Status       string
	MinLatencyMs float64
	Limit        int
}

// RequestLog keeps one record per call (the newest history of them), with an optional JSON
// Lines sink rotated by size. Safe for concurrent use; Close frees it.
type RequestLog struct {
	mu      sync.RWMutex
	ptr     *C.trinity_request_log
	cleanup runtime.Cleanup
}

// NewRequestLog makes a request log from settings: {"history", "log_bodies", "sink": {"path",
// "max_bytes", "max_files"}} (nil: 1000 records, no bodies, no sink).
func NewRequestLog(settings map[string]any) (*RequestLog, error) {
	text := ""
	if settings != nil {
		b, err := json.Marshal(settings)
		if err != nil {
			return nil, conversionError(ErrInvalidInput, "settings: "+err.Error())
		}
		text = string(b)
	}
	var ptr *C.trinity_request_log
	p, n := cstr(text)
	if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_request_log_new(p, n, &ptr, e) }); err != nil {
		return nil, err
	}
	return wrapLog(ptr), nil
}

func wrapLog(ptr *C.trinity_request_log) *RequestLog {
	l := &RequestLog{ptr: ptr}
	l.cleanup = runtime.AddCleanup(l, func(p *C.trinity_request_log) { C.trinity_request_log_free(p) }, ptr)
	return l
}

// Close frees the log and closes its sink. It is idempotent.
func (l *RequestLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		l.cleanup.Stop()
		C.trinity_request_log_free(l.ptr)
		l.ptr = nil
	}
	return nil
}

func (l *RequestLog) log(out any, kind, requestID string, doc any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return conversionError(ErrInvalidInput, "record: "+err.Error())
	}
	text := string(b)
	l.mu.RLock()
	defer l.mu.RUnlock()
	return callJSON(out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		k, kn := cstr(kind)
		i, in := cstr(requestID)
		p, n := cstr(text)
		return C.trinity_request_log_log(l.ptr, k, kn, i, in, p, n, s, e)
	})
}

// Record adds a finished call (record fields by their JSON names) and returns its request id.
func (l *RequestLog) Record(record map[string]any) (string, error) {
	var id string
	return id, l.log(&id, "record", "", record)
}

// LogRequest logs a call starting ({"model", "provider", "request_id", "messages", ...}) and
// returns its request id.
func (l *RequestLog) LogRequest(request map[string]any) (string, error) {
	var id string
	return id, l.log(&id, "request", "", request)
}

// LogResponse completes a call with the answer's fields (usage, cost_nano_usd, provider, ...).
func (l *RequestLog) LogResponse(requestID string, response map[string]any) (LogRecord, error) {
	var out LogRecord
	return out, l.log(&out, "response", requestID, response)
}

// LogError completes a call with an error: its code (an *Error's, else "internal") and its
// message, scrubbed of API keys before it is stored.
func (l *RequestLog) LogError(requestID string, err error) (LogRecord, error) {
	code := "internal"
	if te, ok := err.(*Error); ok {
		code = te.Code
	}
	var out LogRecord
	return out, l.log(&out, "error", requestID, map[string]any{"code": code, "message": err.Error()})
}

// Query returns the records matching q, oldest first.
func (l *RequestLog) Query(q LogQuery) ([]LogRecord, error) {
	doc := map[string]any{}
	if !q.Start.IsZero() {
		doc["start_ms"] = q.Start.UnixMilli()
	}
	if !q.End.IsZero() {
		doc["end_ms"] = q.End.UnixMilli()
	}
	for k, v := range map[string]string{"provider": q.Provider, "model": q.Model, "status": q.Status} {
		if v != "" {
			doc[k] = v
		}
	}
	if q.MinLatencyMs > 0 {
		doc["min_latency_ms"] = q.MinLatencyMs
	}
	if q.Limit > 0 {
		doc["limit"] = q.Limit
	}
	b, _ := json.Marshal(doc)
	text := string(b)
	var out []LogRecord
	l.mu.RLock()
	defer l.mu.RUnlock()
	err := callJSON(&out, func(s *C.trinity_string, e **C.trinity_error) C.uint32_t {
		p, n := cstr(text)
		return C.trinity_request_log_query(l.ptr, p, n, s, e)
	})
	return out, err
}

// History returns the newest limit records, oldest first.
func (l *RequestLog) History(limit int) ([]LogRecord, error) {
	return l.Query(LogQuery{Limit: limit})
}

// Export returns the records as "json", "jsonl" or "csv".
func (l *RequestLog) Export(format string) (string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var s C.trinity_string
	f, fn := cstr(format)
	if err := call(func(e **C.trinity_error) C.uint32_t { return C.trinity_request_log_export(l.ptr, f, fn, &s, e) }); err != nil {
		return "", err
	}
	defer C.trinity_string_free(&s)
	return C.GoStringN(s.ptr, C.int(s.len)), nil
}
