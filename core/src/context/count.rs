//! Tokens of one message in any provider's shape, with the model's encoding: the chat
//! template's overhead (OpenAI documents 3 a message, 1 more for a name), the role, every text (content,
//! text blocks and parts, thinking), tool calls and results as their JSON, and images at 85
//! (OpenAI's low-detail price; larger ones cost more, so a count with images is an estimate;
//! Gemini's inline images too, not their base64 as text).

use crate::tokens::Encoding;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{LazyLock, Mutex};

/// Counts kept per (encoding, message content), so a history pruned again at the next turn
/// counts only its new messages: hashing a message is ~100x cheaper than tokenizing it.
static COUNTS: LazyLock<Mutex<HashMap<(u8, u128), u64>>> = LazyLock::new(Mutex::default);
/// Past this many, the cache starts over (about 3 MB).
const MAX_CACHED: usize = 100_000;

/// [`message_tokens`], remembered by content: two independent 64-bit hashes of the message
/// (a wrong count would need both to collide).
pub fn message_tokens_cached(enc: Encoding, msg: &Value) -> u64 {
    let key = (enc as u8, content_hash(msg));
    if let Some(&n) = COUNTS.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return n;
    }
    let n = message_tokens(enc, msg);
    let mut cache = COUNTS.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(key, n);
    n
}

fn content_hash(v: &Value) -> u128 {
    let mut a = rustc_hash::FxHasher::default();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    feed(v, &mut a);
    feed(v, &mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Hashes `v`'s structure and text (object keys in order: serde_json's maps are sorted).
fn feed(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            items.iter().for_each(|x| feed(x, h));
        }
        Value::Object(m) => {
            (5u8, m.len()).hash(h);
            for (k, x) in m {
                k.hash(h);
                feed(x, h);
            }
        }
    }
}

const TOKENS_PER_NAME: u64 = 1;
/// What an image counts here: OpenAI's low-detail price (warn.rs sizes the ones it can).
pub(crate) const IMAGE_TOKENS: u64 = 85;

/// Tokens of `msg` under `enc`.
pub fn message_tokens(enc: Encoding, msg: &Value) -> u64 {
    let text = |s: &str| enc.count(s) as u64;
    let mut n = enc.message_overhead() as u64;
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

/// Tokens of one content block or part (images at [`IMAGE_TOKENS`]).
pub(crate) fn block_tokens(enc: Encoding, b: &Value) -> u64 {
    let text = |s: &str| enc.count(s) as u64;
    let kind = b.get("type").and_then(Value::as_str);
    match kind {
        Some("image_url" | "image" | "input_image") => IMAGE_TOKENS,
        // A Gemini inline image, not its base64 as text.
        _ if super::image::payload(b).is_some() => IMAGE_TOKENS,
        Some("thinking") => b.get("thinking").and_then(Value::as_str).map_or(0, text),
        Some("tool_result") => b.get("content").map_or(0, |c| content_tokens(enc, c)),
        _ => match b.get("text").and_then(Value::as_str) {
            Some(t) if kind.is_none() || kind == Some("text") => text(t),
            // tool_use, functionCall, documents, ...: their JSON.
            _ => text(&b.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remembered_counts_are_the_counts_and_follow_the_content() {
        let enc = Encoding::O200kBase;
        let a = json!({"role": "user", "content": "one two three"});
        let b = json!({"role": "user", "content": "one two three four"});
        for m in [&a, &b, &a] {
            assert_eq!(message_tokens_cached(enc, m), message_tokens(enc, m));
        }
        assert_ne!(content_hash(&a), content_hash(&b));
        // Same text in another place is another message.
        assert_ne!(
            content_hash(&json!({"role": "user", "content": "x"})),
            content_hash(&json!({"role": "user", "name": "x"}))
        );
    }
}
