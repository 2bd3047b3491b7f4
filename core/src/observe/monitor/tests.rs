use super::*;
use crate::resilience::clock::ManualClock;

/// A monitor on a manual clock whose own evaluation task never runs (the test evaluates).
fn monitor(tweak: impl FnOnce(&mut MonitorConfig)) -> (Arc<ProviderMonitor>, ManualClock) {
    let mut c = MonitorConfig {
        eval_interval_ms: crate::config::PositiveInt(3_600_000),
        ..MonitorConfig::default()
    };
    tweak(&mut c);
    let (clock, hand) = Clock::manual();
    hand.advance(Duration::from_secs(1_000));
    (ProviderMonitor::with_clock(&c, clock), hand)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn events(m: &Arc<ProviderMonitor>) -> Arc<Mutex<Vec<MonitorEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    m.on_state_change(move |e| s.lock().unwrap().push(e.clone()));
    seen
}

#[tokio::test]
async fn a_provider_failing_every_call_is_down_at_the_next_evaluation_and_reported_once() {
    let (m, clock) = monitor(|_| {});
    let changes = events(&m);
    let downs = Arc::new(AtomicU64::new(0));
    let d = downs.clone();
    m.on_provider_down(Some("p"), move |_| {
        d.fetch_add(1, Ordering::Relaxed);
    });
    for _ in 0..20 {
        m.observe("p", Outcome::Ok, ms(40));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Healthy);
    clock.advance(Duration::from_secs(1));
    for _ in 0..4 {
        m.observe("p", Outcome::Failed, ms(5));
    }
    m.evaluate();
    // 4 failures of 24: degraded (over 10% in the window), not down (under 50%).
    assert_eq!(m.state("p"), ProviderState::Degraded);
    for _ in 0..30 {
        m.observe("p", Outcome::Failed, ms(5));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Down);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(1));
        m.observe("p", Outcome::Failed, ms(5));
        m.evaluate();
    }
    assert_eq!(downs.load(Ordering::Relaxed), 1);
    let to: Vec<_> = changes.lock().unwrap().iter().map(|e| e.to).collect();
    assert_eq!(
        to,
        [
            ProviderState::Healthy,
            ProviderState::Degraded,
            ProviderState::Down
        ]
    );
    let h = m.health("p").unwrap();
    assert_eq!(h.consecutive_failures, 39);
    assert!(h.error_rate.unwrap() > 0.6, "{h:?}");
}

#[tokio::test]
async fn recovery_waits_for_the_better_state_to_hold_and_flapping_moves_nothing() {
    let (m, clock) = monitor(|c| {
        c.window_s = crate::config::PositiveInt(10);
        c.recover_s = crate::config::PositiveInt(5);
    });
    let changes = events(&m);
    for _ in 0..10 {
        m.observe("p", Outcome::Failed, ms(5));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Down);
    // Flapping: a success then failures again, second by second.
    for i in 0..8 {
        clock.advance(Duration::from_secs(1));
        let o = if i % 2 == 0 {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        for _ in 0..10 {
            m.observe("p", o, ms(5));
        }
        m.evaluate();
    }
    assert_eq!(
        m.state("p"),
        ProviderState::Down,
        "flapping never held for recover_s"
    );
    // Recovered: successes only. The failures leave the fast window, then the live one.
    let mut healthy_after = None;
    for s in 1..=30 {
        clock.advance(Duration::from_secs(1));
        for _ in 0..10 {
            m.observe("p", Outcome::Ok, ms(5));
        }
        m.evaluate();
        if m.state("p") == ProviderState::Healthy {
            healthy_after = Some(s);
            break;
        }
    }
    let s = healthy_after.expect("healthy again");
    assert!((5..=20).contains(&s), "healthy after {s} s");
    let to: Vec<_> = changes.lock().unwrap().iter().map(|e| e.to).collect();
    assert_eq!(to.first(), Some(&ProviderState::Down));
    assert_eq!(to.last(), Some(&ProviderState::Healthy));
    assert!(to.len() <= 3, "{to:?}");
}

#[tokio::test]
async fn consecutive_failures_mean_down_at_low_traffic() {
    let (m, _clock) = monitor(|_| {});
    for _ in 0..4 {
        m.observe("p", Outcome::Failed, ms(5));
    }
    m.evaluate();
    // 4 < min_requests (5) and < down_after_failures (5).
    assert_ne!(m.state("p"), ProviderState::Down);
    m.observe("p", Outcome::Failed, ms(5));
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Down);
}

#[tokio::test]
async fn rate_limits_and_the_callers_errors_are_not_outages() {
    let (m, _clock) = monitor(|_| {});
    for _ in 0..50 {
        m.observe("p", Outcome::RateLimited, ms(5));
        m.observe("p", Outcome::Rejected, ms(5));
    }
    m.evaluate();
    let h = m.health("p").unwrap();
    assert_eq!(h.state, ProviderState::Healthy);
    assert_eq!((h.requests, h.failures, h.rate_limited), (100, 0, 50));
    assert_eq!(h.error_rate, Some(0.0));
}

#[test]
fn errors_are_classed_by_whose_fault_they_are() {
    let status =
        |kind, s: u64| Error::new(kind, "x").with_details(serde_json::json!({ "status": s }));
    assert_eq!(
        Outcome::of_error(&status(ErrorKind::Provider, 503)),
        Outcome::Failed
    );
    assert_eq!(
        Outcome::of_error(&status(ErrorKind::Provider, 409)),
        Outcome::Rejected
    );
    assert_eq!(
        Outcome::of_error(&status(ErrorKind::RateLimited, 429)),
        Outcome::RateLimited
    );
    assert_eq!(
        Outcome::of_error(&Error::new(ErrorKind::Timeout, "t")),
        Outcome::Failed
    );
    assert_eq!(
        Outcome::of_error(&Error::new(ErrorKind::Network, "n")),
        Outcome::Failed
    );
    assert_eq!(
        Outcome::of_error(&Error::new(ErrorKind::Auth, "a")),
        Outcome::Rejected
    );
}

#[tokio::test]
async fn percentiles_are_within_one_percent_of_the_exact_ones() {
    let (m, _clock) = monitor(|_| {});
    // 100,000 latencies from 1 ms to 10 s, spread log-uniformly (a long tail).
    let mut all: Vec<f64> = (0..100_000)
        .map(|i| 10f64.powf(4.0 * f64::from(i) / 100_000.0))
        .collect();
    for &v in &all {
        m.observe("p", Outcome::Ok, Duration::from_secs_f64(v / 1000.0));
    }
    all.sort_by(f64::total_cmp);
    let exact = |q: f64| all[((all.len() as f64 * q).ceil() as usize).min(all.len()) - 1];
    let h = m.health("p").unwrap();
    for (got, q) in [(h.p50_ms, 0.50), (h.p95_ms, 0.95), (h.p99_ms, 0.99)] {
        let (got, want) = (got.unwrap(), exact(q));
        assert!((got - want).abs() / want <= 0.01, "p{q}: {got} vs {want}");
    }
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!((h.latency_ms.unwrap() - mean).abs() / mean < 0.001);
}

#[tokio::test]
async fn history_keeps_buckets_and_availability_counts_time_down() {
    let (m, clock) = monitor(|c| {
        c.history_bucket_s = crate::config::PositiveInt(60);
        c.recover_s = crate::config::PositiveInt(1);
        c.window_s = crate::config::PositiveInt(10);
    });
    clock.advance(Duration::from_secs(20)); // to a bucket boundary (t = 1020 s)
                                            // 10 minutes: a minute of successes, failures for the next 3, then successes again.
    for minute in 0..10u64 {
        for second in 0..60 {
            let o = if (1..4).contains(&minute) {
                Outcome::Failed
            } else {
                Outcome::Ok
            };
            m.observe("p", o, ms(10 + minute));
            if second % 5 == 0 {
                m.evaluate();
            }
            clock.advance(Duration::from_secs(1));
        }
    }
    m.evaluate();
    let points = m.history("p", 1.0);
    assert_eq!(points.len(), 10);
    assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 600);
    assert_eq!(points[2].error_rate, Some(1.0));
    assert_eq!(points[5].error_rate, Some(0.0));
    assert!(points.windows(2).all(|w| w[0].end_ms == w[1].start_ms));
    let p9 = points[9].p50_ms.unwrap();
    assert!((p9 - 19.0).abs() / 19.0 < 0.1, "{p9}");
    // The last 3 minutes: the current one (nothing in it yet) and the two before.
    assert_eq!(m.history("p", 0.05).len(), 2);
    let h = m.health("p").unwrap();
    assert_eq!(h.state, ProviderState::Healthy);
    // Down for about 3 of the 10 minutes (from the 5th failure to recovery).
    assert!((0.65..0.75).contains(&h.availability), "{}", h.availability);
}

#[tokio::test]
async fn thresholds_fire_once_per_crossing_and_a_panicking_callback_is_contained() {
    let (m, clock) = monitor(|c| c.window_s = crate::config::PositiveInt(10));
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    m.on_high_latency(Some("p"), 100.0, move |e| {
        f.lock().unwrap().push(e.value.unwrap())
    })
    .unwrap();
    m.on_high_error_rate(None, 0.2, |_| panic!("a user's callback"))
        .unwrap();
    let e = m.on_high_error_rate(None, 1.5, |_| {}).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(m.on_high_latency(None, f64::NAN, |_| {}).is_err());
    let round = |latency: u64, failing: bool| {
        for _ in 0..20 {
            m.observe("p", Outcome::Ok, ms(latency));
            if failing {
                m.observe("p", Outcome::Failed, ms(1));
            }
        }
        m.evaluate();
        clock.advance(Duration::from_secs(11));
    };
    round(50, false);
    round(150, true);
    round(160, true);
    round(50, false);
    round(170, false);
    let fired = fired.lock().unwrap();
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert!(fired.iter().all(|&v| v >= 100.0));
    assert_eq!(m.callback_panics(), 1);
}

#[test]
fn a_history_bucket_stays_small() {
    // 1 significant digit over 1 µs .. 1 h: what a day of 5-minute buckets costs per provider.
    let h: Histogram<u32> = Histogram::new_with_bounds(1, HIGHEST_US, 1).unwrap();
    let bytes = h.distinct_values() * 4;
    assert!(bytes <= 2048, "{bytes} bytes");
}

#[tokio::test]
async fn performance_figures_come_from_the_same_window() {
    let (m, clock) = monitor(|c| {
        c.window_s = crate::config::PositiveInt(60);
        c.recover_s = crate::config::PositiveInt(1);
    });
    // 30 answers of 100 output tokens in 200 ms each (500 tokens/s), 10 to 300 ms apart.
    for i in 0..30u64 {
        m.observe_with("p", Outcome::Ok, ms(200), Some(100));
        m.observe("p", Outcome::Ok, ms(10 + i * 10));
    }
    let h = m.health("p").unwrap();
    assert_eq!(h.requests_per_minute, 60.0);
    assert!((h.tokens_per_second.unwrap() - 500.0).abs() < 1.0, "{h:?}");
    assert!((h.min_ms.unwrap() - 10.0).abs() < 0.1 && (h.max_ms.unwrap() - 300.0).abs() < 3.0);
    let perf = &m.performance()[0];
    assert_eq!(perf.latency_ms.count, 60);
    assert_eq!(
        (perf.latency_ms.min, perf.latency_ms.max),
        (h.min_ms, h.max_ms)
    );
    assert_eq!(perf.p95_latency_ms, h.p95_ms);
    m.evaluate();
    // An incident of 4 s: down, then healthy again after recover_s.
    for _ in 0..5 {
        m.observe("p", Outcome::Failed, ms(1));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Down);
    clock.advance(Duration::from_secs(61));
    m.observe("p", Outcome::Ok, ms(5));
    m.evaluate();
    clock.advance(Duration::from_secs(1));
    m.observe("p", Outcome::Ok, ms(5));
    m.evaluate();
    let h = m.health("p").unwrap();
    assert_eq!(h.state, ProviderState::Healthy);
    assert_eq!(h.recoveries, 1);
    assert_eq!(h.avg_error_recovery_ms, Some(62_000.0));
    assert!(m.history("p", 1.0)[0].tokens_per_second.is_some());
}

#[tokio::test]
async fn a_slow_p95_is_degraded_when_a_latency_limit_is_set() {
    let (m, _clock) = monitor(|c| c.degraded_latency_ms = Some(crate::config::PositiveInt(500)));
    for _ in 0..20 {
        m.observe("p", Outcome::Ok, ms(100));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Healthy);
    for _ in 0..5 {
        m.observe("p", Outcome::Ok, ms(900));
    }
    m.evaluate();
    assert_eq!(m.state("p"), ProviderState::Degraded, "p95 over 500 ms");
}

#[tokio::test]
async fn a_disabled_monitor_records_nothing() {
    let (m, _clock) = monitor(|c| c.enabled = false);
    m.observe("p", Outcome::Failed, ms(5));
    m.evaluate();
    assert!(m.health("p").is_none());
    assert_eq!(m.state("p"), ProviderState::Unknown);
}

#[tokio::test]
async fn history_keeps_history_hours_of_buckets() {
    let (m, clock) = monitor(|c| {
        c.history_hours = crate::config::PositiveInt(1);
        c.history_bucket_s = crate::config::PositiveInt(600);
    });
    for _ in 0..12 {
        m.observe("p", Outcome::Ok, ms(5));
        clock.advance(Duration::from_secs(600));
    }
    // Asked for 2 hours, kept 1: six 10-minute buckets.
    assert_eq!(m.history("p", 2.0).len(), 6);
}
