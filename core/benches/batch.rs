//! The batch runner against the client's own throughput, on the same mock server: N requests
//! (default 100,000; TRINITY_BENCH_BATCH_N) at concurrency 256, answered after 0 and 20 ms
//! (TRINITY_BENCH_BATCH_LATENCIES=0,20), first as plain `client.chat` calls (the ceiling),
//! then through `batch::run` with its journal and part file synced in groups; three
//! alternating rounds, medians. Prints both rates, their ratio, the first pass's share, the
//! final rewrite in input order timed alone, and resident memory through the last batch run.
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

// The allocator the CLI (`trinity batch run`), the wheel and the Node addon run with: under
// glibc's malloc both sides spend a tenth of their time on its arena locks.
#[global_allocator]
static ALLOC: trinity_core::Allocator = trinity_core::Allocator;

const CONCURRENCY: usize = 256;
const ROUNDS: usize = 3;

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

/// `output::finish` alone on `output`'s lines written in reverse order as a part file (every
/// line away from its place, as a run's finishing order never is): seconds, syncs included.
fn rewrite_s(output: &std::path::Path, dir: &std::path::Path) -> f64 {
    use std::io::Write;
    use trinity_core::batch::output::{self, Span, Spans};
    let text = std::fs::read_to_string(output).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let order: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let part = dir.join("rewrite.part");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&part).unwrap());
    let (mut spans, mut offset) = (Spans::new(), 0u64);
    for (line, id) in lines.iter().zip(&order).rev() {
        writeln!(w, "{line}").unwrap();
        let len = line.len() + 1;
        spans.insert(
            id.clone(),
            Span {
                offset,
                len,
                failed: false,
            },
        );
        offset += len as u64;
    }
    w.into_inner().unwrap().sync_all().unwrap();
    let started = Instant::now();
    output::finish(&part, &dir.join("rewrite.jsonl"), &order, &spans).unwrap();
    started.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("TRINITY_BENCH_BATCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
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
    // An answer at once (the runner's own cost, all on the CPU), then after 20 ms (a fast
    // provider: the network dominates, as it does in production).
    let latencies: Vec<u64> = std::env::var("TRINITY_BENCH_BATCH_LATENCIES")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|ms| ms.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![0, 20]);
    for latency_ms in latencies {
        compare(n, latency_ms, &input, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn compare(n: usize, latency_ms: u64, input: &std::path::Path, dir: &std::path::Path) {
    let server = MockServer::start(
        MockConfig::from_json(json!({"seed": 1, "default_response": "echo",
            "latency": {"dist": "fixed", "ms": latency_ms}}))
        .unwrap(),
    )
    .unwrap();
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", server.url()), "api_key": "k"}},
        "queue": {"max_concurrency": 512, "max_length": 100_000},
        "logging": {"level": "error"},
    });
    let client =
        Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap());
    // The ceiling: the same requests as plain client calls, 256 at a time.
    let plain_run = || {
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
        n as f64 / started.elapsed().as_secs_f64()
    };
    // The batch runner into a fresh output, resident memory sampled every 250 ms.
    let batch_run = |round: usize| {
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
            ..BatchOptions::new(input, dir.join(format!("out{latency_ms}-{round}.jsonl")))
        };
        let started = Instant::now();
        let summary = rt::block_on(batch::run(
            client.clone(),
            &opts,
            Control::new(),
            Arc::new(Progress::default()),
        ))
        .unwrap();
        let rate = n as f64 / started.elapsed().as_secs_f64();
        sampling.store(false, Ordering::Relaxed);
        assert!(summary.complete && summary.succeeded == n, "{summary:?}");
        (rate, samples.join().unwrap())
    };
    // The first pass alone: every line parsed and checked, ids indexed, the input hashed.
    let started = Instant::now();
    batch::index(input).unwrap();
    let index_s = started.elapsed().as_secs_f64();

    // Alternating rounds, medians: one run of each is at the mercy of a noisy machine.
    let mut plain = Vec::new();
    let mut batched = Vec::new();
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        plain.push(plain_run());
        let (rate, samples) = batch_run(round);
        batched.push(rate);
        rss = samples;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, batched) = (median(&mut plain), median(&mut batched));
    let q = |f: f64| rss[((rss.len() - 1) as f64 * f) as usize];
    println!(
        "batch: {n} requests at concurrency {CONCURRENCY}, in-process mock server answering after {latency_ms} ms, median of {ROUNDS} alternating rounds"
    );
    println!("  client.chat          {plain:>9.0} req/s");
    println!(
        "  batch::run (journal) {batched:>9.0} req/s   ratio {:.3}",
        batched / plain
    );
    println!(
        "  of which the first pass (every line parsed and checked before sending): {:.2} s of {:.2} s",
        index_s,
        n as f64 / batched
    );
    println!(
        "  and the rewrite in input order (timed alone, the last run's lines reversed): {:.2} s",
        rewrite_s(
            &dir.join(format!("out{latency_ms}-{}.jsonl", ROUNDS - 1)),
            dir
        )
    );
    println!(
        "  resident memory during the last batch run: first {:.0} MB, median {:.0} MB, last {:.0} MB, max {:.0} MB ({} samples)",
        rss[0],
        q(0.5),
        rss[rss.len() - 1],
        rss.iter().cloned().fold(0.0, f64::max),
        rss.len()
    );
}
