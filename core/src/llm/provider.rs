//! A configured provider: an HTTP endpoint in its wire format, or the in-process `mock`
//! provider answering from fixtures (no socket at all: for users' own unit tests).

use super::http::{ChunkStream, HttpProvider};
use super::types::{ChatRequest, ChatResponse};
use crate::config::ProviderConfig;
use crate::error::{Error, Result};
use crate::mock::Fixtures;

pub enum Provider {
    Http(HttpProvider),
    Mock { name: String, fixtures: Fixtures },
}

impl Provider {
    pub fn new(name: &str, cfg: &ProviderConfig) -> Result<Provider> {
        if cfg.kind != crate::config::ProviderKind::Mock {
            return HttpProvider::new(name, cfg).map(Provider::Http);
        }
        let path = format!("providers.{name}.fixtures");
        let fixtures = match &cfg.fixtures {
            None => Fixtures::default(),
            Some(serde_json::Value::String(file)) => Fixtures::from_file(file)?,
            Some(inline @ serde_json::Value::Object(_)) => {
                Fixtures::from_yaml_str(&inline.to_string())?
            }
            Some(_) => {
                return Err(Error::config(format!(
                    "{path}: expected a mapping of fixtures or a file path"
                ))
                .with_details(serde_json::json!({ "path": path })))
            }
        };
        Ok(Provider::Mock {
            name: name.to_string(),
            fixtures,
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Provider::Http(h) => h.name(),
            Provider::Mock { name, .. } => name,
        }
    }

    pub async fn chat(
        &self,
        req: &ChatRequest,
        model: &str,
        max_output: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<ChatResponse> {
        match self {
            Provider::Http(h) => h.chat(req, model, max_output, idempotency_key).await,
            Provider::Mock { fixtures, .. } => fixtures.respond(req),
        }
    }

    /// An active health check: `GET base_url + path` answers 2xx (the in-process mock always
    /// does).
    pub async fn check(&self, path: &str) -> Result<()> {
        match self {
            Provider::Http(h) => h.check(path).await,
            Provider::Mock { .. } => Ok(()),
        }
    }

    pub async fn chat_stream(
        &self,
        req: &ChatRequest,
        model: &str,
        max_output: Option<u64>,
        idempotency_key: Option<&str>,
    ) -> Result<ChunkStream> {
        match self {
            Provider::Http(h) => h.chat_stream(req, model, max_output, idempotency_key).await,
            Provider::Mock { fixtures, .. } => {
                let chunks = fixtures.stream(req)?;
                Ok(Box::pin(futures_util::stream::iter(
                    chunks.into_iter().map(Ok),
                )))
            }
        }
    }
}
