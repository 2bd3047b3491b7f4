//! `NativeCache`: the core's response cache. Every call is synchronous: a memory hit costs
//! less than a trip through a promise would. Strings are stored as text, other JSON values
//! as JSON, so a value set from Python or Node reads back the same in the other.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;
use trinity_core::cache::{self, value, Cache, Entry, Kind, Purge, Strategy};
use trinity_core::llm::ChatRequest;
use trinity_core::rt;

#[napi]
pub struct NativeCache {
    pub(crate) inner: Arc<Cache>,
}

fn payload(v: &Value) -> cache::Bytes {
    match v {
        Value::String(s) => value::encode_text(s),
        other => value::encode_json(other),
    }
}

fn to_js(e: &Entry) -> trinity_core::Result<Value> {
    if e.kind != Kind::Value {
        return serde_json::from_slice(&e.payload)
            .map_err(|err| cache::cache_error(err.to_string()));
    }
    Ok(match value::decode(&e.payload)? {
        value::Value::Text(s) => Value::String(s),
        value::Value::Bytes(b) => Value::from(b),
        value::Value::Json(j) => j,
    })
}

impl NativeCache {
    fn chat_key(&self, request: Value, provider: Option<&str>) -> trinity_core::Result<String> {
        Ok(self
            .inner
            .key_for(&ChatRequest::from_json(request)?, provider))
    }

    fn lookup(&self, key: &str) -> trinity_core::Result<Option<Value>> {
        self.inner.get_blocking(key).map(|e| to_js(&e)).transpose()
    }

    fn store(&self, key: &str, v: &Value, ttl_s: Option<u32>) {
        let e = self
            .inner
            .entry(Kind::Value, payload(v), ttl_s.map(u64::from));
        self.inner.put_blocking(key, e);
    }
}

#[napi]
impl NativeCache {
    /// Our `cache` config section, or seed 000's `cache_config.yaml` shape.
    #[napi(constructor)]
    pub fn new(env: Env, config: Option<Value>) -> Result<Self> {
        guard(&env, || {
            let cfg =
                cache::config::from_json(config.unwrap_or(Value::Object(Default::default())))?;
            Ok(NativeCache {
                inner: Arc::new(Cache::new(&cfg)?),
            })
        })
    }

    #[napi]
    pub fn get(&self, env: Env, key: String) -> Result<Option<Value>> {
        guard(&env, || self.lookup(&key))
    }

    #[napi]
    pub fn set(&self, key: String, value: Value, ttl_s: Option<u32>) {
        self.store(&key, &value, ttl_s)
    }

    #[napi]
    pub fn delete(&self, env: Env, key: String) -> Result<()> {
        guard(&env, || {
            rt::wait(async {
                self.inner.remove(&key).await;
                Ok(())
            })
        })
    }

    /// The key of a chat request, the same in every language.
    #[napi]
    pub fn key(&self, env: Env, request: Value, provider: Option<String>) -> Result<String> {
        guard(&env, || self.chat_key(request, provider.as_deref()))
    }

    #[napi]
    pub fn lookup_chat(
        &self,
        env: Env,
        request: Value,
        provider: Option<String>,
    ) -> Result<Option<Value>> {
        guard(&env, || {
            self.lookup(&self.chat_key(request, provider.as_deref())?)
        })
    }

    #[napi]
    pub fn store_chat(
        &self,
        env: Env,
        request: Value,
        value: Value,
        ttl_s: Option<u32>,
        provider: Option<String>,
    ) -> Result<String> {
        guard(&env, || {
            let key = self.chat_key(request, provider.as_deref())?;
            self.store(&key, &value, ttl_s);
            Ok(key)
        })
    }

    /// Removes keys matching a glob from every tier; returns how many.
    #[napi]
    pub fn invalidate(&self, env: Env, pattern: String) -> Result<i64> {
        guard(&env, || {
            Ok(rt::wait(self.inner.invalidate(&pattern))? as i64)
        })
    }

    #[napi]
    pub fn invalidate_namespace(&self, env: Env, namespace: String) -> Result<i64> {
        guard(&env, || {
            Ok(rt::wait(self.inner.invalidate_namespace(&namespace))? as i64)
        })
    }

    /// `content`, `model`, `user` or `global`, and the TTL of later entries.
    #[napi]
    pub fn set_strategy(&self, env: Env, strategy: String, ttl_s: Option<u32>) -> Result<()> {
        guard(&env, || {
            self.inner
                .set_strategy(Strategy::parse(&strategy)?, ttl_s.map(u64::from));
            Ok(())
        })
    }

    #[napi]
    pub fn stats(&self) -> Value {
        serde_json::to_value(self.inner.stats()).unwrap_or(Value::Null)
    }

    #[napi]
    pub fn validate(&self, env: Env) -> Result<Value> {
        guard(&env, || {
            Ok(serde_json::to_value(self.inner.validate()?).unwrap_or(Value::Null))
        })
    }

    /// `purge("all" | "expired")`, `purge(undefined, namespace)` or `purge(undefined, undefined, pattern)`.
    #[napi]
    pub fn purge(
        &self,
        env: Env,
        what: Option<String>,
        namespace: Option<String>,
        pattern: Option<String>,
    ) -> Result<Value> {
        guard(&env, || {
            let p = Purge::from_parts(what.as_deref(), namespace, pattern)?;
            Ok(serde_json::to_value(rt::wait(self.inner.purge(p))?).unwrap_or(Value::Null))
        })
    }
}
