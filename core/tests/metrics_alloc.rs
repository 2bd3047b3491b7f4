//! `ClientMetrics::observe` allocates nothing once the label values it sees have been seen
//! before (issue 14: no allocation after warm-up), and its text keeps the same series.
//!
//! The binary declares a counting wrapper around the system allocator; it counts per thread,
//! and only on a thread that asks, so tests running alongside do not disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use trinity_core::config::MetricsConfig;
use trinity_core::observe::request_log::Attempt;
use trinity_core::observe::{ClientMetrics, RequestRecord};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

fn attempt(provider: &str, model: &str, error_code: Option<&str>) -> Attempt {
    Attempt {
        provider: provider.into(),
        model: model.into(),
        error_code: error_code.map(Into::into),
        latency_ms: 100.0,
    }
}

/// A call answered after one retry, a streamed one, one failed after a retry and a fallback,
/// an unpriced one, a cache hit and a join of an identical call in flight.
fn traffic() -> Vec<RequestRecord> {
    let success = RequestRecord {
        model_requested: "fast".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        attempts: 2,
        attempt_log: vec![
            attempt("openai", "gpt-4o-mini", Some("rate_limited")),
            attempt("openai", "gpt-4o-mini", None),
        ],
        input_tokens: 1200,
        cached_tokens: 256,
        output_tokens: 300,
        cost_usd: Some(0.000_42),
        latency_ms: 850.0,
        queued_ms: 2.0,
        ..RequestRecord::default()
    };
    let streamed = RequestRecord {
        model_requested: "claude-sonnet-4".into(),
        provider: Some("anthropic".into()),
        model: Some("claude-sonnet-4".into()),
        attempts: 1,
        attempt_log: vec![attempt("anthropic", "claude-sonnet-4", None)],
        stream: true,
        input_tokens: 900,
        cache_write_tokens: 512,
        output_tokens: 700,
        reasoning_tokens: 200,
        cost_usd: Some(0.0123),
        latency_ms: 2400.0,
        time_to_first_token_ms: Some(310.0),
        ..RequestRecord::default()
    };
    let error = RequestRecord {
        status: "error".into(),
        error_code: Some("rate_limited".into()),
        model_requested: "fast".into(),
        provider: Some("anthropic".into()),
        model: Some("claude-haiku".into()),
        attempts: 3,
        attempt_log: vec![
            attempt("openai", "gpt-4o-mini", Some("rate_limited")),
            attempt("openai", "gpt-4o-mini", Some("rate_limited")),
            attempt("anthropic", "claude-haiku", Some("rate_limited")),
        ],
        latency_ms: 3100.0,
        queued_ms: 15.0,
        ..RequestRecord::default()
    };
    let unpriced = RequestRecord {
        model_requested: "llama3".into(),
        provider_requested: Some("ollama".into()),
        provider: Some("ollama".into()),
        model: Some("llama3".into()),
        attempts: 1,
        input_tokens: 50,
        output_tokens: 20,
        unpriced_reason: Some("unknown model".into()),
        latency_ms: 400.0,
        ..RequestRecord::default()
    };
    let hit = RequestRecord {
        model_requested: "fast".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        cost_usd: Some(0.0),
        cache_hit: true,
        cache_tier: Some("memory".into()),
        latency_ms: 0.2,
        ..RequestRecord::default()
    };
    let joined = RequestRecord {
        model_requested: "fast".into(),
        provider: Some("openai".into()),
        model: Some("gpt-4o-mini".into()),
        cache_hit: true,
        cache_tier: Some("in_flight".into()),
        latency_ms: 600.0,
        ..RequestRecord::default()
    };
    vec![success, streamed, error, unpriced, hit, joined]
}

#[test]
fn observe_allocates_nothing_after_warm_up() {
    let metrics = ClientMetrics::new(&MetricsConfig::default());
    let records = traffic();
    for r in records.iter().cycle().take(3 * records.len()) {
        metrics.observe(r);
    }
    let n = allocations(|| {
        for r in records.iter().cycle().take(10_000) {
            metrics.observe(r);
        }
    });
    assert_eq!(n, 0, "allocations over 10,000 observe calls after warm-up");
}

#[test]
fn the_counting_allocator_counts() {
    let n = allocations(|| drop(std::hint::black_box(String::from("x").repeat(3))));
    assert!(n >= 1);
}

#[test]
fn the_text_keeps_each_series() {
    let metrics = ClientMetrics::new(&MetricsConfig::default());
    for r in traffic() {
        metrics.observe(&r);
    }
    let text = metrics.render(&Default::default());
    for line in [
        r#"trinity_requests_total{provider="openai",model="gpt-4o-mini",status="success",error_code=""} 3"#,
        r#"trinity_requests_total{provider="anthropic",model="claude-haiku",status="error",error_code="rate_limited"} 1"#,
        r#"trinity_retries_total{provider="openai",model="gpt-4o-mini"} 1"#,
        r#"trinity_retries_total{provider="anthropic",model="claude-haiku"} 1"#,
        r#"trinity_fallbacks_total{provider="anthropic",model="claude-haiku"} 1"#,
        r#"trinity_cache_hits_total{tier="memory"} 1"#,
        r#"trinity_single_flight_joins_total 1"#,
        r#"trinity_tokens_total{provider="openai",model="gpt-4o-mini",type="cached"} 256"#,
        r#"trinity_tokens_total{provider="anthropic",model="claude-sonnet-4",type="cache_write"} 512"#,
        r#"trinity_tokens_total{provider="anthropic",model="claude-sonnet-4",type="reasoning"} 200"#,
        r#"trinity_cost_usd_total{provider="anthropic",model="claude-sonnet-4"} 0.0123"#,
        r#"trinity_unpriced_requests_total{provider="ollama",model="llama3"} 1"#,
        r#"gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="fast",gen_ai_response_model="claude-haiku",error_type="rate_limited"} 1"#,
        r#"gen_ai_client_operation_time_to_first_chunk_seconds_sum{gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4"} 0.31"#,
        r#"gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_response_model="gpt-4o-mini",gen_ai_token_type="input"} 1200.0"#,
        r#"trinity_queue_wait_seconds_count 4"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}
