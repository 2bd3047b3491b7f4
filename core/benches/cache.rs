//! Cache benchmarks: memory-tier lookup (bar: < 300 ns), chat key derivation for a ~1 KB
//! request, a filesystem-tier hit (bar: < 50 µs), and resident memory of the memory tier under
//! one million distinct entries against its byte limit (bar: within 10%).
//!
//! Run: cargo bench -p trinity-core --bench cache

use serde_json::json;
use std::time::Instant;
use trinity_core::cache::{Cache, Kind, Strategy};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::ChatRequest;

fn cache(v: serde_json::Value) -> Cache {
    let mut c = json!({"enabled": true, "memory": null});
    c.as_object_mut()
        .unwrap()
        .extend(v.as_object().unwrap().clone());
    Cache::new(
        &Config::from_value(json!({ "cache": c }), EnvOverrides::Ignore)
            .unwrap()
            .cache,
    )
    .unwrap()
}

/// Best of 5 of the mean nanoseconds per call.
fn ns_per(mut f: impl FnMut(), n: u32) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let payload = trinity_core::cache::Bytes::from("x".repeat(300));
    let mem = cache(json!({"memory": {"max_entries": 100000}}));
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("trinity:content:{i:064x}"))
        .collect();
    for k in &keys {
        mem.put_blocking(k, mem.entry(Kind::Value, payload.clone(), None));
    }
    let mut i = 0;
    let hit = ns_per(
        || {
            i = (i + 1) % keys.len();
            std::hint::black_box(mem.get_memory(&keys[i]));
        },
        2_000_000,
    );
    println!("memory tier hit (10k entries, 300 B values)      {hit:8.0} ns   bar < 300 ns");

    let req = ChatRequest::from_json(json!({"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 300,
        "messages": [{"role": "system", "content": "You write concise, friendly product copy. ".repeat(8)},
                     {"role": "user", "content": "Write a hero headline and a pitch for a coffee shop. ".repeat(10)}]}))
    .unwrap();
    let key_ns = ns_per(
        || {
            std::hint::black_box(trinity_core::cache::chat_key(
                &req,
                None,
                Strategy::Content,
                "ns",
            ));
        },
        100_000,
    );
    println!("chat key, ~1 KB request (canonical JSON + SHA-256) {key_ns:8.0} ns");

    let dir = tempfile::tempdir().unwrap();
    let fs = cache(json!({"filesystem": {"path": dir.path().to_str().unwrap()}}));
    fs.put_blocking("k", fs.entry(Kind::Value, payload.clone(), None));
    let fs_hit = ns_per(
        || {
            std::hint::black_box(fs.get_blocking("k"));
        },
        20_000,
    ) / 1000.0;
    println!("filesystem tier hit (SHA-256 checked)             {fs_hit:8.1} µs   bar < 50 µs");

    let limit: u64 = 256 << 20;
    let before = rss_bytes();
    let big = cache(json!({"memory": {"max_entries": 10_000_000, "max_bytes": limit}}));
    let value = trinity_core::cache::Bytes::from("v".repeat(200));
    for i in 0..1_000_000u64 {
        let k = format!("trinity:content:{i:064x}");
        // Each entry owns its payload, as entries filled from a response do.
        big.put_blocking(
            &k,
            big.entry(
                Kind::Value,
                trinity_core::cache::Bytes::copy_from_slice(&value),
                None,
            ),
        );
    }
    let grown = rss_bytes().saturating_sub(before);
    let s = big.stats();
    println!(
        "1M distinct entries, limit {} MiB: {} entries kept, resident +{:.1} MiB = {:.2}x the limit   bar <= 1.10x",
        limit >> 20,
        s.entries,
        grown as f64 / 1048576.0,
        grown as f64 / limit as f64
    );
}
