//! Token counting. Synchronous on purpose: an async bridge costs more than counting a short text.
//! JS strings arrive as UTF-8 with lone surrogates replaced by U+FFFD (what tiktoken does too).

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use trinity_core::tokens;

fn to_u32(n: usize) -> trinity_core::Result<u32> {
    u32::try_from(n).map_err(|_| trinity_core::Error::internal("token count exceeds u32"))
}

#[napi]
pub fn count_tokens(
    env: Env,
    text: String,
    model: Option<String>,
    encoding: Option<String>,
) -> Result<u32> {
    guard(&env, || {
        to_u32(tokens::count_tokens(
            &text,
            model.as_deref(),
            encoding.as_deref(),
        )?)
    })
}

#[napi]
pub fn count_tokens_batch(
    env: Env,
    texts: Vec<String>,
    model: Option<String>,
    encoding: Option<String>,
) -> Result<Vec<u32>> {
    guard(&env, || {
        tokens::count_tokens_batch(&texts, model.as_deref(), encoding.as_deref())?
            .into_iter()
            .map(to_u32)
            .collect()
    })
}

#[napi(object)]
pub struct TokenCount {
    pub tokens: u32,
    pub encoding: String,
    /// True when the model's own tokenizer is not the one counted with.
    pub estimated: bool,
    pub model: String,
}

#[napi]
pub fn count_message_tokens(
    env: Env,
    messages: serde_json::Value,
    model: String,
) -> Result<TokenCount> {
    guard(&env, move || {
        let c = tokens::count_message_tokens(&messages, &model)?;
        Ok(TokenCount {
            tokens: to_u32(c.tokens)?,
            encoding: c.encoding.to_string(),
            estimated: c.estimated,
            model: c.model.unwrap_or(model),
        })
    })
}
