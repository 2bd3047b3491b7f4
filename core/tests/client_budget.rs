//! Issue 12: budgets enforced by the client against a real mock server: holds taken before any
//! network call, settled with the real cost, streams included, alerts delivered.

use futures_util::StreamExt;
use serde_json::json;
use std::sync::{Arc, Mutex};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{pricing, ChatRequest, Client, Usage};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{cost, rt, ErrorKind, Registry};

fn server(latency_ms: u64) -> MockServer {
    let cfg = json!({"seed": 5, "latency": {"dist": "fixed", "ms": latency_ms}});
    MockServer::start(MockConfig::from_json(cfg).unwrap()).unwrap()
}

fn client(s: &MockServer, budget: serde_json::Value) -> Arc<Client> {
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"}},
        "budget": budget,
    });
    Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap())
}

fn ask(text: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest::from_json(json!({"model": "p/gpt-4o-mini", "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}]}))
    .unwrap()
}

/// What the client holds for `req`: exact prompt tokens plus `max_tokens` of answer.
fn estimate_nano(req: &ChatRequest) -> u64 {
    let model = Registry::builtin().get("gpt-4o-mini").unwrap();
    let mut usage: Usage = pricing::counted_usage(req, "", Some(&model));
    usage.completion_tokens = req.max_tokens.unwrap() as u64;
    cost::cost(Some(&model), &usage, true)
        .total_nano_usd
        .unwrap()
}

#[test]
fn sixty_four_concurrent_calls_against_a_limit_that_fits_ten() {
    let s = server(300);
    let e = estimate_nano(&ask("question 10", 2000));
    let c = client(&s, json!({"daily_usd": (10 * e) as f64 / 1e9}));
    let results = rt::block_on(async {
        let calls = (10..74).map(|i| {
            let c = c.clone();
            rt::spawn(async move { c.chat(ask(&format!("question {i}"), 2000)).await })
        });
        futures_util::future::join_all(calls).await
    });
    let (ok, refused): (Vec<_>, Vec<_>) = results
        .into_iter()
        .map(|r| r.unwrap())
        .partition(|r| r.is_ok());
    assert_eq!(ok.len(), 10, "exactly the ten that fit");
    for e in &refused {
        let e = e.as_ref().unwrap_err();
        assert_eq!(e.kind, ErrorKind::BudgetExceeded, "{e}");
        let d = e.details.as_ref().unwrap();
        assert_eq!(d["limit"], "daily_usd");
        assert!(d["resets_at"].as_str().unwrap().ends_with("T00:00:00Z"));
    }
    assert_eq!(
        s.stats().requests,
        10,
        "refused calls never reached the network"
    );
    let spent: u64 = ok
        .iter()
        .map(|r| {
            r.as_ref()
                .unwrap()
                .cost_detail
                .as_ref()
                .unwrap()
                .total_nano_usd
                .unwrap()
        })
        .sum();
    let snap = rt::block_on(c.budget(None)).unwrap();
    let day = &snap.windows[0];
    assert_eq!(day.spent_nano, spent, "settled with the real costs");
    assert_eq!(day.reserved_nano, 0, "nothing left held");
    assert!(spent <= 10 * e);
}

#[test]
fn a_call_over_the_per_request_limit_fails_before_the_network() {
    let s = server(0);
    let c = client(&s, json!({"per_request_usd": 0.0001}));
    // 2,000 answer tokens at $0.60 per 1M = $0.0012 > $0.0001.
    let e = rt::block_on(c.chat(ask("hi", 2000))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::BudgetExceeded);
    assert_eq!(e.details.unwrap()["limit"], "per_request_usd");
    assert_eq!(s.stats().requests, 0);
    assert!(
        rt::block_on(c.chat(ask("hi", 50))).is_ok(),
        "a small call passes"
    );
}

#[test]
fn streams_settle_their_real_cost_and_alerts_fire_once() {
    let s = server(0);
    let per_call = estimate_nano(&ask("stream me", 100));
    let c = client(
        &s,
        json!({"daily_usd": (4 * per_call) as f64 / 1e9, "alerts": [0.0001]}),
    );
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let seen = alerts.clone();
    c.on_budget_alert(move |a| seen.lock().unwrap().push(a.clone()))
        .unwrap();
    let chunks: Vec<_> = rt::block_on(async {
        let stream = c.chat_stream(ask("stream me", 100)).await.unwrap();
        stream.collect::<Vec<_>>().await
    });
    let cost = chunks
        .iter()
        .find_map(|ch| ch.as_ref().unwrap().cost_detail.clone())
        .unwrap()
        .total_nano_usd
        .unwrap();
    // The settle runs as its own task once the usage chunk is out: wait for it.
    let day = rt::block_on(async {
        loop {
            let snap = c.budget(None).await.unwrap();
            if snap.windows[0].reserved_nano == 0 {
                break snap.windows[0].clone();
            }
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(
        day.spent_nano, cost,
        "the stream's own cost, not its estimate"
    );
    rt::block_on(c.chat(ask("again", 100))).unwrap();
    let alerts = alerts.lock().unwrap();
    assert_eq!(alerts.len(), 1, "one fraction, once per window: {alerts:?}");
    assert_eq!(alerts[0].window, day.window);
}

#[test]
fn without_a_budget_there_is_nothing_to_listen_to() {
    let s = server(0);
    let c = client(&s, json!({}));
    let e = c.on_budget_alert(|_| {}).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(rt::block_on(c.chat(ask("hi", 10))).is_ok());
}
