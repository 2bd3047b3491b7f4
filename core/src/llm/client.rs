//! `Client`: resolves a model name to a provider and sends the request in its wire format.
//!
//! Resolution, first match wins: a route in `models` (its first deployment; routing over all
//! deployments comes with the resilience layer), `provider/model` naming a configured
//! provider, a registry model whose provider is configured under that name or is the only
//! configured provider of a matching kind, and finally the only configured provider.

use super::books::{AttemptTimer, Books, Call, SharedTrace, Source};
use super::http::ChunkStream;
use super::pricing::{self, StreamEnd};
use super::provider::Provider;
use super::spend::{Hold, Spend};
use super::types::{ChatRequest, ChatResponse, Usage};
use crate::cache::{self, Cache};
use crate::config::{Config, ProviderKind};
use crate::config::{LimitScope, RouteStrategy};
use crate::cost::budget::{BudgetAlert, BudgetSnapshot};
use crate::cost::{self, CostDetail, CostTracker};
use crate::error::{Error, Result};
use crate::observe::monitor::{Outcome, ProviderMonitor};
use crate::observe::ClientLog;
use crate::observe::RequestLog;
use crate::registry::{self, Model, Registry};
use crate::resilience::{
    BreakerSettings, CircuitBreaker, LimiterSet, QueuePermit, QueueSettings, QueueSnapshot,
    RateLimit, RequestQueue, RetryPolicy, RetryQuota, SingleFlight,
};
use crate::router::{Health, HealthSnapshot, Member, Plan, Route, Served, SharedLimit, UsedTokens};
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tracing::Instrument;

pub struct Client {
    engine: Arc<Engine>,
    /// Identical non-streamed requests in flight at once share one upstream call.
    flights: SingleFlight<String, ChatResponse>,
    /// The response cache, when `cache.enabled` and a tier is configured.
    cache: Option<Arc<Cache>>,
    /// The request log and cost tracker every call feeds.
    books: Arc<Books>,
    /// `metrics.listen`: the scrape endpoint, stopped when the client is dropped.
    metrics_server: Option<crate::observe::exporter::MetricsServer>,
    /// `logging`: where this client's log records go.
    log: ClientLog,
}

/// Everything past validation and the cache: resolution, routes with their deployments'
/// breakers and limiters, per-provider queues, retries.
struct Engine {
    providers: BTreeMap<String, Arc<Provider>>,
    kinds: BTreeMap<String, ProviderKind>,
    config: Config,
    registry: Arc<Registry>,
    /// Routes of `models` in the config.
    routes: BTreeMap<String, Arc<Route<Target>>>,
    /// One-deployment routes for other model names, made on first use.
    adhoc: RwLock<HashMap<String, Arc<Route<Target>>>>,
    /// Per deployment (`provider/model`), shared by every route that uses it.
    health: Mutex<HashMap<String, Arc<Health>>>,
    queues: BTreeMap<String, Arc<RequestQueue>>,
    /// `rate_limits` by key: a deployment (`provider/model`) or a provider (its API key).
    limiters: LimiterSet,
    /// The same, for `scope: redis` limits shared by every process using the Redis server.
    shared_limits: HashMap<String, Arc<SharedLimit>>,
    breaker: Option<BreakerSettings>,
    policy: RetryPolicy,
    /// The `budget` section, when it sets a limit or a ledger.
    spend: Option<Spend>,
    /// Provider health from every attempt (and health checks); `down` providers go last.
    monitor: Arc<ProviderMonitor>,
}

/// Whose rules a pruned conversation must follow: the one kind of provider a route has, or
/// strict alternation (valid everywhere) when it mixes kinds.
fn dialect_for(kinds: &[ProviderKind]) -> crate::context::Dialect {
    use crate::context::Dialect;
    let mut dialects = kinds.iter().map(|k| match k {
        ProviderKind::Anthropic => Dialect::Anthropic,
        ProviderKind::Gemini => Dialect::Gemini,
        _ => Dialect::Openai,
    });
    match dialects.next() {
        None => Dialect::Openai,
        Some(d) if dialects.all(|x| x == d) => d,
        Some(_) => Dialect::Strict,
    }
}

/// More than the tokens a message's content can count for (a token is at least a byte of
/// text; an image counts a fixed number).
fn bytes_bound(m: &super::types::Message) -> usize {
    use super::types::{Content, ContentPart};
    let content = match &m.content {
        None => 0,
        Some(Content::Text(t)) => t.len(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .map(|p| match p {
                ContentPart::Text { text, .. } => text.len(),
                ContentPart::ImageUrl { .. } => 2_000,
            })
            .sum(),
    };
    let calls: usize = m
        .tool_calls
        .iter()
        .map(|c| c.id.len() + c.function.name.len() + c.function.arguments.len() + 8)
        .sum();
    content
        + calls
        + m.name.as_ref().map_or(0, String::len)
        + m.tool_call_id.as_ref().map_or(0, String::len)
}

/// Ad-hoc routes kept at most (model names come from callers).
const MAX_ADHOC_ROUTES: usize = 4096;

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
        let c = &config.cache;
        let tiers = c.memory.is_some() || c.redis.is_some() || c.filesystem.is_some();
        let cache = match c.enabled && tiers {
            true => Some(Arc::new(Cache::new(c)?)),
            false => None,
        };
        let books = Arc::new(Books::new(&config)?);
        let log = ClientLog::new(&config.logging);
        let listen = config.metrics.listen.clone();
        let engine = Arc::new(Engine::new(config, registry)?);
        engine.monitor.set_log_client(log.id());
        engine.start_health_checks();
        let metrics_server = match listen {
            Some(addr) if books.metrics.is_some() => {
                let (books, engine, cache) = (books.clone(), engine.clone(), cache.clone());
                let render = Arc::new(move || {
                    render_metrics(&books, &engine, cache.as_ref()).unwrap_or_default()
                });
                Some(crate::observe::exporter::MetricsServer::start(
                    &addr, render,
                )?)
            }
            _ => None,
        };
        Ok(Client {
            books,
            engine,
            flights: SingleFlight::new(),
            cache,
            metrics_server,
            log,
        })
    }

    /// Hands this client's log records to `sink`, in batches, on the log thread: those at
    /// `logging.level` or above, rendered in `logging.format`, scrubbed of keys and personal
    /// data unless `logging.redact` is false. Installs the engine's subscriber as the
    /// process's global one if no other was set (a Rust program with its own adds
    /// [`crate::observe::log::layer`] to it instead).
    pub fn on_log(&self, sink: crate::observe::log::Sink) {
        crate::observe::log::install();
        self.log.add_sink(sink);
    }

    /// [`Self::on_log`] for a sink that says what it wants, asked every second: while it
    /// wants nothing, calls build no log record (Python's `logging` before it is configured).
    pub fn on_log_with_interest(
        &self,
        sink: crate::observe::log::Sink,
        interest: crate::observe::log::Interest,
    ) {
        crate::observe::log::install();
        self.log.add_sink_with_interest(sink, interest);
    }

    /// The request span every stage of a call runs in.
    fn request_span(&self, call: &Call, req: &ChatRequest, stream: bool) -> tracing::Span {
        if !self.log.active() {
            // Nothing of this call is logged (another client's sinks may want records).
            return tracing::Span::none();
        }
        tracing::info_span!(
            target: "trinity_core::request",
            "gen_ai.request",
            trinity.client = self.log.id(),
            request_id = call.request_id().unwrap_or_default(),
            gen_ai.operation.name = "chat",
            gen_ai.request.model = req.model.as_str(),
            trinity.stream = stream,
        )
    }

    /// Provider health: latency, error rate, availability, state, history and callbacks.
    pub fn monitor(&self) -> &Arc<ProviderMonitor> {
        &self.engine.monitor
    }

    /// The performance report, `html` (one self-contained page) or `pdf` (A4, text
    /// extractable), as bytes: the monitor's providers and history (the last `hours`), the
    /// circuit breakers (when metrics are on) and what the request log holds.
    pub fn performance_report(&self, format: &str, hours: f64) -> Result<Vec<u8>> {
        use crate::observe::report::{self, BreakerRow, RecordStats, ReportData};
        report::check_format(format)?;
        let monitor = self.monitor();
        let history = monitor
            .providers()
            .into_iter()
            .map(|p| {
                let points = monitor.history(&p, hours);
                (p, points)
            })
            .collect();
        let mut records = self.request_log().history(usize::MAX);
        records.sort_by_key(|r| r.timestamp_ms);
        let mut stats = RecordStats::default();
        records.iter().for_each(|r| stats.add(r));
        drop(records);
        // The breaker state gauge (0 closed, 1 half-open, 2 open) per deployment.
        let breaker = self
            .metrics_families()
            .unwrap_or_default()
            .iter()
            .filter(|f| f.name.ends_with("breaker_state"))
            .flat_map(|f| f.samples())
            .map(|(series, sample)| BreakerRow {
                deployment: series.label("deployment").unwrap_or("–").to_owned(),
                state: match sample.value as i64 {
                    0 => "closed",
                    1 => "half_open",
                    _ => "open",
                }
                .to_owned(),
            })
            .collect();
        let data = ReportData {
            title: "trinity-core performance report",
            generated_ms: crate::observe::now_ms(),
            health: &monitor.snapshot(),
            history: &history,
            records: &stats,
            breaker,
        };
        report::render(&data, format)
    }

    /// The response cache, for stats, invalidation and maintenance.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.cache.as_ref()
    }

    /// The cache and what to do with it for `req`; the key names the provider the model
    /// resolves to, so one model name on two providers gets two entries.
    fn cache_plan(&self, req: &ChatRequest) -> Option<(&Arc<Cache>, cache::Plan, Option<Target>)> {
        let cache = self.cache.as_ref()?;
        let target = self.resolve(&req.model).ok();
        let provider = target.as_ref().map(|t| t.provider.name());
        let plan = cache.plan(req, provider)?;
        Some((cache, plan, target))
    }

    /// Cost totals of every call through this client, per minute, provider and model.
    pub fn costs(&self) -> &Arc<CostTracker> {
        &self.books.costs
    }

    /// One record per call through this client (`logging.history` kept in memory).
    pub fn request_log(&self) -> &Arc<RequestLog> {
        &self.books.log
    }

    /// The client's metrics as OpenMetrics text (`metrics.enabled`; else a `config` error).
    pub fn metrics_text(&self) -> Result<String> {
        render_metrics(&self.books, &self.engine, self.cache.as_ref())
    }

    /// Where `metrics.listen` serves `/metrics` (the port chosen when it was 0).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_server.as_ref().map(|s| s.addr())
    }

    pub fn config(&self) -> &Config {
        &self.engine.config
    }

    /// Finds the provider and provider-side model id for a model name.
    pub fn resolve(&self, name: &str) -> Result<Target> {
        self.engine.resolve(name)
    }

    /// Breaker state, calls in flight and latency of every deployment used so far.
    pub fn health(&self) -> Vec<HealthSnapshot> {
        self.engine.health_snapshots()
    }

    /// Per-provider queue statistics.
    pub fn queues(&self) -> BTreeMap<String, QueueSnapshot> {
        self.engine
            .queues
            .iter()
            .map(|(k, q)| (k.clone(), q.snapshot()))
            .collect()
    }

    /// Calls `f` each time spend passes one of `budget.alerts` of a limit (once per window).
    /// A `config` error when the config sets no budget limit: nothing would ever fire.
    pub fn on_budget_alert(&self, f: impl Fn(&BudgetAlert) + Send + Sync + 'static) -> Result<()> {
        self.spend()?.on_alert(f);
        Ok(())
    }

    /// Spend and holds of the day, the month and `user`'s day, against their limits.
    pub async fn budget(&self, user: Option<&str>) -> Result<BudgetSnapshot> {
        self.spend()?.snapshot(user).await
    }

    fn spend(&self) -> Result<&Spend> {
        self.engine.spend.as_ref().ok_or_else(|| {
            Error::config("no budget is configured (budget.daily_usd, monthly_usd, per_request_usd, per_user_daily_usd or ledger_path)")
                .with_details(serde_json::json!({ "path": "budget" }))
        })
    }
}

fn render_metrics(books: &Books, engine: &Engine, cache: Option<&Arc<Cache>>) -> Result<String> {
    let m = books.metrics.as_ref().ok_or_else(|| {
        Error::config("metrics are off (metrics.enabled: false)")
            .with_details(serde_json::json!({ "path": "metrics.enabled" }))
    })?;
    let deployments = engine.health_snapshots();
    let providers: Vec<_> = engine
        .monitor
        .providers()
        .into_iter()
        .map(|p| {
            let state = engine.monitor.state(&p);
            (p, state)
        })
        .collect();
    let budget = engine.spend.as_ref().and_then(|s| s.snapshot_now());
    let queues: Vec<_> = engine
        .queues
        .iter()
        .map(|(p, q)| (p.clone(), q.snapshot()))
        .collect();
    let cache = cache.map(|c| c.stats());
    Ok(m.render(&crate::observe::metrics::Now {
        deployments: &deployments,
        providers: &providers,
        budget: budget.as_ref(),
        queues: &queues,
        cache: cache.as_ref(),
    }))
}

impl Engine {
    /// `monitor.health_checks`: each provider checked on its own task.
    fn start_health_checks(&self) {
        for (name, check) in &self.config.monitor.health_checks {
            let Some(provider) = self.provider(name) else {
                continue; // the config names only known providers
            };
            let path: Arc<str> = check.path.as_str().into();
            self.monitor.start_checks(name, check, move || {
                let (provider, path) = (provider.clone(), path.clone());
                async move { provider.check(&path).await }
            });
        }
    }

    fn health_snapshots(&self) -> Vec<HealthSnapshot> {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<HealthSnapshot> = health.values().map(|h| h.snapshot()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    fn new(config: Config, registry: Arc<Registry>) -> Result<Engine> {
        let mut providers = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        let mut queues = BTreeMap::new();
        let queue = QueueSettings::from(&config.queue);
        for (name, cfg) in &config.providers {
            kinds.insert(name.clone(), cfg.kind);
            providers.insert(name.clone(), Arc::new(Provider::new(name, cfg)?));
            queues.insert(name.clone(), Arc::new(RequestQueue::new(queue.clone())?));
        }
        let breaker = config
            .breaker
            .enabled
            .then(|| BreakerSettings::from(&config.breaker));
        let limiters = LimiterSet::new();
        let mut shared_limits = HashMap::new();
        for (key, l) in &config.rate_limits {
            let limit = RateLimit::per_minute(l.rpm.map(|v| v.get()), l.tpm.map(|v| v.get()));
            if l.scope == LimitScope::Local {
                limiters.set_limit(key, limit)?;
                continue;
            }
            let url = l
                .redis_url
                .clone()
                .or_else(|| config.cache.redis.as_ref().map(|r| r.url.clone()));
            let url = url.ok_or_else(|| {
                let path = format!("rate_limits.{key}.redis_url");
                Error::config(format!(
                    "{path}: a shared (redis) limit needs a Redis URL, here or in cache.redis.url"
                ))
                .with_details(serde_json::json!({ "path": path }))
            })?;
            crate::resilience::RateLimiter::new(key, limit.clone())?; // the same validation as local limits
            shared_limits.insert(
                key.clone(),
                Arc::new(SharedLimit::new(url, key.clone(), limit)),
            );
        }
        let monitor = ProviderMonitor::new(&config.monitor);
        let waiting = queues.clone();
        monitor.set_queue_depth(Box::new(move |p| {
            waiting.get(p).map_or(0, |q| q.snapshot().length as u64)
        }));
        let mut engine = Engine {
            monitor,
            providers,
            kinds,
            routes: BTreeMap::new(),
            adhoc: RwLock::default(),
            health: Mutex::default(),
            queues,
            limiters,
            shared_limits,
            breaker,
            policy: RetryPolicy::from(&config.retry),
            spend: Spend::new(&config),
            registry,
            config,
        };
        let mut routes = BTreeMap::new();
        for (name, route) in &engine.config.models {
            let mut members = Vec::new();
            for (i, d) in route.deployments.iter().enumerate() {
                let provider = engine.provider(&d.provider).ok_or_else(|| {
                    let path = format!("models.{name}.deployments[{i}].provider");
                    Error::config(format!(
                        "{path}: no provider '{}' is configured",
                        d.provider
                    ))
                    .with_details(serde_json::json!({ "path": path }))
                })?;
                let target = Target {
                    info: engine.registry.find(&d.model),
                    model: d.model.clone(),
                    provider,
                };
                members.push(Member {
                    health: engine.health_for(&target)?,
                    weight: d.weight.0,
                    target,
                });
            }
            let cap = route.max_cost_usd.map(|c| c.0);
            routes.insert(
                name.clone(),
                Arc::new(Route::new(route.strategy, members, cap)),
            );
        }
        engine.routes = routes;
        Ok(engine)
    }

    fn provider(&self, name: &str) -> Option<Arc<Provider>> {
        self.providers.get(name).cloned()
    }

    /// The deployment's shared health: its breaker and its limiters (`provider/model`, then `provider`).
    fn health_for(&self, t: &Target) -> Result<Arc<Health>> {
        let name = format!("{}/{}", t.provider.name(), t.model);
        let mut all = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = all.get(&name) {
            return Ok(h.clone());
        }
        let breaker = match &self.breaker {
            Some(s) => {
                let b = Arc::new(CircuitBreaker::new(name.clone(), s.clone())?);
                // Runs in the call that caused the transition, so it reaches that client's log.
                b.on_state_change(|c| {
                    tracing::warn!(
                        trinity.breaker = c.breaker.as_str(),
                        trinity.breaker.from = c.from.as_str(),
                        trinity.breaker.to = c.to.as_str(),
                        trinity.failure_rate = c.failure_rate,
                        "circuit breaker {}: {} -> {} (failure rate {:.2})",
                        c.breaker,
                        c.from.as_str(),
                        c.to.as_str(),
                        c.failure_rate
                    )
                });
                Some(b)
            }
            None => None,
        };
        let keys = [name.as_str(), t.provider.name()];
        let limiters = keys
            .into_iter()
            .filter_map(|key| self.limiters.get(key))
            .collect();
        let mut health = Health::new(name.clone(), breaker, limiters);
        health.provider_down = Some(self.monitor.down_flag(t.provider.name()));
        health.quota = Some(Arc::new(RetryQuota::from(&self.config.retry.budget)));
        health.shared = keys
            .into_iter()
            .filter_map(|key| self.shared_limits.get(key).cloned())
            .collect();
        let h = Arc::new(health);
        all.insert(name, h.clone());
        Ok(h)
    }

    /// `req` pruned to its route's tightest window when `context.auto_prune` (the config's or
    /// the request's) asks for it and the conversation does not fit; None when it is sent as
    /// it is. A conversation that cannot fit even pruned is `context_too_large`.
    fn fit_context(&self, req: &ChatRequest) -> Result<Option<ChatRequest>> {
        use crate::context::auto::{tokens_at_most, Fit};
        let control = req.context.as_ref();
        if !Fit::wanted(&self.config.context, control) {
            return Ok(None);
        }
        let route = self.route_for(&req.model)?;
        // The tightest window of the deployments the registry knows (others cannot be fitted).
        let Some(info) = route
            .members
            .iter()
            .filter_map(|m| m.target.info.as_deref())
            .min_by_key(|m| m.context_window)
        else {
            return Ok(None);
        };
        let (encoding, _) = crate::tokens::messages::encoding_for_model(&self.registry, &info.id)?;
        // The tool schemas' text: its bytes bound its tokens, counted only when needed.
        let schemas = match req.tools.is_empty() {
            true => String::new(),
            false => serde_json::to_string(&req.tools).unwrap_or_default(),
        };
        let kinds: Vec<ProviderKind> = route
            .members
            .iter()
            .filter_map(|m| self.kinds.get(m.target.provider.name()).copied())
            .collect();
        let mut fit = Fit {
            config: &self.config.context,
            control,
            context_window: info.context_window,
            max_output_tokens: info.max_output_tokens,
            max_tokens: req.max_tokens.map(u64::from),
            encoding,
            dialect: dialect_for(&kinds),
            fixed_tokens: schemas.len() as u64,
        };
        // Most requests are far below the window: no exact count needed.
        let bound = tokens_at_most(req.messages.iter().map(bytes_bound), req.messages.len());
        if bound <= fit.budget() {
            return Ok(None);
        }
        fit.fixed_tokens = encoding.count(&schemas) as u64;
        let messages: Vec<serde_json::Value> = req
            .messages
            .iter()
            .map(|m| serde_json::to_value(m).map_err(|e| Error::internal(e.to_string())))
            .collect::<Result<_>>()?;
        let Some(pruned) = fit.prune(&messages)? else {
            return Ok(None);
        };
        tracing::info!(
            gen_ai.request.model = req.model.as_str(),
            trinity.context.tokens_before = pruned.tokens_before,
            trinity.context.tokens_after = pruned.tokens_after,
            trinity.context.dropped = pruned.dropped.len(),
            trinity.context.truncated = pruned.truncated,
            "context pruned to fit {}: {} -> {} tokens, {} messages dropped",
            info.id,
            pruned.tokens_before,
            pruned.tokens_after,
            pruned.dropped.len()
        );
        let mut fitted = req.clone();
        fitted.messages = serde_json::from_value(serde_json::Value::Array(pruned.messages))
            .map_err(|e| Error::internal(format!("pruned messages: {e}")))?;
        Ok(Some(fitted))
    }

    /// The route for a model name: a configured one, else a one-deployment route.
    fn route_for(&self, name: &str) -> Result<Arc<Route<Target>>> {
        if let Some(r) = self.routes.get(name) {
            return Ok(r.clone());
        }
        if let Some(r) = self
            .adhoc
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(r.clone());
        }
        let target = self.resolve(name)?;
        let member = Member {
            health: self.health_for(&target)?,
            weight: 1.0,
            target,
        };
        let route = Arc::new(Route::new(RouteStrategy::Failover, vec![member], None));
        let mut adhoc = self.adhoc.write().unwrap_or_else(|p| p.into_inner());
        if adhoc.len() < MAX_ADHOC_ROUTES {
            adhoc.insert(name.to_string(), route.clone());
        }
        Ok(route)
    }

    /// Finds the provider and provider-side model id for a model name.
    fn resolve(&self, name: &str) -> Result<Target> {
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
}

impl Client {
    /// Sends a request and waits for the whole answer. Dropping the future aborts the call.
    /// Every call leaves one record in the request log; an error's details carry its
    /// `request_id`, an answer's `debug` too.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatResponse> {
        let mut call = Call::open(&self.books, &req, false);
        call.span = self.request_span(&call, &req, false);
        let span = call.span.clone();
        async move {
            match self.chat_answered(&req, &call.trace).await {
                Ok((mut resp, source)) => {
                    call.answered(&mut resp, source);
                    Ok(resp)
                }
                Err(e) => Err(call.failed(e)),
            }
        }
        .instrument(span)
        .await
    }

    async fn chat_answered(
        &self,
        req: &ChatRequest,
        trace: &SharedTrace,
    ) -> Result<(ChatResponse, Source)> {
        req.validate()?;
        let fitted = self.engine.fit_context(req)?;
        let req = fitted.as_ref().unwrap_or(req);
        let Some((cache, plan, _)) = self.cache_plan(req) else {
            return self.chat_upstream(req, trace).await;
        };
        if plan.lookup {
            let started = Instant::now();
            let found = cache
                .get_response(&plan.key)
                .instrument(tracing::debug_span!(target: "trinity_core::cache", "trinity.cache"))
                .await;
            if found.is_none() {
                tracing::debug!("cache miss");
            }
            if let Some((mut hit, tier)) = found {
                // The stored cost is what the call cost when it was made: now it is saved.
                cache.record_saved(hit.cost_usd.unwrap_or(0.0));
                hit.cost_usd = Some(0.0);
                hit.cost_detail = Some(CostDetail::free());
                hit.attempts = 0;
                hit.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                return Ok((hit, Source::Cache(tier)));
            }
        }
        let (resp, source) = self.chat_upstream(req, trace).await?;
        if plan.store {
            cache.put_response(&plan.key, &resp, plan.ttl_s).await;
        }
        Ok((resp, source))
    }

    /// Sends a request and streams the answer. Dropping the stream aborts the call. The call
    /// is logged when its stream ends, fails or is dropped.
    pub async fn chat_stream(&self, req: ChatRequest) -> Result<ChunkStream> {
        let mut call = Call::open(&self.books, &req, true);
        call.span = self.request_span(&call, &req, true);
        let span = call.span.clone();
        self.chat_stream_in_span(req, call).instrument(span).await
    }

    async fn chat_stream_in_span(&self, req: ChatRequest, call: Call) -> Result<ChunkStream> {
        let req = match req.validate().and_then(|()| self.engine.fit_context(&req)) {
            Ok(Some(fitted)) => fitted,
            Ok(None) => req,
            Err(e) => return Err(call.failed(e)),
        };
        let Some((cache, plan, target)) = self.cache_plan(&req) else {
            return self.chat_stream_upstream(&req, call).await;
        };
        if plan.lookup {
            let replayed = cache
                .get_from(&plan.key)
                .await
                .and_then(|(e, tier)| Some((cache::replay(&e)?, tier)));
            if let Some((chunks, tier)) = replayed {
                let usage = chunks
                    .iter()
                    .rev()
                    .find_map(|c| c.usage)
                    .unwrap_or_default();
                let info = target.as_ref().and_then(|t| t.info.as_deref());
                if info.is_some() {
                    cache.record_saved(cost::cost(info, &usage, false).total_usd.unwrap_or(0.0));
                }
                if let Some(t) = &target {
                    call.trace.lock().unwrap_or_else(|p| p.into_inner()).served =
                        Some((t.provider.name().to_owned(), t.model.clone()));
                }
                call.stream_ended(StreamEnd {
                    usage,
                    detail: CostDetail::free(),
                    error: None,
                    cancelled: false,
                    first_token: None,
                    per_chunk: None,
                    received: chunks.iter().map(|c| c.delta.as_str()).collect(),
                    cached: true,
                    cache_tier: Some(tier),
                });
                return Ok(Box::pin(futures_util::stream::iter(
                    chunks.into_iter().map(Ok),
                )));
            }
        }
        let stream = self.chat_stream_upstream(&req, call).await?;
        if !plan.store {
            return Ok(stream);
        }
        Ok(cache::record(cache.clone(), plan.key, plan.ttl_s, stream))
    }

    /// The provider side of `chat`: everything after validation and the cache. Identical
    /// requests in flight at once share one call; the ones that joined pay nothing.
    async fn chat_upstream(
        &self,
        req: &ChatRequest,
        trace: &SharedTrace,
    ) -> Result<(ChatResponse, Source)> {
        let key = serde_json::to_string(req).map_err(|e| Error::internal(e.to_string()))?;
        let engine = self.engine.clone();
        let span = tracing::Span::current();
        let (result, joined) = self
            .flights
            .run(key, || {
                let (req, trace) = (req.clone(), trace.clone());
                async move { engine.chat(&req, &trace).await }.instrument(span)
            })
            .instrument(tracing::debug_span!(
                target: "trinity_core::singleflight",
                "trinity.singleflight"
            ))
            .await;
        if joined {
            tracing::debug!("joined an identical call in flight");
        }
        let source = if joined {
            Source::Joined
        } else {
            Source::Upstream
        };
        result.map(|r| (r, source))
    }

    /// The provider side of `chat_stream`: routed and retried until the stream is open.
    async fn chat_stream_upstream(&self, req: &ChatRequest, call: Call) -> Result<ChunkStream> {
        match self.engine.chat_stream(req, &call.trace).await {
            Ok((stream, info, hold)) => {
                let on_end: pricing::OnEnd = Box::new(move |end| call.stream_ended(end));
                Ok(pricing::priced_stream(
                    stream,
                    req,
                    info,
                    hold,
                    Some(on_end),
                ))
            }
            Err(e) => Err(call.failed(e)),
        }
    }
}

/// One attempt at one deployment, as the route hands it to the provider call.
struct Attempt {
    target: Target,
    /// The same for every attempt of the request.
    idempotency_key: Arc<str>,
    /// The provider queue's slot, held for the attempt (for a stream: until it is dropped).
    slot: Option<QueuePermit>,
}

impl Attempt {
    fn max_output(&self) -> Option<u64> {
        self.target.info.as_ref().map(|m| m.max_output_tokens)
    }
}

impl Engine {
    async fn chat(&self, req: &ChatRequest, trace: &SharedTrace) -> Result<ChatResponse> {
        let started = Instant::now();
        let (served, route, hold) = self
            .routed(req, trace, |a| async move {
                let t = &a.target;
                t.provider
                    .chat(req, &t.model, a.max_output(), Some(&a.idempotency_key))
                    .await
            })
            .await?;
        let target = &route.members[served.member].target;
        let mut resp = served.value;
        resp.provider = target.provider.name().to_string();
        if resp.model.is_empty() {
            resp.model = target.model.clone();
        }
        resp.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        pricing::price_response(&mut resp, req, target.info.as_deref());
        resp.attempts = served.attempts;
        if let Some(hold) = hold {
            let spent = resp.cost_detail.as_ref().and_then(|d| d.total_nano_usd);
            hold.settle(spent.unwrap_or(0)).await;
        }
        Ok(resp)
    }

    /// The open stream, its model's prices and its budget hold (settled by the priced stream).
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        trace: &SharedTrace,
    ) -> Result<(ChunkStream, Option<Arc<Model>>, Option<Hold>)> {
        let (served, route, hold) = self
            .routed(req, trace, |a| async move {
                let t = &a.target;
                let stream = t
                    .provider
                    .chat_stream(req, &t.model, a.max_output(), Some(&a.idempotency_key))
                    .await?;
                let slot = a.slot;
                // The queue slot is held until the stream is dropped.
                Ok(Box::pin(stream.map(move |chunk| {
                    let _ = &slot;
                    chunk
                })) as ChunkStream)
            })
            .await?;
        let info = route.members[served.member].target.info.clone();
        Ok((served.value, info, hold))
    }

    /// The request path shared by chats and streams: the model's route, estimates for limits
    /// and costs, one idempotency key, then each attempt in a slot of its provider's queue.
    async fn routed<T, F, Fut>(
        &self,
        req: &ChatRequest,
        trace: &SharedTrace,
        send: F,
    ) -> Result<(Served<T>, Arc<Route<Target>>, Option<Hold>)>
    where
        F: Fn(Attempt) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
        T: UsedTokens,
    {
        let route = self.route_for(&req.model)?;
        trace.lock().unwrap_or_else(|p| p.into_inner()).route = Some(route.strategy);
        let (tokens, costs) = self.estimate(req, &route);
        // Held before any network call; released if no provider answers.
        let hold = match &self.spend {
            Some(spend) => Some(
                spend
                    .hold(budget_user(req), budget_estimate(req, &route))
                    .await?,
            ),
            None => None,
        };
        let idempotency_key: Arc<str> = idempotency_key().into();
        let plan = Plan {
            tokens,
            costs: &costs,
            policy: &self.policy,
        };
        let send = &send;
        let served = route
            .execute(&plan, |target, attempt| {
                let idempotency_key = idempotency_key.clone();
                // Debug, as the other stages' spans: at info a call makes its request span
                // only (the records that an attempt causes name its provider and model).
                let span = tracing::debug_span!(
                    target: "trinity_core::route",
                    "gen_ai.attempt",
                    gen_ai.provider.name = target.provider.name(),
                    gen_ai.request.model = target.model.as_str(),
                    trinity.attempt = attempt,
                );
                async move {
                    let timer = AttemptTimer::start(trace, target.provider.name(), &target.model);
                    let slot = self
                        .queue_slot(&target, req)
                        .instrument(
                            tracing::debug_span!(target: "trinity_core::queue", "trinity.queue"),
                        )
                        .await;
                    timer.slot_taken();
                    let result = match slot {
                        Ok(slot) => {
                            let provider = target.provider.name().to_owned();
                            let _in_flight = self.monitor.attempt_started(&provider);
                            let sent = Instant::now();
                            let result = send(Attempt {
                                target,
                                idempotency_key,
                                slot,
                            })
                            .await;
                            let (outcome, tokens) = match &result {
                                Ok(v) => (Outcome::Ok, v.output_tokens()),
                                Err(e) => (Outcome::of_error(e), None),
                            };
                            self.monitor
                                .observe_with(&provider, outcome, sent.elapsed(), tokens);
                            result
                        }
                        Err(e) => Err(e),
                    };
                    timer.end(&result);
                    result
                }
                .instrument(span)
            })
            .instrument(tracing::debug_span!(
                target: "trinity_core::route",
                "trinity.route",
                trinity.route = route.strategy.as_str(),
            ))
            .await?;
        let t = &route.members[served.member].target;
        trace.lock().unwrap_or_else(|p| p.into_inner()).served =
            Some((t.provider.name().to_owned(), t.model.clone()));
        Ok((served, route, hold))
    }

    /// A slot in the provider's queue; the request's `metadata.priority` (an integer) orders it.
    async fn queue_slot(&self, t: &Target, req: &ChatRequest) -> Result<Option<QueuePermit>> {
        let Some(queue) = self.queues.get(t.provider.name()) else {
            return Ok(None);
        };
        let priority = req
            .metadata
            .as_ref()
            .and_then(|m| m.get("priority"))
            .and_then(|p| p.as_i64())
            .unwrap_or(0);
        queue.acquire(priority).await.map(Some)
    }

    /// Tokens for the per-minute limits (about 4 bytes a token, plus the output asked for; the
    /// real usage replaces it afterwards) and each deployment's estimated cost.
    fn estimate(&self, req: &ChatRequest, route: &Route<Target>) -> (u64, Vec<Option<f64>>) {
        let prompt: u64 = req
            .messages
            .iter()
            .map(|m| m.text().len() as u64 / 4 + 4)
            .sum();
        let output = req.max_tokens.map(u64::from).unwrap_or(0);
        let usage = Usage {
            prompt_tokens: prompt,
            completion_tokens: output.max(prompt.min(1024)),
            ..Default::default()
        };
        let costs = route
            .members
            .iter()
            .map(|m| cost::cost(m.target.info.as_deref(), &usage, true).total_usd)
            .collect();
        (prompt + output, costs)
    }
}

/// Whose budget a request spends: `metadata.user`, else the request's `user`.
pub(crate) fn budget_user(req: &ChatRequest) -> Option<&str> {
    req.metadata
        .as_ref()
        .and_then(|m| m.get("user"))
        .and_then(|u| u.as_str())
        .or(req.user.as_deref())
}

/// The most a request may cost on its route: exact prompt tokens, and for the answer its
/// `max_tokens`, else the model's max output; the dearest deployment counts.
fn budget_estimate(req: &ChatRequest, route: &Route<Target>) -> u64 {
    route
        .members
        .iter()
        .filter_map(|m| {
            let info = m.target.info.as_deref()?;
            let mut usage = pricing::counted_usage(req, "", Some(info));
            usage.completion_tokens = req.max_tokens.map_or(info.max_output_tokens, u64::from);
            usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
            cost::cost(Some(info), &usage, true).total_nano_usd
        })
        .max()
        .unwrap_or(0)
}

/// One key for every attempt of a request, sent as `Idempotency-Key`.
fn idempotency_key() -> String {
    use rand::Rng;
    format!("trinity-{:032x}", rand::rng().random::<u128>())
}

impl UsedTokens for ChunkStream {
    fn used_tokens(&self) -> Option<u64> {
        None
    }
}
