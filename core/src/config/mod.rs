//! Config: one schema (YAML or JSON) for every language, `TRINITY_` environment overrides,
//! and validation errors that name the field path (`providers.openai.timeout_ms: expected a
//! positive integer`), with the path also in the error's details.

mod env;
mod schema;
mod values;

pub use schema::*;
pub use values::{HttpUrl, NonNegative, PositiveInt, Ratio};

use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;
use serde_json::{json, Value};

/// Whether to read `TRINITY_*` variables from the process environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvOverrides {
    Apply,
    Ignore,
}

impl Config {
    /// Parses YAML or JSON text (JSON is YAML), applies env overrides if asked, validates.
    pub fn parse(text: &str, env: EnvOverrides) -> Result<Config> {
        let value = if text.trim().is_empty() {
            Value::Object(Default::default())
        } else {
            serde_norway::from_str::<Value>(text)
                .map_err(|e| config_error("", &format!("not valid YAML or JSON: {e}")))?
        };
        Self::from_value(value, env)
    }

    /// Reads a `.yaml`, `.yml` or `.json` file.
    pub fn from_file(path: &str, env: EnvOverrides) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("cannot read config file {path}: {e}"),
            )
            .with_details(json!({ "file": path }))
        })?;
        Self::parse(&text, env)
    }

    /// Loads from `TRINITY_CONFIG` when set, else the embedded defaults; env overrides applied.
    pub fn from_env() -> Result<Config> {
        match std::env::var("TRINITY_CONFIG") {
            Ok(path) if !path.is_empty() => Self::from_file(&path, EnvOverrides::Apply),
            _ => Self::from_value(Value::Object(Default::default()), EnvOverrides::Apply),
        }
    }

    /// Builds from an already-parsed document (a Python dict or JS object converted to JSON).
    pub fn from_value(mut value: Value, env: EnvOverrides) -> Result<Config> {
        if value.is_null() {
            value = Value::Object(Default::default());
        }
        if !value.is_object() {
            return Err(config_error("", "expected a mapping at the top level"));
        }
        if env == EnvOverrides::Apply {
            env::apply(&mut value, std::env::vars(), &Self::sections());
        }
        let config: Config = serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            config_error(&path, &e.inner().to_string())
        })?;
        check_mappings(&value, &config.to_json(), "")?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that span fields: routes name known providers, limits set something.
    fn validate(&self) -> Result<()> {
        for (name, route) in &self.models {
            if route.deployments.is_empty() {
                return Err(config_error(
                    &format!("models.{name}.deployments"),
                    "expected at least one deployment",
                ));
            }
            for (i, d) in route.deployments.iter().enumerate() {
                if !self.providers.contains_key(&d.provider) {
                    return Err(config_error(
                        &format!("models.{name}.deployments[{i}].provider"),
                        &format!("unknown provider '{}' (not a key of providers)", d.provider),
                    ));
                }
            }
        }
        for (name, limit) in &self.rate_limits {
            if limit.rpm.is_none() && limit.tpm.is_none() {
                return Err(config_error(
                    &format!("rate_limits.{name}"),
                    "expected rpm or tpm",
                ));
            }
        }
        crate::cost::budget::validate(&self.budget)?;
        if self.budget.scope == LimitScope::Redis
            && self.budget.redis_url.is_none()
            && self.cache.redis.is_none()
        {
            return Err(config_error(
                "budget.redis_url",
                "scope: redis needs budget.redis_url or cache.redis.url",
            ));
        }
        if let Some(sink) = &self.logging.sink {
            if let Err(why) = crate::observe::request_log::check_sink_path(&sink.path) {
                return Err(config_error("logging.sink.path", &why));
            }
        }
        if self.context.strategy == crate::context::Strategy::Summarize {
            return Err(config_error(
                "context.strategy",
                "summarize needs a summariser: the client prunes with drop_oldest or \
                 keep_first_last; call prune_context with a summariser instead",
            ));
        }
        let m = &self.monitor;
        for name in m.health_checks.keys() {
            if !self.providers.contains_key(name) {
                return Err(config_error(
                    &format!("monitor.health_checks.{name}"),
                    &format!("unknown provider '{name}' (not a key of providers)"),
                ));
            }
        }
        if m.fast_window_s.0 > m.window_s.0 {
            return Err(config_error(
                "monitor.fast_window_s",
                "expected at most monitor.window_s",
            ));
        }
        if m.down_error_rate.0 < m.degraded_error_rate.0 {
            return Err(config_error(
                "monitor.down_error_rate",
                "expected at least monitor.degraded_error_rate",
            ));
        }
        if let Some(redis) = &self.cache.redis {
            if !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://")) {
                return Err(config_error(
                    "cache.redis.url",
                    "expected a redis:// or rediss:// URL",
                ));
            }
        }
        Ok(())
    }

    /// The top-level section names (`providers`, `cache`, ...).
    pub fn sections() -> Vec<String> {
        match Config::default().to_json() {
            Value::Object(map) => map.keys().cloned().collect(),
            _ => unreachable!("a struct serializes to an object"),
        }
    }

    /// The config as JSON with every secret redacted: safe to print or log.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("config always serializes")
    }
}

impl ProviderConfig {
    /// The environment variables read for the key when none is given inline: `api_key_env`,
    /// else the ones the kind's official SDK reads (`llm::endpoint::key_vars`).
    pub fn key_env_vars(&self) -> Vec<&str> {
        match &self.api_key_env {
            Some(name) => vec![name.as_str()],
            None => crate::llm::endpoint::key_vars(self.kind).to_vec(),
        }
    }

    /// The API key: inline, else from the environment. Never logged.
    pub fn api_key(&self) -> Option<Secret> {
        self.api_key.clone().or_else(|| {
            self.key_env_vars()
                .into_iter()
                .find_map(crate::llm::endpoint::process_env)
                .map(Secret::new)
        })
    }
}

/// serde accepts a list where a struct is expected (`queue: [1, 2]` fills fields by position);
/// a config section written as a list is a mistake, so compare the input's shape with the result.
fn check_mappings(input: &Value, parsed: &Value, path: &str) -> Result<()> {
    match (input, parsed) {
        (Value::Array(_), Value::Object(_)) => {
            Err(config_error(path, "expected a mapping, not a list"))
        }
        (Value::Object(i), Value::Object(p)) => {
            for (key, value) in i {
                if let Some(out) = p.get(key) {
                    let sub = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    check_mappings(value, out, &sub)?;
                }
            }
            Ok(())
        }
        (Value::Array(i), Value::Array(p)) => {
            for (n, (a, b)) in i.iter().zip(p).enumerate() {
                check_mappings(a, b, &format!("{path}[{n}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn config_error(path: &str, what: &str) -> Error {
    let message = if path.is_empty() {
        what.to_string()
    } else {
        format!("{path}: {what}")
    };
    Error::new(ErrorKind::Config, message).with_details(json!({ "path": path }))
}

#[cfg(test)]
mod tests;
