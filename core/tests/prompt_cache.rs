//! Issue 15: Anthropic prompt-cache breakpoints (`cache_control`) go through the client to the
//! provider on the blocks they were put on; OpenAI and Gemini never see them; more than 4 are
//! refused before anything is sent. Against the real mock server, which keeps what it received
//! (`record_requests`) and checks breakpoints as Anthropic does.

use futures_util::StreamExt;
use serde_json::{json, Value};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer, ReceivedRequest};
use trinity_core::prompt::{optimize_for_model, Caching, Prompt};
use trinity_core::registry::Registry;
use trinity_core::{rt, ErrorKind};

fn server() -> MockServer {
    MockServer::start(
        MockConfig::from_json(json!({"seed": 1, "default_response": "echo", "record_requests": 8}))
            .unwrap(),
    )
    .unwrap()
}

/// One provider of each kind, `a` (Anthropic), `o` (OpenAI), `c` (OpenAI-compatible) and
/// `g` (Gemini), all served by `s`.
fn client(s: &MockServer) -> Client {
    let p = |kind: &str, path: &str| json!({"kind": kind, "base_url": format!("{}{path}", s.url()), "api_key": "k"});
    let config = json!({"providers": {
        "a": p("anthropic", "/v1"),
        "o": p("openai", "/v1"),
        "c": p("openai_compatible", "/v1"),
        "g": p("gemini", "/v1beta"),
    }});
    Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap()
}

fn request(model: &str, messages: Value, tools: Value) -> ChatRequest {
    ChatRequest::from_json(json!({"model": model, "messages": messages, "tools": tools})).unwrap()
}

/// The body of the only request `s` received since the last look.
fn received(s: &MockServer) -> Value {
    let got: Vec<ReceivedRequest> = s.requests();
    assert_eq!(got.len(), 1, "{got:?}");
    s.clear_requests();
    got.into_iter().next().unwrap().body
}

fn has_cache_control(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("cache_control") || o.values().any(has_cache_control),
        Value::Array(a) => a.iter().any(has_cache_control),
        _ => false,
    }
}

fn marked_messages() -> Value {
    json!([
        {"role": "system", "content": [
            {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Current date: 2026-05-01"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "Here is the document.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Summarise it."}]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": [
            {"type": "text", "text": "42", "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "thanks"}
    ])
}

fn marked_tools() -> Value {
    json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}},
            "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
}

#[test]
fn anthropic_gets_every_breakpoint_on_its_block_json_and_stream() {
    let s = server();
    let c = client(&s);
    let req = request("a/claude-sonnet-4-5", marked_messages(), marked_tools());
    let r = rt::block_on(c.chat(req.clone())).unwrap();
    assert_eq!(r.content, "thanks", "the mock answered it");
    let stream: Vec<_> =
        rt::block_on(async { c.chat_stream(req).await.unwrap().collect::<Vec<_>>().await });
    assert!(stream.iter().all(Result::is_ok));

    let got = s.requests();
    assert_eq!(got.len(), 2);
    for req in got {
        assert_eq!(req.route, "POST /v1/messages");
        let b = req.body;
        let eph = json!({"type": "ephemeral"});
        let hour = json!({"type": "ephemeral", "ttl": "1h"});
        assert_eq!(
            b["system"],
            json!([
                {"type": "text", "text": "You are terse.", "cache_control": hour},
                {"type": "text", "text": "Current date: 2026-05-01"}
            ])
        );
        assert_eq!(b["tools"][0]["cache_control"], hour);
        let msgs = b["messages"].as_array().unwrap();
        assert_eq!(
            msgs[0]["content"],
            json!([
                {"type": "text", "text": "Here is the document.", "cache_control": eph},
                {"type": "text", "text": "Summarise it."}
            ])
        );
        assert!(!has_cache_control(&msgs[1]));
        assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
        assert_eq!(msgs[2]["content"][0]["cache_control"], eph);
        assert!(msgs[2]["content"][1].get("cache_control").is_none());
    }
}

#[test]
fn openai_and_gemini_get_the_same_messages_without_cache_control() {
    let s = server();
    let c = client(&s);
    for (model, route) in [
        ("o/gpt-4o-mini", "POST /v1/chat/completions"),
        ("c/llama-3.1-8b", "POST /v1/chat/completions"),
        (
            "g/gemini-2.5-flash",
            "POST /v1beta/models/{model}:generateContent",
        ),
    ] {
        let r = rt::block_on(c.chat(request(model, marked_messages(), marked_tools()))).unwrap();
        assert_eq!(r.content, "thanks", "{model}");
        let got = s.requests();
        assert_eq!(got[0].route, route);
        let b = received(&s);
        assert!(!has_cache_control(&b), "{model}: {b}");
        let text = b.to_string();
        assert!(
            text.contains("Here is the document.") && text.contains("You are terse."),
            "{model}: the parts themselves go"
        );
    }
}

#[test]
fn more_than_four_breakpoints_are_refused_before_anything_is_sent() {
    let s = server();
    let c = client(&s);
    let mut messages = marked_messages();
    messages[4]["content"] = json!([
        {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "two", "cache_control": {"type": "ephemeral"}}
    ]);
    // From JSON (every binding's path): invalid_input naming the fifth mark and the count (six).
    let body =
        json!({"model": "a/claude-sonnet-4-5", "messages": messages, "tools": marked_tools()});
    let e = ChatRequest::from_json(body.clone()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let d = e.details.as_ref().unwrap();
    assert_eq!(d["path"], "messages[4].content[0].cache_control");
    assert_eq!(d["count"], 6);
    assert!(e.message.contains("6 cache_control"), "{}", e.message);

    // A request built in Rust: the client refuses it, for every provider, and sends nothing.
    let mut req = request("a/claude-sonnet-4-5", marked_messages(), marked_tools());
    req.messages[4] = request("a/x", json!([body["messages"][4]]), json!([])).messages[0].clone();
    for model in ["a/claude-sonnet-4-5", "o/gpt-4o-mini"] {
        req.model = model.into();
        let e = rt::block_on(c.chat(req.clone())).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{model}: {e}");
        let e = rt::block_on(async { c.chat_stream(req.clone()).await.err() });
        assert_eq!(e.map(|e| e.kind), Some(ErrorKind::InvalidInput));
    }
    assert_eq!(s.stats().requests, 0);
    assert!(s.requests().is_empty());
}

#[test]
fn the_mock_checks_breakpoints_as_anthropic_does() {
    let s = server();
    let post = |body: Value| {
        rt::block_on(async {
            let r = reqwest::Client::new()
                .post(format!("{}/v1/messages", s.url()))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (
                status,
                serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap(),
            )
        })
    };
    let block =
        |t: &str| json!({"type": "text", "text": t, "cache_control": {"type": "ephemeral"}});
    let (status, body) = post(json!({"model": "m", "max_tokens": 10,
        "system": [block("a"), block("b")],
        "messages": [{"role": "user", "content": [block("c"), block("d"), block("e")]}]}));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    );
    let (status, body) = post(json!({"model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
            "content": [block("x")]}]}]}));
    assert_eq!(status, 400);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("place it directly on `tool_result`"));
    let (status, _) = post(
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user",
        "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]}]}),
    );
    assert_eq!(status, 400);
    let (status, _) = post(json!({"model": "m", "max_tokens": 10,
        "system": [block("a")], "messages": [{"role": "user", "content": [block("c"), block("d"), block("e")]}]}));
    assert_eq!(status, 200);

    // What it received, over HTTP too; `POST /_mock/reset` empties it.
    let http = |method: reqwest::Method, path: &str| {
        rt::block_on(async {
            let r = reqwest::Client::new()
                .request(method, format!("{}{path}", s.url()))
                .send()
                .await
                .unwrap();
            serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()
        })
    };
    let got = http(reqwest::Method::GET, "/_mock/requests");
    assert_eq!(got["record_requests"], 8);
    assert_eq!(got["requests"].as_array().unwrap().len(), 4);
    assert_eq!(got["requests"][3]["path"], "/v1/messages");
    assert_eq!(got["requests"][3]["body"]["system"][0]["text"], "a");
    http(reqwest::Method::POST, "/_mock/reset");
    assert!(s.requests().is_empty());
}

/// A support conversation in the client's (OpenAI's) vocabulary: a long system prompt with a
/// per-request line, then turns with tool calls and results.
fn conversation(turns: usize) -> Vec<Value> {
    let rules: String = (0..300)
        .map(|i| format!("Rule {i}: answer order questions from the tools, never guess.\n"))
        .collect();
    let mut m =
        vec![json!({"role": "system", "content": format!("{rules}Current date: 2026-05-01")})];
    for t in 0..turns {
        m.push(json!({"role": "user", "content": format!("Step {t}: check order A-{} and report.", 1000 + t)}));
        m.push(json!({"role": "assistant", "content": format!("Looking up order A-{}.", 1000 + t),
            "tool_calls": [{"id": format!("call_{t}"), "type": "function",
                "function": {"name": "lookup", "arguments": format!("{{\"id\":\"A-{}\"}}", 1000 + t)}}]}));
        m.push(json!({"role": "tool", "tool_call_id": format!("call_{t}"),
            "content": format!("status: shipped, carrier DHL, tracking JD0146000{t:04}")}));
    }
    m.push(json!({"role": "user", "content": "Which orders shipped?"}));
    m
}

#[test]
fn optimize_for_model_breakpoints_reach_anthropic() {
    let registry = Registry::builtin();
    let model = "claude-sonnet-4-5";
    let layout = optimize_for_model(&registry, &Prompt::Messages(conversation(30)), model).unwrap();
    assert_eq!(layout.caching, Caching::Breakpoints);
    assert!(
        layout.breakpoints.len() >= 2,
        "system and conversation breakpoints: {:?}",
        layout.breakpoints
    );
    let Prompt::Messages(messages) = &layout.prompt else {
        panic!("messages in, messages out")
    };

    let s = server();
    let c = client(&s);
    let req = request(&format!("a/{model}"), json!(messages), json!([]));
    assert_eq!(
        req.cache_breakpoints().len(),
        layout.breakpoints.len(),
        "the client read every mark"
    );
    let r = rt::block_on(c.chat(req)).unwrap();
    assert_eq!(r.content, "Which orders shipped?");
    let b = received(&s);

    // Each breakpoint arrives on the block that carries its text: the system prompt's stable
    // part in `system`, the others on their message's block (a tool result's on tool_result).
    let mut on_wire: Vec<Value> = b["system"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x.get("cache_control").is_some())
        .cloned()
        .collect();
    for m in b["messages"].as_array().unwrap() {
        on_wire.extend(
            m["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x.get("cache_control").is_some())
                .cloned(),
        );
    }
    assert_eq!(on_wire.len(), layout.breakpoints.len(), "{b}");
    for (bp, block) in layout.breakpoints.iter().zip(&on_wire) {
        let placed = &messages[bp.message.unwrap()];
        let part = &placed["content"][bp.block.unwrap()];
        assert_eq!(block["cache_control"], part["cache_control"]);
        let text = block
            .get("text")
            .or_else(|| block.get("content"))
            .and_then(Value::as_str)
            .unwrap();
        assert_eq!(text, part["text"].as_str().unwrap(), "{bp:?}");
        if placed["role"] == "tool" {
            assert_eq!(block["type"], "tool_result");
        }
    }
    assert!(
        layout
            .breakpoints
            .iter()
            .any(|bp| messages[bp.message.unwrap()]["role"] == "tool"),
        "rolling breakpoints land on tool results too: {:?}",
        layout.breakpoints
    );
    assert!(
        b["system"][0].get("cache_control").is_some(),
        "the stable system prompt is cached: {}",
        b["system"]
    );
    assert!(
        b["system"][1]["text"]
            .as_str()
            .unwrap()
            .starts_with("Current date"),
        "the per-request line after it, unmarked"
    );
}
