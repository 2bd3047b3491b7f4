//! Server side of Anthropic Messages: `POST /v1/messages`, JSON and SSE events.

use super::wire::{arguments_value, sse, to_json, Parsed, WireError};
use crate::llm::{
    ChatChunk, ChatRequest, ChatResponse, FunctionCall, FunctionDef, Message, Role, Tool, ToolCall,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    model: String,
    max_tokens: Option<u32>,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Blocks>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    tools: Vec<InTool>,
}

#[derive(Deserialize)]
struct InMessage {
    role: String,
    content: Blocks,
}

/// Content as a plain string or a list of typed blocks.
#[derive(Deserialize)]
#[serde(untagged)]
enum Blocks {
    Text(String),
    List(Vec<Value>),
}

#[derive(Deserialize)]
struct InTool {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Value,
    #[serde(default)]
    cache_control: Option<Value>,
}

/// Anthropic's limit on blocks with `cache_control` in one request.
const MAX_CACHE_BLOCKS: usize = 4;

/// One `cache_control` as Anthropic checks it: `{"type": "ephemeral"}`, `ttl` 5m or 1h.
fn check_mark(path: &str, c: &Value) -> Result<(), WireError> {
    let bad = |what: String| Err(WireError::bad_request(what));
    let Some(obj) = c.as_object() else {
        return bad(format!("{path}: Input should be a valid dictionary"));
    };
    if obj.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return bad(format!("{path}.type: Input should be 'ephemeral'"));
    }
    match obj.get("ttl") {
        None => {}
        Some(t) if t == "5m" || t == "1h" => {}
        Some(_) => return bad(format!("{path}.ttl: Input should be '5m' or '1h'")),
    }
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "type" | "ttl")) {
        return bad(format!("{path}.{k}: Extra inputs are not permitted"));
    }
    Ok(())
}

/// The prompt-cache breakpoints as Anthropic checks them: each well formed, on a block (a
/// `tool_result`, never inside its content), at most 4 in tools, system and messages together.
fn check_cache_control(r: &Request) -> Result<(), WireError> {
    let mut count = 0;
    let mut mark = |path: String, c: Option<&Value>| -> Result<(), WireError> {
        if let Some(c) = c {
            check_mark(&path, c)?;
            count += 1;
        }
        Ok(())
    };
    for (i, t) in r.tools.iter().enumerate() {
        mark(format!("tools.{i}.cache_control"), t.cache_control.as_ref())?;
    }
    if let Some(Blocks::List(blocks)) = &r.system {
        for (k, b) in blocks.iter().enumerate() {
            mark(format!("system.{k}.cache_control"), b.get("cache_control"))?;
        }
    }
    for (i, m) in r.messages.iter().enumerate() {
        let Blocks::List(blocks) = &m.content else {
            continue;
        };
        for (k, b) in blocks.iter().enumerate() {
            let path = format!("messages.{i}.content.{k}");
            mark(format!("{path}.cache_control"), b.get("cache_control"))?;
            let inner = b.get("content").and_then(Value::as_array);
            if b["type"] == "tool_result" {
                if let Some(j) = inner
                    .into_iter()
                    .flatten()
                    .position(|p| p.get("cache_control").is_some())
                {
                    return Err(WireError::bad_request(format!(
                        "{path}.tool_result.content.{j}.cache_control: cache_control may not be \
                         specified within `tool_result.content`. Instead, place it directly on `tool_result`"
                    )));
                }
            }
        }
    }
    if count > MAX_CACHE_BLOCKS {
        return Err(WireError::bad_request(format!(
            "A maximum of {MAX_CACHE_BLOCKS} blocks with cache_control may be provided. Found {count}."
        )));
    }
    Ok(())
}

fn block_text(block: &Value) -> Option<&str> {
    (block["type"] == "text")
        .then(|| block["text"].as_str())
        .flatten()
}

impl Blocks {
    fn text(&self) -> String {
        match self {
            Blocks::Text(t) => t.clone(),
            Blocks::List(blocks) => blocks.iter().filter_map(block_text).collect(),
        }
    }
}

/// One Anthropic message as our messages: `tool_result` blocks become tool messages,
/// `tool_use` blocks the assistant's tool calls, text blocks the content.
fn convert(m: InMessage, out: &mut Vec<Message>) -> Result<(), WireError> {
    let role = match m.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(WireError::bad_request(format!(
                "messages: unexpected role \"{other}\""
            )))
        }
    };
    let mut msg = Message::new(role, m.content.text());
    if let Blocks::List(blocks) = &m.content {
        for b in blocks {
            match b["type"].as_str() {
                Some("tool_use") => msg.tool_calls.push(ToolCall {
                    id: b["id"].as_str().unwrap_or_default().into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: b["name"].as_str().unwrap_or_default().into(),
                        arguments: b["input"].to_string(),
                    },
                }),
                Some("tool_result") => {
                    let text = match &b["content"] {
                        Value::String(s) => s.clone(),
                        Value::Array(parts) => parts.iter().filter_map(block_text).collect(),
                        _ => String::new(),
                    };
                    let mut tool = Message::new(Role::Tool, text);
                    tool.tool_call_id = Some(b["tool_use_id"].as_str().unwrap_or_default().into());
                    out.push(tool);
                }
                _ => {}
            }
        }
    }
    out.push(msg);
    Ok(())
}

pub(crate) fn parse(body: &[u8]) -> Result<Parsed, WireError> {
    let r: Request =
        serde_json::from_slice(body).map_err(|e| WireError::bad_request(e.to_string()))?;
    if r.max_tokens.is_none() {
        return Err(WireError::bad_request("max_tokens: Field required"));
    }
    check_cache_control(&r)?;
    let mut messages = Vec::with_capacity(r.messages.len() + 1);
    if let Some(system) = &r.system {
        messages.push(Message::new(Role::System, system.text()));
    }
    let has_messages = !r.messages.is_empty();
    for m in r.messages {
        convert(m, &mut messages)?;
    }
    if !has_messages {
        return Err(WireError::bad_request(
            "messages: at least one message is required",
        ));
    }
    let request = ChatRequest {
        model: r.model,
        messages,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        tools: r
            .tools
            .into_iter()
            .map(|t| Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name: t.name,
                    description: t.description,
                    parameters: t.input_schema,
                },
                cache_control: None,
            })
            .collect(),
        ..Default::default()
    };
    request
        .validate()
        .map_err(|e| WireError::bad_request(e.message))?;
    Ok(Parsed {
        request,
        stream: r.stream.unwrap_or(false),
        include_usage: false,
    })
}

fn stop_reason(r: &ChatResponse) -> &str {
    match r.finish_reason.as_deref() {
        None | Some("stop") => "end_turn",
        Some("tool_calls") => "tool_use",
        Some("length") => "max_tokens",
        Some(other) => other,
    }
}

fn message_id(r: &ChatResponse) -> String {
    format!("msg_{}", r.id)
}

fn usage(input: u64, output: u64, cached: u64) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    })
}

fn tool_use(call: &ToolCall, input: Value) -> Value {
    json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input})
}

pub(crate) fn render(r: &ChatResponse) -> Vec<u8> {
    let mut content = Vec::with_capacity(1 + r.tool_calls.len());
    if !r.content.is_empty() || r.tool_calls.is_empty() {
        content.push(json!({"type": "text", "text": r.content}));
    }
    content.extend(
        r.tool_calls
            .iter()
            .map(|c| tool_use(c, arguments_value(&c.function.arguments))),
    );
    to_json(&json!({
        "id": message_id(r),
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_reason(r),
        "stop_sequence": null,
        "usage": usage(r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.cached_tokens),
    }))
}

/// The event sequence of a streamed message: message_start, a text block (start, ping,
/// text_delta per chunk, stop), a tool_use block per call (start, input_json_delta, stop),
/// message_delta with the stop reason and output tokens, message_stop.
pub(crate) fn render_stream(r: &ChatResponse, chunks: &[ChatChunk]) -> Vec<Bytes> {
    let mut frames = Vec::with_capacity(chunks.len() + 8);
    frames.push(sse(
        Some("message_start"),
        &json!({"type": "message_start", "message": {
            "id": message_id(r), "type": "message", "role": "assistant", "model": r.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage(r.usage.prompt_tokens, 1, r.usage.cached_tokens),
        }}),
    ));
    let mut index = 0;
    let text_chunks: Vec<&str> = chunks
        .iter()
        .filter(|c| !c.delta.is_empty())
        .map(|c| c.delta.as_str())
        .collect();
    let has_tools = chunks.iter().any(|c| !c.tool_calls.is_empty());
    if !text_chunks.is_empty() || !has_tools {
        frames.push(sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        frames.push(sse(Some("ping"), &json!({"type": "ping"})));
        for text in text_chunks {
            frames.push(sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        frames.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for delta in chunks.iter().flat_map(|c| &c.tool_calls) {
        let call = ToolCall {
            id: delta.id.clone().unwrap_or_default(),
            kind: "function".into(),
            function: FunctionCall {
                name: delta.name.clone().unwrap_or_default(),
                arguments: String::new(),
            },
        };
        frames.push(sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index, "content_block": tool_use(&call, json!({}))}),
        ));
        frames.push(sse(
            Some("content_block_delta"),
            &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": delta.arguments}}),
        ));
        frames.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    frames.push(sse(
        Some("message_delta"),
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason(r), "stop_sequence": null},
                "usage": {"output_tokens": r.usage.completion_tokens}}),
    ));
    frames.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
    frames
}

/// `{"type": "error", "error": {"type", "message"}}` with Anthropic's error type per status.
pub(crate) fn error(status: u16, message: &str) -> Vec<u8> {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    to_json(&json!({"type": "error", "error": {"type": kind, "message": message}}))
}
