//! Issue 10: the variables the official SDKs read fill what the config leaves unset. One test
//! in its own binary, because it sets process environment variables.

use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::rt;

/// An OpenAI endpoint that records each request's head and answers a completion.
async fn recording_openai(heads: Arc<Mutex<Vec<String>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                let k = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..k]);
            }
            heads
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_ascii_lowercase());
            let body = json!({"id": "c1", "object": "chat.completion", "model": "m", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
            .to_string();
            let reply = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            sock.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    url
}

#[test]
fn sdk_variables_give_base_urls_keys_and_openai_headers() {
    let mock = MockServer::start(
        MockConfig::from_json(
            json!({"fixtures": {"g": {"prompt": "hi", "response": "from the mock"}}}),
        )
        .unwrap(),
    )
    .unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let openai = rt::block_on(recording_openai(heads.clone()));
    // As users export them for the SDKs: no `/v1` on the Anthropic and Gemini bases, none on
    // this OpenAI one either (a bare host).
    for (k, v) in [
        ("OPENAI_BASE_URL", openai.as_str()),
        ("OPENAI_API_KEY", "sk-test-openai"),
        ("OPENAI_ORG_ID", "org-trinity"),
        ("OPENAI_PROJECT_ID", "proj_trinity"),
        ("ANTHROPIC_BASE_URL", &mock.url()),
        ("ANTHROPIC_API_KEY", "sk-ant-test"),
        ("GOOGLE_GEMINI_BASE_URL", &mock.url()),
        ("GEMINI_API_KEY", "AIza-test"),
    ] {
        std::env::set_var(k, v);
    }
    let config = json!({"providers": {"o": {"kind": "openai"}, "a": {"kind": "anthropic"}, "g": {"kind": "gemini"}}});
    let c = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let ask = |model: &str| {
        let r = ChatRequest::from_json(
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap();
        rt::block_on(c.chat(r)).map(|r| r.content)
    };
    assert_eq!(ask("o/gpt-4o-mini").unwrap(), "ok");
    assert_eq!(ask("a/claude-3-5-haiku").unwrap(), "from the mock");
    assert_eq!(ask("g/gemini-2.0-flash").unwrap(), "from the mock");
    let head = heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("post /v1/chat/completions "), "{head}");
    for line in [
        "authorization: bearer sk-test-openai",
        "openai-organization: org-trinity",
        "openai-project: proj_trinity",
    ] {
        assert!(head.contains(line), "{line} missing from\n{head}");
    }
}
