//! Resilience primitives from Rust, uncontended and with every core busy: ns per breaker check
//! (acquire + record), per limiter admission, per queue permit, and per single-flight lookup
//! of an answer already in flight is not measured here (it is dominated by the call it joins).
//!
//! Run: cargo bench -p trinity-core --bench resilience

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trinity_core::resilience::*;

fn ns_per_op(n: u64, f: impl Fn()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / n as f64
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

fn main() {
    let n = 2_000_000;
    let breaker = Arc::new(CircuitBreaker::new("bench", BreakerSettings::default()).unwrap());
    let check = || {
        let t = breaker.try_acquire().unwrap();
        breaker.record(black_box(t), Outcome::Success);
    };
    let limit = RateLimit {
        rpm: Some(u64::MAX / 2),
        tpm: None,
        window: Duration::from_millis(1),
    };
    let limiter = RateLimiter::new("bench", limit).unwrap();
    let admit = || {
        black_box(limiter.try_acquire(1).unwrap());
    };
    let set = LimiterSet::new();
    set.set_limit(
        "openai",
        RateLimit {
            rpm: Some(u64::MAX / 2),
            tpm: Some(u64::MAX / 2),
            window: Duration::from_millis(1),
        },
    )
    .unwrap();
    let keyed = || {
        black_box(set.try_acquire("openai", 100).unwrap());
    };
    let state = || {
        black_box(breaker.state());
    };
    let allow = || {
        let _ticket = black_box(breaker.try_acquire().unwrap());
    };

    println!("resilience primitives from Rust (ns per call; bar: under 100 ns uncontended)");
    println!("  {:<52} {:>8} {:>14}", "", "1 thread", "all cores");
    for (label, f) in [
        ("breaker check (try_acquire)", &allow as &(dyn Fn() + Sync)),
        ("breaker check + record of the outcome", &check),
        ("breaker state", &state),
        ("limiter admission (rpm)", &admit),
        ("keyed limiter admission (rpm + tpm, by name)", &keyed),
    ] {
        println!(
            "  {:<52} {:>8.1} {:>14.1}",
            label,
            ns_per_op(n, f),
            contended(n / 4, f)
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let queue = RequestQueue::new(QueueSettings {
        max_concurrency: 64,
        max_length: 1000,
        aging: Duration::from_secs(5),
    })
    .unwrap();
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            black_box(queue.acquire(0).await.unwrap());
        }
    });
    println!(
        "  {:<52} {:>8.1}",
        "queue permit (acquire + release, free slot)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
