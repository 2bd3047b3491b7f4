use super::encoding::split_at_safe_points;
use super::*;
use crate::error::ErrorKind;

fn sample(n: usize) -> String {
    let words = [
        "alpha",
        "Beta",
        "γάμμα",
        "delta's",
        "1234567",
        "🙂",
        "中文",
        "x\ny",
        "  ",
        "<|endoftext|>",
        "end.",
    ];
    let mut s = String::new();
    let mut i = 0usize;
    while s.len() < n {
        s.push_str(words[(i * 7 + i / 3) % words.len()]);
        s.push(if i.is_multiple_of(5) { '\n' } else { ' ' });
        i += 1;
    }
    s
}

#[test]
fn parallel_count_equals_serial_count() {
    let text = sample(1 << 20);
    for &enc in Encoding::ALL {
        assert_eq!(enc.count(&text), enc.count_serial(&text), "{}", enc.name());
        assert_eq!(enc.count_serial(&text), enc.encode(&text).len());
    }
}

#[test]
fn safe_split_points_preserve_counts() {
    let text = sample(300_000);
    for parts in [2, 3, 7] {
        let pieces = split_at_safe_points(&text, parts);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.len() > 1);
        for &enc in Encoding::ALL {
            let sum: usize = pieces.iter().map(|p| enc.count_serial(p)).sum();
            assert_eq!(sum, enc.count_serial(&text));
        }
    }
    // No safe point at all: one piece.
    let cjk = "字".repeat(100_000);
    assert_eq!(split_at_safe_points(&cjk, 4).len(), 1);
}

#[test]
fn batch_matches_single() {
    let texts: Vec<String> = (0..3000).map(|i| sample(50 + i % 300)).collect();
    for &enc in Encoding::ALL {
        let batch = enc.count_batch(&texts);
        let single: Vec<usize> = texts.iter().map(|t| enc.count(t)).collect();
        assert_eq!(batch, single);
    }
    assert!(Encoding::O200kBase.count_batch::<&str>(&[]).is_empty());
}

#[test]
fn names_and_resolution() {
    assert_eq!(
        Encoding::from_name("cl100k_base").unwrap(),
        Encoding::Cl100kBase
    );
    assert_eq!(
        Encoding::from_name("gpt2").unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        count_tokens("hi", Some("no-such-model"), None)
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    // an explicit encoding wins over the model
    let r = crate::registry::Registry::builtin();
    assert_eq!(
        resolve(&r, Some("gpt-3.5-turbo"), Some("o200k_base")).unwrap(),
        (Encoding::O200kBase, false)
    );
    assert_eq!(
        resolve(&r, Some("gpt-3.5-turbo"), None).unwrap(),
        (Encoding::Cl100kBase, false)
    );
    assert_eq!(
        resolve(&r, Some("claude-sonnet-4-5"), None).unwrap(),
        (Encoding::Claude, true)
    );
}

#[test]
fn messages_with_images_and_tool_calls_are_estimates() {
    let msgs = serde_json::json!([
        {"role": "user", "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:"}}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    ]);
    let c = count_message_tokens(&msgs, "gpt-4o").unwrap();
    assert!(c.estimated);
    assert!(c.tokens > 85 + 3);
    let bad = serde_json::json!([{"role": "user", "content": [{"type": "audio"}]}]);
    let e = count_message_tokens(&bad, "gpt-4o").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(e.details.unwrap()["path"], "messages[0].content[0]");
}
