//! `Client`: resolves a model name to a provider and sends the request in its wire format.
//!
//! Resolution, first match wins: a route in `models` (its first deployment; routing over all
//! deployments comes with the resilience layer), `provider/model` naming a configured
//! provider, a registry model whose provider is configured under that name or is the only
//! configured provider of a matching kind, and finally the only configured provider.

use super::http::ChunkStream;
use super::provider::Provider;
use super::types::{ChatRequest, ChatResponse, Usage};
use crate::cache::{self, Cache, Plan};
use crate::config::{Config, ProviderKind};
use crate::error::{Error, Result};
use crate::registry::{self, Model, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub struct Client {
    providers: BTreeMap<String, Arc<Provider>>,
    kinds: BTreeMap<String, ProviderKind>,
    config: Config,
    registry: Arc<Registry>,
    /// The response cache, when `cache.enabled` and a tier is configured.
    cache: Option<Arc<Cache>>,
}

/// Where a request goes.
#[derive(Clone)]
pub struct Target {
    pub provider: Arc<Provider>,
    /// The model id the provider knows.
    pub model: String,
    /// Registry entry for pricing and limits, when known.
    pub info: Option<Arc<Model>>,
}

fn registry_provider_matches(kind: ProviderKind, registry_provider: &str) -> bool {
    match kind {
        ProviderKind::Openai => registry_provider == "openai",
        ProviderKind::Anthropic => registry_provider == "anthropic",
        ProviderKind::Gemini => registry_provider == "gemini",
        ProviderKind::OpenaiCompatible => {
            !matches!(registry_provider, "openai" | "anthropic" | "gemini")
        }
        ProviderKind::Mock => false,
    }
}

impl Client {
    pub fn new(config: Config) -> Result<Client> {
        Self::with_registry(config, registry::global())
    }

    pub fn with_registry(config: Config, registry: Arc<Registry>) -> Result<Client> {
        let mut providers = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for (name, cfg) in &config.providers {
            kinds.insert(name.clone(), cfg.kind);
            providers.insert(name.clone(), Arc::new(Provider::new(name, cfg)?));
        }
        let c = &config.cache;
        let tiers = c.memory.is_some() || c.redis.is_some() || c.filesystem.is_some();
        let cache = match c.enabled && tiers {
            true => Some(Arc::new(Cache::new(c)?)),
            false => None,
        };
        Ok(Client {
            providers,
            kinds,
            config,
            registry,
            cache,
        })
    }

    /// The response cache, for stats, invalidation and maintenance.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.cache.as_ref()
    }

    /// The cache and what to do with it for `req`; the key names the provider the model
    /// resolves to, so one model name on two providers gets two entries.
    fn cache_plan(&self, req: &ChatRequest) -> Option<(&Arc<Cache>, Plan, Option<Target>)> {
        let cache = self.cache.as_ref()?;
        let target = self.resolve(&req.model).ok();
        let provider = target.as_ref().map(|t| t.provider.name());
        let plan = cache.plan(req, provider)?;
        Some((cache, plan, target))
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn provider(&self, name: &str) -> Option<Arc<Provider>> {
        self.providers.get(name).cloned()
    }

    /// Finds the provider and provider-side model id for a model name.
    pub fn resolve(&self, name: &str) -> Result<Target> {
        let info = |m: &str| self.registry.find(m);
        if let Some(route) = self.config.models.get(name) {
            let d = &route.deployments[0];
            if let Some(p) = self.provider(&d.provider) {
                return Ok(Target {
                    provider: p,
                    info: info(&d.model),
                    model: d.model.clone(),
                });
            }
        }
        if let Some((prefix, rest)) = name.split_once('/') {
            if let Some(p) = self.provider(prefix) {
                return Ok(Target {
                    provider: p,
                    info: info(rest).or_else(|| info(name)),
                    model: rest.to_string(),
                });
            }
        }
        if let Some(m) = self.registry.find(name) {
            let provider_model =
                m.id.rsplit_once('/')
                    .map_or(m.id.as_str(), |(_, id)| id)
                    .to_string();
            if let Some(p) = self.provider(&m.provider) {
                return Ok(Target {
                    provider: p,
                    model: provider_model,
                    info: Some(m),
                });
            }
            let mut matching = self
                .kinds
                .iter()
                .filter(|(_, k)| registry_provider_matches(**k, &m.provider));
            if let (Some((pname, _)), None) = (matching.next(), matching.next()) {
                if let Some(p) = self.provider(pname) {
                    return Ok(Target {
                        provider: p,
                        model: provider_model,
                        info: Some(m),
                    });
                }
            }
        }
        if self.providers.len() == 1 {
            let p = self.providers.values().next().expect("one").clone();
            return Ok(Target {
                provider: p,
                info: info(name),
                model: name.to_string(),
            });
        }
        Err(Error::not_found(format!(
            "no configured provider serves model '{name}' (configured: {})",
            self.providers
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_details(serde_json::json!({ "model": name })))
    }

    /// Sends a request and waits for the whole answer. Dropping the future aborts the call.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse> {
        req.validate()?;
        let Some((cache, plan, _)) = self.cache_plan(&req) else {
            return self.chat_upstream(&req).await;
        };
        if plan.lookup {
            let started = Instant::now();
            if let Some(mut hit) = cache.get_response(&plan.key).await {
                // The stored cost is what the call cost when it was made: now it is saved.
                cache.record_saved(hit.cost_usd.unwrap_or(0.0));
                hit.cost_usd = Some(0.0);
                hit.attempts = 0;
                hit.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                return Ok(hit);
            }
        }
        let resp = self.chat_upstream(&req).await?;
        if plan.store {
            cache.put_response(&plan.key, &resp, plan.ttl_s).await;
        }
        Ok(resp)
    }

    /// Sends a request and streams the answer. Dropping the stream aborts the call.
    pub async fn chat_stream(&self, req: ChatRequest) -> Result<ChunkStream> {
        req.validate()?;
        let Some((cache, plan, target)) = self.cache_plan(&req) else {
            return self.chat_stream_upstream(&req).await;
        };
        if plan.lookup {
            let replayed = cache.get(&plan.key).await.and_then(|e| cache::replay(&e));
            if let Some(chunks) = replayed {
                let usage = chunks.iter().rev().find_map(|c| c.usage);
                if let (Some(m), Some(u)) = (target.as_ref().and_then(|t| t.info.as_deref()), usage)
                {
                    cache.record_saved(cost(m, &u));
                }
                return Ok(Box::pin(futures_util::stream::iter(
                    chunks.into_iter().map(Ok),
                )));
            }
        }
        let stream = self.chat_stream_upstream(&req).await?;
        if !plan.store {
            return Ok(stream);
        }
        Ok(cache::record(cache.clone(), plan.key, plan.ttl_s, stream))
    }

    /// The provider side of `chat`: everything after validation and the cache.
    async fn chat_upstream(&self, req: &ChatRequest) -> Result<ChatResponse> {
        let target = self.resolve(&req.model)?;
        let started = Instant::now();
        let max_output = target.info.as_ref().map(|m| m.max_output_tokens);
        let mut resp = target.provider.chat(req, &target.model, max_output).await?;
        resp.provider = target.provider.name().to_string();
        if resp.model.is_empty() {
            resp.model = target.model.clone();
        }
        resp.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        resp.cost_usd = target.info.as_deref().map(|m| cost(m, &resp.usage));
        resp.attempts = 1;
        Ok(resp)
    }

    /// The provider side of `chat_stream`.
    async fn chat_stream_upstream(&self, req: &ChatRequest) -> Result<ChunkStream> {
        let target = self.resolve(&req.model)?;
        let max_output = target.info.as_ref().map(|m| m.max_output_tokens);
        target
            .provider
            .chat_stream(req, &target.model, max_output)
            .await
    }
}

/// USD for a call from registry prices: cached prompt tokens at the cached price when there is one.
pub fn cost(m: &Model, u: &Usage) -> f64 {
    let cached = u.cached_tokens.min(u.prompt_tokens) as f64;
    let fresh = u.prompt_tokens as f64 - cached;
    let cached_price = m.cached_input_per_1m.unwrap_or(m.input_per_1m);
    (fresh * m.input_per_1m + cached * cached_price + u.completion_tokens as f64 * m.output_per_1m)
        / 1e6
}
