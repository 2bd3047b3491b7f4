//! The guard's settings: one shape for every language (JSON with snake_case keys, unknown keys
//! refused with the key named).
//!
//! ```json
//! {"max_steps": 50, "max_time_s": 120,
//!  "loops": {"same_action": 5, "near_duplicate": 5, "alternation_cycles": 3, "same_error": 3},
//!  "event_log": "run.jsonl", "log_arguments": false}
//! ```

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Argument keys whose values never make two calls different: per-call ids, nonces and clock
/// readings a client stamps on every request. Compared after [`normalize_key`]
/// (`requestId`, `Request-ID` → `request_id`).
///
/// [`normalize_key`]: super::normalize::normalize_key
pub const DEFAULT_COSMETIC_KEYS: &[&str] = &[
    "request_id",
    "x_request_id",
    "trace_id",
    "span_id",
    "correlation_id",
    "call_id",
    "tool_call_id",
    "idempotency_key",
    "nonce",
    "cache_buster",
    "timestamp",
    "ts",
    "now",
    "current_time",
    "client_time",
    "sent_at",
    "created_at",
    "updated_at",
];

/// Argument keys whose values always make two calls different, compared exactly (no case,
/// whitespace or id normalisation): the position in a listing. A cursor is often an opaque hex
/// or base64 string and a `since` a timestamp, which would otherwise pass for cosmetic ids, so
/// paging through a result set is never mistaken for a loop.
pub const DEFAULT_MEANINGFUL_KEYS: &[&str] = &[
    "page",
    "page_number",
    "page_num",
    "page_token",
    "next_page_token",
    "page_size",
    "per_page",
    "offset",
    "cursor",
    "next_cursor",
    "continuation_token",
    "next_token",
    "marker",
    "after",
    "before",
    "since",
    "until",
    "start",
    "end",
    "from",
    "to",
    "skip",
    "limit",
    "start_index",
    "start_line",
    "end_line",
    "line",
    "range",
    "position",
];

/// How a run is bounded. `Default`: no step or time limit, loop detection on with its defaults,
/// no event log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Steps the run may take; the next one is refused (`max_steps`).
    pub max_steps: Option<u64>,
    /// Wall time from the guard's creation; a step or LLM call still running at the deadline is
    /// cancelled (`max_time`). JSON: `max_time_s`, seconds (fractions allowed).
    #[serde(
        rename = "max_time_s",
        serialize_with = "ser_secs",
        deserialize_with = "de_secs"
    )]
    pub max_time: Option<Duration>,
    pub loops: LoopConfig,
    /// JSON Lines file the events are appended to (created if missing).
    pub event_log: Option<PathBuf>,
    /// Write each step's arguments (scrubbed of keys and personal data) into the event log.
    /// Off by default, like the request log's bodies: the log always carries a fingerprint of
    /// the arguments, which is enough to see a repetition.
    pub log_arguments: bool,
}

/// Loop detection, without an LLM. A threshold of 0 turns its rule off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// All rules at once.
    pub enabled: bool,
    /// The same action (name and arguments) with the same result, this many times in a row
    /// (5, as Gemini CLI's `TOOL_CALL_LOOP_THRESHOLD`).
    pub same_action: u32,
    /// Actions and results equal once cosmetic differences are normalised away (whitespace,
    /// key order, case, ids, timestamps), this many times in a row.
    pub near_duplicate: u32,
    /// Two different steps taking turns, A-B-A-B-…: this many full cycles (3 = the last six
    /// steps, as OpenHands' stuck detector).
    pub alternation_cycles: u32,
    /// The same tool failing with the same error this many times in a row, whatever its
    /// arguments (3, as OpenHands).
    pub same_error: u32,
    /// Replaces [`DEFAULT_COSMETIC_KEYS`].
    pub cosmetic_keys: Vec<String>,
    /// Replaces [`DEFAULT_MEANINGFUL_KEYS`].
    pub meaningful_keys: Vec<String>,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            enabled: true,
            same_action: 5,
            near_duplicate: 5,
            alternation_cycles: 3,
            same_error: 3,
            cosmetic_keys: DEFAULT_COSMETIC_KEYS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            meaningful_keys: DEFAULT_MEANINGFUL_KEYS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl GuardConfig {
    /// Parses settings from JSON (`null` = defaults), naming the bad or unknown key.
    pub fn from_json(value: Value) -> Result<GuardConfig> {
        if value.is_null() {
            return Ok(GuardConfig::default());
        }
        if !value.is_object() {
            return Err(bad("", "expected an object"));
        }
        let config: GuardConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.inner().to_string();
            // The path names an unknown key itself; make sure of it.
            let path = match unknown_field(&inner) {
                Some(key) if path.is_empty() => key.to_string(),
                Some(key) if path != key && !path.ends_with(&format!(".{key}")) => {
                    format!("{path}.{key}")
                }
                _ => path,
            };
            bad(&path, &inner)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot: thresholds that would fire on the first step.
    pub fn validate(&self) -> Result<()> {
        if self.max_steps == Some(0) {
            return Err(bad(
                "max_steps",
                "expected at least 1 (or null for no limit)",
            ));
        }
        if self.max_time == Some(Duration::ZERO) {
            return Err(bad(
                "max_time_s",
                "expected more than 0 (or null for no limit)",
            ));
        }
        let l = &self.loops;
        for (key, v, min) in [
            ("same_action", l.same_action, 2),
            ("near_duplicate", l.near_duplicate, 2),
            ("alternation_cycles", l.alternation_cycles, 2),
            ("same_error", l.same_error, 2),
        ] {
            if v != 0 && v < min {
                return Err(bad(
                    &format!("loops.{key}"),
                    &format!("expected 0 (off) or at least {min}"),
                ));
            }
            if v > 1000 {
                return Err(bad(&format!("loops.{key}"), "expected at most 1000"));
            }
        }
        Ok(())
    }
}

fn bad(path: &str, what: &str) -> Error {
    let at = if path.is_empty() { "" } else { ": " };
    Error::invalid_input(format!("guard config{at}{path}: {what}"))
        .with_details(json!({ "path": path }))
}

/// The key serde named in "unknown field `x`, expected one of …".
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(&rest[..rest.find('`')?])
}

fn ser_secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn de_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error as _;
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(s) if (0.0..1e12).contains(&s) => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => Err(D::Error::custom(format!("expected seconds >= 0, got {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn defaults_and_round_trip() {
        let c = GuardConfig::from_json(Value::Null).unwrap();
        assert_eq!(c, GuardConfig::default());
        assert_eq!(c.loops.same_action, 5);
        assert_eq!(c.loops.alternation_cycles, 3);
        assert_eq!(c.loops.same_error, 3);
        let c = GuardConfig::from_json(json!({"max_steps": 10, "max_time_s": 1.5,
            "loops": {"same_action": 4}, "event_log": "/tmp/x.jsonl"}))
        .unwrap();
        assert_eq!(c.max_steps, Some(10));
        assert_eq!(c.max_time, Some(Duration::from_millis(1500)));
        assert_eq!(c.loops.same_action, 4);
        assert_eq!(c.loops.near_duplicate, 5);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["max_time_s"], json!(1.5));
        assert_eq!(GuardConfig::from_json(back).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = GuardConfig::from_json(json!({"max_step": 3})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(e.details.as_ref().unwrap()["path"], "max_step");
        assert!(e.message.contains("max_step"), "{}", e.message);
        let e = GuardConfig::from_json(json!({"loops": {"repeat": 3}})).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert_eq!(e.details.as_ref().unwrap()["path"], "loops.repeat");
        assert!(e.message.contains("repeat"), "{}", e.message);
    }

    #[test]
    fn bad_values_are_named() {
        for (v, path) in [
            (json!({"max_steps": 0}), "max_steps"),
            (json!({"max_steps": -1}), "max_steps"),
            (json!({"max_time_s": 0}), "max_time_s"),
            (json!({"max_time_s": -2}), "max_time_s"),
            (json!({"max_time_s": "10"}), "max_time_s"),
            (json!({"loops": {"same_error": 1}}), "loops.same_error"),
            (
                json!({"loops": {"alternation_cycles": 1}}),
                "loops.alternation_cycles",
            ),
            (json!([]), ""),
        ] {
            let e = GuardConfig::from_json(v.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{v}");
            assert_eq!(
                e.details.as_ref().unwrap()["path"],
                path,
                "{v}: {}",
                e.message
            );
        }
        // 0 turns a rule off.
        let c = GuardConfig::from_json(json!({"loops": {"same_error": 0}})).unwrap();
        assert_eq!(c.loops.same_error, 0);
    }
}
