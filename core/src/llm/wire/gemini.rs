//! Google Gemini `generateContent` / `streamGenerateContent`.

use super::{json_event, malformed, stream_error, u64_at, Step};
use crate::error::{Error, ErrorKind, Result};
use crate::llm::sse::Event;
use crate::llm::types::{
    ChatChunk, ChatRequest, ChatResponse, Content, ContentPart, FunctionCall, Message,
    ResponseFormat, Role, ToolCall, ToolCallDelta, Usage,
};
use serde_json::{json, Map, Value};

fn parts(m: &Message) -> Vec<Value> {
    let mut out = Vec::new();
    match &m.content {
        Some(Content::Text(t)) if !t.is_empty() => out.push(json!({"text": t})),
        Some(Content::Parts(ps)) => {
            for p in ps {
                match p {
                    ContentPart::Text { text, .. } => out.push(json!({"text": text})),
                    ContentPart::ImageUrl { image_url, .. } => {
                        let url = &image_url.url;
                        match url
                            .strip_prefix("data:")
                            .and_then(|r| r.split_once(";base64,"))
                        {
                            Some((mime, data)) => {
                                out.push(json!({"inlineData": {"mimeType": mime, "data": data}}))
                            }
                            None => out.push(json!({"fileData": {"fileUri": url}})),
                        }
                    }
                }
            }
        }
        _ => {}
    }
    for tc in &m.tool_calls {
        let args: Value =
            serde_json::from_str(&tc.function.arguments).unwrap_or_else(|_| json!({}));
        out.push(json!({"functionCall": {"name": tc.function.name, "args": args}}));
    }
    out
}

/// The function name a tool result answers, found from the assistant call with that id.
fn tool_name(req: &ChatRequest, id: Option<&str>) -> String {
    req.messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|tc| Some(tc.id.as_str()) == id)
        .map(|tc| tc.function.name.clone())
        .unwrap_or_default()
}

pub fn body(req: &ChatRequest) -> Value {
    let mut contents = Vec::new();
    let mut system = Vec::new();
    for m in &req.messages {
        match m.role {
            Role::System | Role::Developer => system.push(json!({"text": m.text()})),
            Role::Tool => {
                let name = tool_name(req, m.tool_call_id.as_deref());
                let response: Value =
                    serde_json::from_str(&m.text()).unwrap_or_else(|_| json!({"result": m.text()}));
                contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": name, "response": response}}]}));
            }
            Role::Assistant => contents.push(json!({"role": "model", "parts": parts(m)})),
            Role::User => contents.push(json!({"role": "user", "parts": parts(m)})),
        }
    }
    let mut gen = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            gen.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(|t| json!(t)));
    put("topP", req.top_p.map(|t| json!(t)));
    put("maxOutputTokens", req.max_tokens.map(|t| json!(t)));
    put(
        "stopSequences",
        (!req.stop.is_empty()).then(|| json!(req.stop)),
    );
    put("seed", req.seed.map(|s| json!(s)));
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            put("responseMimeType", Some(json!("application/json")))
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            put("responseMimeType", Some(json!("application/json")));
            put(
                "responseJsonSchema",
                Some(
                    json_schema
                        .get("schema")
                        .cloned()
                        .unwrap_or_else(|| json_schema.clone()),
                ),
            );
        }
        _ => {}
    }
    let mut b = Map::new();
    b.insert("contents".into(), json!(contents));
    if !system.is_empty() {
        b.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !gen.is_empty() {
        b.insert("generationConfig".into(), Value::Object(gen));
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.function.name, "description": t.function.description, "parameters": t.function.parameters}))
            .collect();
        b.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
    }
    Value::Object(b)
}

fn finish(reason: &str) -> String {
    match reason {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => "content_filter",
        other => return other.to_ascii_lowercase(),
    }
    .to_string()
}

fn usage(u: &Value) -> Usage {
    Usage {
        prompt_tokens: u64_at(&u["promptTokenCount"]),
        completion_tokens: u64_at(&u["candidatesTokenCount"]) + u64_at(&u["thoughtsTokenCount"]),
        total_tokens: u64_at(&u["totalTokenCount"]),
        cached_tokens: u64_at(&u["cachedContentTokenCount"]),
        reasoning_tokens: u64_at(&u["thoughtsTokenCount"]),
        ..Default::default()
    }
}

/// Text and function calls of the first candidate; calls get ids `call_<n>` (Gemini has none).
fn candidate(v: &Value, first_call: usize) -> (String, Vec<ToolCall>, Option<String>) {
    let c = &v["candidates"][0];
    let mut text = String::new();
    let mut calls = Vec::new();
    for p in c["content"]["parts"].as_array().into_iter().flatten() {
        if p["thought"] == true {
            continue;
        }
        if let Some(t) = p["text"].as_str() {
            text.push_str(t);
        }
        if p["functionCall"].is_object() {
            calls.push(ToolCall {
                id: format!("call_{}", first_call + calls.len()),
                kind: "function".into(),
                function: FunctionCall {
                    name: p["functionCall"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    arguments: p["functionCall"]["args"].to_string(),
                },
            });
        }
    }
    (text, calls, c["finishReason"].as_str().map(finish))
}

pub fn parse(v: &Value) -> Result<ChatResponse> {
    if v["error"].is_object() {
        return Err(Error::new(
            ErrorKind::Provider,
            format!("provider error: {}", v["error"]),
        ));
    }
    if v["candidates"].get(0).is_none() {
        let reason = v["promptFeedback"]["blockReason"].as_str();
        return match reason {
            Some(r) => Ok(ChatResponse {
                finish_reason: Some(finish(r)),
                usage: usage(&v["usageMetadata"]),
                ..Default::default()
            }),
            None => Err(malformed("no candidates")),
        };
    }
    let (content, tool_calls, finish_reason) = candidate(v, 0);
    let finish_reason = if tool_calls.is_empty() {
        finish_reason
    } else {
        Some("tool_calls".into())
    };
    Ok(ChatResponse {
        id: v["responseId"].as_str().unwrap_or_default().to_string(),
        content,
        tool_calls,
        finish_reason,
        usage: usage(&v["usageMetadata"]),
        model: v["modelVersion"].as_str().unwrap_or_default().to_string(),
        ..Default::default()
    })
}

/// Each Gemini stream event is a whole response holding the next parts.
#[derive(Default)]
pub struct StreamState {
    calls: usize,
}

impl StreamState {
    pub fn event(&mut self, ev: &Event) -> Result<Step> {
        let v = json_event(ev)?;
        if v["error"].is_object() {
            return Err(stream_error(ErrorKind::Provider, &v["error"]));
        }
        let (delta, calls, finish_reason) = candidate(&v, self.calls);
        let mut chunk = ChatChunk {
            delta,
            finish_reason: finish_reason.clone(),
            ..Default::default()
        };
        for call in calls {
            chunk.tool_calls.push(ToolCallDelta {
                index: self.calls as u32,
                id: Some(call.id),
                name: Some(call.function.name),
                arguments: call.function.arguments,
            });
            self.calls += 1;
        }
        if self.calls > 0 && finish_reason.is_some() {
            chunk.finish_reason = Some("tool_calls".into());
        }
        if v["usageMetadata"].is_object() && finish_reason.is_some() {
            chunk.usage = Some(usage(&v["usageMetadata"]));
        }
        // Gemini has no end marker: the stream ends with the response body.
        Ok(Step {
            chunks: vec![chunk],
            done: false,
        })
    }
}
