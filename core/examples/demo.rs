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
    Ok(())
}
