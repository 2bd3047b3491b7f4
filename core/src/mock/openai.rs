//! Server side of OpenAI chat completions: `POST /v1/chat/completions` (JSON and SSE) and
//! `GET /v1/models`. Typed structs, not `json!`: this route is the one benchmarks hammer.

use super::wire::{sse, to_json, unix_now, Parsed, WireError};
use crate::llm::{ChatChunk, ChatRequest, ChatResponse, Message, Tool, ToolCall, Usage};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    tools: Vec<Tool>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

pub(crate) fn parse(body: &[u8]) -> Result<Parsed, WireError> {
    let r: Request = serde_json::from_slice(body).map_err(|e| {
        WireError::bad_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })?;
    let request = ChatRequest {
        model: r.model,
        messages: r.messages,
        max_tokens: r.max_completion_tokens.or(r.max_tokens),
        temperature: r.temperature,
        top_p: r.top_p,
        tools: r.tools,
        ..Default::default()
    };
    request
        .validate()
        .map_err(|e| WireError::bad_request(e.message))?;
    Ok(Parsed {
        request,
        stream: r.stream.unwrap_or(false),
        include_usage: r.stream_options.is_some_and(|o| o.include_usage),
    })
}

#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: UsageOut,
    system_fingerprint: &'static str,
    service_tier: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tool_calls: &'a [ToolCall],
}

#[derive(Serialize)]
struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl From<Usage> for UsageOut {
    fn from(u: Usage) -> Self {
        UsageOut {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cached_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

const FINGERPRINT: &str = "fp_trinity_mock";

fn completion_id(r: &ChatResponse) -> String {
    format!("chatcmpl-{}", r.id)
}

fn finish(r: &ChatResponse) -> &str {
    r.finish_reason.as_deref().unwrap_or("stop")
}

pub(crate) fn render(r: &ChatResponse) -> Vec<u8> {
    // OpenAI sends `content: null` on a pure tool-call answer.
    let content = (!r.content.is_empty() || r.tool_calls.is_empty()).then_some(r.content.as_str());
    to_json(&Completion {
        id: completion_id(r),
        object: "chat.completion",
        created: unix_now(),
        model: &r.model,
        choices: [Choice {
            index: 0,
            message: MessageOut {
                role: "assistant",
                content,
                refusal: None,
                tool_calls: &r.tool_calls,
            },
            logprobs: None,
            finish_reason: finish(r),
        }],
        usage: r.usage.into(),
        system_fingerprint: FINGERPRINT,
        service_tier: "default",
    })
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Present (null until the last chunk) only when the caller asked for usage.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageOut>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallDeltaOut<'a>>,
}

#[derive(Serialize)]
struct ToolCallDeltaOut<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDeltaOut<'a>,
}

#[derive(Serialize)]
struct FunctionDeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Chunks as OpenAI sends them: a first delta with the role and empty content, one per
/// content piece or tool-call piece, one with `finish_reason`, then (with `include_usage`) one
/// with no choices and the usage, then `[DONE]`.
pub(crate) fn render_stream(
    r: &ChatResponse,
    chunks: &[ChatChunk],
    include_usage: bool,
) -> Vec<Bytes> {
    let id = completion_id(r);
    let created = unix_now();
    let frame = |delta: Delta, finish_reason: Option<&str>| {
        sse(
            None,
            &Chunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &r.model,
                system_fingerprint: FINGERPRINT,
                choices: vec![ChunkChoice {
                    index: 0,
                    delta,
                    logprobs: None,
                    finish_reason,
                }],
                usage: include_usage.then_some(None),
            },
        )
    };
    let mut frames = Vec::with_capacity(chunks.len() + 4);
    frames.push(frame(
        Delta {
            role: Some("assistant"),
            content: Some(""),
            ..Default::default()
        },
        None,
    ));
    let mut usage = r.usage;
    for c in chunks {
        if !c.delta.is_empty() || !c.tool_calls.is_empty() {
            let tool_calls = c
                .tool_calls
                .iter()
                .map(|t| ToolCallDeltaOut {
                    index: t.index,
                    id: t.id.as_deref(),
                    kind: t.id.as_ref().map(|_| "function"),
                    function: FunctionDeltaOut {
                        name: t.name.as_deref(),
                        arguments: &t.arguments,
                    },
                })
                .collect();
            let content = (!c.delta.is_empty()).then_some(c.delta.as_str());
            frames.push(frame(
                Delta {
                    content,
                    tool_calls,
                    ..Default::default()
                },
                None,
            ));
        }
        if let Some(u) = c.usage {
            usage = u;
        }
    }
    frames.push(frame(Delta::default(), Some(finish(r))));
    if include_usage {
        frames.push(sse(
            None,
            &Chunk {
                id: &id,
                object: "chat.completion.chunk",
                created,
                model: &r.model,
                system_fingerprint: FINGERPRINT,
                choices: vec![],
                usage: Some(Some(usage.into())),
            },
        ));
    }
    frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
    frames
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<()>,
    code: Option<&'static str>,
}

/// `{"error": {"message", "type", "param", "code"}}` with OpenAI's type and code per status.
pub(crate) fn error(status: u16, message: &str) -> Vec<u8> {
    let (kind, code) = match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        404 => ("invalid_request_error", Some("not_found")),
        413 => ("invalid_request_error", Some("request_too_large")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    };
    to_json(&ErrorEnvelope {
        error: ErrorBody {
            message,
            kind,
            param: None,
            code,
        },
    })
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelOut<'a>>,
}

#[derive(Serialize)]
struct ModelOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

pub(crate) fn models(ids: &[String]) -> Vec<u8> {
    to_json(&ModelList {
        object: "list",
        data: ids
            .iter()
            .map(|id| ModelOut {
                id,
                object: "model",
                created: 0,
                owned_by: "trinity-mock",
            })
            .collect(),
    })
}
