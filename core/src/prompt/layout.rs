//! `optimize_for_model`: the lossless passes, then a layout for the model's prompt cache.
//!
//! Providers cache a prompt's longest byte-identical prefix, and only from the model's
//! minimum length on (`cache_min_tokens` in the registry; below it nothing is cached and
//! nothing says so). So:
//!
//! 1. Stable first, volatile last. A per-request metadata line (a label such as "Current
//!    date", "Today is", "Timestamp", "Request ID", "Session ID", "Generated at", then a value
//!    with a digit; at most 200 bytes; never in a code fence) in the leading system or
//!    developer messages, or in a plain prompt, moves after the rest of that text, in its
//!    order. For Anthropic it becomes a text block of its own, so a breakpoint can sit before
//!    it. Nothing else moves: other lines' order is meaning, and the history's order is the
//!    conversation.
//! 2. The stable prefix: a plain prompt less its moved lines; for a conversation, everything
//!    before the first volatile part (moved lines, else the last message).
//! 3. Anthropic (`cache_control` breakpoints, at most 4, each looking back at most 20 blocks
//!    for an earlier cache entry): one at the end of the stable system prompt, one at the end
//!    of the conversation (the next turn reads it), and, when more than 20 blocks lie between
//!    those two, rolling ones within 19 blocks of each other back from the end. Only where
//!    the prefix holds at least the model's minimum, never on a thinking block, and together
//!    with breakpoints already in the input never more than 4.
//! 4. Other providers cache automatically: the report says whether the stable prefix reaches
//!    the minimum. A model without a known minimum gets no breakpoints.
//!
//! Anthropic prefixes are counted with an OpenAI encoding (Claude has no public tokenizer);
//! Claude counts run above it, so a breakpoint placed on an estimate over the minimum is
//! over it in Claude's tokens too.

use super::dedup::Deduper;
use super::lossless::{self, Passes};
use super::protect::fence_lines;
use super::{check_messages, count, is_text_block, messages_tokens, optimize_slots, Prompt};
use crate::context::count::message_tokens;
use crate::registry::Registry;
use crate::tokens::{encoding_for_model, Encoding};
use crate::Result;
use regex::Regex;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::LazyLock;

/// Anthropic's rules: breakpoints per request, and blocks a breakpoint looks back.
const MAX_BREAKPOINTS: usize = 4;
const LOOKBACK_BLOCKS: usize = 20;
/// Longest line taken for per-request metadata.
const MAX_VOLATILE_LINE: usize = 200;

/// How the model's provider caches prompts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Caching {
    /// Explicit `cache_control` breakpoints (Anthropic).
    Breakpoints,
    /// Automatic prefix caching (OpenAI, Gemini).
    Automatic,
    /// No minimum in the registry: no caching, or not known.
    Unknown,
}

/// A `cache_control` breakpoint placed: a message's content block (0-based), or for a plain
/// prompt the byte offset where the cacheable prefix ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Breakpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Tokens of the prefix it closes (≥ the model's minimum).
    pub prefix_tokens: u64,
}

/// A prompt laid out for a model's cache, and what was done.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Layout {
    pub prompt: Prompt,
    pub model: String,
    pub provider: String,
    pub tokens_before: u64,
    pub tokens_after: u64,
    pub encoding: &'static str,
    pub estimated: bool,
    pub applied: Vec<&'static str>,
    pub passes: Passes,
    pub caching: Caching,
    pub cache_min_tokens: Option<u32>,
    pub stable_prefix_tokens: u64,
    /// Whether the stable prefix reaches the minimum (`None`: no minimum known).
    pub reaches_minimum: Option<bool>,
    pub breakpoints: Vec<Breakpoint>,
    /// `cache_control` marks the input already had (they count toward the 4).
    pub existing_breakpoints: usize,
    /// Per-request lines moved after the stable content.
    pub moved: Vec<String>,
}

static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^\s*(?:[-*•]\s+)?(?:\*\*|__)?(?:the\s+)?",
        r"(?:(?:current|today'?s?)(?:\s+(?:date|time|datetime|timestamp|date\s+and\s+time|local\s+time|utc\s+time))?",
        r"|today|now|date|time|datetime|timestamp|local\s+time|utc|",
        r"(?:request|session|trace|conversation|run|correlation)[\s_-]?id|generated(?:\s+(?:at|on))?|last\s+updated)",
        r"(?:\*\*|__)?\s*(?::|=|\bis\b)",
        r"|^\s*(?:[-*•]\s+)?as\s+of\s+\S*\d",
    ))
    .expect("valid regex")
});

fn is_volatile(line: &str) -> bool {
    line.len() <= MAX_VOLATILE_LINE
        && line.bytes().any(|b| b.is_ascii_digit())
        && VOLATILE.is_match(line)
}

/// `text` without its per-request lines (outside fences), and those lines.
fn split_volatile(text: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = text.split('\n').collect();
    let fence = fence_lines(&lines);
    let mut stable = Vec::with_capacity(lines.len());
    let mut moved = Vec::new();
    let mut ends_in_fence = false;
    for (line, &f) in lines.iter().zip(&fence) {
        if !f && is_volatile(line) {
            moved.push(line.trim().to_string());
        } else {
            stable.push(*line);
            ends_in_fence = f;
        }
    }
    if moved.is_empty() {
        return (text.to_string(), moved);
    }
    let mut stable = stable.join("\n");
    if !ends_in_fence {
        stable.truncate(stable.trim_end().len());
    }
    (stable, moved)
}

fn is_system(m: &Value) -> bool {
    matches!(
        m.get("role").and_then(Value::as_str),
        Some("system" | "developer")
    )
}

/// The lossless passes over `prompt`, laid out for `model`'s prompt cache.
pub fn optimize_for_model(registry: &Registry, prompt: &Prompt, model: &str) -> Result<Layout> {
    let m = registry.get(model)?;
    let (enc, estimated) = encoding_for_model(registry, model)?;
    let caching = match m.cache_min_tokens {
        None => Caching::Unknown,
        Some(_) if m.provider.eq_ignore_ascii_case("anthropic") => Caching::Breakpoints,
        Some(_) => Caching::Automatic,
    };
    let mut layout = Layout {
        prompt: prompt.clone(),
        model: m.id.clone(),
        provider: m.provider.clone(),
        tokens_before: count(enc, prompt),
        tokens_after: 0,
        encoding: enc.name(),
        estimated,
        applied: vec![],
        passes: Passes::default(),
        caching,
        cache_min_tokens: m.cache_min_tokens,
        stable_prefix_tokens: 0,
        reaches_minimum: None,
        breakpoints: vec![],
        existing_breakpoints: 0,
        moved: vec![],
    };
    match prompt {
        Prompt::Text(t) => text_layout(t, enc, &mut layout),
        Prompt::Messages(ms) => messages_layout(ms, enc, &mut layout)?,
    }
    layout.applied = layout.passes.applied();
    layout.reaches_minimum = m
        .cache_min_tokens
        .map(|min| layout.stable_prefix_tokens >= u64::from(min));
    Ok(layout)
}

fn text_layout(text: &str, enc: Encoding, layout: &mut Layout) {
    let passes = &mut layout.passes;
    let (stable_raw, moved) = split_volatile(text);
    let mut dedup = Deduper::default();
    let stable = dedup
        .doc(None, lossless::normalize(&stable_raw, passes), passes)
        .join("\n");
    let mut out = stable.clone();
    if !moved.is_empty() {
        let lines = lossless::normalize(&moved.join("\n"), passes);
        if !out.is_empty() {
            dedup.skip_lines(1);
            out.push_str("\n\n");
        }
        out.push_str(&dedup.doc(None, lines, passes).join("\n"));
    }
    layout.stable_prefix_tokens = enc.count(&stable) as u64;
    layout.tokens_after = enc.count(&out) as u64;
    if layout.caching == Caching::Breakpoints
        && !stable.is_empty()
        && layout.stable_prefix_tokens >= u64::from(layout.cache_min_tokens.unwrap_or(u32::MAX))
    {
        layout.breakpoints.push(Breakpoint {
            message: None,
            block: None,
            offset: Some(stable.len()),
            prefix_tokens: layout.stable_prefix_tokens,
        });
    }
    layout.moved = moved;
    layout.prompt = Prompt::Text(out);
}

/// Moves the per-request lines of a leading system message after its stable content.
/// Returns the lines and how the message reads without them (for counting the prefix).
fn move_volatile(msg: &mut Value, blocks: bool) -> (Vec<String>, Option<Value>) {
    let mut moved = Vec::new();
    let mut stable_msg = msg.clone();
    match msg.get_mut("content") {
        Some(Value::String(s)) => {
            let (stable, vol) = split_volatile(s);
            if vol.is_empty() {
                return (moved, None);
            }
            let tail = vol.join("\n");
            stable_msg["content"] = json!(stable);
            if blocks {
                let mut parts = vec![];
                if !stable.is_empty() {
                    parts.push(json!({"type": "text", "text": stable}));
                }
                parts.push(json!({"type": "text", "text": tail}));
                msg["content"] = Value::Array(parts);
            } else if stable.is_empty() {
                *s = tail;
            } else {
                *s = format!("{stable}\n\n{tail}");
            }
            moved = vol;
        }
        Some(Value::Array(parts)) => {
            for p in parts.iter_mut().filter(|p| is_text_block(p)) {
                let (stable, vol) = split_volatile(p["text"].as_str().unwrap_or_default());
                if !vol.is_empty() {
                    p["text"] = json!(stable);
                    moved.extend(vol);
                }
            }
            if moved.is_empty() {
                return (moved, None);
            }
            // Blocks left empty go (providers reject empty text blocks).
            parts.retain(|p| !is_text_block(p) || p["text"] != "");
            stable_msg["content"] = json!(parts.clone());
            parts.push(json!({"type": "text", "text": moved.join("\n")}));
        }
        _ => return (moved, None),
    }
    (moved, Some(stable_msg))
}

/// A place a breakpoint may go: the end of a message (or of a system prompt's stable part).
#[derive(Clone, Copy)]
struct Candidate {
    message: usize,
    block: usize,
    prefix: u64,
    /// Content blocks up to and including this one.
    blocks: usize,
    system: bool,
}

fn block_count(m: &Value) -> usize {
    let content = match m.get("content") {
        Some(Value::Array(a)) => a.len(),
        Some(Value::String(_)) => 1,
        _ => 0,
    };
    content
        + m.get("tool_calls")
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
}

/// The content block a breakpoint at the end of `m` would sit on.
fn last_block(m: &Value) -> Option<usize> {
    match m.get("content")? {
        Value::String(s) if !s.is_empty() => Some(0),
        Value::Array(a) => {
            let b = a.last()?;
            let kind = b.get("type").and_then(Value::as_str);
            (b.is_object() && !matches!(kind, Some("thinking" | "redacted_thinking")))
                .then(|| a.len() - 1)
        }
        _ => None,
    }
}

fn messages_layout(ms: &[Value], enc: Encoding, layout: &mut Layout) -> Result<()> {
    check_messages(ms)?;
    let blocks = layout.caching == Caching::Breakpoints;
    let mut msgs = ms.to_vec();
    let lead = msgs.iter().take_while(|m| is_system(m)).count();
    // The first leading system message with per-request lines, as it reads without them.
    let mut split: Option<(usize, Value)> = None;
    for (i, msg) in msgs.iter_mut().enumerate().take(lead) {
        let (moved, stable) = move_volatile(msg, blocks);
        layout.moved.extend(moved);
        if let (None, Some(s)) = (&split, stable) {
            split = Some((i, s));
        }
    }

    let mut dedup = Deduper::default();
    let passes = &mut layout.passes;
    for (i, msg) in msgs.iter_mut().enumerate() {
        let plain_split = split.as_ref().is_some_and(|(k, _)| *k == i) && !blocks;
        match msg.get_mut("content") {
            // Stable text, a blank line, the moved lines: two texts, lines counted on.
            Some(Value::String(s)) if plain_split => {
                let stable = split
                    .as_ref()
                    .map_or("", |(_, m)| m["content"].as_str().unwrap_or(""));
                let tail = s[stable.len()..].trim_start().to_string();
                let stable_out = dedup
                    .doc(Some(i + 1), lossless::normalize(stable, passes), passes)
                    .join("\n");
                let tail_lines = lossless::normalize(&tail, passes);
                let mut out = stable_out.clone();
                if !out.is_empty() {
                    dedup.skip_lines(1);
                    out.push_str("\n\n");
                }
                out.push_str(&dedup.doc(Some(i + 1), tail_lines, passes).join("\n"));
                *s = out;
                if let Some((_, m)) = split.as_mut() {
                    m["content"] = json!(stable_out);
                }
            }
            _ => optimize_slots(msg, i, &mut dedup, passes),
        }
    }
    if let Some((i, m)) = split.as_mut() {
        if blocks {
            // The stable blocks are the message's blocks but the last.
            let n = msgs[*i]["content"].as_array().map_or(0, Vec::len);
            m["content"] = json!(msgs[*i]["content"]
                .as_array()
                .map_or(&[][..], |a| &a[..n.saturating_sub(1)]));
        }
    }

    let tokens: Vec<u64> = msgs.iter().map(|m| message_tokens(enc, m)).collect();
    let before = |i: usize| tokens[..i].iter().sum::<u64>();
    layout.stable_prefix_tokens = match &split {
        Some((i, m)) => before(*i) + message_tokens(enc, m),
        None if msgs.len() >= 2 => before(msgs.len() - 1),
        None => 0,
    };
    // Counted before the marks: they are request metadata, not prompt text.
    layout.tokens_after = messages_tokens(enc, &msgs);
    if blocks {
        if let Some(min) = layout.cache_min_tokens {
            place_breakpoints(
                &mut msgs,
                &tokens,
                split.as_ref(),
                lead,
                u64::from(min),
                enc,
                layout,
            );
        }
    }
    layout.prompt = Prompt::Messages(msgs);
    Ok(())
}

fn place_breakpoints(
    msgs: &mut [Value],
    tokens: &[u64],
    split: Option<&(usize, Value)>,
    lead: usize,
    min: u64,
    enc: Encoding,
    layout: &mut Layout,
) {
    let mut cands = Vec::new();
    let (mut prefix, mut blocks) = (0, 0);
    for (i, m) in msgs.iter().enumerate() {
        match split {
            Some((k, stable)) if *k == i => {
                let n = block_count(stable);
                if n > 0 {
                    cands.push(Candidate {
                        message: i,
                        block: n - 1,
                        prefix: prefix + message_tokens(enc, stable),
                        blocks: blocks + n,
                        system: true,
                    });
                }
            }
            _ => {
                if let Some(b) = last_block(m) {
                    cands.push(Candidate {
                        message: i,
                        block: b,
                        prefix: prefix + tokens[i],
                        blocks: blocks + block_count(m),
                        system: i < lead && split.is_none(),
                    });
                }
            }
        }
        prefix += tokens[i];
        blocks += block_count(m);
    }
    let eligible: Vec<Candidate> = cands.into_iter().filter(|c| c.prefix >= min).collect();
    // In order of priority.
    let mut chosen: Vec<Candidate> = Vec::new();
    let sys = eligible.iter().rfind(|c| c.system).copied();
    chosen.extend(sys);
    if let Some(&last) = eligible.last() {
        if sys.is_none_or(|s| s.blocks != last.blocks) {
            chosen.push(last);
        }
        let floor = sys.map_or(0, |s| s.blocks);
        let mut anchor = last;
        while anchor.blocks - floor > LOOKBACK_BLOCKS && chosen.len() < MAX_BREAKPOINTS {
            let before: Vec<&Candidate> = eligible
                .iter()
                .filter(|c| c.blocks > floor && c.blocks < anchor.blocks)
                .collect();
            let within = before
                .iter()
                .find(|c| anchor.blocks - c.blocks < LOOKBACK_BLOCKS);
            match within.or(before.last()) {
                Some(&&c) => {
                    chosen.push(c);
                    anchor = c;
                }
                None => break,
            }
        }
    }

    // Marks already in the input count toward the limit.
    let existing: Vec<(usize, usize)> = msgs
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            m.get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter(|(_, b)| b.get("cache_control").is_some())
                .map(move |(k, _)| (i, k))
        })
        .collect();
    layout.existing_breakpoints = existing.len();
    let elsewhere = existing
        .iter()
        .filter(|&&(i, k)| !chosen.iter().any(|c| c.message == i && c.block == k))
        .count();
    chosen.truncate(MAX_BREAKPOINTS.saturating_sub(elsewhere));
    chosen.sort_by_key(|c| (c.message, c.block));

    for c in chosen {
        let msg = &mut msgs[c.message];
        if let Some(Value::String(s)) = msg.get("content") {
            msg["content"] = json!([{"type": "text", "text": s}]);
        }
        msg["content"][c.block]["cache_control"] = json!({"type": "ephemeral"});
        layout.breakpoints.push(Breakpoint {
            message: Some(c.message),
            block: Some(c.block),
            offset: None,
            prefix_tokens: c.prefix,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_lines_are_volatile_and_content_is_not() {
        for l in [
            "Current date: 2026-05-01",
            "Today is Friday, May 1, 2026.",
            "- **Request ID:** 8c1f0c2e-41b7-4a8e-9a57-0f3f0b2c9d11",
            "timestamp=1714550400",
            "As of 2026-05-01 the rules below apply.",
        ] {
            assert!(is_volatile(l), "{l}");
        }
        for l in [
            "The invoice dated 2026-05-01 totals $300.",
            "Date format: YYYY-MM-DD",
            "Step 3: run the tests",
        ] {
            assert!(!is_volatile(l), "{l}");
        }
        assert_eq!(
            split_volatile("Rules.\nCurrent time: 10:42\nMore rules.\n"),
            (
                "Rules.\nMore rules.".to_string(),
                vec!["Current time: 10:42".to_string()]
            )
        );
    }
}
