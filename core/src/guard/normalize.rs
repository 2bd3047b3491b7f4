//! Fingerprints of actions and results, exact and with cosmetic differences normalised away.
//!
//! What is cosmetic (two calls differing only in these are the same call):
//! - JSON key order (objects are unordered: it never distinguishes two calls, not even exactly);
//! - whitespace runs and leading/trailing whitespace in strings, letter case in strings and keys,
//!   key spelling (`requestId` = `request_id` = `Request-ID`);
//! - per-call keys and their values, present or not ([`DEFAULT_COSMETIC_KEYS`]: request and
//!   trace ids, nonces, client timestamps);
//! - inside strings: UUIDs, hex runs of 16+ characters (hashes, object ids), date-times with a
//!   time of day and `hh:mm:ss` clock readings, digit runs of 10+ (epoch seconds or ms,
//!   snowflake ids); as JSON numbers: magnitudes of 10⁹ and more (the same ids and timestamps).
//!
//! What is meaningful (kept exactly): everything else — short numbers (a page, an offset, a line,
//! a port, a `chapter_02`), different words or paths, dates without a time of day — and whatever
//! sits under a listing-position key ([`DEFAULT_MEANINGFUL_KEYS`]: page, offset, cursor, since…),
//! however id-like it looks, so paging through results never reads as a loop.
//!
//! [`DEFAULT_COSMETIC_KEYS`]: super::config::DEFAULT_COSMETIC_KEYS
//! [`DEFAULT_MEANINGFUL_KEYS`]: super::config::DEFAULT_MEANINGFUL_KEYS

use super::config::LoopConfig;
use regex::Regex;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").expect("valid")
});
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}(?::?\d{2})?)?|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b",
    )
    .expect("valid")
});
static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9a-f]{16,}").expect("valid"));
static LONG_DIGITS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{10,}").expect("valid"));

/// Numbers from 10⁹ up are ids or timestamps (epoch seconds passed 10⁹ in 2001).
const ID_LIKE: f64 = 1e9;

/// `requestId`, `Request-ID`, ` request_id ` → `request_id`.
pub fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut after_lower = false;
    for c in key.trim().chars() {
        if c.is_uppercase() {
            if after_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            after_lower = false;
        } else if matches!(c, '-' | ' ' | '.') {
            out.push('_');
            after_lower = false;
        } else {
            out.push(c);
            after_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// A string with case, whitespace runs and id-like tokens normalised.
pub fn normalize_text(s: &str) -> String {
    let lower = s.to_lowercase();
    let t = UUID.replace_all(&lower, "<uuid>");
    let t = DATE_TIME.replace_all(&t, "<time>");
    let t = HEX.replace_all(&t, "<hex>");
    let t = LONG_DIGITS.replace_all(&t, "<num>");
    let mut out = String::with_capacity(t.len());
    for word in t.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Normalises values by the key rules of a [`LoopConfig`].
#[derive(Clone, Debug)]
pub struct Normalizer {
    cosmetic: HashSet<String>,
    meaningful: HashSet<String>,
}

impl Normalizer {
    pub fn new(config: &LoopConfig) -> Normalizer {
        let set = |keys: &[String]| keys.iter().map(|k| normalize_key(k)).collect();
        Normalizer {
            cosmetic: set(&config.cosmetic_keys),
            meaningful: set(&config.meaningful_keys),
        }
    }

    /// `value` with every cosmetic difference replaced by a placeholder.
    pub fn value(&self, value: &Value) -> Value {
        match value {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let key = normalize_key(k);
                    // Dropped, not blanked: a call with or without a request id is the same call.
                    if self.cosmetic.contains(&key) {
                        continue;
                    }
                    let v = if self.meaningful.contains(&key) {
                        v.clone()
                    } else {
                        self.value(v)
                    };
                    out.insert(key, v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::String(s) => match embedded_json(s) {
                Some(inner) => self.value(&inner),
                None => Value::String(normalize_text(s)),
            },
            Value::Number(n) if n.as_f64().is_some_and(|f| f.abs() >= ID_LIKE) => {
                Value::String("<num>".into())
            }
            other => other.clone(),
        }
    }
}

/// Tool arguments often arrive as the JSON text the model wrote (`tool_calls[].function.arguments`):
/// such a string is compared as the object it holds.
pub fn embedded_json(s: &str) -> Option<Value> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// A value as the object it holds when it is JSON text (see [`embedded_json`]).
pub fn parsed(value: &Value) -> Cow<'_, Value> {
    match value {
        Value::String(s) => embedded_json(s).map_or(Cow::Borrowed(value), Cow::Owned),
        v => Cow::Borrowed(v),
    }
}

/// A 128-bit fingerprint of some parts (SHA-256, truncated): compared in memory, and its first
/// 16 hex digits are what the event log shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u128);

impl Fingerprint {
    pub fn of(parts: &[&[u8]]) -> Fingerprint {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        let d = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        Fingerprint(u128::from_be_bytes(b))
    }

    pub fn of_json(tag: &str, v: &Value) -> Fingerprint {
        // serde_json's maps are ordered by key, so this text is canonical.
        let text = serde_json::to_string(v).unwrap_or_default();
        Fingerprint::of(&[tag.as_bytes(), text.as_bytes()])
    }

    pub fn short_hex(self) -> String {
        format!("{:016x}", (self.0 >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n() -> Normalizer {
        Normalizer::new(&LoopConfig::default())
    }

    #[test]
    fn keys() {
        assert_eq!(normalize_key("requestId"), "request_id");
        assert_eq!(normalize_key("X-Request-ID"), "x_request_id");
        assert_eq!(normalize_key(" page "), "page");
        assert_eq!(normalize_key("pageToken"), "page_token");
        assert_eq!(normalize_key("file_path"), "file_path");
    }

    #[test]
    fn cosmetic_text() {
        assert_eq!(normalize_text("  Search   THE docs\n"), "search the docs");
        assert_eq!(
            normalize_text("id 3F2504E0-4F89-11D3-9A0C-0305E82C3301 ok"),
            "id <uuid> ok"
        );
        assert_eq!(normalize_text("at 2025-01-02T03:04:05.678Z"), "at <time>");
        assert_eq!(normalize_text("[12:00:01] noop"), "[<time>] noop");
        assert_eq!(normalize_text("sha deadbeef0123456789abcdef"), "sha <hex>");
        assert_eq!(normalize_text("t=1712345678901"), "t=<num>");
        // Meaningful: short numbers, dates without a time, different words.
        assert_eq!(normalize_text("chapter_02.md"), "chapter_02.md");
        assert_eq!(
            normalize_text("page 3 of 2025-01-02"),
            "page 3 of 2025-01-02"
        );
        assert_eq!(normalize_text("commit abc1234"), "commit abc1234");
    }

    #[test]
    fn values() {
        let a = json!({"Query": "Rust  async", "requestId": "r-1", "ts": 1712345678,
                       "filter": {"owner": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}});
        let b = json!({"filter": {"owner": "9a2504e0-4f89-11d3-9a0c-0305e82c3302"},
                       "query": "rust async", "request_id": "r-2", "ts": 1712345999});
        assert_eq!(n().value(&a), n().value(&b));
        // A page, an offset, a cursor that looks like a hash: never cosmetic.
        for (x, y) in [
            (json!({"q": "x", "page": 1}), json!({"q": "x", "page": 2})),
            (
                json!({"q": "x", "offset": 0}),
                json!({"q": "x", "offset": 50}),
            ),
            (
                json!({"cursor": "deadbeef0123456789abcdef"}),
                json!({"cursor": "deadbeef0123456789abcdf0"}),
            ),
            (
                json!({"since": "2025-01-02T03:04:05Z"}),
                json!({"since": "2025-01-02T03:05:05Z"}),
            ),
            (json!({"path": "a.txt"}), json!({"path": "b.txt"})),
        ] {
            assert_ne!(n().value(&x), n().value(&y), "{x} vs {y}");
        }
    }

    #[test]
    fn json_text_arguments_compare_as_objects() {
        let a = json!("{\"b\": 1, \"a\": \"X\"}");
        let b = json!({"a": "x", "b": 1});
        assert_eq!(n().value(&a), n().value(&b));
        assert_eq!(*parsed(&a), json!({"a": "X", "b": 1}));
    }

    #[test]
    fn fingerprints() {
        let a = Fingerprint::of_json("x", &json!({"a": 1, "b": 2}));
        let b = Fingerprint::of_json("x", &json!({"b": 2, "a": 1}));
        assert_eq!(a, b);
        assert_ne!(a, Fingerprint::of_json("y", &json!({"a": 1, "b": 2})));
        assert_eq!(a.short_hex().len(), 16);
        // Parts are length-prefixed: ("ab", "c") is not ("a", "bc").
        assert_ne!(
            Fingerprint::of(&[b"ab", b"c"]),
            Fingerprint::of(&[b"a", b"bc"])
        );
    }
}
