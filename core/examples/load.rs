//! Requests per second of the Rust client against an OpenAI-compatible server.
//! Run: cargo run --release -p trinity-core --example load -- URL [CONCURRENCY] [TOTAL]

use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("URL of the server, e.g. http://127.0.0.1:8080");
    let concurrency: usize = args.next().map_or(50, |a| a.parse().expect("a number"));
    let total: usize = args.next().map_or(20_000, |a| a.parse().expect("a number"));
    let config = json!({"providers": {"mock": {"kind": "openai_compatible", "base_url": format!("{url}/v1")}}});
    let client =
        Arc::new(Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap());
    let req = ChatRequest::from_json(json!({"model": "mock/mock-model",
        "messages": [{"role": "user", "content": "Summarise the benefits of caching LLM responses in one sentence."}]}))
    .unwrap();
    let rps = trinity_core::rt::block_on(async {
        let run = |n: usize| {
            let client = client.clone();
            let req = req.clone();
            async move {
                futures_util::stream::iter(0..n)
                    .map(|_| {
                        let client = client.clone();
                        let req = req.clone();
                        async move { client.chat(req).await.expect("answer") }
                    })
                    .buffer_unordered(concurrency)
                    .count()
                    .await
            }
        };
        run(concurrency * 4).await;
        let started = Instant::now();
        run(total).await;
        total as f64 / started.elapsed().as_secs_f64()
    });
    println!("rust client: {rps:.0} req/s at {concurrency} concurrent");
}
