//! Tokens of one message in any provider's shape, with the model's encoding: OpenAI's
//! documented chat overhead (3 a message, 1 more for a name), the role, every text (content,
//! text blocks and parts, thinking), tool calls and results as their JSON, and images at 85
//! (OpenAI's low-detail price; larger ones cost more, so a count with images is an estimate).

use crate::tokens::Encoding;
use serde_json::Value;

const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_NAME: u64 = 1;
const IMAGE_TOKENS: u64 = 85;

/// Tokens of `msg` under `enc`.
pub fn message_tokens(enc: Encoding, msg: &Value) -> u64 {
    let text = |s: &str| enc.count(s) as u64;
    let mut n = TOKENS_PER_MESSAGE;
    if let Some(role) = msg.get("role").and_then(Value::as_str) {
        n += text(role);
    }
    if let Some(name) = msg.get("name").and_then(Value::as_str) {
        n += TOKENS_PER_NAME + text(name);
    }
    if let Some(c) = msg.get("content") {
        n += content_tokens(enc, c);
    }
    if let Some(parts) = msg.get("parts") {
        n += content_tokens(enc, parts);
    }
    if let Some(calls) = msg.get("tool_calls").filter(|v| !v.is_null()) {
        n += text(&calls.to_string());
    }
    n
}

fn content_tokens(enc: Encoding, c: &Value) -> u64 {
    let text = |s: &str| enc.count(s) as u64;
    match c {
        Value::String(s) => text(s),
        Value::Array(blocks) => blocks.iter().map(|b| block_tokens(enc, b)).sum(),
        Value::Null => 0,
        other => text(&other.to_string()),
    }
}

fn block_tokens(enc: Encoding, b: &Value) -> u64 {
    let text = |s: &str| enc.count(s) as u64;
    let kind = b.get("type").and_then(Value::as_str);
    match kind {
        Some("image_url" | "image" | "input_image") => IMAGE_TOKENS,
        Some("thinking") => b.get("thinking").and_then(Value::as_str).map_or(0, text),
        Some("tool_result") => b.get("content").map_or(0, |c| content_tokens(enc, c)),
        _ => match b.get("text").and_then(Value::as_str) {
            Some(t) if kind.is_none() || kind == Some("text") => text(t),
            // tool_use, functionCall, documents, ...: their JSON.
            _ => text(&b.to_string()),
        },
    }
}
