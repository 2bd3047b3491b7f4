//! Registry look-ups and token counts of a sample document, from Rust.
//! Run: cargo run -p trinity-core --example demo [FILE]

use trinity_core::{registry, tokens, Encoding};

fn main() -> Result<(), trinity_core::Error> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data/sample.md").to_string()
    });
    let doc = std::fs::read_to_string(&path).map_err(|e| trinity_core::Error::io(&path, e))?;
    let reg = registry::global();
    println!(
        "trinity-core {} (Rust) · {} models · {}: {} chars",
        trinity_core::VERSION,
        reg.len(),
        path.rsplit('/').next().unwrap_or(&path),
        doc.chars().count()
    );
    println!(
        "{:<22} {:<10} {:>9} {:>7} {:>6} {:>10}",
        "model", "provider", "context", "tokens", "exact", "prompt $"
    );
    for name in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-3.5-turbo",
        "claude-sonnet",
        "gemini-2.5-flash",
        "llama3.1:8b",
    ] {
        let m = reg.get(name)?;
        let messages = serde_json::json!([{ "role": "user", "content": doc }]);
        let count = tokens::count_messages(&reg, &messages, &m.id)?;
        let cost = count.tokens as f64 * m.input_per_1m / 1e6;
        let exact = if count.estimated { "est." } else { "yes" };
        println!(
            "{name:<22} {:<10} {:>9} {:>7} {exact:>6} {cost:>10.6}",
            m.provider, m.context_window, count.tokens
        );
    }
    for enc in Encoding::ALL {
        println!("{}: {} tokens", enc.name(), enc.count(&doc));
    }
    if let Err(e) = reg.get("gpt-4o-mni") {
        println!("unknown model → {}: {}", e.code(), e.message);
    }
    chat(&doc)
}

/// A chat and a stream through the client, against the mock server on loopback.
fn chat(doc: &str) -> Result<(), trinity_core::Error> {
    use futures_util::StreamExt;
    use trinity_core::config::{Config, EnvOverrides};
    use trinity_core::llm::{ChatRequest, Client};
    use trinity_core::mock::{MockConfig, MockServer};

    let fixtures = serde_json::json!({"fixtures": {"summary": {"match": "(?i)summari[sz]e",
        "response": "Know your tokens, prices and limits before the request leaves."}}});
    let server = MockServer::start(MockConfig::from_json(fixtures)?)?;
    let config = serde_json::json!({"providers": {"openai": {"kind": "openai_compatible",
        "base_url": format!("{}/v1", server.url())}}});
    let client = Client::new(Config::from_value(config, EnvOverrides::Ignore)?)?;
    let request = ChatRequest::from_json(serde_json::json!({"model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": format!("Summarize:\n{doc}")}]}))?;
    trinity_core::rt::block_on(async {
        let r = client.chat(request.clone()).await?;
        println!(
            "chat [{} via {}, {:.1} ms]: {} ({} tokens in, ${:.6})",
            r.model,
            r.provider,
            r.latency_ms,
            r.content,
            r.usage.prompt_tokens,
            r.cost_usd.unwrap_or(0.0)
        );
        let mut stream = client.chat_stream(request).await?;
        let mut pieces = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if !chunk.delta.is_empty() {
                pieces.push(chunk.delta);
            }
        }
        println!("stream: {}", pieces.join("|"));
        Ok(())
    })
}
