//! Replays the shared cases in `tests/fixtures/` against the Rust API, as every binding does
//! against its own, and records which cases ran (`target/conformance/rust.json`).

use futures_util::StreamExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::registry::Registry;
use trinity_core::{healer, rt, tokens, Error, ErrorKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model_json(m: &trinity_core::Model) -> Value {
    serde_json::to_value(m).unwrap()
}

fn ids(models: &[std::sync::Arc<trinity_core::Model>]) -> Value {
    json!(models.iter().map(|m| m.id.clone()).collect::<Vec<_>>())
}

fn text_of(input: &Value) -> String {
    input["text"]
        .as_str()
        .unwrap()
        .repeat(input.get("repeat").and_then(Value::as_u64).unwrap_or(1) as usize)
}

fn opt<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

/// A chat case: mock server from `server`, provider `p` from `provider`, then the request.
fn chat(case: &Value, stream: bool) -> Result<Value, Error> {
    let server = match &case["server"] {
        Value::Null => None,
        cfg => Some(MockServer::start(MockConfig::from_json(cfg.clone()).unwrap()).unwrap()),
    };
    let mut provider = case["provider"].clone();
    let base_path = provider.as_object_mut().unwrap().remove("base_path");
    if let (Some(s), Some(path)) = (&server, base_path) {
        provider["base_url"] = json!(format!("{}{}", s.url(), path.as_str().unwrap()));
        provider["api_key"] = json!("sk-test");
    }
    let config =
        Config::from_value(json!({"providers": {"p": provider}}), EnvOverrides::Ignore).unwrap();
    let client = Client::new(config).unwrap();
    let req = ChatRequest::from_json(case["input"].clone())?;
    rt::block_on(async {
        if !stream {
            let r = client.chat(req).await?;
            let names: Vec<_> = r
                .tool_calls
                .iter()
                .map(|t| t.function.name.clone())
                .collect();
            return Ok(
                json!({"content": r.content, "finish_reason": r.finish_reason, "provider": r.provider, "tool_names": names}),
            );
        }
        let mut s = client.chat_stream(req).await?;
        let (mut content, mut finish, mut chunks) = (String::new(), Value::Null, 0);
        while let Some(chunk) = s.next().await {
            let chunk = chunk?;
            chunks += usize::from(!chunk.delta.is_empty());
            content.push_str(&chunk.delta);
            if let Some(f) = chunk.finish_reason {
                finish = json!(f);
            }
        }
        Ok(json!({"content": content, "finish_reason": finish, "chunks": chunks}))
    })
}

/// Raw bytes of a healer input: `html`/`css` as text, or `<key>_hex` for bytes that are not UTF-8.
fn source(input: &Value, key: &str) -> Vec<u8> {
    match input.get(format!("{key}_hex")).and_then(Value::as_str) {
        Some(hex) => (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
        None => input[key].as_str().unwrap().as_bytes().to_vec(),
    }
}

/// A heal case: `{text, fix_rules, idempotent}` (healing the output again changes nothing).
fn heal(input: &Value, key: &str) -> Result<Value, Error> {
    let f = |bytes: &[u8]| {
        let options = input.get("options").cloned().unwrap_or(Value::Null);
        if key == "html" {
            healer::heal_html_json(bytes, options)
        } else {
            healer::heal_css_json(bytes, options)
        }
    };
    let out = f(&source(input, key))?;
    let text = out[key].as_str().unwrap();
    let again = f(text.as_bytes())?;
    let rules: Vec<&Value> = out["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["rule"])
        .collect();
    Ok(json!({"text": text, "fix_rules": rules, "idempotent": again[key] == out[key]}))
}

/// Runs one case: Ok(result object) or the error.
fn run(case: &Value, reg: &Registry) -> Result<Value, Error> {
    let (op, input) = (case["op"].as_str().unwrap(), &case["input"]);
    Ok(match op {
        "chat" => chat(case, false)?,
        "heal_html" => heal(input, "html")?,
        "heal_css" => heal(input, "css")?,
        "chat_stream" => chat(case, true)?,
        "error_kind" => {
            let k = ErrorKind::from_code(input["code"].as_str().unwrap()).expect("known code");
            json!({"number": k.number(), "class": format!("{}Error", k.name())})
        }
        "count_tokens" => {
            json!({"tokens": tokens::count_tokens(&text_of(input), opt(input, "model"), opt(input, "encoding"))?})
        }
        "count_tokens_batch" => {
            let texts: Vec<String> = serde_json::from_value(input["texts"].clone()).unwrap();
            json!({"counts": tokens::count_tokens_batch(&texts, opt(input, "model"), opt(input, "encoding"))?})
        }
        "count_message_tokens" => serde_json::to_value(tokens::count_messages(
            reg,
            &input["messages"],
            input["model"].as_str().unwrap(),
        )?)
        .unwrap(),
        "get_model" => json!({"model": model_json(&*reg.get(input["name"].as_str().unwrap())?)}),
        "token_limit" => json!({"value": reg.token_limit(input["name"].as_str().unwrap())?}),
        "cost_per_1k" => {
            json!({"value": reg.cost_per_1k(input["name"].as_str().unwrap())?.blended})
        }
        "supports_feature" => json!({"value": reg.supports_feature(
            input["name"].as_str().unwrap(), input["feature"].as_str().unwrap())?}),
        "by_provider" => {
            json!({"models": ids(&reg.by_provider(input["provider"].as_str().unwrap()))})
        }
        "by_capability" => {
            json!({"models": ids(&reg.by_capability(input["capability"].as_str().unwrap())?)})
        }
        "by_latency" => json!({"models": ids(&reg.by_latency(input["max_ms"].as_f64().unwrap()))}),
        "by_cost" => json!({"models": ids(&reg.by_cost(input["max_per_1k"].as_f64().unwrap())?)}),
        "add_model" => {
            reg.add_json(input["model"].clone())?;
            json!({"ok": true})
        }
        "update_model" => {
            json!({"model": model_json(&*reg.update(input["name"].as_str().unwrap(), input["updates"].clone())?)})
        }
        "parse_config" => {
            json!({"config": Config::parse(input["text"].as_str().unwrap(), EnvOverrides::Ignore)?.to_json()})
        }
        "cache_key" => {
            let cfg = trinity_core::cache::config::from_json(json!({
                "namespace": input.get("namespace").cloned().unwrap_or(json!("trinity")),
                "strategy": input.get("strategy").cloned().unwrap_or(json!("content")),
            }))?;
            let cache = trinity_core::cache::Cache::new(&cfg)?;
            let req = ChatRequest::from_json(input["request"].clone())?;
            json!({"key": cache.key_for(&req, opt(input, "provider"))})
        }
        "cost" => json!({"cost": trinity_core::cost::cost_for(
            input["model"].as_str().unwrap(),
            input["usage"].clone(),
            false,
        )?}),
        "prune_context"
        | "prioritize_context"
        | "warn_if_too_large"
        | "available_context_window"
        | "validate_conversation" => context_op(op, input, reg)?,
        "guard_replay" => guard_replay(input)?,
        other => panic!("unknown op '{other}': every runner must handle every op"),
    })
}

/// Reports each step of `input.steps` to a guard made from `input.config` until it stops the
/// run: where and why it stopped (`null` if it did not), and the steps it recorded.
fn guard_replay(input: &Value) -> Result<Value, Error> {
    use trinity_core::guard::RunGuard;
    let guard = RunGuard::from_json(input.get("config").cloned().unwrap_or(Value::Null))?;
    let mut stopped = Value::Null;
    for (i, step) in list(&input["steps"]).into_iter().enumerate() {
        if let Err(e) = guard.record_step_json(step) {
            assert_eq!(e.kind, ErrorKind::GuardStopped, "{e}");
            let d = e.details.clone().unwrap_or(Value::Null);
            stopped =
                json!({"at": i + 1, "reason": d["reason"], "rule": d["rule"], "steps": d["steps"]});
            break;
        }
    }
    let r = guard.performance_report();
    Ok(json!({"stopped": stopped, "steps": r.steps, "failed_steps": r.failed_steps}))
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// The context ops: the whole result as JSON (warnings without their messages, which are for
/// people), compared with `expect.result`.
fn context_op(op: &str, input: &Value, reg: &Registry) -> Result<Value, Error> {
    use trinity_core::context;
    let model = opt(input, "model");
    Ok(match op {
        "prune_context" => {
            let opts: context::PruneOptions =
                serde_json::from_value(input.get("options").cloned().unwrap_or(json!({})))
                    .map_err(|e| Error::invalid_input(format!("options: {e}")))?;
            let p = context::prune(reg, &list(&input["messages"]), model.unwrap(), &opts, None)?;
            to_json(&p)
        }
        "prioritize_context" => to_json(&context::prioritize(
            &list(&input["items"]),
            opt(input, "query"),
        )?),
        "warn_if_too_large" => {
            let w = context::warn_if_too_large(reg, &input["request"], model)?;
            let w: Vec<Value> = w
                .iter()
                .map(|w| json!({"code": w.code, "tokens": w.tokens, "limit": w.limit, "path": w.path}))
                .collect();
            json!({ "warnings": w })
        }
        "available_context_window" => to_json(&context::available_window(
            reg,
            model.unwrap(),
            input.get("reserve_output_tokens").and_then(Value::as_u64),
            input.get("max_input_tokens").and_then(Value::as_u64),
        )?),
        "validate_conversation" => {
            let dialect: context::Dialect =
                serde_json::from_value(input["dialect"].clone()).unwrap();
            json!({"violation": context::validate(&list(&input["messages"]), dialect).err()})
        }
        _ => unreachable!(),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn dotted<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn check(case: &Value, reg: &Registry, out: Result<Value, Error>) {
    let id = case["id"].as_str().unwrap();
    let expect = &case["expect"];
    if let Some(code) = expect.get("error") {
        let e = out.expect_err(id);
        assert_eq!(e.kind.code(), code.as_str().unwrap(), "{id}: {e}");
        if let Some(path) = expect.get("path") {
            assert_eq!(e.details.as_ref().unwrap()["path"], *path, "{id}");
        }
        if let Some(s) = expect.get("suggestions_include") {
            let list = e.details.as_ref().unwrap()["suggestions"]
                .as_array()
                .unwrap();
            assert!(list.contains(s), "{id}: {list:?}");
        }
        return;
    }
    let got = out.unwrap_or_else(|e| panic!("{id}: {e}"));
    if let Some(want) = expect.get("result") {
        assert_eq!(&got, want, "{id}: result");
    }
    for key in [
        "tokens",
        "counts",
        "number",
        "class",
        "estimated",
        "encoding",
        "ok",
        "key",
        "fix_rules",
        "idempotent",
    ] {
        if let Some(want) = expect.get(key) {
            assert_eq!(&got[key], want, "{id}: {key}");
        }
    }
    for want in expect
        .get("contains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = got["text"].as_str().unwrap();
        assert!(
            text.contains(want.as_str().unwrap()),
            "{id}: no {want} in {text}"
        );
    }
    if let Some(want) = expect.get("value") {
        match want.as_f64() {
            Some(w) if !want.is_boolean() => {
                assert!((got["value"].as_f64().unwrap() - w).abs() < 1e-9, "{id}")
            }
            _ => assert_eq!(&got["value"], want, "{id}"),
        }
    }
    if let Some(want) = expect.get("cost").and_then(Value::as_object) {
        for (k, v) in want {
            assert_eq!(&got["cost"][k], v, "{id}: cost.{k}");
        }
    }
    if let Some(want) = expect.get("model").and_then(Value::as_object) {
        for (k, v) in want {
            assert_eq!(&got["model"][k], v, "{id}: model.{k}");
        }
    }
    if let Some(values) = expect.get("values").and_then(Value::as_object) {
        for (path, v) in values {
            assert_eq!(dotted(&got["config"], path), v, "{id}: {path}");
        }
    }
    let listed: Vec<&str> = got["models"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for want in expect
        .get("includes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(
            listed.contains(&want.as_str().unwrap()),
            "{id}: missing {want}"
        );
    }
    for not in expect
        .get("excludes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(!listed.contains(&not.as_str().unwrap()), "{id}: has {not}");
    }
    if let Some(n) = expect.get("min_count").and_then(Value::as_u64) {
        assert!(listed.len() as u64 >= n, "{id}");
    }
    if let Some(n) = expect.get("min_chunks").and_then(Value::as_u64) {
        assert!(
            got["chunks"].as_u64().unwrap() >= n,
            "{id}: {} chunks",
            got["chunks"]
        );
    }
    if let Some(n) = expect.get("count").and_then(Value::as_u64) {
        assert_eq!(listed.len() as u64, n, "{id}");
    }
    if let Some(key) = expect.get("sorted_by").and_then(Value::as_str) {
        let metric = |id: &str| {
            let m = reg.get(id).unwrap();
            if key == "blended_cost" {
                m.cost_per_1k().blended
            } else {
                m.typical_latency_ms as f64
            }
        };
        assert!(
            listed.windows(2).all(|w| metric(w[0]) <= metric(w[1])),
            "{id}: not sorted by {key}"
        );
    }
    if let Some(then) = expect.get("then_get") {
        let m = reg.get(then["name"].as_str().unwrap()).unwrap();
        for (k, v) in then["model"].as_object().unwrap() {
            assert_eq!(&model_json(&m)[k], v, "{id}: then_get.{k}");
        }
    }
}

/// Every runner counts with the open-model tokenizers installed in target/tokenizers (fetched
/// once, by whichever test runs first), so Gemini, Llama, Qwen and Mistral counts are exact and
/// the same in every language.
fn tokenizers_installed() {
    trinity_core::tokens::open::set_dir(Some(root().join("target/tokenizers")));
    trinity_core::rt::block_on(trinity_core::tokens::open::fetch_named(&[])).unwrap();
}

#[test]
fn replay_shared_fixtures() {
    tokenizers_installed();
    let mut ran = Vec::new();
    for file in [
        "errors", "tokens", "registry", "config", "chat", "cache", "healer", "cost", "context",
        "guard",
    ] {
        let path = root().join("tests/fixtures").join(format!("{file}.json"));
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let reg = Registry::builtin();
            let out = run(case, &reg);
            check(case, &reg, out);
            ran.push(case["id"].as_str().unwrap().to_string());
        }
    }
    let dir = root().join("target/conformance");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rust.json"),
        serde_json::to_string(&json!({"language": "rust", "passed": ran})).unwrap(),
    )
    .unwrap();
}

/// Writes each context case's `expect` from what the core produces now (run after a deliberate
/// change, then read the diff): `cargo test -p trinity-core --test conformance -- --ignored
/// regenerate_context_fixture`.
#[test]
#[ignore]
fn regenerate_context_fixture() {
    tokenizers_installed();
    let path = root().join("tests/fixtures/context.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for case in doc["cases"].as_array_mut().unwrap() {
        let reg = Registry::builtin();
        let expect = match run(case, &reg) {
            Ok(result) => json!({ "result": result }),
            Err(e) => {
                let mut x = json!({ "error": e.kind.code() });
                if let Some(p) = case["expect"].get("path") {
                    x["path"] = p.clone();
                }
                x
            }
        };
        case["expect"] = expect;
    }
    let mut text = serde_json::to_string_pretty(&doc).unwrap();
    text.push('\n');
    std::fs::write(&path, text).unwrap();
}
