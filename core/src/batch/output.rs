//! The output: one JSON line per request in OpenAI's batch output shape (`{id, custom_id,
//! response: {status_code, request_id, body}, error}`) plus our `trinity` object (our request
//! id, provider, cost, attempts, cached). While the run goes it is `OUTPUT.part`, in finishing
//! order, valid JSON Lines up to its last complete line; when every request is done it is
//! rewritten in input order to `OUTPUT`, and the failed ones also to the errors file.

use crate::error::{Error, Result};
use crate::llm::ChatResponse;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

pub fn part_path(output: &Path) -> PathBuf {
    super::sibling(output, "part")
}

/// `results.jsonl` → `results.errors.jsonl`; other names get `.errors.jsonl` appended.
pub fn errors_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name);
    output.with_file_name(format!("{stem}.errors.jsonl"))
}

/// The line's `id`: the same for the same input and `custom_id`, so reruns agree.
pub fn line_id(input_sha256: &str, custom_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{input_sha256}\0{custom_id}").as_bytes());
    format!("batch_req_{}", &crate::hex::encode(&h)[..24])
}

/// A request that was answered.
pub fn success(id: &str, custom_id: &str, r: &ChatResponse) -> Value {
    let mut message = json!({"role": "assistant", "content": r.content});
    if !r.tool_calls.is_empty() {
        message["tool_calls"] = json!(r.tool_calls);
    }
    json!({
        "id": id,
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": r.request_id,
            "body": {
                "id": r.id,
                "object": "chat.completion",
                "model": r.model,
                "choices": [{"index": 0, "message": message, "finish_reason": r.finish_reason}],
                "usage": {
                    "prompt_tokens": r.usage.prompt_tokens,
                    "completion_tokens": r.usage.completion_tokens,
                    "total_tokens": r.usage.total_tokens,
                },
            },
        },
        "error": null,
        "trinity": {
            "request_id": r.debug.as_ref().map(|d| d.request_id.as_str()),
            "provider": r.provider,
            "cost_usd": r.cost_usd,
            "attempts": r.attempts,
            "cached": r.cached,
        },
    })
}

/// A request that failed for good.
pub fn failure(id: &str, custom_id: &str, e: &Error) -> Value {
    let detail = |k: &str| {
        e.details
            .as_ref()
            .and_then(|d| d.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    json!({
        "id": id,
        "custom_id": custom_id,
        "response": null,
        "error": {"code": e.code(), "message": e.message},
        "trinity": {
            "request_id": detail("request_id"),
            "provider": detail("provider"),
            "cost_usd": null,
            "attempts": detail("attempts"),
            "cached": false,
        },
    })
}

/// Where a request's line sits in the part file, and whether it failed. Noted as each line is
/// written, so finishing puts the lines in input order without parsing the part file again.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub offset: u64,
    pub len: usize,
    pub failed: bool,
}

/// The part file's lines by `custom_id`.
pub type Spans = HashMap<String, Span>;

/// What the journal last says of a request. A part line is kept only if it says the same, so
/// a line written and synced for a request whose journal line never was (a crash between the
/// two, or a retried failure) goes, and the request runs again.
#[derive(Clone, Debug)]
pub struct Journaled {
    pub ok: bool,
    /// The request log's id of the journaled attempt ("" when it had none).
    pub request_id: String,
}

/// The part file cut down to the complete lines of `keep` that agree with the journal (each
/// once), written to a new file and renamed over it; returns where each kept line now sits.
pub fn recover_part(path: &Path, keep: &HashMap<String, Journaled>) -> Result<Spans> {
    let io = |e| Error::io(&path.display().to_string(), e);
    let mut held = Spans::new();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(held),
        Err(e) => return Err(io(e)),
    };
    let tmp = super::sibling(path, "tmp");
    let mut out = BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    let mut offset = 0u64;
    for piece in BufReader::new(file).split(b'\n') {
        let mut piece = piece.map_err(io)?;
        let Ok(v) = serde_json::from_slice::<Value>(&piece) else {
            continue; // a torn last line, or one never finished
        };
        let Some(id) = v.get("custom_id").and_then(Value::as_str) else {
            continue;
        };
        let Some(journaled) = keep.get(id) else {
            continue;
        };
        let failed = !v["error"].is_null();
        let request_id = v["trinity"]["request_id"].as_str().unwrap_or_default();
        let agrees = failed != journaled.ok
            && (journaled.request_id.is_empty() || request_id == journaled.request_id);
        if agrees && !held.contains_key(id) {
            piece.push(b'\n');
            out.write_all(&piece).map_err(io)?;
            let len = piece.len();
            held.insert(
                id.to_string(),
                Span {
                    offset,
                    len,
                    failed,
                },
            );
            offset += len as u64;
        }
    }
    let f = out.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_all().map_err(io)?;
    // A torn last line without its newline is never copied, so the part ends on a line break.
    std::fs::rename(&tmp, path).map_err(io)?;
    super::sync_dir(path);
    Ok(held)
}

/// Rewrites the part file in input order to `output`, the failed lines also to the errors file,
/// each written, synced and renamed into place; then removes the part file. `spans` says where
/// every line of `order` is.
pub fn finish(part: &Path, output: &Path, order: &[String], spans: &Spans) -> Result<usize> {
    use std::os::unix::fs::FileExt;
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e| Error::io(&p, e)
    };
    let file = std::fs::File::open(part).map_err(io(part))?;
    let errors_path = errors_path(output);
    let (out_tmp, err_tmp) = (
        super::sibling(output, "tmp"),
        super::sibling(&errors_path, "tmp"),
    );
    let mut out = BufWriter::new(std::fs::File::create(&out_tmp).map_err(io(&out_tmp))?);
    let mut errs = BufWriter::new(std::fs::File::create(&err_tmp).map_err(io(&err_tmp))?);
    let mut failed = 0;
    let mut line = Vec::new();
    for id in order {
        let Some(span) = spans.get(id) else {
            return Err(Error::internal(format!(
                "finishing the batch: no output line for '{id}'"
            )));
        };
        // A positioned read per line: the part file stays out of the process's memory (mapped,
        // its pages would count as resident, the whole file at the end of a long run).
        line.resize(span.len, 0);
        file.read_exact_at(&mut line, span.offset)
            .map_err(io(part))?;
        if line.last() != Some(&b'\n') {
            return Err(Error::internal(format!(
                "finishing the batch: the line of '{id}' is not where it was written"
            )));
        }
        out.write_all(&line).map_err(io(&out_tmp))?;
        if span.failed {
            errs.write_all(&line).map_err(io(&err_tmp))?;
            failed += 1;
        }
    }
    for (w, tmp, dest) in [
        (out, &out_tmp, output),
        (errs, &err_tmp, errors_path.as_path()),
    ] {
        let f = w.into_inner().map_err(|e| io(tmp)(e.into_error()))?;
        f.sync_all().map_err(io(tmp))?;
        std::fs::rename(tmp, dest).map_err(io(dest))?;
    }
    super::sync_dir(output);
    std::fs::remove_file(part).map_err(io(part))?;
    Ok(failed)
}
