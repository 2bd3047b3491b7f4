//! Cache keys: a canonical hash of what changes the answer, identical in every language
//! (the bindings call this code; `tests/fixtures/cache.json` proves it).
//!
//! Canonical form, version 1: a JSON object with the fields below, keys sorted by byte order
//! at every depth, no whitespace, strings escaped as serde_json does (UTF-8, only `"`, `\`
//! and control characters escaped), absent fields and nulls left out, integral floats
//! written as integers (`1.0` → `1`), other floats in shortest round-trip form (`0.7`).
//!
//! Fields: `v` (1), `provider` (when the caller knows it), `model` (omitted by the `global`
//! strategy), `messages`, `temperature`, `top_p`, `max_tokens`, `stop`, `seed`, `tools`,
//! `tool_choice`, `response_format`. Not included: `user`, `metadata`, `timeout_ms`, the
//! per-request `cache` control and Anthropic's `cache_control` breakpoints on content parts
//! and tools, which do not change the answer.
//!
//! The key is `{namespace}:{strategy}:{hex}` for `content` and `global`, and
//! `{namespace}:{strategy}:{scope}:{hex}` for `model` (scope = model) and `user`
//! (scope = `request.user`, or `anonymous`), where hex is the SHA-256 of the canonical form.
//! A scope is percent-encoded outside `[A-Za-z0-9._/-]` so that `:` and glob characters
//! in user strings never change how patterns match.

use crate::error::{Error, Result};
use crate::llm::ChatRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;

/// How requests share entries (seed 004's `byContent`, `byModel`, `byUser`, `globally`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Strategy {
    /// Same provider, model and content: the default.
    #[default]
    Content = 0,
    /// As `content`, with the model in the key so `ns:model:gpt-4o:*` invalidates one model.
    Model = 1,
    /// As `content`, per user: one user's answers are never served to another.
    User = 2,
    /// The same messages and parameters share one answer across providers and models.
    Global = 3,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Content => "content",
            Strategy::Model => "model",
            Strategy::User => "user",
            Strategy::Global => "global",
        }
    }

    pub(crate) fn from_u8(n: u8) -> Strategy {
        match n {
            1 => Strategy::Model,
            2 => Strategy::User,
            3 => Strategy::Global,
            _ => Strategy::Content,
        }
    }

    pub fn parse(s: &str) -> Result<Strategy> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            Error::invalid_input(format!(
                "cache strategy: expected content, model, user or global, got '{s}'"
            ))
        })
    }
}

/// The answer-changing fields, in byte order of their names (the canonical order).
const FIELDS: [&str; 12] = [
    "max_tokens",
    "messages",
    "model",
    "provider",
    "response_format",
    "seed",
    "stop",
    "temperature",
    "tool_choice",
    "tools",
    "top_p",
    "v",
];

/// The canonical JSON text (see the module comment) of the answer-changing fields.
pub fn canonical(req: &ChatRequest, provider: Option<&str>, strategy: Strategy) -> String {
    let mut full = serde_json::to_value(req).unwrap_or(Value::Null);
    // Prompt-cache breakpoints do not change the answer: the key is the one without them.
    for field in ["messages", "tools"] {
        if let Some(list) = full.get_mut(field) {
            crate::llm::types::strip_cache_control(list);
        }
    }
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    let mut first = true;
    for field in FIELDS {
        let owned;
        let v: &Value = match field {
            "v" => {
                owned = Value::from(1);
                &owned
            }
            "provider" | "model" if strategy == Strategy::Global => continue,
            "provider" => match provider {
                Some(p) => {
                    owned = Value::from(p);
                    &owned
                }
                None => continue,
            },
            _ => match full.get(field) {
                Some(v) if !v.is_null() => v,
                _ => continue,
            },
        };
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(field, &mut out);
        out.push(b':');
        write_canonical(v, &mut out);
    }
    out.push(b'}');
    String::from_utf8(out).expect("JSON text is UTF-8")
}

/// The cache key for a request.
pub fn chat_key(
    req: &ChatRequest,
    provider: Option<&str>,
    strategy: Strategy,
    namespace: &str,
) -> String {
    let hex = sha256_hex(canonical(req, provider, strategy).as_bytes());
    let scope = match strategy {
        Strategy::Content | Strategy::Global => None,
        Strategy::Model => Some(req.model.as_str()),
        Strategy::User => Some(req.user.as_deref().unwrap_or("anonymous")),
    };
    assemble(&hex, scope, strategy, namespace)
}

fn assemble(hex: &str, scope: Option<&str>, strategy: Strategy, namespace: &str) -> String {
    let mut key = String::with_capacity(namespace.len() + 80);
    key.push_str(namespace);
    key.push(':');
    key.push_str(strategy.as_str());
    key.push(':');
    if let Some(s) = scope {
        escape_scope(s, &mut key);
        key.push(':');
    }
    key.push_str(hex);
    key
}

/// A chat request in its common shape, borrowed from the caller's own objects (a binding
/// walks a Python dict into this without building a [`ChatRequest`]): text-only messages
/// and the scalar parameters. Anything else (content parts, tools, tool calls,
/// response_format, tool_choice, metadata, per-request cache control, unknown fields) is
/// not representable here: callers use [`ChatRequest`] and [`chat_key`] for those.
/// [`plain_chat_key`] gives exactly the key [`chat_key`] gives for the same request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlainRequest<'a> {
    pub model: &'a str,
    pub messages: Vec<PlainMessage<'a>>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    /// `stop` as a list (a single string is a list of one).
    pub stop: Vec<&'a str>,
    pub seed: Option<i64>,
    pub user: Option<&'a str>,
    pub timeout_ms: Option<u64>,
}

/// One text message of a [`PlainRequest`]; `role` is checked like [`crate::llm::Role`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlainMessage<'a> {
    pub role: &'a str,
    pub content: Option<&'a str>,
    pub name: Option<&'a str>,
    pub tool_call_id: Option<&'a str>,
}

impl PlainRequest<'_> {
    /// What [`ChatRequest::from_json`] would accept; false sends the caller to it (for its
    /// error, worded there).
    pub fn is_valid(&self) -> bool {
        let finite_in = |v: Option<f64>, hi: f64| v.is_none_or(|t| (0.0..=hi).contains(&t));
        !self.model.trim().is_empty()
            && !self.messages.is_empty()
            && self.messages.iter().all(|m| {
                matches!(
                    m.role,
                    "system" | "developer" | "user" | "assistant" | "tool"
                ) && (m.role != "tool" || m.tool_call_id.is_some())
                    && m.content.is_some()
            })
            && finite_in(self.temperature, 2.0)
            && finite_in(self.top_p, 1.0)
            && self.max_tokens != Some(0)
            && self.timeout_ms != Some(0)
    }
}

/// The canonical text of a [`PlainRequest`]: byte for byte what [`canonical`] writes for the
/// same request (fields and message keys in byte order, nulls and empty lists left out).
pub fn plain_canonical(
    req: &PlainRequest<'_>,
    provider: Option<&str>,
    strategy: Strategy,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        256 + req
            .messages
            .iter()
            .map(|m| m.content.map_or(0, str::len) + 48)
            .sum::<usize>(),
    );
    out.push(b'{');
    if let Some(n) = req.max_tokens {
        out.extend_from_slice(b"\"max_tokens\":");
        let _ = write!(out, "{n}");
        out.push(b',');
    }
    out.extend_from_slice(b"\"messages\":[");
    for (i, m) in req.messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(c) = m.content {
            out.extend_from_slice(b"\"content\":");
            write_str(c, &mut out);
            out.push(b',');
        }
        if let Some(n) = m.name {
            out.extend_from_slice(b"\"name\":");
            write_str(n, &mut out);
            out.push(b',');
        }
        out.extend_from_slice(b"\"role\":");
        write_str(m.role, &mut out);
        if let Some(t) = m.tool_call_id {
            out.extend_from_slice(b",\"tool_call_id\":");
            write_str(t, &mut out);
        }
        out.push(b'}');
    }
    out.push(b']');
    if strategy != Strategy::Global {
        out.extend_from_slice(b",\"model\":");
        write_str(req.model, &mut out);
        if let Some(p) = provider {
            out.extend_from_slice(b",\"provider\":");
            write_str(p, &mut out);
        }
    }
    if let Some(s) = req.seed {
        let _ = write!(out, ",\"seed\":{s}");
    }
    if !req.stop.is_empty() {
        out.extend_from_slice(b",\"stop\":[");
        for (i, s) in req.stop.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(s, &mut out);
        }
        out.push(b']');
    }
    if let Some(t) = req.temperature {
        out.extend_from_slice(b",\"temperature\":");
        write_f64(t, &mut out);
    }
    if let Some(p) = req.top_p {
        out.extend_from_slice(b",\"top_p\":");
        write_f64(p, &mut out);
    }
    out.extend_from_slice(b",\"v\":1}");
    out
}

/// [`chat_key`] for a [`PlainRequest`]; None when the request is not valid (see
/// [`PlainRequest::is_valid`]).
pub fn plain_chat_key(
    req: &PlainRequest<'_>,
    provider: Option<&str>,
    strategy: Strategy,
    namespace: &str,
) -> Option<String> {
    if !req.is_valid() {
        return None;
    }
    let hex = sha256_hex(&plain_canonical(req, provider, strategy));
    let scope = match strategy {
        Strategy::Content | Strategy::Global => None,
        Strategy::Model => Some(req.model),
        Strategy::User => Some(req.user.unwrap_or("anonymous")),
    };
    Some(assemble(&hex, scope, strategy, namespace))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::sha256(bytes)
}

fn escape_scope(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping: `"`, `\` and control characters only. Text without any of
    // them (most prompts) is copied as it is; the check runs 32 bytes at a time.
    let bytes = s.as_bytes();
    let escaped = bytes.chunks(32).any(|c| {
        c.iter()
            .fold(false, |e, &b| e | (b < 0x20) | (b == b'"') | (b == b'\\'))
    });
    if escaped {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    }
}

/// A float: integral values as integers, others in serde_json's shortest round-trip form.
fn write_f64(f: f64, out: &mut Vec<u8>) {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        let _ = write!(out, "{}", f as i64);
    } else if let Some(n) = serde_json::Number::from_f64(f) {
        let _ = write!(out, "{n}");
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => write_f64(f, out),
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !map[*k].is_null()).collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> ChatRequest {
        ChatRequest::from_json(v).unwrap()
    }

    #[test]
    fn canonical_form_is_sorted_compact_and_normalised() {
        let r = req(
            json!({"model": "m", "temperature": 1.0, "top_p": 0.5, "user": "u",
            "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(
            canonical(&r, Some("p"), Strategy::Content),
            r#"{"messages":[{"content":"hi","role":"user"}],"model":"m","provider":"p","temperature":1,"top_p":0.5,"v":1}"#
        );
    }

    #[test]
    fn what_does_not_change_the_answer_does_not_change_the_key() {
        let a = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let b = req(
            json!({"model": "m", "user": "x", "timeout_ms": 5, "metadata": {"a": 1},
            "messages": [{"role": "user", "content": "hi"}], "temperature": 0}),
        );
        let c = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0}),
        );
        let k = |r| chat_key(r, None, Strategy::Content, "ns");
        assert_eq!(k(&b), k(&c));
        assert_ne!(
            k(&a),
            k(&b),
            "an explicit temperature is a different request"
        );
        let d = req(json!({"model": "m2", "messages": [{"role": "user", "content": "hi"}]}));
        assert_ne!(k(&a), k(&d));
        assert_eq!(
            chat_key(&a, None, Strategy::Global, "ns")
                .rsplit(':')
                .next(),
            chat_key(&d, None, Strategy::Global, "ns")
                .rsplit(':')
                .next()
        );
    }

    #[test]
    fn scopes_are_escaped() {
        let r = req(json!({"model": "m", "user": "a:b*/../\u{0}",
            "messages": [{"role": "user", "content": "hi"}]}));
        let k = chat_key(&r, None, Strategy::User, "ns");
        assert!(k.starts_with("ns:user:a%3Ab%2A/../%00:"), "{k}");
    }

    #[test]
    fn plain_requests_have_the_same_keys_as_chat_requests() {
        let cases = [
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            json!({"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 300, "user": "u:1",
                "messages": [{"role": "system", "content": "be \"brief\"\n\u{1}é"},
                    {"role": "user", "content": "hi", "name": "bob"},
                    {"role": "assistant", "content": ""},
                    {"role": "tool", "content": "{}", "tool_call_id": "c1"},
                    {"role": "developer", "content": "x"}]}),
            json!({"model": "m", "temperature": 0.7, "top_p": 1, "seed": -3, "stop": "END",
                "timeout_ms": 9, "messages": [{"role": "user", "content": "a"}]}),
            json!({"model": "m", "temperature": 1.5, "top_p": 0.25, "seed": 9_007_199_254_740_993_i64,
                "stop": ["a", "b\""], "max_tokens": 4_294_967_295_u32,
                "messages": [{"role": "user", "content": "a"}]}),
            json!({"model": "m", "stop": [], "temperature": 2.0, "top_p": 0.0,
                "messages": [{"role": "user", "content": "a"}]}),
            json!({"model": "m", "temperature": 0.1, "top_p": 0.30000000000000004,
                "messages": [{"role": "user", "content": "a"}]}),
        ];
        for v in cases {
            let full = req(v.clone());
            let stop = full.stop.iter().map(String::as_str).collect();
            let plain = PlainRequest {
                model: &full.model,
                messages: full
                    .messages
                    .iter()
                    .map(|m| PlainMessage {
                        role: match m.role {
                            crate::llm::Role::System => "system",
                            crate::llm::Role::Developer => "developer",
                            crate::llm::Role::User => "user",
                            crate::llm::Role::Assistant => "assistant",
                            crate::llm::Role::Tool => "tool",
                        },
                        content: match &m.content {
                            Some(crate::llm::Content::Text(t)) => Some(t.as_str()),
                            _ => None,
                        },
                        name: m.name.as_deref(),
                        tool_call_id: m.tool_call_id.as_deref(),
                    })
                    .collect(),
                temperature: full.temperature,
                top_p: full.top_p,
                max_tokens: full.max_tokens,
                stop,
                seed: full.seed,
                user: full.user.as_deref(),
                timeout_ms: full.timeout_ms,
            };
            for strategy in [
                Strategy::Content,
                Strategy::Model,
                Strategy::User,
                Strategy::Global,
            ] {
                for provider in [None, Some("openai")] {
                    assert_eq!(
                        String::from_utf8(plain_canonical(&plain, provider, strategy)).unwrap(),
                        canonical(&full, provider, strategy),
                        "{v}"
                    );
                    assert_eq!(
                        plain_chat_key(&plain, provider, strategy, "ns").as_deref(),
                        Some(chat_key(&full, provider, strategy, "ns").as_str())
                    );
                }
            }
        }
        let bad = |f: fn(&mut PlainRequest<'static>)| {
            let mut r = PlainRequest {
                model: "m",
                messages: vec![PlainMessage {
                    role: "user",
                    content: Some("hi"),
                    ..Default::default()
                }],
                ..Default::default()
            };
            assert!(r.is_valid());
            f(&mut r);
            assert!(!r.is_valid());
            assert_eq!(plain_chat_key(&r, None, Strategy::Content, "ns"), None);
        };
        bad(|r| r.model = " ");
        bad(|r| r.messages.clear());
        bad(|r| r.messages[0].role = "robot");
        bad(|r| r.messages[0].role = "tool");
        bad(|r| r.messages[0].content = None);
        bad(|r| r.temperature = Some(2.5));
        bad(|r| r.temperature = Some(f64::NAN));
        bad(|r| r.top_p = Some(-0.1));
        bad(|r| r.max_tokens = Some(0));
        bad(|r| r.timeout_ms = Some(0));
    }
}
