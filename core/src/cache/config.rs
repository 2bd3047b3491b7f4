//! Cache settings from either shape: ours (the `cache` section of the config schema) or
//! seed 000's `cache_config.yaml` (`enabled`, `backend`, `ttl`, `max_size`,
//! `redis: {host, port, db}`, `filesystem: {path}`), so Trinity's `LLMCache` settings work
//! unchanged. The seed's `backend` picks one tier; ours can stack them.

use crate::config::{CacheConfig, Config, EnvOverrides};
use crate::error::{Error, Result};
use serde_json::{json, Map, Value};

const SEED_FIELDS: [&str; 3] = ["backend", "ttl", "max_size"];

pub fn from_json(value: Value) -> Result<CacheConfig> {
    let Value::Object(mut obj) = value else {
        return Err(Error::invalid_input("cache config: expected an object"));
    };
    // The yaml file nests everything under `cache:`.
    if obj.len() == 1 {
        if let Some(Value::Object(inner)) = obj.get("cache") {
            obj = inner.clone();
        }
    }
    let seed = SEED_FIELDS.iter().any(|f| obj.contains_key(*f))
        || obj
            .get("redis")
            .is_some_and(|r| r.get("host").is_some() || r.get("port").is_some());
    let ours = if seed { from_seed(obj)? } else { obj };
    let mut ours = Value::Object(ours);
    if ours.get("enabled").is_none() {
        ours["enabled"] = json!(true);
    }
    Ok(Config::from_value(json!({ "cache": ours }), EnvOverrides::Ignore)?.cache)
}

fn from_seed(mut s: Map<String, Value>) -> Result<Map<String, Value>> {
    let bad = |path: &str, what: &str| {
        Error::config(format!("cache.{path}: {what}"))
            .with_details(json!({ "path": format!("cache.{path}") }))
    };
    let backend = match s.remove("backend") {
        None => "memory".to_string(),
        Some(Value::String(b)) => b,
        Some(_) => return Err(bad("backend", "expected memory, redis or filesystem")),
    };
    let mut out = Map::new();
    if let Some(e) = s.remove("enabled") {
        out.insert("enabled".into(), e);
    }
    if let Some(t) = s.remove("ttl") {
        out.insert("ttl_s".into(), t);
    }
    let max_size = s.remove("max_size");
    let mut memory = json!({});
    if let Some(n) = max_size {
        memory["max_entries"] = n;
    }
    out.insert("memory".into(), Value::Null);
    match backend.as_str() {
        "memory" => {
            out.insert("memory".into(), memory);
        }
        "redis" => {
            let r = s.remove("redis").unwrap_or(json!({}));
            let host = r.get("host").and_then(Value::as_str).unwrap_or("localhost");
            let port = r.get("port").and_then(Value::as_u64).unwrap_or(6379);
            let db = r.get("db").and_then(Value::as_u64).unwrap_or(0);
            let url = match r.get("url").and_then(Value::as_str) {
                Some(u) => u.to_string(),
                None => format!("redis://{host}:{port}/{db}"),
            };
            out.insert("redis".into(), json!({ "url": url }));
        }
        "filesystem" => {
            let path = s
                .remove("filesystem")
                .and_then(|f| f.get("path").cloned())
                .unwrap_or(json!(".cache/llm_responses"));
            out.insert("filesystem".into(), json!({ "path": path }));
        }
        _ => return Err(bad("backend", "expected memory, redis or filesystem")),
    }
    // What is left is in our names (namespace, strategy, ...), or a typo the schema names.
    s.remove("redis");
    s.remove("filesystem");
    out.extend(s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_000_shape_maps_to_tiers() {
        let c = from_json(
            json!({"cache": {"enabled": true, "backend": "redis", "ttl": 3600,
            "max_size": 1000, "redis": {"host": "localhost", "port": 6379, "db": 2},
            "filesystem": {"path": ".cache/llm_responses"}}}),
        )
        .unwrap();
        assert_eq!(c.redis.unwrap().url, "redis://localhost:6379/2");
        assert!(c.memory.is_none() && c.filesystem.is_none());
        assert_eq!(c.ttl_s.get(), 3600);
        let c = from_json(json!({"backend": "memory", "max_size": 5})).unwrap();
        assert_eq!(c.memory.unwrap().max_entries.get(), 5);
        assert!(c.enabled);
        let e = from_json(json!({"backend": "mongo"})).unwrap_err();
        assert_eq!(e.details.unwrap()["path"], "cache.backend");
        let e = from_json(json!({"ttl": 0})).unwrap_err();
        assert_eq!(e.details.unwrap()["path"], "cache.ttl_s");
    }

    #[test]
    fn our_shape_passes_through() {
        let c = from_json(json!({"ttl_s": 5, "strategy": "user"})).unwrap();
        assert_eq!(c.strategy, crate::cache::Strategy::User);
        assert!(c.memory.is_some());
    }
}
