//! Prompt optimisation (seed 004's `PromptOptimizer`): fewer tokens for the same prompt.
//!
//! - [`optimize_for_cost`] (and `_latency`, `_quality`, which run the same passes today):
//!   lossless passes over a prompt or a conversation (`lossless.rs` and `dedup.rs` list them).
//!   Numbers, URLs, code fences, quoted strings, inline code and `{{templates}}` keep their
//!   bytes; the output is a function of the input alone, and running it again changes nothing.
//! - [`optimize_for_model`]: the same, laid out for the model's prompt cache (`layout.rs`).
//! - [`compress`]: a lossy tier that fits a token target (`compress.rs`).
//!
//! Every call reports tokens before and after with the model's counter (exact for OpenAI
//! encodings, an estimate, marked so, for other families), as `context` counts them.

mod compress;
mod dedup;
mod layout;
mod lossless;
pub mod protect;

pub use compress::{compress, compress_with, Compressed, DropReason, Dropped};
pub use dedup::is_reference;
pub use layout::{optimize_for_model, Breakpoint, Caching, Layout};
pub use lossless::Passes;

use crate::context::count::message_tokens_cached;
use crate::context::prune::REPLY_PRIMING;
use crate::registry::Registry;
use crate::tokens::{resolve, Encoding};
use crate::{Error, Result};
use dedup::Deduper;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A prompt: one text, or a conversation of chat messages (OpenAI, Anthropic or Gemini
/// shape). Bindings pass a string or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Messages(Vec<Value>),
}

impl Prompt {
    /// A prompt as bindings receive it, JSON: a string is a text, an array a conversation
    /// (each message an object). Anything else is `invalid_input`.
    pub fn from_json(value: Value) -> Result<Prompt> {
        match value {
            Value::String(t) => Ok(Prompt::Text(t)),
            Value::Array(m) => {
                check_messages(&m)?;
                Ok(Prompt::Messages(m))
            }
            other => Err(Error::invalid_input(format!(
                "prompt: expected a string or a list of messages, got {}",
                json_kind(&other)
            ))
            .with_details(serde_json::json!({ "path": "prompt" }))),
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// What the caller optimises for. All three run the lossless passes (the issue makes them
/// the default of every goal); the goal is reported so callers can tell calls apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    #[default]
    Cost,
    Latency,
    Quality,
}

impl Goal {
    /// `"cost"`, `"latency"` or `"quality"`; anything else is `invalid_input`.
    pub fn parse(name: &str) -> Result<Goal> {
        serde_json::from_value(Value::String(name.to_string())).map_err(|_| {
            Error::invalid_input(format!(
                "goal: unknown value '{name}' (expected cost, latency or quality)"
            ))
        })
    }
}

/// An optimised prompt and what it saved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Optimized {
    pub prompt: Prompt,
    pub goal: Goal,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub encoding: &'static str,
    /// True when the model's own tokenizer is not the one counted with.
    pub estimated: bool,
    /// Names of the passes that changed something.
    pub applied: Vec<&'static str>,
    pub passes: Passes,
}

/// The lossless passes over `prompt`, counted for `model` (`None`: `o200k_base`).
pub fn optimize(
    registry: &Registry,
    prompt: &Prompt,
    model: Option<&str>,
    goal: Goal,
) -> Result<Optimized> {
    let (enc, estimated) = resolve(registry, model, None)?;
    let tokens_before = count(enc, prompt);
    let (out, passes) = match prompt {
        Prompt::Text(t) => {
            let (t, p) = lossless_text(t);
            (Prompt::Text(t), p)
        }
        Prompt::Messages(m) => {
            let (m, p) = lossless_messages(m)?;
            (Prompt::Messages(m), p)
        }
    };
    Ok(Optimized {
        tokens_after: count(enc, &out),
        prompt: out,
        goal,
        tokens_before,
        encoding: enc.name(),
        estimated,
        applied: passes.applied(),
        passes,
    })
}

/// `optimizeForCost`: the lossless passes.
pub fn optimize_for_cost(
    registry: &Registry,
    prompt: &Prompt,
    model: Option<&str>,
) -> Result<Optimized> {
    optimize(registry, prompt, model, Goal::Cost)
}

/// `optimizeForLatency`: the lossless passes (fewer input tokens is also less prefill).
pub fn optimize_for_latency(
    registry: &Registry,
    prompt: &Prompt,
    model: Option<&str>,
) -> Result<Optimized> {
    optimize(registry, prompt, model, Goal::Latency)
}

/// `optimizeForQuality`: the lossless passes (nothing the model needs is removed).
pub fn optimize_for_quality(
    registry: &Registry,
    prompt: &Prompt,
    model: Option<&str>,
) -> Result<Optimized> {
    optimize(registry, prompt, model, Goal::Quality)
}

/// [`compress`] for a [`Prompt`] as bindings pass it: a text. A conversation is
/// `invalid_input` (fit one to a budget with `context::prune`, which keeps it valid for its
/// provider).
pub fn compress_prompt(
    registry: &Registry,
    prompt: &Prompt,
    target_tokens: u64,
    model: Option<&str>,
) -> Result<Compressed> {
    match prompt {
        Prompt::Text(t) => compress(registry, t, target_tokens, model),
        Prompt::Messages(_) => Err(Error::invalid_input(
            "prompt: compress takes a text; fit a conversation with prune_context",
        )
        .with_details(serde_json::json!({ "path": "prompt" }))),
    }
}

/// The lossless passes over one text, without counting.
pub fn lossless_text(text: &str) -> (String, Passes) {
    let mut passes = Passes::default();
    let lines = lossless::normalize(text, &mut passes);
    let out = Deduper::default().doc(None, lines, &mut passes);
    (out.join("\n"), passes)
}

/// The lossless passes over a conversation, without counting: every text of every message
/// (string content, text blocks and parts, tool results), repeats referring back across
/// messages. Thinking blocks (signed), tool calls, images and other fields are left alone.
pub fn lossless_messages(messages: &[Value]) -> Result<(Vec<Value>, Passes)> {
    check_messages(messages)?;
    let mut passes = Passes::default();
    let mut dedup = Deduper::default();
    let mut out = messages.to_vec();
    for (i, msg) in out.iter_mut().enumerate() {
        optimize_slots(msg, i, &mut dedup, &mut passes);
    }
    Ok((out, passes))
}

/// The lossless passes over the texts of `msg`, the `index`th message.
pub(crate) fn optimize_slots(
    msg: &mut Value,
    index: usize,
    dedup: &mut Deduper,
    passes: &mut Passes,
) {
    for path in text_slots(msg) {
        if let Some(Value::String(text)) = msg.pointer_mut(&path) {
            let lines = lossless::normalize(text, passes);
            *text = dedup.doc(Some(index + 1), lines, passes).join("\n");
        }
    }
}

pub(crate) fn check_messages(messages: &[Value]) -> Result<()> {
    match messages.iter().position(|m| !m.is_object()) {
        Some(i) => Err(
            Error::invalid_input(format!("messages[{i}]: expected an object"))
                .with_details(serde_json::json!({ "path": format!("messages[{i}]") })),
        ),
        None => Ok(()),
    }
}

const TEXT_TYPES: [&str; 3] = ["text", "input_text", "output_text"];

fn is_text_block(b: &Value) -> bool {
    b.get("text").is_some_and(Value::is_string)
        && b.get("type")
            .and_then(Value::as_str)
            .is_none_or(|t| TEXT_TYPES.contains(&t))
}

/// JSON pointers to the texts of a message, in order.
pub(crate) fn text_slots(msg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match msg.get("content") {
        Some(Value::String(_)) => out.push("/content".to_string()),
        Some(Value::Array(blocks)) => {
            for (i, b) in blocks.iter().enumerate() {
                if is_text_block(b) {
                    out.push(format!("/content/{i}/text"));
                } else if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                    match b.get("content") {
                        Some(Value::String(_)) => out.push(format!("/content/{i}/content")),
                        Some(Value::Array(inner)) => {
                            for (k, bb) in inner.iter().enumerate() {
                                if is_text_block(bb) {
                                    out.push(format!("/content/{i}/content/{k}/text"));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        _ => {}
    }
    // Gemini parts; thought summaries are left alone like thinking blocks.
    if let Some(Value::Array(parts)) = msg.get("parts") {
        for (i, p) in parts.iter().enumerate() {
            if p.get("text").is_some_and(Value::is_string)
                && p.get("thought") != Some(&Value::Bool(true))
            {
                out.push(format!("/parts/{i}/text"));
            }
        }
    }
    out
}

/// Tokens of `prompt`: a text's count, or a conversation's as `context` counts it.
pub(crate) fn count(enc: Encoding, prompt: &Prompt) -> u64 {
    match prompt {
        Prompt::Text(t) => enc.count(t) as u64,
        Prompt::Messages(m) => messages_tokens(enc, m),
    }
}

pub(crate) fn messages_tokens(enc: Encoding, messages: &[Value]) -> u64 {
    REPLY_PRIMING
        + messages
            .iter()
            .map(|msg| message_tokens_cached(enc, msg))
            .sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bindings_input_is_checked_with_stable_codes() {
        assert_eq!(
            Prompt::from_json(json!("hi")).unwrap(),
            Prompt::Text("hi".into())
        );
        let msgs = json!([{"role": "user", "content": "hi"}]);
        assert!(matches!(
            Prompt::from_json(msgs).unwrap(),
            Prompt::Messages(m) if m.len() == 1
        ));
        for bad in [
            json!(42),
            json!(null),
            json!({"role": "user"}),
            json!(["hi"]),
        ] {
            assert_eq!(Prompt::from_json(bad).unwrap_err().code(), "invalid_input");
        }
        assert_eq!(Goal::parse("latency").unwrap(), Goal::Latency);
        assert_eq!(Goal::parse("speed").unwrap_err().code(), "invalid_input");
        let reg = crate::registry::global();
        let conv = Prompt::Messages(vec![json!({"role": "user", "content": "hi"})]);
        let err = compress_prompt(&reg, &conv, 10, None).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        let text = Prompt::Text("Short.".into());
        assert!(compress_prompt(&reg, &text, 10, None).unwrap().lossless);
    }
}
