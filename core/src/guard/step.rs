//! What a step reports: its action and how it ended; and what an LLM call reports.

use crate::error::{Error, Result};
use crate::llm::ChatResponse;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::time::Duration;

/// What a step does: a tool (or any named action) and its arguments. Arguments given as JSON
/// text (as models write them) are compared as the value they hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

impl Action {
    /// From `{"name", "arguments"?}`, naming a bad field.
    pub fn from_json(value: Value) -> Result<Action> {
        parse("action", value)
    }

    pub fn new(name: impl Into<String>, arguments: Value) -> Action {
        Action {
            name: name.into(),
            arguments,
        }
    }
}

/// How a step ended. JSON: `{"ok": <value>}` or `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepOutcome {
    Ok(Value),
    Error(StepError),
}

/// A failed step's error: a code (ours, e.g. `not_found`, or the tool's own) and a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl StepOutcome {
    /// From `{"ok": v}` or `{"error": {"code", "message"?}}`, naming a bad field.
    pub fn from_json(value: Value) -> Result<StepOutcome> {
        parse("outcome", value)
    }

    pub fn ok(value: Value) -> StepOutcome {
        StepOutcome::Ok(value)
    }

    pub fn error(code: impl Into<String>, message: impl Into<String>) -> StepOutcome {
        StepOutcome::Error(StepError {
            code: code.into(),
            message: message.into(),
        })
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, StepOutcome::Ok(_))
    }

    pub fn as_error(&self) -> Option<&StepError> {
        match self {
            StepOutcome::Error(e) => Some(e),
            StepOutcome::Ok(_) => None,
        }
    }
}

impl From<&Error> for StepError {
    fn from(e: &Error) -> StepError {
        StepError {
            code: e.code().to_string(),
            message: e.message.clone(),
        }
    }
}

impl From<&Error> for StepOutcome {
    fn from(e: &Error) -> StepOutcome {
        StepOutcome::Error(e.into())
    }
}

/// One LLM call, as the event log and the report see it. JSON keys as below, with
/// `duration_ms` for the duration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmCall {
    /// What was asked for (a model or a route alias): `gen_ai.request.model`.
    pub model: String,
    /// What answered: `gen_ai.response.model`.
    pub response_model: Option<String>,
    /// `gen_ai.provider.name`.
    pub provider: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// `None`: not priced (unknown model or rate), which the report counts apart, never as 0.
    pub cost_nano_usd: Option<u64>,
    #[serde(
        rename = "duration_ms",
        serialize_with = "ser_ms",
        deserialize_with = "de_ms"
    )]
    pub duration: Duration,
    /// Set when the call failed.
    pub error: Option<StepError>,
}

impl LlmCall {
    /// From its JSON form (`duration_ms` for the duration), naming a bad field.
    pub fn from_json(value: Value) -> Result<LlmCall> {
        parse("llm call", value)
    }

    /// A call the client answered.
    pub fn from_response(model: &str, r: &ChatResponse, duration: Duration) -> LlmCall {
        let cost_nano_usd = match &r.cost_detail {
            Some(d) => d.total_nano_usd,
            None => r.cost_usd.map(|usd| (usd * 1e9).round().max(0.0) as u64),
        };
        LlmCall {
            model: model.to_string(),
            response_model: Some(r.model.clone()).filter(|m| !m.is_empty()),
            provider: Some(r.provider.clone()).filter(|p| !p.is_empty()),
            input_tokens: Some(r.usage.prompt_tokens),
            output_tokens: Some(r.usage.completion_tokens),
            cost_nano_usd,
            duration,
            error: None,
        }
    }

    /// A call that failed (or was cancelled).
    pub fn from_error(model: &str, e: &Error, duration: Duration) -> LlmCall {
        LlmCall {
            model: model.to_string(),
            duration,
            error: Some(e.into()),
            ..LlmCall::default()
        }
    }
}

/// A finished step as reported after the fact: [`RunGuard::record_step_json`].
///
/// [`RunGuard::record_step_json`]: super::RunGuard::record_step_json
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    pub action: Action,
    pub outcome: StepOutcome,
    /// JSON `duration_ms`, checked as [`LlmCall`]'s is.
    #[serde(
        default,
        rename = "duration_ms",
        serialize_with = "ser_opt_ms",
        deserialize_with = "de_opt_ms"
    )]
    pub duration: Option<Duration>,
}

fn ser_opt_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

fn de_opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    struct Ms(#[serde(deserialize_with = "de_ms")] Duration);
    Ok(Option::<Ms>::deserialize(d)?.map(|Ms(d)| d))
}

/// `what` from JSON, or `invalid_input` naming the field (`step: outcome.error.code: …`).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Error::invalid_input(format!("{what}: {path}: {}", e.inner()))
            .with_details(serde_json::json!({ "path": path }))
    })
}

pub(crate) fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

pub(crate) fn de_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    use serde::de::Error as _;
    let ms = f64::deserialize(d)?;
    if (0.0..1e15).contains(&ms) {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        Err(D::Error::custom(format!(
            "expected milliseconds >= 0, got {ms}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_shapes() {
        let o: StepOutcome = serde_json::from_value(json!({"ok": {"n": 1}})).unwrap();
        assert_eq!(o, StepOutcome::ok(json!({"n": 1})));
        let o: StepOutcome =
            serde_json::from_value(json!({"error": {"code": "not_found", "message": "x"}}))
                .unwrap();
        assert_eq!(o, StepOutcome::error("not_found", "x"));
        assert!(serde_json::from_value::<StepOutcome>(json!({"maybe": 1})).is_err());
        let a: Action = serde_json::from_value(json!({"name": "ls"})).unwrap();
        assert_eq!(a, Action::new("ls", Value::Null));
        let c: LlmCall =
            serde_json::from_value(json!({"model": "m", "duration_ms": 12.5, "input_tokens": 3}))
                .unwrap();
        assert_eq!(c.duration, Duration::from_micros(12_500));
        assert_eq!(
            serde_json::to_value(&c).unwrap()["duration_ms"],
            json!(12.5)
        );
    }

    #[test]
    fn from_core_error() {
        let e = Error::not_found("no such file");
        assert_eq!(
            StepOutcome::from(&e),
            StepOutcome::error("not_found", "no such file")
        );
    }
}
