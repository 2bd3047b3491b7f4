//! The resume guard. A run's manifest holds the input's SHA-256 and a snapshot of every setting
//! that changes results: the providers (kind, endpoint, fixtures; not keys or timeouts), the
//! model routes, the registry (prices make the cost), and context pruning. Sampling parameters
//! and prompts are in the input, so its hash covers them. Settings that change only how the run
//! goes (concurrency, retries, rate limits, the breaker, the queue, budgets, the cache, logs,
//! metrics, progress) are left out and may differ on resume. Resuming with a different input or
//! snapshot is refused, naming the first difference.

use crate::config::Config;
use crate::error::{Error, Result};
use serde_json::{json, Value};

/// Provider fields that do not change what a request returns.
const NEUTRAL_PROVIDER_FIELDS: &[&str] = &[
    "api_key",
    "api_key_env",
    "timeout_ms",
    "connect_timeout_ms",
    "first_token_timeout_ms",
    "max_connections",
];

/// Config sections that change results; every other section is neutral.
const RESULT_SECTIONS: &[&str] = &["providers", "models", "registry", "context"];

/// The snapshot of `config`'s result-changing settings.
pub fn settings(config: &Config) -> Value {
    let all = config.to_json();
    let mut out = serde_json::Map::new();
    for key in RESULT_SECTIONS {
        let mut v = all.get(*key).cloned().unwrap_or(Value::Null);
        if *key == "providers" {
            if let Some(map) = v.as_object_mut() {
                for p in map.values_mut().filter_map(Value::as_object_mut) {
                    for f in NEUTRAL_PROVIDER_FIELDS {
                        p.remove(*f);
                    }
                }
            }
        }
        out.insert((*key).to_string(), v);
    }
    Value::Object(out)
}

/// The manifest a run writes first in its journal.
pub fn manifest(input_sha256: &str, total: usize, settings: Value) -> Value {
    json!({
        "trinity_batch": 1,
        "engine": crate::VERSION,
        "input_sha256": input_sha256,
        "total": total,
        "settings": settings,
    })
}

/// Refuses to resume when the input or a result-changing setting differs from `old`'s.
pub fn check_resume(old: &Value, new: &Value) -> Result<()> {
    if old["input_sha256"] != new["input_sha256"] {
        return Err(Error::invalid_input(
            "cannot resume: the input file changed since the run began (its SHA-256 differs); \
             resuming would join results to the wrong requests. Start a new output instead",
        )
        .with_details(
            json!({"difference": "input", "was": old["input_sha256"], "now": new["input_sha256"]}),
        ));
    }
    if let Some(path) = first_difference(&old["settings"], &new["settings"], String::new()) {
        return Err(Error::invalid_input(format!(
            "cannot resume: the setting `{path}` changed since the run began, and it changes \
             results. Restore it or start a new output"
        ))
        .with_details(json!({"difference": path})));
    }
    Ok(())
}

/// The dotted path of the first place where `a` and `b` differ, keys in sorted order.
pub fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    join(k),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(at);
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}[{i}]")))
        }
        _ => (a != b).then_some(if at.is_empty() { "(root)".into() } else { at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        Config::parse(yaml, crate::config::EnvOverrides::Ignore).unwrap()
    }

    const BASE: &str = "providers:\n  mock:\n    kind: mock\n";

    #[test]
    fn result_changing_settings_are_named_and_neutral_ones_pass() {
        let base = settings(&config(BASE));
        let m = |s| manifest("abc", 3, s);
        for (yaml, path) in [
            (
                "providers:\n  mock:\n    kind: mock\n    base_url: http://127.0.0.1:9/\n",
                "providers.mock.base_url",
            ),
            (
                "providers:\n  mock:\n    kind: mock\nmodels:\n  fast:\n    deployments:\n      - {provider: mock, model: gpt-4o-mini}\n",
                "models.fast",
            ),
            (
                "providers:\n  mock:\n    kind: mock\ncontext:\n  auto_prune: true\n",
                "context.auto_prune",
            ),
        ] {
            let e = check_resume(&m(base.clone()), &m(settings(&config(yaml)))).unwrap_err();
            assert!(e.message.contains(path), "{yaml}: {}", e.message);
        }
        for yaml in [
            "providers:\n  mock:\n    kind: mock\n    timeout_ms: 1234\n",
            "providers:\n  mock:\n    kind: mock\nqueue:\n  max_concurrency: 3\n",
            "providers:\n  mock:\n    kind: mock\nretry:\n  max_attempts: 9\n",
            "providers:\n  mock:\n    kind: mock\nlogging:\n  format: json\n",
        ] {
            check_resume(&m(base.clone()), &m(settings(&config(yaml))))
                .unwrap_or_else(|e| panic!("{yaml}: {}", e.message));
        }
        let e = check_resume(&m(base.clone()), &manifest("abd", 3, base)).unwrap_err();
        assert!(e.message.contains("input file changed"), "{}", e.message);
    }
}
