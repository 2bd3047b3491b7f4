//! Server side of Gemini: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent` (SSE with `alt=sse`, else one JSON array sent in pieces).

use super::wire::{arguments_value, sse, to_json, Parsed, WireError};
use crate::llm::{
    ChatChunk, ChatRequest, ChatResponse, FunctionCall, FunctionDef, Message, Role, Tool, ToolCall,
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    #[serde(default)]
    contents: Vec<InContent>,
    #[serde(default)]
    system_instruction: Option<InContent>,
    #[serde(default)]
    generation_config: Option<GenerationConfig>,
    #[serde(default)]
    tools: Vec<InTool>,
}

#[derive(Deserialize)]
struct InContent {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig {
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InTool {
    #[serde(default)]
    function_declarations: Vec<FunctionDef>,
}

impl InContent {
    fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect()
    }
}

/// One Gemini content as our messages: `functionResponse` parts become tool messages (the
/// function name stands in for the call id Gemini does not have), `functionCall` parts calls.
fn convert(c: &InContent, out: &mut Vec<Message>) -> Result<(), WireError> {
    let role = match c.role.as_deref() {
        None | Some("user") => Role::User,
        Some("model") => Role::Assistant,
        Some(other) => {
            return Err(WireError::bad_request(format!(
                "contents: unexpected role \"{other}\""
            )))
        }
    };
    let mut msg = Message::new(role, c.text());
    for p in &c.parts {
        if let Some(call) = p.get("functionCall") {
            let name = call["name"].as_str().unwrap_or_default();
            msg.tool_calls.push(ToolCall {
                id: name.into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: name.into(),
                    arguments: call["args"].to_string(),
                },
            });
        } else if let Some(resp) = p.get("functionResponse") {
            let mut tool = Message::new(Role::Tool, resp["response"].to_string());
            tool.tool_call_id = Some(resp["name"].as_str().unwrap_or_default().into());
            out.push(tool);
        }
    }
    if !msg.text().is_empty() || !msg.tool_calls.is_empty() {
        out.push(msg);
    }
    Ok(())
}

pub(crate) fn parse(body: &[u8], model: &str, stream: bool) -> Result<Parsed, WireError> {
    let r: Request = serde_json::from_slice(body)
        .map_err(|e| WireError::bad_request(format!("Invalid JSON payload received. {e}")))?;
    if r.contents.is_empty() {
        return Err(WireError::bad_request(
            "* GenerateContentRequest.contents: contents is not specified",
        ));
    }
    let mut messages = Vec::with_capacity(r.contents.len() + 1);
    if let Some(s) = &r.system_instruction {
        messages.push(Message::new(Role::System, s.text()));
    }
    for c in &r.contents {
        convert(c, &mut messages)?;
    }
    let config = r.generation_config.unwrap_or(GenerationConfig {
        temperature: None,
        top_p: None,
        max_output_tokens: None,
    });
    let request = ChatRequest {
        model: model.to_string(),
        messages,
        max_tokens: config.max_output_tokens,
        temperature: config.temperature,
        top_p: config.top_p,
        tools: r
            .tools
            .into_iter()
            .flat_map(|t| t.function_declarations)
            .map(|function| Tool {
                kind: "function".into(),
                function,
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
        stream,
        include_usage: false,
    })
}

fn finish_reason(r: &ChatResponse) -> String {
    match r.finish_reason.as_deref() {
        None | Some("stop") | Some("tool_calls") => "STOP".into(),
        Some("length") => "MAX_TOKENS".into(),
        Some("content_filter") => "SAFETY".into(),
        Some(other) => other.to_ascii_uppercase(),
    }
}

fn usage_metadata(prompt: u64, candidates: Option<u64>) -> Value {
    match candidates {
        Some(c) => {
            json!({"promptTokenCount": prompt, "candidatesTokenCount": c, "totalTokenCount": prompt + c})
        }
        None => json!({"promptTokenCount": prompt, "totalTokenCount": prompt}),
    }
}

/// One GenerateContentResponse; `finish` and `candidates_tokens` only on the last one.
fn response(r: &ChatResponse, parts: Vec<Value>, finish: bool) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if finish {
        candidate["finishReason"] = json!(finish_reason(r));
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage_metadata(r.usage.prompt_tokens, finish.then_some(r.usage.completion_tokens)),
        "modelVersion": r.model,
        "responseId": r.id,
    })
}

fn call_part(name: &str, arguments: &str) -> Value {
    json!({"functionCall": {"name": name, "args": arguments_value(arguments)}})
}

pub(crate) fn render(r: &ChatResponse) -> Vec<u8> {
    let mut parts = Vec::with_capacity(1 + r.tool_calls.len());
    if !r.content.is_empty() || r.tool_calls.is_empty() {
        parts.push(json!({"text": r.content}));
    }
    parts.extend(
        r.tool_calls
            .iter()
            .map(|c| call_part(&c.function.name, &c.function.arguments)),
    );
    to_json(&response(r, parts, true))
}

/// Gemini streams whole responses, each with the new text; the last carries the finish
/// reason and full usage. With `alt=sse` each is an SSE `data:` event, else an element of
/// one JSON array.
pub(crate) fn render_stream(
    r: &ChatResponse,
    chunks: &[ChatChunk],
    sse_framing: bool,
) -> Vec<Bytes> {
    let mut bodies: Vec<Value> = Vec::with_capacity(chunks.len() + 1);
    for c in chunks {
        let mut parts: Vec<Value> = Vec::new();
        if !c.delta.is_empty() {
            parts.push(json!({"text": c.delta}));
        }
        parts.extend(
            c.tool_calls
                .iter()
                .map(|t| call_part(t.name.as_deref().unwrap_or_default(), &t.arguments)),
        );
        if !parts.is_empty() {
            bodies.push(response(r, parts, false));
        }
    }
    bodies.push(response(r, vec![json!({"text": ""})], true));
    if sse_framing {
        return bodies.iter().map(|b| sse(None, b)).collect();
    }
    let last = bodies.len() - 1;
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut piece = if i == 0 {
                b"[".to_vec()
            } else {
                b",\r\n".to_vec()
            };
            piece.extend_from_slice(&to_json(b));
            if i == last {
                piece.push(b']');
            }
            Bytes::from(piece)
        })
        .collect()
}

/// `{"error": {"code", "message", "status"}}` with Google's status names.
pub(crate) fn error(status: u16, message: &str) -> Vec<u8> {
    let name = match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        500..=599 => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    };
    to_json(&json!({"error": {"code": status, "message": message, "status": name}}))
}
