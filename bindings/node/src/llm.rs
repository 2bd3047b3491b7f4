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
    /// Prompt tokens written to the provider's cache for 5 minutes / for 1 hour.
    pub cache_write_tokens: f64,
    #[napi(js_name = "cacheWrite1hTokens")]
    pub cache_write_1h_tokens: f64,
    /// Output tokens spent on reasoning, part of `completionTokens`.
    pub reasoning_tokens: f64,
}

impl From<llm::Usage> for Usage {
    fn from(u: llm::Usage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens as f64,
            completion_tokens: u.completion_tokens as f64,
            total_tokens: u.total_tokens as f64,
            cached_tokens: u.cached_tokens as f64,
            cache_write_tokens: u.cache_write_tokens as f64,
            cache_write_1h_tokens: u.cache_write_1h_tokens as f64,
            reasoning_tokens: u.reasoning_tokens as f64,
        }
    }
}

/// What `cost()` takes: any of the usage counts (absent ones are 0).
#[napi(object)]
pub struct UsageInput {
    pub prompt_tokens: Option<f64>,
    pub completion_tokens: Option<f64>,
    pub cached_tokens: Option<f64>,
    pub cache_write_tokens: Option<f64>,
    #[napi(js_name = "cacheWrite1hTokens")]
    pub cache_write_1h_tokens: Option<f64>,
    pub reasoning_tokens: Option<f64>,
}

/// A call's cost: nano-USD totals and parts (JS numbers, exact up to $9 million a call).
#[napi(object)]
pub struct CostDetail {
    pub total_nano_usd: Option<f64>,
    pub total_usd: Option<f64>,
    pub input_nano_usd: f64,
    pub cached_input_nano_usd: f64,
    pub cache_write_nano_usd: f64,
    pub output_nano_usd: f64,
    pub reasoning_nano_usd: f64,
    pub tier_above_tokens: Option<f64>,
    pub estimated: bool,
    /// `unknown_model` or `missing_rate:<field>` when the total is absent.
    pub unpriced_reason: Option<String>,
}

impl From<trinity_core::cost::CostDetail> for CostDetail {
    fn from(d: trinity_core::cost::CostDetail) -> Self {
        CostDetail {
            total_nano_usd: d.total_nano_usd.map(|n| n as f64),
            total_usd: d.total_usd,
            input_nano_usd: d.input_nano_usd as f64,
            cached_input_nano_usd: d.cached_input_nano_usd as f64,
            cache_write_nano_usd: d.cache_write_nano_usd as f64,
            output_nano_usd: d.output_nano_usd as f64,
            reasoning_nano_usd: d.reasoning_nano_usd as f64,
            tier_above_tokens: d.tier_above_tokens.map(|n| n as f64),
            estimated: d.estimated,
            unpriced_reason: d.unpriced_reason,
        }
    }
}

/// A token count from JS: a non-negative integer.
fn tokens(v: Option<f64>, what: &str) -> trinity_core::Result<u64> {
    match v {
        None => Ok(0),
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9.0e15 => Ok(n as u64),
        Some(n) => Err(trinity_core::Error::invalid_input(format!(
            "usage.{what}: expected a non-negative integer, got {n}"
        ))
        .with_details(serde_json::json!({ "field": format!("usage.{what}") }))),
    }
}

/// `cost(model, usage, estimated?)`: what a call with this usage costs at the registry's prices.
#[napi]
pub fn cost(
    env: napi::Env,
    model: String,
    usage: UsageInput,
    estimated: Option<bool>,
) -> napi::Result<CostDetail> {
    crate::error::guard(&env, || {
        let prompt = tokens(usage.prompt_tokens, "promptTokens")?;
        let completion = tokens(usage.completion_tokens, "completionTokens")?;
        let u = llm::Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_tokens: tokens(usage.cached_tokens, "cachedTokens")?,
            cache_write_tokens: tokens(usage.cache_write_tokens, "cacheWriteTokens")?,
            cache_write_1h_tokens: tokens(usage.cache_write_1h_tokens, "cacheWrite1hTokens")?,
            reasoning_tokens: tokens(usage.reasoning_tokens, "reasoningTokens")?,
        };
        Ok(trinity_core::cost::cost_named(&model, &u, estimated.unwrap_or(false)).into())
    })
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
    pub cost_detail: Option<CostDetail>,
    pub cached: bool,
    pub attempts: u32,
    /// Seed 004's `DebugInfo` (camelCase): the request log's id, timings, tokens, cost.
    #[napi(
        ts_type = "{ requestId: string; provider: string; model: string; durationMs: number; inputTokens: number; outputTokens: number; cost: number | null; latencyMs: number; timeToFirstTokenMs: number | null }"
    )]
    pub debug: Option<serde_json::Value>,
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
            cost_detail: r.cost_detail.map(Into::into),
            cached: r.cached,
            attempts: r.attempts,
            debug: r.debug.as_ref().map(crate::observe::to_camel),
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
    /// On the chunk that carries the usage: what the stream cost.
    pub cost_usd: Option<f64>,
    pub cost_detail: Option<CostDetail>,
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
            cost_usd: c.cost_usd,
            cost_detail: c.cost_detail.map(Into::into),
            cached: c.cached,
        }
    }
}
