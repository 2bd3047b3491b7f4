//! The compressed token tables (`build.rs`) against bpe-openai's full ones: every token of
//! both vocabularies, alone and run together with text around it, encodes and counts alike.

use trinity_core::tokens::Encoding;

fn reference(enc: Encoding) -> &'static bpe_openai::Tokenizer {
    match enc {
        Encoding::Cl100kBase => bpe_openai::cl100k_base(),
        Encoding::O200kBase => bpe_openai::o200k_base(),
        other => panic!("{} has no bpe-openai table", other.name()),
    }
}

#[test]
fn every_token_encodes_as_with_the_full_tables() {
    for &enc in Encoding::ALL {
        let full = reference(enc);
        let mut text = String::new();
        let mut checked = 0;
        for id in 0..full.bpe.num_tokens() as u32 {
            // Tokens that are not whole UTF-8 (byte fragments) are reached through the texts below.
            let Ok(token) = std::str::from_utf8(full.bpe.token_bytes(id)) else {
                continue;
            };
            assert_eq!(
                enc.encode(token),
                full.encode(token),
                "{} token {id}",
                enc.name()
            );
            text.push_str(token);
            text.push_str(if id % 3 == 0 { " " } else { "" });
            checked += 1;
        }
        assert!(checked > 90_000, "{}: only {checked} tokens", enc.name());
        assert_eq!(enc.encode(&text), full.encode(&text), "{}", enc.name());
        assert_eq!(enc.count(&text), full.count(&text), "{}", enc.name());
    }
}

#[test]
fn mixed_scripts_and_bytes_count_as_with_the_full_tables() {
    let sample = include_str!("../../examples/data/sample.md");
    let texts = [
        sample.to_string(),
        "日本語のテキストと中文文本，한국어 텍스트 🤖🚀 and emoji 👩‍👩‍👧‍👦".repeat(50),
        "  leading spaces\n\n\ttabs\r\n   trailing   ".repeat(100),
        (0..2000u32).filter_map(char::from_u32).collect(),
        "fn main() { println!(\"{}\", 1_000_000 * 42); } // 3.14159 0xDEADBEEF".repeat(40),
    ];
    for &enc in Encoding::ALL {
        let full = reference(enc);
        for t in &texts {
            assert_eq!(enc.encode(t), full.encode(t.as_str()), "{}", enc.name());
            assert_eq!(enc.count(t), full.count(t.as_str()), "{}", enc.name());
        }
    }
}
