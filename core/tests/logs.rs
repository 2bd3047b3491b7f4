//! Issue 14: engine logs. Each client's calls reach the sinks it registered, at its
//! `logging.level`, in its `logging.format`, scrubbed unless `logging.redact: false`, with the
//! request id of the request log; a retry is announced only when one happened; a sink that
//! panics or blocks never fails or stalls a call. Against a real mock server.

use serde_json::{json, Value};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::observe::log::{flush, LogRecord};
use trinity_core::observe::LogQuery;
use trinity_core::rt;

const KEY: &str = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l";

fn server(extra: Value) -> MockServer {
    let mut cfg = json!({"seed": 5});
    cfg.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    MockServer::start(MockConfig::from_json(cfg).unwrap()).unwrap()
}

fn client(s: &MockServer, logging: Value) -> Client {
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": KEY}},
        "retry": {"max_attempts": 3, "base_ms": 1, "cap_ms": 2},
        "logging": logging,
    });
    Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap()
}

fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest::from_json(json!({"model": model, "messages": [{"role": "user", "content": text}]}))
        .unwrap()
}

/// A sink that keeps every record it gets.
fn collect(c: &Client) -> Arc<Mutex<Vec<LogRecord>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let into = got.clone();
    c.on_log(Arc::new(move |records: &[LogRecord]| {
        into.lock().unwrap().extend_from_slice(records)
    }));
    got
}

fn drained(got: &Arc<Mutex<Vec<LogRecord>>>) -> Vec<LogRecord> {
    assert!(flush(Duration::from_secs(10)), "the log thread drains");
    got.lock().unwrap().clone()
}

#[test]
fn an_answer_is_logged_once_with_its_request_id_and_genai_fields() {
    let s = server(json!({}));
    let c = client(&s, json!({"format": "json"}));
    let got = collect(&c);
    let resp = rt::block_on(c.chat(ask("p/gpt-4o-mini", "hello"))).unwrap();
    let id = resp.debug.as_ref().unwrap().request_id.clone();
    let mine: Vec<_> = drained(&got)
        .into_iter()
        .filter(|r| r.request_id.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let r = &mine[0];
    assert_eq!((r.level, r.target), ("info", "trinity_core::llm::books"));
    assert!(
        r.message.starts_with("call answered by p/"),
        "{}",
        r.message
    );
    assert_eq!(r.fields["gen_ai.request.model"], "p/gpt-4o-mini");
    assert_eq!(r.fields["gen_ai.operation.name"], "chat");
    assert_eq!(r.fields["gen_ai.provider.name"], "p");
    assert_eq!(
        r.fields["gen_ai.usage.input_tokens"],
        resp.usage.prompt_tokens
    );
    assert_eq!(
        r.fields["gen_ai.usage.output_tokens"],
        resp.usage.completion_tokens
    );
    // The JSON line: stable names, the same request id as the request log.
    let line: Value = serde_json::from_str(&r.line).unwrap();
    for k in [
        "timestamp",
        "level",
        "target",
        "message",
        "request_id",
        "gen_ai.request.model",
    ] {
        assert!(line.get(k).is_some(), "{k} missing in {line}");
    }
    assert_eq!(line["request_id"], id);
    assert_eq!(
        c.request_log().query(&LogQuery::default())[0].request_id,
        id
    );
}

#[test]
fn retries_and_fallbacks_are_announced_exactly_when_they_happened() {
    let s = server(json!({"faults": {"script": ["503", "503", "ok", "ok", "503", "ok"]}}));
    let c = client(&s, json!({}));
    let got = collect(&c);
    for i in 0..6 {
        let _ = rt::block_on(c.chat(ask("p/gpt-4o-mini", &format!("question {i}"))));
    }
    let records = drained(&got);
    let log = c.request_log().query(&LogQuery::default());
    let retried: u32 = log.iter().map(|r| r.attempts.saturating_sub(1)).sum();
    let announced: Vec<_> = records
        .iter()
        .filter(|r| r.message.starts_with("retrying"))
        .collect();
    assert_eq!(announced.len() as u32, retried, "{records:#?}");
    assert_eq!(retried, 3);
    assert!(
        announced[0].message.contains("after provider (attempt 2)"),
        "{}",
        announced[0].message
    );
    // Calls answered at once say nothing of retries.
    for r in log.iter().filter(|r| r.attempts == 1) {
        for rec in records
            .iter()
            .filter(|x| x.request_id.as_deref() == Some(r.request_id.as_str()))
        {
            assert!(
                !rec.message.contains("retr") && !rec.message.contains("attempts"),
                "{}",
                rec.message
            );
        }
    }
    assert!(
        records.iter().all(|r| r.level != "debug"),
        "info level lets no debug through"
    );
}

#[test]
fn a_fallback_is_announced_as_one() {
    let (down, up) = (
        server(json!({"faults": {"rates": {"503": 1.0}}})),
        server(json!({})),
    );
    let provider = |s: &MockServer| json!({"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": KEY});
    let config = json!({
        "providers": {"primary": provider(&down), "fallback": provider(&up)},
        "models": {"smart": {"strategy": "failover", "deployments": [
            {"provider": "primary", "model": "m1"}, {"provider": "fallback", "model": "m2"}]}},
        "retry": {"max_attempts": 1, "base_ms": 1, "cap_ms": 2},
    });
    let c = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let got = collect(&c);
    rt::block_on(c.chat(ask("smart", "hello"))).unwrap();
    let records = drained(&got);
    let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
    assert!(
        messages.contains(
            &"falling back to fallback/m2 after primary/m1 failed with provider (attempt 2)"
        ),
        "{messages:#?}"
    );
    assert!(
        !messages.iter().any(|m| m.starts_with("retrying")),
        "{messages:#?}"
    );
}

#[test]
fn level_format_and_redaction_follow_the_config() {
    // warn: the answer (info) is not logged, the failure is.
    let s = server(json!({"faults": {"script": ["ok", "400"]}}));
    let c = client(&s, json!({"level": "warn", "format": "text"}));
    let got = collect(&c);
    rt::block_on(c.chat(ask("p/gpt-4o-mini", "fine"))).unwrap();
    assert!(rt::block_on(c.chat(ask("p/gpt-4o-mini", "refused"))).is_err());
    let records = drained(&got);
    assert_eq!(records.len(), 1, "{records:#?}");
    let r = &records[0];
    assert_eq!(r.level, "warn");
    assert!(
        r.line
            .contains(" WARN trinity_core::llm::books: call failed"),
        "{}",
        r.line
    );

    // A key in what is logged (here the model asked for) is scrubbed from line and fields...
    let s = server(json!({}));
    let keyed = format!("p/{KEY}");
    let c = client(&s, json!({"format": "json"}));
    let got = collect(&c);
    rt::block_on(c.chat(ask(&keyed, "hello"))).unwrap();
    let r = drained(&got).pop().unwrap();
    assert!(
        !r.line.contains(KEY) && !format!("{:?}", r.fields).contains(KEY),
        "{}",
        r.line
    );
    assert!(r.line.contains("[REDACTED"), "{}", r.line);
    // ...unless redact is off.
    let raw = client(&s, json!({"redact": false}));
    let got = collect(&raw);
    rt::block_on(raw.chat(ask(&keyed, "hello"))).unwrap();
    assert!(drained(&got).pop().unwrap().line.contains(KEY));
}

#[test]
fn a_panicking_or_blocked_sink_never_fails_or_stalls_a_call() {
    let s = server(json!({}));
    let c = client(&s, json!({}));
    c.on_log(Arc::new(|_: &[LogRecord]| panic!("a broken sink")));
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    c.on_log(Arc::new(move |_: &[LogRecord]| {
        let _ = blocked.lock().unwrap().recv();
    }));
    // Every call returns while the sink is still waiting to be released.
    for i in 0..200 {
        rt::block_on(c.chat(ask("p/gpt-4o-mini", &format!("q{i}")))).unwrap();
    }
    drop(release);
    let got = collect(&c);
    rt::block_on(c.chat(ask("p/gpt-4o-mini", "after"))).unwrap();
    assert!(drained(&got)
        .iter()
        .any(|r| r.message.starts_with("call answered")));
}

#[test]
fn two_clients_get_only_their_own_records() {
    let s = server(json!({}));
    let (a, b) = (client(&s, json!({})), client(&s, json!({})));
    let (got_a, got_b) = (collect(&a), collect(&b));
    rt::block_on(a.chat(ask("p/gpt-4o-mini", "for a"))).unwrap();
    rt::block_on(b.chat(ask("p/gpt-4o-mini", "for b"))).unwrap();
    rt::block_on(b.chat(ask("p/gpt-4o-mini", "for b again"))).unwrap();
    let ids = |c: &Client| -> Vec<String> {
        c.request_log()
            .query(&LogQuery::default())
            .into_iter()
            .map(|r| r.request_id)
            .collect()
    };
    let seen = |got| -> Vec<String> {
        drained(got)
            .into_iter()
            .filter_map(|r| r.request_id)
            .collect()
    };
    let (mut ia, mut ib) = (ids(&a), ids(&b));
    let (mut sa, mut sb) = (seen(&got_a), seen(&got_b));
    for v in [&mut ia, &mut ib, &mut sa, &mut sb] {
        v.sort();
    }
    assert_eq!((sa, sb), (ia, ib));
}

#[test]
fn a_provider_going_down_is_logged_to_a_sink_added_after_the_client_was_made() {
    // The monitor's evaluations run in the client's span, made at each evaluation: a sink
    // registered later (as every host does) still gets the transitions.
    let mut s = server(json!({}));
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": KEY}},
        "monitor": {"eval_interval_ms": 100, "health_checks": {"p": {"interval_ms": 100, "path": "/models"}}},
    });
    let c = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let got = collect(&c);
    s.stop();
    let start = std::time::Instant::now();
    let down = loop {
        let records = drained(&got);
        if let Some(r) = records.iter().find(|r| r.message.ends_with("-> down")) {
            break r.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{records:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(down.level, "warn");
    assert_eq!(down.target, "trinity_core::observe::monitor");
    assert_eq!(down.fields["gen_ai.provider.name"], "p");
    assert_eq!(down.fields["trinity.provider.to"], "down");
}
