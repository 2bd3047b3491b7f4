//! Issue 14: with real-looking keys of every supported kind in the config (API keys, headers,
//! URL credentials, a key in a model name), on every error path and at every log level, no key
//! appears in any log line or field, request-log export, metrics text or error a caller gets.
//! Against a real mock server and a closed port. (The bindings only convert these same strings.)

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::observe::log::{flush, LogRecord};
use trinity_core::rt;

const OPENAI: &str = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l";
const ANTHROPIC: &str =
    "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8bA7zY6xW5vU4tS3rQ2pO1nM0lK-AbCdEfAA";
const GOOGLE: &str = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q";
const GROQ: &str = "gsk_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn";
const OPENROUTER: &str =
    "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";
const AWS: &str = "AKIAIOSFODNN7EXAMPLF";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const URL_PASSWORD: &str = "hunter2-Vx9Qp3Lm7Zt5";

fn all_secrets() -> Vec<&'static str> {
    vec![
        OPENAI,
        ANTHROPIC,
        GOOGLE,
        GROQ,
        OPENROUTER,
        AWS,
        JWT,
        URL_PASSWORD,
    ]
}

fn ask(model: &str) -> ChatRequest {
    ChatRequest::from_json(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

#[test]
fn no_key_reaches_a_log_a_record_a_metric_or_an_error() {
    // A server that wants the OpenAI key: any other key gets a 401.
    let s =
        MockServer::start(MockConfig::from_json(json!({"seed": 1, "api_key": OPENAI})).unwrap())
            .unwrap();
    let v1 = format!("{}/v1", s.url());
    let closed = "127.0.0.1:9".to_owned(); // discard port: nothing listens
    let config = json!({
        "providers": {
            "good": {"kind": "openai", "base_url": v1, "api_key": OPENAI,
                     "headers": {"x-trace-token": JWT}},
            "wrong": {"kind": "openai", "base_url": v1, "api_key": ANTHROPIC},
            "groq": {"kind": "openai_compatible", "base_url": v1, "api_key": GROQ},
            "gone": {"kind": "openai", "base_url": format!("http://user:{URL_PASSWORD}@{closed}/v1?key={GOOGLE}"),
                     "api_key": OPENROUTER, "connect_timeout_ms": 500},
        },
        "retry": {"max_attempts": 2, "base_ms": 1, "cap_ms": 2},
        "logging": {"level": "trace", "format": "json"},
        "metrics": {"enabled": true},
    });
    let c = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let lines = Arc::new(Mutex::new(Vec::<LogRecord>::new()));
    let into = lines.clone();
    c.on_log(Arc::new(move |r: &[LogRecord]| {
        into.lock().unwrap().extend_from_slice(r)
    }));

    let mut errors = Vec::new();
    let mut answered = 0;
    for model in [
        "good/gpt-4o-mini".to_owned(),  // answered
        "wrong/gpt-4o-mini".to_owned(), // 401 from the server
        "groq/llama-3.1-8b".to_owned(), // 401, another wire format name
        "gone/gpt-4o-mini".to_owned(),  // connection refused, URL with credentials
        format!("good/{AWS}"),          // a key in the model name: answered, logged, recorded
        format!("nowhere/{OPENAI}"),    // resolution error naming it
    ] {
        match rt::block_on(c.chat(ask(&model))) {
            Ok(_) => answered += 1,
            Err(e) => errors.push(
                serde_json::to_string(&json!({
                    "code": e.code(), "message": e.message, "details": e.details,
                }))
                .unwrap(),
            ),
        }
    }
    assert!(flush(Duration::from_secs(10)));
    assert!(
        answered >= 2 && errors.len() >= 3,
        "answered {answered}, errors {errors:#?}"
    );

    let logs: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|r| format!("{} {:?}", r.line, r.fields))
        .collect();
    assert!(logs.len() >= 6, "{logs:#?}");
    let surfaces = [
        ("log", logs.join("\n")),
        ("error", errors.join("\n")),
        ("request log", c.request_log().export("json").unwrap()),
        ("request log csv", c.request_log().export("csv").unwrap()),
        ("metrics", c.metrics_text().unwrap()),
    ];
    for (what, text) in &surfaces {
        assert!(!text.is_empty(), "{what} is empty");
        for secret in all_secrets() {
            assert!(!text.contains(secret), "{what} holds {secret}:\n{text}");
        }
    }
}
