package trinity

/*
#include <stdint.h>
#include "trinity.h"

// See client.go: the handle becomes user_data on the C side.
extern _Bool goStreamChunk(void *, char *, size_t);

static uint32_t go_chat_stream(const trinity_client *c, const char *req, size_t len, uintptr_t h,
                               const trinity_cancel_token *t, trinity_error **err) {
	return trinity_chat_stream(c, req, len, (trinity_chunk_callback)goStreamChunk, (void *)h, t, err);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"iter"
	"runtime/cgo"
	"sync"
)

// Stream is a streamed answer. Read it with Next and Chunk, then check Err; or range over All.
// Close it when done early: that closes its HTTP connection. A Stream is for one goroutine.
type Stream struct {
	chunks  chan ChatChunk // closed when the C call has returned
	stop    chan struct{}  // closed by halt: the chunk callback then returns false
	halting sync.Once
	// mu guards token, which the producer frees when the C call returns.
	mu    sync.Mutex
	token *C.trinity_cancel_token
	err   error // set by the producer before it closes chunks
	first *ChatChunk
	cur   ChatChunk
}

// ChatStream sends a request and streams the answer. It returns once the first chunk arrived
// or the call failed, so request, auth, rate-limit and connection errors come from here (as
// from Chat); a stream cut later ends Next with Err set (ErrNetwork). Cancelling ctx stops the
// stream, with errors matching ErrCancelled and ctx.Err().
func (c *Client) ChatStream(ctx context.Context, req ChatRequest) (*Stream, error) {
	body, err := requestJSON(req)
	if err != nil {
		return nil, err
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	s := &Stream{chunks: make(chan ChatChunk, 16), stop: make(chan struct{}), token: token}
	c.track(s, true)
	stopWatching := context.AfterFunc(ctx, s.cancel)
	go func() {
		defer c.track(s, false)
		defer stopWatching()
		h := cgo.NewHandle(s)
		defer h.Delete()
		err := c.with(func(p *C.trinity_client) error {
			return call(func(e **C.trinity_error) C.uint32_t {
				r, rl := cstr(body)
				return C.go_chat_stream(p, r, rl, C.uintptr_t(h), token, e)
			})
		})
		if e, ok := err.(*Error); ok {
			s.err = withContext(ctx, e)
		}
		s.mu.Lock()
		C.trinity_cancel_token_free(s.token)
		s.token = nil
		s.mu.Unlock()
		close(s.chunks)
	}()
	first, ok := <-s.chunks
	if !ok && s.err != nil {
		return nil, s.err
	}
	if ok {
		s.first = &first
	}
	return s, nil
}

// track adds or removes a live stream, for Close.
func (c *Client) track(s *Stream, add bool) {
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	if add {
		c.live[s] = struct{}{}
	} else {
		delete(c.live, s)
	}
}

// deliver hands one chunk to the reader; false stops the stream (halted, or bad JSON).
func (s *Stream) deliver(raw []byte) bool {
	var chunk ChatChunk
	if err := json.Unmarshal(raw, &chunk); err != nil {
		s.err = conversionError(ErrInternal, "decoding the library's JSON: "+err.Error())
		return false
	}
	select {
	case s.chunks <- chunk:
		return true
	case <-s.stop:
		return false
	}
}

// cancel aborts the C call (its HTTP request) if it is still running.
func (s *Stream) cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != nil {
		C.trinity_cancel(s.token)
	}
}

// halt stops the stream from any goroutine: the producer stops waiting for the reader.
func (s *Stream) halt() {
	s.halting.Do(func() { close(s.stop) })
	s.cancel()
}

// Next waits for the next chunk; false at the end of the stream or on an error (see Err).
func (s *Stream) Next() bool {
	if s.first != nil {
		s.cur, s.first = *s.first, nil
		return true
	}
	chunk, ok := <-s.chunks
	s.cur = chunk
	return ok
}

// Chunk is the chunk Next moved to.
func (s *Stream) Chunk() ChatChunk { return s.cur }

// Err is the error that ended the stream: nil when it ended normally or was closed (by Close,
// All's loop break, or Client.Close). Read it after Next returned false.
func (s *Stream) Err() error {
	select {
	case <-s.stop:
		return nil // closed by the caller: not an error
	default:
		return s.err
	}
}

// Close stops the stream, closes its HTTP connection, and waits for it to wind down.
// It is idempotent.
func (s *Stream) Close() error {
	s.halt()
	for range s.chunks {
	}
	s.first = nil
	return nil
}

// All ranges over the chunks, then yields one error if the stream failed; breaking out of
// the loop closes the stream.
func (s *Stream) All() iter.Seq2[ChatChunk, error] {
	return func(yield func(ChatChunk, error) bool) {
		defer s.Close()
		for s.Next() {
			if !yield(s.Chunk(), nil) {
				return
			}
		}
		if err := s.Err(); err != nil {
			yield(ChatChunk{}, err)
		}
	}
}
