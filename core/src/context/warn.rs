//! `warn_if_too_large`: what in a request is likely to fail, be cut short or cost more than it
//! needs to, before it is sent. Each warning has a stable code:
//!
//! | code | when | `tokens` | `limit` |
//! |---|---|---|---|
//! | `over_window` | prompt + `max_tokens` (0 when absent) > the window | prompt + max_tokens | window |
//! | `near_window` | not over, but > 90% of the window | prompt + max_tokens | 90% of the window |
//! | `output_reserve_missing` | no `max_tokens`, not over, and the room left in the window is under the model's max output capped at 4,096 | room left | that reserve |
//! | `large_image` | a base64 image whose size (from its header) costs over 1,000 tokens at the model's provider | its tokens | 1,000 |
//! | `large_tool_schema` | one tool definition over 1,000 tokens | its tokens | 1,000 |
//! | `under_cache_minimum` | OpenAI: the prompt is 75–100% of the 1,024-token cache minimum; Anthropic: a `cache_control` breakpoint's prefix is under the model's minimum (it caches nothing) | prompt / prefix | the minimum |
//! | `volatile_before_cache_breakpoint` | Anthropic: a timestamp, date, clock time, Unix time or UUID in content at or before the last `cache_control` breakpoint (a new cache entry every call) | the prefix at that breakpoint | `null` |
//!
//! The request is read in any provider's shape: `messages` (or Gemini's `contents`),
//! `system` (or `systemInstruction`), `tools`, and `max_tokens` / `max_completion_tokens` /
//! `max_output_tokens` / `generationConfig.maxOutputTokens`. The prompt is counted in prefix
//! order (tools, system, messages) with the model's encoding, as [`super::prune`] counts, with
//! images sized from their bytes where they carry them; models of other families are
//! estimates. `path` says where (`tools[2]`, `messages[3].content[1]`), or is `null`.

use super::count::{block_tokens, message_tokens_cached, IMAGE_TOKENS};
use super::image;
use super::prioritize::text_of;
use super::prune::REPLY_PRIMING;
use crate::registry::{Model, Registry};
use crate::tokens::messages::encoding_for_model;
use crate::tokens::Encoding;
use crate::{Error, Result};
use regex::Regex;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::LazyLock;

/// Past this share of the window (in tenths), `near_window`.
const NEAR_WINDOW_TENTHS: u64 = 9;
/// The most of a model's max output that `output_reserve_missing` asks to keep free.
const OUTPUT_RESERVE_CAP: u64 = 4_096;
/// An image or a tool definition costing more than this is `large_*`.
const LARGE_IMAGE_TOKENS: u64 = 1_000;
const LARGE_TOOL_SCHEMA_TOKENS: u64 = 1_000;
/// Base64 read to find an image's size (headers come first; JPEG's may follow EXIF data).
const IMAGE_HEADER_BYTES: usize = 256 * 1024;

/// The smallest prompt prefix a provider caches for `m`: the registry's per-model number.
fn cache_min_tokens(m: &Model) -> Option<u64> {
    m.cache_min_tokens.map(u64::from)
}

/// Content that changes from call to call: UUIDs, ISO dates and times, clock times with
/// seconds, Unix times (seconds or milliseconds, 2017–2033).
static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        r"|\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?",
        r"|\b[0-9]{4}/[0-9]{2}/[0-9]{2}\b",
        r"|\b[0-9]{1,2}:[0-9]{2}:[0-9]{2}\b",
        r"|\b1[5-9][0-9]{8}(?:[0-9]{3})?\b",
    ))
    .expect("a valid pattern")
});

/// What a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    OverWindow,
    NearWindow,
    OutputReserveMissing,
    LargeImage,
    LargeToolSchema,
    UnderCacheMinimum,
    VolatileBeforeCacheBreakpoint,
}

impl WarningCode {
    pub fn code(self) -> &'static str {
        match self {
            WarningCode::OverWindow => "over_window",
            WarningCode::NearWindow => "near_window",
            WarningCode::OutputReserveMissing => "output_reserve_missing",
            WarningCode::LargeImage => "large_image",
            WarningCode::LargeToolSchema => "large_tool_schema",
            WarningCode::UnderCacheMinimum => "under_cache_minimum",
            WarningCode::VolatileBeforeCacheBreakpoint => "volatile_before_cache_breakpoint",
        }
    }
}

/// One warning: a stable `code`, a sentence, the figure measured and what it was held against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
    pub tokens: u64,
    pub limit: Option<u64>,
    /// Where in the request (`messages[3].content[1]`, `tools[0]`), when it is one place.
    pub path: Option<String>,
}

/// A piece of the prompt in prefix order: a tool, a system block, a message or one of its
/// content blocks (the first block of a message carries the message's own overhead).
struct Segment {
    path: String,
    tokens: u64,
    text: String,
    breakpoint: bool,
}

/// An image the request carries the bytes of, sized.
struct SizedImage {
    path: String,
    tokens: u64,
}

/// The warnings for `request` sent to `model` (default: the request's `model`).
pub fn warn_if_too_large(
    registry: &Registry,
    request: &Value,
    model: Option<&str>,
) -> Result<Vec<Warning>> {
    let bad = |path: &str, what: &str| {
        Error::invalid_input(format!("request: {path}: {what}"))
            .with_details(json!({ "path": path }))
    };
    let obj = request
        .as_object()
        .ok_or_else(|| bad("request", "expected an object"))?;
    let model = match model.or_else(|| obj.get("model").and_then(Value::as_str)) {
        Some(m) => m,
        None => {
            return Err(bad(
                "model",
                "expected a model name (or the request's 'model')",
            ))
        }
    };
    let m = registry.get(model)?;
    let (enc, _) = encoding_for_model(registry, model)?;
    let provider = m.provider.as_str();
    let (messages_key, messages) = match (obj.get("messages"), obj.get("contents")) {
        (Some(v), _) => ("messages", v),
        (None, Some(v)) => ("contents", v),
        (None, None) => (
            "messages",
            &Value::Null, // a request of tools and system only is counted as such
        ),
    };
    let messages: &[Value] = match messages {
        Value::Array(list) => list,
        Value::Null => &[],
        _ => return Err(bad(messages_key, "expected a list of messages")),
    };
    let tools: &[Value] = match obj.get("tools") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("tools", "expected a list of tools")),
    };

    let mut segments: Vec<Segment> = Vec::new();
    let mut images: Vec<SizedImage> = Vec::new();
    let mut warnings: Vec<Warning> = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let mut bare = tool.clone();
        if let Some(o) = bare.as_object_mut() {
            o.remove("cache_control");
        }
        let tokens = enc.count(&bare.to_string()) as u64;
        let path = format!("tools[{i}]");
        if tokens > LARGE_TOOL_SCHEMA_TOKENS {
            warnings.push(Warning {
                code: WarningCode::LargeToolSchema,
                message: format!(
                    "{path}: its definition is {tokens} tokens, sent with every call; over {LARGE_TOOL_SCHEMA_TOKENS}"
                ),
                tokens,
                limit: Some(LARGE_TOOL_SCHEMA_TOKENS),
                path: Some(path.clone()),
            });
        }
        segments.push(Segment {
            path,
            tokens,
            text: text_of(tool),
            breakpoint: tool.get("cache_control").is_some(),
        });
    }
    let system = match (obj.get("system"), obj.get("systemInstruction")) {
        (Some(s), _) if !s.is_null() => Some(("system", json!({"role": "system", "content": s}))),
        (_, Some(s)) if !s.is_null() => {
            let parts = s.get("parts").cloned().unwrap_or_else(|| s.clone());
            Some((
                "systemInstruction",
                json!({"role": "system", "parts": parts}),
            ))
        }
        _ => None,
    };
    if let Some((path, msg)) = &system {
        split(enc, provider, msg, path, true, &mut segments, &mut images);
    }
    for (i, msg) in messages.iter().enumerate() {
        if !msg.is_object() {
            return Err(bad(
                &format!("{messages_key}[{i}]"),
                "expected a message object",
            ));
        }
        let path = format!("{messages_key}[{i}]");
        split(enc, provider, msg, &path, false, &mut segments, &mut images);
    }

    let prompt = REPLY_PRIMING + segments.iter().map(|s| s.tokens).sum::<u64>();
    let window = m.context_window;
    let max_output = [
        obj.get("max_tokens"),
        obj.get("max_completion_tokens"),
        obj.get("max_output_tokens"),
        obj.get("generationConfig")
            .and_then(|g| g.get("maxOutputTokens")),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_u64);
    let needed = prompt + max_output.unwrap_or(0);
    let asked = match max_output {
        Some(n) => format!("{prompt} prompt tokens + max_tokens {n}"),
        None => format!("{prompt} prompt tokens"),
    };
    let near = window / 10 * NEAR_WINDOW_TENTHS + window % 10 * NEAR_WINDOW_TENTHS / 10;
    let mut head: Vec<Warning> = Vec::new();
    if needed > window {
        head.push(Warning {
            code: WarningCode::OverWindow,
            message: format!("{asked} = {needed}, over {}'s window of {window}", m.id),
            tokens: needed,
            limit: Some(window),
            path: None,
        });
    } else if needed > near {
        head.push(Warning {
            code: WarningCode::NearWindow,
            message: format!(
                "{asked} = {needed}, over 90% of {}'s window of {window}",
                m.id
            ),
            tokens: needed,
            limit: Some(near),
            path: None,
        });
    }
    let reserve = m.max_output_tokens.min(OUTPUT_RESERVE_CAP);
    let room = window.saturating_sub(prompt);
    if max_output.is_none() && needed <= window && room < reserve {
        head.push(Warning {
            code: WarningCode::OutputReserveMissing,
            message: format!(
                "no max_tokens, and only {room} tokens of {}'s window are left for the answer (fewer than {reserve}): it may be cut short",
                m.id
            ),
            tokens: room,
            limit: Some(reserve),
            path: None,
        });
    }
    warnings.splice(0..0, head);
    for img in images.iter().filter(|i| i.tokens > LARGE_IMAGE_TOKENS) {
        warnings.push(Warning {
            code: WarningCode::LargeImage,
            message: format!(
                "{}: an image costing about {} tokens at {provider}, over {LARGE_IMAGE_TOKENS}: send it smaller or at low detail",
                img.path, img.tokens
            ),
            tokens: img.tokens,
            limit: Some(LARGE_IMAGE_TOKENS),
            path: Some(img.path.clone()),
        });
    }
    cache_warnings(&m, prompt, obj, &segments, &mut warnings);
    Ok(warnings)
}

/// `msg` as segments: one per content block (or Gemini part), else one for the message.
/// Images with bytes are sized and priced at `provider` instead of the flat count.
fn split(
    enc: Encoding,
    provider: &str,
    msg: &Value,
    path: &str,
    system: bool,
    segments: &mut Vec<Segment>,
    images: &mut Vec<SizedImage>,
) {
    let total = message_tokens_cached(enc, msg);
    let (key, blocks) = match (msg.get("content"), msg.get("parts")) {
        (Some(Value::Array(b)), _) => ("content", b.as_slice()),
        (_, Some(Value::Array(b))) => ("parts", b.as_slice()),
        _ => ("content", &[][..]),
    };
    // A top-level `system` list reads as `system[j]`, a message's block as
    // `messages[i].content[j]`, a Gemini part as `contents[i].parts[j]`.
    let block_path = |j: usize| match system && key == "content" {
        true => format!("{path}[{j}]"),
        false => format!("{path}.{key}[{j}]"),
    };
    let message_breakpoint = msg.get("cache_control").is_some();
    if blocks.is_empty() {
        segments.push(Segment {
            path: path.to_owned(),
            tokens: total,
            text: text_of(msg),
            breakpoint: message_breakpoint,
        });
        return;
    }
    let counted: Vec<u64> = blocks.iter().map(|b| block_tokens(enc, b)).collect();
    let overhead = total.saturating_sub(counted.iter().sum());
    for (j, b) in blocks.iter().enumerate() {
        let mut tokens = counted[j] + if j == 0 { overhead } else { 0 };
        // Images inside the block (an Anthropic tool_result holds its own blocks).
        let mut found: Vec<(String, &Value)> = Vec::new();
        images_in(b, block_path(j), &mut found);
        for (p, img) in found {
            let Some((data, low)) = image::payload(img) else {
                continue;
            };
            let bytes = image::decode_prefix(data, IMAGE_HEADER_BYTES);
            if let Some((w, h)) = image::dimensions(&bytes) {
                let t = image::tokens(provider, w, h, low);
                tokens = tokens.saturating_sub(IMAGE_TOKENS) + t;
                images.push(SizedImage { path: p, tokens: t });
            }
        }
        segments.push(Segment {
            path: block_path(j),
            tokens,
            text: text_of(b),
            breakpoint: b.get("cache_control").is_some()
                || (message_breakpoint && j + 1 == blocks.len()),
        });
    }
}

/// Image blocks in `v` (itself, or nested in a tool result's content), with their paths.
fn images_in<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    if image::is_image(v) {
        out.push((path, v));
        return;
    }
    if let Some(inner) = v.get("content").and_then(Value::as_array) {
        for (k, b) in inner.iter().enumerate() {
            images_in(b, format!("{path}.content[{k}]"), out);
        }
    }
}

/// `under_cache_minimum` and `volatile_before_cache_breakpoint`.
fn cache_warnings(
    m: &Model,
    prompt: u64,
    obj: &serde_json::Map<String, Value>,
    segments: &[Segment],
    warnings: &mut Vec<Warning>,
) {
    let min = cache_min_tokens(m);
    if m.provider == "openai" {
        // Automatic caching: a prompt a little short of the minimum misses it.
        if let Some(min) = min.filter(|&min| prompt < min && prompt * 4 >= min * 3) {
            warnings.push(Warning {
                code: WarningCode::UnderCacheMinimum,
                message: format!(
                    "{prompt} prompt tokens, just under the {min} that {}'s prompt cache starts at",
                    m.id
                ),
                tokens: prompt,
                limit: Some(min),
                path: None,
            });
        }
        return;
    }
    if m.provider != "anthropic" {
        return;
    }
    // Breakpoints: each marked block, and the last block when the request asks for automatic
    // caching (a top-level `cache_control`).
    let automatic = obj.get("cache_control").is_some_and(|v| !v.is_null());
    let mut prefix = 0u64;
    let mut breakpoints: Vec<(usize, u64)> = Vec::new();
    for (k, s) in segments.iter().enumerate() {
        prefix += s.tokens;
        if s.breakpoint || (automatic && k + 1 == segments.len()) {
            breakpoints.push((k, prefix));
        }
    }
    if let Some(min) = min {
        for &(k, tokens) in breakpoints.iter().filter(|(_, t)| *t < min) {
            warnings.push(Warning {
                code: WarningCode::UnderCacheMinimum,
                message: format!(
                    "the cache breakpoint at {} closes a prefix of {tokens} tokens, under {}'s minimum of {min}: nothing is cached there",
                    segments[k].path, m.id
                ),
                tokens,
                limit: Some(min),
                path: Some(segments[k].path.clone()),
            });
        }
    }
    let Some(&(last, cached)) = breakpoints.last() else {
        return;
    };
    for s in &segments[..=last] {
        if let Some(found) = VOLATILE.find(&s.text) {
            warnings.push(Warning {
                code: WarningCode::VolatileBeforeCacheBreakpoint,
                message: format!(
                    "{} holds '{}', which looks like it changes per call, before the cache breakpoint at {}: the {cached}-token prefix would be written again every time",
                    s.path,
                    found.as_str(),
                    segments[last].path
                ),
                tokens: cached,
                limit: None,
                path: Some(s.path.clone()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(w: &[Warning]) -> Vec<&'static str> {
        w.iter().map(|w| w.code.code()).collect()
    }

    fn warn(req: Value) -> Vec<Warning> {
        warn_if_too_large(&crate::registry::global(), &req, None).unwrap()
    }

    #[test]
    fn window_warnings() {
        let big = "word ".repeat(125_000);
        let w =
            warn(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]}));
        assert_eq!(codes(&w), ["near_window", "output_reserve_missing"]);
        assert_eq!(w[0].limit, Some(115_200));
        let w = warn(
            json!({"model": "gpt-4o-mini", "max_tokens": 16_000, "messages": [{"role": "user", "content": big}]}),
        );
        assert_eq!(codes(&w), ["over_window"]);
        assert_eq!(
            (w[0].tokens, w[0].limit),
            (125_000 + 8 + 16_000, Some(128_000))
        );
        let w =
            warn(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn cache_minimums_and_volatile_content() {
        let text = "word ".repeat(900);
        let w =
            warn(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}));
        assert_eq!(codes(&w), ["under_cache_minimum"]);
        assert_eq!(w[0].limit, Some(1_024));
        let req = json!({"model": "claude-haiku-4-5", "max_tokens": 100,
            "system": [{"type": "text", "text": format!("Now: 2026-12-05T01:23:37Z. {text}"),
                        "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}]});
        let w = warn(req);
        assert_eq!(
            codes(&w),
            ["under_cache_minimum", "volatile_before_cache_breakpoint"]
        );
        assert_eq!(w[0].path.as_deref(), Some("system[0]"));
        assert_eq!(
            w[0].limit,
            Some(4_096),
            "claude-haiku-4-5's minimum in the registry"
        );
        assert!(w[1].message.contains("2026-12-05T01:23:37Z"));
        // After the breakpoint, volatile content is fine.
        let req = json!({"model": "claude-sonnet-4-5", "max_tokens": 100,
            "system": [{"type": "text", "text": format!("{text}{text}"), "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "request 4f1c2a9e-1b2c-4d3e-8f90-123456789abc"}]});
        assert!(warn(req).is_empty());
    }

    #[test]
    fn images_and_tools() {
        let png = {
            let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            b.extend(2000u32.to_be_bytes());
            b.extend(4000u32.to_be_bytes());
            b.extend([8, 6, 0, 0, 0]);
            b
        };
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b64: String = png
            .chunks(3)
            .flat_map(|c| {
                let n = c
                    .iter()
                    .enumerate()
                    .fold(0u32, |a, (i, &x)| a | u32::from(x) << (16 - 8 * i));
                (0..=c.len()).map(move |k| A[(n >> (18 - 6 * k) & 63) as usize] as char)
            })
            .collect();
        let schema: Value = (0..200)
            .map(|i| {
                (
                    format!("field_{i}"),
                    json!({"type": "string", "description": "a field"}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        let req = json!({"model": "gpt-4o", "max_tokens": 500,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": schema}}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{b64}")}}]}]});
        let w = warn(req);
        assert_eq!(codes(&w), ["large_tool_schema", "large_image"]);
        assert_eq!(w[1].path.as_deref(), Some("messages[0].content[1]"));
        assert_eq!(w[1].tokens, 1105);
    }

    #[test]
    fn bad_requests() {
        let reg = crate::registry::global();
        let e = warn_if_too_large(&reg, &json!({"messages": []}), None).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::InvalidInput);
        let e = warn_if_too_large(&reg, &json!({"messages": 3}), Some("gpt-4o")).unwrap_err();
        assert_eq!(e.details.unwrap()["path"], "messages");
        let e = warn_if_too_large(&reg, &json!({}), Some("gpt-9-nope")).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::NotFound);
    }
}
