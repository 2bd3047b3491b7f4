//! `TRINITY_`-prefixed environment overrides: `TRINITY_PROVIDERS__OPENAI__TIMEOUT_MS=5000`
//! sets `providers.openai.timeout_ms`. Segments are split on `__` and lower-cased; values are
//! read as YAML scalars, so `30`, `true` and `[a, b]` get their natural types.

use serde_json::{Map, Value};

pub const PREFIX: &str = "TRINITY_";

/// Variables that configure the loader itself rather than a field.
const RESERVED: &[&str] = &["TRINITY_CONFIG", "TRINITY_CHROMIUM"];

/// Applies every override from `vars` onto `root` (a JSON object). Returns the paths set.
/// Only variables whose first segment is one of `sections` are read: other `TRINITY_*`
/// variables belong to other tools (or to scripts) and must not break config loading, while a
/// typo inside a known section still fails validation with its path.
pub fn apply<I>(root: &mut Value, vars: I, sections: &[String]) -> Vec<String>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut applied = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && !RESERVED.contains(&k.as_str()))
        .collect();
    vars.sort(); // deterministic order whatever the environment's
    for (key, raw) in vars {
        let path: Vec<String> = key[PREFIX.len()..]
            .split("__")
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if path.iter().any(|s| s.is_empty()) || !sections.contains(&path[0]) {
            continue;
        }
        set_path(root, &path, parse_scalar(&raw));
        applied.push(path.join("."));
    }
    applied
}

fn parse_scalar(raw: &str) -> Value {
    serde_norway::from_str::<Value>(raw)
        .ok()
        .filter(|v| !v.is_null() || raw.trim().is_empty() || raw.trim() == "null")
        .unwrap_or_else(|| Value::String(raw.to_string()))
}

fn set_path(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for segment in &path[..path.len() - 1] {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut()
        .expect("object")
        .insert(path[path.len() - 1].clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sections() -> Vec<String> {
        ["providers", "cache", "logging"].map(String::from).to_vec()
    }

    #[test]
    fn nested_paths_and_typed_values() {
        let mut root = json!({"providers": {"openai": {"kind": "openai"}}});
        let applied = apply(
            &mut root,
            vec![
                ("TRINITY_SOME_OTHER_TOOL".into(), "x".into()),
                (
                    "TRINITY_PROVIDERS__OPENAI__TIMEOUT_MS".into(),
                    "5000".into(),
                ),
                ("TRINITY_CACHE__ENABLED".into(), "false".into()),
                ("TRINITY_LOGGING__LEVEL".into(), "debug".into()),
                ("TRINITY_CONFIG".into(), "/etc/x.yaml".into()),
                ("OTHER".into(), "1".into()),
            ],
            &sections(),
        );
        assert_eq!(applied.len(), 3);
        assert_eq!(root["providers"]["openai"]["timeout_ms"], json!(5000));
        assert_eq!(root["providers"]["openai"]["kind"], json!("openai"));
        assert_eq!(root["cache"]["enabled"], json!(false));
        assert_eq!(root["logging"]["level"], json!("debug"));
    }
}
