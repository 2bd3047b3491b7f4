//! The mock server over real loopback sockets, with reqwest as a raw HTTP client: every
//! endpoint in each wire format (JSON and streamed), every fault, scripts and seeded rates,
//! stats, fixture matching order, the body limit and API keys.

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use std::future::Future;
use trinity_core::mock::{prompt_hash, MockConfig, MockServer};
use trinity_core::rt;

const FIXTURES: &str = r#"
greeting:
  prompt: "Say hello"
  response: "Hello there, friend!"
  metadata: {model: mock-gpt, tokens: 5}
weather:
  prompt: "Weather in Paris?"
  response: ""
  tool_calls:
    - id: call_weather_1
      name: get_weather
      arguments: {city: Paris}
chaos:
  match: "(?i)chaos"
  response: "AAAA chaos wins"
calm:
  match: "chaos|calm"
  response: "never: chaos is first in file order"
chunked:
  prompt: "chunks please"
  response: "abcdef"
  chunks: ["ab", "cd", "ef"]
"#;

fn run<F: Future>(f: F) -> F::Output {
    rt::block_on(f)
}

fn start(yaml: &str) -> MockServer {
    MockServer::start(MockConfig::from_yaml_str(yaml).expect("config")).expect("server starts")
}

fn with_fixtures(extra: &str) -> MockServer {
    let indented: String = FIXTURES.lines().map(|l| format!("  {l}\n")).collect();
    start(&format!("fixtures:\n{indented}\n{extra}"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.expect("response");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

async fn post(url: String, body: Value) -> Reply {
    send(client().post(url).json_body(&body)).await
}

/// reqwest's `json` feature is off in the core: serialize by hand.
trait JsonBody {
    fn json_body(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(v.to_string())
    }
}

fn openai_body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}],
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
    })
}

fn anthropic_body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 100,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        "stream": stream,
    })
}

fn gemini_body(prompt: &str) -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 100},
    })
}

fn chat(s: &MockServer) -> String {
    format!("{}/v1/chat/completions", s.url())
}

fn messages(s: &MockServer) -> String {
    format!("{}/v1/messages", s.url())
}

fn gemini(s: &MockServer, method: &str, query: &str) -> String {
    format!("{}/v1beta/models/gemini-2.0-flash:{method}{query}", s.url())
}

/// SSE events as (event name, data), from `\n\n`- or `\r\n\r\n`-separated frames.
fn sse_events(text: &str) -> Vec<(Option<String>, String)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = Some(e.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            (event, data)
        })
        .collect()
}

fn sse_json(text: &str) -> Vec<Value> {
    sse_events(text)
        .into_iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect()
}

// ---------------------------------------------------------------- OpenAI

#[test]
fn openai_non_stream_has_the_full_shape() {
    let s = with_fixtures("");
    let r = run(post(chat(&s), openai_body("Say hello", false)));
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "mock-gpt");
    assert_eq!(v["system_fingerprint"], "fp_trinity_mock");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hello there, friend!");
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null());
    assert!(choice["message"].get("tool_calls").is_none());
    let u = &v["usage"];
    assert_eq!(u["completion_tokens"], 5);
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + 5)
    );
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
}

#[test]
fn openai_stream_reassembles_and_ends_with_usage_then_done() {
    let s = with_fixtures("");
    let r = run(post(chat(&s), openai_body("Say hello", true)));
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&r.text());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks = sse_json(&r.text());
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello there, friend!");
    // Word-sized pieces: more than one content chunk.
    assert!(
        chunks
            .iter()
            .filter(|c| c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty()))
            .count()
            >= 3
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"][0]["finish_reason"].is_null())
        .collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0]["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 5);
    // Without include_usage there is no usage chunk and no usage key.
    let mut body = openai_body("Say hello", true);
    body.as_object_mut().unwrap().remove("stream_options");
    let r = run(post(chat(&s), body));
    assert!(sse_json(&r.text())
        .iter()
        .all(|c| c.get("usage").is_none() && c["choices"].as_array().unwrap().len() == 1));
}

#[test]
fn openai_explicit_chunks_and_tool_calls() {
    let s = with_fixtures("");
    let r = run(post(chat(&s), openai_body("chunks please", true)));
    let pieces: Vec<String> = sse_json(&r.text())
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(pieces, ["ab", "cd", "ef"]);

    let v = run(post(chat(&s), openai_body("Weather in Paris?", false))).json();
    let msg = &v["choices"][0]["message"];
    assert!(msg["content"].is_null());
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["id"], "call_weather_1");
    assert_eq!(msg["tool_calls"][0]["type"], "function");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        msg["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({"city": "Paris"}));

    let r = run(post(chat(&s), openai_body("Weather in Paris?", true)));
    let chunks = sse_json(&r.text());
    let call = chunks
        .iter()
        .find(|c| c["choices"][0]["delta"]["tool_calls"].is_array())
        .unwrap();
    assert_eq!(
        call["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
}

#[test]
fn openai_models_health_and_unknown_routes() {
    let s = with_fixtures("models: [mock-model, gpt-4o-mini]");
    run(async {
        let v = send(client().get(format!("{}/v1/models", s.url())))
            .await
            .json();
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&"gpt-4o-mini") && ids.contains(&"mock-gpt"),
            "{ids:?}"
        );
        assert_eq!(v["data"][0]["object"], "model");
        let h = send(client().get(format!("{}/healthz", s.url()))).await;
        assert_eq!((h.status, h.json()["status"].clone()), (200, json!("ok")));
        let nf = send(client().get(format!("{}/v2/nothing", s.url()))).await;
        assert_eq!(nf.status, 404);
        assert!(nf.json()["error"]["message"].is_string());
        assert_eq!(send(client().get(chat(&s))).await.status, 405);
    });
}

#[test]
fn openai_bad_request_is_400_in_envelope() {
    let s = with_fixtures("");
    let r = run(post(chat(&s), json!({"model": "m", "messages": []})));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = run(send(client().post(chat(&s)).body("{not json")));
    assert_eq!(r.status, 400);
}

#[test]
fn h2c_prior_knowledge_is_served() {
    let s = with_fixtures("");
    let c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = run(async {
        c.post(chat(&s))
            .json_body(&openai_body("Say hello", true))
            .send()
            .await
            .unwrap()
    });
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    let text = run(res.text()).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
}

// ---------------------------------------------------------------- Anthropic

#[test]
fn anthropic_non_stream_and_tool_use() {
    let s = with_fixtures("");
    let r = run(send(
        client()
            .post(messages(&s))
            .header("x-api-key", "anything")
            .header("anthropic-version", "2023-06-01")
            .json_body(&anthropic_body("Say hello", false)),
    ));
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Hello there, friend!"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);

    let v = run(post(
        messages(&s),
        anthropic_body("Weather in Paris?", false),
    ))
    .json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["content"][0],
        json!({"type": "tool_use", "id": "call_weather_1", "name": "get_weather", "input": {"city": "Paris"}})
    );

    // max_tokens is required by the real API.
    let mut body = anthropic_body("Say hello", false);
    body.as_object_mut().unwrap().remove("max_tokens");
    let r = run(post(messages(&s), body));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
}

#[test]
fn anthropic_stream_event_sequence() {
    let s = with_fixtures("");
    let r = run(post(messages(&s), anthropic_body("Say hello", true)));
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&r.text());
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[1], "content_block_start");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for ((name, _), d) in events.iter().zip(&data) {
        assert_eq!(
            d["type"].as_str(),
            name.as_deref(),
            "event name matches data type"
        );
    }
    let text: String = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "Hello there, friend!");
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
    assert!(
        data[0]["message"]["usage"]["input_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let r = run(post(
        messages(&s),
        anthropic_body("Weather in Paris?", true),
    ));
    let data: Vec<Value> = sse_events(&r.text())
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let start = data
        .iter()
        .find(|d| d["type"] == "content_block_start")
        .unwrap();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let json_delta = data
        .iter()
        .find(|d| d["delta"]["type"] == "input_json_delta")
        .unwrap();
    let args: Value =
        serde_json::from_str(json_delta["delta"]["partial_json"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
}

// ---------------------------------------------------------------- Gemini

#[test]
fn gemini_generate_content_and_function_calls() {
    let s = with_fixtures("");
    let r = run(send(
        client()
            .post(gemini(&s, "generateContent", ""))
            .header("x-goog-api-key", "k")
            .json_body(&gemini_body("Say hello")),
    ));
    assert_eq!(r.status, 200);
    let v = r.json();
    let cand = &v["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(
        cand["content"]["parts"],
        json!([{"text": "Hello there, friend!"}])
    );
    assert_eq!(cand["finishReason"], "STOP");
    let u = &v["usageMetadata"];
    assert_eq!(u["candidatesTokenCount"], 5);
    assert_eq!(
        u["totalTokenCount"].as_u64(),
        Some(u["promptTokenCount"].as_u64().unwrap() + 5)
    );
    assert_eq!(v["modelVersion"], "mock-gpt");
    assert!(v["responseId"].is_string());

    let v = run(post(
        gemini(&s, "generateContent", ""),
        gemini_body("Weather in Paris?"),
    ))
    .json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0],
        json!({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}})
    );
    let r = run(post(
        gemini(&s, "generateContent", ""),
        json!({"contents": []}),
    ));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    // Unknown method on the model path is 404.
    assert_eq!(
        run(post(gemini(&s, "countTokens", ""), gemini_body("x"))).status,
        404
    );
}

#[test]
fn gemini_stream_sse_and_json_array() {
    let s = with_fixtures("");
    let r = run(post(
        gemini(&s, "streamGenerateContent", "?alt=sse"),
        gemini_body("Say hello"),
    ));
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let chunks = sse_json(&r.text());
    assert!(chunks.len() >= 3);
    let text: String = chunks
        .iter()
        .flat_map(|c| {
            c["candidates"][0]["content"]["parts"]
                .as_array()
                .unwrap()
                .clone()
        })
        .filter_map(|p| p["text"].as_str().map(String::from))
        .collect();
    assert_eq!(text, "Hello there, friend!");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);

    let r = run(post(
        gemini(&s, "streamGenerateContent", ""),
        gemini_body("Say hello"),
    ));
    let array = r.json();
    assert_eq!(array.as_array().unwrap().len(), chunks.len());
    assert_eq!(
        array.as_array().unwrap().last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );
}

// ---------------------------------------------------------------- keys

#[test]
fn wrong_api_key_is_401_in_each_envelope() {
    let s = with_fixtures("api_key: sk-right");
    run(async {
        let c = client();
        let bad = send(
            c.post(chat(&s))
                .bearer_auth("sk-wrong")
                .json_body(&openai_body("Say hello", false)),
        )
        .await;
        assert_eq!(bad.status, 401);
        let e = &bad.json()["error"];
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("invalid_request_error"), Some("invalid_api_key"))
        );
        assert!(e.get("param").is_some() && e["message"].is_string());
        assert_eq!(
            send(c.post(chat(&s)).json_body(&openai_body("Say hello", false)))
                .await
                .status,
            401
        );
        let ok = send(
            c.post(chat(&s))
                .bearer_auth("sk-right")
                .json_body(&openai_body("Say hello", false)),
        )
        .await;
        assert_eq!(ok.status, 200);
        assert_eq!(
            send(c.get(format!("{}/v1/models", s.url())).bearer_auth("nope"))
                .await
                .status,
            401
        );

        let bad = send(
            c.post(messages(&s))
                .header("x-api-key", "sk-wrong")
                .json_body(&anthropic_body("Say hello", false)),
        )
        .await;
        assert_eq!(bad.status, 401);
        assert_eq!(
            bad.json(),
            json!({"type": "error", "error": {"type": "authentication_error", "message": bad.json()["error"]["message"]}})
        );
        let ok = send(
            c.post(messages(&s))
                .header("x-api-key", "sk-right")
                .json_body(&anthropic_body("Say hello", false)),
        )
        .await;
        assert_eq!(ok.status, 200);

        let bad = send(
            c.post(gemini(&s, "generateContent", "?key=sk-wrong"))
                .json_body(&gemini_body("Say hello")),
        )
        .await;
        assert_eq!(bad.status, 401);
        assert_eq!(bad.json()["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(bad.json()["error"]["code"], 401);
        let ok = send(
            c.post(gemini(&s, "generateContent", "?key=sk-right"))
                .json_body(&gemini_body("Say hello")),
        )
        .await;
        assert_eq!(ok.status, 200);
        let ok = send(
            c.post(gemini(&s, "generateContent", ""))
                .header("x-goog-api-key", "sk-right")
                .json_body(&gemini_body("Say hello")),
        )
        .await;
        assert_eq!(ok.status, 200);
    });
    // Auth failures do not consume faults: they are counted per route only.
    assert_eq!(s.stats().faults["ok"], 4);
}

// ---------------------------------------------------------------- faults

#[test]
fn script_plays_in_order_with_429_headers_and_envelopes() {
    let s = with_fixtures("faults: {script: [429, ok, 500, 503, ok], retry_after_ms: 1500}");
    let statuses: Vec<Reply> = run(async {
        let mut out = vec![];
        for _ in 0..6 {
            out.push(post(chat(&s), openai_body("Say hello", false)).await);
        }
        out
    });
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    assert_eq!(codes, [429, 200, 500, 503, 200, 200]);
    let rl = &statuses[0];
    assert_eq!(rl.headers["retry-after"], "2");
    assert_eq!(rl.headers["retry-after-ms"], "1500");
    assert_eq!(rl.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(statuses[2].json()["error"]["type"], "server_error");

    s.reset_faults();
    let r = run(post(messages(&s), anthropic_body("Say hello", false)));
    assert_eq!(
        (r.status, r.json()["error"]["type"].clone()),
        (429, json!("rate_limit_error"))
    );
    let r = run(post(
        gemini(&s, "generateContent", ""),
        gemini_body("Say hello"),
    ));
    assert_eq!(r.status, 200);
    let r = run(post(
        gemini(&s, "generateContent", ""),
        gemini_body("Say hello"),
    ));
    assert_eq!(
        (r.status, r.json()["error"]["status"].clone()),
        (500, json!("INTERNAL"))
    );
    let r = run(post(messages(&s), anthropic_body("Say hello", false)));
    assert_eq!(
        (r.status, r.json()["error"]["type"].clone()),
        (503, json!("overloaded_error"))
    );
    let r = run(post(
        gemini(&s, "streamGenerateContent", "?alt=sse"),
        gemini_body("Say hello"),
    ));
    assert_eq!(r.status, 200);
}

fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = err.source();
    }
    None
}

#[test]
fn reset_really_resets_the_connection() {
    let s = with_fixtures("faults: {script: [reset, ok]}");
    let c = client();
    let err = run(c
        .post(chat(&s))
        .json_body(&openai_body("Say hello", false))
        .send())
    .unwrap_err();
    assert_eq!(
        io_kind(&err),
        Some(std::io::ErrorKind::ConnectionReset),
        "{err:?}"
    );
    // The next request gets a fresh connection and the normal answer.
    assert_eq!(
        run(send(
            c.post(chat(&s)).json_body(&openai_body("Say hello", false))
        ))
        .status,
        200
    );
    assert_eq!(s.stats().faults["reset"], 1);
}

#[test]
fn timeout_holds_until_the_client_gives_up() {
    // A patient client: the server drops the connection after the hold, unanswered.
    let s = with_fixtures("faults: {script: [timeout], timeout_hold_ms: 50}");
    let err = run(client()
        .post(chat(&s))
        .json_body(&openai_body("x", false))
        .send())
    .unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(s.stats().faults["timeout"], 1);

    // A client with a deadline gives up first (the default hold is 60 s; stopping ends it).
    let s = with_fixtures("faults: {script: [timeout]}");
    // (Built inside the runtime: reqwest arms its deadline timer when the request is sent.)
    let err = run(async {
        client()
            .post(chat(&s))
            .timeout(std::time::Duration::from_millis(200))
            .json_body(&openai_body("x", false))
            .send()
            .await
    })
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

/// Reads a body until it ends or fails: (bytes received, whether it failed).
async fn read_until_error(res: reqwest::Response) -> (String, bool) {
    let mut stream = res.bytes_stream();
    let mut got = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

#[test]
fn cut_ends_streams_and_bodies_early() {
    let s = with_fixtures("faults: {script: [cut, cut, cut, ok]}\nstream_chunk_delay_ms: 1");
    let c = client();
    run(async {
        let res = c
            .post(chat(&s))
            .json_body(&openai_body("Say hello", true))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let (text, failed) = read_until_error(res).await;
        assert!(failed);
        assert!(text.starts_with("data: "), "{text}");
        assert!(!text.contains("[DONE]"));

        let res = c
            .post(messages(&s))
            .json_body(&anthropic_body("Say hello", true))
            .send()
            .await
            .unwrap();
        let (text, failed) = read_until_error(res).await;
        assert!(failed && text.contains("message_start") && !text.contains("message_stop"));

        let res = c
            .post(chat(&s))
            .json_body(&openai_body("Say hello", false))
            .send()
            .await
            .unwrap();
        let (text, failed) = read_until_error(res).await;
        assert!(failed);
        assert!(serde_json::from_str::<Value>(&text).is_err());

        let (text, failed) = read_until_error(
            c.post(chat(&s))
                .json_body(&openai_body("Say hello", true))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(!failed && text.ends_with("data: [DONE]\n\n"));
    });
    assert_eq!(s.stats().faults["cut"], 3);
}

#[test]
fn malformed_is_200_with_invalid_json() {
    let s = with_fixtures("faults: {script: [malformed, malformed, malformed]}");
    let r = run(post(chat(&s), openai_body("Say hello", false)));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    let r = run(post(chat(&s), openai_body("Say hello", true)));
    assert_eq!(r.status, 200);
    let first = &sse_events(&r.text())[0].1;
    assert!(serde_json::from_str::<Value>(first).is_err());
    let r = run(post(
        gemini(&s, "generateContent", ""),
        gemini_body("Say hello"),
    ));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[test]
fn rate_faults_are_deterministic_for_a_seed() {
    let sequence = |seed: u64| {
        let s = with_fixtures(&format!(
            "seed: {seed}\nfaults: {{rates: {{429: 0.3, 500: 0.2, 503: 0.1}}}}"
        ));
        let codes: Vec<u16> = run(async {
            let mut out = vec![];
            for _ in 0..40 {
                out.push(post(chat(&s), openai_body("Say hello", false)).await.status);
            }
            out
        });
        let stats = s.stats();
        assert_eq!(
            stats.faults["429"] as usize,
            codes.iter().filter(|&&c| c == 429).count()
        );
        codes
    };
    let a = sequence(7);
    assert_eq!(a, sequence(7));
    assert_ne!(a, sequence(8));
    assert!(a.contains(&200) && a.contains(&429));
}

#[test]
fn latency_and_chunk_delay_still_answer() {
    let s = with_fixtures("latency: {dist: uniform, min_ms: 1, max_ms: 3}\nchunk_latency: {dist: normal, mean_ms: 1, stddev_ms: 1}");
    let r = run(post(chat(&s), openai_body("Say hello", true)));
    assert!(r.text().ends_with("data: [DONE]\n\n"));
}

// ---------------------------------------------------------------- stats, fixtures, limits

#[test]
fn stats_count_routes_faults_and_streams() {
    let s = with_fixtures("faults: {script: [429]}");
    run(async {
        post(chat(&s), openai_body("Say hello", false)).await;
        post(chat(&s), openai_body("Say hello", true)).await;
        post(messages(&s), anthropic_body("Say hello", false)).await;
        post(
            gemini(&s, "streamGenerateContent", "?alt=sse"),
            gemini_body("Say hello"),
        )
        .await;
        send(client().get(format!("{}/healthz", s.url()))).await;
    });
    let st = s.stats();
    assert_eq!(st.requests, 5);
    assert_eq!(st.routes["POST /v1/chat/completions"], 2);
    assert_eq!(st.routes["POST /v1/messages"], 1);
    assert_eq!(
        st.routes["POST /v1beta/models/{model}:streamGenerateContent"],
        1
    );
    assert_eq!(st.routes["GET /healthz"], 1);
    assert_eq!((st.faults["429"], st.faults["ok"]), (1, 3));
    assert_eq!(st.streams, 2);
    let over_http = run(send(client().get(format!("{}/_mock/stats", s.url())))).json();
    assert_eq!(over_http["faults"]["429"], 1);
    assert_eq!(over_http["routes"]["GET /_mock/stats"], 1);
    assert_eq!(over_http["requests"], 6);
    s.reset_stats();
    assert_eq!(s.stats().requests, 0);
    let r = run(send(client().post(format!("{}/_mock/reset", s.url()))));
    assert_eq!(r.status, 200);
    // The reset rewound the script too.
    assert_eq!(
        run(post(chat(&s), openai_body("Say hello", false))).status,
        429
    );
}

#[test]
fn fixture_matching_order_over_http() {
    let hashed = "Hash me exactly";
    let req = trinity_core::llm::ChatRequest {
        model: "m".into(),
        messages: vec![trinity_core::llm::Message::new(
            trinity_core::llm::Role::User,
            hashed,
        )],
        ..Default::default()
    };
    let yaml = format!(
        r#"fixtures:
  by_regex: {{match: "(?i)hash", response: regex}}
  by_exact: {{prompt: "{hashed}", response: exact}}
  by_hash: {{prompt_hash: "{}", response: hashed}}
  exact_only: {{prompt: "exact hash text", response: exact wins over regex}}
"#,
        prompt_hash(&req)
    );
    let s = start(&yaml);
    let content = |prompt: &str| {
        run(post(chat(&s), openai_body(prompt, false))).json()["choices"][0]["message"]["content"]
            .clone()
    };
    assert_eq!(content(hashed), "hashed");
    assert_eq!(content("exact hash text"), "exact wins over regex");
    assert_eq!(content("some HASH here"), "regex");
    assert_eq!(content("unmatched"), "unmatched");
    // The regex fixtures in the shared set: the first in file order wins.
    let s = with_fixtures("");
    let content = |prompt: &str| {
        run(post(chat(&s), openai_body(prompt, false))).json()["choices"][0]["message"]["content"]
            .clone()
    };
    assert_eq!(content("total chaos and calm"), "AAAA chaos wins");

    let s = with_fixtures("default_response: not_found");
    let r = run(post(chat(&s), openai_body("unmatched", false)));
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no fixture"));
    let s = with_fixtures("default_response: {text: canned}");
    assert_eq!(
        run(post(chat(&s), openai_body("unmatched", false))).json()["choices"][0]["message"]
            ["content"],
        "canned"
    );
}

#[test]
fn fixtures_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.yaml"), FIXTURES).unwrap();
    std::fs::write(dir.path().join("mock.yaml"), "fixtures_file: f.yaml\n").unwrap();
    let s =
        MockServer::start(MockConfig::from_file(dir.path().join("mock.yaml")).unwrap()).unwrap();
    let v = run(post(chat(&s), openai_body("Say hello", false))).json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello there, friend!"
    );
}

#[test]
fn body_limit_is_413() {
    let s = with_fixtures("max_body_bytes: 1024");
    let big = openai_body(&"x".repeat(4096), false);
    let r = run(post(chat(&s), big.clone()));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], "request_too_large");
    // Without a Content-Length (chunked), the limit holds while reading.
    let chunked =
        reqwest::Body::wrap_stream(futures_util::stream::iter(vec![Ok::<_, std::io::Error>(
            big.to_string(),
        )]));
    let r = run(send(
        client()
            .post(messages(&s))
            .header("content-type", "application/json")
            .body(chunked),
    ));
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["type"], "request_too_large");
    assert_eq!(
        run(post(chat(&s), openai_body("Say hello", false))).status,
        200
    );
    assert_eq!(trinity_core::mock::DEFAULT_MAX_BODY_BYTES, 8 << 20);
}

#[test]
fn stop_closes_the_port_and_drop_stops_too() {
    let mut s = with_fixtures("");
    let url = chat(&s);
    assert_eq!(
        run(post(url.clone(), openai_body("Say hello", false))).status,
        200
    );
    s.stop();
    s.stop(); // idempotent
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert!(run(c.post(&url).body("{}").send()).is_err());

    let s = with_fixtures("");
    let url = chat(&s);
    drop(s);
    assert!(run(c.post(&url).body("{}").send()).is_err());
}

#[test]
fn many_concurrent_requests_on_kept_alive_connections() {
    let s = with_fixtures("");
    let c = client();
    let ok = run(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let c = c.clone();
                let url = chat(&s);
                rt::spawn(async move {
                    let stream = i % 2 == 0;
                    let res = c
                        .post(url)
                        .json_body(&openai_body("Say hello", stream))
                        .send()
                        .await
                        .unwrap();
                    res.status().as_u16() == 200 && !res.bytes().await.unwrap().is_empty()
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await.unwrap() as usize;
        }
        ok
    });
    assert_eq!(ok, 200);
    assert_eq!(s.stats().routes["POST /v1/chat/completions"], 200);
}
