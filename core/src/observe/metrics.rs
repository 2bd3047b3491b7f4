//! The client's metrics, derived from each call's request-log record (one observation point,
//! so metrics and the log never disagree), exposed as OpenMetrics text.
//!
//! OpenTelemetry GenAI metrics, Prometheus-style (`.` → `_`, unit suffix):
//! `gen_ai_client_operation_duration_seconds` (histogram; `metrics.latency_buckets_ms`,
//! default the spec's boundaries 0.01 … 81.92 s), `gen_ai_client_token_usage` (histogram by
//! `gen_ai_token_type`, the spec's boundaries 1 … 4⁽¹³⁾), and
//! `gen_ai_client_operation_time_to_first_chunk_seconds` for streams. Ours, under
//! `metrics.prefix` (default `trinity`): requests by status and error code, retries (another
//! attempt at the same deployment), fallbacks (an attempt at another deployment), cache hits
//! by tier, single-flight joins, tokens by type, cost in USD, unpriced calls, time queued,
//! breaker state per deployment (read when rendered).
//!
//! Label values are bounded: providers and models beyond [`MAX_LABEL_VALUES`] distinct ones
//! become `other` (counted in `…_metrics_overflow_total`).

use super::RequestRecord;
use crate::config::MetricsConfig;
use crate::resilience::BreakerState;
use crate::router::HealthSnapshot;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

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

type Labels<const N: usize> = [(&'static str, String); N];
type Histograms<const N: usize> = Family<Labels<N>, Histogram, Buckets>;
type Counters<const N: usize> = Family<Labels<N>, Counter>;

/// Label values seen so far for one label, each scrubbed once when first seen (a caller may
/// put anything in a model name); past the cap, new ones are `other`.
#[derive(Default)]
struct Bounded(Mutex<HashMap<String, String>>);

impl Bounded {
    fn value(&self, v: &str, overflow: &Counter) -> String {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = seen.get(v) {
            return label.clone();
        }
        if seen.len() < MAX_LABEL_VALUES {
            let label = super::scrub(v).into_owned();
            seen.insert(v.to_owned(), label.clone());
            return label;
        }
        overflow.inc();
        "other".to_owned()
    }
}

/// A client's metrics.
pub struct ClientMetrics {
    registry: Registry,
    duration: Histograms<5>,
    tokens: Histograms<4>,
    first_chunk: Histograms<3>,
    requests: Counters<4>,
    retries: Counters<2>,
    fallbacks: Counters<2>,
    cache_hits: Counters<1>,
    joins: Counter,
    token_totals: Counters<3>,
    cost: Family<Labels<2>, Counter<f64, AtomicU64>>,
    unpriced: Counters<2>,
    queued: Histogram,
    breaker: Family<Labels<1>, Gauge>,
    overflow: Counter,
    providers: Bounded,
    models: Bounded,
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
        let m = ClientMetrics {
            duration,
            tokens,
            first_chunk,
            requests: Family::default(),
            retries: Family::default(),
            fallbacks: Family::default(),
            cache_hits: Family::default(),
            joins: Counter::default(),
            token_totals: Family::default(),
            cost: Family::default(),
            unpriced: Family::default(),
            queued: Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0]),
            breaker: Family::default(),
            overflow: Counter::default(),
            providers: Bounded::default(),
            models: Bounded::default(),
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
        ours.register(
            "breaker_state",
            "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
            m.breaker.clone(),
        );
        ours.register(
            "metrics_overflow",
            "Label values folded into `other` past the cap",
            m.overflow.clone(),
        );
        ClientMetrics { registry, ..m }
    }

    /// Counts one finished call.
    pub fn observe(&self, r: &RequestRecord) {
        let provider = self.providers.value(
            r.provider
                .as_deref()
                .or(r.provider_requested.as_deref())
                .unwrap_or("none"),
            &self.overflow,
        );
        let requested = self.models.value(&r.model_requested, &self.overflow);
        let model = match &r.model {
            Some(m) => self.models.value(m, &self.overflow),
            None => requested.clone(),
        };
        let error = r.error_code.clone().unwrap_or_default();
        self.requests
            .get_or_create(&[
                ("provider", provider.clone()),
                ("model", model.clone()),
                ("status", r.status.clone()),
                ("error_code", error.clone()),
            ])
            .inc();
        self.duration
            .get_or_create(&[
                ("gen_ai_operation_name", "chat".into()),
                ("gen_ai_provider_name", provider.clone()),
                ("gen_ai_request_model", requested.clone()),
                ("gen_ai_response_model", model.clone()),
                ("error_type", error),
            ])
            .observe(r.latency_ms / 1000.0);
        if let Some(ttft) = r.time_to_first_token_ms {
            self.first_chunk
                .get_or_create(&[
                    ("gen_ai_operation_name", "chat".into()),
                    ("gen_ai_provider_name", provider.clone()),
                    ("gen_ai_request_model", requested.clone()),
                ])
                .observe(ttft / 1000.0);
        }
        let pm = [("provider", provider.clone()), ("model", model.clone())];
        for pair in r.attempt_log.windows(2) {
            let same = pair[0].provider == pair[1].provider && pair[0].model == pair[1].model;
            match same {
                true => self.retries.get_or_create(&pm).inc(),
                false => self.fallbacks.get_or_create(&pm).inc(),
            };
        }
        match r.cache_tier.as_deref() {
            Some("in_flight") => {
                self.joins.inc();
            }
            Some(tier) if r.cache_hit => {
                self.cache_hits
                    .get_or_create(&[("tier", tier.into())])
                    .inc();
            }
            _ => {}
        }
        if r.cache_hit {
            return; // no provider call: no tokens used, nothing spent
        }
        for (kind, n) in [
            ("input", r.input_tokens),
            ("output", r.output_tokens),
            ("cached", r.cached_tokens),
            ("cache_write", r.cache_write_tokens),
            ("reasoning", r.reasoning_tokens),
        ] {
            if n == 0 {
                continue;
            }
            self.token_totals
                .get_or_create(&[
                    ("provider", provider.clone()),
                    ("model", model.clone()),
                    ("type", kind.into()),
                ])
                .inc_by(n);
            if matches!(kind, "input" | "output") {
                self.tokens
                    .get_or_create(&[
                        ("gen_ai_operation_name", "chat".into()),
                        ("gen_ai_provider_name", provider.clone()),
                        ("gen_ai_response_model", model.clone()),
                        ("gen_ai_token_type", kind.into()),
                    ])
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

    /// OpenMetrics text (ends with `# EOF`), the breaker states read from `health` now.
    pub fn render(&self, health: &[HealthSnapshot]) -> String {
        for h in health {
            if let Some(state) = h.state {
                let v = match state {
                    BreakerState::Closed | BreakerState::Disabled => 0,
                    BreakerState::HalfOpen => 1,
                    _ => 2,
                };
                self.breaker
                    .get_or_create(&[("deployment", super::scrub(&h.name).into_owned())])
                    .set(v);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
