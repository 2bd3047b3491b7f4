//! The provider monitor against real mock servers: a provider switched to 100% 503 mid-run
//! (`PUT /_mock/faults`) is reported down within 5 s and healthy again after it recovers,
//! each callback once; the router tries a down provider last.

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::observe::monitor::{MonitorEvent, ProviderState};
use trinity_core::rt;

fn server() -> MockServer {
    MockServer::start(MockConfig::from_json(json!({"seed": 3})).unwrap()).unwrap()
}

fn provider(s: &MockServer) -> serde_json::Value {
    json!({"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k", "timeout_ms": 2000})
}

fn client(config: serde_json::Value) -> Arc<Client> {
    Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap())
}

fn req(model: &str) -> ChatRequest {
    ChatRequest::from_json(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

/// `PUT /_mock/faults`: the server fails (or stops failing) from now on.
fn set_faults(s: &MockServer, faults: serde_json::Value) {
    let url = format!("{}/_mock/faults", s.url());
    let status = rt::block_on(async move {
        reqwest::Client::new()
            .put(url)
            .body(faults.to_string())
            .send()
            .await
            .map(|r| r.status().as_u16())
    })
    .unwrap();
    assert_eq!(status, 200);
}

/// Calls `model` every 50 ms until `done` says so or `limit` passes; the time it took.
fn traffic_until(
    c: &Arc<Client>,
    model: &str,
    limit: Duration,
    done: impl Fn() -> bool,
) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}");
        let _ = rt::block_on(c.chat(req(model)));
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn a_provider_switched_to_503_is_down_within_5_s_and_healthy_after_it_recovers() {
    let s = server();
    let c = client(json!({
        "providers": {"p": provider(&s)},
        // One attempt per call and no breaker: every call reaches the provider.
        "retry": {"max_attempts": 1},
        "breaker": {"enabled": false},
        "monitor": {"window_s": 6, "recover_s": 2, "eval_interval_ms": 250,
                    "health_checks": {"p": {"interval_ms": 500, "path": "/models"}}},
    }));
    let m = c.monitor().clone();
    let changes: Arc<Mutex<Vec<MonitorEvent>>> = Arc::default();
    let downs: Arc<Mutex<Vec<MonitorEvent>>> = Arc::default();
    let (ch, dn) = (changes.clone(), downs.clone());
    m.on_state_change(move |e| ch.lock().unwrap().push(e.clone()));
    m.on_provider_down(Some("p"), move |e| dn.lock().unwrap().push(e.clone()));
    let state = |m: &trinity_core::observe::monitor::ProviderMonitor| m.state("p");

    traffic_until(&c, "p/m", Duration::from_secs(10), || {
        state(&m) == ProviderState::Healthy
    });
    let h = m.health("p").unwrap();
    assert_eq!(h.failures, 0);
    assert!(h.p50_ms.is_some() && h.availability == 1.0, "{h:?}");

    set_faults(&s, json!({"rates": {"503": 1.0}}));
    let took = traffic_until(&c, "p/m", Duration::from_secs(10), || {
        !downs.lock().unwrap().is_empty()
    });
    assert!(took <= Duration::from_secs(5), "down after {took:?}");
    assert_eq!(state(&m), ProviderState::Down);

    set_faults(&s, json!({}));
    let back = traffic_until(&c, "p/m", Duration::from_secs(30), || {
        state(&m) == ProviderState::Healthy
    });
    // The fast window empties of failures, then the live one, then recover_s holds.
    assert!(back >= Duration::from_secs(2), "healthy after {back:?}");
    eprintln!("down {took:?} after the switch to 503; healthy {back:?} after the switch back");
    // Each callback once: one `down`, one return to `healthy` after it.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(downs.lock().unwrap().len(), 1);
    let to: Vec<ProviderState> = changes.lock().unwrap().iter().map(|e| e.to).collect();
    let after_down: Vec<_> = to
        .iter()
        .skip_while(|s| **s != ProviderState::Down)
        .collect();
    assert_eq!(after_down.first(), Some(&&ProviderState::Down), "{to:?}");
    assert_eq!(
        after_down
            .iter()
            .filter(|s| ***s == ProviderState::Down)
            .count(),
        1,
        "{to:?}"
    );
    assert_eq!(after_down.last(), Some(&&ProviderState::Healthy), "{to:?}");
    let h = m.health("p").unwrap();
    assert!(h.availability < 1.0 && h.availability > 0.0, "{h:?}");
    assert!(!m.history("p", 1.0).is_empty());
}

#[test]
fn the_router_tries_a_down_provider_last() {
    let (bad, good) = (server(), server());
    set_faults(&bad, json!({"rates": {"503": 1.0}}));
    let c = client(json!({
        "providers": {"bad": provider(&bad), "good": provider(&good)},
        "models": {"m": {"strategy": "failover", "deployments": [
            {"provider": "bad", "model": "gpt-4o-mini"},
            {"provider": "good", "model": "gpt-4o-mini"}]}},
        "retry": {"max_attempts": 1},
        "breaker": {"enabled": false},
        "monitor": {"eval_interval_ms": 100},
    }));
    // While `bad` is not known down, each call tries it first, then falls back.
    let first = rt::block_on(c.chat(req("m"))).unwrap();
    assert_eq!((first.provider.as_str(), first.attempts), ("good", 2));
    traffic_until(&c, "m", Duration::from_secs(10), || {
        c.monitor().state("bad") == ProviderState::Down
    });
    let before = bad.stats().requests;
    for _ in 0..10 {
        let r = rt::block_on(c.chat(req("m"))).unwrap();
        assert_eq!((r.provider.as_str(), r.attempts), ("good", 1));
    }
    assert_eq!(
        bad.stats().requests,
        before,
        "a down provider is not tried first"
    );
    assert_eq!(c.monitor().queue_depth("good"), 0);
}

#[test]
fn health_checks_alone_find_a_provider_up_and_then_down() {
    let mut s = server();
    let c = client(json!({
        "providers": {"p": provider(&s)},
        "monitor": {"eval_interval_ms": 100,
                    "health_checks": {"p": {"interval_ms": 100, "path": "/models"}}},
    }));
    let m = c.monitor().clone();
    let wait = |want: ProviderState| {
        let start = Instant::now();
        while m.state("p") != want {
            assert!(start.elapsed() < Duration::from_secs(10), "never {want:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // No call is made: only the checks (GET /v1/models) feed the monitor.
    wait(ProviderState::Healthy);
    assert!(s.stats().requests >= 1);
    s.stop();
    wait(ProviderState::Down);
    // Down comes from 5 failures in a row or from half the fast window
    // failing, whichever is first: with few checks before the stop, the
    // second can come after 2 or 3 failed checks.
    let h = m.health("p").unwrap();
    assert!(
        h.consecutive_failures >= 1 && h.error_rate > Some(0.0),
        "{h:?}"
    );
}
