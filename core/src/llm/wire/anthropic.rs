//! Anthropic Messages API.

use super::{json_event, malformed, stream_error, u64_at, Step};
use crate::error::{Error, ErrorKind, Result};
use crate::llm::sse::Event;
use crate::llm::types::{
    ChatChunk, ChatRequest, ChatResponse, Content, ContentPart, FunctionCall, Message,
    PromptCacheControl, Role, ToolCall, ToolCallDelta, Usage,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Anthropic requires `max_tokens`; without one from the caller or the registry, this.
const DEFAULT_MAX_TOKENS: u64 = 4096;

fn image_block(url: &str) -> Value {
    // `data:image/png;base64,....` becomes an inline source; anything else is fetched by URL.
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}});
        }
    }
    json!({"type": "image", "source": {"type": "url", "url": url}})
}

/// `block` with the caller's prompt-cache breakpoint on it, when there is one.
fn marked(mut block: Value, mark: Option<&PromptCacheControl>) -> Value {
    if let Some(c) = mark {
        block["cache_control"] = serde_json::to_value(c).expect("serializes");
    }
    block
}

fn blocks(m: &Message) -> Vec<Value> {
    let mut out = Vec::new();
    match &m.content {
        Some(Content::Text(t)) if !t.is_empty() => out.push(json!({"type": "text", "text": t})),
        Some(Content::Parts(parts)) => {
            for p in parts {
                let block = match p {
                    ContentPart::Text { text, .. } => json!({"type": "text", "text": text}),
                    ContentPart::ImageUrl { image_url, .. } => image_block(&image_url.url),
                };
                out.push(marked(block, p.cache_control()));
            }
        }
        _ => {}
    }
    for tc in &m.tool_calls {
        let input: Value =
            serde_json::from_str(&tc.function.arguments).unwrap_or_else(|_| json!({}));
        out.push(
            json!({"type": "tool_use", "id": tc.id, "name": tc.function.name, "input": input}),
        );
    }
    out
}

/// A tool message as a `tool_result` block. Anthropic takes `cache_control` on the block, not
/// inside its content: a mark on any of the message's parts goes there (the last one wins).
fn tool_result(m: &Message) -> Value {
    let mark = match &m.content {
        Some(Content::Parts(parts)) => parts.iter().rev().find_map(ContentPart::cache_control),
        _ => None,
    };
    marked(
        json!({"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text()}),
        mark,
    )
}

/// The system and developer messages as Anthropic's `system`: one string, as before, unless a
/// part carries a prompt-cache breakpoint; then text blocks, each part's mark kept on its block.
fn system(req: &ChatRequest) -> Option<Value> {
    let msgs: Vec<&Message> = req
        .messages
        .iter()
        .filter(|m| matches!(m.role, Role::System | Role::Developer))
        .collect();
    if msgs.is_empty() {
        return None;
    }
    let has_marks = msgs.iter().any(|m| {
        matches!(&m.content, Some(Content::Parts(ps)) if ps.iter().any(|p| p.cache_control().is_some()))
    });
    if !has_marks {
        let texts: Vec<String> = msgs.iter().map(|m| m.text()).collect();
        return Some(json!(texts.join("\n\n")));
    }
    let mut out: Vec<Value> = Vec::new();
    for m in msgs {
        match &m.content {
            Some(Content::Text(t)) if !t.is_empty() => out.push(json!({"type": "text", "text": t})),
            Some(Content::Parts(parts)) => {
                for p in parts {
                    match p {
                        // (Anthropic rejects empty text blocks.)
                        ContentPart::Text {
                            text,
                            cache_control: None,
                        } if text.is_empty() => {}
                        ContentPart::Text {
                            text,
                            cache_control,
                        } => out.push(marked(
                            json!({"type": "text", "text": text}),
                            cache_control.as_ref(),
                        )),
                        // The system prompt is text only; an image's mark ends the text before it.
                        ContentPart::ImageUrl { cache_control, .. } => {
                            if let (Some(c), Some(last)) = (cache_control, out.last_mut()) {
                                *last = marked(last.take(), Some(c));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some(json!(out))
}

fn tool_choice(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) if s == "auto" => Some(json!({"type": "auto"})),
        Value::String(s) if s == "required" => Some(json!({"type": "any"})),
        Value::String(s) if s == "none" => Some(json!({"type": "none"})),
        Value::Object(o) => o
            .get("function")
            .and_then(|f| f["name"].as_str())
            .map(|name| json!({"type": "tool", "name": name})),
        _ => None,
    }
}

pub fn body(req: &ChatRequest, model: &str, stream: bool, max_output: Option<u64>) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for m in req
        .messages
        .iter()
        .filter(|m| !matches!(m.role, Role::System | Role::Developer))
    {
        let (role, content) = match m.role {
            Role::Tool => ("user", vec![tool_result(m)]),
            Role::Assistant => ("assistant", blocks(m)),
            _ => ("user", blocks(m)),
        };
        // Consecutive turns of one role are merged: the API wants them alternating.
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                last["content"]
                    .as_array_mut()
                    .expect("array")
                    .extend(content);
            }
            _ => messages.push(json!({"role": role, "content": content})),
        }
    }
    let mut b = Map::new();
    b.insert("model".into(), json!(model));
    b.insert("messages".into(), json!(messages));
    let max = req
        .max_tokens
        .map(u64::from)
        .or(max_output)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    b.insert("max_tokens".into(), json!(max));
    if let Some(system) = system(req) {
        b.insert("system".into(), system);
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            b.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(|t| json!(t.min(1.0))));
    put("top_p", req.top_p.map(|t| json!(t)));
    put(
        "stop_sequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    let tools: Vec<Value> = req
        .tools
        .iter()
        .map(|t| {
            marked(
                json!({"name": t.function.name, "description": t.function.description, "input_schema": t.function.parameters}),
                t.cache_control.as_ref(),
            )
        })
        .collect();
    put("tools", (!tools.is_empty()).then(|| json!(tools)));
    put(
        "tool_choice",
        req.tool_choice.as_ref().and_then(tool_choice),
    );
    put("metadata", req.user.as_ref().map(|u| json!({"user_id": u})));
    put("stream", stream.then_some(json!(true)));
    Value::Object(b)
}

fn finish(reason: &str) -> String {
    match reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
    .to_string()
}

/// Anthropic's `input_tokens` leave out cache reads and writes; they are added back so
/// `prompt_tokens` counts every input token. Writes split by lifetime where the answer says
/// (`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`), else 5 minutes.
fn usage(u: &Value) -> Usage {
    let cached = u64_at(&u["cache_read_input_tokens"]);
    let written = u64_at(&u["cache_creation_input_tokens"]);
    let hour = u64_at(&u["cache_creation"]["ephemeral_1h_input_tokens"]).min(written);
    let prompt = u64_at(&u["input_tokens"]) + cached + written;
    let completion = u64_at(&u["output_tokens"]);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cached_tokens: cached,
        cache_write_tokens: written - hour,
        cache_write_1h_tokens: hour,
        reasoning_tokens: 0,
    }
}

pub fn parse(v: &Value) -> Result<ChatResponse> {
    if v["type"] == "error" {
        return Err(Error::new(
            ErrorKind::Provider,
            format!("provider error: {}", v["error"]),
        ));
    }
    let content = v["content"]
        .as_array()
        .ok_or_else(|| malformed("no content blocks"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                kind: "function".into(),
                function: FunctionCall {
                    name: block["name"].as_str().unwrap_or_default().to_string(),
                    arguments: block["input"].to_string(),
                },
            }),
            _ => {} // thinking and other blocks are not part of the answer text
        }
    }
    Ok(ChatResponse {
        id: v["id"].as_str().unwrap_or_default().to_string(),
        content: text,
        tool_calls,
        finish_reason: v["stop_reason"].as_str().map(finish),
        usage: usage(&v["usage"]),
        model: v["model"].as_str().unwrap_or_default().to_string(),
        ..Default::default()
    })
}

/// Anthropic streams blocks by index; tool calls are renumbered from 0 as OpenAI does.
#[derive(Default)]
pub struct StreamState {
    tool_index: HashMap<u64, u32>,
    usage: Usage,
}

impl StreamState {
    pub fn event(&mut self, ev: &Event) -> Result<Step> {
        let v = json_event(ev)?;
        let kind = if ev.event.is_empty() {
            v["type"].as_str().unwrap_or_default()
        } else {
            ev.event.as_str()
        };
        let mut chunk = ChatChunk::default();
        match kind {
            "message_start" => {
                self.usage = usage(&v["message"]["usage"]);
                return Ok(Step::default());
            }
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                let n = self.tool_index.len() as u32;
                let index = *self.tool_index.entry(u64_at(&v["index"])).or_insert(n);
                chunk.tool_calls.push(ToolCallDelta {
                    index,
                    id: v["content_block"]["id"].as_str().map(str::to_string),
                    name: v["content_block"]["name"].as_str().map(str::to_string),
                    arguments: String::new(),
                });
            }
            "content_block_delta" => match v["delta"]["type"].as_str() {
                Some("text_delta") => {
                    chunk.delta = v["delta"]["text"].as_str().unwrap_or_default().to_string()
                }
                Some("input_json_delta") => {
                    let index = self
                        .tool_index
                        .get(&u64_at(&v["index"]))
                        .copied()
                        .unwrap_or(0);
                    chunk.tool_calls.push(ToolCallDelta {
                        index,
                        arguments: v["delta"]["partial_json"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        ..Default::default()
                    });
                }
                _ => return Ok(Step::default()),
            },
            "message_delta" => {
                let out = u64_at(&v["usage"]["output_tokens"]);
                self.usage.completion_tokens = out;
                self.usage.total_tokens = self.usage.prompt_tokens + out;
                chunk.finish_reason = v["delta"]["stop_reason"].as_str().map(finish);
                chunk.usage = Some(self.usage);
            }
            "message_stop" => {
                return Ok(Step {
                    chunks: vec![],
                    done: true,
                })
            }
            "error" => {
                let kind = match v["error"]["type"].as_str() {
                    Some("rate_limit_error") => ErrorKind::RateLimited,
                    _ => ErrorKind::Provider,
                };
                return Err(stream_error(kind, &v["error"]));
            }
            _ => return Ok(Step::default()), // ping, content_block_stop, unknown future events
        }
        Ok(Step {
            chunks: vec![chunk],
            done: false,
        })
    }
}
