//! What a call cost: the registry's prices applied to normalised usage, in integer nano-USD.
//!
//! Each part is `tokens × (USD per 1M tokens × 10⁹)`, summed exactly in `u128` and divided by
//! 10⁶ once, so a call's total is rounded once and a million calls summed drift by nothing.
//! A model or rate the registry lacks is never priced at 0: the total is `None` with the
//! reason (`unknown_model`, `missing_rate:<field>`), counted in [`unpriced_calls`] for every call made.

use crate::llm::Usage;
use crate::registry::{Model, PriceTier};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

pub const NANOS_PER_USD: f64 = 1e9;

/// A call's cost and how it was made up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostDetail {
    /// The whole call in nano-USD (10⁻⁹ USD); `None` when it could not be priced.
    pub total_nano_usd: Option<u64>,
    /// The same in USD.
    pub total_usd: Option<f64>,
    /// Parts in nano-USD, each rounded on its own: uncached input, cache reads, cache writes
    /// (5-minute and 1-hour), output other than reasoning, reasoning.
    pub input_nano_usd: u64,
    pub cached_input_nano_usd: u64,
    pub cache_write_nano_usd: u64,
    pub output_nano_usd: u64,
    pub reasoning_nano_usd: u64,
    /// The long-prompt tier the whole request was billed at (its threshold), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_above_tokens: Option<u64>,
    /// The usage was counted here (a stream without usage, cut short or cancelled), not
    /// reported by the provider.
    #[serde(default)]
    pub estimated: bool,
    /// Why `total_nano_usd` is `None`: `unknown_model` or `missing_rate:<registry field>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced_reason: Option<String>,
}

impl CostDetail {
    /// What a cache hit costs.
    pub fn free() -> CostDetail {
        CostDetail {
            total_nano_usd: Some(0),
            total_usd: Some(0.0),
            ..Default::default()
        }
    }

    fn unpriced(reason: String, estimated: bool) -> CostDetail {
        CostDetail {
            estimated,
            unpriced_reason: Some(reason),
            ..Default::default()
        }
    }
}

static UNPRICED: AtomicU64 = AtomicU64::new(0);

/// Calls this process could not price (unknown model or missing rate), since it started.
pub fn unpriced_calls() -> u64 {
    UNPRICED.load(Ordering::Relaxed)
}

/// Counts a call's cost that could not be priced (estimates made before a call are not calls).
pub fn count_unpriced(detail: &CostDetail) {
    if detail.unpriced_reason.is_some() {
        UNPRICED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The cost of `usage` at `model`'s prices (`None`: the registry does not know the model).
pub fn cost(model: Option<&Model>, usage: &Usage, estimated: bool) -> CostDetail {
    let Some(m) = model else {
        return CostDetail::unpriced("unknown_model".into(), estimated);
    };
    match priced(m, usage) {
        Ok(mut detail) => {
            detail.estimated = estimated;
            detail
        }
        Err(field) => CostDetail::unpriced(format!("missing_rate:{field}"), estimated),
    }
}

/// Rates in nano-USD per 1M tokens: exact integers for any price with up to 9 decimals.
fn nanos_per_1m(usd_per_1m: f64) -> u128 {
    (usd_per_1m * NANOS_PER_USD).round() as u128
}

fn priced(m: &Model, u: &Usage) -> Result<CostDetail, &'static str> {
    // The highest tier whose threshold the prompt is over bills the whole request.
    let tier: Option<&PriceTier> = m
        .price_tiers
        .iter()
        .filter(|t| u.prompt_tokens > t.above_tokens)
        .max_by_key(|t| t.above_tokens);
    let pick = |tiered: Option<f64>, base: Option<f64>| tiered.or(base);
    let t = |f: fn(&PriceTier) -> Option<f64>| tier.and_then(f);
    let input = pick(t(|t| t.input_per_1m), Some(m.input_per_1m)).unwrap_or(0.0);
    let output = pick(t(|t| t.output_per_1m), Some(m.output_per_1m)).unwrap_or(0.0);
    // Where input is free (a local model), every kind of input is.
    let input_kind = |tokens: u64, rate: Option<f64>, field: &'static str| match (tokens, rate) {
        (0, _) => Ok(0),
        (_, Some(r)) => Ok(nanos_per_1m(r)),
        (_, None) if input == 0.0 => Ok(0),
        (_, None) => Err(field),
    };
    let cached_rate = input_kind(
        u.cached_tokens,
        pick(t(|t| t.cached_input_per_1m), m.cached_input_per_1m),
        "cached_input_per_1m",
    )?;
    let write_rate = input_kind(
        u.cache_write_tokens,
        pick(t(|t| t.cache_write_5m_per_1m), m.cache_write_5m_per_1m),
        "cache_write_5m_per_1m",
    )?;
    let write_1h_rate = input_kind(
        u.cache_write_1h_tokens,
        pick(t(|t| t.cache_write_1h_per_1m), m.cache_write_1h_per_1m),
        "cache_write_1h_per_1m",
    )?;
    let reasoning_rate = pick(t(|t| t.reasoning_per_1m), m.reasoning_per_1m).unwrap_or(output);

    let uncached = u
        .prompt_tokens
        .saturating_sub(u.cached_tokens + u.cache_write_tokens + u.cache_write_1h_tokens);
    let reasoning = u.reasoning_tokens.min(u.completion_tokens);
    let parts: [u128; 5] = [
        uncached as u128 * nanos_per_1m(input),
        u.cached_tokens as u128 * cached_rate,
        u.cache_write_tokens as u128 * write_rate + u.cache_write_1h_tokens as u128 * write_1h_rate,
        (u.completion_tokens - reasoning) as u128 * nanos_per_1m(output),
        reasoning as u128 * nanos_per_1m(reasoning_rate),
    ];
    let round = |x: u128| ((x + 500_000) / 1_000_000).min(u64::MAX as u128) as u64;
    let total = round(parts.iter().sum());
    Ok(CostDetail {
        total_nano_usd: Some(total),
        total_usd: Some(total as f64 / NANOS_PER_USD),
        input_nano_usd: round(parts[0]),
        cached_input_nano_usd: round(parts[1]),
        cache_write_nano_usd: round(parts[2]),
        output_nano_usd: round(parts[3]),
        reasoning_nano_usd: round(parts[4]),
        tier_above_tokens: tier.map(|t| t.above_tokens),
        estimated: false,
        unpriced_reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Default::default()
        }
    }

    #[test]
    fn a_million_calls_sum_without_drift() {
        let r = Registry::builtin();
        let m = r.get("gpt-4o-mini").unwrap();
        // 7 prompt tokens at $0.15/1M and 3 output at $0.60/1M: 1,050 + 1,800 = 2,850 nano-USD.
        let one = cost(Some(&m), &usage(7, 3), false);
        assert_eq!(one.total_nano_usd, Some(2_850));
        let sum: u64 = (0..1_000_000).map(|_| one.total_nano_usd.unwrap()).sum();
        assert_eq!(sum, 2_850_000_000, "exactly $2.85");
        let float: f64 = (0..1_000_000).map(|_| one.total_usd.unwrap()).sum();
        assert!(
            (float - 2.85).abs() > 0.0 || float == 2.85,
            "floats are what the integer avoids"
        );
    }

    #[test]
    fn the_whole_request_is_billed_at_the_tier_it_passes() {
        let r = Registry::builtin();
        let m = r.get("gemini-2.5-pro").unwrap();
        let below = cost(Some(&m), &usage(200_000, 1_000), false);
        let above = cost(Some(&m), &usage(200_001, 1_000), false);
        assert_eq!(below.tier_above_tokens, None);
        assert_eq!(above.tier_above_tokens, Some(200_000));
        // $1.25 → $2.50 input, $10 → $15 output.
        assert_eq!(below.total_nano_usd, Some(250_000_000 + 10_000_000));
        assert_eq!(above.total_nano_usd, Some(500_002_500 + 15_000_000));
    }

    #[test]
    fn reasoning_is_billed_at_output_unless_it_has_a_price() {
        let r = Registry::builtin();
        let mut m = (*r.get("o3").unwrap()).clone();
        let u = Usage {
            reasoning_tokens: 600,
            ..usage(0, 1_000)
        };
        let plain = cost(Some(&m), &u, false);
        assert_eq!(plain.reasoning_nano_usd, 600 * 8_000);
        assert_eq!(plain.output_nano_usd, 400 * 8_000);
        m.reasoning_per_1m = Some(1.0);
        assert_eq!(cost(Some(&m), &u, false).reasoning_nano_usd, 600 * 1_000);
    }

    #[test]
    fn a_free_local_model_is_free_for_every_kind_of_input() {
        let r = Registry::builtin();
        let m = r.get("ollama/llama3.1:8b").unwrap();
        let u = Usage {
            cached_tokens: 50,
            ..usage(100, 10)
        };
        assert_eq!(cost(Some(&m), &u, false).total_nano_usd, Some(0));
    }
}
