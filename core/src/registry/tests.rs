use super::*;
use crate::error::ErrorKind;

fn custom(id: &str) -> Value {
    json!({
        "id": id, "provider": "acme", "name": "Acme", "aliases": [format!("{id}-alias")],
        "context_window": 32000, "max_output_tokens": 4096,
        "input_per_1m": 1.0, "output_per_1m": 3.0, "cached_input_per_1m": null,
        "capabilities": ["chat", "tools"], "tokenizer": "cl100k_base",
        "typical_latency_ms": 300, "deprecation_date": null
    })
}

#[test]
fn shipped_data_is_rich_and_valid() {
    let r = Registry::builtin();
    assert!(r.len() >= 30, "{}", r.len());
    for p in ["openai", "anthropic", "gemini", "mistral", "ollama"] {
        assert!(!r.by_provider(p).is_empty(), "no {p} models");
    }
    for m in r.all() {
        m.validate().unwrap();
        assert!(m.supports(Capability::Chat), "{}", m.id);
    }
    let llama = r.all().into_iter().any(|m| m.id.contains("llama"));
    let qwen = r.all().into_iter().any(|m| m.id.contains("qwen"));
    assert!(llama && qwen);
}

#[test]
fn lookup_by_id_alias_and_case() {
    let r = Registry::builtin();
    let m = r.get("gpt-4o").unwrap();
    assert_eq!(m.provider, "openai");
    assert_eq!(m.tokenizer, "o200k_base");
    assert_eq!(r.get("openai/gpt-4o").unwrap().id, "gpt-4o");
    assert_eq!(r.get("GPT-4o").unwrap().id, "gpt-4o");
    assert_eq!(r.get("gpt-4o-2024-08-06").unwrap().id, "gpt-4o");
}

#[test]
fn unknown_model_suggests_close_ids() {
    let r = Registry::builtin();
    let e = r.get("gpt4o-mini").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let s: Vec<String> = serde_json::from_value(e.details.unwrap()["suggestions"].clone()).unwrap();
    assert_eq!(s.first().map(String::as_str), Some("gpt-4o-mini"), "{s:?}");
    assert!(e.message.contains("gpt-4o-mini"));
    let e = r.get("zzzzzzzzzz").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
}

#[test]
fn filters_sort_and_validate() {
    let r = Registry::builtin();
    let fast = r.by_latency(500.0);
    assert!(!fast.is_empty());
    assert!(fast
        .windows(2)
        .all(|w| w[0].typical_latency_ms <= w[1].typical_latency_ms));
    assert!(fast.iter().all(|m| m.typical_latency_ms <= 500));
    let cheap = r.by_cost(0.001).unwrap();
    assert!(cheap.iter().all(|m| m.cost_per_1k().blended <= 0.001));
    assert!(cheap
        .windows(2)
        .all(|w| w[0].cost_per_1k().blended <= w[1].cost_per_1k().blended));
    assert_eq!(r.by_cost(-1.0).unwrap_err().kind, ErrorKind::InvalidInput);
    let vision = r.by_capability("vision").unwrap();
    assert!(vision.iter().all(|m| m.supports(Capability::Vision)));
    assert_eq!(
        r.by_capability("function_calling").unwrap().len(),
        r.by_capability("tools").unwrap().len()
    );
    assert_eq!(
        r.by_capability("telepathy").unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert!(r.by_provider("nobody").is_empty());
}

#[test]
fn metadata() {
    let r = Registry::builtin();
    let m = r.get("gpt-4o").unwrap();
    assert_eq!(r.token_limit("gpt-4o").unwrap(), m.context_window);
    let c = r.cost_per_1k("gpt-4o").unwrap();
    assert!((c.input - m.input_per_1m / 1000.0).abs() < 1e-12);
    assert!((c.blended - (m.input_per_1m + m.output_per_1m) / 2000.0).abs() < 1e-12);
    assert!(r.supports_feature("gpt-4o", "vision").unwrap());
    assert_eq!(
        r.supports_feature("gpt-4o", "nope").unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        r.token_limit("nope-model").unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn add_and_update_at_run_time() {
    let r = Registry::builtin();
    let n = r.len();
    r.add_json(custom("acme-1")).unwrap();
    assert_eq!(r.len(), n + 1);
    assert_eq!(r.get("acme-1-alias").unwrap().id, "acme-1");
    // duplicates, by id or alias, are refused
    assert_eq!(
        r.add_json(custom("acme-1")).unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    let mut clash = custom("acme-2");
    clash["aliases"] = json!(["gpt-4o"]);
    assert_eq!(r.add_json(clash).unwrap_err().kind, ErrorKind::InvalidInput);
    // bad definitions name the field
    let mut bad = custom("acme-3");
    bad["context_window"] = json!(0);
    let e = r.add_json(bad).unwrap_err();
    assert_eq!(e.details.unwrap()["field"], "context_window");
    let mut bad = custom("acme-4");
    bad["capabilities"] = json!(["chat", "flying"]);
    assert_eq!(r.add_json(bad).unwrap_err().kind, ErrorKind::InvalidInput);

    let m = r
        .update(
            "acme-1",
            json!({"input_per_1m": 2.0, "aliases": ["acme-latest"]}),
        )
        .unwrap();
    assert_eq!(m.input_per_1m, 2.0);
    assert_eq!(r.get("acme-latest").unwrap().id, "acme-1");
    assert_eq!(r.get("acme-1-alias").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(
        r.update("acme-1", json!({"id": "other"})).unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        r.update("acme-1", json!({"aliases": ["gpt-4o"]}))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        r.update("acme-1", json!({"context_window": "big"}))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        r.update("ghost", json!({})).unwrap_err().kind,
        ErrorKind::NotFound
    );
    // a failed update leaves the model as it was
    assert_eq!(r.get("acme-1").unwrap().input_per_1m, 2.0);
}

#[test]
fn override_file_merges_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("models.yaml");
    std::fs::write(
        &path,
        "models:\n  - {id: gpt-4o, input_per_1m: 0.5}\n  - {id: my-local, provider: ollama, context_window: 8192, max_output_tokens: 2048, input_per_1m: 0, output_per_1m: 0, capabilities: [chat], tokenizer: llama3}\n",
    )
    .unwrap();
    let r = Registry::builtin();
    let report = r.load_file(path.to_str().unwrap()).unwrap();
    assert_eq!(
        report,
        LoadReport {
            added: 1,
            updated: 1,
            skipped: 0
        }
    );
    assert_eq!(r.get("gpt-4o").unwrap().input_per_1m, 0.5);
    assert_eq!(r.get("my-local").unwrap().context_window, 8192);

    std::fs::write(
        &path,
        "models:\n  - {id: gpt-4o, input_per_1m: 9}\n  - {id: broken}\n",
    )
    .unwrap();
    let e = r.load_file(path.to_str().unwrap()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.starts_with("models[1]"), "{}", e.message);
    assert_eq!(
        r.get("gpt-4o").unwrap().input_per_1m,
        0.5,
        "nothing applied"
    );
    assert_eq!(
        r.load_file("/no/such/file").unwrap_err().kind,
        ErrorKind::Io
    );
}

#[test]
fn litellm_format_unchanged() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/litellm_model_prices_sample.json"
    ))
    .unwrap();
    let r = Registry::builtin();
    let before = r.get("gpt-4o").unwrap();
    let report = r.load_litellm_str(&text).unwrap();
    assert!(
        report.added >= 1 && report.updated >= 1 && report.skipped >= 2,
        "{report:?}"
    );
    let after = r.get("gpt-4o").unwrap();
    assert_eq!(after.aliases, before.aliases, "our aliases kept");
    let added = r.get("groq/llama-guard-3-8b").unwrap();
    assert_eq!(added.provider, "groq");
    assert_eq!(added.tokenizer, "llama3");
    assert!(
        r.get("text-embedding-3-small").is_err(),
        "embedding models are not chat models"
    );
    let empty = Registry::empty();
    empty.load_litellm_str(&text).unwrap();
    assert!(empty.len() >= 3);
    assert_eq!(
        r.load_litellm_str("[1,2]").unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    assert_eq!(
        r.load_litellm_str("{").unwrap_err().kind,
        ErrorKind::InvalidInput
    );
}

#[test]
fn concurrent_reads_and_writes() {
    let r = Arc::new(Registry::builtin());
    std::thread::scope(|s| {
        for t in 0..4 {
            let r = r.clone();
            s.spawn(move || {
                for i in 0..200 {
                    if t == 0 {
                        r.add_json(custom(&format!("c-{i}"))).unwrap();
                    } else {
                        assert_eq!(r.get("gpt-4o").unwrap().id, "gpt-4o");
                    }
                }
            });
        }
    });
    assert!(r.get("c-199").is_ok());
}

#[test]
fn dated_and_prefixed_names_find_their_model() {
    let r = Registry::builtin();
    for (name, id) in [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("vertex_ai/claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("OpenAI/GPT-4o", "gpt-4o"),
        ("openrouter/openai/gpt-4o-mini", "gpt-4o-mini"),
        ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
    ] {
        assert_eq!(
            r.find(name).map(|m| m.id.clone()).as_deref(),
            Some(id),
            "{name}"
        );
    }
    for name in [
        "claude-opus-4-1-20250805",
        "gpt-4o-x",
        "gpt-4o-20",
        "-20250101",
    ] {
        assert!(r.find(name).is_none(), "{name}");
    }
}
