//! Client benchmarks, side by side in one run:
//! 1. engine overhead per call without a network (request build, routing, body, parsing a
//!    1 KB answer, cost), median and p99;
//! 2. requests per second against `trinity mock-server` on loopback, next to `wrk` on the
//!    same server (the ceiling a client on this machine can reach);
//! 3. resident memory across one million requests.
//!
//! Run: cargo bench -p trinity-core --bench client  (needs target/release/trinity and wrk)

use futures_util::StreamExt;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::wire::Format;
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::rt;

const PROMPT: &str = "Summarise the benefits of caching LLM responses in one sentence.";

fn request_json(model: &str) -> serde_json::Value {
    json!({"model": model, "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}],
           "temperature": 0.2, "max_tokens": 200})
}

fn client(provider: serde_json::Value) -> Client {
    client_with(provider, json!({}))
}

fn client_with(provider: serde_json::Value, extra: serde_json::Value) -> Client {
    let mut config = json!({"providers": {"p": provider}});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {label:<52} median {:>6.2} µs   p99 {:>6.2} µs",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

/// 1 KB of answer text in OpenAI's response envelope.
fn answer_1kb() -> Vec<u8> {
    let text = "Caching LLM responses avoids paying twice for the same prompt. ".repeat(16);
    serde_json::to_vec(&json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 24, "completion_tokens": 230, "total_tokens": 254}}))
    .unwrap()
}

fn engine_overhead() {
    println!("engine overhead per call, no network (100,000 calls each):");
    let n = 100_000;
    // In-process provider: validation, routing, fixture answer, usage and cost.
    let fixture = json!({"a": {"prompt": PROMPT, "response": "x".repeat(1024), "metadata": {"tokens": 230, "prompt_tokens": 24}}});
    let value = request_json("p/gpt-4o-mini");
    let in_process = |extra: serde_json::Value| {
        let c = client_with(json!({"kind": "mock", "fixtures": fixture}), extra);
        rt::block_on(async {
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                let req = ChatRequest::from_json(value.clone()).unwrap();
                let r = c.chat(req).await.unwrap();
                std::hint::black_box(r);
                samples.push(t.elapsed());
            }
            samples
        })
    };
    report(
        "chat() via the in-process mock provider",
        in_process(json!({"logging": {"request_log": false}})),
    );
    report(
        "  the same with request log, cost tracker and budget",
        in_process(json!({"budget": {"daily_usd": 1000000}})),
    );

    // The HTTP path minus the socket: request build, routing, body, 1 KB answer parsed, cost.
    let http = client(json!({"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}));
    let answer = answer_1kb();
    let format = Format::OpenAi {
        strict_openai: true,
    };
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let req = ChatRequest::from_json(value.clone()).unwrap();
        let target = http.resolve(&req.model).unwrap();
        let body = serde_json::to_vec(&format.body(&req, &target.model, false, None)).unwrap();
        let resp = format.parse(&answer).unwrap();
        let cost = trinity_core::cost::cost(target.info.as_deref(), &resp.usage, false);
        std::hint::black_box((body, resp, cost));
        samples.push(t.elapsed());
    }
    report(
        "request → routing → body → parse 1 KB answer → cost",
        samples,
    );
    cost_of_one_call();
    scrub_throughput();
}

/// Issue 14's bar: scrubbing ≥ 200 MB/s, on log-like text (one key per ~2 KB).
fn scrub_throughput() {
    let line = "2026-12-03T15:21:32.123Z INFO request to openai model=gpt-4o-mini status=200 \
                latency_ms=412.5 tokens=230 user=ada retry=0 cache=miss queue_ms=0.4\n";
    let mut text = String::new();
    while text.len() < 1 << 20 {
        for _ in 0..24 {
            text.push_str(line);
        }
        text.push_str("error: HTTP 401: Incorrect API key provided: sk-proj-AbCdEf0123456789xyz\n");
    }
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(trinity_core::observe::scrub(std::hint::black_box(&text)));
    }
    let mb_s = (text.len() * n) as f64 / 1e6 / t.elapsed().as_secs_f64();
    println!(
        "  {:<52} {:>6.0} MB/s (bar ≥ 200)",
        "scrubbing log text (keys, auth, emails, cards)", mb_s
    );
}

/// Issue 12's bar: pricing one call (registry model, cached and reasoning tokens) ≤ 100 ns.
fn cost_of_one_call() {
    let registry = trinity_core::Registry::builtin();
    let model = registry.get("claude-sonnet-4-5").unwrap();
    let usage = trinity_core::llm::Usage {
        prompt_tokens: 5_000,
        completion_tokens: 900,
        total_tokens: 5_900,
        cached_tokens: 4_000,
        cache_write_tokens: 500,
        reasoning_tokens: 300,
        ..Default::default()
    };
    let n = 2_000_000u32;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(trinity_core::cost::cost(
            Some(std::hint::black_box(&model)),
            std::hint::black_box(&usage),
            false,
        ));
    }
    println!(
        "  {:<52} {:>6.1} ns/call",
        "cost of one call (nano-USD, 5 token kinds)",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}

/// Issue 12's bar: cost, budget and request log on cost at most 5% of throughput.
fn books_overhead(url: &str) {
    let off = json!({"logging": {"request_log": false}});
    let on = json!({"budget": {"daily_usd": 1000000}, "logging": {"request_log": true}});
    on_off(url, "cost + budget + request log", off, on, false);
}

/// Issue 14's bar: all telemetry on (request log, metrics, provider monitor, logs into a sink
/// that counts the records) costs at most 5% of throughput. Twice: logs at `warn` (a line for
/// each failure, retry and fallback, none for an answered call: what most services run) and at
/// `info` (a line for every call, built, scrubbed and rendered).
fn telemetry_overhead(url: &str) {
    let off = json!({"logging": {"request_log": false, "level": "error"},
                     "metrics": {"enabled": false}, "monitor": {"enabled": false}});
    for level in ["warn", "info"] {
        let on = json!({"logging": {"request_log": true, "level": level},
                        "metrics": {"enabled": true}, "monitor": {"enabled": true}});
        on_off(
            url,
            &format!("telemetry (request log, metrics, monitor, logs at {level} to a sink)"),
            off.clone(),
            on,
            true,
        );
    }
}

/// `on` against `off`, 50 concurrent. Throughput on a shared 2-core machine drifts by tens of
/// percent within a minute, so the two clients are built once and timed in short paired
/// rounds (order alternating), and the verdict is the median of the rounds' ratios; `logs`:
/// the `on` client's log records go to a sink.
fn on_off(url: &str, what: &str, off: serde_json::Value, on: serde_json::Value, logs: bool) {
    const ROUNDS: usize = 20;
    const ROUND: Duration = Duration::from_millis(1000);
    println!(
        "{what} on vs off, 50 concurrent, {ROUNDS} paired rounds of {ROUND:?} each (medians):"
    );
    // Distinct requests: each goes upstream, is priced, held against the budget and settled.
    let distinct = distinct("p/gpt-4o-mini");
    let records = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = records.clone();
    let provider = json!({"kind": "openai_compatible", "base_url": format!("{url}/v1")});
    let off = Arc::new(client_with(provider.clone(), off));
    let on = Arc::new(client_with(provider, on));
    if logs {
        on.on_log(Arc::new(
            move |batch: &[trinity_core::observe::log::LogRecord]| {
                count.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
            },
        ));
    }
    if let Ok(which) = std::env::var("TRINITY_PROFILE_ONLY") {
        // For a profiler: one of the first pair's clients alone, 10 s.
        let c = if which == "on" { &on } else { &off };
        let got = timed_round(c, &distinct, Duration::from_secs(10));
        println!("  {which} alone: {got:?}");
        std::process::exit(0);
    }
    let mut pair = [(&off, 0usize), (&on, 1usize)];
    let mut got = [Vec::new(), Vec::new()];
    timed_round(&off, &distinct, ROUND); // warm-up: connections, allocator arenas, caches
    timed_round(&on, &distinct, ROUND);
    for _ in 0..ROUNDS {
        pair.reverse();
        for (client, slot) in pair {
            got[slot].push(timed_round(client, &distinct, ROUND));
        }
    }
    let median = |mut x: Vec<f64>| {
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let col = |i: usize, pick: fn(&(f64, f64)) -> f64| got[i].iter().map(pick).collect::<Vec<_>>();
    let ratios = |pick: fn(&(f64, f64)) -> f64| {
        col(1, pick)
            .iter()
            .zip(col(0, pick))
            .map(|(b, a)| b / a)
            .collect::<Vec<_>>()
    };
    let rps = ratios(|r| r.0);
    let (lo, hi) = rps
        .iter()
        .fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
    println!(
        "  throughput: off {:>8.0} req/s · on {:>8.0} req/s · on/off {:.3} (bar ≥ 0.95; rounds {lo:.2}-{hi:.2})",
        median(col(0, |r| r.0)),
        median(col(1, |r| r.0)),
        median(rps)
    );
    println!(
        "  client CPU per request: off {:.1} µs · on {:.1} µs · on/off {:.3}",
        median(col(0, |r| r.1)),
        median(col(1, |r| r.1)),
        median(ratios(|r| r.1))
    );
    if logs {
        let n = records.load(std::sync::atomic::Ordering::Relaxed);
        println!("  log records delivered to the sink: {n}");
    }
}

/// One round of 50 concurrent calls for `length`: requests per second and the process's
/// CPU µs per request.
fn timed_round(
    c: &Arc<Client>,
    make: &(impl Fn(usize) -> ChatRequest + Clone + 'static),
    length: Duration,
) -> (f64, f64) {
    let (c, make) = (c.clone(), make.clone());
    rt::block_on(async move {
        let (started, cpu) = (Instant::now(), cpu_us());
        let deadline = started + length;
        let n = futures_util::stream::iter(0..)
            .take_while(move |_| std::future::ready(Instant::now() < deadline))
            .map(move |i| {
                let c = c.clone();
                let req = make(i);
                async move { c.chat(req).await.unwrap() }
            })
            .buffer_unordered(50)
            .count()
            .await as f64;
        (n / started.elapsed().as_secs_f64(), (cpu_us() - cpu) / n)
    })
}

fn start_server() -> (Child, String) {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let mut child = Command::new(format!("{target}/release/trinity"))
        .args(["mock-server", "--port", "0", "--ignore-stdin"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("target/release/trinity (cargo build --release -p trinity-cli)");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    (child, url)
}

/// Request `i` of a run: distinct, so no two share a call in flight (identical requests would
/// be joined into one upstream call and measure the single-flight, not the client).
fn distinct(model: &str) -> impl Fn(usize) -> ChatRequest + Clone + 'static {
    let base = request_json(model);
    move |i| {
        let mut v = base.clone();
        v["user"] = json!(format!("user-{i}"));
        ChatRequest::from_json(v).unwrap()
    }
}

/// Requests per second of the client with `concurrency` in flight for `secs`.
fn client_rps(url: &str, concurrency: usize, secs: u64) -> f64 {
    client_rps_of(url, concurrency, secs, json!({}), distinct("p/mock-model"))
}

/// The same, with request `i` made by `make` (distinct requests never share a call in flight).
fn client_rps_of(
    url: &str,
    concurrency: usize,
    secs: u64,
    extra: serde_json::Value,
    make: impl Fn(usize) -> ChatRequest + Clone + 'static,
) -> f64 {
    client_run(url, concurrency, secs, extra, make).0
}

/// CPU time this process has used (every thread, user and system), in µs. The mock server is
/// another process, so this is the client's alone.
fn cpu_us() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Requests per second, and the client's CPU µs per request, with `concurrency` in flight.
fn client_run(
    url: &str,
    concurrency: usize,
    secs: u64,
    extra: serde_json::Value,
    make: impl Fn(usize) -> ChatRequest + Clone + 'static,
) -> (f64, f64) {
    let c = Arc::new(client_with(
        json!({"kind": "openai_compatible", "base_url": format!("{url}/v1")}),
        extra,
    ));
    rt::block_on(async {
        let run = |deadline: Instant| {
            let c = c.clone();
            let make = make.clone();
            futures_util::stream::iter(0..)
                .take_while(move |_| std::future::ready(Instant::now() < deadline))
                .map(move |i| {
                    let c = c.clone();
                    let req = make(i);
                    async move { c.chat(req).await.unwrap() }
                })
                .buffer_unordered(concurrency)
                .count()
        };
        run(Instant::now() + Duration::from_secs(1)).await; // warm-up: connections, caches
        let (started, cpu) = (Instant::now(), cpu_us());
        let n = run(started + Duration::from_secs(secs)).await as f64;
        (n / started.elapsed().as_secs_f64(), (cpu_us() - cpu) / n)
    })
}

fn wrk_rps(url: &str, concurrency: usize, secs: u64) -> Option<f64> {
    let body = serde_json::to_string(
        &json!({"model": "mock-model", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .unwrap();
    let script = std::env::temp_dir().join("trinity-wrk-post.lua");
    let mut f = std::fs::File::create(&script).ok()?;
    writeln!(f, "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {body:?}").ok()?;
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{concurrency}"),
            &format!("-d{secs}s"),
            "-s",
        ])
        .arg(&script)
        .arg(format!("{url}/v1/chat/completions"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| {
        l.strip_prefix("Requests/sec:")
            .map(|v| v.trim().parse().unwrap())
    })
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; nothing to list here
    }
    if std::env::args().any(|a| a == "telemetry") {
        // `cargo bench -p trinity-core --bench client -- telemetry`: only issue 14's pairs.
        let (mut server, url) = start_server();
        telemetry_overhead(&url);
        let _ = server.kill();
        return;
    }
    engine_overhead();

    let (mut server, url) = start_server();
    println!("loopback throughput, 50 concurrent, 5 s, against `trinity mock-server` ({url}):");
    let ours = client_rps(&url, 50, 5);
    match wrk_rps(&url, 50, 5) {
        Some(wrk) => println!(
            "  trinity client {ours:>8.0} req/s · wrk {wrk:>8.0} req/s · {:.0}% of wrk",
            ours / wrk * 100.0
        ),
        None => {
            println!("  trinity client {ours:>8.0} req/s · wrk not installed (apt-get install wrk)")
        }
    }

    books_overhead(&url);
    telemetry_overhead(&url);

    println!("memory across 1,000,000 requests (50 concurrent):");
    let c = Arc::new(client(
        json!({"kind": "openai_compatible", "base_url": format!("{url}/v1")}),
    ));
    let make = distinct("p/mock-model");
    let batch = |n: usize| {
        let c = c.clone();
        let make = make.clone();
        rt::block_on(
            futures_util::stream::iter(0..n)
                .map(move |i| {
                    let c = c.clone();
                    let req = make(i);
                    async move { c.chat(req).await.unwrap() }
                })
                .buffer_unordered(50)
                .count(),
        )
    };
    batch(100_000);
    let warm = rss_mb();
    batch(900_000);
    let end = rss_mb();
    println!(
        "  RSS after 100k: {warm:.1} MB · after 1M: {end:.1} MB · growth {:.1} MB (target < 50 MB)",
        end - warm
    );
    let _ = server.kill();
    let _ = server.wait();
}
