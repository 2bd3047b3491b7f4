//! The model registry: the shipped models plus run-time additions, user overrides and
//! LiteLLM price files; lookups by id or alias, provider, capability, latency and cost.

mod litellm;
mod model;

pub use litellm::guess_tokenizer;
pub use model::{Capability, CostPer1k, Model, PriceTier};

use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, RwLock};

/// The shipped model list (`core/data/models.json`).
pub const BUILTIN_JSON: &str = include_str!("../../data/models.json");

/// What a bulk load did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    pub added: usize,
    pub updated: usize,
    pub skipped: usize,
}

#[derive(Default, Clone)]
struct Tables {
    /// id → model, ordered so listings are stable.
    models: BTreeMap<String, Arc<Model>>,
    /// every id and alias, lower-cased → id.
    names: HashMap<String, String>,
}

/// A thread-safe registry. Reads take a shared lock and clone an `Arc`.
#[derive(Default)]
pub struct Registry {
    tables: RwLock<Tables>,
}

static GLOBAL: LazyLock<Arc<Registry>> = LazyLock::new(|| Arc::new(Registry::builtin()));

/// The process-wide registry that token counting by model name consults.
pub fn global() -> Arc<Registry> {
    GLOBAL.clone()
}

impl Registry {
    /// A registry with no models.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A registry holding the shipped models.
    pub fn builtin() -> Self {
        let r = Self::empty();
        r.load_json_str(BUILTIN_JSON)
            .expect("shipped models.json is valid (tested)");
        r
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A model by id or alias (case-insensitive). Unknown names are `not_found` with suggestions.
    pub fn get(&self, name: &str) -> Result<Arc<Model>> {
        let t = self.read();
        lookup(&t, name).ok_or_else(|| not_found(&t, name))
    }

    /// Like `get`, without the cost of suggestions: for hot paths where a miss is normal.
    pub fn find(&self, name: &str) -> Option<Arc<Model>> {
        lookup(&self.read(), name)
    }

    /// Every model, by id.
    pub fn all(&self) -> Vec<Arc<Model>> {
        self.read().models.values().cloned().collect()
    }

    fn filter(&self, keep: impl Fn(&Model) -> bool) -> Vec<Arc<Model>> {
        self.read()
            .models
            .values()
            .filter(|m| keep(m))
            .cloned()
            .collect()
    }

    /// Models of one provider (case-insensitive), by id. An unknown provider gives none.
    pub fn by_provider(&self, provider: &str) -> Vec<Arc<Model>> {
        self.filter(|m| m.provider.eq_ignore_ascii_case(provider))
    }

    /// Models with a capability, by id.
    pub fn by_capability(&self, capability: &str) -> Result<Vec<Arc<Model>>> {
        let cap = Capability::parse(capability)?;
        Ok(self.filter(|m| m.supports(cap)))
    }

    /// Models whose typical latency is at most `max_ms`, fastest first.
    pub fn by_latency(&self, max_ms: f64) -> Vec<Arc<Model>> {
        let mut v = self.filter(|m| m.typical_latency_ms as f64 <= max_ms);
        v.sort_by_key(|m| m.typical_latency_ms);
        v
    }

    /// Models whose blended price per 1K tokens is at most `max_per_1k`, cheapest first.
    pub fn by_cost(&self, max_per_1k: f64) -> Result<Vec<Arc<Model>>> {
        if !(max_per_1k.is_finite() && max_per_1k >= 0.0) {
            return Err(Error::invalid_input(
                "max cost per 1K tokens: expected a non-negative number",
            ));
        }
        let mut v = self.filter(|m| m.cost_per_1k().blended <= max_per_1k);
        v.sort_by(|a, b| {
            a.cost_per_1k()
                .blended
                .total_cmp(&b.cost_per_1k().blended)
                .then(a.id.cmp(&b.id))
        });
        Ok(v)
    }

    /// The context window of a model, in tokens.
    pub fn token_limit(&self, name: &str) -> Result<u64> {
        Ok(self.get(name)?.context_window)
    }

    pub fn cost_per_1k(&self, name: &str) -> Result<CostPer1k> {
        Ok(self.get(name)?.cost_per_1k())
    }

    pub fn supports_feature(&self, name: &str, feature: &str) -> Result<bool> {
        let cap = Capability::parse(feature)?;
        Ok(self.get(name)?.supports(cap))
    }

    /// Adds a new model; its id and aliases must not be taken.
    pub fn add(&self, model: Model) -> Result<Arc<Model>> {
        model.validate()?;
        let mut t = self.write();
        if let Some(taken) = model
            .names()
            .find(|n| t.names.contains_key(&n.to_ascii_lowercase()))
        {
            return Err(Error::invalid_input(format!(
                "model '{}': the name '{taken}' is already registered",
                model.id
            ))
            .with_details(json!({ "field": "id" })));
        }
        Ok(insert(&mut t, model))
    }

    /// Adds a model given as JSON (what the bindings pass).
    pub fn add_json(&self, value: Value) -> Result<Arc<Model>> {
        self.add(Model::from_json(value)?)
    }

    /// Changes some fields of a model; `updates` is a partial model object.
    pub fn update(&self, name: &str, updates: Value) -> Result<Arc<Model>> {
        let Value::Object(updates) = updates else {
            return Err(Error::invalid_input(
                "model updates: expected an object of fields",
            ));
        };
        let current = self.get(name)?;
        if let Some(id) = updates.get("id") {
            if id.as_str() != Some(current.id.as_str()) {
                return Err(Error::invalid_input("model updates: 'id' cannot change")
                    .with_details(json!({ "field": "id" })));
            }
        }
        let mut merged = serde_json::to_value(&*current).expect("models serialize");
        merged.as_object_mut().expect("object").extend(updates);
        let updated = Model::from_json(merged)?;
        let mut t = self.write();
        let clash = updated.aliases.iter().find(|a| {
            t.names
                .get(&a.to_ascii_lowercase())
                .is_some_and(|owner| *owner != updated.id)
        });
        if let Some(a) = clash {
            return Err(
                Error::invalid_input(format!("alias '{a}' belongs to another model"))
                    .with_details(json!({ "field": "aliases" })),
            );
        }
        remove(&mut t, &current.id);
        Ok(insert(&mut t, updated))
    }

    /// Merges models in our JSON/YAML format (`{"models": [...]}` or a bare list): new ids are
    /// added, known ids have the given fields updated. All-or-nothing: a bad entry loads none.
    pub fn load_json_str(&self, text: &str) -> Result<LoadReport> {
        let doc: Value = serde_norway::from_str(text).map_err(|e| {
            Error::invalid_input(format!("model file is not valid JSON or YAML: {e}"))
        })?;
        let list = match doc {
            Value::Array(list) => list,
            Value::Object(mut o) => match o.remove("models") {
                Some(Value::Array(list)) => list,
                _ => return Err(Error::invalid_input("model file: expected a 'models' list")),
            },
            _ => return Err(Error::invalid_input("model file: expected a 'models' list")),
        };
        let staged = Registry {
            tables: RwLock::new(self.read().clone()),
        };
        let mut report = LoadReport::default();
        for (i, entry) in list.into_iter().enumerate() {
            let at = |e: Error| Error {
                message: format!("models[{i}]: {}", e.message),
                ..e
            };
            let id = entry.get("id").and_then(Value::as_str).map(str::to_string);
            match id.filter(|id| staged.read().models.contains_key(id)) {
                Some(id) => {
                    staged.update(&id, entry).map_err(at)?;
                    report.updated += 1;
                }
                None => {
                    staged.add_json(entry).map_err(at)?;
                    report.added += 1;
                }
            }
        }
        *self.write() = staged
            .tables
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        Ok(report)
    }

    /// Loads a user override file in our format.
    pub fn load_file(&self, path: &str) -> Result<LoadReport> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&format!("cannot read {path}"), e))?;
        self.load_json_str(&text)
    }

    /// Merges a LiteLLM price file's chat models: known ids get LiteLLM's limits, prices and
    /// capabilities (keeping our names, aliases, tokenizer and latency); names that are
    /// aliases of another model are skipped rather than shadowing it.
    pub fn load_litellm_str(&self, text: &str) -> Result<LoadReport> {
        let (models, skipped) = litellm::parse(text)?;
        let mut report = LoadReport {
            skipped,
            ..Default::default()
        };
        let mut t = self.write();
        for mut m in models {
            let key = m.id.to_ascii_lowercase();
            match t.names.get(&key).cloned() {
                Some(owner) if owner == m.id => {
                    let old = t.models[&owner].clone();
                    m.name = old.name.clone();
                    m.aliases = old.aliases.clone();
                    m.tokenizer = old.tokenizer.clone();
                    m.typical_latency_ms = old.typical_latency_ms;
                    m.deprecation_date = m.deprecation_date.or(old.deprecation_date.clone());
                    remove(&mut t, &owner);
                    insert(&mut t, m);
                    report.updated += 1;
                }
                Some(_) => report.skipped += 1,
                None => {
                    insert(&mut t, m);
                    report.added += 1;
                }
            }
        }
        Ok(report)
    }

    pub fn load_litellm_file(&self, path: &str) -> Result<LoadReport> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&format!("cannot read {path}"), e))?;
        self.load_litellm_str(&text)
    }
}

fn lookup(t: &Tables, name: &str) -> Option<Arc<Model>> {
    if let Some(m) = t.models.get(name) {
        return Some(m.clone());
    }
    let exact = |n: &str| t.names.get(n).and_then(|id| t.models.get(id)).cloned();
    if let Some(m) = exact(name) {
        return Some(m);
    }
    let lower = name.trim().to_ascii_lowercase();
    exact(&lower).or_else(|| undecorated(&lower).into_iter().find_map(|n| exact(&n)))
}

/// The names a provider's decorated model name may stand for, most specific first: without a
/// routing prefix (`openai/gpt-4o`, `anthropic/claude-…`), without a snapshot date
/// (`claude-opus-4-1-20250805`, `gpt-4o-2024-08-06`, Vertex's `claude-…@20250805`), and both.
/// An exact entry (a dated LiteLLM price, say) always wins over these.
fn undecorated(name: &str) -> Vec<String> {
    let unprefixed = name.rsplit_once('/').map(|(_, m)| m.to_string());
    let mut out = Vec::new();
    for n in std::iter::once(name.to_string()).chain(unprefixed) {
        if let Some(undated) = strip_date(&n) {
            out.push(undated);
        }
        if n != name {
            out.push(n);
        }
    }
    out
}

/// `x-20250805`, `x-2025-08-05`, `x@20250805` → `x`.
fn strip_date(name: &str) -> Option<String> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, date)) = name.rsplit_once('@') {
        return (!base.is_empty() && date.len() >= 6 && digits(date)).then(|| base.to_string());
    }
    if let Some((base, date)) = name.rsplit_once('-') {
        if date.len() == 8 && digits(date) && date.starts_with("20") {
            return Some(base.to_string());
        }
    }
    let b = name.as_bytes();
    if b.len() > 11 && b[b.len() - 11] == b'-' {
        let date = &name[b.len() - 10..];
        let shaped = date.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
        if shaped && date.starts_with("20") {
            return Some(name[..b.len() - 11].to_string());
        }
    }
    None
}

fn insert(t: &mut Tables, model: Model) -> Arc<Model> {
    let model = Arc::new(model);
    for name in model.names() {
        t.names.insert(name.to_ascii_lowercase(), model.id.clone());
    }
    t.models.insert(model.id.clone(), model.clone());
    model
}

fn remove(t: &mut Tables, id: &str) {
    if let Some(old) = t.models.remove(id) {
        for name in old.names() {
            t.names.remove(&name.to_ascii_lowercase());
        }
    }
}

/// `not_found` naming up to three close ids, best first.
fn not_found(t: &Tables, name: &str) -> Error {
    let wanted = name.trim().to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = t
        .names
        .iter()
        .map(|(n, id)| {
            let s = strsim::jaro_winkler(&wanted, n)
                .max(strsim::normalized_damerau_levenshtein(&wanted, n));
            (s, id.as_str())
        })
        .filter(|(s, _)| *s >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut suggestions: Vec<&str> = Vec::new();
    for (_, id) in scored {
        if !suggestions.contains(&id) {
            suggestions.push(id);
        }
        if suggestions.len() == 3 {
            break;
        }
    }
    let hint = if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    };
    Error::not_found(format!("unknown model '{name}'{hint}"))
        .with_details(json!({ "model": name, "suggestions": suggestions }))
}

#[cfg(test)]
mod tests;
