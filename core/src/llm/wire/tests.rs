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
