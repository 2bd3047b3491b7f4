//! `context::prune` on a 1,000-message, ~200k-token history (the bar: ≤ 1 ms warm),
//! cold (every message tokenized) and warm (the counts remembered from the call before, as when
//! the same history is pruned again at the next turn).

use serde_json::{json, Value};
use std::time::Instant;
use trinity_core::context::{prune, PruneOptions};

fn history() -> Vec<Value> {
    let mut msgs = vec![json!({"role": "system", "content": "You are a careful assistant."})];
    let para = "The engine keeps a count of every message it has seen, so pruning the same history again costs a hash per message. ";
    for i in 0..333 {
        msgs.push(json!({"role": "user", "content": format!("Question {i}: {}", para.repeat(11))}));
        let id = format!("call_{i}");
        msgs.push(json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": "search", "arguments": format!("{{\"q\": \"topic {i}\"}}")}}]}));
        msgs.push(json!({"role": "tool", "tool_call_id": id, "content": para.repeat(11)}));
    }
    msgs.push(json!({"role": "user", "content": "And now, the summary?"}));
    msgs
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let reg = trinity_core::registry::global();
    let msgs = history();
    let opts = PruneOptions {
        max_input_tokens: Some(100_000),
        ..PruneOptions::default()
    };
    let t = Instant::now();
    let first = prune(&reg, &msgs, "gpt-4o-mini", &opts, None).unwrap();
    let cold = t.elapsed();
    let runs = 200;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(prune(&reg, &msgs, "gpt-4o-mini", &opts, None).unwrap());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "context::prune, {} messages, {} tokens to a budget of 100,000 (kept {} messages):",
        msgs.len(),
        first.tokens_before,
        first.messages.len()
    );
    println!(
        "  cold (every message tokenized)      {:>8.2} ms",
        cold.as_secs_f64() * 1000.0
    );
    println!(
        "  warm (counts remembered), median    {:>8.3} ms  (p90 {:.3} ms; bar ≤ 1 ms)",
        times[runs / 2],
        times[runs * 9 / 10]
    );
}
