//! The config schema shared by every language. Later issues give each section behaviour;
//! here every section is parsed, defaulted and validated.

use super::values::{HttpUrl, NonNegative, PositiveInt, Ratio};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Model aliases users call, each routed over one or more deployments.
    pub models: BTreeMap<String, RouteConfig>,
    pub registry: RegistryConfig,
    pub cache: CacheConfig,
    pub breaker: BreakerConfig,
    pub retry: RetryConfig,
    /// Limits per deployment or API key name.
    pub rate_limits: BTreeMap<String, RateLimitConfig>,
    pub queue: QueueConfig,
    pub budget: BudgetConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    pub monitor: MonitorConfig,
    pub context: ContextConfig,
}

/// Conversations over the model's window: pruned before sending (`auto_prune`) instead of
/// failing with `context_too_large`. A request's own `context` overrides each setting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    pub auto_prune: bool,
    /// `drop_oldest` or `keep_first_last` (`summarize` needs a summariser: call
    /// `prune_context` with one).
    pub strategy: crate::context::Strategy,
    /// Room kept for the answer (default: the request's `max_tokens`, else the model's max
    /// output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_output_tokens: Option<u64>,
    /// A budget below the window for the conversation itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    /// Any OpenAI-compatible server: Mistral, Groq, OpenRouter, Together, Ollama, vLLM, LM Studio, llama.cpp.
    OpenaiCompatible,
    Anthropic,
    Gemini,
    Mock,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: Option<HttpUrl>,
    /// Inline key; prefer `api_key_env`. Never printed.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Environment variable holding the key (default per kind, e.g. `OPENAI_API_KEY`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// OpenAI only: sent as `OpenAI-Organization` (default: `OPENAI_ORG_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OpenAI only: sent as `OpenAI-Project` (default: `OPENAI_PROJECT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default = "d_timeout")]
    pub timeout_ms: PositiveInt,
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout_ms: PositiveInt,
    #[serde(default = "d_first_token_timeout")]
    pub first_token_timeout_ms: PositiveInt,
    /// Idle keep-alive connections kept per host: at least the expected concurrency, or
    /// calls beyond it pay a new TCP (and TLS) handshake each.
    #[serde(default = "d_max_connections")]
    pub max_connections: PositiveInt,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// For `kind: mock`: fixtures inline (name → fixture) or the path of a YAML/JSON file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteStrategy {
    #[default]
    Failover,
    Weighted,
    LeastBusy,
    Latency,
    Cost,
    Race,
    Parallel,
}

impl RouteStrategy {
    /// The config's name for it (`least_busy`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            RouteStrategy::Failover => "failover",
            RouteStrategy::Weighted => "weighted",
            RouteStrategy::LeastBusy => "least_busy",
            RouteStrategy::Latency => "latency",
            RouteStrategy::Cost => "cost",
            RouteStrategy::Race => "race",
            RouteStrategy::Parallel => "parallel",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub strategy: RouteStrategy,
    pub deployments: Vec<Deployment>,
    /// For the `cost` strategy: the most a call may cost, in USD.
    #[serde(default)]
    pub max_cost_usd: Option<NonNegative>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// A key of `providers`.
    pub provider: String,
    /// The model id the provider knows.
    pub model: String,
    #[serde(default = "d_weight")]
    pub weight: NonNegative,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// A file of model definitions (our format) merged over the shipped ones.
    pub overrides: Option<String>,
    /// A LiteLLM `model_prices_and_context_window.json` merged over the shipped ones.
    pub litellm: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Off by default: a client caches only when asked to, so code that counts provider
    /// calls (tests, retries, breakers) keeps its meaning unless it opts in.
    pub enabled: bool,
    pub ttl_s: PositiveInt,
    pub namespace: String,
    /// How requests share entries: content (default), model, user or global.
    pub strategy: crate::cache::Strategy,
    /// Cache answers sampled with temperature > 0 too.
    pub cache_nonzero_temperature: bool,
    pub memory: Option<MemoryTier>,
    pub redis: Option<RedisTier>,
    pub filesystem: Option<FilesystemTier>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryTier {
    pub max_entries: PositiveInt,
    pub max_bytes: PositiveInt,
    /// Drop an entry not read for this long (none: only the TTL applies).
    pub idle_s: Option<PositiveInt>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTier {
    pub url: String,
    #[serde(default)]
    pub ttl_s: Option<PositiveInt>,
    /// Prepended to every key, so several applications can share one database.
    #[serde(default = "d_redis_prefix")]
    pub prefix: String,
    /// Multiplexed connections, used round-robin.
    #[serde(default = "d_redis_pool")]
    pub pool_size: PositiveInt,
    /// Per command; past it the tier counts an error and the call goes on without Redis.
    #[serde(default = "d_redis_timeout")]
    pub timeout_ms: PositiveInt,
}

fn d_redis_prefix() -> String {
    "trinity:cache:".into()
}
fn d_redis_pool() -> PositiveInt {
    PositiveInt(4)
}
fn d_redis_timeout() -> PositiveInt {
    PositiveInt(250)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemTier {
    pub path: String,
    #[serde(default)]
    pub ttl_s: Option<PositiveInt>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowType {
    #[default]
    Count,
    Time,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub enabled: bool,
    pub window_type: WindowType,
    /// Calls (count window) or seconds (time window).
    pub window_size: PositiveInt,
    pub minimum_calls: PositiveInt,
    pub failure_rate_threshold: Ratio,
    pub slow_call_ms: PositiveInt,
    pub slow_call_rate_threshold: Ratio,
    pub open_wait_ms: PositiveInt,
    pub half_open_calls: PositiveInt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    #[default]
    Full,
    Decorrelated,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub max_attempts: PositiveInt,
    pub base_ms: PositiveInt,
    pub cap_ms: PositiveInt,
    pub jitter: Jitter,
    /// A Retry-After longer than this fails fast with `rate_limited`.
    pub max_retry_after_ms: PositiveInt,
    /// The retry quota of each deployment (a token bucket; see `resilience::retry::RetryQuota`).
    pub budget: RetryBudgetConfig,
}

/// The AWS SDKs' standard retry quota: a dead provider gets at most `capacity / retry_cost`
/// retries; retries that succeed are refunded, and each first-attempt success adds one token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudgetConfig {
    pub capacity: PositiveInt,
    pub retry_cost: PositiveInt,
    /// A retry after a timeout costs more (a slow provider is likely overloaded).
    pub timeout_cost: PositiveInt,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            capacity: PositiveInt(500),
            retry_cost: PositiveInt(5),
            timeout_cost: PositiveInt(10),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    #[default]
    Local,
    Redis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default)]
    pub rpm: Option<PositiveInt>,
    #[serde(default)]
    pub tpm: Option<PositiveInt>,
    #[serde(default)]
    pub scope: LimitScope,
    /// For `scope: redis`: the server shared by every process (default: `cache.redis.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub max_concurrency: PositiveInt,
    pub max_length: PositiveInt,
    /// Waiting this long raises a request's priority by one step.
    pub aging_ms: PositiveInt,
}

/// Spend limits in USD (enforced by `cost::budget::Budgets`). Windows are calendar days and
/// months in UTC; per-user limits key on the request's `metadata.user`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    pub daily_usd: Option<NonNegative>,
    pub monthly_usd: Option<NonNegative>,
    pub per_request_usd: Option<NonNegative>,
    pub per_user_daily_usd: Option<NonNegative>,
    /// `local`: this process; `redis`: shared by every process using the Redis server.
    pub scope: LimitScope,
    /// For `scope: redis`: the server shared by every process (default: `cache.redis.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Key prefix (and cluster hash tag) of the shared counters: `{trinity:budget}:d:2026-12-03`.
    pub redis_prefix: String,
    /// Fractions of each limit at which alert callbacks fire, once per window.
    pub alerts: Vec<AlertFraction>,
    /// Append-only spend ledger (JSON lines) read back on start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_path: Option<String>,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            daily_usd: None,
            monthly_usd: None,
            per_request_usd: None,
            per_user_daily_usd: None,
            scope: LimitScope::Local,
            redis_url: None,
            redis_prefix: "trinity:budget".to_string(),
            alerts: vec![AlertFraction(0.5), AlertFraction(0.8), AlertFraction(1.0)],
            ledger_path: None,
        }
    }
}

/// A budget alert threshold: a fraction in (0, 1].
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct AlertFraction(pub f64);

impl<'de> Deserialize<'de> for AlertFraction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)?.as_f64() {
            Some(v) if v > 0.0 && v <= 1.0 => Ok(AlertFraction(v)),
            _ => Err(D::Error::custom(
                "expected a number greater than 0 and at most 1",
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub format: LogFormat,
    /// Scrub keys and tokens from log lines by pattern.
    pub redact: bool,
    /// Each call through a client leaves a request-log record and feeds the client's cost
    /// tracker (off: neither, and answers carry no `debug`).
    pub request_log: bool,
    /// Request log entries kept in memory.
    pub history: PositiveInt,
    /// Keep request and response bodies in the request log (off: never stored).
    pub log_bodies: bool,
    /// Also append each request-log record to a JSON Lines file, rotated by size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<LogSinkConfig>,
}

/// The request log's JSON Lines file: `path` grows to `max_bytes`, then is renamed `path.1`
/// (older ones shift to `path.2` ... `path.<max_files>`, the oldest deleted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSinkConfig {
    pub path: String,
    #[serde(default = "d_sink_max_bytes")]
    pub max_bytes: PositiveInt,
    /// Rotated files kept besides the current one.
    #[serde(default = "d_sink_max_files")]
    pub max_files: PositiveInt,
}

fn d_sink_max_bytes() -> PositiveInt {
    PositiveInt(10 * 1024 * 1024)
}
fn d_sink_max_files() -> PositiveInt {
    PositiveInt(5)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Boundaries of the duration and time-to-first-chunk histograms, in ms (default: the
    /// OpenTelemetry GenAI spec's, 10 ms doubling to 81.92 s).
    pub latency_buckets_ms: Vec<PositiveInt>,
    /// Prefix of the engine's own metric names (`trinity` → `trinity_requests_total`).
    pub prefix: String,
    /// Serve the metrics at `GET /metrics` on this address (`127.0.0.1:9464`) while the client
    /// lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// Provider health (`client.monitor`): windows, the rules of its three states and active checks.
/// Defaults follow Helicone's error-ratio monitor (ratio 0.10 over 60 s in buckets) with a
/// fast window so a provider that goes down is reported within seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    pub enabled: bool,
    /// The window of latency, error rate and `degraded` (kept in 10 buckets).
    pub window_s: PositiveInt,
    /// The window of `down`: this share of failures in it, with `min_requests`.
    pub fast_window_s: PositiveInt,
    /// How often states are evaluated and callbacks fired.
    pub eval_interval_ms: PositiveInt,
    /// Attempts a window needs before its error rate counts.
    pub min_requests: PositiveInt,
    pub degraded_error_rate: Ratio,
    pub down_error_rate: Ratio,
    /// Failed attempts in a row (or failed health checks) that mean `down` whatever the rate.
    pub down_after_failures: PositiveInt,
    /// p95 latency over the window above which a provider is `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded_latency_ms: Option<PositiveInt>,
    /// How long a better state must hold before the provider moves up to it (hysteresis).
    pub recover_s: PositiveInt,
    /// History kept for `getHistoricalLatency` / `getHistoricalErrorRate`, in buckets.
    pub history_hours: PositiveInt,
    pub history_bucket_s: PositiveInt,
    /// Active checks per provider name: `GET base_url + path` every `interval_ms`.
    pub health_checks: BTreeMap<String, HealthCheckConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub interval_ms: PositiveInt,
    /// Relative to the provider's base URL (`/models` answers on OpenAI-compatible servers).
    pub path: String,
    pub timeout_ms: PositiveInt,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            enabled: true,
            window_s: PositiveInt(60),
            fast_window_s: PositiveInt(5),
            eval_interval_ms: PositiveInt(1000),
            min_requests: PositiveInt(5),
            degraded_error_rate: Ratio(0.10),
            down_error_rate: Ratio(0.5),
            down_after_failures: PositiveInt(5),
            degraded_latency_ms: None,
            recover_s: PositiveInt(10),
            history_hours: PositiveInt(24),
            history_bucket_s: PositiveInt(300),
            health_checks: BTreeMap::new(),
        }
    }
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            interval_ms: PositiveInt(5000),
            path: "/models".into(),
            timeout_ms: PositiveInt(5000),
        }
    }
}

fn d_timeout() -> PositiveInt {
    PositiveInt(60_000)
}
fn d_connect_timeout() -> PositiveInt {
    PositiveInt(10_000)
}
fn d_first_token_timeout() -> PositiveInt {
    PositiveInt(30_000)
}
fn d_max_connections() -> PositiveInt {
    PositiveInt(1024)
}
fn d_weight() -> NonNegative {
    NonNegative(1.0)
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            ttl_s: PositiveInt(3600),
            namespace: "trinity".into(),
            strategy: crate::cache::Strategy::Content,
            cache_nonzero_temperature: false,
            memory: Some(MemoryTier::default()),
            redis: None,
            filesystem: None,
        }
    }
}

impl Default for MemoryTier {
    fn default() -> Self {
        MemoryTier {
            max_entries: PositiveInt(10_000),
            max_bytes: PositiveInt(256 << 20),
            idle_s: None,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            window_type: WindowType::Count,
            // A wide window and a high threshold: LLM APIs fail a few calls in four under load
            // (429s, 5xxs), and a window of 20 at 50% opened on a provider failing 25% of calls
            // in 7 runs of 10 (issue 10). Twenty failed calls in a row still open it.
            window_size: PositiveInt(100),
            minimum_calls: PositiveInt(20),
            failure_rate_threshold: Ratio(0.65),
            slow_call_ms: PositiveInt(30_000),
            slow_call_rate_threshold: Ratio(1.0),
            open_wait_ms: PositiveInt(30_000),
            half_open_calls: PositiveInt(3),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: PositiveInt(3),
            base_ms: PositiveInt(500),
            cap_ms: PositiveInt(30_000),
            jitter: Jitter::Full,
            max_retry_after_ms: PositiveInt(60_000),
            budget: RetryBudgetConfig::default(),
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_concurrency: PositiveInt(64),
            max_length: PositiveInt(10_000),
            aging_ms: PositiveInt(5_000),
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: LogLevel::Info,
            format: LogFormat::Text,
            redact: true,
            request_log: true,
            history: PositiveInt(1000),
            log_bodies: false,
            sink: None,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            latency_buckets_ms: [
                10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 20480, 40960, 81920,
            ]
            .into_iter()
            .map(PositiveInt)
            .collect(),
            prefix: "trinity".into(),
            listen: None,
        }
    }
}
