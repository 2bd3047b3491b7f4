//! Routing strategies over a generic route (targets are plain numbers, calls are closures).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trinity_core::config::RouteStrategy;
use trinity_core::resilience::{BreakerSettings, CircuitBreaker, RetryPolicy};
use trinity_core::router::{Health, Member, Plan, Route, Served, UsedTokens};
use trinity_core::{Error, ErrorKind, Result};

#[derive(Debug)]
struct Answer(usize);

impl UsedTokens for Answer {
    fn used_tokens(&self) -> Option<u64> {
        None
    }
}

fn members(weights: &[f64]) -> Vec<Member<usize>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &weight)| {
            let breaker = CircuitBreaker::new(format!("d{i}"), BreakerSettings::default()).unwrap();
            Member {
                target: i,
                weight,
                health: Arc::new(Health::new(
                    format!("d{i}"),
                    Some(Arc::new(breaker)),
                    vec![],
                )),
            }
        })
        .collect()
}

fn once() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    }
}

async fn run(
    route: &Route<usize>,
    call: impl Fn(usize) -> Result<Answer>,
) -> Result<Served<Answer>> {
    let policy = once();
    let plan = Plan {
        tokens: 1,
        costs: &[],
        policy: &policy,
    };
    route
        .execute(&plan, |i, _| std::future::ready(call(i)))
        .await
}

#[tokio::test]
async fn weighted_spreads_calls_in_proportion_to_the_weights() {
    let route = Route::seeded(RouteStrategy::Weighted, members(&[3.0, 1.0, 0.0]), None, 42);
    let mut served = [0usize; 3];
    for _ in 0..4000 {
        served[run(&route, |i| Ok(Answer(i))).await.unwrap().member] += 1;
    }
    assert_eq!(served[2], 0, "weight 0 is only a last resort");
    let share = served[0] as f64 / 4000.0;
    assert!((0.72..0.78).contains(&share), "{served:?}");
}

#[tokio::test]
async fn least_busy_prefers_the_deployment_with_fewer_calls_in_flight() {
    let route = Arc::new(Route::new(
        RouteStrategy::LeastBusy,
        members(&[1.0, 1.0]),
        None,
    ));
    let gate = Arc::new(tokio::sync::Notify::new());
    // Hold one call open on whichever deployment is picked first.
    let held = {
        let (route, gate) = (route.clone(), gate.clone());
        tokio::spawn(async move {
            let policy = once();
            let plan = Plan {
                tokens: 1,
                costs: &[],
                policy: &policy,
            };
            route
                .execute(&plan, |i, _| {
                    let gate = gate.clone();
                    async move {
                        gate.notified().await;
                        Ok(Answer(i))
                    }
                })
                .await
                .unwrap()
                .member
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let busy = (0..2)
        .find(|&i| route.members[i].health.in_flight() == 1)
        .expect("one call in flight");
    let next = run(&route, |i| Ok(Answer(i))).await.unwrap().member;
    assert_ne!(next, busy, "the idle deployment is chosen");
    gate.notify_one();
    assert_eq!(held.await.unwrap(), busy);
}

#[tokio::test]
async fn latency_routes_to_the_fastest_once_each_is_measured() {
    let route = Route::new(RouteStrategy::Latency, members(&[1.0, 1.0]), None);
    let policy = once();
    let plan = Plan {
        tokens: 1,
        costs: &[],
        policy: &policy,
    };
    for _ in 0..6 {
        route
            .execute(&plan, |i, _| async move {
                tokio::time::sleep(Duration::from_millis(if i == 0 { 30 } else { 2 })).await;
                Ok(Answer(i))
            })
            .await
            .unwrap();
    }
    assert!(
        route.members[1].health.latency_ms().unwrap()
            < route.members[0].health.latency_ms().unwrap()
    );
    assert_eq!(route.order(&[]), vec![1, 0]);
}

#[tokio::test]
async fn race_returns_the_first_good_answer_and_cancels_the_others() {
    let route = Route::new(RouteStrategy::Race, members(&[1.0, 1.0, 1.0]), None);
    let finished = Arc::new(AtomicUsize::new(0));
    let policy = once();
    let plan = Plan {
        tokens: 1,
        costs: &[],
        policy: &policy,
    };
    let served = route
        .execute(&plan, |i, _| {
            let finished = finished.clone();
            async move {
                if i == 0 {
                    return Err(Error::new(ErrorKind::Provider, "fast failure")
                        .with_details(serde_json::json!({"status": 503})));
                }
                tokio::time::sleep(Duration::from_millis(if i == 1 { 200 } else { 10 })).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(Answer(i))
            }
        })
        .await
        .unwrap();
    assert_eq!(
        served.member, 2,
        "the fastest good answer, not the fastest failure"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the slow racer was cancelled"
    );
    assert_eq!(route.members[1].health.in_flight(), 0);
}

#[tokio::test]
async fn parallel_returns_every_answer_and_skips_open_breakers() {
    let route = Route::new(RouteStrategy::Parallel, members(&[1.0, 1.0, 1.0]), None);
    route.members[1]
        .health
        .breaker
        .as_ref()
        .unwrap()
        .set_state(trinity_core::resilience::BreakerState::ForcedOpen);
    let policy = once();
    let plan = Plan {
        tokens: 1,
        costs: &[],
        policy: &policy,
    };
    let all = route
        .execute_all(&plan, |i, _| async move { Ok(Answer(i)) })
        .await;
    let served: Vec<usize> = all.iter().map(|(_, r)| r.as_ref().unwrap().0).collect();
    assert_eq!(served, vec![0, 2]);
}

#[tokio::test]
async fn refusals_by_our_own_limits_and_the_waits_for_them_are_counted_per_deployment() {
    use trinity_core::resilience::{RateLimit, RateLimiter};
    let limit = RateLimit {
        rpm: Some(1),
        tpm: None,
        window: Duration::from_millis(50),
    };
    let limiter = Arc::new(RateLimiter::new("d0", limit).unwrap());
    let health = Arc::new(Health::new("d0", None, vec![limiter]));
    let route = Route::new(
        RouteStrategy::Failover,
        vec![Member {
            target: 0,
            weight: 1.0,
            health: health.clone(),
        }],
        None,
    );
    run(&route, |i| Ok(Answer(i))).await.unwrap();
    // The only deployment is at its limit: refused once, waited for, then served.
    run(&route, |i| Ok(Answer(i))).await.unwrap();
    let s = health.snapshot();
    assert_eq!((s.limited, s.limit_waits), (1, 1));
    assert!(
        s.limit_wait_s > 0.0 && s.limit_wait_s <= 0.05,
        "{}",
        s.limit_wait_s
    );
}
