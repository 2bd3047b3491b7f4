//! The core's chat response and chunk as JS objects: napi builds them field by field with
//! camelCase names (no JSON detour). Token counts are JS numbers.

use napi_derive::napi;
use trinity_core::llm;

// Named as in JS (the generated `.d.ts` uses these names); core types are `llm::...`.

#[napi(object)]
pub struct Usage {
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub total_tokens: f64,
    /// Prompt tokens the provider served from its own prompt cache.
    pub cached_tokens: f64,
}

impl From<llm::Usage> for Usage {
    fn from(u: llm::Usage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens as f64,
            completion_tokens: u.completion_tokens as f64,
            total_tokens: u.total_tokens as f64,
            cached_tokens: u.cached_tokens as f64,
        }
    }
}

/// OpenAI's shape: `{ id, type: "function", function: { name, arguments } }`.
#[napi(object)]
pub struct ToolCall {
    pub id: String,
    #[napi(js_name = "type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[napi(object)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
}

impl From<llm::ToolCall> for ToolCall {
    fn from(t: llm::ToolCall) -> Self {
        ToolCall {
            id: t.id,
            kind: t.kind,
            function: FunctionCall {
                name: t.function.name,
                arguments: t.function.arguments,
            },
        }
    }
}

#[napi(object)]
pub struct ChatResponse {
    pub id: String,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Usage,
    pub provider: String,
    pub model: String,
    pub latency_ms: f64,
    pub cost_usd: Option<f64>,
    pub cached: bool,
    pub attempts: u32,
}

impl From<llm::ChatResponse> for ChatResponse {
    fn from(r: llm::ChatResponse) -> Self {
        ChatResponse {
            id: r.id,
            content: r.content,
            tool_calls: r.tool_calls.into_iter().map(Into::into).collect(),
            finish_reason: r.finish_reason,
            usage: r.usage.into(),
            provider: r.provider,
            model: r.model,
            latency_ms: r.latency_ms,
            cost_usd: r.cost_usd,
            cached: r.cached,
            attempts: r.attempts,
        }
    }
}

/// A piece of a tool call; the first piece of a call carries `id` and `name`.
#[napi(object)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

#[napi(object)]
pub struct ChatChunk {
    pub delta: String,
    pub tool_calls: Vec<ToolCallDelta>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// Replayed from the response cache.
    pub cached: bool,
}

impl From<llm::ChatChunk> for ChatChunk {
    fn from(c: llm::ChatChunk) -> Self {
        ChatChunk {
            delta: c.delta,
            tool_calls: c
                .tool_calls
                .into_iter()
                .map(|t| ToolCallDelta {
                    index: t.index,
                    id: t.id,
                    name: t.name,
                    arguments: t.arguments,
                })
                .collect(),
            finish_reason: c.finish_reason,
            usage: c.usage.map(Into::into),
            cached: c.cached,
        }
    }
}
