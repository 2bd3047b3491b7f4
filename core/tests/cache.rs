//! The response cache: every tier alone and stacked, a real Redis (restarted mid-run), TTL
//! with a controlled clock, damaged files, hostile keys, concurrent writers, writer
//! processes killed at random moments, and the client serving repeats from the cache.

use bytes::Bytes;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use trinity_core::cache::{Cache, Clock, Kind, ManualClock, Purge, SystemClock};
use trinity_core::config::{CacheConfig, Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::rt;
use trinity_core::testing::RedisServer;

fn config(v: Value) -> CacheConfig {
    let mut c = json!({"enabled": true, "memory": null});
    c.as_object_mut()
        .unwrap()
        .extend(v.as_object().unwrap().clone());
    Config::from_value(json!({ "cache": c }), EnvOverrides::Ignore)
        .unwrap()
        .cache
}

fn now() -> u64 {
    SystemClock.now_ms()
}

fn put(c: &Cache, key: &str, value: &str, ttl_s: Option<u64>) {
    c.put_blocking(
        key,
        c.entry(Kind::Value, Bytes::from(value.to_string()), ttl_s),
    );
}

fn get(c: &Cache, key: &str) -> Option<String> {
    c.get_blocking(key)
        .map(|e| String::from_utf8(e.payload.to_vec()).unwrap())
}

fn fs_config(dir: &Path) -> Value {
    json!({"filesystem": {"path": dir.to_str().unwrap()}})
}

#[test]
fn memory_tier_alone_expires_by_ttl_and_idle_time_on_a_controlled_clock() {
    let clock = ManualClock::new(1_000_000);
    let cfg = config(
        json!({"ttl_s": 10, "memory": {"max_entries": 100, "max_bytes": 1000000, "idle_s": 4}}),
    );
    let c = Cache::with_clock(&cfg, clock.clone()).unwrap();
    put(&c, "a", "1", None);
    put(&c, "b", "2", Some(2));
    assert_eq!(get(&c, "a").as_deref(), Some("1"));
    clock.advance(2_000);
    assert_eq!(get(&c, "b"), None, "its own ttl of 2 s");
    assert_eq!(get(&c, "a").as_deref(), Some("1"));
    clock.advance(3_000);
    assert_eq!(get(&c, "a").as_deref(), Some("1"), "read 3 s ago: not idle");
    clock.advance(4_000);
    assert_eq!(get(&c, "a"), None, "idle for 4 s");
    put(&c, "c", "3", None);
    for _ in 0..3 {
        clock.advance(3_000);
        assert!(get(&c, "c").is_some());
    }
    clock.advance(1_000);
    assert_eq!(get(&c, "c"), None, "10 s ttl even when read often");
    let s = c.stats();
    assert_eq!((s.tiers[0].hits, s.tiers[0].misses), (6, 3));
}

#[test]
fn memory_tier_holds_its_entry_and_byte_bounds() {
    let cfg = config(json!({"memory": {"max_entries": 200, "max_bytes": 10000000}}));
    let c = Cache::new(&cfg).unwrap();
    for i in 0..2000 {
        put(&c, &format!("k{i}"), "v", None);
    }
    let s = c.stats();
    assert!(s.entries <= 200, "{}", s.entries);
    assert!(s.tiers[0].evictions >= 1800, "{:?}", s.tiers[0]);
    let cfg = config(json!({"memory": {"max_entries": 100000, "max_bytes": 100000}}));
    let c = Cache::new(&cfg).unwrap();
    let big = "x".repeat(1000);
    for i in 0..1000 {
        put(&c, &format!("k{i}"), &big, None);
    }
    assert!(c.stats().tiers[0].bytes <= 100000);
    assert!(c.stats().entries <= 100);
}

#[test]
fn filesystem_tier_alone_detects_damage_and_repairs_on_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cache::new(&config(fs_config(dir.path()))).unwrap();
    put(&c, "k", "hello", None);
    assert_eq!(get(&c, "k").as_deref(), Some("hello"));
    let file = only_entry_file(dir.path());
    let len = std::fs::metadata(&file).unwrap().len() as usize;
    for damage in [vec![0u8; len], b"TRC1 truncated".to_vec(), vec![]] {
        std::fs::write(&file, &damage).unwrap();
        assert_eq!(get(&c, "k"), None, "damaged file is a miss");
        put(&c, "k", "hello", None);
        assert_eq!(get(&c, "k").as_deref(), Some("hello"), "repaired");
    }
    std::fs::write(&file, b"x").unwrap();
    let report = c.validate().unwrap().filesystem.unwrap();
    assert_eq!((report.entries, report.corrupt), (1, 1));
    assert_eq!(c.stats().tiers[0].corrupt, 3);
}

fn only_entry_file(root: &Path) -> std::path::PathBuf {
    let mut files = vec![];
    for shard in std::fs::read_dir(root.join("v1")).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    assert_eq!(files.len(), 1, "{files:?}");
    files.pop().unwrap()
}

#[test]
fn hostile_keys_never_escape_the_cache_root() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("cache");
    let c = Cache::new(&config(fs_config(&root))).unwrap();
    for key in [
        "../escape",
        "../../../../tmp/x",
        "a\0b",
        "/etc/passwd",
        "",
        "ü\u{FFFD}",
    ] {
        put(&c, key, "v", None);
        assert_eq!(get(&c, key).as_deref(), Some("v"), "{key:?}");
    }
    let names: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["cache"]);
    assert_eq!(c.validate().unwrap().filesystem.unwrap().valid, 6);
}

#[test]
fn ttl_expiry_in_the_filesystem_tier_and_purge_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now());
    let c = Cache::with_clock(&config(fs_config(dir.path())), clock.clone()).unwrap();
    put(&c, "short", "1", Some(5));
    put(&c, "long", "2", Some(500));
    clock.advance(6_000);
    assert_eq!(get(&c, "short"), None);
    let r = c.validate().unwrap().filesystem.unwrap();
    assert_eq!((r.valid, r.expired), (1, 1));
    let purged = rt::block_on(c.purge(Purge::Expired)).unwrap();
    assert_eq!(purged.filesystem.unwrap().expired, 1);
    assert_eq!(get(&c, "long").as_deref(), Some("2"));
}

#[test]
fn orphaned_temp_files_are_reported_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now());
    let c = Cache::with_clock(&config(fs_config(dir.path())), clock.clone()).unwrap();
    put(&c, "k", "v", None);
    std::fs::write(dir.path().join("tmp").join("abc.1.2.3"), b"half a wri").unwrap();
    assert_eq!(
        c.validate().unwrap().filesystem.unwrap().orphaned,
        0,
        "maybe a live writer"
    );
    clock.advance(120_000);
    assert_eq!(c.validate().unwrap().filesystem.unwrap().orphaned, 1);
    let r = rt::block_on(c.purge(Purge::Pattern("nothing*".into()))).unwrap();
    assert_eq!(r.filesystem.unwrap().orphaned, 1);
    assert_eq!(get(&c, "k").as_deref(), Some("v"));
}

#[test]
fn invalidate_by_pattern_and_namespace_in_stacked_tiers() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fs_config(dir.path());
    cfg["redis"] = json!({"url": redis.url()});
    cfg["memory"] = json!({});
    let c = Cache::new(&config(cfg)).unwrap();
    for k in ["a:content:1", "a:content:2", "b:content:1", "a*:content:1"] {
        put(&c, k, "v", None);
    }
    rt::block_on(c.invalidate("a:content:1")).unwrap();
    assert_eq!(get(&c, "a:content:1"), None);
    assert!(get(&c, "a:content:2").is_some());
    rt::block_on(c.invalidate_namespace("a*")).unwrap();
    assert_eq!(get(&c, "a*:content:1"), None);
    assert!(
        get(&c, "a:content:2").is_some(),
        "a glob char in a namespace is literal"
    );
    rt::block_on(c.invalidate_namespace("a")).unwrap();
    assert_eq!(get(&c, "a:content:2"), None);
    assert!(get(&c, "b:content:1").is_some());
    rt::block_on(c.purge(Purge::All)).unwrap();
    assert_eq!(get(&c, "b:content:1"), None);
}

#[test]
fn a_lower_tier_hit_fills_the_tiers_above() {
    let redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let writer = Cache::new(&config(fs_config(dir.path()))).unwrap();
    put(&writer, "k", "from disk", None);
    let mut cfg = fs_config(dir.path());
    cfg["redis"] = json!({"url": redis.url()});
    cfg["memory"] = json!({});
    let c = Cache::new(&config(cfg)).unwrap();
    assert_eq!(get(&c, "k").as_deref(), Some("from disk"));
    let s = c.stats();
    assert_eq!(s.tiers[0].writes, 1, "memory filled");
    assert_eq!(s.tiers[1].writes, 1, "redis filled");
    assert_eq!(get(&c, "k").as_deref(), Some("from disk"));
    assert_eq!(c.stats().tiers[0].hits, 1);
    // Another process sharing only Redis sees it.
    let other = Cache::new(&config(json!({"redis": {"url": redis.url()}}))).unwrap();
    assert_eq!(get(&other, "k").as_deref(), Some("from disk"));
}

#[test]
fn redis_tier_survives_a_restart_and_degrades_meanwhile() {
    let mut redis = RedisServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = fs_config(dir.path());
    cfg["redis"] = json!({"url": redis.url(), "timeout_ms": 200});
    let c = Cache::new(&config(cfg)).unwrap();
    put(&c, "k", "v", None);
    assert_eq!(get(&c, "k").as_deref(), Some("v"));
    redis.kill();
    // Redis down: answers come from the filesystem, errors are counted, nothing fails.
    assert_eq!(get(&c, "k").as_deref(), Some("v"));
    put(&c, "k2", "v2", None);
    assert_eq!(get(&c, "k2").as_deref(), Some("v2"));
    assert!(c.stats().tiers[0].errors >= 1, "{:?}", c.stats().tiers[0]);
    redis.restart().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut back = false;
    for _ in 0..50 {
        put(&c, "k3", "v3", None);
        if c.stats().tiers[0].writes >= 2 {
            back = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        back,
        "redis writes resume after the restart: {:?}",
        c.stats().tiers[0]
    );
    let other = Cache::new(&config(json!({"redis": {"url": redis.url()}}))).unwrap();
    assert_eq!(get(&other, "k3").as_deref(), Some("v3"));
}

#[test]
fn redis_ttl_and_corrupt_values() {
    let redis = RedisServer::start().unwrap();
    let clock = ManualClock::new(now());
    let cfg = config(json!({"redis": {"url": redis.url()}}));
    let c = Cache::with_clock(&cfg, clock.clone()).unwrap();
    put(&c, "k", "v", Some(100));
    assert_eq!(get(&c, "k").as_deref(), Some("v"));
    clock.advance(101_000);
    assert_eq!(get(&c, "k"), None, "expired by the entry's own time");
    let reply = redis.command("SET trinity:cache:bad garbage").unwrap();
    assert!(reply.starts_with("+OK"), "{reply}");
    assert_eq!(get(&c, "bad"), None);
    assert_eq!(c.stats().tiers[0].corrupt, 1);
}

#[test]
fn sixteen_concurrent_writers_of_one_key_leave_one_valid_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(fs_config(dir.path()));
    std::thread::scope(|s| {
        for w in 0..16 {
            let cfg = cfg.clone();
            s.spawn(move || {
                let c = Cache::new(&cfg).unwrap();
                for i in 0..20 {
                    put(
                        &c,
                        "one",
                        &format!("writer {w} round {i} {}", "x".repeat(4000)),
                        None,
                    );
                }
            });
        }
    });
    let c = Cache::new(&cfg).unwrap();
    assert!(get(&c, "one").unwrap().starts_with("writer "));
    only_entry_file(dir.path());
    let r = c.validate().unwrap().filesystem.unwrap();
    assert_eq!((r.valid, r.corrupt), (1, 0));
}

/// The value a crash-test writer stores under a key: checkable without the writer.
fn crash_value(key: &str) -> String {
    format!("{key}=").repeat(200)
}

const CRASH_ENV: &str = "TRINITY_CACHE_CRASH_WRITER";

/// In a writer process: writes entries until killed.
#[test]
fn crash_writer_helper() {
    let Ok(root) = std::env::var(CRASH_ENV) else {
        return;
    };
    let c = Cache::new(&config(fs_config(Path::new(&root)))).unwrap();
    for i in 0u64.. {
        let key = format!("key{}", i % 50);
        put(&c, &key, &crash_value(&key), None);
    }
}

#[test]
fn two_hundred_writers_killed_at_random_moments_leave_no_wrong_entry() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    for _batch in 0..20 {
        let mut kids: Vec<_> = (0..10)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args([
                        "crash_writer_helper",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CRASH_ENV, dir.path())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for kid in &mut kids {
            std::thread::sleep(std::time::Duration::from_micros(
                rng.random_range(0..20_000),
            ));
            kid.kill().unwrap();
        }
        for kid in &mut kids {
            kid.wait().unwrap();
        }
    }
    let clock = ManualClock::new(now() + 3_600_000);
    let c = Cache::with_clock(&config(fs_config(dir.path())), Arc::new(SystemClock)).unwrap();
    let mut read = 0;
    for i in 0..50 {
        let key = format!("key{i}");
        if let Some(v) = get(&c, &key) {
            assert_eq!(v, crash_value(&key));
            read += 1;
        }
    }
    assert!(read > 0, "some writer got to write");
    let r = c.validate().unwrap().filesystem.unwrap();
    assert_eq!(r.corrupt, 0, "{r:?}");
    assert_eq!(r.valid, read);
    // Temp files of killed writers are orphans once old enough; purge removes them.
    let later = Cache::with_clock(&config(fs_config(dir.path())), clock).unwrap();
    let orphans = later.validate().unwrap().filesystem.unwrap().orphaned;
    rt::block_on(later.purge(Purge::Pattern("none".into()))).unwrap();
    assert_eq!(
        later.validate().unwrap().filesystem.unwrap().orphaned,
        0,
        "{orphans} purged"
    );
}

fn mock() -> MockServer {
    MockServer::start(
        MockConfig::from_json(json!({"fixtures": {
            "greet": {"prompt": "hi", "response": "Hello, cached caller."},
            "tool": {"prompt": "weather", "response": "", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
            "chunked": {"prompt": "count", "response": "one two three", "chunks": ["one ", "two ", "three"]}
        }, "seed": 1}))
        .unwrap(),
    )
    .unwrap()
}

fn cached_client(s: &MockServer, cache: Value) -> Client {
    let p = json!({"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"});
    Client::new(
        Config::from_value(
            json!({"providers": {"p": p}, "cache": cache}),
            EnvOverrides::Ignore,
        )
        .unwrap(),
    )
    .unwrap()
}

fn ask(text: &str, extra: Value) -> ChatRequest {
    let mut r = json!({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": text}]});
    r.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ChatRequest::from_json(r).unwrap()
}

#[test]
fn a_second_identical_chat_is_served_from_the_cache() {
    let s = mock();
    let c = cached_client(&s, json!({"enabled": true}));
    let first = rt::block_on(c.chat(ask("hi", json!({})))).unwrap();
    let calls = s.stats().requests;
    let second = rt::block_on(c.chat(ask("hi", json!({})))).unwrap();
    assert_eq!(s.stats().requests, calls, "no provider call");
    assert!(!first.cached && second.cached);
    assert_eq!(
        (second.content.as_str(), second.usage),
        (first.content.as_str(), first.usage)
    );
    assert_eq!(second.cost_usd, Some(0.0));
    let stats = c.cache().unwrap().stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    assert!(
        (stats.saved_usd - first.cost_usd.unwrap()).abs() < 1e-9,
        "{stats:?}"
    );

    // no_cache refreshes, no_store keeps out, temperature > 0 is not cached by default.
    rt::block_on(c.chat(ask("hi", json!({"cache": {"no_cache": true}})))).unwrap();
    assert_eq!(s.stats().requests, calls + 1);
    rt::block_on(c.chat(ask("weather", json!({"cache": {"no_store": true}})))).unwrap();
    rt::block_on(c.chat(ask("weather", json!({})))).unwrap();
    assert_eq!(s.stats().requests, calls + 3, "no_store stored nothing");
    for _ in 0..2 {
        rt::block_on(c.chat(ask("hi", json!({"temperature": 0.7})))).unwrap();
    }
    assert_eq!(s.stats().requests, calls + 5);
    let other_ns = ask("hi", json!({"cache": {"namespace": "other"}}));
    rt::block_on(c.chat(other_ns)).unwrap();
    assert_eq!(s.stats().requests, calls + 6, "another namespace");
    rt::block_on(c.cache().unwrap().invalidate_namespace("trinity")).unwrap();
    rt::block_on(c.chat(ask("hi", json!({})))).unwrap();
    assert_eq!(s.stats().requests, calls + 7, "invalidated");
}

#[test]
fn nonzero_temperature_is_cached_when_the_config_says_so() {
    let s = mock();
    let c = cached_client(
        &s,
        json!({"enabled": true, "cache_nonzero_temperature": true}),
    );
    for _ in 0..3 {
        rt::block_on(c.chat(ask("hi", json!({"temperature": 0.7})))).unwrap();
    }
    assert_eq!(s.stats().requests, 1);
}

#[test]
fn a_stream_replays_identically_with_tool_calls_usage_and_cached() {
    let s = mock();
    let dir = tempfile::tempdir().unwrap();
    let c = cached_client(
        &s,
        json!({"enabled": true, "memory": null, "filesystem": {"path": dir.path().to_str().unwrap()}}),
    );
    for prompt in ["count", "weather"] {
        let collect = || {
            rt::block_on(async {
                let st = c.chat_stream(ask(prompt, json!({}))).await.unwrap();
                st.map(|c| c.unwrap()).collect::<Vec<_>>().await
            })
        };
        let first = collect();
        let calls = s.stats().requests;
        let second = collect();
        assert_eq!(s.stats().requests, calls, "replayed, no provider call");
        assert_eq!(first.len(), second.len());
        for (a, b) in first.iter().zip(&second) {
            assert!(!a.cached && b.cached);
            let mut b = b.clone();
            b.cached = false;
            assert_eq!(a, &b, "same chunk boundaries and content");
        }
        assert!(second.last().unwrap().usage.is_some() || first.last().unwrap().usage.is_none());
    }
    let deltas: usize = s.stats().streams as usize;
    assert_eq!(deltas, 2);
}

#[test]
fn a_broken_stream_is_not_stored() {
    let s = MockServer::start(
        MockConfig::from_json(
            json!({"fixtures": {"greet": {"prompt": "hi", "response": "a b c d e f"}},
            "faults": {"rates": {"cut": 1.0}}, "seed": 1}),
        )
        .unwrap(),
    )
    .unwrap();
    let c = cached_client(&s, json!({"enabled": true}));
    for _ in 0..2 {
        let items: Vec<_> = rt::block_on(async {
            match c.chat_stream(ask("hi", json!({}))).await {
                Ok(st) => st.collect::<Vec<_>>().await,
                Err(e) => vec![Err(e)],
            }
        });
        assert!(
            items.iter().any(|i| i.is_err()),
            "the fault cuts the stream"
        );
    }
    assert_eq!(c.cache().unwrap().stats().tiers[0].writes, 0);
}
