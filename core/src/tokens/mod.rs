//! Token counting: exact OpenAI encodings, exact open-model tokenizers once installed, Claude
//! estimates, chat-message overhead, batches on every core.

pub mod claude;
mod encoding;
pub mod messages;
pub mod open;
mod tables;

pub use encoding::Encoding;
pub use messages::{count_messages, encoding_for_model, resolve, TokenCount};
pub use open::Family;

use crate::error::Result;
use crate::registry;

/// `count_tokens(text, model=None, encoding=None)` as every binding offers it.
pub fn count_tokens(text: &str, model: Option<&str>, encoding: Option<&str>) -> Result<usize> {
    let (enc, _) = resolve(&registry::global(), model, encoding)?;
    Ok(enc.count(text))
}

/// `count_tokens_batch(texts, model=None, encoding=None)`.
pub fn count_tokens_batch<S: AsRef<str> + Sync>(
    texts: &[S],
    model: Option<&str>,
    encoding: Option<&str>,
) -> Result<Vec<usize>> {
    let (enc, _) = resolve(&registry::global(), model, encoding)?;
    Ok(enc.count_batch(texts))
}

/// `count_message_tokens(messages, model)` against the process registry.
pub fn count_message_tokens(messages: &serde_json::Value, model: &str) -> Result<TokenCount> {
    count_messages(&registry::global(), messages, model)
}

#[cfg(test)]
mod tests;
