//! The shared Redis rate limit against a real `redis-server`, from several processes at once.
//!
//! The issue asks for "100 requests per minute shared by every worker". A minute makes a slow
//! test, so the limit here is the same shape on a 1 s window: 100 per 1 s, run for a few
//! windows. Exactness is checked with the server timestamps the script returns: sorting every
//! process's admissions, every window [t, t + W) holds at most 100.
//!
//! Worker processes are this test binary re-executed with `--exact limiter_worker` and
//! `TRINITY_LIMITER_WORKER` set; each prints its admissions as JSON lines.

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use trinity_core::resilience::{RateLimit, RedisRateLimiter};
use trinity_core::testing::RedisServer;
use trinity_core::{rt, ErrorKind};

const WORKER_ENV: &str = "TRINITY_LIMITER_WORKER";
const LIMIT: u64 = 100;
const WINDOW: Duration = Duration::from_secs(1);
const PROCESSES: usize = 4;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Worker mode: `{"url", "key", "start_ms", "run_ms"}` in the environment. From `start_ms`
/// (Unix ms) for `run_ms` it admits one request at a time as fast as the limit allows, and
/// prints `{"ts": server_time_us}` per admission; Redis being unavailable (a restart) is
/// waited out.
#[test]
fn limiter_worker() {
    let Ok(spec) = std::env::var(WORKER_ENV) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let (url, key) = (spec["url"].as_str().unwrap(), spec["key"].as_str().unwrap());
    let start = spec["start_ms"].as_u64().unwrap();
    let end = start + spec["run_ms"].as_u64().unwrap();
    rt::runtime().block_on(async {
        let limit = RateLimit {
            rpm: Some(LIMIT),
            tpm: None,
            window: WINDOW,
        };
        let limiter = RedisRateLimiter::new(url, key, limit).await.unwrap();
        tokio::time::sleep(Duration::from_millis(start.saturating_sub(unix_ms()))).await;
        let mut unavailable = 0;
        while unix_ms() < end {
            let left = Duration::from_millis(end.saturating_sub(unix_ms()));
            match tokio::time::timeout(left, limiter.acquire(1)).await {
                Err(_) => break,
                Ok(Ok(a)) => println!("{}", json!({"ts": a.server_time_us})),
                Ok(Err(e)) if e.kind == ErrorKind::Network => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(Err(e)) => panic!("unexpected error: {e}"),
            }
        }
        println!("{}", json!({"unavailable": unavailable}));
    });
}

fn spawn_worker(url: &str, key: &str, start_ms: u64, run_ms: u64) -> Child {
    let spec = json!({"url": url, "key": key, "start_ms": start_ms, "run_ms": run_ms});
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "limiter_worker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Every worker's admission times (µs, server clock), all processes merged and sorted.
fn collect(workers: Vec<Child>) -> Vec<u64> {
    let mut all = Vec::new();
    for mut w in workers {
        let out = BufReader::new(w.stdout.take().unwrap());
        for line in out.lines().map_while(|l| l.ok()) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(ts) = v["ts"].as_u64() {
                    all.push(ts);
                }
            }
        }
        assert!(w.wait().unwrap().success(), "a worker failed");
    }
    all.sort_unstable();
    all
}

/// The most admissions in any window [t, t + W) (the busiest window starts at an admission).
fn busiest_window(ts: &[u64]) -> u64 {
    let w = WINDOW.as_micros() as u64;
    let mut best = 0;
    let mut j = 0;
    for i in 0..ts.len() {
        while j < ts.len() && ts[j] < ts[i] + w {
            j += 1;
        }
        best = best.max(j - i);
    }
    best as u64
}

/// The server's clock (µs since the epoch), from `TIME`.
fn server_time_us(redis: &RedisServer) -> u64 {
    let reply = redis.command("TIME").unwrap();
    let nums: Vec<u64> = reply
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "TIME reply: {reply:?}");
    nums[0] * 1_000_000 + nums[1]
}

/// At most `LIMIT` in every window, and at least `min_use` of the capacity used over `span`.
fn check_epoch(name: &str, ts: &[u64], span: Duration, min_use: f64) {
    let busiest = busiest_window(ts);
    let capacity = LIMIT as f64 * span.as_secs_f64() / WINDOW.as_secs_f64();
    eprintln!(
        "{name}: {} admissions, busiest window {busiest}/{LIMIT}, {:.0}% of {capacity:.0}",
        ts.len(),
        100.0 * ts.len() as f64 / capacity
    );
    assert!(
        busiest <= LIMIT,
        "{name}: a window held {busiest} > {LIMIT}"
    );
    assert!(
        ts.len() as f64 >= min_use * capacity,
        "{name}: only {} admissions of a capacity of {capacity:.0}",
        ts.len()
    );
}

#[test]
fn four_processes_share_one_limit_exactly() {
    let redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let run = Duration::from_secs(4);
    let start = unix_ms() + 1500;
    let workers = (0..PROCESSES)
        .map(|_| spawn_worker(&redis.url(), "shared", start, run.as_millis() as u64))
        .collect();
    let ts = collect(workers);
    // 4 s from the first admission span 4 windows (each window's 100 go out as a burst).
    check_epoch("4 processes", &ts, run, 0.75);
}

#[test]
fn exact_across_script_flush_and_recovers_after_a_restart() {
    let mut redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let start = unix_ms() + 1500;
    let run_ms = 6000;
    let workers: Vec<Child> = (0..PROCESSES)
        .map(|_| spawn_worker(&redis.url(), "flush", start, run_ms))
        .collect();
    // SCRIPT FLUSH at ~1.5 s in: the next EVALSHA gets NOSCRIPT and reloads; the logs stay.
    std::thread::sleep(Duration::from_millis(start + 1500 - unix_ms()));
    assert_eq!(redis.command("SCRIPT FLUSH").unwrap(), "+OK");
    // Restart at ~3 s in: the logs are lost, so windows are checked on each side of it.
    std::thread::sleep(Duration::from_millis(start + 3000 - unix_ms()));
    redis.restart().unwrap();
    let back_at = server_time_us(&redis);
    let ts = collect(workers);
    let (before, after): (Vec<u64>, Vec<u64>) = ts.iter().partition(|&&t| t < back_at);
    check_epoch(
        "before the restart (script flushed)",
        &before,
        Duration::from_secs(3),
        0.6,
    );
    let end_us = (start + run_ms) * 1000;
    check_epoch(
        "after the restart",
        &after,
        Duration::from_micros(end_us.saturating_sub(back_at)),
        0.5,
    );
}

#[tokio::test]
async fn keys_expire_oversized_requests_fail_at_once_and_tokens_reconcile() {
    let mut redis = RedisServer::start().expect("redis-server installed by `make setup-redis`");
    let limit = RateLimit {
        rpm: Some(2),
        tpm: Some(1000),
        window: Duration::from_secs(30),
    };
    let limiter = RedisRateLimiter::new(&redis.url(), "ttl", limit)
        .await
        .unwrap();

    let a = limiter.try_acquire(600).await.unwrap();
    for key in limiter.redis_keys() {
        let pttl: i64 = redis
            .command(&format!("PTTL {key}"))
            .unwrap()
            .trim_start_matches(':')
            .parse()
            .unwrap();
        assert!(pttl > 0 && pttl <= 30_000, "PTTL {key} = {pttl}");
    }

    // Too large for the token limit: fails without waiting, and says it can never fit.
    let t = std::time::Instant::now();
    let e = limiter.acquire(1001).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.details.as_ref().unwrap()["retryable"], false);

    // 600 + 500 > 1000 now; after reconciling the first to 300 it fits.
    let e = limiter.try_acquire(500).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    let wait = e.details.as_ref().unwrap()["retry_after_ms"]
        .as_u64()
        .unwrap();
    assert!(wait > 29_000 && wait <= 30_000, "retry_after_ms = {wait}");
    limiter.reconcile(&a, 300).await.unwrap();
    limiter.try_acquire(500).await.unwrap();

    // Two requests per window: the third waits for the first to leave.
    let e = limiter.try_acquire(1).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    let s = limiter.snapshot().await.unwrap();
    assert_eq!((s.requests_in_window, s.tokens_in_window), (2, 800));
    assert_eq!(
        (s.remaining_requests, s.remaining_tokens),
        (Some(0), Some(200))
    );
    assert_eq!((s.admitted, s.rejected), (2, 2));
    assert!(s.retry_after_ms > 29_000);

    // Redis down: `network` (limiter unavailable), never a hang or a panic.
    redis.kill();
    let e = limiter.try_acquire(1).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert_eq!(e.details.as_ref().unwrap()["unavailable"], true);
}
