//! The model registry. Models cross the boundary as plain objects with camelCase keys;
//! `FIELDS` is the one place that maps them to the core's snake_case names.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};
use std::sync::Arc;
use trinity_core::registry::{self, LoadReport, Registry};
use trinity_core::{Error as CoreError, Model};

/// Model fields whose JS name differs from the core's (the others are single words).
const FIELDS: &[(&str, &str)] = &[
    ("context_window", "contextWindow"),
    ("max_output_tokens", "maxOutputTokens"),
    ("input_per_1m", "inputPer1m"),
    ("output_per_1m", "outputPer1m"),
    ("cached_input_per_1m", "cachedInputPer1m"),
    ("cache_min_tokens", "cacheMinTokens"),
    ("typical_latency_ms", "typicalLatencyMs"),
    ("deprecation_date", "deprecationDate"),
];

fn to_camel(key: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(s, _)| *s == key).map(|(_, c)| *c)
}

fn to_snake(key: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(_, c)| *c == key).map(|(s, _)| *s)
}

fn rename_keys(obj: Map<String, Value>, rename: fn(&str) -> Option<&'static str>) -> Value {
    obj.into_iter()
        .map(|(k, v)| (rename(&k).map_or(k, str::to_string), v))
        .collect::<Map<_, _>>()
        .into()
}

fn model_to_js(m: &Model) -> Value {
    match serde_json::to_value(m) {
        Ok(Value::Object(obj)) => rename_keys(obj, to_camel),
        _ => unreachable!("a Model serializes to an object"),
    }
}

fn models_to_js(models: &[Arc<Model>]) -> Vec<Value> {
    models.iter().map(|m| model_to_js(m)).collect()
}

/// A JS model definition (camelCase; snake_case keys are accepted too) as the core reads it.
fn model_from_js(value: Value, what: &str) -> trinity_core::Result<Value> {
    match value {
        Value::Object(obj) => Ok(rename_keys(obj, to_snake)),
        _ => Err(CoreError::invalid_input(format!(
            "{what}: expected an object"
        ))),
    }
}

/// Names the bad field in `details.field` the way the JS caller spelled it.
fn camel_field(mut e: CoreError) -> CoreError {
    if let Some(Value::String(field)) = e.details.as_mut().and_then(|d| d.get_mut("field")) {
        if let Some(c) = to_camel(field) {
            *field = c.to_string();
        }
    }
    e
}

#[napi(object, js_name = "CostPer1k")]
pub struct CostPer1k {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    /// Mean of input and output: the figure `getCostPer1kTokens` and `byCost` use.
    pub blended: f64,
}

#[napi(object)]
pub struct LoadSummary {
    pub added: u32,
    pub updated: u32,
    pub skipped: u32,
}

impl From<LoadReport> for LoadSummary {
    fn from(r: LoadReport) -> Self {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        LoadSummary {
            added: n(r.added),
            updated: n(r.updated),
            skipped: n(r.skipped),
        }
    }
}

/// A handle on a core registry: the process-wide one, or a private copy.
#[napi]
pub struct NativeRegistry {
    inner: Arc<Registry>,
}

#[napi]
impl NativeRegistry {
    /// The process-wide registry, the one token counting by model name consults.
    #[napi(factory)]
    pub fn global() -> Self {
        NativeRegistry {
            inner: registry::global(),
        }
    }

    /// A private registry holding the shipped models.
    #[napi(factory)]
    pub fn builtin() -> Self {
        NativeRegistry {
            inner: Arc::new(Registry::builtin()),
        }
    }

    /// A private registry with no models.
    #[napi(factory)]
    pub fn empty() -> Self {
        NativeRegistry {
            inner: Arc::new(Registry::empty()),
        }
    }

    #[napi(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.inner.len()).unwrap_or(u32::MAX)
    }

    #[napi]
    pub fn get(&self, env: Env, name: String) -> Result<Value> {
        guard(&env, || Ok(model_to_js(&*self.inner.get(&name)?)))
    }

    #[napi]
    pub fn all(&self) -> Vec<Value> {
        models_to_js(&self.inner.all())
    }

    #[napi]
    pub fn by_provider(&self, provider: String) -> Vec<Value> {
        models_to_js(&self.inner.by_provider(&provider))
    }

    #[napi]
    pub fn by_capability(&self, env: Env, capability: String) -> Result<Vec<Value>> {
        guard(&env, || {
            Ok(models_to_js(&self.inner.by_capability(&capability)?))
        })
    }

    #[napi]
    pub fn by_latency(&self, max_ms: f64) -> Vec<Value> {
        models_to_js(&self.inner.by_latency(max_ms))
    }

    #[napi(js_name = "byCost")]
    pub fn by_cost(&self, env: Env, max_per_1k: f64) -> Result<Vec<Value>> {
        guard(&env, || Ok(models_to_js(&self.inner.by_cost(max_per_1k)?)))
    }

    #[napi]
    pub fn token_limit(&self, env: Env, name: String) -> Result<f64> {
        // Context windows are far below 2^53, so a JS number holds them exactly.
        guard(&env, || Ok(self.inner.token_limit(&name)? as f64))
    }

    #[napi(js_name = "costPer1k")]
    pub fn cost_per_1k(&self, env: Env, name: String) -> Result<CostPer1k> {
        guard(&env, || {
            let c = self.inner.cost_per_1k(&name)?;
            Ok(CostPer1k {
                input: c.input,
                output: c.output,
                cached_input: c.cached_input,
                blended: c.blended,
            })
        })
    }

    #[napi]
    pub fn supports_feature(&self, env: Env, name: String, feature: String) -> Result<bool> {
        guard(&env, || self.inner.supports_feature(&name, &feature))
    }

    #[napi]
    pub fn add(&self, env: Env, model: Value) -> Result<Value> {
        guard(&env, || {
            let m: Arc<Model> = self
                .inner
                .add_json(model_from_js(model, "model definition")?)
                .map_err(camel_field)?;
            Ok(model_to_js(&m))
        })
    }

    #[napi]
    pub fn update(&self, env: Env, name: String, updates: Value) -> Result<Value> {
        guard(&env, || {
            let m: Arc<Model> = self
                .inner
                .update(&name, model_from_js(updates, "model updates")?)
                .map_err(camel_field)?;
            Ok(model_to_js(&m))
        })
    }

    #[napi]
    pub fn load_file(&self, env: Env, path: String) -> Result<LoadSummary> {
        guard(&env, || Ok(self.inner.load_file(&path)?.into()))
    }

    #[napi]
    pub fn load_litellm_file(&self, env: Env, path: String) -> Result<LoadSummary> {
        guard(&env, || Ok(self.inner.load_litellm_file(&path)?.into()))
    }
}
