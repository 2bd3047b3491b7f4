//! Token counting. Synchronous on purpose: an async bridge costs more than counting a short text.
//! JS strings arrive as UTF-8 with lone surrogates replaced by U+FFFD (what tiktoken does too).

use crate::error::guard;
use crate::task::spawn_promise;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use trinity_core::tokens::{self, open};

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

fn status_json(status: Vec<open::Status>) -> Value {
    serde_json::to_value(status).expect("plain data")
}

/// Installs open-model tokenizers (none named or `all`: every family) from their pinned npm
/// packages; resolves with every family's status.
#[napi(ts_return_type = "Promise<Array<Record<string, unknown>>>")]
pub fn fetch_tokenizers<'env>(
    env: &'env Env,
    names: Option<Vec<String>>,
) -> Result<PromiseRaw<'env, Value>> {
    let names = names.unwrap_or_default();
    spawn_promise(
        env,
        async move { open::fetch_named(&names).await },
        status_json,
    )
}

#[napi(ts_return_type = "Array<Record<string, unknown>>")]
pub fn tokenizer_status() -> Value {
    status_json(open::status())
}

#[napi]
pub fn set_tokenizer_dir(dir: Option<String>) {
    open::set_dir(dir.map(Into::into));
}

#[napi]
pub fn load_tokenizer(env: Env, name: String, path: String) -> Result<()> {
    guard(&env, || {
        open::load_named(&name, std::path::Path::new(&path))
    })
}
