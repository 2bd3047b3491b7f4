//! Fixture sets: canned answers chosen by prompt hash, exact prompt or regex, in the shape of
//! seed 000's `tests/fixtures/llm_responses.yaml`.
//!
//! ```yaml
//! chaos_mode:
//!   prompt_hash: "9f86d0…"          # SHA-256 hex of the canonical prompt (see `prompt_hash`)
//!   prompt: "exact prompt text"     # or: exact text of the last user message
//!   match: "(?i)chaos"              # or: regex searched in the last user message
//!   model: gpt-4o-mini              # optional filter: only requests for this model
//!   response: "AAAA broken CSS"
//!   metadata: {model: qwen2.5-coder-3b, tokens: 150}   # reported model, completion tokens
//!   tool_calls: [{name: get_weather, arguments: {city: Paris}}]
//!   finish_reason: stop
//!   chunks: ["AAAA ", "broken ", "CSS"]                 # explicit stream chunk boundaries
//! ```

use crate::error::{Error, Result};
use crate::llm::{
    ChatChunk, ChatRequest, ChatResponse, FunctionCall, Role, ToolCall, ToolCallDelta, Usage,
};
use crate::tokens::Encoding;
use regex::Regex;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// What to answer when no fixture matches: `echo`, `not_found` or `{text: "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DefaultResponse {
    /// Echo the last user message (handy for load tests: any prompt gets an answer).
    #[default]
    Echo,
    /// Fail with `not_found` (strict tests: every prompt must have a fixture).
    NotFound,
    /// Always this text.
    Text(String),
}

// By hand: serde's enum shapes would need `!text` tags in YAML.
impl<'de> Deserialize<'de> for DefaultResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Text { text: String },
        }
        match Raw::deserialize(d)? {
            Raw::Name(n) if n == "echo" => Ok(DefaultResponse::Echo),
            Raw::Name(n) if n == "not_found" => Ok(DefaultResponse::NotFound),
            Raw::Name(other) => Err(serde::de::Error::custom(format!(
                "unknown default_response '{other}'; expected echo, not_found or {{text: ...}}"
            ))),
            Raw::Text { text } => Ok(DefaultResponse::Text(text)),
        }
    }
}

/// One tool call a fixture answers with; `arguments` may be a JSON object or JSON text.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureToolCall {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureMetadata {
    /// The model the answer reports (default: the requested model).
    #[serde(default)]
    pub model: Option<String>,
    /// Completion tokens to report (default: the o200k count of `response`).
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Prompt tokens to report (default: the o200k count of the request's messages).
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
}

/// One fixture as written in the file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    #[serde(default)]
    pub prompt_hash: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default, rename = "match")]
    pub pattern: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub response: String,
    #[serde(default)]
    pub metadata: FixtureMetadata,
    #[serde(default)]
    pub tool_calls: Vec<FixtureToolCall>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub chunks: Option<Vec<String>>,
}

/// A fixture ready to answer: regex compiled, tool calls and token count precomputed.
#[derive(Clone, Debug)]
struct Fixture {
    name: String,
    spec: FixtureSpec,
    regex: Option<Regex>,
    tool_calls: Vec<ToolCall>,
    completion_tokens: u64,
    finish_reason: String,
}

/// A set of fixtures with its matching indexes. Deserializes from the name → fixture mapping.
#[derive(Debug, Default)]
pub struct Fixtures {
    fixtures: Vec<Fixture>,
    by_hash: HashMap<String, Vec<usize>>,
    by_prompt: HashMap<String, Vec<usize>>,
    with_regex: Vec<usize>,
    default: DefaultResponse,
    counter: AtomicU64,
}

/// The canonical prompt: the text of the last user message (text parts joined, images left
/// out), or "" when there is none. System prompts and history are deliberately not part of
/// it, so one fixture keeps matching when a caller tweaks its system prompt.
pub fn canonical_prompt(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.text())
        .unwrap_or_default()
}

/// SHA-256 hex (lowercase) of the canonical prompt's UTF-8 bytes: the key of `prompt_hash`.
pub fn prompt_hash(request: &ChatRequest) -> String {
    crate::hex::sha256(canonical_prompt(request).as_bytes())
}

fn count(text: &str) -> u64 {
    Encoding::O200kBase.count(text) as u64
}

impl Fixture {
    fn compile(name: String, spec: FixtureSpec) -> Result<Fixture> {
        let regex = match &spec.pattern {
            Some(p) => Some(Regex::new(p).map_err(|e| {
                Error::config(format!("fixtures.{name}.match: invalid regex: {e}"))
                    .with_details(serde_json::json!({ "path": format!("fixtures.{name}.match") }))
            })?),
            None => None,
        };
        let tool_calls: Vec<ToolCall> = spec
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, t)| ToolCall {
                id: t.id.clone().unwrap_or_else(|| {
                    format!("call_{}_{i}", &crate::hex::sha256(name.as_bytes())[..12])
                }),
                kind: "function".into(),
                function: FunctionCall {
                    name: t.name.clone(),
                    arguments: match &t.arguments {
                        Value::String(s) => s.clone(),
                        Value::Null => "{}".into(),
                        other => other.to_string(),
                    },
                },
            })
            .collect();
        let finish_reason = spec.finish_reason.clone().unwrap_or_else(|| {
            if tool_calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            }
            .into()
        });
        let completion_tokens = spec.metadata.tokens.unwrap_or_else(|| {
            count(&spec.response)
                + tool_calls
                    .iter()
                    .map(|t| count(&t.function.name) + count(&t.function.arguments))
                    .sum::<u64>()
        });
        Ok(Fixture {
            name,
            spec,
            regex,
            tool_calls,
            completion_tokens,
            finish_reason,
        })
    }

    fn accepts_model(&self, model: &str) -> bool {
        self.spec.model.as_deref().is_none_or(|m| m == model)
    }
}

impl Fixtures {
    /// Builds a set from fixtures in file order (the order decides which regex wins).
    pub fn new(fixtures: Vec<(String, FixtureSpec)>) -> Result<Fixtures> {
        let mut set = Fixtures::default();
        for (name, spec) in fixtures {
            let i = set.fixtures.len();
            let fixture = Fixture::compile(name, spec)?;
            if let Some(h) = &fixture.spec.prompt_hash {
                set.by_hash
                    .entry(h.trim().to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
            if let Some(p) = &fixture.spec.prompt {
                set.by_prompt.entry(p.clone()).or_default().push(i);
            }
            if fixture.regex.is_some() {
                set.with_regex.push(i);
            }
            set.fixtures.push(fixture);
        }
        Ok(set)
    }

    /// Parses a YAML (or JSON, a subset of YAML) mapping of name → fixture.
    pub fn from_yaml_str(text: &str) -> Result<Fixtures> {
        let ordered: Ordered =
            serde_norway::from_str(text).map_err(|e| Error::config(format!("fixtures: {e}")))?;
        Fixtures::new(ordered.0)
    }

    /// Loads a `.yaml`, `.yml` or `.json` fixture file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Fixtures> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&format!("fixtures file {}", path.display()), e))?;
        Fixtures::from_yaml_str(&text)
            .map_err(|e| Error::config(format!("{}: {}", path.display(), e.message)))
    }

    /// Sets what unmatched prompts get.
    pub fn with_default(mut self, default: DefaultResponse) -> Self {
        self.default = default;
        self
    }

    pub fn len(&self) -> usize {
        self.fixtures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fixtures.is_empty()
    }

    /// Models named by fixtures (filters and reported models), for `GET /v1/models`.
    pub fn models(&self) -> Vec<String> {
        let mut models: Vec<String> = self
            .fixtures
            .iter()
            .flat_map(|f| [f.spec.model.clone(), f.spec.metadata.model.clone()])
            .flatten()
            .collect();
        models.sort();
        models.dedup();
        models
    }

    /// The fixture for a request: exact hash, then exact prompt, then the first regex in file
    /// order; each only among fixtures whose `model` filter accepts the request.
    fn find(&self, request: &ChatRequest) -> Option<&Fixture> {
        let prompt = canonical_prompt(request);
        let first = |ids: Option<&Vec<usize>>| {
            ids.into_iter()
                .flatten()
                .map(|&i| &self.fixtures[i])
                .find(|f| f.accepts_model(&request.model))
        };
        if !self.by_hash.is_empty() {
            if let Some(f) = first(self.by_hash.get(&crate::hex::sha256(prompt.as_bytes()))) {
                return Some(f);
            }
        }
        first(self.by_prompt.get(&prompt)).or_else(|| {
            self.with_regex
                .iter()
                .map(|&i| &self.fixtures[i])
                .find(|f| {
                    f.accepts_model(&request.model)
                        && f.regex.as_ref().is_some_and(|r| r.is_match(&prompt))
                })
        })
    }

    fn prompt_tokens(request: &ChatRequest) -> u64 {
        request.messages.iter().map(|m| count(&m.text())).sum()
    }

    /// The full answer to a request. Usage: the fixture's metadata where given, else o200k
    /// counts (prompt: the messages' texts summed; completion: the response and tool calls).
    pub fn respond(&self, request: &ChatRequest) -> Result<ChatResponse> {
        self.answer(request).map(|(response, _)| response)
    }

    /// The answer and the fixture that gave it (None: the default answered).
    fn answer(&self, request: &ChatRequest) -> Result<(ChatResponse, Option<&Fixture>)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let found = self.find(request);
        let (content, tool_calls, finish_reason, model, completion, prompt) = match found {
            Some(f) => (
                f.spec.response.clone(),
                f.tool_calls.clone(),
                f.finish_reason.clone(),
                f.spec.metadata.model.clone(),
                f.completion_tokens,
                f.spec.metadata.prompt_tokens,
            ),
            None => {
                let text = match &self.default {
                    DefaultResponse::Echo => canonical_prompt(request),
                    DefaultResponse::Text(t) => t.clone(),
                    DefaultResponse::NotFound => {
                        return Err(Error::not_found(format!(
                            "no fixture matches the prompt (sha256 {})",
                            prompt_hash(request)
                        ))
                        .with_details(serde_json::json!({ "prompt_hash": prompt_hash(request) })))
                    }
                };
                let tokens = count(&text);
                (text, vec![], "stop".to_string(), None, tokens, None)
            }
        };
        let prompt_tokens = prompt.unwrap_or_else(|| Self::prompt_tokens(request));
        let response = ChatResponse {
            id: format!("mock-{n}"),
            request_id: None,
            content,
            tool_calls,
            finish_reason: Some(finish_reason),
            usage: Usage {
                prompt_tokens,
                completion_tokens: completion,
                total_tokens: prompt_tokens + completion,
                ..Default::default()
            },
            provider: "mock".into(),
            model: model.unwrap_or_else(|| request.model.clone()),
            latency_ms: 0.0,
            cost_usd: None,
            cost_detail: None,
            cached: false,
            attempts: 1,
            debug: None,
        };
        Ok((response, found))
    }

    /// The answer as stream chunks: the fixture's `chunks`, or the text split after each run
    /// of whitespace (word-sized pieces that concatenate to the exact text); then one chunk per
    /// tool call; the last chunk has no text and carries `finish_reason` and `usage`.
    pub fn stream(&self, request: &ChatRequest) -> Result<Vec<ChatChunk>> {
        self.respond_stream(request).map(|(_, chunks)| chunks)
    }

    /// The full answer (for ids, model and usage) and its stream chunks, from one match.
    pub(crate) fn respond_stream(
        &self,
        request: &ChatRequest,
    ) -> Result<(ChatResponse, Vec<ChatChunk>)> {
        let (response, found) = self.answer(request)?;
        let chunks = chunks_of(&response, found.and_then(|f| f.spec.chunks.clone()));
        Ok((response, chunks))
    }

    /// The name of the fixture a request matches, if any (for diagnostics and tests).
    pub fn matching_name(&self, request: &ChatRequest) -> Option<&str> {
        self.find(request).map(|f| f.name.as_str())
    }
}

/// Splits a response into stream chunks (see [`Fixtures::stream`]).
pub fn chunks_of(response: &ChatResponse, explicit: Option<Vec<String>>) -> Vec<ChatChunk> {
    let pieces = explicit.unwrap_or_else(|| split_words(&response.content));
    let mut chunks: Vec<ChatChunk> = pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|delta| ChatChunk {
            delta,
            ..Default::default()
        })
        .collect();
    for (i, call) in response.tool_calls.iter().enumerate() {
        chunks.push(ChatChunk {
            tool_calls: vec![ToolCallDelta {
                index: i as u32,
                id: Some(call.id.clone()),
                name: Some(call.function.name.clone()),
                arguments: call.function.arguments.clone(),
            }],
            ..Default::default()
        });
    }
    chunks.push(ChatChunk {
        finish_reason: response.finish_reason.clone(),
        usage: Some(response.usage),
        ..Default::default()
    });
    chunks
}

/// "Hello big  world" → ["Hello ", "big  ", "world"].
pub fn split_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(text[start..i].to_string());
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_string());
    }
    out
}

/// A name → fixture mapping that keeps file order (serde maps into `HashMap` would lose it,
/// and the first matching regex must win).
struct Ordered(Vec<(String, FixtureSpec)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of fixture name to fixture")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, FixtureSpec>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
            // An empty file.
            fn visit_unit<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered(vec![]))
            }
            fn visit_none<E>(self) -> std::result::Result<Ordered, E> {
                Ok(Ordered(vec![]))
            }
        }
        d.deserialize_any(V)
    }
}

/// Inline fixtures in a `MockConfig` deserialize straight into a ready set.
impl<'de> Deserialize<'de> for Fixtures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let ordered = Ordered::deserialize(d)?;
        Fixtures::new(ordered.0).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::llm::Message;

    fn ask(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::new(Role::System, "be brief"),
                Message::new(Role::User, text),
            ],
            ..Default::default()
        }
    }

    const YAML: &str = r#"
by_regex_first:
  match: "(?i)hello"
  response: first regex
by_regex_second:
  match: "hello"
  response: second regex
by_exact:
  prompt: "hello exact"
  response: exact answer
by_hash:
  prompt_hash: "HASH"
  response: hashed answer
  metadata: {model: qwen2.5-coder-3b, tokens: 150}
tooly:
  prompt: "weather?"
  response: ""
  tool_calls:
    - name: get_weather
      arguments: {city: Paris}
chunked:
  prompt: "chunks"
  response: "abcdef"
  chunks: ["ab", "cd", "ef"]
only_for_b:
  prompt: "model filtered"
  model: b
  response: for b
"#;

    fn set() -> Fixtures {
        let hash = crate::hex::sha256(b"hello exact");
        Fixtures::from_yaml_str(&YAML.replace("HASH", &hash)).unwrap()
    }

    #[test]
    fn prompt_hash_is_sha256_of_last_user_text() {
        assert_eq!(
            prompt_hash(&ask("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn match_order_hash_then_exact_then_regex_in_file_order() {
        let f = set();
        // "hello exact" matches all three kinds: the hash wins.
        let r = f.respond(&ask("hello exact")).unwrap();
        assert_eq!(r.content, "hashed answer");
        assert_eq!(r.model, "qwen2.5-coder-3b");
        assert_eq!(r.usage.completion_tokens, 150);
        assert_eq!(
            f.respond(&ask("weather?"))
                .unwrap()
                .finish_reason
                .as_deref(),
            Some("tool_calls")
        );
        // Both regexes match: the first in file order wins.
        assert_eq!(
            f.respond(&ask("well hello")).unwrap().content,
            "first regex"
        );
        assert_eq!(f.respond(&ask("HELLO")).unwrap().content, "first regex");
        assert_eq!(f.matching_name(&ask("say hello")), Some("by_regex_first"));
    }

    #[test]
    fn default_echo_text_and_not_found() {
        let f = set();
        let r = f.respond(&ask("nothing matches")).unwrap();
        assert_eq!(r.content, "nothing matches");
        assert_eq!(r.model, "m");
        assert_eq!(r.usage.completion_tokens, 2);
        assert_eq!(r.usage.total_tokens, r.usage.prompt_tokens + 2);
        let f = set().with_default(DefaultResponse::Text("canned".into()));
        assert_eq!(f.respond(&ask("zzz")).unwrap().content, "canned");
        let f = set().with_default(DefaultResponse::NotFound);
        assert_eq!(
            f.respond(&ask("zzz")).unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn model_filter() {
        let f = set();
        assert_eq!(
            f.respond(&ask("model filtered")).unwrap().content,
            "model filtered"
        );
        let mut req = ask("model filtered");
        req.model = "b".into();
        assert_eq!(f.respond(&req).unwrap().content, "for b");
    }

    #[test]
    fn tool_calls_arguments_become_json_text() {
        let r = set().respond(&ask("weather?")).unwrap();
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!(r.tool_calls[0].function.name, "get_weather");
        let args: Value = serde_json::from_str(&r.tool_calls[0].function.arguments).unwrap();
        assert_eq!(args, serde_json::json!({"city": "Paris"}));
        assert!(r.tool_calls[0].id.starts_with("call_"));
    }

    #[test]
    fn stream_splits_words_and_ends_with_usage() {
        let f = set().with_default(DefaultResponse::Text("Hello big  world\n".into()));
        let chunks = f.stream(&ask("zzz")).unwrap();
        let deltas: Vec<&str> = chunks.iter().map(|c| c.delta.as_str()).collect();
        assert_eq!(deltas, ["Hello ", "big  ", "world\n", ""]);
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason.as_deref(), Some("stop"));
        assert!(last.usage.unwrap().completion_tokens > 0);
        assert!(chunks[..3]
            .iter()
            .all(|c| c.usage.is_none() && c.finish_reason.is_none()));

        let chunks = set().stream(&ask("chunks")).unwrap();
        let deltas: Vec<&str> = chunks.iter().map(|c| c.delta.as_str()).collect();
        assert_eq!(deltas, ["ab", "cd", "ef", ""]);

        let chunks = set().stream(&ask("weather?")).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].tool_calls[0].name.as_deref(), Some("get_weather"));
    }

    #[test]
    fn bad_regex_and_bad_shape_are_config_errors() {
        let e = Fixtures::from_yaml_str("x: {match: '(', response: y}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("fixtures.x.match"));
        let e = Fixtures::from_yaml_str("x: {respnse: y}").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(Fixtures::from_yaml_str("").unwrap().is_empty());
    }

    #[test]
    fn json_files_load_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        std::fs::write(&path, r#"{"a": {"prompt": "p", "response": "r"}}"#).unwrap();
        let f = Fixtures::from_file(&path).unwrap();
        assert_eq!(f.respond(&ask("p")).unwrap().content, "r");
        assert_eq!(
            Fixtures::from_file(dir.path().join("nope.yaml"))
                .unwrap_err()
                .kind,
            ErrorKind::Io
        );
    }
}
