//! Cost: registry prices applied to normalised usage in integer nano-USD, budgets reserved
//! before a call and reconciled after it, and the spend ledger that survives a restart.

pub mod budget;
pub mod ledger;
pub mod price;
pub mod tracker;

pub use price::{cost, count_unpriced, unpriced_calls, CostDetail};
pub use tracker::{CostSummary, CostTracker, TrackRecord, TrackRequest};

use crate::error::{Error, Result};
use crate::llm::Usage;

/// The cost of `usage` for a model named as callers name it (dated and prefixed names are
/// normalised by the registry), against the process registry: what every binding's `cost`
/// call answers. `usage` is the response's usage object (`prompt_tokens`, `completion_tokens`,
/// `cached_tokens`, `cache_write_tokens`, `cache_write_1h_tokens`, `reasoning_tokens`).
pub fn cost_for(model: &str, usage: serde_json::Value, estimated: bool) -> Result<CostDetail> {
    let mut usage: Usage = serde_json::from_value(usage).map_err(|e| {
        Error::invalid_input(format!("usage: {e}"))
            .with_details(serde_json::json!({ "field": "usage" }))
    })?;
    if usage.total_tokens == 0 {
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    }
    Ok(cost_named(model, &usage, estimated))
}

/// [`cost`] for a model named as callers name it, against the process registry.
pub fn cost_named(model: &str, usage: &Usage, estimated: bool) -> CostDetail {
    let model = crate::registry::global().find(model);
    cost(model.as_deref(), usage, estimated)
}
