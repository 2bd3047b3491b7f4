use super::*;

fn parse(text: &str) -> Result<Config> {
    Config::parse(text, EnvOverrides::Ignore)
}

fn err_path(text: &str) -> (String, String) {
    let e = parse(text).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
    let path = e.details.as_ref().unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    (path, e.message)
}

#[test]
fn empty_gives_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::default());
    assert!(!c.cache.enabled, "the client caches only when asked to");
    assert_eq!(c.breaker.window_size.get(), 100);
    assert_eq!(c.retry.budget.capacity.get(), 500);
    assert_eq!(c.retry.max_attempts.get(), 3);
}

#[test]
fn full_yaml_parses() {
    let c = parse(
        r#"
providers:
  openai: {kind: openai, timeout_ms: 5000, api_key: sk-secret-value}
  local: {kind: openai_compatible, base_url: "http://127.0.0.1:11434/v1"}
models:
  fast:
    strategy: failover
    deployments:
      - {provider: openai, model: gpt-4o-mini}
      - {provider: local, model: llama3.1:8b, weight: 2}
cache: {ttl_s: 60, redis: {url: "redis://127.0.0.1:6379/0"}, filesystem: {path: /tmp/c}}
breaker: {window_type: time, failure_rate_threshold: 0.25}
retry: {jitter: decorrelated, max_attempts: 6}
rate_limits: {openai: {rpm: 500, tpm: 200000, scope: redis}}
queue: {max_concurrency: 8}
budget: {daily_usd: 10}
logging: {level: debug, format: json}
metrics: {enabled: false}
"#,
    )
    .unwrap();
    assert_eq!(c.providers["openai"].timeout_ms.get(), 5000);
    assert_eq!(c.models["fast"].deployments[1].weight, NonNegative(2.0));
    assert_eq!(c.retry.jitter, Jitter::Decorrelated);
    assert_eq!(c.rate_limits["openai"].scope, LimitScope::Redis);
    assert_eq!(
        c.providers["openai"].api_key().unwrap().expose(),
        "sk-secret-value"
    );
}

#[test]
fn json_is_accepted_too() {
    let c = parse(r#"{"queue": {"max_concurrency": 4}}"#).unwrap();
    assert_eq!(c.queue.max_concurrency.get(), 4);
}

#[test]
fn errors_name_the_field_path() {
    let (path, msg) = err_path("providers: {openai: {kind: openai, timeout_ms: -5}}");
    assert_eq!(path, "providers.openai.timeout_ms");
    assert_eq!(
        msg,
        "providers.openai.timeout_ms: expected a positive integer"
    );

    assert_eq!(
        err_path("providers: {openai: {kind: openai, timeout_ms: soon}}").0,
        "providers.openai.timeout_ms"
    );
    assert_eq!(
        err_path("breaker: {failure_rate_threshold: 1.5}").0,
        "breaker.failure_rate_threshold"
    );
    assert_eq!(
        err_path("providers: {x: {kind: nope}}").0,
        "providers.x.kind"
    );
    assert_eq!(err_path("cache: {ttl_s: 0}").0, "cache.ttl_s");
    assert_eq!(
        err_path("providers: {x: {kind: openai, base_url: ftp://a}}").0,
        "providers.x.base_url"
    );
    assert_eq!(err_path("logging: {level: loud}").0, "logging.level");
}

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let (path, msg) = err_path("cache: {ttl: 5}");
    assert!(path.starts_with("cache"), "{path}");
    assert!(msg.contains("ttl"), "{msg}");
    let (path, _) = err_path("caches: {}");
    assert!(path.is_empty() || path == "caches", "{path}");
}

#[test]
fn cross_field_checks() {
    let (path, _) = err_path("models: {fast: {deployments: [{provider: ghost, model: m}]}}");
    assert_eq!(path, "models.fast.deployments[0].provider");
    assert_eq!(
        err_path("models: {fast: {deployments: []}}").0,
        "models.fast.deployments"
    );
    assert_eq!(
        err_path("rate_limits: {openai: {}}").0,
        "rate_limits.openai"
    );
    assert_eq!(
        err_path("cache: {redis: {url: http://x}}").0,
        "cache.redis.url"
    );
}

#[test]
fn a_list_where_a_section_belongs_is_rejected() {
    assert_eq!(err_path("queue: [1, 2]").0, "queue");
    assert_eq!(
        err_path("models: {m: {deployments: [[a, b]]}}").0,
        "models.m.deployments[0]"
    );
}

#[test]
fn malformed_text_and_wrong_top_level() {
    assert_eq!(parse("a: [1, 2").unwrap_err().kind, ErrorKind::Config);
    assert_eq!(parse("- 1\n- 2").unwrap_err().kind, ErrorKind::Config);
}

#[test]
fn env_overrides_apply() {
    let mut v = serde_json::json!({"providers": {"openai": {"kind": "openai"}}});
    env::apply(
        &mut v,
        vec![(
            "TRINITY_PROVIDERS__OPENAI__TIMEOUT_MS".to_string(),
            "0".to_string(),
        )],
        &Config::sections(),
    );
    let e = Config::from_value(v, EnvOverrides::Ignore).unwrap_err();
    assert_eq!(
        e.message,
        "providers.openai.timeout_ms: expected a positive integer"
    );
}

#[test]
fn secrets_are_redacted_everywhere() {
    let c = parse("providers: {openai: {kind: openai, api_key: sk-abcdef123456}}").unwrap();
    assert!(!format!("{c:?}").contains("sk-abcdef"));
    assert!(!c.to_json().to_string().contains("sk-abcdef"));
    assert_eq!(c.to_json()["providers"]["openai"]["api_key"], "[redacted]");
    let e = parse("providers: {openai: {kind: openai, api_key: sk-abcdef123456, timeout_ms: 0}}")
        .unwrap_err();
    assert!(!e.message.contains("sk-abcdef"));
}

#[test]
fn api_key_from_named_env_var() {
    std::env::set_var("TRINITY_TEST_KEY_VAR", "from-env");
    let c = parse("providers: {p: {kind: openai_compatible, api_key_env: TRINITY_TEST_KEY_VAR}}")
        .unwrap();
    assert_eq!(c.providers["p"].api_key().unwrap().expose(), "from-env");
    let c = parse("providers: {p: {kind: mock}}").unwrap();
    assert!(c.providers["p"].api_key().is_none());
}

#[test]
fn file_loading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(&p, "queue: {max_concurrency: 3}").unwrap();
    let c = Config::from_file(p.to_str().unwrap(), EnvOverrides::Ignore).unwrap();
    assert_eq!(c.queue.max_concurrency.get(), 3);
    assert_eq!(
        Config::from_file("/nonexistent/x.yaml", EnvOverrides::Ignore)
            .unwrap_err()
            .kind,
        ErrorKind::Config
    );
}

#[test]
fn unrelated_trinity_variables_are_ignored_but_typos_in_sections_fail() {
    let mut v = serde_json::json!({});
    let applied = env::apply(
        &mut v,
        vec![("TRINITY_SOMETHING_ELSE".to_string(), "1".to_string())],
        &Config::sections(),
    );
    assert!(applied.is_empty());
    let mut v = serde_json::json!({});
    env::apply(
        &mut v,
        vec![("TRINITY_CACHE__TTL".to_string(), "5".to_string())],
        &Config::sections(),
    );
    let e = Config::from_value(v, EnvOverrides::Ignore).unwrap_err();
    assert!(e.details.unwrap()["path"]
        .as_str()
        .unwrap()
        .starts_with("cache"));
    assert_eq!(Config::sections().len(), 13);
}
