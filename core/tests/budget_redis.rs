//! Budget enforcement shared through a real `redis-server`: 64 concurrent calls, 4 worker
//! processes spending one daily budget (also across a Redis restart and a SCRIPT FLUSH),
//! failing closed while Redis is down with commits kept and replayed, alerts once across
//! processes, key TTLs.
//!
//! Worker processes are this test binary re-executed with `--exact budget_worker` and
//! `TRINITY_BUDGET_WORKER` set; each prints what it spent as one JSON line.

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trinity_core::config::{BudgetConfig, Config, EnvOverrides};
use trinity_core::cost::budget::window::{day_label, day_of, unix_s};
use trinity_core::cost::budget::{BudgetAlert, Budgets};
use trinity_core::resilience::Clock;
use trinity_core::testing::RedisServer;
use trinity_core::{rt, ErrorKind};

const NANO: u64 = 1_000_000_000;
const WORKER_ENV: &str = "TRINITY_BUDGET_WORKER";
/// Every process's clock: 2026-12-03 12:00:00 UTC.
fn noon() -> u64 {
    unix_s(2026, 12, 3, 12, 0, 0)
}

/// The `budget` section; each test hands `Budgets::new` its own server's URL, so the config
/// names a placeholder (a Redis scope without any URL is a config error at parse time).
fn cfg(v: Value) -> BudgetConfig {
    let doc = json!({ "budget": v, "cache": {"redis": {"url": "redis://127.0.0.1:1"}} });
    Config::from_value(doc, EnvOverrides::Ignore)
        .unwrap()
        .budget
}

fn clock_at(unix_s: u64) -> Clock {
    let (clock, hand) = Clock::manual();
    hand.set_ns(unix_s * NANO);
    clock
}

async fn shared(url: &str, prefix: &str, v: Value) -> Budgets {
    let mut v = v;
    v["scope"] = json!("redis");
    v["redis_prefix"] = json!(prefix);
    Budgets::new(&cfg(v), clock_at(noon()), Some(url.to_string()))
        .await
        .unwrap()
}

/// `HGET key field` through the raw test connection (0 when missing).
fn hget(redis: &RedisServer, key: &str, field: &str) -> u64 {
    let reply = redis.command(&format!("HGET {key} {field}")).unwrap();
    reply
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

fn day_key(prefix: &str) -> String {
    format!("{{{prefix}}}:d:{}", day_label(day_of(noon())))
}

/// Worker mode: `{"url", "prefix", "limit_nano", "estimate", "seed"}` in the environment.
/// Reserves `estimate`, commits a random amount in [estimate / 2, estimate], until the budget
/// cannot fit another estimate; waits out Redis being unavailable. Prints its totals.
#[test]
fn budget_worker() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).unwrap();
    let limit = spec["limit_nano"].as_u64().unwrap();
    let e = spec["estimate"].as_u64().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec["seed"].as_u64().unwrap());
    rt::block_on(async {
        let b = shared(
            spec["url"].as_str().unwrap(),
            spec["prefix"].as_str().unwrap(),
            json!({"daily_usd": limit as f64 / 1e9}),
        )
        .await;
        let (mut committed, mut calls, mut refused, mut unavailable) = (0u64, 0u64, 0u64, 0u64);
        loop {
            match b.reserve(None, e).await {
                Ok(r) => {
                    let actual = e / 2 + rng.random_range(0..=e / 2);
                    r.commit(actual).await.unwrap();
                    committed += actual;
                    calls += 1;
                }
                Err(err) if err.kind == ErrorKind::BudgetExceeded => {
                    refused += 1;
                    let d = err.details.unwrap();
                    let spent = d["spent_nano"].as_u64().unwrap();
                    if limit.saturating_sub(spent) < e {
                        break; // spend only grows: no estimate will fit again today
                    }
                    assert!(refused < 100_000, "refused for ever: {d}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(err) if err.kind == ErrorKind::Network => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(err) => panic!("unexpected error: {err}"),
            }
        }
        println!(
            "{}",
            json!({"committed": committed, "calls": calls, "refused": refused, "unavailable": unavailable})
        );
    });
}

fn spawn_worker(url: &str, prefix: &str, limit_nano: u64, estimate: u64, seed: u64) -> Child {
    let spec = json!({"url": url, "prefix": prefix, "limit_nano": limit_nano,
                      "estimate": estimate, "seed": seed});
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "budget_worker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Each worker's totals line.
fn collect(workers: Vec<Child>) -> Vec<Value> {
    workers
        .into_iter()
        .map(|mut w| {
            // Read to the end: a worker writing into a closed pipe would fail.
            let out: Vec<String> = BufReader::new(w.stdout.take().unwrap())
                .lines()
                .map_while(|l| l.ok())
                .collect();
            let line = out
                .into_iter()
                // The harness prints `test budget_worker ... ` before it on the same line.
                .filter_map(|l| serde_json::from_str::<Value>(&l[l.find('{')?..]).ok())
                .find(|v| v.get("committed").is_some())
                .expect("a worker printed its totals");
            assert!(w.wait().unwrap().success(), "a worker failed");
            line
        })
        .collect()
}

/// Runs 4 workers on one budget; `during` runs while they spend (with the server). Checks the
/// spend never passed the limit, the budget was used up, and Redis holds exactly what the
/// workers committed.
fn four_workers(prefix: &str, during: impl FnOnce(&mut RedisServer, &str)) {
    const LIMIT: u64 = 8 * NANO;
    const E: u64 = NANO / 1000; // 0.001 USD per call
    let mut redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let workers = (0..4)
        .map(|i| spawn_worker(&redis.url(), prefix, LIMIT, E, i))
        .collect();
    during(&mut redis, &day_key(prefix));
    let totals = collect(workers);
    let committed: u64 = totals
        .iter()
        .map(|t| t["committed"].as_u64().unwrap())
        .sum();
    let key = day_key(prefix);
    let (spent, held) = (hget(&redis, &key, "spent"), hget(&redis, &key, "held"));
    eprintln!(
        "{prefix}: committed {committed} of {LIMIT} nano by 4 processes; redis spent {spent}, held {held}; {totals:?}"
    );
    assert!(committed <= LIMIT, "spent {committed} > limit {LIMIT}");
    assert!(LIMIT - committed < E, "the budget was used up");
    assert_eq!(spent, committed, "Redis holds exactly what was committed");
    assert_eq!(held, 0);
}

#[test]
fn four_processes_share_one_budget_and_never_pass_it() {
    four_workers("plain", |_, _| {});
}

#[test]
fn four_processes_stay_within_the_budget_across_a_redis_restart_and_a_script_flush() {
    four_workers("restart", |redis, key| {
        let wait_for = |redis: &RedisServer, at: u64| {
            while hget(redis, key, "spent") < at {
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        // Restart (all counters lost) at a quarter of the budget: each process puts its own
        // share back; SCRIPT FLUSH at half: EVALSHA gets NOSCRIPT and reloads.
        wait_for(redis, 2 * NANO);
        redis.restart().unwrap();
        eprintln!("restarted at 2 USD");
        wait_for(redis, 4 * NANO);
        assert_eq!(redis.command("SCRIPT FLUSH").unwrap(), "+OK");
        eprintln!("scripts flushed at 4 USD");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_calls_on_redis_serve_exactly_n() {
    let redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    const E: u64 = 7_654_321;
    for n in [0u64, 5, 63] {
        let b = shared(
            &redis.url(),
            &format!("c{n}"),
            json!({"daily_usd": (n * E) as f64 / 1e9}),
        )
        .await;
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (b, barrier) = (b.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = b.reserve(None, E).await?;
                    r.commit(E).await
                })
            })
            .collect();
        let mut served = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => served += 1,
                Err(e) => assert_eq!(e.kind, ErrorKind::BudgetExceeded, "{e}"),
            }
        }
        let s = b.snapshot(None).await.unwrap();
        eprintln!(
            "redis, limit for {n}: served {served}/64, spent {}",
            s.windows[0].spent_nano
        );
        assert_eq!(served, n);
        assert_eq!(s.windows[0].spent_nano, n * E);
        assert_eq!(s.windows[0].reserved_nano, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_closed_while_redis_is_down_keeps_commits_and_fires_alerts_once_across_processes() {
    let mut redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let conf = json!({"daily_usd": 1.0, "per_user_daily_usd": 0.6});
    // Two budgets on separate connections: two processes as far as Redis can tell.
    let (a, b) = (
        shared(&redis.url(), "fc", conf.clone()).await,
        shared(&redis.url(), "fc", conf.clone()).await,
    );
    let seen: Arc<Mutex<Vec<BudgetAlert>>> = Arc::default();
    for x in [&a, &b] {
        let s = seen.clone();
        x.on_alert(move |al| s.lock().unwrap().push(al.clone()));
    }
    let key = day_key("fc");
    a.record(Some("ann"), NANO * 2 / 10).await.unwrap();
    assert!(seen.lock().unwrap().is_empty());
    b.record(Some("ann"), NANO * 4 / 10).await.unwrap(); // day 0.6, ann 0.6 of 0.6
    let fired: Vec<String> = seen
        .lock()
        .unwrap()
        .drain(..)
        .map(|a| format!("{} {:?}", a.fraction, a.user))
        .collect();
    assert_eq!(
        fired,
        [
            "0.5 None",
            "0.5 Some(\"ann\")",
            "0.8 Some(\"ann\")",
            "1 Some(\"ann\")"
        ]
    );
    a.record(None, NANO / 20).await.unwrap(); // 0.65: nothing new, whichever process
    assert!(seen.lock().unwrap().is_empty());
    let e = a.reserve(Some("ann"), 1).await.unwrap_err();
    assert_eq!(e.details.unwrap()["limit"], "per_user_daily_usd");

    // Keys expire a day after their window ends (noon + 12 h + 24 h).
    let ttl: u64 = redis
        .command(&format!("TTL {key}"))
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(ttl > 35 * 3600 && ttl <= 36 * 3600, "TTL {ttl}");

    // A reservation dropped uncommitted is released (by a task: Redis needs a round trip).
    let r = a.reserve(None, NANO / 10).await.unwrap();
    assert_eq!(hget(&redis, &key, "held"), NANO / 10);
    drop(r);
    while hget(&redis, &key, "held") != 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Redis down: reserving fails closed; a commit and a record are kept, not lost.
    let r = a.reserve(None, NANO / 10).await.unwrap();
    redis.kill();
    let e = a.reserve(None, 1).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert_eq!(e.details.as_ref().unwrap()["unavailable"], true);
    assert_eq!(a.snapshot(None).await.unwrap_err().kind, ErrorKind::Network);
    r.commit(NANO / 20).await.unwrap();
    a.record(None, NANO / 20).await.unwrap();

    // Back, empty: each process restores its own share as it calls; a's kept spend replays.
    redis.restart().unwrap();
    let s = loop {
        match a.snapshot(Some("ann")).await {
            Ok(s) => break s,
            Err(e) if e.kind == ErrorKind::Network => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    // a: 0.2 + 0.05 before, 0.05 + 0.05 kept while down; b has not called yet.
    assert_eq!(s.windows[0].spent_nano, NANO * 35 / 100);
    assert_eq!(s.windows[2].spent_nano, NANO * 2 / 10);
    let s = b.snapshot(Some("ann")).await.unwrap();
    assert_eq!(s.windows[0].spent_nano, NANO * 75 / 100);
    assert_eq!(s.windows[1].spent_nano, NANO * 75 / 100, "the month too");
    assert_eq!(s.windows[2].spent_nano, NANO * 6 / 10, "and ann's day");
    assert_eq!(s.windows[0].reserved_nano, 0);
    // The alert flags were lost with the restart: 0.8 of the day fires once more at most.
    b.record(None, NANO / 10).await.unwrap(); // 0.85
    a.record(None, NANO / 100).await.unwrap();
    let fired: Vec<f64> = seen.lock().unwrap().drain(..).map(|a| a.fraction).collect();
    assert!(
        fired.contains(&0.8) && fired.iter().filter(|f| **f == 0.8).count() == 1,
        "{fired:?}"
    );
    // Spend kept while Redis was down reaches an alert when it is replayed: delivered then.
    redis.kill();
    a.record(None, NANO / 5).await.unwrap();
    redis.restart().unwrap();
    while let Err(e) = a.snapshot(None).await {
        assert_eq!(e.kind, ErrorKind::Network, "{e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a's own share 0.2 + 0.05 + 0.05 + 0.05 + 0.01 restored, 0.2 replayed: 0.56 of 1.
    let fired: Vec<String> = seen
        .lock()
        .unwrap()
        .drain(..)
        .map(|a| format!("{} {}", a.fraction, a.spent_nano))
        .collect();
    assert_eq!(fired, ["0.5 560000000"]);
}

#[tokio::test]
async fn windows_on_redis_follow_the_clock() {
    let redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let (clock, hand) = Clock::manual();
    hand.set_ns(unix_s(2026, 12, 31, 23, 59, 59) * NANO);
    let c = cfg(json!({"scope": "redis", "daily_usd": 1.0, "monthly_usd": 1.5}));
    let b = Budgets::new(&c, clock, Some(redis.url())).await.unwrap();
    b.record(None, NANO).await.unwrap();
    let e = b.reserve(None, 1).await.unwrap_err();
    let d = e.details.unwrap();
    assert_eq!(
        (d["limit"].as_str(), d["window"].as_str()),
        (Some("daily_usd"), Some("2026-12-31"))
    );
    assert_eq!(d["resets_at"], "2027-01-01T00:00:00Z");
    hand.advance(Duration::from_secs(1));
    b.reserve(None, NANO)
        .await
        .unwrap()
        .commit(NANO)
        .await
        .unwrap();
    let s = b.snapshot(None).await.unwrap();
    assert_eq!(s.windows[0].window, "2027-01-01");
    assert_eq!(s.windows[1].window, "2027-01");
    assert_eq!(hget(&redis, "{trinity:budget}:m:2026-12", "spent"), NANO);
    assert_eq!(hget(&redis, "{trinity:budget}:m:2027-01", "spent"), NANO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_read_a_redis_budget_from_its_last_snapshot_refreshed_in_the_background() {
    let redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let b = shared(&redis.url(), "now", json!({"daily_usd": 2.0})).await;
    let r = b.reserve(None, NANO / 2).await.unwrap();
    r.commit(NANO / 2).await.unwrap();
    // Each read returns the last snapshot and starts the next one: the spend shows up.
    let left = |b: &Budgets| b.snapshot_now().map(|s| s.windows[0].remaining_usd);
    let start = std::time::Instant::now();
    while left(&b) != Some(Some(1.5)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            b.snapshot_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Another process spends: seen at a later read, never blocking one.
    let other = shared(&redis.url(), "now", json!({"daily_usd": 2.0})).await;
    other
        .reserve(None, NANO)
        .await
        .unwrap()
        .commit(NANO)
        .await
        .unwrap();
    while left(&b) != Some(Some(0.5)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            b.snapshot_now()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
