//! Issue 12: the client feeds its own request log and cost tracker, one record per call —
//! answered, failed, cache hit, joined, streamed, dropped — and every answer carries its
//! `DebugInfo`. Against a real mock server.

use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, ChatResponse, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::observe::{LogQuery, RequestRecord};
use trinity_core::{rt, ErrorKind};

fn server(extra: serde_json::Value) -> MockServer {
    let mut cfg = json!({"seed": 3});
    cfg.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    MockServer::start(MockConfig::from_json(cfg).unwrap()).unwrap()
}

fn client(s: &MockServer, extra: serde_json::Value) -> Arc<Client> {
    let mut config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "sk-secret-key-0123456789abcdef"}},
        "retry": {"max_attempts": 2, "base_ms": 1, "cap_ms": 2},
    });
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap())
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::from_json(json!({"model": "p/gpt-4o-mini", "user": "ada",
        "messages": [{"role": "user", "content": text}]}))
    .unwrap()
}

fn record(c: &Client, id: &str) -> RequestRecord {
    let all = c.request_log().query(&LogQuery::default());
    let mut found: Vec<_> = all.into_iter().filter(|r| r.request_id == id).collect();
    assert_eq!(found.len(), 1, "one record for {id}");
    found.remove(0)
}

fn debug_id(r: &ChatResponse) -> String {
    r.debug
        .as_ref()
        .expect("every answer has DebugInfo")
        .request_id
        .clone()
}

#[test]
fn an_answer_leaves_one_record_matching_its_debug_info_and_the_tracker() {
    let s = server(json!({}));
    let c = client(&s, json!({}));
    let resp = rt::block_on(c.chat(ask("hello there"))).unwrap();
    let r = record(&c, &debug_id(&resp));
    let d = resp.debug.as_ref().unwrap();
    assert_eq!(r.status, "success");
    assert_eq!(
        (r.provider.as_deref(), r.model.as_deref()),
        (Some("p"), Some(resp.model.as_str()))
    );
    assert_eq!(r.model_requested, "p/gpt-4o-mini");
    assert_eq!(r.route.as_deref(), Some("failover"));
    assert_eq!((r.attempts, r.attempt_log.len()), (1, 1));
    assert_eq!(r.attempt_log[0].error_code, None);
    assert_eq!(r.input_tokens, resp.usage.prompt_tokens);
    assert_eq!(r.output_tokens, resp.usage.completion_tokens);
    assert!(resp.cost_usd.unwrap() > 0.0);
    assert_eq!(r.cost_usd, resp.cost_usd);
    assert_eq!(d.cost, resp.cost_usd);
    assert_eq!(r.user.as_deref(), Some("ada"));
    assert!(!r.cache_hit && !r.stream);
    assert!(r.latency_ms >= r.queued_ms + r.overhead_ms.unwrap());
    assert_eq!(d.duration_ms, r.latency_ms);
    assert_eq!(
        (d.input_tokens, d.output_tokens),
        (r.input_tokens, r.output_tokens)
    );
    // Bodies are not kept unless `logging.log_bodies`.
    assert!(r.messages.is_none() && r.response.is_none());
    let total = c.costs().total(0, i64::MAX);
    assert_eq!(total.requests, 1);
    assert_eq!(Some(total.nano_usd), r.cost_nano_usd);
}

#[test]
fn an_error_is_logged_and_carries_its_request_id_and_no_key() {
    let s = server(json!({"faults": {"script": ["400"]}}));
    let c = client(&s, json!({}));
    let err = rt::block_on(c.chat(ask("who am i"))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    let id = err.details.as_ref().unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = record(&c, &id);
    assert_eq!(r.status, "error");
    assert_eq!(r.error_code.as_deref(), Some("invalid_input"));
    assert_eq!(r.http_status, Some(400));
    assert_eq!(r.attempt_log.len(), 1, "a 400 is not retried");
    let json = serde_json::to_string(&c.request_log().query(&LogQuery::default())).unwrap();
    assert!(!json.contains("sk-secret"), "no API key in any record");
    // Invalid input never reaches a provider, and is logged all the same.
    let mut bad = ask("too hot");
    bad.temperature = Some(9.0);
    let err = rt::block_on(c.chat(bad)).unwrap_err();
    let id = err.details.as_ref().unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(record(&c, &id).attempts, 0);
    assert_eq!(s.stats().requests, 1, "it never reached the provider");
    assert_eq!(
        c.costs().total(0, i64::MAX).requests,
        0,
        "errors cost nothing"
    );
}

#[test]
fn cache_hits_cost_nothing_and_name_their_tier() {
    let s = server(json!({}));
    let c = client(
        &s,
        json!({"cache": {"enabled": true, "memory": {"max_entries": 100}}}),
    );
    let first = rt::block_on(c.chat(ask("cache me"))).unwrap();
    let hit = rt::block_on(c.chat(ask("cache me"))).unwrap();
    assert!(hit.cached);
    let r = record(&c, &debug_id(&hit));
    assert!(r.cache_hit);
    assert_eq!(r.cache_tier.as_deref(), Some("memory"));
    assert_eq!((r.cost_usd, r.attempts), (Some(0.0), 0));
    let total = c.costs().total(0, i64::MAX);
    assert_eq!((total.requests, total.cache_hits), (2, 1));
    assert_eq!(total.usd, first.cost_usd.unwrap());
    assert_ne!(debug_id(&first), debug_id(&hit));
    assert_eq!(s.stats().requests, 1);
}

#[test]
fn identical_calls_in_flight_are_one_paid_call_and_the_rest_joined() {
    let s = server(json!({"latency": {"dist": "fixed", "ms": 200}}));
    let c = client(&s, json!({}));
    let answers: Vec<ChatResponse> = rt::block_on(async {
        let calls = (0..10).map(|_| {
            let c = c.clone();
            rt::spawn(async move { c.chat(ask("the same")).await })
        });
        futures_util::future::join_all(calls).await
    })
    .into_iter()
    .map(|a| a.unwrap().unwrap())
    .collect();
    assert_eq!(s.stats().requests, 1);
    let paid: Vec<_> = answers.iter().filter(|a| !a.cached).collect();
    assert_eq!(paid.len(), 1, "one caller made the call");
    let records = c.request_log().query(&LogQuery::default());
    assert_eq!(records.len(), 10);
    let joined = records
        .iter()
        .filter(|r| r.cache_tier.as_deref() == Some("in_flight"))
        .count();
    assert_eq!(joined, 9);
    assert_eq!(c.costs().total(0, i64::MAX).usd, paid[0].cost_usd.unwrap());
    let sum: f64 = answers.iter().map(|a| a.cost_usd.unwrap()).sum();
    assert_eq!(
        sum,
        paid[0].cost_usd.unwrap(),
        "the answers' costs add up to the bill"
    );
}

#[test]
fn a_stream_is_logged_when_it_ends_with_its_cost_and_first_token() {
    let s = server(json!({}));
    let c = client(&s, json!({}));
    let plain = rt::block_on(c.chat(ask("stream this please"))).unwrap();
    let chunks = rt::block_on(async {
        let st = c.chat_stream(ask("stream this please")).await.unwrap();
        st.map(|c| c.unwrap()).collect::<Vec<_>>().await
    });
    let cost = chunks.iter().find_map(|c| c.cost_usd);
    let records = c.request_log().query(&LogQuery::default());
    assert_eq!(records.len(), 2);
    let r = records.iter().find(|r| r.stream).unwrap();
    assert_eq!(r.status, "success");
    assert_eq!(r.model_requested, "p/gpt-4o-mini");
    assert_eq!(r.cost_usd, cost);
    assert_eq!(
        r.cost_usd, plain.cost_usd,
        "a stream costs what the same call unstreamed does"
    );
    assert_eq!(r.provider.as_deref(), Some("p"));
    assert_eq!(r.attempts, 1);
    let ttft = r.time_to_first_token_ms.unwrap();
    assert!(ttft > 0.0 && ttft <= r.latency_ms);
    assert_eq!(c.costs().total(0, i64::MAX).requests, 2);
}

#[test]
fn dropped_calls_and_streams_are_logged_as_cancelled() {
    let s = server(json!({"latency": {"dist": "fixed", "ms": 300}}));
    let c = client(&s, json!({}));
    rt::block_on(async {
        let slow = c.chat(ask("never mind"));
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), slow).await;
    });
    let r = &c.request_log().query(&LogQuery::default())[0];
    assert_eq!(r.error_code.as_deref(), Some("cancelled"));
    assert!(r.latency_ms < 300.0);

    let s = server(json!({"stream_chunk_delay_ms": 20}));
    let c = client(&s, json!({}));
    rt::block_on(async {
        let mut st = c
            .chat_stream(ask("a long story, please, in many words"))
            .await
            .unwrap();
        st.next().await.unwrap().unwrap();
    });
    let r = &c.request_log().query(&LogQuery::default())[0];
    assert_eq!(r.error_code.as_deref(), Some("cancelled"));
    assert!(
        r.stream && r.output_tokens > 0,
        "what was received is counted"
    );
    let detail = r.cost_detail.as_ref().unwrap();
    assert!(detail.estimated && r.cost_usd.unwrap() > 0.0);
}

#[test]
fn bodies_are_kept_only_with_log_bodies() {
    let s = server(json!({}));
    let c = client(&s, json!({"logging": {"log_bodies": true, "history": 2}}));
    for i in 0..3 {
        rt::block_on(c.chat(ask(&format!("body {i}")))).unwrap();
    }
    let records = c.request_log().query(&LogQuery::default());
    assert_eq!(records.len(), 2, "logging.history bounds the log");
    let r = records.last().unwrap();
    assert!(r.messages.as_ref().unwrap().to_string().contains("body 2"));
    assert!(r.response.as_ref().unwrap().contains("body 2"));
}

#[test]
fn request_log_off_leaves_no_record_and_no_debug() {
    let s = server(json!({}));
    let c = client(&s, json!({"logging": {"request_log": false}}));
    let resp = rt::block_on(c.chat(ask("quiet"))).unwrap();
    assert!(resp.debug.is_none());
    assert!(resp.cost_usd.unwrap() > 0.0, "answers are still priced");
    assert!(c.request_log().query(&LogQuery::default()).is_empty());
    assert_eq!(c.costs().total(0, i64::MAX).requests, 0);
}

#[test]
fn metrics_follow_the_genai_names_and_count_cost_tokens_and_cache_hits() {
    let s = server(json!({}));
    let c = client(
        &s,
        json!({"cache": {"enabled": true, "memory": {"max_entries": 10}}}),
    );
    let paid = rt::block_on(c.chat(ask("count me"))).unwrap();
    rt::block_on(c.chat(ask("count me"))).unwrap();
    let text = c.metrics_text().unwrap();
    eprintln!("{text}");
    let value = |line_start: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    for family in [
        "# TYPE gen_ai_client_operation_duration_seconds histogram",
        "# UNIT gen_ai_client_operation_duration_seconds seconds",
        "# TYPE gen_ai_client_token_usage histogram",
        "# TYPE trinity_requests counter",
        "# TYPE trinity_cost_usd counter",
    ] {
        assert!(text.contains(family), "{family}");
    }
    assert!(text.contains(r#"le="0.01""#) && text.contains(r#"le="81.92""#));
    assert_eq!(value(r#"trinity_cache_hits_total{tier="memory"}"#), 1.0);
    assert_eq!(value("trinity_cost_usd_total{"), paid.cost_usd.unwrap());
    assert_eq!(
        value(r#"trinity_tokens_total{provider="p",model="gpt-4o-mini",type="input"}"#),
        paid.usage.prompt_tokens as f64
    );
    let off = client(&s, json!({"metrics": {"enabled": false}}));
    assert_eq!(off.metrics_text().unwrap_err().kind, ErrorKind::Config);
}

/// The value of the sample line that starts with `start` in `text`, if any.
fn sample(text: &str, start: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(start))?;
    line.rsplit(' ').next()?.parse().ok()
}

#[test]
fn metrics_read_breaker_transitions_provider_states_and_the_budget_left_at_each_scrape() {
    let s = server(json!({}));
    let c = client(
        &s,
        json!({
            "retry": {"max_attempts": 1},
            // 1 answer and 5 failures open the breaker; 5 failures in a row are down.
            "breaker": {"window_size": 10, "minimum_calls": 6, "failure_rate_threshold": 0.5, "open_wait_ms": 60000},
            "budget": {"daily_usd": 10.0, "monthly_usd": 100.0},
            "monitor": {"eval_interval_ms": 50},
        }),
    );
    let paid = rt::block_on(c.chat(ask("paid"))).unwrap().cost_usd.unwrap();
    let text = c.metrics_text().unwrap();
    let left = |text: &str, limit: &str| {
        sample(
            text,
            &format!(r#"trinity_budget_remaining_usd{{limit="{limit}"}}"#),
        )
    };
    assert_eq!(left(&text, "daily_usd"), Some(10.0 - paid));
    assert_eq!(left(&text, "monthly_usd"), Some(100.0 - paid));
    assert!(text.contains("# TYPE trinity_provider_state gauge"));
    assert_eq!(sample(&text, "trinity_breaker_transitions_total{"), None);

    // The provider fails: the breaker opens once, the monitor finds it down.
    s.set_faults(json!({"rates": {"503": 1.0}})).unwrap();
    for i in 0..8 {
        let e = rt::block_on(c.chat(ask(&format!("fail {i}")))).unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::Provider | ErrorKind::CircuitOpen),
            "{e:?}"
        );
    }
    let down = r#"trinity_provider_state{provider="p"}"#;
    let start = std::time::Instant::now();
    let text = loop {
        let text = c.metrics_text().unwrap();
        if sample(&text, down) == Some(3.0) {
            break text;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "never down: {:?}",
            c.monitor().health("p")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let deployment = r#"deployment="p/gpt-4o-mini""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"trinity_breaker_transitions_total{{{deployment},to="open"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("trinity_breaker_state{{{deployment}}}")),
        Some(2.0)
    );
    // Failed calls cost nothing: the budget left is unchanged, and a second scrape counts no
    // transition twice.
    let again = c.metrics_text().unwrap();
    assert_eq!(left(&again, "daily_usd"), Some(10.0 - paid));
    assert_eq!(
        sample(
            &again,
            &format!(r#"trinity_breaker_transitions_total{{{deployment},to="open"}}"#)
        ),
        Some(1.0)
    );
}

#[test]
fn metrics_time_stages_and_chunks_and_read_queues_limits_and_cache_misses() {
    let s = server(json!({}));
    let c = client(
        &s,
        json!({
            "cache": {"enabled": true, "memory": {"max_entries": 10}},
            // Two calls a minute; the third is refused here, without waiting.
            "rate_limits": {"p": {"rpm": 2}},
            "retry": {"max_attempts": 1, "max_retry_after_ms": 1},
        }),
    );
    rt::block_on(c.chat(ask("first"))).unwrap();
    rt::block_on(c.chat(ask("first"))).unwrap(); // a memory hit: no provider call
    let chunks = rt::block_on(async {
        let st = c
            .chat_stream(ask("stream a few words, please"))
            .await
            .unwrap();
        st.map(|c| c.unwrap()).collect::<Vec<_>>().await
    });
    let content = chunks.iter().filter(|c| !c.delta.is_empty()).count();
    assert!(content >= 2, "{content} content chunks");
    let e = rt::block_on(c.chat(ask("third call"))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited, "{e:?}");
    let text = c.metrics_text().unwrap();
    let v = |start: &str| sample(&text, start).unwrap_or_else(|| panic!("no {start} in\n{text}"));
    // Two provider calls answered (a plain one and the stream), one from the cache.
    assert_eq!(
        v(r#"trinity_stage_duration_seconds_count{stage="attempt"}"#),
        2.0
    );
    assert_eq!(
        v(r#"trinity_stage_duration_seconds_count{stage="queue"}"#),
        2.0
    );
    assert_eq!(
        v(r#"trinity_stage_duration_seconds_count{stage="cache"}"#),
        1.0
    );
    assert!(v(r#"trinity_stage_duration_seconds_count{stage="engine"}"#) >= 2.0);
    assert_eq!(
        v("gen_ai_client_operation_time_per_output_chunk_seconds_count{"),
        1.0
    );
    let stream = c
        .request_log()
        .query(&LogQuery::default())
        .into_iter()
        .find(|r| r.stream)
        .unwrap();
    assert!(stream.time_per_output_chunk_ms.unwrap() >= 0.0);
    // Three lookups missed the memory tier (the first call, the stream, the refused call),
    // one was answered.
    assert_eq!(v(r#"trinity_cache_misses_total{tier="memory"}"#), 3.0);
    assert_eq!(v(r#"trinity_cache_errors_total{tier="memory"}"#), 0.0);
    assert_eq!(
        v(r#"trinity_limiter_rejections_total{deployment="p/gpt-4o-mini"}"#),
        1.0
    );
    // Seed 002's queue names, per provider: two calls went through, none is left.
    assert_eq!(v(r#"trinity_queue_submitted_total{provider="p"}"#), 2.0);
    assert_eq!(v(r#"trinity_queue_completed_total{provider="p"}"#), 2.0);
    assert_eq!(v(r#"trinity_queue_inflight{provider="p"}"#), 0.0);
    assert_eq!(v(r#"trinity_queue_waiting{provider="p"}"#), 0.0);
}

#[test]
fn metrics_listen_serves_the_scrape_page_while_the_client_lives() {
    let s = server(json!({}));
    let c = client(&s, json!({"metrics": {"listen": "127.0.0.1:0"}}));
    rt::block_on(c.chat(ask("scrape me"))).unwrap();
    let addr = c.metrics_addr().unwrap();
    let get = |path: &str| {
        rt::block_on(async {
            let r = reqwest::get(format!("http://{addr}{path}")).await?;
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            Ok::<_, reqwest::Error>((r.status().as_u16(), kind, r.text().await?))
        })
    };
    let (status, kind, body) = get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(kind.starts_with("application/openmetrics-text"));
    assert!(
        body.contains("trinity_requests_total{provider=\"p\""),
        "{body}"
    );
    assert_eq!(get("/").unwrap().0, 404);
    // A port in use, or no address at all, is a config error naming the field.
    for listen in [addr.to_string(), "nowhere".into()] {
        let taken = Config::from_value(
            json!({"providers": {"p": {"kind": "mock"}}, "metrics": {"listen": listen}}),
            EnvOverrides::Ignore,
        )
        .unwrap();
        let err = Client::new(taken).err().unwrap();
        assert_eq!(err.kind, ErrorKind::Config);
        assert_eq!(err.details.unwrap()["path"], "metrics.listen");
    }
    drop(c);
    let closed = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::net::TcpStream::connect(addr).is_err()
    });
    assert!(closed, "the endpoint stops with the client");
}
