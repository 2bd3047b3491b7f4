//! The scrubber against 10,000 generated keys of every supported kind, embedded in the places
//! keys leak through (error text, JSON bodies, headers, URLs, prose), and against clean text
//! that must come back unchanged.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;
use trinity_core::observe::scrub;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn chars(rng: &mut ChaCha8Rng, set: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| set[rng.random_range(0..set.len())] as char)
        .collect()
}

/// A key of kind `i % 12`, shaped as the provider issues them.
fn key(rng: &mut ChaCha8Rng, i: usize) -> String {
    match i % 12 {
        0 => format!("sk-proj-{}", chars(rng, URLSAFE, 156)),
        1 => format!(
            "sk-{}T3BlbkFJ{}",
            chars(rng, ALNUM, 20),
            chars(rng, ALNUM, 20)
        ),
        2 => format!("sk-ant-api03-{}AA", chars(rng, URLSAFE, 93)),
        3 => format!("AIza{}", chars(rng, URLSAFE, 35)),
        4 => format!("gsk_{}", chars(rng, ALNUM, 52)),
        5 => format!("xai-{}", chars(rng, ALNUM, 80)),
        6 => format!("hf_{}", chars(rng, ALNUM, 34)),
        7 => format!("pplx-{}", chars(rng, ALNUM, 48)),
        8 => format!(
            "AKIA{}",
            chars(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        ),
        9 => format!("sk-or-v1-{}", chars(rng, b"0123456789abcdef", 64)),
        10 => format!(
            "eyJ{}.eyJ{}.{}",
            chars(rng, URLSAFE, 30),
            chars(rng, URLSAFE, 60),
            chars(rng, URLSAFE, 43)
        ),
        // Mistral / Cohere / Azure: no prefix, caught by where they stand.
        _ => chars(rng, ALNUM, 32),
    }
}

/// `key` where keys turn up.
fn embed(rng: &mut ChaCha8Rng, key: &str, prefixless: bool) -> String {
    let plain = [
        format!("openai: HTTP 401: Incorrect API key provided: {key}. You can find your key at"),
        format!(r#"{{"error": {{"message": "bad key {key}", "type": "auth"}}}}"#),
        format!("request failed with key {key}\nretrying"),
        format!("({key})"),
    ];
    let anywhere = [
        format!("Authorization: Bearer {key}"),
        format!(r#"{{"api_key": "{key}", "model": "m"}}"#),
        format!("https://api.example.com/v1/models?api_key={key}&x=1"),
        format!("x-api-key: {key}\r\ncontent-type: application/json"),
        format!("curl -H 'x-goog-api-key: {key}' https://example.com"),
    ];
    if prefixless {
        anywhere[rng.random_range(0..anywhere.len())].clone()
    } else if rng.random_bool(0.5) {
        plain[rng.random_range(0..plain.len())].clone()
    } else {
        anywhere[rng.random_range(0..anywhere.len())].clone()
    }
}

#[test]
fn ten_thousand_generated_keys_are_all_scrubbed() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut leaked = Vec::new();
    for i in 0..10_000 {
        let k = key(&mut rng, i);
        let text = embed(&mut rng, &k, i % 12 == 11);
        let out = scrub(&text);
        // No 12 characters of the key's secret part survive.
        let secret = &k[k.len() - 12..];
        if out.contains(secret) {
            leaked.push(out.into_owned());
        }
    }
    assert!(
        leaked.is_empty(),
        "{} leaked, e.g. {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(3)]
    );
}

#[test]
fn clean_text_is_left_alone() {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/data/sample.md"
    ))
    .unwrap();
    let prose = "The model answered in 1.2 s with 230 tokens; order #20261203-4411 shipped to \
                 Paris. Use the task runner, then ask the skeptic. See https://example.com/docs \
                 and the v1.2.3 changelog. ISBN 978-3-16-148410-0, phone +44 20 7946 0958.";
    for clean in [sample.as_str(), prose] {
        assert!(
            matches!(scrub(clean), Cow::Borrowed(_)),
            "{:?}",
            scrub(clean)
        );
    }
}
