//! PromptOptimizer on the committed corpus (`core/tests/fixtures/prompts/`), exact o200k
//! counts: the lossless tier's savings per slice (aggregate, median and p90 of the per-prompt
//! savings), how many prompts lost or changed a number or URL, lossless throughput, and
//! `compress` time per 1,000 input tokens (the issue's bar: ≤ 1 ms).

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Instant;
use trinity_core::prompt::{compress_with, lossless_text, optimize_for_cost, Prompt};
use trinity_core::Encoding;

#[path = "../tests/support/prompt_corpus.rs"]
#[allow(dead_code)] // the bench reads no file names
mod prompt_corpus;
use prompt_corpus::{corpus, SLICES};

/// Every text of a prompt, joined (enough to compare the sets of numbers and URLs).
fn all_text(p: &Prompt) -> String {
    match p {
        Prompt::Text(t) => t.clone(),
        Prompt::Messages(m) => {
            let mut s = String::new();
            let mut walk = vec![Value::Array(m.clone())];
            while let Some(v) = walk.pop() {
                match v {
                    Value::String(t) => {
                        s.push_str(&t);
                        s.push('\n');
                    }
                    Value::Array(a) => walk.extend(a.into_iter().rev()),
                    Value::Object(o) => walk.extend(o.into_iter().map(|(_, v)| v)),
                    _ => {}
                }
            }
            s
        }
    }
}

fn numbers_and_urls(text: &str, re: &Regex) -> BTreeSet<String> {
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn median_time(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let reg = trinity_core::registry::global();
    let enc = Encoding::O200kBase;
    let cases = corpus();
    let spans = Regex::new(r#"(?:https?|ftp|file)://[^\s<>"'`]+|\d+(?:\.\d+)?"#).unwrap();

    println!("PromptOptimizer lossless tier (optimize_for_cost), o200k_base exact counts:");
    println!(
        "  {:<34} {:>7} {:>9} {:>9} {:>10} {:>8} {:>8}  number/URL changed",
        "slice", "prompts", "tokens", "after", "aggregate", "median", "p90"
    );
    let mut rows: Vec<(&str, Vec<&str>)> = SLICES.iter().map(|s| (*s, vec![*s])).collect();
    rows.insert(
        4,
        (
            "redundant (all but chat)",
            vec!["json", "logs", "history", "boilerplate"],
        ),
    );
    for (label, slices) in rows {
        let (mut before, mut after, mut changed, mut n) = (0, 0, 0, 0);
        let mut savings = Vec::new();
        for p in cases
            .iter()
            .filter(|c| slices.contains(&c.slice))
            .map(|c| &c.prompt)
        {
            let o = optimize_for_cost(&reg, p, None).unwrap();
            before += o.tokens_before;
            after += o.tokens_after;
            savings.push(1.0 - o.tokens_after as f64 / o.tokens_before as f64);
            // Repeats collapse to references, so compare distinct values.
            let (a, b) = (all_text(p), all_text(&o.prompt));
            let lost = numbers_and_urls(&a, &spans)
                .difference(&numbers_and_urls(&b, &spans))
                .count();
            changed += usize::from(lost > 0);
            n += 1;
        }
        savings.sort_by(f64::total_cmp);
        println!(
            "  {label:<34} {n:>7} {before:>9} {after:>9} {:>9.1}% {:>7.1}% {:>7.1}%  {changed} of {n}",
            100.0 * (1.0 - after as f64 / before as f64),
            100.0 * pct(&savings, 0.5),
            100.0 * pct(&savings, 0.9),
        );
    }
    // The pretty JSON values alone, as TOON's benchmark measures json-compact (-32.9%).
    let (mut jb, mut ja) = (0, 0);
    for p in cases
        .iter()
        .filter(|c| c.slice == "json")
        .map(|c| &c.prompt)
    {
        let Prompt::Text(t) = p else { continue };
        let mut at = 0;
        let mut fenced = false;
        while at < t.len() {
            let end = t[at..].find('\n').map_or(t.len(), |k| at + k);
            let line = t[at..end].trim_start();
            fenced ^= line.starts_with("```");
            let mut next = end + 1;
            if !fenced && (line.starts_with('{') || line.starts_with('[')) {
                let start = end - line.len();
                let mut it = serde_json::Deserializer::from_str(&t[start..]).into_iter::<Value>();
                if let Some(Ok(_)) = it.next() {
                    let raw = &t[start..start + it.byte_offset()];
                    jb += enc.count(raw);
                    ja += enc.count(&lossless_text(raw).0);
                    next = start + raw.len() + 1;
                }
            }
            at = next;
        }
    }
    println!(
        "  {:<34} {:>7} {jb:>9} {ja:>9} {:>9.1}%",
        "pretty JSON values alone",
        "",
        100.0 * (1.0 - ja as f64 / jb as f64)
    );

    // Throughput of the lossless passes (no counting).
    let bytes: usize = cases.iter().map(|c| all_text(&c.prompt).len()).sum();
    let t = median_time(20, || {
        for p in cases.iter().map(|c| &c.prompt) {
            match p {
                Prompt::Text(t) => drop(std::hint::black_box(lossless_text(t))),
                Prompt::Messages(m) => drop(std::hint::black_box(
                    trinity_core::prompt::lossless_messages(m).unwrap(),
                )),
            }
        }
    });
    println!(
        "  lossless passes: {:.1} MB/s over the corpus ({} KB), one core",
        bytes as f64 / t / 1e6,
        bytes / 1000
    );

    // compress: each prompt halfway between what its protected content needs and its
    // lossless count (so units really have to go), and long documents.
    println!("\ncompress(prompt, target), time per 1,000 input tokens (bar: ≤ 1 ms):");
    let texts: Vec<&String> = cases
        .iter()
        .filter_map(|c| match &c.prompt {
            Prompt::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    let (mut total_t, mut total_tok, mut worst, mut n) = (0.0, 0, 0.0f64, 0);
    for text in &texts {
        let Some(target) = halfway(text, enc) else {
            continue;
        };
        let tokens = enc.count(text);
        let out = compress_with(text, target, enc).unwrap();
        assert!(out.tokens_after <= target);
        let t = median_time(30, || {
            drop(std::hint::black_box(compress_with(text, target, enc)))
        });
        total_t += t;
        total_tok += tokens;
        n += 1;
        worst = worst.max(t * 1000.0 / (tokens as f64 / 1000.0));
    }
    println!(
        "  {n} corpus prompts with room to drop ({total_tok} tokens): {:.3} ms per 1k tokens overall, worst prompt {worst:.3} ms per 1k",
        total_t * 1000.0 / (total_tok as f64 / 1000.0),
    );
    let corpus_doc: String = texts
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    for (label, doc) in [
        ("the text corpus as one document", corpus_doc),
        ("generated prose", prose(6000)),
    ] {
        let tokens = enc.count(&doc);
        let full = enc.count(&lossless_text(&doc).0) as u64;
        let min = min_tokens(&doc, enc);
        for target in [min + (full - min) * 3 / 4, min + (full - min) / 4] {
            let out = compress_with(&doc, target, enc).unwrap();
            let t = median_time(10, || {
                drop(std::hint::black_box(compress_with(&doc, target, enc)))
            });
            println!(
                "  {label}, {tokens} tokens (protected: {min}) to {target}: {} tokens, {} units dropped, {:.2} ms = {:.3} ms per 1k tokens",
                out.tokens_after,
                out.dropped.len(),
                t * 1000.0,
                t * 1000.0 / (tokens as f64 / 1000.0)
            );
        }
    }
}

/// What `text`'s protected content needs (the error's `min_tokens` at a target of 0).
fn min_tokens(text: &str, enc: Encoding) -> u64 {
    match compress_with(text, 0, enc) {
        Ok(c) => c.tokens_after,
        Err(e) => e.details.unwrap()["min_tokens"].as_u64().unwrap(),
    }
}

fn halfway(text: &str, enc: Encoding) -> Option<u64> {
    let full = enc.count(&lossless_text(text).0) as u64;
    let min = min_tokens(text, enc);
    (full > min + 20).then_some(min + (full - min) / 2)
}

/// About `words` words of prose (seeded), with a number or a URL now and then.
fn prose(words: usize) -> String {
    const VOCAB: &[&str] = &[
        "the",
        "system",
        "stores",
        "every",
        "request",
        "in",
        "a",
        "queue",
        "and",
        "workers",
        "process",
        "them",
        "when",
        "capacity",
        "allows",
        "latency",
        "grows",
        "under",
        "load",
        "because",
        "retries",
        "pile",
        "up",
        "behind",
        "slow",
        "providers",
        "cache",
        "hits",
        "avoid",
        "that",
        "cost",
        "while",
        "misses",
        "pay",
        "full",
        "price",
        "for",
        "each",
        "token",
        "budget",
        "alerts",
        "fire",
        "before",
        "limits",
        "are",
        "reached",
        "so",
        "teams",
        "can",
        "react",
        "early",
        "reports",
        "summarise",
        "spend",
        "by",
        "model",
        "customer",
        "region",
        "week",
        "policy",
        "requires",
        "review",
        "of",
        "changes",
    ];
    let mut x: u64 = 42;
    let mut out = String::new();
    let mut sentence = 0;
    for i in 0..words {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = VOCAB[(x >> 33) as usize % VOCAB.len()];
        if sentence == 0 {
            let mut c = w.chars();
            out.extend(c.next().unwrap().to_uppercase());
            out.push_str(c.as_str());
        } else {
            out.push_str(w);
        }
        sentence += 1;
        if (x >> 20).is_multiple_of(97) {
            out.push_str(&format!(" {}", (x >> 40) % 10_000));
        }
        if (x >> 24).is_multiple_of(211) {
            out.push_str(&format!(" https://docs.example.com/p/{}", (x >> 44) % 500));
        }
        if sentence > 8 && (x >> 28).is_multiple_of(5) {
            out.push('.');
            sentence = 0;
            out.push_str(if i % 7 == 0 { "\n\n" } else { " " });
        } else {
            out.push(' ');
        }
    }
    out.push_str("\n\nQuestion: what makes latency grow under load?");
    out
}
