//! The response cache: memory → Redis → filesystem, each optional. A hit in a lower tier
//! fills the tiers above it; a failing Redis or disk is counted and skipped, never an error
//! to the caller. Used by `Client::chat`/`chat_stream` and on its own by every binding.
//!
//! Keys given to `get`/`put` are used as they are (the bindings' `get(key)`/`set(key, ...)`);
//! chat keys come from `key::chat_key` and look like `{namespace}:{strategy}:...`, so a
//! namespace is the glob `{namespace}:*`.

pub mod clock;
pub mod config;
pub mod entry;
pub mod fs;
pub mod key;
pub mod memory;
pub mod redis;
pub mod stats;
mod stream;
pub mod value;

/// The payload type, re-exported so bindings need not depend on `bytes`.
pub use bytes::Bytes;
pub use clock::{Clock, ManualClock, SystemClock};
pub use entry::{Entry, Kind};
pub use fs::FsReport;
pub use key::{chat_key, Strategy};
pub use stats::{CacheStats, TierStats};
pub use stream::{record, replay};

use crate::config::CacheConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::llm::{ChatRequest, ChatResponse};
use crate::rt;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

/// Per-request control, the `cache` field of a chat request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheControl {
    /// Seconds this answer lives, instead of the configured `ttl_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
    /// Skip the lookup and ask the provider (the answer is still stored: a refresh).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_cache: bool,
    /// Do not store this answer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_store: bool,
    /// Namespace instead of the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What `purge` removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    All,
    Expired,
    Namespace(String),
    /// A glob over keys: `*`, `?`, `[abc]`.
    Pattern(String),
}

impl Purge {
    /// From the shape every binding and the CLI offer: `"all"` or `"expired"`, or a
    /// namespace, or a pattern: exactly one.
    pub fn from_parts(
        what: Option<&str>,
        namespace: Option<String>,
        pattern: Option<String>,
    ) -> Result<Purge> {
        match (what, namespace, pattern) {
            (Some("all"), None, None) => Ok(Purge::All),
            (Some("expired"), None, None) => Ok(Purge::Expired),
            (None, Some(ns), None) => Ok(Purge::Namespace(ns)),
            (None, None, Some(p)) => Ok(Purge::Pattern(p)),
            _ => Err(Error::invalid_input(
                "purge: give one of 'all', 'expired', a namespace or a pattern",
            )),
        }
    }
}

/// What `validate` found (filesystem counts; memory and Redis entries cannot be corrupt
/// at rest without being caught on read, so only their sizes are reported).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ValidateReport {
    pub filesystem: Option<FsReport>,
    pub memory_entries: u64,
}

/// What `purge` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub memory: u64,
    pub redis: u64,
    pub filesystem: Option<FsReport>,
}

pub struct Cache {
    memory: Option<memory::MemoryTier>,
    redis: Option<redis::RedisTier>,
    fs: Option<fs::FsTier>,
    /// Default TTL and strategy: atomics, because seed 004's `byContent(ttl)`, `byModel(ttl)`...
    /// switch them on a live cache.
    ttl_ms: AtomicU64,
    strategy: AtomicU8,
    redis_ttl_ms: Option<u64>,
    fs_ttl_ms: Option<u64>,
    namespace: String,
    nonzero_temperature: bool,
    clock: Arc<dyn Clock>,
    hits: AtomicU64,
    misses: AtomicU64,
    saved_nano_usd: AtomicU64,
}

/// How the client treats one request: its key, and whether to read and write.
pub struct Plan {
    pub key: String,
    pub lookup: bool,
    pub store: bool,
    pub ttl_s: Option<u64>,
}

impl Cache {
    pub fn new(cfg: &CacheConfig) -> Result<Cache> {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: &CacheConfig, clock: Arc<dyn Clock>) -> Result<Cache> {
        let memory = cfg.memory.as_ref().map(|m| {
            memory::MemoryTier::new(
                m.max_entries.get(),
                m.max_bytes.get(),
                m.idle_s.map_or(0, |s| s.get() * 1000),
                clock.clone(),
            )
        });
        let redis = match &cfg.redis {
            Some(r) => Some(redis::RedisTier::new(
                &r.url,
                &r.prefix,
                r.pool_size.get() as usize,
                r.timeout_ms.get(),
                clock.clone(),
            )?),
            None => None,
        };
        let fs = match &cfg.filesystem {
            Some(f) => Some(fs::FsTier::new(&f.path, clock.clone())?),
            None => None,
        };
        Ok(Cache {
            memory,
            redis,
            fs,
            ttl_ms: AtomicU64::new(cfg.ttl_s.get() * 1000),
            strategy: AtomicU8::new(cfg.strategy as u8),
            redis_ttl_ms: cfg
                .redis
                .as_ref()
                .and_then(|r| r.ttl_s)
                .map(|s| s.get() * 1000),
            fs_ttl_ms: cfg
                .filesystem
                .as_ref()
                .and_then(|f| f.ttl_s)
                .map(|s| s.get() * 1000),
            namespace: cfg.namespace.clone(),
            nonzero_temperature: cfg.cache_nonzero_temperature,
            clock,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            saved_nano_usd: AtomicU64::new(0),
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn strategy(&self) -> Strategy {
        Strategy::from_u8(self.strategy.load(Relaxed))
    }

    /// Switches how later requests share entries, and their TTL when given.
    pub fn set_strategy(&self, strategy: Strategy, ttl_s: Option<u64>) {
        self.strategy.store(strategy as u8, Relaxed);
        if let Some(s) = ttl_s {
            self.ttl_ms.store(s.saturating_mul(1000), Relaxed);
        }
    }

    /// The key for a request under this cache's namespace and strategy.
    pub fn key_for(&self, req: &ChatRequest, provider: Option<&str>) -> String {
        let ns = req
            .cache
            .as_ref()
            .and_then(|c| c.namespace.as_deref())
            .unwrap_or(&self.namespace);
        chat_key(req, provider, self.strategy(), ns)
    }

    /// [`Cache::key_for`] for a request in its common shape (see [`key::PlainRequest`]);
    /// None when it is not valid (the caller then goes through [`ChatRequest`] for the error).
    pub fn key_for_plain(
        &self,
        req: &key::PlainRequest<'_>,
        provider: Option<&str>,
    ) -> Option<String> {
        key::plain_chat_key(req, provider, self.strategy(), &self.namespace)
    }

    /// None when the request must not touch the cache (sampled with temperature > 0 while
    /// the config does not allow caching that).
    pub fn plan(&self, req: &ChatRequest, provider: Option<&str>) -> Option<Plan> {
        let sampled = req.temperature.is_some_and(|t| t > 0.0);
        if sampled && !self.nonzero_temperature {
            return None;
        }
        let ctl = req.cache.clone().unwrap_or_default();
        Some(Plan {
            key: self.key_for(req, provider),
            lookup: !ctl.no_cache,
            store: !ctl.no_store,
            ttl_s: ctl.ttl_s,
        })
    }

    /// Memory, then the lower tiers; a lower hit fills the tiers above it.
    pub async fn get(&self, key: &str) -> Option<Entry> {
        self.get_from(key).await.map(|(e, _)| e)
    }

    /// [`Self::get`], with the tier that answered: `memory`, `redis` or `fs`.
    pub async fn get_from(&self, key: &str) -> Option<(Entry, &'static str)> {
        if let Some(e) = self.memory.as_ref().and_then(|m| m.get(key)) {
            self.hits.fetch_add(1, Relaxed);
            return Some((e, "memory"));
        }
        if let Some(r) = &self.redis {
            if let Some(e) = r.get(key).await {
                self.fill(key, &e, 1).await;
                return Some((e, "redis"));
            }
        }
        self.get_fs(key).await.map(|e| (e, "fs"))
    }

    async fn get_fs(&self, key: &str) -> Option<Entry> {
        match self.fs.as_ref().and_then(|f| f.get(key)) {
            Some(e) => {
                self.fill(key, &e, 2).await;
                Some(e)
            }
            None => {
                self.misses.fetch_add(1, Relaxed);
                None
            }
        }
    }

    async fn fill(&self, key: &str, e: &Entry, below: usize) {
        self.hits.fetch_add(1, Relaxed);
        if let Some(m) = &self.memory {
            m.put(key, e.clone());
        }
        if below == 2 {
            if let Some(r) = &self.redis {
                r.put(key, e).await;
            }
        }
    }

    /// The memory tier alone, for bindings that answer a hit without leaving their thread
    /// (or releasing their interpreter lock). A miss is counted only when there is no tier
    /// below to ask next.
    pub fn get_memory(&self, key: &str) -> Option<Entry> {
        let found = self.memory.as_ref().and_then(|m| m.get(key));
        match &found {
            Some(_) => self.hits.fetch_add(1, Relaxed),
            None if !self.has_lower_tiers() => self.misses.fetch_add(1, Relaxed),
            None => 0,
        };
        found
    }

    /// Counts a lookup that could not be made (a key that is not UTF-8, from C or Go) as a miss.
    pub fn count_unusable_key(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    /// Redis or a filesystem is configured: lookups below memory may block.
    pub fn has_lower_tiers(&self) -> bool {
        self.redis.is_some() || self.fs.is_some()
    }

    /// The tiers below memory, from a thread outside the runtime; fills memory on a hit.
    pub fn get_lower_blocking(&self, key: &str) -> Option<Entry> {
        if !self.has_lower_tiers() {
            return None;
        }
        if self.redis.is_none() {
            return rt_free(self.get_fs(key));
        }
        rt::wait(async {
            let r = self.redis.as_ref().expect("checked");
            Ok(match r.get(key).await {
                Some(e) => {
                    self.fill(key, &e, 1).await;
                    Some(e)
                }
                None => self.get_fs(key).await,
            })
        })
        .ok()
        .flatten()
    }

    /// `get` for callers outside the runtime (Python, Node, C and Go).
    pub fn get_blocking(&self, key: &str) -> Option<Entry> {
        self.get_memory(key)
            .or_else(|| self.get_lower_blocking(key))
    }

    /// Builds an entry that expires after `ttl_s` (the configured TTL when None).
    pub fn entry(&self, kind: Kind, payload: Bytes, ttl_s: Option<u64>) -> Entry {
        let now = self.clock.now_ms();
        let ttl_ms = ttl_s.map_or(self.ttl_ms.load(Relaxed), |s| s.saturating_mul(1000));
        Entry {
            kind,
            created_ms: now,
            expires_ms: if ttl_ms == 0 { 0 } else { now + ttl_ms },
            payload,
        }
    }

    /// Stores in every tier; tier failures are counted, not returned.
    pub async fn put(&self, key: &str, e: Entry) {
        if let Some(r) = &self.redis {
            r.put(key, &self.capped(e.clone(), self.redis_ttl_ms)).await;
        }
        self.put_local(key, e);
    }

    fn put_local(&self, key: &str, e: Entry) {
        if let Some(f) = &self.fs {
            let _ = f.put(key, &self.capped(e.clone(), self.fs_ttl_ms));
        }
        if let Some(m) = &self.memory {
            m.put(key, e);
        }
    }

    /// A tier's own TTL, when set, caps the entry's.
    fn capped(&self, mut e: Entry, tier_ttl_ms: Option<u64>) -> Entry {
        if let Some(t) = tier_ttl_ms {
            let cap = e.created_ms + t;
            if e.expires_ms == 0 || e.expires_ms > cap {
                e.expires_ms = cap;
            }
        }
        e
    }

    pub fn put_blocking(&self, key: &str, e: Entry) {
        if self.redis.is_none() {
            return self.put_local(key, e);
        }
        let _ = rt::wait(async {
            self.put(key, e).await;
            Ok(())
        });
    }

    pub async fn remove(&self, key: &str) {
        if let Some(m) = &self.memory {
            m.remove(key);
        }
        if let Some(r) = &self.redis {
            r.remove(key).await;
        }
        if let Some(f) = &self.fs {
            f.remove(key);
        }
    }

    /// The cached answer to a chat, marked `cached`, and the tier that had it.
    pub async fn get_response(&self, key: &str) -> Option<(ChatResponse, &'static str)> {
        let (e, tier) = self.get_from(key).await?;
        if e.kind != Kind::Response {
            return None;
        }
        let mut r: ChatResponse = serde_json::from_slice(&e.payload).ok()?;
        r.cached = true;
        Some((r, tier))
    }

    pub async fn put_response(&self, key: &str, resp: &ChatResponse, ttl_s: Option<u64>) {
        if let Ok(json) = serde_json::to_vec(resp) {
            self.put(key, self.entry(Kind::Response, json.into(), ttl_s))
                .await;
        }
    }

    /// Adds the registry cost of an answer served from the cache.
    pub fn record_saved(&self, usd: f64) {
        if usd.is_finite() && usd > 0.0 {
            self.saved_nano_usd.fetch_add((usd * 1e9) as u64, Relaxed);
        }
    }

    /// Removes keys matching a glob from every tier; returns how many (Redis and memory
    /// counted once per key they held).
    pub async fn invalidate(&self, pattern: &str) -> Result<u64> {
        Ok(self
            .purge(Purge::Pattern(pattern.to_string()))
            .await?
            .total())
    }

    pub async fn invalidate_namespace(&self, namespace: &str) -> Result<u64> {
        Ok(self
            .purge(Purge::Namespace(namespace.to_string()))
            .await?
            .total())
    }

    pub async fn purge(&self, what: Purge) -> Result<PurgeReport> {
        let pattern = match &what {
            Purge::All => Some("*".to_string()),
            Purge::Expired => None,
            Purge::Namespace(ns) => Some(format!("{}:*", glob_escape(ns))),
            Purge::Pattern(p) => Some(p.clone()),
        };
        let matcher = match &pattern {
            Some(p) => Some(
                globset::GlobBuilder::new(p)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| Error::invalid_input(format!("cache pattern '{p}': {e}")))?
                    .compile_matcher(),
            ),
            None => None,
        };
        let mut report = PurgeReport::default();
        if let Some(m) = &self.memory {
            report.memory = match &matcher {
                Some(g) => m.retain_not(|k| g.is_match(k)),
                None => m.purge_expired(),
            };
        }
        if let (Some(r), Some(p)) = (&self.redis, &pattern) {
            report.redis = r.invalidate(p).await?;
        }
        if let Some(f) = &self.fs {
            report.filesystem = Some(f.purge(|found| match found {
                fs::Found::Expired { key } | fs::Found::Valid { key, .. } => match &matcher {
                    Some(g) => g.is_match(key),
                    None => matches!(found, fs::Found::Expired { .. }),
                },
                _ => true,
            })?);
        }
        Ok(report)
    }

    pub fn validate(&self) -> Result<ValidateReport> {
        Ok(ValidateReport {
            filesystem: self.fs.as_ref().map(|f| f.validate()).transpose()?,
            memory_entries: self.memory.as_ref().map_or(0, |m| m.len()),
        })
    }

    pub fn stats(&self) -> CacheStats {
        let (hits, misses) = (self.hits.load(Relaxed), self.misses.load(Relaxed));
        let mut tiers = vec![];
        if let Some(m) = &self.memory {
            let mut s = m.counters.snapshot("memory");
            s.bytes = m.weight();
            tiers.push(s);
        }
        if let Some(r) = &self.redis {
            tiers.push(r.counters.snapshot("redis"));
        }
        if let Some(f) = &self.fs {
            tiers.push(f.counters.snapshot("filesystem"));
        }
        CacheStats {
            hits,
            misses,
            hit_rate: if hits + misses == 0 {
                0.0
            } else {
                hits as f64 / (hits + misses) as f64
            },
            saved_usd: self.saved_nano_usd.load(Relaxed) as f64 / 1e9,
            entries: self.memory.as_ref().map_or(0, |m| m.len()),
            tiers,
        }
    }
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.memory + self.redis + self.filesystem.as_ref().map_or(0, |f| f.valid + f.expired)
    }
}

/// Escapes glob characters so a namespace matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Polls a future that never waits (no Redis in it) without a runtime.
fn rt_free<T>(f: impl std::future::Future<Output = T>) -> T {
    futures_util::FutureExt::now_or_never(f).expect("no tier below memory awaits without redis")
}

/// An error for cache API misuse, with the `cache` code.
pub fn cache_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Cache, message)
}
