//! `metricsScrape(text, shape?)`: a client's OpenMetrics text (`Client.metricsText()`) read by
//! `trinity_core::observe::families`, for the prom-client bridge in `node/src/metrics.ts`
//! (prom-client has no text parser). Taking the text rather than the client keeps the
//! wrapper's `Client` as it is (its native handle is private).
//!
//! The families cross as one JSON string that the wrapper `JSON.parse`s, where building the
//! objects through napi would be thousands of calls; a scrape of the shape the wrapper already
//! holds crosses as one `Float64Array` of values.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use trinity_core::observe::families::{self, Scrape};
use trinity_core::Error as CoreError;

#[napi(object)]
pub struct MetricsScrape {
    /// The text's shape, to pass back with the next scrape.
    pub shape: String,
    /// The families, as JSON (`[{name, help, kind, unit, series: [{labels: {…}, samples:
    /// [{name, le?, value}]}]}]`; a value that is not finite is `"+Inf"`, `"-Inf"` or `"NaN"`),
    /// when the shape is not the one passed.
    pub families: Option<String>,
    /// Else every sample's value, in the order of the families, series and samples.
    pub values: Option<Float64Array>,
}

/// Reads a client's OpenMetrics text: the families when `shape` is not the text's, else only
/// the values. `internal` for malformed text.
#[napi]
pub fn metrics_scrape(env: Env, text: String, shape: Option<String>) -> Result<MetricsScrape> {
    let known = shape.and_then(|s| u64::from_str_radix(&s, 16).ok());
    guard(&env, || {
        let (shape, read) = families::scrape(&text, known)?;
        let shape = format!("{shape:016x}");
        let (families, values) = match read {
            Scrape::Values(values) => (None, Some(values.into())),
            Scrape::Families(f) => {
                let json = serde_json::to_string(&f)
                    .map_err(|e| CoreError::internal(format!("metrics families to JSON: {e}")))?;
                (Some(json), None)
            }
        };
        Ok(MetricsScrape {
            shape,
            families,
            values,
        })
    })
}
