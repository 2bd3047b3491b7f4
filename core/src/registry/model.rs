//! A model definition and its validation.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// What a model can do. Unknown names are rejected; common synonyms are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Chat,
    Vision,
    Tools,
    JsonMode,
    Streaming,
    Reasoning,
}

impl Capability {
    pub const ALL: &'static [Capability] = &[
        Capability::Chat,
        Capability::Vision,
        Capability::Tools,
        Capability::JsonMode,
        Capability::Streaming,
        Capability::Reasoning,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::Chat => "chat",
            Capability::Vision => "vision",
            Capability::Tools => "tools",
            Capability::JsonMode => "json_mode",
            Capability::Streaming => "streaming",
            Capability::Reasoning => "reasoning",
        }
    }

    /// Parses a capability or one of the names other libraries use for it.
    pub fn parse(name: &str) -> Result<Capability> {
        let n = name.trim().to_ascii_lowercase().replace('-', "_");
        let cap = match n.as_str() {
            "chat" | "completion" => Capability::Chat,
            "vision" | "images" | "image_input" => Capability::Vision,
            "tools" | "function_calling" | "functions" | "tool_use" => Capability::Tools,
            "json_mode" | "json" | "structured_output" | "response_schema" => Capability::JsonMode,
            "streaming" | "stream" => Capability::Streaming,
            "reasoning" | "thinking" => Capability::Reasoning,
            _ => {
                let known: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
                return Err(Error::invalid_input(format!(
                    "unknown capability '{name}'; known: {}",
                    known.join(", ")
                )));
            }
        };
        Ok(cap)
    }
}

/// One chat model: limits, prices (USD per 1M tokens), capabilities, tokenizer, latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub context_window: u64,
    pub max_output_tokens: u64,
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    #[serde(default)]
    pub cached_input_per_1m: Option<f64>,
    /// Prompt-cache writes: Anthropic's 5-minute (default) and 1-hour writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_per_1m: Option<f64>,
    /// Reasoning (thinking) tokens, where billed apart from output; else the output price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_per_1m: Option<f64>,
    /// The shortest prompt prefix the provider caches (Anthropic's minimum cacheable prompt
    /// length; OpenAI's and Gemini's automatic-caching threshold). `None`: no prompt caching,
    /// or the minimum is unknown. The prompt optimizer reads it; no number is in code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_min_tokens: Option<u32>,
    /// Higher prices for long prompts (`*_above_200k_tokens`): a request whose prompt is over
    /// a tier's threshold is billed wholly at that tier, as Gemini and Anthropic bill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub price_tiers: Vec<PriceTier>,
    pub capabilities: Vec<Capability>,
    /// `o200k_base` / `cl100k_base` are exact; other families (`anthropic`, `gemini`, `llama3`, ...)
    /// are counted with an OpenAI encoding and marked as estimates.
    pub tokenizer: String,
    /// Typical time to first token, in ms.
    #[serde(default = "default_latency")]
    pub typical_latency_ms: u64,
    /// `YYYY-MM-DD` when the provider retires the model.
    #[serde(default)]
    pub deprecation_date: Option<String>,
}

/// The prices of a request whose prompt is over `above_tokens`; a price left out is the
/// model's base price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTier {
    pub above_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_5m_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h_per_1m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_per_1m: Option<f64>,
}

impl PriceTier {
    fn prices(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("input_per_1m", self.input_per_1m),
            ("output_per_1m", self.output_per_1m),
            ("cached_input_per_1m", self.cached_input_per_1m),
            ("cache_write_5m_per_1m", self.cache_write_5m_per_1m),
            ("cache_write_1h_per_1m", self.cache_write_1h_per_1m),
            ("reasoning_per_1m", self.reasoning_per_1m),
        ]
    }
}

pub(crate) fn default_latency() -> u64 {
    1000
}

/// Prices per 1K tokens; `blended` is the mean of input and output, the figure
/// `getCostPer1kTokens` and `by_cost` use.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CostPer1k {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub blended: f64,
}

impl Model {
    pub fn supports(&self, cap: Capability) -> bool {
        self.capabilities.contains(&cap)
    }

    pub fn cost_per_1k(&self) -> CostPer1k {
        CostPer1k {
            input: self.input_per_1m / 1000.0,
            output: self.output_per_1m / 1000.0,
            cached_input: self.cached_input_per_1m.map(|p| p / 1000.0),
            blended: (self.input_per_1m + self.output_per_1m) / 2000.0,
        }
    }

    /// Every name this model answers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Checks the invariants; the message names the bad field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, what: &str| {
            Err(
                Error::invalid_input(format!("model '{}': {field}: {what}", self.id))
                    .with_details(serde_json::json!({ "field": field })),
            )
        };
        if self.id.trim().is_empty() || self.id.chars().any(char::is_whitespace) {
            return bad("id", "expected a non-empty id without spaces");
        }
        if self.provider.trim().is_empty() {
            return bad("provider", "expected a provider name");
        }
        if self.aliases.iter().any(|a| a.trim().is_empty()) {
            return bad("aliases", "expected non-empty names");
        }
        if self.context_window == 0 {
            return bad("context_window", "expected a positive integer");
        }
        if self.max_output_tokens == 0 {
            return bad("max_output_tokens", "expected a positive integer");
        }
        let mut prices: Vec<(String, Option<f64>)> = [
            ("input_per_1m", Some(self.input_per_1m)),
            ("output_per_1m", Some(self.output_per_1m)),
            ("cached_input_per_1m", self.cached_input_per_1m),
            ("cache_write_5m_per_1m", self.cache_write_5m_per_1m),
            ("cache_write_1h_per_1m", self.cache_write_1h_per_1m),
            ("reasoning_per_1m", self.reasoning_per_1m),
        ]
        .into_iter()
        .map(|(f, p)| (f.to_string(), p))
        .collect();
        for (i, tier) in self.price_tiers.iter().enumerate() {
            if tier.above_tokens == 0 {
                return bad(
                    &format!("price_tiers[{i}].above_tokens"),
                    "expected a positive integer",
                );
            }
            prices.extend(
                tier.prices()
                    .into_iter()
                    .map(|(f, p)| (format!("price_tiers[{i}].{f}"), p)),
            );
        }
        for (field, price) in prices {
            if let Some(p) = price {
                if !(p.is_finite() && p >= 0.0) {
                    return bad(&field, "expected a non-negative number");
                }
            }
        }
        if self.cache_min_tokens == Some(0) {
            return bad("cache_min_tokens", "expected a positive integer");
        }
        if self.tokenizer.trim().is_empty() {
            return bad("tokenizer", "expected a tokenizer name");
        }
        if let Some(d) = &self.deprecation_date {
            let ok = d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            if !ok {
                return bad("deprecation_date", "expected YYYY-MM-DD");
            }
        }
        Ok(())
    }

    /// Parses a model from JSON, with `invalid_input` errors that name the field.
    pub fn from_json(value: serde_json::Value) -> Result<Model> {
        let model: Model = serde_path_to_error::deserialize(value).map_err(|e| {
            Error::invalid_input(format!("model definition: {}: {}", e.path(), e.inner()))
                .with_details(serde_json::json!({ "field": e.path().to_string() }))
        })?;
        model.validate()?;
        Ok(model)
    }
}
