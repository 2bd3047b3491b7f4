//! The input file: JSON Lines of chat requests, each with a `custom_id`, either the request's
//! own fields (`{"custom_id", "model", "messages", ...}`) or OpenAI's Batch API line
//! (`{"custom_id", "method", "url", "body"}`) unchanged. Read twice: once here, to check every
//! line, hash the file and index the ids (so a bad line 90,000 fails before any call is made),
//! then line by line as the run dispatches, so memory holds ids, never requests.

use crate::error::{Error, Result};
use crate::llm::ChatRequest;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// What the first pass learned.
#[derive(Debug)]
pub struct Index {
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Every `custom_id`, in input order.
    pub ids: Vec<String>,
}

fn bad(line: usize, what: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("input line {line}: {what}"))
        .with_details(serde_json::json!({ "line": line }))
}

/// The request a line holds, and its `custom_id`. `line` is 1-based, for messages.
pub fn parse_line(text: &str, line: usize) -> Result<(String, ChatRequest)> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| bad(line, e))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| bad(line, "expected a JSON object"))?;
    let id = match obj.remove("custom_id") {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => return Err(bad(line, "custom_id: expected a non-empty string")),
        None => return Err(bad(line, "missing custom_id")),
    };
    let body = if obj.contains_key("body") {
        if let Some(url) = obj.get("url").and_then(Value::as_str) {
            if !url.ends_with("/chat/completions") {
                return Err(bad(
                    line,
                    format!("url: only /v1/chat/completions is supported, not {url}"),
                ));
            }
        }
        if let Some(m) = obj.get("method").and_then(Value::as_str) {
            if !m.eq_ignore_ascii_case("POST") {
                return Err(bad(line, format!("method: expected POST, not {m}")));
            }
        }
        obj.remove("body").unwrap_or_default()
    } else {
        v
    };
    let req = ChatRequest::from_json(body)
        .map_err(|e| bad(line, format!("[{}] {}", e.code(), e.message)))?;
    Ok((id, req))
}

/// A line's `custom_id`, read without parsing its request.
pub fn custom_id(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        custom_id: String,
    }
    serde_json::from_str::<Id>(text).ok().map(|i| i.custom_id)
}

/// Reads the whole input once: every line must parse, every `custom_id` be unique.
pub fn index(path: &Path) -> Result<Index> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(&path.display().to_string(), e))?;
    let mut reader = BufReader::new(file);
    let mut hash = Sha256::new();
    let mut ids = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut buf = String::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = reader
            .read_line(&mut buf)
            .map_err(|e| Error::io(&path.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        line += 1;
        hash.update(buf.as_bytes());
        if buf.trim().is_empty() {
            continue;
        }
        let (id, _) = parse_line(&buf, line)?;
        if let Some(first) = seen.insert(id.clone(), line) {
            return Err(bad(
                line,
                format!("custom_id '{id}' is also on line {first}"),
            ));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(Error::invalid_input(format!(
            "{}: no requests",
            path.display()
        )));
    }
    Ok(Index {
        sha256: crate::hex::encode(&hash.finalize()),
        ids,
    })
}
