//! Issue 15: the client prunes a conversation over its model's window before sending it
//! (`context.auto_prune`, in the config or per request) instead of failing. Against the real
//! mock server, whose usage counts the prompt it received (o200k, the texts summed).

use futures_util::StreamExt;
use serde_json::{json, Value};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{rt, ErrorKind};

/// gpt-4o-mini in the registry: 128,000-token window, 16,384 max output.
const MODEL: &str = "p/gpt-4o-mini";
const BUDGET: u64 = 128_000 - 16_384;

fn server() -> MockServer {
    MockServer::start(
        MockConfig::from_json(json!({"seed": 1, "default_response": "echo"})).unwrap(),
    )
    .unwrap()
}

fn client(s: &MockServer, context: Value) -> Client {
    let config = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"}},
        "context": context,
    });
    Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap()
}

/// About 2,000 tokens of distinct words.
fn text(turn: usize) -> String {
    (0..1_000)
        .map(|i| format!("t{turn}w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A system prompt, `turns` user/assistant pairs of about 2,000 tokens each, then the
/// question: well over the window at 80 turns.
fn conversation(turns: usize, extra: Value) -> ChatRequest {
    let mut messages = vec![json!({"role": "system", "content": "You answer from the history."})];
    for t in 0..turns {
        messages.push(json!({"role": "user", "content": text(2 * t)}));
        messages.push(json!({"role": "assistant", "content": text(2 * t + 1)}));
    }
    messages.push(json!({"role": "user", "content": "What was said first?"}));
    let mut req = json!({"model": MODEL, "messages": messages});
    req.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ChatRequest::from_json(req).unwrap()
}

#[test]
fn a_conversation_over_the_window_is_pruned_to_fit_only_when_asked() {
    let s = server();
    let c = client(&s, json!({"auto_prune": true}));
    let full = rt::block_on(c.chat(conversation(80, json!({"context": {"auto_prune": false}}))))
        .unwrap()
        .usage
        .prompt_tokens;
    assert!(
        full > 128_000,
        "the conversation is over the window: {full}"
    );

    let r = rt::block_on(c.chat(conversation(80, json!({})))).unwrap();
    assert_eq!(
        r.content, "What was said first?",
        "the latest question is kept"
    );
    let sent = r.usage.prompt_tokens;
    // Whole turns of about 5,000 tokens go: it ends under the budget, within a turn of it.
    assert!(
        sent <= BUDGET && sent > BUDGET - 10_000,
        "{sent} of {BUDGET}"
    );

    // The request's max_tokens is the room kept for the answer, max_input_tokens a budget.
    let r = rt::block_on(c.chat(conversation(80, json!({"max_tokens": 60_000})))).unwrap();
    assert!(r.usage.prompt_tokens <= 128_000 - 60_000);
    let r = rt::block_on(c.chat(conversation(
        80,
        json!({"context": {"max_input_tokens": 10_000, "strategy": "keep_first_last"}}),
    )))
    .unwrap();
    assert!(r.usage.prompt_tokens <= 10_000, "{}", r.usage.prompt_tokens);

    // A conversation that fits goes as it is.
    let r = rt::block_on(c.chat(conversation(3, json!({})))).unwrap();
    assert!(r.usage.prompt_tokens > 12_000);

    // Streams too.
    let chunks: Vec<_> = rt::block_on(async {
        c.chat_stream(conversation(80, json!({})))
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await
    });
    let usage = chunks
        .iter()
        .rev()
        .find_map(|c| c.as_ref().unwrap().usage)
        .unwrap();
    assert!(usage.prompt_tokens <= BUDGET, "{}", usage.prompt_tokens);
}

#[test]
fn per_request_auto_prune_works_without_the_config() {
    let s = server();
    let c = client(&s, json!({}));
    let r = rt::block_on(c.chat(conversation(80, json!({})))).unwrap();
    assert!(r.usage.prompt_tokens > 128_000, "off by default");
    let r =
        rt::block_on(c.chat(conversation(80, json!({"context": {"auto_prune": true}})))).unwrap();
    assert!(r.usage.prompt_tokens <= BUDGET);
}

#[test]
fn what_cannot_fit_or_be_done_is_refused_before_anything_is_sent() {
    let s = server();
    let c = client(&s, json!({"auto_prune": true}));
    // Instructions alone over the budget: context_too_large, and the provider never asked.
    let huge = (0..70_000)
        .map(|i| format!("r{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let req = ChatRequest::from_json(json!({"model": MODEL, "messages": [
        {"role": "system", "content": huge}, {"role": "user", "content": "hi"}]}))
    .unwrap();
    let e = rt::block_on(c.chat(req)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ContextTooLarge, "{e}");
    assert_eq!(s.stats().requests, 0);

    // The client has no summariser: summarize is refused, per request and in the config.
    let e = ChatRequest::from_json(
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                                          "context": {"strategy": "summarize"}}),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("summarize"), "{e}");
    let config = json!({"providers": {"p": {"kind": "openai", "api_key": "k"}},
                        "context": {"auto_prune": true, "strategy": "summarize"}});
    let e = Config::from_value(config, EnvOverrides::Ignore).unwrap_err();
    assert!(e.message.contains("context.strategy"), "{e}");
}
