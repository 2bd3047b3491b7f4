//! Context tools (seed 004's `ContextManager`): how much of a model's window a conversation
//! may use, and a conversation pruned to fit it that its provider still accepts.
//!
//! - [`available_window`]: the registry's window less the room kept for the answer.
//! - [`prune`]: see [`prune::prune_to`] for the rules; counts with the model's encoding.
//! - [`validate`]: each provider's rules as local checks (the tests' oracle, and the
//!   bindings' `validate_conversation`).
//! - [`prioritize`]: retrieved documents or earlier turns ordered by relevance (BM25) to the
//!   question, the most relevant first and last ("lost in the middle"); see [`prioritize`]'s
//!   module for what may move.
//! - [`warn_if_too_large`]: warnings with stable codes for a request (window, output reserve,
//!   large images and tool schemas, prompt-cache minimums and volatile content).

pub mod auto;
pub mod count;
pub mod image;
pub mod prioritize;
pub mod prune;
pub mod shape;
pub mod validate;
pub mod warn;

pub use auto::ContextControl;
pub use prioritize::{
    prioritize, prioritize_documents, prioritize_messages, Prioritized, PrioritizedMessages,
    Ranking,
};
pub use prune::{PruneOptions, Pruned, Strategy, Summarizer};
pub use validate::{validate, Dialect, Violation};
pub use warn::{warn_if_too_large, Warning, WarningCode};

use crate::registry::Registry;
use crate::tokens::messages::encoding_for_model;
use crate::Result;
use serde::Serialize;
use serde_json::Value;

/// A model's window and what a conversation may use of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub model: String,
    pub context_window: u64,
    /// Kept for the answer: the caller's reserve, else the model's max output (at most half
    /// the window: some models' max output is their whole window, which would leave nothing).
    pub reserved_output: u64,
    /// What the conversation may use: the window less the reserve (or `max_input_tokens` when
    /// lower).
    pub available: u64,
    /// Counted with the model's own tokenizer (false: an OpenAI encoding stands in).
    pub exact: bool,
}

/// `model`'s window less `reserve_output` (default: its max output, at most half the window),
/// capped by `max_input_tokens`.
pub fn available_window(
    registry: &Registry,
    model: &str,
    reserve_output: Option<u64>,
    max_input_tokens: Option<u64>,
) -> Result<Window> {
    let m = registry.get(model)?;
    let (_, estimated) = encoding_for_model(registry, model)?;
    let reserved_output =
        reserve_output.unwrap_or_else(|| m.max_output_tokens.min(m.context_window / 2));
    let mut available = m.context_window.saturating_sub(reserved_output);
    if let Some(cap) = max_input_tokens {
        available = available.min(cap);
    }
    Ok(Window {
        model: m.id.clone(),
        context_window: m.context_window,
        reserved_output,
        available,
        exact: !estimated,
    })
}

/// `messages` pruned to fit `model`'s available window (see [`available_window`]), each
/// message counted with the model's encoding.
pub fn prune(
    registry: &Registry,
    messages: &[Value],
    model: &str,
    opts: &PruneOptions,
    summarize: Option<Summarizer<'_>>,
) -> Result<Pruned> {
    let window = available_window(
        registry,
        model,
        opts.reserve_output_tokens,
        opts.max_input_tokens,
    )?;
    let (enc, _) = encoding_for_model(registry, model)?;
    prune::prune_to(
        messages,
        window.available,
        opts,
        &|m| count::message_tokens_cached(enc, m),
        summarize,
    )
}
