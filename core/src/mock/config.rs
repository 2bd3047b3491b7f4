//! `MockConfig`: one serde shape (JSON or YAML) so every language can start the server the same way.

use super::faults::{FaultConfig, FaultPlan, Latency};
use super::fixtures::{DefaultResponse, Fixtures};
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Request bodies above this get 413 unless `max_body_bytes` says otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

/// ```yaml
/// port: 0                      # 0: a free port
/// fixtures: {greet: {prompt: hi, response: hello}}   # or fixtures_file: tests/fixtures/llm.yaml
/// default_response: echo       # echo | not_found | {text: "..."}
/// seed: 42
/// latency: {dist: lognormal, p50_ms: 20, p99_ms: 300}   # before the first byte
/// stream_chunk_delay_ms: 5     # or chunk_latency: {dist: uniform, min_ms: 1, max_ms: 9}
/// faults: {script: [429, ok], rates: {503: 0.05}, retry_after_ms: 1000, timeout_hold_ms: 60000}
/// api_key: sk-test             # when set, requests with another key get 401
/// record_requests: 16          # keep the last 16 LLM request bodies (GET /_mock/requests)
/// ```
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    pub port: u16,
    pub fixtures: Option<Fixtures>,
    pub fixtures_file: Option<PathBuf>,
    pub default_response: DefaultResponse,
    pub seed: u64,
    pub latency: Option<Latency>,
    pub chunk_latency: Option<Latency>,
    /// Shorthand for `chunk_latency: {dist: fixed, ms: N}`.
    pub stream_chunk_delay_ms: Option<f64>,
    pub faults: FaultConfig,
    pub api_key: Option<Secret>,
    pub max_body_bytes: usize,
    /// Models `GET /v1/models` lists besides those the fixtures name.
    pub models: Vec<String>,
    /// Keep the last this many LLM request bodies, as received (`MockServer::requests()`,
    /// `GET /_mock/requests`); 0, the default, keeps none.
    pub record_requests: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            port: 0,
            fixtures: None,
            fixtures_file: None,
            default_response: DefaultResponse::default(),
            seed: 0,
            latency: None,
            chunk_latency: None,
            stream_chunk_delay_ms: None,
            faults: FaultConfig::default(),
            api_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            models: vec!["mock-model".into()],
            record_requests: 0,
        }
    }
}

impl MockConfig {
    /// Parses YAML or JSON text.
    pub fn from_yaml_str(text: &str) -> Result<MockConfig> {
        serde_norway::from_str(text).map_err(|e| Error::config(format!("mock config: {e}")))
    }

    pub fn from_json(value: serde_json::Value) -> Result<MockConfig> {
        serde_json::from_value(value).map_err(|e| Error::config(format!("mock config: {e}")))
    }

    /// Loads a YAML or JSON file; a relative `fixtures_file` is taken relative to it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<MockConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(&format!("mock config {}", path.display()), e))?;
        let mut config = Self::from_yaml_str(&text)?;
        if let (Some(file), Some(dir)) = (&config.fixtures_file, path.parent()) {
            if file.is_relative() {
                config.fixtures_file = Some(dir.join(file));
            }
        }
        Ok(config)
    }

    /// The fixture set this config names (inline or file; not both), with its default.
    pub(crate) fn take_fixtures(&mut self) -> Result<Fixtures> {
        let fixtures = match (self.fixtures.take(), &self.fixtures_file) {
            (Some(_), Some(_)) => {
                return Err(
                    Error::config("mock config: give fixtures or fixtures_file, not both")
                        .with_details(serde_json::json!({ "path": "fixtures_file" })),
                )
            }
            (Some(f), None) => f,
            (None, Some(path)) => Fixtures::from_file(path)?,
            (None, None) => Fixtures::default(),
        };
        Ok(fixtures.with_default(self.default_response.clone()))
    }

    pub(crate) fn fault_plan(&self) -> Result<FaultPlan> {
        let chunk_latency = match (&self.chunk_latency, self.stream_chunk_delay_ms) {
            (Some(l), _) => Some(l.clone()),
            (None, Some(ms)) => Some(Latency::fixed_ms(ms)),
            (None, None) => None,
        };
        FaultPlan::new(
            self.seed,
            self.faults.clone(),
            self.latency.clone(),
            chunk_latency,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::faults::Fault;

    #[test]
    fn parses_the_documented_shape() {
        let mut c = MockConfig::from_yaml_str(
            r#"
port: 0
fixtures: {greet: {prompt: hi, response: hello}}
default_response: not_found
seed: 42
latency: {dist: uniform, min_ms: 1, max_ms: 2}
stream_chunk_delay_ms: 5
faults: {script: [429, ok], rates: {"503": 0.05}}
api_key: sk-test
"#,
        )
        .unwrap();
        assert_eq!(c.seed, 42);
        assert_eq!(c.faults.script, [Fault::RateLimited, Fault::Ok]);
        assert_eq!(c.api_key.as_ref().unwrap().expose(), "sk-test");
        assert!(!format!("{c:?}").contains("sk-test"));
        assert_eq!(c.take_fixtures().unwrap().len(), 1);
        assert!(c.fault_plan().unwrap().has_chunk_delay());
        let c = MockConfig::from_yaml_str("{default_response: {text: canned}}").unwrap();
        assert_eq!(c.default_response, DefaultResponse::Text("canned".into()));
    }

    #[test]
    fn unknown_fields_and_both_fixture_sources_are_rejected() {
        assert!(MockConfig::from_yaml_str("{prot: 1}").is_err());
        let mut c = MockConfig::from_yaml_str("{fixtures: {}, fixtures_file: x.yaml}").unwrap();
        assert!(c.take_fixtures().is_err());
        let c =
            MockConfig::from_json(serde_json::json!({"faults": {"rates": {"429": 2.0}}})).unwrap();
        assert!(c.fault_plan().is_err());
    }
}
