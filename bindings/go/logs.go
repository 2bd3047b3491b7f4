package trinity

/*
#include <stdint.h>
#include "trinity.h"

extern void goLogRecord(void *, char *, size_t, char *, size_t);

static uint32_t go_on_log(const trinity_client *c, uintptr_t h, trinity_error **err) {
	return trinity_client_on_log(c, (trinity_log_callback)goLogRecord, (void *)h, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"
)

// LogEntry is one of the engine's log records: a call's end, a retry, a fallback, a breaker
// transition, a limiter wait, a cache tier error, a budget alert.
type LogEntry struct {
	Time time.Time
	// Level: error, warn, info, debug or trace.
	Level string
	// Target is the emitting module, trinity_core::llm::books.
	Target  string
	Message string
	// RequestID is the request log's id of the call ("" outside a call).
	RequestID string
	// Fields holds the OpenTelemetry GenAI attributes (gen_ai.request.model, ...) and the
	// engine's own (trinity.attempts, ...).
	Fields map[string]any
	// Line is the record as the client's logging.format renders it.
	Line string
}

func (r *LogEntry) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	take := func(k string) string {
		s, _ := m[k].(string)
		delete(m, k)
		return s
	}
	r.Time, _ = time.Parse(time.RFC3339Nano, take("timestamp"))
	r.Level, r.Target, r.Message = take("level"), take("target"), take("message")
	r.RequestID, r.Line = take("request_id"), take("line")
	r.Fields = m
	return nil
}

// SlogLevel maps the record's level to slog's (trace is below debug).
func (r LogEntry) SlogLevel() slog.Level {
	switch r.Level {
	case "error":
		return slog.LevelError
	case "warn":
		return slog.LevelWarn
	case "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	}
	return slog.LevelDebug - 4
}

// OnLog calls fn with each of the client's log records at logging.level and above (scrubbed
// unless logging.redact is false), on the library's log thread: never on a goroutine making a
// call, and a slow fn delays only later records.
func (c *Client) OnLog(fn func(LogEntry)) error {
	return c.register(fn, func(p *C.trinity_client, h C.uintptr_t, e **C.trinity_error) C.uint32_t {
		return C.go_on_log(p, h, e)
	})
}

// SetLogger sends the client's log records to logger's handler: the message, the level, the
// record's time, request_id, target and the fields as attributes.
func (c *Client) SetLogger(logger *slog.Logger) error {
	h := logger.Handler()
	return c.OnLog(func(r LogEntry) {
		ctx := context.Background()
		level := r.SlogLevel()
		if !h.Enabled(ctx, level) {
			return
		}
		rec := slog.NewRecord(r.Time, level, r.Message, 0)
		rec.AddAttrs(slog.String("target", r.Target))
		if r.RequestID != "" {
			rec.AddAttrs(slog.String("request_id", r.RequestID))
		}
		for k, v := range r.Fields {
			rec.AddAttrs(slog.Any(k, v))
		}
		_ = h.Handle(ctx, rec)
	})
}

// FlushLogs waits up to timeout until every log record emitted before it has reached its
// OnLog functions; false when it did not get there in time.
func FlushLogs(timeout time.Duration) bool {
	return bool(C.trinity_flush_logs(C.uint32_t(timeout.Milliseconds())))
}
