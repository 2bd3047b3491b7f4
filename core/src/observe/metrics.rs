//! The client's metrics, derived from each call's request-log record (one observation point,
//! so metrics and the log never disagree), exposed as OpenMetrics text.
//!
//! OpenTelemetry GenAI metrics, Prometheus-style (`.` → `_`, unit suffix):
//! `gen_ai_client_operation_duration_seconds` (histogram; `metrics.latency_buckets_ms`,
//! default the spec's boundaries 0.01 … 81.92 s), `gen_ai_client_token_usage` (histogram by
//! `gen_ai_token_type`, the spec's boundaries 1 … 4⁽¹³⁾), and
//! `gen_ai_client_operation_time_to_first_chunk_seconds` and
//! `gen_ai_client_operation_time_per_output_chunk_seconds` for streams (one observation per
//! stream, its mean gap: the record is the one observation point). Ours, under
//! `metrics.prefix` (default `trinity`): requests by status and error code, retries (another
//! attempt at the same deployment), fallbacks (an attempt at another deployment), cache hits
//! by tier, single-flight joins, tokens by type, cost in USD, unpriced calls, time queued,
//! stage durations (queue, each attempt, the engine's own work, a cache hit); and read when
//! rendered: breaker state and transitions per deployment, limiter refusals and waits, each
//! provider's queue (in flight, waiting, submitted, completed: seed 002's names), cache misses
//! and errors by tier, each provider's state in the monitor, and what the budget's day and
//! month have left.
//!
//! Label values are bounded: providers and models beyond [`MAX_LABEL_VALUES`] distinct ones
//! become `other` (counted in `…_metrics_overflow_total`). Each is scrubbed and kept once,
//! when first seen, and hashed once; the engine's own values (statuses, error codes, cache
//! tiers, token types) are fixed. A call's observation then allocates nothing and hashes
//! only a few words per family (issue 14: ~0.3 µs for an answered call, see
//! `benches/metrics.rs`; `tests/metrics_alloc.rs` counts the allocations).

use super::monitor::ProviderState;
use super::RequestRecord;
use crate::cache::CacheStats;
use crate::config::MetricsConfig;
use crate::cost::budget::BudgetSnapshot;
use crate::error::ErrorKind;
use crate::resilience::BreakerState;
use crate::resilience::QueueSnapshot;
use crate::router::HealthSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock, Mutex};

/// Distinct values a provider or model label takes before the rest become `other`.
pub const MAX_LABEL_VALUES: usize = 200;

/// The spec's token-usage boundaries: 1, 4, 16, … 4¹³.
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Makes each labelled histogram with the same boundaries.
#[derive(Clone, Debug)]
struct Buckets(Vec<f64>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A label value of the client's metrics: its text, fixed or shared (a clone copies a pointer
/// or counts an `Arc`: never an allocation), and the hash of its text, taken once when the
/// value is made. Public for `benches/metrics.rs`.
#[derive(Clone, Debug)]
pub struct LabelValue {
    hash: u64,
    text: Text,
}

#[derive(Clone, Debug)]
enum Text {
    Static(&'static str),
    Shared(Arc<str>),
}

/// Hashes label text with one random key per process, so that callers choosing model names
/// cannot choose collisions.
fn text_hash(text: &str) -> u64 {
    static STATE: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    STATE.hash_one(text)
}

impl LabelValue {
    pub fn from_static(text: &'static str) -> LabelValue {
        LabelValue {
            hash: text_hash(text),
            text: Text::Static(text),
        }
    }

    pub fn shared(text: Arc<str>) -> LabelValue {
        LabelValue {
            hash: text_hash(&text),
            text: Text::Shared(text),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.text {
            Text::Static(s) => s,
            Text::Shared(s) => s,
        }
    }
}

impl PartialEq for LabelValue {
    /// Equal text; the same text (one `Arc`, one literal) is the usual case and needs no
    /// comparison of bytes.
    fn eq(&self, other: &LabelValue) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        self.hash == other.hash && (std::ptr::eq(a, b) || a == b)
    }
}

impl Eq for LabelValue {}

impl Hash for LabelValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// One series' label set, the key of the client's metric families: the family's label names
/// and the series' values, hashed (once, from the values' hashes) and compared by the values
/// alone, as every series of a family has the same names. Public for `benches/metrics.rs`.
#[derive(Clone, Debug)]
pub struct LabelSet<const N: usize> {
    hash: u64,
    names: &'static [&'static str; N],
    values: [LabelValue; N],
}

impl<const N: usize> LabelSet<N> {
    pub fn new(names: &'static [&'static str; N], values: [LabelValue; N]) -> LabelSet<N> {
        let hash = values.iter().fold(0, |h: u64, v| {
            (h.rotate_left(26) ^ v.hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        LabelSet {
            hash,
            names,
            values,
        }
    }
}

impl<const N: usize> PartialEq for LabelSet<N> {
    fn eq(&self, other: &LabelSet<N>) -> bool {
        self.hash == other.hash && self.values == other.values
    }
}

impl<const N: usize> Eq for LabelSet<N> {}

impl<const N: usize> Hash for LabelSet<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<const N: usize> EncodeLabelSet for LabelSet<N> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> std::fmt::Result {
        for (name, value) in self.names.iter().zip(&self.values) {
            EncodeLabel::encode(&(*name, value.as_str()), encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A label set for one lookup, made from borrowed values without counting references to
/// their text (two atomic operations per shared value saved: a third of what `observe` cost).
/// Dereferences to a [`LabelSet`], which a family clones (counting references as usual) when
/// the lookup creates the series. Public for `benches/metrics.rs`.
pub struct LookupKey<'a, const N: usize> {
    set: ManuallyDrop<LabelSet<N>>,
    borrows: PhantomData<&'a LabelValue>,
}

impl<'a, const N: usize> LookupKey<'a, N> {
    pub fn new(names: &'static [&'static str; N], values: [&'a LabelValue; N]) -> LookupKey<'a, N> {
        // SAFETY: bitwise copies of values that stay borrowed, so alive with the counts they
        // hold, as long as the key; the copies are never dropped (nothing from here to
        // `ManuallyDrop::new` can panic, and `set` is reachable only through `&`), so no count
        // is given back that was not taken.
        let values = values.map(|v| unsafe { std::ptr::read(v) });
        LookupKey {
            set: ManuallyDrop::new(LabelSet::new(names, values)),
            borrows: PhantomData,
        }
    }
}

impl<const N: usize> Deref for LookupKey<'_, N> {
    type Target = LabelSet<N>;

    fn deref(&self) -> &LabelSet<N> {
        &self.set
    }
}

/// The label values the engine itself uses (statuses, cache tiers, token types, ...), then
/// every error code: made and hashed once per process. `fixed(CHAT)` is `chat`'s.
const FIXED: [&str; 18] = [
    "",
    "other",
    "chat",
    "success",
    "error",
    "pending",
    "memory",
    "redis",
    "fs",
    "input",
    "output",
    "cached",
    "cache_write",
    "reasoning",
    "queue",
    "attempt",
    "engine",
    "cache",
];
const OTHER: usize = 1;
const CHAT: usize = 2;
const INPUT: usize = 9;
const OUTPUT: usize = 10;
const CACHED: usize = 11;
const CACHE_WRITE: usize = 12;
const REASONING: usize = 13;
const STAGE_QUEUE: usize = 14;
const STAGE_ATTEMPT: usize = 15;
const STAGE_ENGINE: usize = 16;
const STAGE_CACHE: usize = 17;
/// The GenAI spec's boundaries for `time_per_output_chunk`, seconds.
const PER_CHUNK_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// Stage durations, seconds: from the engine's own microseconds to a long provider call.
const STAGE_BUCKETS: [f64; 15] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

static FIXED_VALUES: LazyLock<Vec<LabelValue>> = LazyLock::new(|| {
    FIXED
        .into_iter()
        .chain(ErrorKind::ALL.iter().map(|k| k.code()))
        .map(LabelValue::from_static)
        .collect()
});

fn fixed(i: usize) -> &'static LabelValue {
    &FIXED_VALUES[i]
}

/// `v`'s value from [`FIXED_VALUES`], when it is one of them.
fn known(v: &str) -> Option<LabelValue> {
    let i = match v {
        "" => 0,
        "other" => OTHER,
        "chat" => CHAT,
        "success" => 3,
        "error" => 4,
        "pending" => 5,
        "memory" => 6,
        "redis" => 7,
        "fs" => 8,
        "input" => INPUT,
        "output" => OUTPUT,
        "cached" => CACHED,
        "cache_write" => CACHE_WRITE,
        "reasoning" => REASONING,
        "queue" => STAGE_QUEUE,
        "attempt" => STAGE_ATTEMPT,
        "engine" => STAGE_ENGINE,
        "cache" => STAGE_CACHE,
        _ => {
            let kind = ErrorKind::from_code(v)?;
            FIXED.len() + ErrorKind::ALL.iter().position(|k| *k == kind)?
        }
    };
    Some(fixed(i).clone())
}

// The label names of each family.
static REQUESTS: [&str; 4] = ["provider", "model", "status", "error_code"];
static DURATION: [&str; 5] = [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "error_type",
];
static FIRST_CHUNK: [&str; 3] = [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
];
static TOKEN_USAGE: [&str; 4] = [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_response_model",
    "gen_ai_token_type",
];
static PROVIDER_MODEL: [&str; 2] = ["provider", "model"];
static TOKENS: [&str; 3] = ["provider", "model", "type"];
static TIER: [&str; 1] = ["tier"];
static STAGE: [&str; 1] = ["stage"];
static DEPLOYMENT: [&str; 1] = ["deployment"];
static TRANSITION: [&str; 2] = ["deployment", "to"];
static PROVIDER: [&str; 1] = ["provider"];
static LIMIT: [&str; 1] = ["limit"];

type Histograms<const N: usize> = Family<LabelSet<N>, Histogram, Buckets>;
type Counters<const N: usize> = Family<LabelSet<N>, Counter>;

/// Label values seen so far for one label, each scrubbed once when first seen (a caller may
/// put anything in a model name) and shared by every later call; past the cap, new ones are
/// `other`.
#[derive(Default)]
struct Bounded(HashMap<Box<str>, LabelValue>);

impl Bounded {
    fn value(&mut self, v: &str, overflow: &Counter) -> LabelValue {
        if let Some(label) = self.0.get(v) {
            return label.clone();
        }
        if self.0.len() < MAX_LABEL_VALUES {
            let label = LabelValue::shared(super::scrub(v).into());
            self.0.insert(v.into(), label.clone());
            return label;
        }
        overflow.inc();
        fixed(OTHER).clone()
    }

    /// A status, error-code or cache-tier value: the engine's own are fixed, others kept here.
    fn code(&mut self, v: &str, overflow: &Counter) -> LabelValue {
        known(v).unwrap_or_else(|| self.value(v, overflow))
    }
}

/// The label values seen so far, behind one lock.
#[derive(Default)]
struct Seen {
    providers: Bounded,
    models: Bounded,
    /// Status, error-code and cache-tier values other than the engine's own.
    codes: Bounded,
}

/// A client's metrics.
pub struct ClientMetrics {
    registry: Registry,
    duration: Histograms<5>,
    tokens: Histograms<4>,
    first_chunk: Histograms<3>,
    per_chunk: Histograms<3>,
    requests: Counters<4>,
    retries: Counters<2>,
    fallbacks: Counters<2>,
    cache_hits: Counters<1>,
    joins: Counter,
    token_totals: Counters<3>,
    cost: Family<LabelSet<2>, Counter<f64, AtomicU64>>,
    unpriced: Counters<2>,
    queued: Histogram,
    stages: Histograms<1>,
    breaker: Family<LabelSet<1>, Gauge>,
    transitions: Counters<2>,
    provider_state: Family<LabelSet<1>, Gauge>,
    budget_remaining: Family<LabelSet<1>, Gauge<f64, AtomicU64>>,
    limited: Counters<1>,
    limit_waits: Counters<1>,
    limit_wait: Family<LabelSet<1>, Counter<f64, AtomicU64>>,
    queue_in_flight: Family<LabelSet<1>, Gauge>,
    queue_waiting: Family<LabelSet<1>, Gauge>,
    queue_submitted: Counters<1>,
    queue_completed: Counters<1>,
    cache_misses: Counters<1>,
    cache_errors: Counters<1>,
    overflow: Counter,
    seen: Mutex<Seen>,
}

impl ClientMetrics {
    pub fn new(config: &MetricsConfig) -> ClientMetrics {
        let mut registry = Registry::default();
        let seconds = Buckets(
            config
                .latency_buckets_ms
                .iter()
                .map(|b| b.0 as f64 / 1000.0)
                .collect(),
        );
        let duration = Family::new_with_constructor(seconds.clone());
        let tokens = Family::new_with_constructor(Buckets(TOKEN_BUCKETS.to_vec()));
        let first_chunk = Family::new_with_constructor(seconds);
        let per_chunk = Family::new_with_constructor(Buckets(PER_CHUNK_BUCKETS.to_vec()));
        registry.register_with_unit(
            "gen_ai_client_operation_duration",
            "GenAI operation duration",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "gen_ai_client_token_usage",
            "Number of input and output tokens used",
            tokens.clone(),
        );
        registry.register_with_unit(
            "gen_ai_client_operation_time_to_first_chunk",
            "Time to receive the first chunk of a streamed answer",
            Unit::Seconds,
            first_chunk.clone(),
        );
        registry.register_with_unit(
            "gen_ai_client_operation_time_per_output_chunk",
            "Time per output chunk after the first, a stream's mean",
            Unit::Seconds,
            per_chunk.clone(),
        );
        let m = ClientMetrics {
            duration,
            tokens,
            first_chunk,
            per_chunk,
            requests: Family::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            cache_hits: Family::default(),
            joins: Counter::default(),
            token_totals: Family::default(),
            cost: Family::default(),
            unpriced: Family::default(),
            queued: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]),
            stages: Family::new_with_constructor(Buckets(STAGE_BUCKETS.to_vec())),
            breaker: Family::default(),
            transitions: Family::default(),
            provider_state: Family::default(),
            budget_remaining: Family::default(),
            limited: Family::default(),
            limit_waits: Family::default(),
            limit_wait: Family::default(),
            queue_in_flight: Family::default(),
            queue_waiting: Family::default(),
            queue_submitted: Family::default(),
            queue_completed: Family::default(),
            cache_misses: Family::default(),
            cache_errors: Family::default(),
            overflow: Counter::default(),
            seen: Mutex::default(),
            registry: Registry::default(),
        };
        let ours = registry.sub_registry_with_prefix(&config.prefix);
        ours.register(
            "requests",
            "Calls through the client by status and error code",
            m.requests.clone(),
        );
        ours.register(
            "retries",
            "Attempts repeated at the same deployment",
            m.retries.clone(),
        );
        ours.register(
            "fallbacks",
            "Attempts moved to another deployment",
            m.fallbacks.clone(),
        );
        ours.register(
            "cache_hits",
            "Answers from the response cache by tier",
            m.cache_hits.clone(),
        );
        ours.register(
            "single_flight_joins",
            "Calls answered by an identical call in flight",
            m.joins.clone(),
        );
        ours.register("tokens", "Tokens by type", m.token_totals.clone());
        ours.register_with_unit(
            "cost",
            "What the calls cost",
            Unit::Other("usd".into()),
            m.cost.clone(),
        );
        ours.register(
            "unpriced_requests",
            "Calls that could not be priced",
            m.unpriced.clone(),
        );
        ours.register_with_unit(
            "queue_wait",
            "Time calls waited in the provider queue",
            Unit::Seconds,
            m.queued.clone(),
        );
        ours.register_with_unit(
            "stage_duration",
            "Time in each stage of a call: queue, attempt (each provider call), engine (the engine's own work), cache (a cache hit, whole)",
            Unit::Seconds,
            m.stages.clone(),
        );
        ours.register(
            "breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
            m.breaker.clone(),
        );
        ours.register(
            "breaker_transitions",
            "Circuit breaker transitions by deployment and the state entered",
            m.transitions.clone(),
        );
        ours.register(
            "provider_state",
            "Provider health from the monitor: 0 unknown, 1 healthy, 2 degraded, 3 down",
            m.provider_state.clone(),
        );
        ours.register_with_unit(
            "budget_remaining",
            "What the budget's day and month have left (limit minus spend and holds)",
            Unit::Other("usd".into()),
            m.budget_remaining.clone(),
        );
        ours.register(
            "limiter_rejections",
            "Attempts refused by this client's own rate limits, by deployment",
            m.limited.clone(),
        );
        ours.register(
            "limiter_waits",
            "Calls that waited because every deployment was at its own rate limit",
            m.limit_waits.clone(),
        );
        ours.register_with_unit(
            "limiter_wait",
            "Time calls spent waiting for a rate limit of this client",
            Unit::Seconds,
            m.limit_wait.clone(),
        );
        ours.register(
            "queue_inflight",
            "Requests holding a slot of the provider's queue",
            m.queue_in_flight.clone(),
        );
        ours.register(
            "queue_waiting",
            "Requests waiting for a slot of the provider's queue",
            m.queue_waiting.clone(),
        );
        ours.register(
            "queue_submitted",
            "Requests that entered the provider's queue",
            m.queue_submitted.clone(),
        );
        ours.register(
            "queue_completed",
            "Requests that left the provider's queue after their call",
            m.queue_completed.clone(),
        );
        ours.register(
            "cache_misses",
            "Response cache lookups a tier could not answer",
            m.cache_misses.clone(),
        );
        ours.register(
            "cache_errors",
            "Response cache tier failures (the call goes on without that tier)",
            m.cache_errors.clone(),
        );
        ours.register(
            "metrics_overflow",
            "Label values folded into `other` past the cap",
            m.overflow.clone(),
        );
        ClientMetrics { registry, ..m }
    }

    /// Counts one finished call. Once its label values have been seen, this allocates
    /// nothing: each value is looked up once (fixed text, or text kept when first seen) and
    /// each family lookup borrows them ([`LookupKey`]).
    pub fn observe(&self, r: &RequestRecord) {
        let overflow = &self.overflow;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let provider = seen.providers.value(
            r.provider
                .as_deref()
                .or(r.provider_requested.as_deref())
                .unwrap_or("none"),
            overflow,
        );
        let requested = seen.models.value(&r.model_requested, overflow);
        let model = match &r.model {
            Some(m) => seen.models.value(m, overflow),
            None => requested.clone(),
        };
        let status = seen.codes.code(&r.status, overflow);
        let error = seen
            .codes
            .code(r.error_code.as_deref().unwrap_or(""), overflow);
        let tier = match r.cache_tier.as_deref() {
            Some(tier) if r.cache_hit && tier != "in_flight" => {
                Some(seen.codes.code(tier, overflow))
            }
            _ => None,
        };
        drop(seen);
        let chat = fixed(CHAT);
        let (provider, requested, model) = (&provider, &requested, &model);
        self.requests
            .get_or_create(&LookupKey::new(
                &REQUESTS,
                [provider, model, &status, &error],
            ))
            .inc();
        self.duration
            .get_or_create(&LookupKey::new(
                &DURATION,
                [chat, provider, requested, model, &error],
            ))
            .observe(r.latency_ms / 1000.0);
        if let Some(ttft) = r.time_to_first_token_ms {
            self.first_chunk
                .get_or_create(&LookupKey::new(&FIRST_CHUNK, [chat, provider, requested]))
                .observe(ttft / 1000.0);
        }
        if let Some(gap) = r.time_per_output_chunk_ms {
            self.per_chunk
                .get_or_create(&LookupKey::new(&FIRST_CHUNK, [chat, provider, requested]))
                .observe(gap / 1000.0);
        }
        let pm = LookupKey::new(&PROVIDER_MODEL, [provider, model]);
        for pair in r.attempt_log.windows(2) {
            let same = pair[0].provider == pair[1].provider && pair[0].model == pair[1].model;
            match same {
                true => self.retries.get_or_create(&pm).inc(),
                false => self.fallbacks.get_or_create(&pm).inc(),
            };
        }
        let stage = |i: usize, ms: f64| {
            self.stages
                .get_or_create(&LookupKey::new(&STAGE, [fixed(i)]))
                .observe(ms / 1000.0);
        };
        for a in &r.attempt_log {
            stage(STAGE_ATTEMPT, a.latency_ms);
        }
        if let Some(ms) = r.overhead_ms {
            stage(STAGE_ENGINE, ms);
        }
        if r.cache_hit {
            stage(STAGE_CACHE, r.latency_ms);
        } else if !r.attempt_log.is_empty() {
            stage(STAGE_QUEUE, r.queued_ms);
        }
        if r.cache_tier.as_deref() == Some("in_flight") {
            self.joins.inc();
        } else if let Some(tier) = &tier {
            self.cache_hits
                .get_or_create(&LookupKey::new(&TIER, [tier]))
                .inc();
        }
        if r.cache_hit {
            return; // no provider call: no tokens used, nothing spent
        }
        for (kind, n) in [
            (INPUT, r.input_tokens),
            (OUTPUT, r.output_tokens),
            (CACHED, r.cached_tokens),
            (CACHE_WRITE, r.cache_write_tokens),
            (REASONING, r.reasoning_tokens),
        ] {
            if n == 0 {
                continue;
            }
            self.token_totals
                .get_or_create(&LookupKey::new(&TOKENS, [provider, model, fixed(kind)]))
                .inc_by(n);
            if kind == INPUT || kind == OUTPUT {
                self.tokens
                    .get_or_create(&LookupKey::new(
                        &TOKEN_USAGE,
                        [chat, provider, model, fixed(kind)],
                    ))
                    .observe(n as f64);
            }
        }
        match (
            r.cost_usd,
            r.unpriced_reason.is_some() || r.cost_usd.is_none(),
        ) {
            (Some(usd), false) => {
                self.cost.get_or_create(&pm).inc_by(usd);
            }
            _ if r.status == "success" => {
                self.unpriced.get_or_create(&pm).inc();
            }
            _ => {}
        }
        self.queued.observe(r.queued_ms / 1000.0);
    }

    /// OpenMetrics text (ends with `# EOF`), with the breakers, provider states and budget
    /// read from `now`.
    pub fn render(&self, now: &Now<'_>) -> String {
        for h in now.deployments {
            let name = LabelValue::shared(super::scrub(&h.name).into());
            if let Some(state) = h.state {
                let v = match state {
                    BreakerState::Closed | BreakerState::Disabled => 0,
                    BreakerState::HalfOpen => 1,
                    _ => 2,
                };
                self.breaker
                    .get_or_create(&LabelSet::new(&DEPLOYMENT, [name.clone()]))
                    .set(v);
            }
            for &(to, n) in &h.transitions {
                let to = LabelValue::shared(to.as_str().into());
                catch_up(
                    &self
                        .transitions
                        .get_or_create(&LabelSet::new(&TRANSITION, [name.clone(), to])),
                    n,
                );
            }
            if h.limited > 0 || h.limit_waits > 0 {
                let key = LabelSet::new(&DEPLOYMENT, [name.clone()]);
                catch_up(&self.limited.get_or_create(&key), h.limited);
                catch_up(&self.limit_waits.get_or_create(&key), h.limit_waits);
                let waited = self.limit_wait.get_or_create(&key);
                waited.inc_by((h.limit_wait_s - waited.get()).max(0.0));
            }
        }
        for (provider, q) in now.queues {
            let key = LabelSet::new(
                &PROVIDER,
                [LabelValue::shared(super::scrub(provider).into())],
            );
            self.queue_in_flight
                .get_or_create(&key)
                .set(q.in_flight as i64);
            self.queue_waiting.get_or_create(&key).set(q.length as i64);
            let left = q.completed + q.cancelled + q.rejected;
            let submitted = left + q.in_flight as u64 + q.length as u64;
            catch_up(&self.queue_submitted.get_or_create(&key), submitted);
            catch_up(&self.queue_completed.get_or_create(&key), q.completed);
        }
        for t in now.cache.iter().flat_map(|c| &c.tiers) {
            let key = LabelSet::new(&TIER, [LabelValue::shared(t.tier.into())]);
            catch_up(&self.cache_misses.get_or_create(&key), t.misses);
            catch_up(&self.cache_errors.get_or_create(&key), t.errors);
        }
        for (provider, state) in now.providers {
            let v = match state {
                ProviderState::Unknown => 0,
                ProviderState::Healthy => 1,
                ProviderState::Degraded => 2,
                ProviderState::Down => 3,
            };
            let name = LabelValue::shared(super::scrub(provider).into());
            self.provider_state
                .get_or_create(&LabelSet::new(&PROVIDER, [name]))
                .set(v);
        }
        for w in now.budget.iter().flat_map(|b| &b.windows) {
            if let (Some(left), None) = (w.remaining_usd, &w.user) {
                let limit = LabelValue::shared(w.limit.field().into());
                self.budget_remaining
                    .get_or_create(&LabelSet::new(&LIMIT, [limit]))
                    .set(left);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// A counter brought up to `total`, counted elsewhere (a breaker, a queue, a cache tier).
fn catch_up(c: &Counter, total: u64) {
    c.inc_by(total.saturating_sub(c.get()));
}

/// What a render reads as it is now, rather than counting it as calls end.
#[derive(Default)]
pub struct Now<'a> {
    /// Each deployment's breaker state and transitions.
    pub deployments: &'a [HealthSnapshot],
    /// Each provider's state in the monitor.
    pub providers: &'a [(String, ProviderState)],
    /// The budget's day and month (per-user windows are left out: one series per user).
    pub budget: Option<&'a BudgetSnapshot>,
    /// Each provider's request queue.
    pub queues: &'a [(String, QueueSnapshot)],
    /// The response cache's tiers.
    pub cache: Option<&'a CacheStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fixed_value_is_found_by_its_text() {
        for text in FIXED
            .into_iter()
            .chain(ErrorKind::ALL.iter().map(|k| k.code()))
        {
            assert_eq!(
                known(text).map(|v| v.as_str().to_owned()),
                Some(text.into())
            );
        }
        assert!(known("gpt-4o").is_none());
    }

    #[test]
    fn values_are_equal_and_hash_alike_by_text_alone() {
        let a = LabelValue::shared("other".into());
        let b = fixed(OTHER).clone();
        assert_eq!(a, b);
        assert_eq!(
            LabelSet::new(&PROVIDER_MODEL, [a.clone(), fixed(CHAT).clone()]),
            LabelSet::new(&PROVIDER_MODEL, [b, LabelValue::shared("chat".into())])
        );
        assert_ne!(
            LabelSet::new(&PROVIDER_MODEL, [a.clone(), fixed(CHAT).clone()]),
            LabelSet::new(&PROVIDER_MODEL, [fixed(CHAT).clone(), a])
        );
    }

    #[test]
    fn a_lookup_key_leaves_reference_counts_as_they_were() {
        let text: Arc<str> = "openai".into();
        let value = LabelValue::shared(text.clone());
        let family: Family<LabelSet<2>, Counter> = Family::default();
        for _ in 0..3 {
            family
                .get_or_create(&LookupKey::new(&PROVIDER_MODEL, [&value, fixed(CHAT)]))
                .inc();
        }
        // `text`, `value`, and the family's own copy of the label set.
        assert_eq!(Arc::strong_count(&text), 3);
        drop(family);
        assert_eq!(Arc::strong_count(&text), 2);
    }
}
