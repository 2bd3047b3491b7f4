//! Config: parse YAML/JSON text or a file, hand back the normalized (secret-redacted) document.
//! Keys stay snake_case: the schema is shared by every language and by the YAML files.

use crate::error::guard;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use trinity_core::config::{Config, EnvOverrides};

fn env_overrides(apply: Option<bool>) -> EnvOverrides {
    // Overrides apply unless the caller opts out, like the core's `from_env`.
    match apply {
        Some(false) => EnvOverrides::Ignore,
        _ => EnvOverrides::Apply,
    }
}

#[napi]
pub fn parse_config(env: Env, text: String, apply_env: Option<bool>) -> Result<serde_json::Value> {
    guard(&env, || {
        Ok(Config::parse(&text, env_overrides(apply_env))?.to_json())
    })
}

#[napi]
pub fn load_config(env: Env, path: String, apply_env: Option<bool>) -> Result<serde_json::Value> {
    guard(&env, || {
        Ok(Config::from_file(&path, env_overrides(apply_env))?.to_json())
    })
}
