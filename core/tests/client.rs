//! The Rust client against real sockets: the mock server for every wire format, and a raw
//! TCP listener to prove that dropping a call closes its connection.

use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{rt, ErrorKind};

fn server(extra: serde_json::Value) -> MockServer {
    let mut cfg = json!({"fixtures": {"greet": {"prompt": "hi", "response": "Hello, Rust caller."}}, "seed": 3});
    cfg.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    MockServer::start(MockConfig::from_json(cfg).unwrap()).unwrap()
}

fn client(kind: &str, base: &str, extra: serde_json::Value) -> Client {
    let mut p = json!({"kind": kind, "base_url": base, "api_key": "k"});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Client::new(Config::from_value(json!({"providers": {"p": p}}), EnvOverrides::Ignore).unwrap())
        .unwrap()
}

fn base(s: &MockServer, kind: &str) -> String {
    format!(
        "{}{}",
        s.url(),
        if kind == "gemini" { "/v1beta" } else { "/v1" }
    )
}

fn req(text: &str) -> ChatRequest {
    ChatRequest::from_json(
        json!({"model": "p/mock-model", "messages": [{"role": "user", "content": text}]}),
    )
    .unwrap()
}

#[test]
fn every_format_answers_and_streams() {
    let s = server(json!({}));
    for kind in ["openai", "openai_compatible", "anthropic", "gemini"] {
        let c = client(kind, &base(&s, kind), json!({}));
        let r = rt::block_on(c.chat(req("hi"))).unwrap();
        assert_eq!(r.content, "Hello, Rust caller.", "{kind}");
        assert_eq!(r.provider, "p");
        assert!(r.latency_ms > 0.0);
        assert!(
            r.request_id
                .as_deref()
                .is_some_and(|id| id.starts_with("req_mock_")),
            "{kind}"
        );
        let chunks: Vec<_> = rt::block_on(async {
            let stream = c.chat_stream(req("hi")).await.unwrap();
            stream.collect::<Vec<_>>().await
        });
        let text: String = chunks
            .iter()
            .map(|c| c.as_ref().unwrap().delta.clone())
            .collect();
        assert_eq!(text, "Hello, Rust caller.", "{kind}");
    }
    assert!(s.stats().requests >= 8);
}

#[test]
fn registry_models_get_a_cost() {
    let s = server(json!({}));
    let c = client("openai", &base(&s, "openai"), json!({}));
    let mut r = req("hi");
    r.model = "p/gpt-4o-mini".into();
    let resp = rt::block_on(c.chat(r)).unwrap();
    let cost = resp.cost_usd.expect("gpt-4o-mini has prices");
    assert!(cost > 0.0 && cost < 0.001);
}

#[test]
fn provider_failures_keep_status_and_retry_after() {
    let s = server(
        json!({"faults": {"script": ["429", "503", "reset", "malformed"], "retry_after_ms": 2500}}),
    );
    // One attempt each, no breaker: every injected fault reaches the caller as it is.
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": base(&s, "openai"), "api_key": "k"}},
        "retry": {"max_attempts": 1},
        "breaker": {"enabled": false},
    });
    let c = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let e = rt::block_on(c.chat(req("hi"))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    let d = e.details.unwrap();
    assert_eq!(
        (d["status"].as_u64(), d["retry_after_ms"].as_u64()),
        (Some(429), Some(2500))
    );
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap_err().kind,
        ErrorKind::Provider
    );
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap_err().kind,
        ErrorKind::Network
    );
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap_err().kind,
        ErrorKind::Provider
    );
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap().content,
        "Hello, Rust caller."
    );
}

#[test]
fn bad_requests_never_reach_the_network() {
    let s = server(json!({}));
    let c = client("openai", &base(&s, "openai"), json!({}));
    let mut r = req("hi");
    r.messages.clear();
    assert_eq!(
        rt::block_on(c.chat(r)).unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(s.stats().requests, 0);
}

#[test]
fn connection_refused_is_network() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client("openai", &format!("http://127.0.0.1:{port}/v1"), json!({}));
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap_err().kind,
        ErrorKind::Network
    );
}

/// A server that reads the request, sends `reply` (maybe nothing), then waits; it reports
/// when the client hangs up.
async fn hanging_server(reply: &'static [u8]) -> (String, tokio::sync::oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = sock.read(&mut buf).await; // the request
        let _ = sock.write_all(reply).await;
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break, // EOF: the client closed the connection
                Ok(_) => continue,
            }
        }
        let _ = tx.send(());
    });
    (url, rx)
}

#[test]
fn dropping_a_call_closes_its_connection() {
    rt::block_on(async {
        let (url, closed) = hanging_server(b"").await;
        let c = client("openai", &url, json!({}));
        let call = c.chat(req("hi"));
        assert!(
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err(),
            "never answered"
        );
        // The call future was dropped by the timeout: the server must see the socket close.
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("connection closed")
            .unwrap();
    });
}

#[test]
fn dropping_a_stream_closes_its_connection() {
    const HEAD: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
        3F\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"partial\"}}]}\n\n\r\n";
    rt::block_on(async {
        let (url, closed) = hanging_server(HEAD).await;
        let c = client("openai", &url, json!({}));
        let mut stream = c.chat_stream(req("hi")).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap().delta, "partial");
        drop(stream); // the consumer stops reading mid-stream
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("connection closed")
            .unwrap();
    });
}

#[test]
fn timeouts_are_timeout_errors() {
    let s = server(json!({"latency": {"dist": "fixed", "ms": 3000}}));
    let c = client(
        "openai",
        &base(&s, "openai"),
        json!({"timeout_ms": 200, "first_token_timeout_ms": 100}),
    );
    assert_eq!(
        rt::block_on(c.chat(req("hi"))).unwrap_err().kind,
        ErrorKind::Timeout
    );
    let err = rt::block_on(async { c.chat_stream(req("hi")).await.err() }).unwrap();
    assert_eq!(err.kind, ErrorKind::Timeout);
}

/// Issue 10: a base URL is accepted as each provider's SDK spells it — Anthropic's and
/// Google's without the API version, OpenAI's with it — and as a bare host.
#[test]
fn bases_work_with_or_without_the_api_version() {
    let s = server(json!({}));
    for kind in ["openai", "openai_compatible", "anthropic", "gemini"] {
        for given in [s.url(), format!("{}/", s.url()), base(&s, kind)] {
            let c = client(kind, &given, json!({}));
            let r = rt::block_on(c.chat(req("hi")));
            assert_eq!(
                r.map(|r| r.content).ok().as_deref(),
                Some("Hello, Rust caller."),
                "{kind} at {given}"
            );
        }
    }
}

/// Issue 10: a stream request answered with the complete JSON body (LiteLLM's proxy does this
/// with mock answers) is delivered as one chunk with its usage, in every format.
#[test]
fn a_stream_answered_with_a_json_body_is_one_chunk_with_usage() {
    let s = server(json!({"faults": {"rates": {"json_body": 1.0}}}));
    for kind in ["openai", "anthropic", "gemini"] {
        let c = client(kind, &base(&s, kind), json!({}));
        let chunks: Vec<_> = rt::block_on(async {
            let stream = c.chat_stream(req("hi")).await.unwrap();
            stream.collect::<Vec<_>>().await
        });
        assert_eq!(chunks.len(), 1, "{kind}: {chunks:?}");
        let chunk = chunks[0].as_ref().unwrap();
        assert_eq!(chunk.delta, "Hello, Rust caller.", "{kind}");
        assert!(chunk.finish_reason.is_some(), "{kind}");
        let usage = chunk.usage.expect("usage");
        assert!(
            usage.total_tokens > 0 && usage.completion_tokens > 0,
            "{kind}: {usage:?}"
        );
    }
}

/// A server that answers one request with `reply` and closes.
async fn one_reply(reply: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = sock.read(&mut buf).await;
        let _ = sock.write_all(reply.as_bytes()).await;
        let _ = sock.shutdown().await;
    });
    url
}

/// Issue 10: what comes back instead of a stream is a `provider` error that shows it, never
/// "network: stream ended before it was complete".
#[test]
fn a_stream_answered_with_something_else_is_a_provider_error_that_shows_it() {
    let page = "<html><body>Gateway login required</body></html>";
    for content_type in ["content-type: text/html\r\n", ""] {
        let reply = format!(
            "HTTP/1.1 200 OK\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let e = rt::block_on(async {
            let url = one_reply(reply).await;
            let c = client("openai", &url, json!({}));
            match c.chat_stream(req("hi")).await {
                Err(e) => e,
                Ok(stream) => stream
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .find_map(Result::err)
                    .expect("an error"),
            }
        });
        assert_eq!(e.kind, ErrorKind::Provider, "{content_type:?}: {e:?}");
        let details = e.details.unwrap();
        assert!(
            details["body_start"]
                .as_str()
                .unwrap()
                .contains("Gateway login required"),
            "{details}"
        );
    }
}

fn ask(model: &str, text: &str) -> ChatRequest {
    ChatRequest::from_json(json!({"model": model, "messages": [{"role": "user", "content": text}]}))
        .unwrap()
}

/// Issue 12 (LiteLLM #37923, #13264): a stream costs exactly what the same call unstreamed
/// costs, from its final usage, in every wire format; the detail is exact nano-USD.
#[test]
fn a_stream_costs_exactly_what_the_same_call_costs() {
    let s = server(json!({}));
    for (kind, model) in [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5"),
        ("gemini", "gemini-2.5-pro"),
    ] {
        let c = client(kind, &base(&s, kind), json!({}));
        let whole = rt::block_on(c.chat(ask(&format!("p/{model}"), "hi"))).unwrap();
        let detail = whole.cost_detail.clone().expect("priced");
        assert!(detail.total_nano_usd.unwrap() > 0, "{kind}: {detail:?}");
        assert_eq!(whole.cost_usd, detail.total_usd);
        assert!(!detail.estimated);
        let chunks: Vec<_> = rt::block_on(async {
            let stream = c
                .chat_stream(ask(&format!("p/{model}"), "hi"))
                .await
                .unwrap();
            stream.collect::<Vec<_>>().await
        });
        let priced: Vec<_> = chunks
            .iter()
            .filter_map(|c| c.as_ref().unwrap().cost_detail.clone())
            .collect();
        assert_eq!(priced.len(), 1, "{kind}: one chunk carries the cost");
        assert_eq!(priced[0], detail, "{kind}: stream = non-stream");
    }
}

/// Issue 12 (LiteLLM #35913, #42467): a model the registry lacks is never priced at $0, and a
/// dated name is priced as its model.
#[test]
fn unknown_models_are_unpriced_with_a_reason_and_dated_names_are_priced() {
    let s = server(json!({}));
    let c = client("anthropic", &base(&s, "anthropic"), json!({}));
    let before = trinity_core::cost::unpriced_calls();
    let r = rt::block_on(c.chat(ask("p/claude-opus-4-1-20250805", "hi"))).unwrap();
    assert_eq!(r.cost_usd, None);
    let detail = r.cost_detail.unwrap();
    assert_eq!(detail.unpriced_reason.as_deref(), Some("unknown_model"));
    assert_eq!(detail.total_nano_usd, None);
    assert!(trinity_core::cost::unpriced_calls() > before, "counted");
    let dated = rt::block_on(c.chat(ask("p/claude-sonnet-4-5-20250929", "hi"))).unwrap();
    let plain = rt::block_on(c.chat(ask("p/claude-sonnet-4-5", "hi"))).unwrap();
    assert!(dated.cost_usd.is_some_and(|c| c > 0.0));
    assert_eq!(dated.cost_usd, plain.cost_usd);
}

/// A stream that never reports usage (an OpenAI-compatible server without `include_usage`)
/// ends with one more chunk: usage counted here and a cost marked `estimated`.
#[test]
fn a_stream_without_usage_gets_an_estimated_cost() {
    let sse = concat!(
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there, \"}}]}\n\n",
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"friend.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{sse}",
        sse.len()
    );
    let chunks: Vec<_> = rt::block_on(async {
        let url = one_reply(reply).await;
        let c = client("openai_compatible", &url, json!({}));
        let stream = c.chat_stream(ask("p/gpt-4o", "Say hello")).await.unwrap();
        stream.collect::<Vec<_>>().await
    });
    let last = chunks.last().unwrap().as_ref().unwrap();
    let usage = last.usage.expect("counted usage");
    assert_eq!(
        usage.completion_tokens, 5,
        "'Hello there, friend.' in o200k_base"
    );
    assert!(usage.prompt_tokens > 0);
    let detail = last.cost_detail.clone().unwrap();
    assert!(
        detail.estimated && detail.total_nano_usd.unwrap() > 0,
        "{detail:?}"
    );
}
