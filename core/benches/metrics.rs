//! Metrics from Rust, ns per call (issue 14's bars: counter increment ≤ 15 ns, labelled
//! counter ≤ 50 ns, histogram observation ≤ 35 ns, all the instrumentation of one call ≤ 1 µs):
//! prometheus-client's Counter and Histogram next to a bare AtomicU64 (the floor; the `metrics`
//! and `prometheus` crates are not in the lock file, and building one only to compare is not
//! worth it), a labelled counter keyed the client's way next to the usual label arrays (owned
//! Strings: what the client did before), and `ClientMetrics::observe` of realistic request-log
//! records, on one thread and on every core at once. (That observe allocates nothing after
//! warm-up is asserted by tests/metrics_alloc.rs.)
//!
//! Run: cargo bench -p trinity-core --bench metrics

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use trinity_core::config::MetricsConfig;
use trinity_core::observe::metrics::{LabelSet, LabelValue, LookupKey};
use trinity_core::observe::request_log::Attempt;
use trinity_core::observe::{ClientMetrics, RequestRecord};

/// Best of 5 of the mean nanoseconds per call, after a warm-up of a tenth.
fn ns_per_op(n: u64, f: impl Fn()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

/// The same work on every core at once; ns per op per thread.
fn contended(n: u64, f: impl Fn() + Sync) -> f64 {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(move || ns_per_op(n, f)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<f64>() / threads as f64
    })
}

fn attempt(provider: &str, model: &str, error_code: Option<&str>) -> Attempt {
    Attempt {
        provider: provider.into(),
        model: model.into(),
        error_code: error_code.map(Into::into),
        latency_ms: 400.0,
    }
}

/// An answered call (input, cached and output tokens, priced), a failed one (a retry, then a
/// fallback, then `rate_limited`), and a memory-tier cache hit.
fn records() -> [(&'static str, RequestRecord); 3] {
    let success = RequestRecord {
        model_requested: "gpt-4o-mini".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        attempts: 1,
        attempt_log: vec![attempt("openai", "gpt-4o-mini", None)],
        input_tokens: 1200,
        cached_tokens: 256,
        output_tokens: 300,
        cost_usd: Some(0.000_42),
        latency_ms: 850.0,
        queued_ms: 0.5,
        ..RequestRecord::default()
    };
    let error = RequestRecord {
        status: "error".into(),
        error_code: Some("rate_limited".into()),
        model_requested: "fast".into(),
        provider: Some("anthropic".into()),
        model: Some("claude-haiku-4-5".into()),
        attempts: 3,
        attempt_log: vec![
            attempt("openai", "gpt-4o-mini", Some("rate_limited")),
            attempt("openai", "gpt-4o-mini", Some("rate_limited")),
            attempt("anthropic", "claude-haiku-4-5", Some("rate_limited")),
        ],
        latency_ms: 3100.0,
        queued_ms: 12.0,
        ..RequestRecord::default()
    };
    let hit = RequestRecord {
        model_requested: "gpt-4o-mini".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        cost_usd: Some(0.0),
        cache_hit: true,
        cache_tier: Some("memory".into()),
        latency_ms: 0.2,
        ..RequestRecord::default()
    };
    [
        ("success: tokens (input, cached, output) + cost", success),
        ("error: rate_limited after a retry and a fallback", error),
        ("cache hit (memory tier)", hit),
    ]
}

static REQUESTS: [&str; 4] = ["provider", "model", "status", "error_code"];
static DURATION: [&str; 5] = [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "error_type",
];

/// The latency buckets of `gen_ai_client_operation_duration_seconds`.
const SECONDS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Prints one line: ns per call on one thread and on every core, then the bar. Each run
/// of the n calls takes about 50 ms.
fn row(label: &str, f: impl Fn() + Sync, bar: &str) -> f64 {
    let t = Instant::now();
    for _ in 0..1000 {
        f();
    }
    let n = (50_000_000 / t.elapsed().as_nanos().max(1) as u64 * 1000).clamp(10_000, 10_000_000);
    let ns = ns_per_op(n, &f);
    let all = contended(n / 4, &f);
    println!("  {label:<58} {ns:>8.1} {all:>10.1}   {bar}");
    ns
}

fn main() {
    let floor = AtomicU64::new(0);
    let counter = Counter::<u64>::default();
    let histogram = Histogram::new(SECONDS);

    // The requests family's four labels, four ways: the client's lookup key (values borrowed:
    // what `observe` does), its label set with the values cloned (an `Arc` count each), an
    // array of (name, Arc<str>) pairs (names hashed and compared too), and owned Strings (what
    // the client did before, and what prometheus-client's examples do).
    let values = [
        LabelValue::shared("openai".into()),
        LabelValue::shared("gpt-4o-mini".into()),
        LabelValue::from_static("success"),
        LabelValue::from_static(""),
    ];
    let [provider, model, success, no_error] = &values;
    let client: Family<LabelSet<4>, Counter> = Family::default();
    let arcs: Family<[(&'static str, Arc<str>); 4], Counter> = Family::default();
    let strings: Family<[(&'static str, String); 4], Counter> = Family::default();
    let arc_values: [Arc<str>; 4] = ["openai", "gpt-4o-mini", "success", ""].map(Arc::from);
    let string_values = arc_values.clone().map(|v| v.to_string());
    let chat = LabelValue::from_static("chat");
    let durations =
        Family::<LabelSet<5>, Histogram, _>::new_with_constructor(|| Histogram::new(SECONDS));

    println!("metrics primitives from Rust (ns per call, best of 5)");
    println!("  {:<58} {:>8} {:>10}   bar", "", "1 thread", "all cores");
    let floor_ns = row(
        "AtomicU64 fetch_add (the floor)",
        || {
            floor.fetch_add(1, Relaxed);
        },
        "",
    );
    let counter_ns = row(
        "Counter::inc",
        || {
            counter.inc_by(black_box(1));
        },
        "≤ 15 ns",
    );
    let labelled_ns = row(
        "labelled counter (4 labels): get_or_create + inc",
        || {
            let key = LookupKey::new(&REQUESTS, [provider, model, success, no_error]);
            client.get_or_create(black_box(&key)).inc();
        },
        "≤ 50 ns",
    );
    row(
        "  same, the label set's values cloned",
        || {
            let key = LabelSet::new(&REQUESTS, values.clone());
            client.get_or_create(black_box(&key)).inc();
        },
        "",
    );
    row(
        "  same, key [(&str, Arc<str>); 4]",
        || {
            let key = [
                ("provider", arc_values[0].clone()),
                ("model", arc_values[1].clone()),
                ("status", arc_values[2].clone()),
                ("error_code", arc_values[3].clone()),
            ];
            arcs.get_or_create(black_box(&key)).inc();
        },
        "",
    );
    let strings_ns = row(
        "  same, key [(&str, String); 4] (before: 4 Strings a call)",
        || {
            let key = [
                ("provider", string_values[0].clone()),
                ("model", string_values[1].clone()),
                ("status", string_values[2].clone()),
                ("error_code", string_values[3].clone()),
            ];
            strings.get_or_create(black_box(&key)).inc();
        },
        "",
    );
    let histogram_ns = row(
        "Histogram::observe (14 buckets)",
        || histogram.observe(black_box(0.85)),
        "≤ 35 ns",
    );
    row(
        "labelled histogram (5 labels): get_or_create + observe",
        || {
            let key = LookupKey::new(&DURATION, [&chat, provider, model, model, no_error]);
            durations.get_or_create(black_box(&key)).observe(0.85);
        },
        "",
    );
    println!(
        "  Counter::inc {:.1}× the floor, Histogram::observe {:.1}×; labelled counter {:.1}× \
         Counter::inc; String keys {:.1}× the client's",
        counter_ns / floor_ns,
        histogram_ns / floor_ns,
        labelled_ns / counter_ns,
        strings_ns / labelled_ns
    );

    let metrics = ClientMetrics::new(&MetricsConfig::default());
    let records = records();
    println!("ClientMetrics::observe: all the instrumentation of one call");
    for (label, r) in &records {
        row(label, || metrics.observe(black_box(r)), "≤ 1000 ns");
    }
    thread_local!(static NEXT: Cell<usize> = const { Cell::new(0) });
    row(
        "the three in turn",
        || {
            let k = NEXT.replace(NEXT.get() + 1);
            metrics.observe(black_box(&records[k % records.len()].1));
        },
        "≤ 1000 ns",
    );
}
