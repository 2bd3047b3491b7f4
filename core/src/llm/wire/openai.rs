//! OpenAI chat completions (and every OpenAI-compatible server).

use super::{json_event, malformed, stream_error, u64_at, Step};
use crate::error::{Error, ErrorKind, Result};
use crate::llm::sse::Event;
use crate::llm::types::{
    strip_cache_control, ChatChunk, ChatRequest, ChatResponse, Role, ToolCall, ToolCallDelta, Usage,
};
use serde_json::{json, Map, Value};

pub fn body(req: &ChatRequest, model: &str, stream: bool, strict_openai: bool) -> Value {
    let mut messages = serde_json::to_value(&req.messages).expect("messages serialize");
    // Anthropic's breakpoints: OpenAI caches prefixes by itself and rejects the unknown field.
    strip_cache_control(&mut messages);
    if !strict_openai {
        // Compatible servers (vLLM, Ollama, llama.cpp) know `system`, not `developer`.
        for (m, orig) in messages
            .as_array_mut()
            .into_iter()
            .flatten()
            .zip(&req.messages)
        {
            if orig.role == Role::Developer {
                m["role"] = json!("system");
            }
        }
    }
    let mut b = Map::new();
    b.insert("model".into(), json!(model));
    b.insert("messages".into(), messages);
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            b.insert(k.into(), v);
        }
    };
    put("temperature", req.temperature.map(|t| json!(t)));
    put("top_p", req.top_p.map(|t| json!(t)));
    let max_key = if strict_openai {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    put(max_key, req.max_tokens.map(|t| json!(t)));
    put("stop", (!req.stop.is_empty()).then(|| json!(req.stop)));
    put("seed", req.seed.map(|s| json!(s)));
    put(
        "response_format",
        req.response_format
            .as_ref()
            .map(|f| serde_json::to_value(f).expect("serializes")),
    );
    put(
        "tools",
        (!req.tools.is_empty()).then(|| {
            let mut tools = serde_json::to_value(&req.tools).expect("serializes");
            strip_cache_control(&mut tools);
            tools
        }),
    );
    put("tool_choice", req.tool_choice.clone());
    put("user", req.user.as_ref().map(|u| json!(u)));
    if stream {
        put("stream", Some(json!(true)));
        put("stream_options", Some(json!({ "include_usage": true })));
    }
    Value::Object(b)
}

pub fn usage(u: &Value) -> Usage {
    Usage {
        prompt_tokens: u64_at(&u["prompt_tokens"]),
        completion_tokens: u64_at(&u["completion_tokens"]),
        total_tokens: u64_at(&u["total_tokens"]),
        cached_tokens: u64_at(&u["prompt_tokens_details"]["cached_tokens"]),
        reasoning_tokens: u64_at(&u["completion_tokens_details"]["reasoning_tokens"]),
        ..Default::default()
    }
}

fn tool_calls(v: &Value) -> Result<Vec<ToolCall>> {
    match v {
        Value::Null => Ok(vec![]),
        v => serde_json::from_value(v.clone()).map_err(|e| malformed(&format!("tool_calls: {e}"))),
    }
}

pub fn parse(v: &Value) -> Result<ChatResponse> {
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(Error::new(
            ErrorKind::Provider,
            format!("provider error: {}", v["error"]),
        ));
    }
    let choice = v["choices"].get(0).ok_or_else(|| malformed("no choices"))?;
    let msg = &choice["message"];
    Ok(ChatResponse {
        id: v["id"].as_str().unwrap_or_default().to_string(),
        content: msg["content"].as_str().unwrap_or_default().to_string(),
        tool_calls: tool_calls(&msg["tool_calls"])?,
        finish_reason: choice["finish_reason"].as_str().map(str::to_string),
        usage: usage(&v["usage"]),
        model: v["model"].as_str().unwrap_or_default().to_string(),
        ..Default::default()
    })
}

pub fn stream_event(ev: &Event) -> Result<Step> {
    if ev.data.trim() == "[DONE]" {
        return Ok(Step {
            chunks: vec![],
            done: true,
        });
    }
    let v = json_event(ev)?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(stream_error(ErrorKind::Provider, &v["error"]));
    }
    let mut chunk = ChatChunk::default();
    if let Some(choice) = v["choices"].get(0) {
        let delta = &choice["delta"];
        chunk.delta = delta["content"].as_str().unwrap_or_default().to_string();
        for tc in delta["tool_calls"].as_array().into_iter().flatten() {
            chunk.tool_calls.push(ToolCallDelta {
                index: u64_at(&tc["index"]) as u32,
                id: tc["id"].as_str().map(str::to_string),
                name: tc["function"]["name"].as_str().map(str::to_string),
                arguments: tc["function"]["arguments"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        chunk.finish_reason = choice["finish_reason"].as_str().map(str::to_string);
    }
    if v["usage"].is_object() {
        chunk.usage = Some(usage(&v["usage"]));
    }
    let empty = chunk == ChatChunk::default();
    Ok(Step {
        chunks: if empty { vec![] } else { vec![chunk] },
        done: false,
    })
}
