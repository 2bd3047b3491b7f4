//! The run's event log: one JSON object per line — the run's start, each step, each LLM call,
//! and the stop — with OpenTelemetry GenAI attribute names where one applies
//! (`gen_ai.operation.name`, `gen_ai.tool.name`, `gen_ai.request.model`,
//! `gen_ai.response.model`, `gen_ai.provider.name`, `gen_ai.usage.input_tokens`,
//! `gen_ai.usage.output_tokens`, `error.type`), `trinity.*` for ours (cost, fingerprints), and
//! plain keys for the record itself (`timestamp`, `end_timestamp`, `type`, `level`, `run_id`,
//! `step`, `duration_ms`, `outcome`).
//!
//! Crash safety: the file is opened `O_APPEND` and each line goes out whole in one `write(2)`
//! with no buffering across lines, so once a step returns its line is in the page cache and
//! survives the process being killed (not a power loss: there is no fsync per line). A process
//! killed mid-write can leave at most one torn last line: [`read_event_log`] drops any line
//! without its newline or that is not a JSON object. A log reopened after such a crash gets a
//! newline first, so the torn fragment stays a line of its own and the new run's lines parse.

use crate::error::{Error, Result};
use crate::observe::scrub::scrub_json;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// An open event log.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    status: Mutex<EventLogStatus>,
}

/// What the log has written; a failed write is counted and kept here (and logged as a
/// warning), never silently dropped, and never fails the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventLogStatus {
    pub path: String,
    pub lines_written: u64,
    pub write_errors: u64,
    pub last_error: Option<String>,
}

impl EventLog {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> Result<EventLog> {
        let what = format!("event log {}", path.display());
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(&what, e))?;
        let log = EventLog {
            path: path.to_path_buf(),
            file,
            status: Mutex::new(EventLogStatus {
                path: path.display().to_string(),
                ..EventLogStatus::default()
            }),
        };
        if !ends_with_newline(path).map_err(|e| Error::io(&what, e))? {
            (&log.file)
                .write_all(b"\n")
                .map_err(|e| Error::io(&what, e))?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line, in one write.
    pub fn append(&self, record: &Value) {
        let mut line = serde_json::to_vec(record).unwrap_or_else(|_| b"{}".to_vec());
        line.push(b'\n');
        // `write_all` on a regular file is one write(2) unless the disk is full or a signal
        // interrupts it mid-way; either leaves a torn line the reader drops.
        let result = (&self.file).write_all(&line);
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => s.lines_written += 1,
            Err(e) => {
                s.write_errors += 1;
                let message = format!("{}: {e}", self.path.display());
                tracing::warn!(target: "trinity::guard", "event log write failed: {message}");
                s.last_error = Some(message);
            }
        }
    }

    pub fn status(&self) -> EventLogStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// True for an empty file or one whose last byte is a newline.
fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::Start(len - 1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

/// The valid records of an event log, and which lines were dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventLogContents {
    pub records: Vec<Value>,
    /// 1-based numbers of the lines dropped: torn (no newline) or not a JSON object.
    pub dropped_lines: Vec<u64>,
    /// The file ended in a torn line (a crash mid-write).
    pub torn_tail: bool,
}

/// Reads an event log, keeping every complete line that is a JSON object.
pub fn read_event_log(path: impl AsRef<Path>) -> Result<EventLogContents> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(&format!("event log {}", path.display()), e))?;
    Ok(parse_event_log(&bytes))
}

/// [`read_event_log`] on bytes already read.
pub fn parse_event_log(bytes: &[u8]) -> EventLogContents {
    let mut out = EventLogContents::default();
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut number = 0u64;
    while let Some(line) = lines.next() {
        number += 1;
        let last = lines.peek().is_none();
        if last {
            // After the final newline: empty, or a line cut before its newline.
            if !line.is_empty() {
                out.torn_tail = true;
                out.dropped_lines.push(number);
            }
            break;
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v @ Value::Object(_)) => out.records.push(v),
            _ => out.dropped_lines.push(number),
        }
    }
    out
}

/// A record under construction.
pub(crate) struct Record(Map<String, Value>);

impl Record {
    pub fn new(kind: &str, level: &str, run_id: &str, timestamp_ms: i64) -> Record {
        let mut m = Map::new();
        m.insert(
            "timestamp".into(),
            crate::observe::iso8601_ms(timestamp_ms).into(),
        );
        m.insert("type".into(), kind.into());
        m.insert("level".into(), level.into());
        m.insert("run_id".into(), run_id.into());
        Record(m)
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Record {
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn set_opt(self, key: &str, value: Option<impl Into<Value>>) -> Record {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    pub fn end(self, end_ms: i64, duration_ms: f64) -> Record {
        self.set("end_timestamp", crate::observe::iso8601_ms(end_ms))
            .set("duration_ms", round3(duration_ms))
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Arguments as logged: scrubbed of keys, tokens and personal data.
pub(crate) fn scrubbed(v: &Value) -> Value {
    let mut v = v.clone();
    scrub_json(&mut v);
    v
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn torn_tail_and_garbage_are_dropped() {
        let text = b"{\"a\":1}\n{\"b\":2}\nnot json\n\n[1]\n{\"c\":3}\n{\"d\":";
        let c = parse_event_log(text);
        assert_eq!(
            c.records,
            vec![json!({"a": 1}), json!({"b": 2}), json!({"c": 3})]
        );
        assert_eq!(c.dropped_lines, vec![3, 5, 7]);
        assert!(c.torn_tail);
        // A complete object that lost only its newline is still a torn line.
        let c = parse_event_log(b"{\"a\":1}\n{\"b\":2}");
        assert_eq!(c.records, vec![json!({"a": 1})]);
        assert!(c.torn_tail);
        let c = parse_event_log(b"");
        assert!(c.records.is_empty() && !c.torn_tail && c.dropped_lines.is_empty());
    }

    #[test]
    fn reopening_after_a_torn_line_keeps_new_lines_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"torn\":").unwrap();
        let log = EventLog::open(&path).unwrap();
        log.append(&json!({"b": 2}));
        log.append(&json!({"c": "x\ny"}));
        let c = read_event_log(&path).unwrap();
        assert_eq!(
            c.records,
            vec![json!({"a": 1}), json!({"b": 2}), json!({"c": "x\ny"})]
        );
        assert_eq!(c.dropped_lines, vec![2]);
        assert!(!c.torn_tail);
        assert_eq!(log.status().lines_written, 2);
        assert_eq!(log.status().write_errors, 0);
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let e = EventLog::open(Path::new("/nonexistent-dir/x/events.jsonl")).unwrap_err();
        assert_eq!(e.code(), "io");
    }
}
