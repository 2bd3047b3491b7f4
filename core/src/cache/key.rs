//! Cache keys: a canonical hash of what changes the answer, identical in every language
//! (the bindings call this code; `tests/fixtures/cache_keys.json` proves it).
//!
//! Canonical form, version 1: a JSON object with the fields below, keys sorted by byte order
//! at every depth, no whitespace, strings escaped as serde_json does (UTF-8, only `"`, `\`
//! and control characters escaped), absent fields and nulls left out, integral floats
//! written as integers (`1.0` → `1`), other floats in shortest round-trip form (`0.7`).
//!
//! Fields: `v` (1), `provider` (when the caller knows it), `model` (omitted by the `global`
//! strategy), `messages`, `temperature`, `top_p`, `max_tokens`, `stop`, `seed`, `tools`,
//! `tool_choice`, `response_format`. Not included: `user`, `metadata`, `timeout_ms` and the
//! per-request `cache` control, which do not change the answer.
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
use sha2::{Digest, Sha256};
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
    let full = serde_json::to_value(req).unwrap_or(Value::Null);
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
    let mut key = String::with_capacity(namespace.len() + 80);
    key.push_str(namespace);
    key.push(':');
    key.push_str(strategy.as_str());
    key.push(':');
    if let Some(s) = scope {
        escape_scope(s, &mut key);
        key.push(':');
    }
    key.push_str(&hex);
    key
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
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
    // serde_json's escaping: `"`, `\` and control characters only.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                let _ = write!(out, "{}", f as i64);
            }
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
}
