//! Chat messages counted the way OpenAI documents for its chat models: 3 tokens per
//! message (4 for Llama 3 and Gemma templates), the role, the content, 1 more for a `name`,
//! and 3 to prime the reply. Open families count with their own tokenizer once installed;
//! until then, and for Claude, the result says it is an estimate.

use super::encoding::Encoding;
use crate::error::{Error, Result};
use crate::registry::Registry;
use serde::Serialize;
use serde_json::Value;

const TOKENS_PER_NAME: usize = 1;
const REPLY_PRIMING: usize = 3;
/// OpenAI's cost of a low-detail image; larger images cost more, so images make an estimate.
const IMAGE_TOKENS: usize = 85;

/// A count with what it was counted with and whether it is exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCount {
    pub tokens: usize,
    pub encoding: &'static str,
    /// True when the model's own tokenizer is not the one counted with, or images were priced.
    pub estimated: bool,
    pub model: Option<String>,
}

/// Which encoding counts for `model`, and whether that count is exact.
pub fn encoding_for_model(registry: &Registry, model: &str) -> Result<(Encoding, bool)> {
    let m = registry.get(model)?;
    Ok(encoding_for_tokenizer(&m.tokenizer, &m.id))
}

/// A registry `tokenizer` value's encoding: exact OpenAI ones, an open family when its file is
/// installed (loading it on first use), Claude's calibrated estimate, else an OpenAI estimate.
pub fn encoding_for_tokenizer(tokenizer: &str, model_id: &str) -> (Encoding, bool) {
    match tokenizer {
        "o200k_base" => (Encoding::O200kBase, false),
        "cl100k_base" => (Encoding::Cl100kBase, false),
        "anthropic" | "claude" => match super::claude::Generation::of_model(model_id) {
            super::claude::Generation::Claude3 => (Encoding::Claude, true),
            super::claude::Generation::Claude47 => (Encoding::Claude47, true),
        },
        other => match super::Family::from_name(other) {
            Some(f) if f.tokenizer().is_some() => (Encoding::of_family(f), false),
            Some(super::Family::Gemma3) => (Encoding::O200kBase, true),
            _ => (Encoding::Cl100kBase, true),
        },
    }
}

/// Resolves the `(model, encoding)` pair every counting API takes: an explicit encoding wins,
/// a model is looked up in the registry, neither means `o200k_base`.
pub fn resolve(
    registry: &Registry,
    model: Option<&str>,
    encoding: Option<&str>,
) -> Result<(Encoding, bool)> {
    match (encoding, model) {
        (Some(e), _) => {
            let enc = Encoding::from_name(e)?;
            Ok((enc, !enc.is_exact()))
        }
        (None, Some(m)) => encoding_for_model(registry, m),
        (None, None) => Ok((Encoding::O200kBase, false)),
    }
}

/// Counts a list of chat messages (`[{role, content, name?}]`, content a string or a list of
/// `{type: "text", text}` / `{type: "image_url", ...}` parts) for `model`.
pub fn count_messages(registry: &Registry, messages: &Value, model: &str) -> Result<TokenCount> {
    let (enc, mut estimated) = encoding_for_model(registry, model)?;
    let list = messages
        .as_array()
        .ok_or_else(|| Error::invalid_input("messages: expected a list of message objects"))?;
    let mut tokens = REPLY_PRIMING;
    for (i, msg) in list.iter().enumerate() {
        let bad = |field: &str, what: &str| {
            Error::invalid_input(format!("messages[{i}]{field}: {what}"))
                .with_details(serde_json::json!({ "path": format!("messages[{i}]{field}") }))
        };
        let obj = msg
            .as_object()
            .ok_or_else(|| bad("", "expected an object"))?;
        let role = obj
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(".role", "expected a string"))?;
        tokens += enc.message_overhead() + enc.count(role);
        match obj.get("content") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => tokens += enc.count(s),
            Some(Value::Array(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    let field = format!(".content[{j}]");
                    match part.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let text = part.get("text").and_then(Value::as_str);
                            tokens +=
                                enc.count(text.ok_or_else(|| {
                                    bad(&field, "text part without a 'text' string")
                                })?);
                        }
                        Some("image_url") | Some("image") | Some("input_image") => {
                            tokens += IMAGE_TOKENS;
                            estimated = true;
                        }
                        _ => {
                            return Err(bad(
                                &field,
                                "expected a part with type 'text' or 'image_url'",
                            ))
                        }
                    }
                }
            }
            Some(_) => return Err(bad(".content", "expected a string or a list of parts")),
        }
        match obj.get("name") {
            None | Some(Value::Null) => {}
            Some(Value::String(n)) => tokens += TOKENS_PER_NAME + enc.count(n),
            Some(_) => return Err(bad(".name", "expected a string")),
        }
        if let Some(calls) = obj.get("tool_calls").filter(|v| !v.is_null()) {
            // The wire format of tool calls inside the prompt is undocumented: count their JSON.
            tokens += enc.count(&calls.to_string());
            estimated = true;
        }
    }
    Ok(TokenCount {
        tokens,
        encoding: enc.name(),
        estimated,
        model: Some(model.to_string()),
    })
}
