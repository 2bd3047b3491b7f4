//! The batch runner against the client's own throughput, on the same mock server: N requests
//! (default 100,000; TRINITY_BENCH_BATCH_N) at concurrency 256, first as plain `client.chat`
//! calls (the ceiling), then through `batch::run` with its journal and part file synced in
//! groups. Prints both rates, their ratio, and resident memory sampled through the batch run.
//!
//! Run: cargo bench -p trinity-core --bench batch

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use trinity_core::batch::{self, BatchOptions, Control, Progress};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::rt;

const CONCURRENCY: usize = 256;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn request(i: usize) -> serde_json::Value {
    json!({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": format!("Summarise item {i} in one line.")}], "max_tokens": 50})
}

fn main() {
    let n: usize = std::env::var("TRINITY_BENCH_BATCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = MockServer::start(
        MockConfig::from_json(json!({"seed": 1, "default_response": "echo"})).unwrap(),
    )
    .unwrap();
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", server.url()), "api_key": "k"}},
        "queue": {"max_concurrency": 512, "max_length": 100_000},
        "logging": {"level": "error"},
    });
    let client =
        Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap());
    let dir = std::env::temp_dir().join(format!("trinity-bench-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.jsonl");
    let mut text = String::with_capacity(n * 130);
    for i in 0..n {
        let mut line = request(i);
        line["custom_id"] = json!(format!("item-{i}"));
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();

    // The ceiling: the same requests as plain client calls, 256 at a time.
    let started = Instant::now();
    rt::block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let client = client.clone();
            tasks.spawn(async move {
                let req = ChatRequest::from_json(request(i)).unwrap();
                client.chat(req).await.unwrap();
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    });
    let plain = n as f64 / started.elapsed().as_secs_f64();

    let sampling = Arc::new(AtomicBool::new(true));
    let samples = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                v.push(rss_mb());
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            v
        })
    };
    let opts = BatchOptions {
        concurrency: CONCURRENCY,
        ..BatchOptions::new(&input, dir.join("out.jsonl"))
    };
    let started = Instant::now();
    let summary = rt::block_on(batch::run(
        client,
        &opts,
        Control::new(),
        Arc::new(Progress::default()),
    ))
    .unwrap();
    let batched = n as f64 / started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let rss = samples.join().unwrap();
    assert!(summary.complete && summary.succeeded == n, "{summary:?}");
    let q = |f: f64| rss[((rss.len() - 1) as f64 * f) as usize];
    println!("batch: {n} requests at concurrency {CONCURRENCY} against the in-process mock server");
    println!("  client.chat          {plain:>9.0} req/s");
    println!(
        "  batch::run (journal) {batched:>9.0} req/s   ratio {:.3}",
        batched / plain
    );
    println!(
        "  resident memory during the batch run: first {:.0} MB, median {:.0} MB, last {:.0} MB, max {:.0} MB ({} samples)",
        rss[0],
        q(0.5),
        rss[rss.len() - 1],
        rss.iter().cloned().fold(0.0, f64::max),
        rss.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
