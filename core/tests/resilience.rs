//! The resilience primitives against the numbers, on deterministic clocks and seeds.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trinity_core::config::{Jitter, WindowType};
use trinity_core::resilience::retry::{self, Decision};
use trinity_core::resilience::*;
use trinity_core::{Error, ErrorKind};

fn breaker_settings() -> BreakerSettings {
    BreakerSettings {
        window_type: WindowType::Count,
        window_size: 20,
        minimum_calls: 10,
        failure_rate_threshold: 0.5,
        slow_call: Duration::from_secs(30),
        slow_call_rate_threshold: 1.0,
        open_wait: Duration::from_secs(10),
        half_open_calls: 3,
    }
}

#[test]
fn breaker_opens_at_exactly_call_10_when_all_fail() {
    let (clock, _t) = Clock::manual();
    let b = CircuitBreaker::with_clock("p", breaker_settings(), clock).unwrap();
    for call in 1..=10 {
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "still closed before call {call}"
        );
        let t = b.try_acquire().expect("closed breakers admit");
        b.record(t, Outcome::Failure);
    }
    assert_eq!(b.state(), BreakerState::Open);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.kind, ErrorKind::CircuitOpen);
    assert_eq!(err.details.unwrap()["retry_after_ms"], 10_000);
}

#[test]
fn breaker_never_opens_at_a_seeded_40_percent_failure_rate_over_10000_calls() {
    let (clock, _t) = Clock::manual();
    let b = CircuitBreaker::with_clock("p", breaker_settings(), clock).unwrap();
    // 40% spread evenly (every 10 consecutive calls hold exactly 4 failures) from a seeded phase.
    let phase = ChaCha8Rng::seed_from_u64(7).random_range(0..1000u64);
    for i in phase..phase + 10_000 {
        let fail = (i + 1) * 2 / 5 > i * 2 / 5;
        let t = b.try_acquire().expect("never opens");
        b.record(
            t,
            if fail {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        );
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot().not_permitted, 0);
}

#[test]
fn breaker_time_window_and_slow_calls() {
    let (clock, t) = Clock::manual();
    let mut s = breaker_settings();
    s.window_type = WindowType::Time;
    s.window_size = 10; // seconds
    s.minimum_calls = 4;
    s.slow_call = Duration::from_secs(2);
    s.slow_call_rate_threshold = 0.5;
    let b = CircuitBreaker::with_clock("p", s, clock).unwrap();
    for _ in 0..3 {
        let ticket = b.try_acquire().unwrap();
        b.record(ticket, Outcome::Failure);
        t.advance(Duration::from_secs(4)); // failures age out of the 10 s window
    }
    let ticket = b.try_acquire().unwrap();
    b.record(ticket, Outcome::Success);
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "old failures left the time window"
    );
    for _ in 0..3 {
        let ticket = b.try_acquire().unwrap();
        t.advance(Duration::from_secs(3)); // slow successes
        b.record(ticket, Outcome::Success);
    }
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "slow-call rate over the threshold opens it"
    );
}

#[test]
fn breaker_half_open_lets_exactly_the_probes_through_for_1000_concurrent_callers() {
    let (clock, t) = Clock::manual();
    let b = Arc::new(CircuitBreaker::with_clock("p", breaker_settings(), clock).unwrap());
    let changes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = changes.clone();
    b.on_state_change(move |c| seen.lock().unwrap().push((c.from, c.to)));
    b.set_state(BreakerState::Open);
    t.advance(Duration::from_secs(10));
    let admitted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let barrier = Arc::new(std::sync::Barrier::new(1000));
    let threads: Vec<_> = (0..1000)
        .map(|_| {
            let (b, admitted, barrier) = (b.clone(), admitted.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                if let Ok(ticket) = b.try_acquire() {
                    admitted.lock().unwrap().push(ticket);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|h| h.join().unwrap());
    let tickets = std::mem::take(&mut *admitted.lock().unwrap());
    assert_eq!(tickets.len(), 3, "exactly half_open_calls probes");
    // A cancelled probe frees its slot; successful probes close the breaker.
    b.record(tickets[0], Outcome::Cancelled);
    let again = b.try_acquire().expect("the freed slot");
    assert!(b.try_acquire().is_err());
    for ticket in [tickets[1], tickets[2], again] {
        b.record(ticket, Outcome::Success);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    use BreakerState::*;
    assert_eq!(
        *changes.lock().unwrap(),
        vec![(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
    );
}

#[test]
fn breaker_outcomes_from_an_earlier_state_are_ignored() {
    let (clock, _t) = Clock::manual();
    let b = CircuitBreaker::with_clock("p", breaker_settings(), clock).unwrap();
    let stale = b.try_acquire().unwrap();
    b.set_state(BreakerState::Open);
    b.set_state(BreakerState::Closed);
    b.record(stale, Outcome::Failure);
    assert_eq!(b.snapshot().calls, 0);
}

#[test]
fn bad_breaker_settings_are_config_errors() {
    let mut s = breaker_settings();
    s.failure_rate_threshold = 1.5;
    let e = CircuitBreaker::new("p", s).err().unwrap();
    assert_eq!(e.kind, ErrorKind::Config);
    assert_eq!(e.details.unwrap()["path"], "breaker.failure_rate_threshold");
}

fn policy(jitter: Jitter) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(5),
        jitter,
        max_retry_after: Duration::from_secs(20),
    }
}

#[test]
fn backoff_stays_within_zero_and_the_capped_exponential() {
    let p = policy(Jitter::Full);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut prev = p.base;
    for i in 0..100_000u32 {
        let n = i % 40;
        let d = p.backoff(n, prev, &mut rng);
        let ceiling = p.cap.min(p.base.saturating_mul(2u32.saturating_pow(n)));
        assert!(d <= ceiling, "sample {i}: {d:?} > {ceiling:?}");
        prev = d;
    }
    assert!(
        p.backoff(1000, prev, &mut rng) <= p.cap,
        "attempt 1,000 does not overflow"
    );
    assert_eq!(policy(Jitter::None).backoff(1000, prev, &mut rng), p.cap);
    let d = policy(Jitter::Decorrelated);
    let mut prev = d.base;
    for _ in 0..10_000 {
        prev = d.backoff(3, prev, &mut rng);
        assert!(prev >= d.base && prev <= d.cap);
    }
}

fn upstream(kind: ErrorKind, details: serde_json::Value) -> Error {
    Error::new(kind, "upstream").with_details(details)
}

#[test]
fn retry_decisions_follow_the_error() {
    let p = policy(Jitter::Full);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let d = |e: &Error, n| p.decide(e, n, p.base, &mut ChaCha8Rng::seed_from_u64(n as u64));
    let r429 = upstream(
        ErrorKind::RateLimited,
        serde_json::json!({"status": 429, "retry_after_ms": 1500}),
    );
    assert_eq!(
        d(&r429, 1),
        Decision::RetryAfter(Duration::from_millis(1500))
    );
    let over = upstream(
        ErrorKind::RateLimited,
        serde_json::json!({"status": 429, "retry_after_ms": 60_000}),
    );
    match d(&over, 1) {
        Decision::Stop(e) => assert_eq!(e.kind, ErrorKind::RateLimited),
        other => panic!("Retry-After over the cap must not be retried: {other:?}"),
    }
    for (kind, status) in [
        (ErrorKind::InvalidInput, 400),
        (ErrorKind::Auth, 401),
        (ErrorKind::NotFound, 404),
    ] {
        assert!(matches!(
            d(&upstream(kind, serde_json::json!({"status": status})), 1),
            Decision::Stop(_)
        ));
    }
    let s503 = upstream(ErrorKind::Provider, serde_json::json!({"status": 503}));
    assert!(matches!(d(&s503, 1), Decision::RetryAfter(_)));
    assert!(
        matches!(d(&s503, 6), Decision::Stop(_)),
        "max_attempts reached"
    );
    let no = upstream(
        ErrorKind::Provider,
        serde_json::json!({"status": 503, "should_retry": false}),
    );
    assert!(
        matches!(d(&no, 1), Decision::Stop(_)),
        "x-should-retry: false"
    );
    let yes = upstream(
        ErrorKind::InvalidInput,
        serde_json::json!({"status": 400, "should_retry": true}),
    );
    assert!(
        matches!(d(&yes, 1), Decision::RetryAfter(_)),
        "x-should-retry: true"
    );
    assert!(retry::is_retryable(&Error::new(
        ErrorKind::Network,
        "reset"
    )));
    assert!(retry::is_retryable(&Error::new(ErrorKind::Timeout, "slow")));
    let _ = rng.random::<u8>();
}

/// 1,000 requests, 32 at a time (as the issue measured), through one quota to a deployment
/// that fails each attempt with probability `fail` (seeded); (requests failed, extra attempts).
async fn through_quota(fail: f64, max_attempts: u32, quota: Arc<RetryQuota>) -> (usize, usize) {
    use futures_util::StreamExt;
    let p = RetryPolicy {
        max_attempts,
        ..policy(Jitter::Full)
    };
    let rng = std::sync::Mutex::new(ChaCha8Rng::seed_from_u64(7));
    let attempts = AtomicUsize::new(0);
    let failed = futures_util::stream::iter(0..1000)
        .map(|_| {
            retry::run(&p, Some(&quota), |_| {
                attempts.fetch_add(1, Ordering::Relaxed);
                let failed = rng.lock().unwrap().random_bool(fail);
                async move {
                    // Each answer takes a moment, so requests overlap as they would on the wire.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if failed {
                        Err(upstream(
                            ErrorKind::Provider,
                            serde_json::json!({"status": 503}),
                        ))
                    } else {
                        Ok(())
                    }
                }
            })
        })
        .buffer_unordered(32)
        .filter(|(r, _)| std::future::ready(r.is_err()))
        .count()
        .await;
    (failed, attempts.load(Ordering::Relaxed) - 1000)
}

fn default_quota() -> Arc<RetryQuota> {
    Arc::new(RetryQuota::from(
        &trinity_core::config::RetryBudgetConfig::default(),
    ))
}

#[tokio::test(start_paused = true)]
async fn retry_quota_caps_extra_attempts_at_10_percent_against_a_dead_provider() {
    let (failed, extra) = through_quota(1.0, 5, default_quota()).await;
    assert_eq!(failed, 1000);
    assert!(extra <= 100, "{extra} extra attempts for 1,000 requests");
    assert_eq!(extra, 100, "the full bucket pays for 500 / 5 retries");
}

#[tokio::test(start_paused = true)]
async fn retry_quota_keeps_every_retry_a_flaky_provider_needs() {
    // 30% of attempts fail: with 6 attempts an SDK without a quota loses a request only when all
    // six fail (0.3^6 × 1,000 ≈ 0.7 requests). The quota refunds retries that succeed, so it
    // never stops one here, and every failure is one that used all its attempts.
    let quota = default_quota();
    let (failed, extra) = through_quota(0.3, 6, quota.clone()).await;
    assert!(failed <= 3, "{failed} of 1,000 failed");
    assert!(extra > 300, "{extra} retries made");
    assert!(quota.available() > 400, "{} tokens left", quota.available());
}

#[test]
fn retry_quota_refunds_a_retry_that_worked_and_charges_timeouts_double() {
    let q = RetryQuota::new(20, 5, 10);
    let e503 = upstream(ErrorKind::Provider, serde_json::json!({"status": 503}));
    let timeout = Error::new(ErrorKind::Timeout, "slow");
    assert_eq!(q.try_acquire(&e503), Some(5));
    assert_eq!(q.try_acquire(&timeout), Some(10));
    assert_eq!(q.available(), 5);
    assert_eq!(q.try_acquire(&timeout), None, "cannot pay 10 with 5");
    q.release(Some(10));
    assert_eq!(q.available(), 15, "a retry that worked is given back");
    q.release(None);
    q.release(Some(10));
    assert_eq!(q.available(), 20, "never above capacity");
}

#[tokio::test(start_paused = true)]
async fn retry_run_returns_the_first_success_and_counts_attempts() {
    let p = policy(Jitter::Full);
    let (result, attempts) = retry::run(&p, None, |n| async move {
        if n < 3 {
            Err(upstream(ErrorKind::Network, serde_json::json!({})))
        } else {
            Ok(n)
        }
    })
    .await;
    assert_eq!((result.unwrap(), attempts), (3, 3));
    let (result, attempts) = retry::run(&p, None, |_| async {
        Err::<(), _>(upstream(
            ErrorKind::InvalidInput,
            serde_json::json!({"status": 400}),
        ))
    })
    .await;
    assert_eq!(attempts, 1, "a 400 is never retried");
    assert_eq!(result.unwrap_err().details.unwrap()["attempts"], 1);
}

#[tokio::test(start_paused = true)]
async fn limiter_admits_at_most_60_per_sliding_minute_and_uses_95_percent() {
    let limiter = Arc::new(
        RateLimiter::with_clock("p", RateLimit::per_minute(Some(60), None), Clock::Tokio).unwrap(),
    );
    let start = tokio::time::Instant::now();
    let admitted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..1000u64 {
        let (limiter, admitted) = (limiter.clone(), admitted.clone());
        tasks.push(tokio::spawn(async move {
            // Waiters arrive over the first minute, then keep waiting in line.
            tokio::time::sleep(Duration::from_millis(i * 60)).await;
            tokio::select! {
                r = limiter.acquire(1) => {
                    r.unwrap();
                    admitted.lock().unwrap().push(start.elapsed());
                }
                _ = tokio::time::sleep_until(start + Duration::from_secs(600)) => {}
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut times = admitted.lock().unwrap().clone();
    times.sort();
    let window = Duration::from_secs(60);
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
        assert!(
            in_window <= 60,
            "{in_window} admitted in the minute from {t:?}"
        );
    }
    assert!(
        times.len() >= 570,
        "used {} of 600 slots in 10 minutes",
        times.len()
    );
}

#[tokio::test(start_paused = true)]
async fn limiter_tokens_fail_fast_when_too_large_and_large_requests_are_not_starved() {
    let limiter = Arc::new(
        RateLimiter::with_clock("p", RateLimit::per_minute(None, Some(1000)), Clock::Tokio)
            .unwrap(),
    );
    let e = limiter.try_acquire(1001).unwrap_err();
    assert_eq!(
        (e.kind, e.details.unwrap()["retryable"].clone()),
        (ErrorKind::RateLimited, false.into())
    );
    let a = limiter.try_acquire(900).unwrap();
    limiter.reconcile(a, 100); // the call used far fewer tokens than estimated
    assert_eq!(limiter.snapshot().tokens_in_window, 100);
    limiter.try_acquire(800).unwrap();
    // A large request waits at the head; small ones behind it may not overtake.
    let big = tokio::spawn({
        let l = limiter.clone();
        async move { l.acquire(900).await.map(|_| tokio::time::Instant::now()) }
    });
    tokio::task::yield_now().await;
    assert!(limiter.try_acquire(10).is_err(), "no jumping the line");
    let small = tokio::spawn({
        let l = limiter.clone();
        async move { l.acquire(10).await.map(|_| tokio::time::Instant::now()) }
    });
    let (big, small) = (big.await.unwrap().unwrap(), small.await.unwrap().unwrap());
    assert!(big <= small, "the large request went first");
}

#[tokio::test(start_paused = true)]
async fn single_flight_1000_identical_requests_make_one_call() {
    let group = Arc::new(SingleFlight::<String, u32>::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (group, calls) = (group.clone(), calls.clone());
        tasks.push(tokio::spawn(async move {
            group
                .run("same".into(), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(42)
                })
                .await
        }));
    }
    let mut joined = 0;
    for t in tasks {
        let (r, j) = t.await.unwrap();
        assert_eq!(r.unwrap(), 42);
        joined += j as usize;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(joined, 999);
    assert_eq!(group.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn single_flight_errors_reach_everyone_and_a_cancelled_leader_starts_no_second_call() {
    let group = Arc::new(SingleFlight::<u8, u32>::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let make = |calls: Arc<AtomicUsize>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err::<u32, _>(Error::new(ErrorKind::Provider, "boom"))
        }
    };
    let leader = tokio::spawn({
        let (g, c) = (group.clone(), calls.clone());
        async move { g.run(1, make(c)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let follower = tokio::spawn({
        let (g, c) = (group.clone(), calls.clone());
        async move { g.run(1, make(c)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    let (r, joined) = follower.await.unwrap();
    assert!(joined);
    assert_eq!(r.unwrap_err().kind, ErrorKind::Provider);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the leader's cancellation started no second call"
    );
}

#[tokio::test(start_paused = true)]
async fn queue_never_exceeds_8_in_flight_over_10000_requests_with_10_percent_cancelled() {
    let settings = QueueSettings {
        max_concurrency: 8,
        max_length: 20_000,
        aging: Duration::from_secs(5),
    };
    let queue = Arc::new(RequestQueue::with_clock(settings, Clock::Tokio).unwrap());
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for i in 0..10_000u64 {
        let (q, running, peak, done) = (queue.clone(), running.clone(), peak.clone(), done.clone());
        let cancel_after =
            (rng.random_range(0..10) == 0).then(|| Duration::from_millis(rng.random_range(0..500)));
        let task = tokio::spawn(async move {
            let work = q.run((i % 5) as i64, async {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1 + i % 7)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            });
            match cancel_after {
                Some(after) => {
                    let _ = tokio::time::timeout(after, work).await;
                }
                None => {
                    work.await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tasks.push(task);
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 8);
    assert_eq!(peak.load(Ordering::SeqCst), 8, "the bound is used");
    let s = queue.snapshot();
    assert_eq!(
        (s.length, s.in_flight),
        (0, 0),
        "nothing left behind: {s:?}"
    );
    assert!(done.load(Ordering::SeqCst) >= 8_900);
    assert!(s.cancelled > 0);
}

#[tokio::test(start_paused = true)]
async fn queue_serves_higher_priority_first_and_ages_the_rest() {
    let settings = QueueSettings {
        max_concurrency: 1,
        max_length: 100,
        aging: Duration::from_millis(100),
    };
    let queue = Arc::new(RequestQueue::with_clock(settings, Clock::Tokio).unwrap());
    let hold = queue.acquire(0).await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let spawn = |name: &'static str, priority: i64| {
        let (q, order) = (queue.clone(), order.clone());
        tokio::spawn(async move {
            let _p = q.acquire(priority).await.unwrap();
            order.lock().unwrap().push(name);
        })
    };
    let old_low = spawn("old-low", 0);
    tokio::time::sleep(Duration::from_millis(1000)).await; // 10 aging steps
    let high = spawn("high", 5);
    let newer_high = spawn("top", 20);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(queue.len(), 3);
    drop(hold);
    for t in [old_low, high, newer_high] {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec!["top", "old-low", "high"]);
}
