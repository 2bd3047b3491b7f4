//! Caller values for the `get`/`set` API of the bindings: one tag byte, so a value set from
//! one language reads back as the same kind of value in another.

use crate::error::{Error, Result};
use bytes::Bytes;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Bytes(Vec<u8>),
    Json(serde_json::Value),
}

const TEXT: u8 = 1;
const BYTES: u8 = 2;
const JSON: u8 = 3;

/// Tags text without building a `Value` (the hot path of every binding's `set`).
pub fn encode_text(s: &str) -> Bytes {
    tagged(TEXT, s.as_bytes())
}

pub fn encode_bytes(b: &[u8]) -> Bytes {
    tagged(BYTES, b)
}

pub fn encode_json(v: &serde_json::Value) -> Bytes {
    tagged(JSON, &serde_json::to_vec(v).unwrap_or_default())
}

fn tagged(tag: u8, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(tag);
    out.extend_from_slice(body);
    out.into()
}

/// The tag and body of a payload; `Text` bodies are valid UTF-8.
pub fn split(payload: &[u8]) -> Result<(u8, &[u8])> {
    let bad = || Error::new(crate::ErrorKind::Cache, "cached value has an unknown form");
    let (&tag, body) = payload.split_first().ok_or_else(bad)?;
    match tag {
        TEXT if std::str::from_utf8(body).is_ok() => Ok((tag, body)),
        BYTES | JSON => Ok((tag, body)),
        _ => Err(bad()),
    }
}

pub fn decode(payload: &[u8]) -> Result<Value> {
    let (tag, body) = split(payload)?;
    Ok(match tag {
        TEXT => Value::Text(String::from_utf8_lossy(body).into_owned()),
        BYTES => Value::Bytes(body.to_vec()),
        _ => Value::Json(
            serde_json::from_slice(body)
                .map_err(|e| Error::new(crate::ErrorKind::Cache, format!("cached JSON: {e}")))?,
        ),
    })
}

pub const TAG_TEXT: u8 = TEXT;
pub const TAG_BYTES: u8 = BYTES;
pub const TAG_JSON: u8 = JSON;
