//! The client's own pruning (`context.auto_prune`): a request over its model's window is
//! pruned before it is sent, instead of failing with `context_too_large` at the provider.

use super::prune::{prune_to, PruneOptions, Pruned, Strategy};
use super::{count, Dialect};
use crate::config::ContextConfig;
use crate::tokens::Encoding;
use crate::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request's own `context` settings: each overrides the config's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextControl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_prune: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
}

impl ContextControl {
    /// Checked when the request is parsed: the client has no summariser to call.
    pub fn validate(&self) -> Result<()> {
        match self.strategy {
            Some(Strategy::Summarize) => Err(crate::Error::invalid_input(
                "context.strategy: summarize needs a summariser: the client prunes with \
                 drop_oldest or keep_first_last; call prune_context with a summariser instead",
            )),
            _ => Ok(()),
        }
    }
}

/// What pruning a request needs to know of the model it goes to.
pub struct Fit<'a> {
    pub config: &'a ContextConfig,
    pub control: Option<&'a ContextControl>,
    /// The tightest window of the route's deployments, and its max output.
    pub context_window: u64,
    pub max_output_tokens: u64,
    /// The request's `max_tokens`.
    pub max_tokens: Option<u64>,
    pub encoding: Encoding,
    pub dialect: Dialect,
    /// Tokens the request spends outside its messages (tool schemas).
    pub fixed_tokens: u64,
}

impl Fit<'_> {
    /// Whether this request is to be pruned at all.
    pub fn wanted(config: &ContextConfig, control: Option<&ContextControl>) -> bool {
        control
            .and_then(|c| c.auto_prune)
            .unwrap_or(config.auto_prune)
    }

    /// The tokens the messages may use: the window less the answer's room, capped by
    /// `max_input_tokens`, less the tool schemas.
    pub fn budget(&self) -> u64 {
        let c = self.control;
        let reserve = c
            .and_then(|c| c.reserve_output_tokens)
            .or(self.config.reserve_output_tokens)
            .or(self.max_tokens)
            .unwrap_or(self.max_output_tokens);
        let mut budget = self.context_window.saturating_sub(reserve);
        if let Some(cap) = c
            .and_then(|c| c.max_input_tokens)
            .or(self.config.max_input_tokens)
        {
            budget = budget.min(cap);
        }
        budget.saturating_sub(self.fixed_tokens)
    }

    /// `messages` pruned to the budget; None when they fit as they are.
    pub fn prune(&self, messages: &[Value]) -> Result<Option<Pruned>> {
        let opts = PruneOptions {
            strategy: self
                .control
                .and_then(|c| c.strategy)
                .unwrap_or(self.config.strategy),
            dialect: self.dialect,
            ..Default::default()
        };
        let enc = self.encoding;
        let pruned = prune_to(
            messages,
            self.budget(),
            &opts,
            &|m| count::message_tokens_cached(enc, m),
            None,
        )?;
        Ok((!pruned.dropped.is_empty() || pruned.truncated).then_some(pruned))
    }
}

/// A bound no conversation's token count exceeds: a token is at least one byte of text, and
/// a message adds at most a few of its own.
pub fn tokens_at_most(texts: impl Iterator<Item = usize>, messages: usize) -> u64 {
    texts.map(|n| n as u64).sum::<u64>() + 8 * messages as u64 + 3
}
