//! Each provider's official SDK conventions, so a config or an environment written for that SDK
//! works here unchanged: where the base URL comes from (the config, else the variable the SDK
//! reads, else the public endpoint), how it is spelled (Anthropic's and Google's SDKs name it
//! without the API version, OpenAI's with it), which variables hold the key, and the OpenAI
//! organization and project headers.
//!
//! | kind | base URL variable | key variables | other |
//! |---|---|---|---|
//! | openai | `OPENAI_BASE_URL` | `OPENAI_API_KEY` | `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` → `OpenAI-Organization`, `OpenAI-Project` |
//! | anthropic | `ANTHROPIC_BASE_URL` | `ANTHROPIC_API_KEY` | |
//! | gemini | `GOOGLE_GEMINI_BASE_URL` | `GOOGLE_API_KEY`, then `GEMINI_API_KEY` | `GOOGLE_GENAI_API_VERSION` (default `v1beta`) |
//! | openai_compatible | — (each server has its own) | `api_key_env` only | |

use crate::config::{ProviderConfig, ProviderKind};
use crate::error::{Error, Result};

/// Looks a variable up (the process environment, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, empty values treated as unset (as the SDKs do).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Variables holding the API key, in the order the kind's SDK reads them.
pub fn key_vars(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Openai => &["OPENAI_API_KEY"],
        ProviderKind::Anthropic => &["ANTHROPIC_API_KEY"],
        // google-genai prefers GOOGLE_API_KEY when both are set.
        ProviderKind::Gemini => &["GOOGLE_API_KEY", "GEMINI_API_KEY"],
        ProviderKind::OpenaiCompatible | ProviderKind::Mock => &[],
    }
}

/// The variable the kind's SDK reads its base URL from.
pub fn base_url_var(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("OPENAI_BASE_URL"),
        ProviderKind::Anthropic => Some("ANTHROPIC_BASE_URL"),
        ProviderKind::Gemini => Some("GOOGLE_GEMINI_BASE_URL"),
        ProviderKind::OpenaiCompatible | ProviderKind::Mock => None,
    }
}

fn public_base(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Openai => Some("https://api.openai.com/v1"),
        ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
        ProviderKind::OpenaiCompatible | ProviderKind::Mock => None,
    }
}

/// The base URL the format's paths hang under (`…/v1` for OpenAI and Anthropic, `…/v1beta`
/// for Gemini): the config's, else the SDK's variable, else the public endpoint; `None` when
/// the kind has no public endpoint and none was given.
pub fn base_url(name: &str, cfg: &ProviderConfig, env: Env) -> Result<String> {
    let raw = cfg
        .base_url
        .as_ref()
        .map(|u| u.0.clone())
        .or_else(|| base_url_var(cfg.kind).and_then(env))
        .or_else(|| public_base(cfg.kind).map(str::to_string))
        .ok_or_else(|| {
            let path = format!("providers.{name}.base_url");
            Error::config(format!("{path}: required for this kind"))
                .with_details(serde_json::json!({ "path": path }))
        })?;
    let version = env("GOOGLE_GENAI_API_VERSION").unwrap_or_else(|| "v1beta".into());
    Ok(versioned(cfg.kind, &raw, &version))
}

/// Adds the API version where the URL lacks it, in the way each SDK builds its URLs:
/// Anthropic's and Google's SDKs always append it to their base, so a base without one gets
/// it; OpenAI's SDK appends nothing, so only a bare host (`http://localhost:11434`, where every
/// OpenAI-compatible server listens under `/v1`) gets `/v1`.
pub fn versioned(kind: ProviderKind, url: &str, gemini_version: &str) -> String {
    let url = url.trim_end_matches('/');
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split_once('/')
        .map_or("", |(_, path)| path);
    let has_version = path.rsplit('/').next().is_some_and(is_version);
    match kind {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible if path.is_empty() => {
            format!("{url}/v1")
        }
        ProviderKind::Anthropic if !has_version => format!("{url}/v1"),
        ProviderKind::Gemini if !has_version => format!("{url}/{gemini_version}"),
        _ => url.to_string(),
    }
}

/// `v1`, `v2`, `v1beta`, `v1alpha`, `v1beta1`.
fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &rest[digits..];
    let letters = tail.bytes().take_while(u8::is_ascii_lowercase).count();
    digits > 0 && tail[letters..].bytes().all(|b| b.is_ascii_digit())
}

/// Headers the kind's SDK sends from its settings: OpenAI's organization and project, from the
/// config or `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID`.
pub fn sdk_headers(
    name: &str,
    cfg: &ProviderConfig,
    env: Env,
) -> Result<Vec<(&'static str, String)>> {
    if cfg.kind != ProviderKind::Openai {
        for (field, set) in [
            ("organization", cfg.organization.is_some()),
            ("project", cfg.project.is_some()),
        ] {
            if set {
                let path = format!("providers.{name}.{field}");
                return Err(Error::config(format!(
                    "{path}: only for kind openai (sent as OpenAI-{} header)",
                    if field == "project" {
                        "Project"
                    } else {
                        "Organization"
                    }
                ))
                .with_details(serde_json::json!({ "path": path })));
            }
        }
        return Ok(Vec::new());
    }
    let mut headers = Vec::new();
    if let Some(org) = cfg.organization.clone().or_else(|| env("OPENAI_ORG_ID")) {
        headers.push(("openai-organization", org));
    }
    if let Some(project) = cfg.project.clone().or_else(|| env("OPENAI_PROJECT_ID")) {
        headers.push(("openai-project", project));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvOverrides};

    fn provider(yaml: &str) -> ProviderConfig {
        let c = Config::parse(&format!("providers: {{p: {yaml}}}"), EnvOverrides::Ignore).unwrap();
        c.providers["p"].clone()
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn bases_are_accepted_with_or_without_the_api_version() {
        let cases = [
            (
                "anthropic",
                "https://api.anthropic.com",
                "https://api.anthropic.com/v1",
            ),
            (
                "anthropic",
                "https://api.anthropic.com/",
                "https://api.anthropic.com/v1",
            ),
            (
                "anthropic",
                "https://api.anthropic.com/v1",
                "https://api.anthropic.com/v1",
            ),
            (
                "anthropic",
                "http://127.0.0.1:4000/anthropic",
                "http://127.0.0.1:4000/anthropic/v1",
            ),
            (
                "gemini",
                "https://generativelanguage.googleapis.com",
                "https://generativelanguage.googleapis.com/v1beta",
            ),
            (
                "gemini",
                "http://127.0.0.1:9/v1beta/",
                "http://127.0.0.1:9/v1beta",
            ),
            ("gemini", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"),
            (
                "openai",
                "https://api.openai.com",
                "https://api.openai.com/v1",
            ),
            (
                "openai",
                "https://api.openai.com/v1/",
                "https://api.openai.com/v1",
            ),
            (
                "openai_compatible",
                "http://localhost:11434",
                "http://localhost:11434/v1",
            ),
            (
                "openai_compatible",
                "https://api.groq.com/openai/v1",
                "https://api.groq.com/openai/v1",
            ),
            (
                "openai_compatible",
                "https://gw.example/custom",
                "https://gw.example/custom",
            ),
        ];
        for (kind, given, want) in cases {
            let cfg = provider(&format!("{{kind: {kind}, base_url: '{given}'}}"));
            assert_eq!(
                base_url("p", &cfg, &env(&[])).unwrap(),
                want,
                "{kind} {given}"
            );
        }
    }

    #[test]
    fn the_sdk_variables_fill_what_the_config_leaves_unset() {
        let vars = env(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:2"),
            ("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:3"),
            ("GOOGLE_GENAI_API_VERSION", "v1alpha"),
            ("OPENAI_ORG_ID", "org-1"),
            ("OPENAI_PROJECT_ID", "proj_1"),
        ]);
        let openai = provider("{kind: openai}");
        assert_eq!(
            base_url("p", &openai, &vars).unwrap(),
            "http://127.0.0.1:1/v1"
        );
        assert_eq!(
            base_url("p", &provider("{kind: anthropic}"), &vars).unwrap(),
            "http://127.0.0.1:2/v1"
        );
        assert_eq!(
            base_url("p", &provider("{kind: gemini}"), &vars).unwrap(),
            "http://127.0.0.1:3/v1alpha"
        );
        assert_eq!(
            sdk_headers("p", &openai, &vars).unwrap(),
            vec![
                ("openai-organization", "org-1".to_string()),
                ("openai-project", "proj_1".to_string())
            ]
        );
        // The config wins over the environment.
        let set = provider("{kind: openai, base_url: 'http://127.0.0.1:9', organization: org-cfg}");
        assert_eq!(base_url("p", &set, &vars).unwrap(), "http://127.0.0.1:9/v1");
        assert_eq!(sdk_headers("p", &set, &vars).unwrap()[0].1, "org-cfg");
        // Without either: the public endpoints.
        assert_eq!(
            base_url("p", &provider("{kind: anthropic}"), &env(&[])).unwrap(),
            "https://api.anthropic.com/v1"
        );
        assert!(sdk_headers("p", &openai, &env(&[])).unwrap().is_empty());
        // An OpenAI-compatible server has no public endpoint and reads no OpenAI variable.
        let e = base_url("p", &provider("{kind: openai_compatible}"), &vars).unwrap_err();
        assert_eq!(e.details.unwrap()["path"], "providers.p.base_url");
    }

    #[test]
    fn openai_headers_on_another_kind_are_a_config_error() {
        let cfg = provider("{kind: anthropic, project: x}");
        let e = sdk_headers("p", &cfg, &env(&[])).unwrap_err();
        assert_eq!(e.code(), "config");
        assert_eq!(e.details.unwrap()["path"], "providers.p.project");
    }

    #[test]
    fn version_segments() {
        for v in ["v1", "v2", "v1beta", "v1alpha", "v1beta1"] {
            assert!(is_version(v), "{v}");
        }
        for v in ["", "v", "api", "openai", "vx1", "v1-beta", "V1"] {
            assert!(!is_version(v), "{v}");
        }
    }
}
