//! One request type and one response type for every provider, in OpenAI's vocabulary (the
//! lingua franca callers already speak); each wire module converts to and from its format.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    /// OpenAI's newer name for system messages; treated as `system`.
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// An `https://` URL or a `data:image/...;base64,` URL.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Anthropic's prompt-cache breakpoint (`cache_control`) on a content part, a system part or a
/// tool: `{"type": "ephemeral"}`, optionally with `"ttl": "5m"` or `"1h"`. Anthropic gets it on
/// the same block; OpenAI and Gemini, which cache prefixes by themselves, never see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a cache_control object: {\"type\": \"ephemeral\"} and optionally \"ttl\""
)]
pub struct PromptCacheControl {
    #[serde(rename = "type")]
    pub kind: PromptCacheKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<PromptCacheTtl>,
}

impl PromptCacheControl {
    /// `{"type": "ephemeral"}`: Anthropic's default lifetime (5 minutes).
    pub fn ephemeral() -> Self {
        PromptCacheControl {
            kind: PromptCacheKind::Ephemeral,
            ttl: None,
        }
    }

    fn is_one_hour(&self) -> bool {
        self.ttl == Some(PromptCacheTtl::OneHour)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptCacheKind {
    Ephemeral,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromptCacheTtl {
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

/// Breakpoints Anthropic takes in one request (tools, system and messages together).
pub const MAX_CACHE_BREAKPOINTS: usize = 4;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<PromptCacheControl>,
    },
    ImageUrl {
        image_url: ImageUrl,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<PromptCacheControl>,
    },
}

impl ContentPart {
    /// A text part without a cache breakpoint.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text {
            text: text.into(),
            cache_control: None,
        }
    }

    /// The part's prompt-cache breakpoint, if it has one.
    pub fn cache_control(&self) -> Option<&PromptCacheControl> {
        match self {
            ContentPart::Text { cache_control, .. }
            | ContentPart::ImageUrl { cache_control, .. } => cache_control.as_ref(),
        }
    }
}

/// Removes `cache_control` from serialized messages' content parts, or from serialized tools:
/// for providers that do not take it (OpenAI and strict OpenAI-compatible servers answer 400
/// to the unknown field), and for what the answer does not depend on (the cache key).
pub(crate) fn strip_cache_control(list: &mut Value) {
    for item in list.as_array_mut().into_iter().flatten() {
        let Some(obj) = item.as_object_mut() else {
            continue;
        };
        obj.remove("cache_control");
        if let Some(Value::Array(parts)) = obj.get_mut("content") {
            for part in parts.iter_mut().filter_map(Value::as_object_mut) {
                part.remove("cache_control");
            }
        }
    }
}

/// Message content: a string, or a list of text and image parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// A string or a list of parts; a bad part is reported at its own index
/// (`messages[0].content[1]`), not as "no variant matched".
impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Content;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of content parts")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Content, E> {
                Ok(Content::Text(s.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Content, E> {
                Ok(Content::Text(s))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Content, A::Error> {
                Vec::<ContentPart>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Content::Parts)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Content {
    /// The text of the content, parts joined; images are left out.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text, .. } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join(""),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    pub fn text(&self) -> String {
        self.content.as_ref().map(Content::text).unwrap_or_default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
    /// Anthropic's prompt-cache breakpoint after the tool definitions (put it on the last tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<PromptCacheControl>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: Value },
}

/// A chat request. `model` is a configured route name, a registry id or alias, or
/// `provider/model` naming a configured provider directly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Per-call overall timeout, overriding the provider's `timeout_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Per-call cache control: ttl_s, no_cache (refresh), no_store, namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::cache::CacheControl>,
    /// Per-call context settings (`auto_prune`, `strategy`, ...), overriding the config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<crate::context::ContextControl>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

impl ChatRequest {
    /// Parses a request from JSON (what every binding hands over), naming the bad field.
    pub fn from_json(value: Value) -> Result<ChatRequest> {
        let req: ChatRequest = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid_input(format!("request: {path}: {}", e.inner()))
                .with_details(serde_json::json!({ "path": path }))
        })?;
        req.validate()?;
        Ok(req)
    }

    /// Checks what no provider would accept, before any network call.
    pub fn validate(&self) -> Result<()> {
        let bad = |path: &str, what: &str| {
            Err(Error::invalid_input(format!("request: {path}: {what}"))
                .with_details(serde_json::json!({ "path": path })))
        };
        if self.model.trim().is_empty() {
            return bad("model", "expected a model name");
        }
        if self.messages.is_empty() {
            return bad("messages", "expected at least one message");
        }
        if let Some(c) = &self.context {
            c.validate()?;
        }
        for (i, m) in self.messages.iter().enumerate() {
            if m.role == Role::Tool && m.tool_call_id.is_none() {
                return bad(
                    &format!("messages[{i}].tool_call_id"),
                    "a tool message needs the id of the call it answers",
                );
            }
            if m.content.is_none() && m.tool_calls.is_empty() {
                return bad(
                    &format!("messages[{i}].content"),
                    "expected content or tool_calls",
                );
            }
        }
        if let Some(t) = self.temperature {
            if !(0.0..=2.0).contains(&t) {
                return bad("temperature", "expected a number between 0 and 2");
            }
        }
        if let Some(p) = self.top_p {
            if !(0.0..=1.0).contains(&p) {
                return bad("top_p", "expected a number between 0 and 1");
            }
        }
        if self.max_tokens == Some(0) {
            return bad("max_tokens", "expected a positive integer");
        }
        if self.timeout_ms == Some(0) {
            return bad("timeout_ms", "expected a positive integer");
        }
        self.validate_cache_breakpoints()
    }

    /// The prompt-cache breakpoints as Anthropic reads them (tools, the system prompt, then the
    /// messages), each with its path. A tool message's parts become one `tool_result` block, so
    /// its marks count once (its last).
    pub fn cache_breakpoints(&self) -> Vec<(String, &PromptCacheControl)> {
        let mut out: Vec<(String, &PromptCacheControl)> = self
            .tools
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let c = t.cache_control.as_ref()?;
                Some((format!("tools[{i}].cache_control"), c))
            })
            .collect();
        let is_system = |m: &Message| matches!(m.role, Role::System | Role::Developer);
        for system in [true, false] {
            for (i, m) in self.messages.iter().enumerate() {
                if is_system(m) != system {
                    continue;
                }
                let Some(Content::Parts(parts)) = &m.content else {
                    continue;
                };
                let mut marked = parts.iter().enumerate().filter_map(|(k, p)| {
                    let c = p.cache_control()?;
                    Some((format!("messages[{i}].content[{k}].cache_control"), c))
                });
                if m.role == Role::Tool {
                    out.extend(marked.next_back());
                } else {
                    out.extend(marked);
                }
            }
        }
        out
    }

    /// Anthropic answers 400 to more than 4 breakpoints, and to a 1-hour one after a
    /// 5-minute one; both are refused here, before anything is sent to any provider.
    fn validate_cache_breakpoints(&self) -> Result<()> {
        let marks = self.cache_breakpoints();
        let count = marks.len();
        if count > MAX_CACHE_BREAKPOINTS {
            let path = &marks[MAX_CACHE_BREAKPOINTS].0;
            return Err(Error::invalid_input(format!(
                "request: {path}: {count} cache_control breakpoints; Anthropic allows at most {MAX_CACHE_BREAKPOINTS}"
            ))
            .with_details(serde_json::json!({
                "path": path,
                "count": count,
                "max": MAX_CACHE_BREAKPOINTS,
            })));
        }
        if let Some(short) = marks.iter().position(|(_, c)| !c.is_one_hour()) {
            if let Some((path, _)) = marks[short..].iter().find(|(_, c)| c.is_one_hour()) {
                let before = &marks[short].0;
                return Err(Error::invalid_input(format!(
                    "request: {path}: a 1h cache_control breakpoint must come before every 5m one \
                     ({before} is 5m; Anthropic reads tools, system, then messages)"
                ))
                .with_details(serde_json::json!({ "path": path })));
            }
        }
        Ok(())
    }
}

/// Token counts normalised across providers (OpenAI's convention): `prompt_tokens` counts every
/// input token, cache reads and writes included; `completion_tokens` every output token,
/// reasoning included. The parts say how much of each was what.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Prompt tokens the provider served from its own prompt cache (a cache read).
    #[serde(default)]
    pub cached_tokens: u64,
    /// Prompt tokens written to the provider's cache for 5 minutes (Anthropic's default write).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// Prompt tokens written to the provider's cache for 1 hour.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: u64,
    /// Output tokens spent on reasoning (thinking), part of `completion_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The answer to a chat request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The provider's id for the response.
    pub id: String,
    /// The provider's request id header (`x-request-id`, `request-id`), for support tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls`, `content_filter`, or the provider's own word.
    pub finish_reason: Option<String>,
    pub usage: Usage,
    /// The configured provider name that answered.
    pub provider: String,
    /// The model that answered, as the provider named it.
    pub model: String,
    pub latency_ms: f64,
    /// What the call cost in USD; `None` when it could not be priced (see `cost_detail`).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The cost by token kind, the exact nano-USD, and why it is unpriced if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_detail: Option<crate::cost::CostDetail>,
    #[serde(default)]
    pub cached: bool,
    #[serde(default = "one")]
    pub attempts: u32,
    /// Seed 004's `DebugInfo`: our request id (the request log's), timings, tokens, cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<crate::observe::DebugInfo>,
}

fn one() -> u32 {
    1
}

impl ChatChunk {
    /// A whole answer as one chunk: its text, every tool call, the finish reason and usage.
    pub fn whole(answer: ChatResponse) -> ChatChunk {
        ChatChunk {
            delta: answer.content,
            tool_calls: answer
                .tool_calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| ToolCallDelta {
                    index: i as u32,
                    id: Some(call.id),
                    name: Some(call.function.name),
                    arguments: call.function.arguments,
                })
                .collect(),
            finish_reason: answer.finish_reason,
            usage: Some(answer.usage),
            ..Default::default()
        }
    }
}

/// A piece of a tool call as it streams: the first delta of a call carries `id` and `name`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: String,
}

/// One streamed chunk; the last one carries `finish_reason` and, where the provider reports
/// it, `usage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub delta: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallDelta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// On the chunk that carries the usage: what the stream cost (as `ChatResponse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_detail: Option<crate::cost::CostDetail>,
    /// Replayed from the response cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}
