//! Client side of each provider's wire format: request bodies, responses, stream events and
//! error envelopes. Pure functions over JSON, tested without sockets.

pub mod anthropic;
pub mod gemini;
pub mod openai;

use super::sse::Event;
use super::types::{ChatChunk, ChatRequest, ChatResponse};
use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;

/// Which wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenAI chat completions; `strict_openai` sends OpenAI-only fields (`developer` role,
    /// `max_completion_tokens`) that compatible servers may not know.
    OpenAi {
        strict_openai: bool,
    },
    Anthropic,
    Gemini,
}

/// What one stream event produced.
#[derive(Debug, Default)]
pub struct Step {
    pub chunks: Vec<ChatChunk>,
    /// The provider said the stream is complete.
    pub done: bool,
}

/// Per-stream parsing state (tool-call indices, usage seen so far, ids).
pub enum StreamState {
    OpenAi,
    Anthropic(anthropic::StreamState),
    Gemini(gemini::StreamState),
}

impl Format {
    /// The URL to POST to.
    pub fn url(self, base: &str, model: &str, stream: bool) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Format::OpenAi { .. } => format!("{base}/chat/completions"),
            Format::Anthropic => format!("{base}/messages"),
            Format::Gemini if stream => {
                format!("{base}/models/{model}:streamGenerateContent?alt=sse")
            }
            Format::Gemini => format!("{base}/models/{model}:generateContent"),
        }
    }

    /// The request body for `model` (the provider's own model id).
    pub fn body(
        self,
        req: &ChatRequest,
        model: &str,
        stream: bool,
        max_output: Option<u64>,
    ) -> Value {
        match self {
            Format::OpenAi { strict_openai } => openai::body(req, model, stream, strict_openai),
            Format::Anthropic => anthropic::body(req, model, stream, max_output),
            Format::Gemini => gemini::body(req),
        }
    }

    /// Parses a complete (non-stream) answer. `provider`, `latency_ms` and cost are filled by the caller.
    pub fn parse(self, body: &[u8]) -> Result<ChatResponse> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(&format!("response is not JSON: {e}")))?;
        match self {
            Format::OpenAi { .. } => openai::parse(&v),
            Format::Anthropic => anthropic::parse(&v),
            Format::Gemini => gemini::parse(&v),
        }
    }

    pub fn stream_state(self) -> StreamState {
        match self {
            Format::OpenAi { .. } => StreamState::OpenAi,
            Format::Anthropic => StreamState::Anthropic(Default::default()),
            Format::Gemini => StreamState::Gemini(Default::default()),
        }
    }

    /// The provider's error type and message from an error body, when it has its envelope.
    pub fn error_info(self, body: &[u8]) -> (Option<String>, Option<String>) {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return (None, None);
        };
        let err = &v["error"];
        let s = |x: &Value| x.as_str().map(str::to_string);
        match self {
            Format::OpenAi { .. } => (
                s(&err["type"]).or_else(|| s(&err["code"])),
                s(&err["message"]),
            ),
            Format::Anthropic => (s(&err["type"]), s(&err["message"])),
            Format::Gemini => (s(&err["status"]), s(&err["message"])),
        }
    }
}

impl StreamState {
    /// Turns one SSE event into chunks.
    pub fn event(&mut self, ev: &Event) -> Result<Step> {
        match self {
            StreamState::OpenAi => openai::stream_event(ev),
            StreamState::Anthropic(s) => s.event(ev),
            StreamState::Gemini(s) => s.event(ev),
        }
    }
}

/// A provider answer we cannot read: a `provider` error (the provider broke its format).
pub fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::Provider,
        format!("malformed provider answer: {what}"),
    )
}

/// An error the provider reported inside a stream (its envelope kept in `details`).
pub(crate) fn stream_error(kind: ErrorKind, envelope: &Value) -> Error {
    let message = envelope["message"]
        .as_str()
        .unwrap_or("error in stream")
        .to_string();
    Error::new(kind, message).with_details(serde_json::json!({ "provider_error": envelope }))
}

pub(crate) fn json_event(ev: &Event) -> Result<Value> {
    serde_json::from_str(&ev.data).map_err(|e| malformed(&format!("stream event is not JSON: {e}")))
}

pub(crate) fn u64_at(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[cfg(test)]
mod tests;
