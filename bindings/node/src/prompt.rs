//! Prompt optimisation: `optimizePrompt`, `optimizePromptForModel`, `compressPrompt`. A prompt
//! arrives as a string or an array of messages; results leave with the core's snake_case names
//! (the TypeScript `PromptOptimizer` maps them). The process-wide registry counts.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use trinity_core::prompt::{self, Goal, Prompt};

fn to_json(v: impl serde::Serialize) -> trinity_core::Result<Value> {
    serde_json::to_value(v).map_err(|e| trinity_core::Error::internal(e.to_string()))
}

/// A JS number as a count of tokens: finite, whole, not negative, exact in a double.
fn token_count(n: f64, what: &str) -> trinity_core::Result<u64> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE {
        Ok(n as u64)
    } else {
        Err(trinity_core::Error::invalid_input(format!(
            "{what}: expected a whole number of tokens >= 0, got {n}"
        )))
    }
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn optimize_prompt(
    env: Env,
    prompt: Value,
    model: Option<String>,
    goal: Option<String>,
) -> Result<Value> {
    guard(&env, || {
        let prompt = Prompt::from_json(prompt)?;
        let goal = goal.as_deref().map_or(Ok(Goal::Cost), Goal::parse)?;
        let registry = trinity_core::registry::global();
        to_json(prompt::optimize(
            &registry,
            &prompt,
            model.as_deref(),
            goal,
        )?)
    })
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn optimize_prompt_for_model(env: Env, prompt: Value, model: String) -> Result<Value> {
    guard(&env, || {
        let prompt = Prompt::from_json(prompt)?;
        let registry = trinity_core::registry::global();
        to_json(prompt::optimize_for_model(&registry, &prompt, &model)?)
    })
}

#[napi(ts_return_type = "Record<string, unknown>")]
pub fn compress_prompt(
    env: Env,
    prompt: Value,
    target_tokens: f64,
    model: Option<String>,
) -> Result<Value> {
    guard(&env, || {
        let prompt = Prompt::from_json(prompt)?;
        let target = token_count(target_tokens, "targetTokens")?;
        let registry = trinity_core::registry::global();
        to_json(prompt::compress_prompt(
            &registry,
            &prompt,
            target,
            model.as_deref(),
        )?)
    })
}
