//! What the three wire formats share: the parsed request, SSE framing, the malformed bodies,
//! and the dispatch from a `Format` to its module.

use super::{anthropic, gemini, openai};
use crate::llm::{ChatChunk, ChatRequest, ChatResponse};
use bytes::Bytes;
use serde::Serialize;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAi,
    Anthropic,
    /// Gemini's stream flag and model come from the URL, not the body.
    Gemini {
        stream: bool,
        sse: bool,
    },
}

/// A request read from a provider's own format.
pub(crate) struct Parsed {
    pub request: ChatRequest,
    pub stream: bool,
    /// OpenAI's `stream_options.include_usage`: a final chunk with usage and no choices.
    pub include_usage: bool,
}

/// The part of an error the formats render differently: status and message.
pub(crate) struct WireError {
    pub status: u16,
    pub message: String,
}

impl WireError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        WireError {
            status: 400,
            message: message.into(),
        }
    }
}

impl Format {
    pub fn parse(self, body: &[u8], path_model: &str) -> Result<Parsed, WireError> {
        match self {
            Format::OpenAi => openai::parse(body),
            Format::Anthropic => anthropic::parse(body),
            Format::Gemini { stream, .. } => gemini::parse(body, path_model, stream),
        }
    }

    pub fn render(self, response: &ChatResponse) -> Vec<u8> {
        match self {
            Format::OpenAi => openai::render(response),
            Format::Anthropic => anthropic::render(response),
            Format::Gemini { .. } => gemini::render(response),
        }
    }

    /// The stream as body frames (SSE events; for Gemini without `alt=sse`, JSON array pieces).
    pub fn render_stream(
        self,
        response: &ChatResponse,
        chunks: &[ChatChunk],
        parsed: &Parsed,
    ) -> Vec<Bytes> {
        match self {
            Format::OpenAi => openai::render_stream(response, chunks, parsed.include_usage),
            Format::Anthropic => anthropic::render_stream(response, chunks),
            Format::Gemini { sse, .. } => gemini::render_stream(response, chunks, sse),
        }
    }

    pub fn error(self, status: u16, message: &str) -> Vec<u8> {
        match self {
            Format::OpenAi => openai::error(status, message),
            Format::Anthropic => anthropic::error(status, message),
            Format::Gemini { .. } => gemini::error(status, message),
        }
    }

    pub fn is_sse(self, stream: bool) -> bool {
        match self {
            Format::Gemini { sse, .. } => stream && sse,
            _ => stream,
        }
    }

    /// A 200 body that does not parse: JSON cut inside an object, or SSE whose data is not JSON.
    pub fn malformed(self, stream: bool) -> Vec<Bytes> {
        if self.is_sse(stream) {
            let mut frames = vec![Bytes::from_static(
                b"data: {\"id\": \"mock-malformed\", \"choices\": [{\n\n",
            )];
            if self == Format::OpenAi {
                frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
            }
            frames
        } else {
            vec![Bytes::from_static(
                b"{\"id\": \"mock-malformed\", \"choices\": [{\"message\": ",
            )]
        }
    }
}

/// One SSE event: `event:` line when named, then `data:` with the JSON, then a blank line.
pub(crate) fn sse(event: Option<&str>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_vec(data).expect("wire structs always serialize");
    let mut out = Vec::with_capacity(json.len() + 32);
    if let Some(e) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub(crate) fn to_json(data: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(data).expect("wire structs always serialize")
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Tool-call arguments as a JSON value (Anthropic's `input`, Gemini's `args`); text that is
/// not a JSON object becomes `{}` rather than an invalid answer.
pub(crate) fn arguments_value(arguments: &str) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => serde_json::Value::Object(Default::default()),
    }
}
