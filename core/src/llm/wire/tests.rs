use super::*;
use crate::llm::sse::Decoder;
use crate::llm::types::*;
use serde_json::json;

fn req() -> ChatRequest {
    ChatRequest::from_json(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"answer\": 42}"},
            {"role": "user", "content": "thanks"}
        ],
        "temperature": 0.5, "max_tokens": 100, "stop": "END", "seed": 7,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "required", "user": "u1"
    }))
    .unwrap()
}

fn events(format: Format, sse: &str) -> Result<Vec<ChatChunk>> {
    let mut d = Decoder::new();
    let mut state = format.stream_state();
    let mut evs = d.feed(sse.as_bytes())?;
    evs.extend(d.finish());
    let mut out = Vec::new();
    for ev in evs {
        let step = state.event(&ev)?;
        out.extend(step.chunks);
        if step.done {
            break;
        }
    }
    Ok(out)
}

#[test]
fn request_validation_names_the_field() {
    let bad = |v: Value| ChatRequest::from_json(v).unwrap_err();
    assert_eq!(
        bad(json!({"model": "m", "messages": []})).details.unwrap()["path"],
        "messages"
    );
    assert_eq!(
        bad(json!({"model": "", "messages": [{"role": "user", "content": "x"}]}))
            .details
            .unwrap()["path"],
        "model"
    );
    let e = bad(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}),
    );
    assert_eq!(e.details.unwrap()["path"], "temperature");
    let e = bad(json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let e = bad(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "bogus": 1}));
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(
        bad(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]})).kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(req().stop, vec!["END".to_string()]);
}

#[test]
fn openai_body_and_parse() {
    let b = Format::OpenAi {
        strict_openai: true,
    }
    .body(&req(), "gpt-4o", true, None);
    assert_eq!(b["model"], "gpt-4o");
    assert_eq!(b["max_completion_tokens"], 100);
    assert_eq!(b["stream_options"]["include_usage"], true);
    assert_eq!(
        b["messages"][2]["tool_calls"][0]["function"]["name"],
        "lookup"
    );
    let compat = Format::OpenAi {
        strict_openai: false,
    }
    .body(&req(), "llama", false, None);
    assert_eq!(compat["max_tokens"], 100);
    assert!(compat.get("stream").is_none());

    let body = json!({"id": "chatcmpl-1", "model": "gpt-4o-2024", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi",
        "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 3}}});
    let r = Format::OpenAi {
        strict_openai: true,
    }
    .parse(body.to_string().as_bytes())
    .unwrap();
    assert_eq!(
        (
            r.content.as_str(),
            r.usage.cached_tokens,
            r.tool_calls.len()
        ),
        ("hi", 3, 1)
    );
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        Format::OpenAi {
            strict_openai: true
        }
        .parse(b"{not json")
        .unwrap_err()
        .kind,
        ErrorKind::Provider
    );
}

#[test]
fn openai_stream() {
    let sse = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n",
        "data: [DONE]\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n\n",
    );
    let chunks = events(
        Format::OpenAi {
            strict_openai: true,
        },
        sse,
    )
    .unwrap();
    let text: String = chunks.iter().map(|c| c.delta.as_str()).collect();
    assert_eq!(text, "Hello");
    assert_eq!(chunks[2].tool_calls[0].name.as_deref(), Some("f"));
    assert_eq!(
        chunks
            .iter()
            .find_map(|c| c.finish_reason.clone())
            .as_deref(),
        Some("stop")
    );
    assert_eq!(chunks.last().unwrap().usage.unwrap().total_tokens, 5);
    let err = events(
        Format::OpenAi {
            strict_openai: true,
        },
        "data: {\"error\":{\"message\":\"boom\"}}\n\n",
    );
    assert_eq!(err.unwrap_err().kind, ErrorKind::Provider);
    assert!(events(
        Format::OpenAi {
            strict_openai: true
        },
        "data: {oops\n\n"
    )
    .is_err());
}

#[test]
fn anthropic_body_parse_and_stream() {
    let b = Format::Anthropic.body(&req(), "claude-x", false, Some(8192));
    assert_eq!(b["system"], "be brief");
    assert_eq!(b["max_tokens"], 100);
    assert_eq!(b["stop_sequences"], json!(["END"]));
    assert_eq!(b["tool_choice"], json!({"type": "any"}));
    assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["content"][1]["source"]["type"], "base64");
    assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
    // the tool result and the next user turn merge into one user message
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
    assert_eq!(msgs[2]["content"][1]["text"], "thanks");
    let mut no_max = req();
    no_max.max_tokens = None;
    assert_eq!(
        Format::Anthropic.body(&no_max, "c", false, Some(8192))["max_tokens"],
        8192
    );

    let body = json!({"id": "msg_1", "type": "message", "model": "claude-x", "stop_reason": "tool_use",
        "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "tu", "name": "f", "input": {"a": 1}}],
        "usage": {"input_tokens": 10, "output_tokens": 4, "cache_read_input_tokens": 6}});
    let r = Format::Anthropic
        .parse(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 16,
            completion_tokens: 4,
            total_tokens: 20,
            cached_tokens: 6,
            ..Default::default()
        }
    );
    assert_eq!(r.tool_calls[0].function.arguments, "{\"a\":1}");

    let sse = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"tu\",\"name\":\"f\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let chunks = events(Format::Anthropic, sse).unwrap();
    assert_eq!(chunks[0].delta, "Hi");
    assert_eq!(chunks[1].tool_calls[0].index, 0);
    assert_eq!(chunks[2].tool_calls[0].arguments, "{\"a\"");
    let last = chunks.last().unwrap();
    assert_eq!(last.finish_reason.as_deref(), Some("stop"));
    assert_eq!(last.usage.unwrap().total_tokens, 14);
    let err = events(Format::Anthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\n");
    assert_eq!(err.unwrap_err().kind, ErrorKind::Provider);
}

#[test]
fn gemini_body_parse_and_stream() {
    let g = Format::Gemini;
    assert_eq!(
        g.url("https://x/v1beta/", "gemini-2.5-flash", true),
        "https://x/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    let b = g.body(&req(), "ignored", false, None);
    assert_eq!(b["systemInstruction"]["parts"][0]["text"], "be brief");
    assert_eq!(b["generationConfig"]["maxOutputTokens"], 100);
    assert_eq!(
        b["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );
    assert_eq!(b["contents"][1]["role"], "model");
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"]["name"],
        "lookup"
    );
    assert_eq!(
        b["contents"][2]["parts"][0]["functionResponse"]["response"]["answer"],
        42
    );

    let body = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
    let r = g.parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        (
            r.content.as_str(),
            r.finish_reason.as_deref(),
            r.usage.total_tokens
        ),
        ("Hello", Some("stop"), 6)
    );
    let sse = concat!(
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"A\"}]}}]}\n\n",
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"x\":1}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":1,\"candidatesTokenCount\":1,\"totalTokenCount\":2}}\n\n",
    );
    let chunks = events(g, sse).unwrap();
    assert_eq!(chunks[0].delta, "A");
    assert_eq!(chunks[1].tool_calls[0].id.as_deref(), Some("call_0"));
    assert_eq!(chunks[1].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(chunks[1].usage.unwrap().total_tokens, 2);
}

#[test]
fn error_envelopes() {
    let (t, m) = Format::OpenAi {
        strict_openai: true,
    }
    .error_info(br#"{"error":{"message":"bad key","type":"invalid_request_error"}}"#);
    assert_eq!(
        (t.as_deref(), m.as_deref()),
        (Some("invalid_request_error"), Some("bad key"))
    );
    let (t, _) = Format::Anthropic
        .error_info(br#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#);
    assert_eq!(t.as_deref(), Some("overloaded_error"));
    let (t, _) = Format::Gemini
        .error_info(br#"{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}"#);
    assert_eq!(t.as_deref(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(Format::Gemini.error_info(b"<html>"), (None, None));
}

/// A request with Anthropic prompt-cache breakpoints where they can go (4, the most allowed):
/// the last tool and a system part (1h), an image part (5m), a tool message's part.
fn cached_req() -> ChatRequest {
    let eph = json!({"type": "ephemeral"});
    ChatRequest::from_json(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "stable rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "Current date: 2026-05-01"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "a long document"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}, "cache_control": {"type": "ephemeral", "ttl": "5m"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42", "cache_control": eph}]},
            {"role": "user", "content": "thanks"}
        ],
        "tools": [
            {"type": "function", "function": {"name": "a"}},
            {"type": "function", "function": {"name": "lookup"}, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    }))
    .unwrap()
}

fn has_cache_control(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.contains_key("cache_control") || o.values().any(has_cache_control),
        Value::Array(a) => a.iter().any(has_cache_control),
        _ => false,
    }
}

#[test]
fn cache_control_parses_and_round_trips() {
    let r = cached_req();
    let Some(Content::Parts(parts)) = &r.messages[1].content else {
        panic!("parts")
    };
    assert_eq!(parts[0].cache_control(), None);
    assert_eq!(
        parts[1].cache_control().unwrap().ttl,
        Some(PromptCacheTtl::FiveMinutes)
    );
    // Serialized as given (bindings and the pruner round-trip requests through JSON).
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["messages"][0]["content"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
    assert_eq!(
        v["messages"][3]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert!(v["messages"][1]["content"][0]
        .get("cache_control")
        .is_none());
    assert_eq!(ChatRequest::from_json(v.clone()).unwrap(), r, "round trip");
    assert!(
        !has_cache_control(&serde_json::to_value(req()).unwrap()),
        "nothing added where there was none"
    );
    let paths: Vec<String> = r.cache_breakpoints().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "tools[1].cache_control",
            "messages[0].content[0].cache_control",
            "messages[1].content[1].cache_control",
            "messages[3].content[0].cache_control"
        ]
    );
    assert_eq!(
        PromptCacheControl::ephemeral(),
        serde_json::from_value(json!({"type": "ephemeral"})).unwrap()
    );
}

#[test]
fn anthropic_body_keeps_every_breakpoint_on_its_block() {
    let b = Format::Anthropic.body(&cached_req(), "claude-x", false, None);
    let eph = json!({"type": "ephemeral"});
    // The system prompt becomes blocks, each part's mark on its block.
    assert_eq!(
        b["system"],
        json!([
            {"type": "text", "text": "stable rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"type": "text", "text": "Current date: 2026-05-01"}
        ])
    );
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0]["content"][0],
        json!({"type": "text", "text": "a long document"})
    );
    assert_eq!(msgs[0]["content"][1]["type"], "image");
    assert_eq!(
        msgs[0]["content"][1]["cache_control"],
        json!({"type": "ephemeral", "ttl": "5m"})
    );
    assert!(msgs[1]["content"][0].get("cache_control").is_none());
    // A tool message's mark goes on the tool_result block, not inside its content.
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "c1", "content": "42", "cache_control": eph})
    );
    assert!(msgs[2]["content"][1].get("cache_control").is_none());
    assert!(b["tools"][0].get("cache_control").is_none());
    assert_eq!(
        b["tools"][1]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
    // Four marks in the request, four blocks with cache_control on the wire (the tool's included).
    let count = |v: &Value| {
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|x| x.get("cache_control").is_some())
            .count()
    };
    let on_wire = count(&b["system"])
        + count(&b["tools"])
        + msgs.iter().map(|m| count(&m["content"])).sum::<usize>();
    assert_eq!(on_wire, 4);

    // Without marks the system prompt stays one string, byte for byte as before.
    let mut plain = cached_req();
    plain.messages[0].content = Some(Content::Parts(vec![
        ContentPart::text("a"),
        ContentPart::text("b"),
    ]));
    plain.messages.insert(1, Message::new(Role::Developer, "c"));
    assert_eq!(
        Format::Anthropic.body(&plain, "c", false, None)["system"],
        "ab\n\nc"
    );
}

#[test]
fn openai_and_gemini_bodies_never_carry_cache_control() {
    for strict_openai in [true, false] {
        let b = Format::OpenAi { strict_openai }.body(&cached_req(), "gpt-4o", false, None);
        assert!(!has_cache_control(&b), "{b}");
        // The parts themselves are kept.
        assert_eq!(b["messages"][1]["content"][0]["text"], "a long document");
        assert_eq!(b["messages"][0]["content"][0]["text"], "stable rules");
        assert_eq!(b["tools"][1]["function"]["name"], "lookup");
    }
    let g = Format::Gemini.body(&cached_req(), "gemini-2.5-flash", false, None);
    assert!(!has_cache_control(&g), "{g}");
    assert_eq!(g["contents"][0]["parts"][0]["text"], "a long document");
}

#[test]
fn cache_breakpoints_are_checked_before_sending() {
    let eph = json!({"type": "ephemeral"});
    let part = |t: &str, c: &Value| json!({"type": "text", "text": t, "cache_control": c});
    let user = |n: usize| json!({"role": "user", "content": (0..n).map(|i| part(&format!("p{i}"), &eph)).collect::<Vec<_>>()});
    let with =
        |messages: Value| ChatRequest::from_json(json!({"model": "m", "messages": messages}));
    assert!(with(json!([user(4)])).is_ok());

    // Five: invalid_input naming the fifth mark and the count.
    let e = with(json!([user(5)])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let d = e.details.unwrap();
    assert_eq!(d["path"], "messages[0].content[4].cache_control");
    assert_eq!((d["count"].as_u64(), d["max"].as_u64()), (Some(5), Some(4)));

    // Tools and system come first in Anthropic's order, whatever the message order.
    let e = ChatRequest::from_json(json!({"model": "m", "messages": [
            user(2),
            {"role": "system", "content": [part("s", &eph)]},
            user(1)],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": eph}]}))
    .unwrap_err();
    assert_eq!(
        e.details.unwrap()["path"],
        "messages[2].content[0].cache_control"
    );
    let e = ChatRequest::from_json(json!({"model": "m", "messages": [user(4)],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": eph}]}))
    .unwrap_err();
    assert_eq!(e.details.unwrap()["count"], 5, "the tool's mark counts too");

    // A tool message's marks are one tool_result block.
    let tool =
        json!({"role": "tool", "tool_call_id": "c", "content": [part("a", &eph), part("b", &eph)]});
    assert!(with(json!([user(3), tool])).is_ok());

    // 1h marks must come before 5m ones.
    let hour = json!({"type": "ephemeral", "ttl": "1h"});
    let ok = with(json!([{"role": "system", "content": [part("s", &hour)]}, user(1)]));
    assert!(ok.is_ok());
    let e = with(json!([{"role": "user", "content": [part("a", &eph), part("b", &hour)]}]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(
        e.details.unwrap()["path"],
        "messages[0].content[1].cache_control"
    );

    // A malformed mark is named where it is.
    for bad in [
        json!({"type": "persistent"}),
        json!({"type": "ephemeral", "ttl": "2h"}),
        json!({"type": "ephemeral", "extra": 1}),
    ] {
        let e = with(json!([{"role": "user", "content": [part("a", &eph), part("b", &bad)]}]))
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        let path = e.details.unwrap()["path"].as_str().unwrap().to_string();
        assert!(path.starts_with("messages[0].content[1]"), "{path}");
    }
}

#[test]
fn cache_keys_ignore_breakpoints() {
    let marked = cached_req();
    let mut v = serde_json::to_value(&marked).unwrap();
    for field in ["messages", "tools"] {
        crate::llm::types::strip_cache_control(&mut v[field]);
    }
    let unmarked = ChatRequest::from_json(v).unwrap();
    assert!(unmarked.cache_breakpoints().is_empty());
    let key = |r: &ChatRequest| {
        crate::cache::key::chat_key(r, Some("p"), crate::cache::key::Strategy::Content, "ns")
    };
    assert_eq!(key(&marked), key(&unmarked));
}
