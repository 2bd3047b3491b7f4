//! Reads LiteLLM's `model_prices_and_context_window.json` as published, unchanged.

use super::model::{default_latency, Capability, Model, PriceTier};
use crate::error::{Error, Result};
use serde_json::Value;

/// Converts the chat entries of a LiteLLM price file into models. Entries of other modes
/// (embedding, image, audio), `sample_spec`, and entries without a context size are skipped.
pub fn parse(text: &str) -> Result<(Vec<Model>, usize)> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid_input(format!("LiteLLM price file is not valid JSON: {e}")))?;
    let entries = doc.as_object().ok_or_else(|| {
        Error::invalid_input("LiteLLM price file: expected a JSON object of models")
    })?;
    let mut models = Vec::new();
    let mut skipped = 0;
    for (key, entry) in entries {
        match convert(key, entry) {
            Some(m) if m.validate().is_ok() => models.push(m),
            _ => skipped += 1,
        }
    }
    Ok((models, skipped))
}

fn convert(key: &str, e: &Value) -> Option<Model> {
    if key == "sample_spec" {
        return None;
    }
    let e = e.as_object()?;
    let mode = e.get("mode").and_then(Value::as_str).unwrap_or("chat");
    if mode != "chat" && mode != "responses" {
        return None;
    }
    let int = |k: &str| e.get(k).and_then(Value::as_u64).filter(|&v| v > 0);
    let per_1m = |k: &str| {
        e.get(k)
            .and_then(Value::as_f64)
            .map(|p| (p * 1e6 * 1e6).round() / 1e6)
    };
    let flag = |k: &str| e.get(k).and_then(Value::as_bool).unwrap_or(false);

    let context_window = int("max_input_tokens").or_else(|| int("max_tokens"))?;
    let provider = provider_name(
        e.get("litellm_provider")
            .and_then(Value::as_str)
            .unwrap_or("unknown"),
    );
    let mut capabilities = vec![Capability::Chat, Capability::Streaming];
    for (cap, keys) in [
        (Capability::Vision, &["supports_vision"][..]),
        (
            Capability::Tools,
            &["supports_function_calling", "supports_tool_choice"][..],
        ),
        (
            Capability::JsonMode,
            &["supports_response_schema", "supports_json_mode"][..],
        ),
        (Capability::Reasoning, &["supports_reasoning"][..]),
    ] {
        if keys.iter().any(|k| flag(k)) {
            capabilities.push(cap);
        }
    }
    // A chat model without an input or output price is not imported: priced at 0 it would
    // make every call look free (LiteLLM's own silent-$0 bug); unknown, it is `unknown_model`.
    let input_per_1m = per_1m("input_cost_per_token")?;
    let output_per_1m = per_1m("output_cost_per_token")?;
    Some(Model {
        id: key.to_string(),
        tokenizer: guess_tokenizer(&provider, key).to_string(),
        provider,
        name: key.to_string(),
        aliases: Vec::new(),
        context_window,
        max_output_tokens: int("max_output_tokens")
            .or_else(|| int("max_tokens"))
            .unwrap_or(context_window),
        input_per_1m,
        output_per_1m,
        cached_input_per_1m: per_1m("cache_read_input_token_cost"),
        cache_write_5m_per_1m: per_1m("cache_creation_input_token_cost"),
        cache_write_1h_per_1m: per_1m("cache_creation_input_token_cost_above_1hr"),
        reasoning_per_1m: per_1m("output_cost_per_reasoning_token"),
        // LiteLLM's price files do not carry it.
        cache_min_tokens: None,
        price_tiers: tiers(e, &per_1m),
        capabilities,
        typical_latency_ms: default_latency(),
        deprecation_date: e
            .get("deprecation_date")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// `*_above_{N}k_tokens` prices, one tier per threshold, lowest first.
fn tiers(
    e: &serde_json::Map<String, Value>,
    per_1m: &dyn Fn(&str) -> Option<f64>,
) -> Vec<PriceTier> {
    let mut thresholds: Vec<u64> = e
        .keys()
        .filter_map(|k| {
            let n = k.rsplit("_above_").next()?.strip_suffix("k_tokens")?;
            n.parse::<u64>().ok().map(|k| k * 1000)
        })
        .collect();
    thresholds.sort_unstable();
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|above| {
            let at = |base: &str| per_1m(&format!("{base}_above_{}k_tokens", above / 1000));
            PriceTier {
                above_tokens: above,
                input_per_1m: at("input_cost_per_token"),
                output_per_1m: at("output_cost_per_token"),
                cached_input_per_1m: at("cache_read_input_token_cost"),
                cache_write_5m_per_1m: at("cache_creation_input_token_cost"),
                cache_write_1h_per_1m: at("cache_creation_input_token_cost_above_1hr"),
                reasoning_per_1m: at("output_cost_per_reasoning_token"),
            }
        })
        .collect()
}

fn provider_name(litellm: &str) -> String {
    match litellm {
        "vertex_ai-language-models" | "gemini" | "vertex_ai" => "gemini".into(),
        "text-completion-openai" => "openai".into(),
        other => other.to_string(),
    }
}

/// The tokenizer family for a model id: exact OpenAI encodings where known.
pub fn guess_tokenizer(provider: &str, id: &str) -> &'static str {
    let id = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let openai_o200k = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "gpt-5",
        "gpt-6",
        "o1",
        "o3",
        "o4",
        "gpt-oss",
        "chatgpt-4o",
    ];
    if openai_o200k.iter().any(|p| id.starts_with(p)) {
        return "o200k_base";
    }
    if id.starts_with("gpt-4") || id.starts_with("gpt-3.5") || id.starts_with("text-embedding") {
        return "cl100k_base";
    }
    match provider {
        "anthropic" => "anthropic",
        "gemini" => "gemini",
        "mistral" => "mistral",
        "deepseek" => "deepseek",
        _ if id.contains("llama") => "llama3",
        _ if id.contains("qwen") => "qwen",
        _ if id.contains("deepseek") => "deepseek",
        _ if id.contains("claude") => "anthropic",
        _ if id.contains("gemini") => "gemini",
        _ if id.contains("mistral") || id.contains("mixtral") => "mistral",
        _ => "unknown",
    }
}
