//! Request log: ring bound, queries, exports, bodies only when asked, no key anywhere, and the
//! JSON Lines sink rotated by size (real files).

use serde_json::json;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::observe::request_log::{SinkSettings, SCHEMA_VERSION};
use trinity_core::observe::{
    scrub, DebugInfo, LogQuery, RequestLog, RequestLogSettings, RequestRecord,
};

const KEYS: [&str; 4] = [
    "sk-proj-Abcdefghijklmnop1234567890",
    "sk-ant-api03-Zyxwvutsrqponm_lkjih-gfedcba",
    "AIzaSyA1234567890abcdefghijklmnopqrstu",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
];

fn settings(history: usize) -> RequestLogSettings {
    RequestLogSettings {
        history,
        log_bodies: false,
        sink: None,
    }
}

fn call(i: i64, provider: &str, model: &str, latency: f64) -> RequestRecord {
    RequestRecord {
        timestamp_ms: 1_000 * i,
        provider: Some(provider.into()),
        model: Some(model.into()),
        model_requested: model.into(),
        input_tokens: 10,
        output_tokens: 5,
        cost_nano_usd: Some(1_500),
        latency_ms: latency,
        messages: Some(json!([{"role": "user", "content": "secret prompt"}])),
        response: Some("secret answer".into()),
        ..Default::default()
    }
}

#[test]
fn the_ring_keeps_the_newest_history_records() {
    let log = RequestLog::new(settings(100)).unwrap();
    for i in 0..10_000 {
        log.record(call(i, "openai", "gpt-4o", 1.0));
    }
    assert_eq!(log.len(), 100);
    let h = log.history(5);
    assert_eq!(h.len(), 5);
    assert_eq!(h[0].timestamp_ms, 9_995_000);
    assert_eq!(h[4].timestamp_ms, 9_999_000);
    assert_eq!(log.history(1_000).len(), 100);
    assert!(h
        .iter()
        .all(|r| r.schema_version == SCHEMA_VERSION && r.request_id.starts_with("req_")));
    assert_eq!(h[0].cost_usd, Some(1.5e-6));
}

#[test]
fn queries_by_time_provider_model_status_and_latency() {
    let log = RequestLog::new(settings(1_000)).unwrap();
    log.record(call(1, "openai", "gpt-4o", 100.0));
    log.record(call(2, "anthropic", "claude", 900.0));
    log.record(call(3, "openai", "gpt-4o-mini", 50.0));
    let id = log.log_request(RequestRecord {
        timestamp_ms: 4_000,
        model_requested: "gpt-4o".into(),
        provider_requested: Some("openai".into()),
        ..Default::default()
    });
    log.log_error(
        &id,
        json!({"code": "timeout", "message": "timed out", "http_status": 504, "latency_ms": 20.0}),
    )
    .unwrap();
    let q = |q: LogQuery| log.query(&q).len();
    assert_eq!(
        q(LogQuery {
            provider: Some("openai".into()),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        q(LogQuery {
            model: Some("gpt-4o".into()),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        q(LogQuery {
            status: Some("error".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        q(LogQuery {
            status: Some("timeout".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        q(LogQuery {
            status: Some("success".into()),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        q(LogQuery {
            min_latency_ms: Some(100.0),
            ..Default::default()
        }),
        2
    );
    assert_eq!(
        q(LogQuery {
            start_ms: Some(2_000),
            end_ms: Some(4_000),
            ..Default::default()
        }),
        2
    );
    let newest = log.query(&LogQuery {
        limit: Some(1),
        ..Default::default()
    });
    assert_eq!(newest[0].error_code.as_deref(), Some("timeout"));
    assert_eq!(newest[0].http_status, Some(504));
}

#[test]
fn log_request_then_response_makes_one_record() {
    let log = RequestLog::new(settings(10)).unwrap();
    let id = log.log_request(RequestRecord {
        model_requested: "gpt-4o".into(),
        ..Default::default()
    });
    assert_eq!(log.len(), 0, "pending until answered");
    let r = log
        .log_response(
            &id,
            json!({"id": "chatcmpl-1", "content": "hi", "provider": "openai", "model": "gpt-4o-2024-08-06",
                   "usage": {"prompt_tokens": 12, "completion_tokens": 3, "cached_tokens": 2},
                   "cost_nano_usd": 60_000, "latency_ms": 42.0, "time_to_first_token_ms": 10.0}),
        )
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (r.status.as_str(), r.input_tokens, r.cached_tokens),
        ("success", 12, 2)
    );
    assert_eq!(r.response, None, "bodies are off by default");
    let d = DebugInfo::from_record(&r);
    assert_eq!(
        (d.request_id, d.cost, d.time_to_first_token_ms),
        (id, Some(6e-5), Some(10.0))
    );
    let err = log
        .log_response("x", json!({"input_tokens": "many"}))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}

#[test]
fn bodies_only_when_asked() {
    let off = RequestLog::new(settings(10)).unwrap();
    off.record(call(1, "openai", "gpt-4o", 1.0));
    let r = &off.history(1)[0];
    assert!(r.messages.is_none() && r.response.is_none());
    let on = RequestLog::new(RequestLogSettings {
        log_bodies: true,
        ..settings(10)
    })
    .unwrap();
    on.record(call(1, "openai", "gpt-4o", 1.0));
    assert_eq!(on.history(1)[0].response.as_deref(), Some("secret answer"));
}

#[test]
fn no_key_in_any_record_or_export() {
    let log = RequestLog::new(settings(10)).unwrap();
    for key in KEYS {
        let id = log.log_request(RequestRecord {
            model_requested: "gpt-4o".into(),
            ..Default::default()
        });
        log.log_error(
            &id,
            json!({"code": "auth", "message": format!("Incorrect API key provided: {key}. Authorization: Bearer {key}")}),
        )
        .unwrap();
        log.record(RequestRecord {
            status: "error".into(),
            error_code: Some("auth".into()),
            error_message: Some(format!("x-api-key {key} rejected")),
            ..Default::default()
        });
    }
    let mut texts = vec![
        log.export("json").unwrap(),
        log.export("csv").unwrap(),
        log.export("jsonl").unwrap(),
    ];
    texts.push(serde_json::to_string(&log.history(100)).unwrap());
    for text in &texts {
        for key in KEYS {
            assert!(!text.contains(key), "{key} leaked");
        }
        assert!(text.contains("[REDACTED]"));
    }
    assert_eq!(scrub("fine"), "fine");
}

#[test]
fn exports_json_and_csv_read_back() {
    let log = RequestLog::new(settings(10)).unwrap();
    log.record(call(1, "open,ai \"x\"\nz", "gpt-4o", 1.0));
    let json: Vec<RequestRecord> = serde_json::from_str(&log.export("json").unwrap()).unwrap();
    assert_eq!(json, log.history(10));
    let csv_text = log.export("csv").unwrap();
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let cols: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let row = rd.records().next().unwrap().unwrap();
    let provider = cols.iter().position(|c| c == "provider").unwrap();
    assert_eq!(&row[provider], "open,ai \"x\"\nz");
    assert_eq!(log.export("xml").unwrap_err().code(), "invalid_input");
}

#[test]
fn the_sink_rotates_by_size_and_every_file_is_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.jsonl");
    let log = RequestLog::new(RequestLogSettings {
        sink: Some(SinkSettings {
            path: path.clone(),
            max_bytes: 4_096,
            max_files: 3,
        }),
        ..settings(10)
    })
    .unwrap();
    for i in 0..500 {
        log.record(call(i, "openai", "gpt-4o", 1.0));
    }
    assert_eq!(log.sink_errors(), 0);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "requests.jsonl",
            "requests.jsonl.1",
            "requests.jsonl.2",
            "requests.jsonl.3"
        ]
    );
    let mut last_ts = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(text.len() <= 4_096, "{name}: {} bytes", text.len());
        assert!(text.ends_with('\n'));
        let records: Vec<RequestRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!records.is_empty());
        last_ts.push(records.last().unwrap().timestamp_ms);
    }
    // Current file newest, .1 older, ...; the very last record is in the current file.
    assert_eq!(last_ts[0], 499_000);
    assert!(last_ts[1] > last_ts[2] && last_ts[2] > last_ts[3]);
}

#[test]
fn config_carries_bodies_and_sink_and_names_a_bad_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let c = Config::from_value(
        json!({"logging": {"history": 5, "log_bodies": true, "sink": {"path": path.to_str().unwrap(), "max_bytes": 1000}}}),
        EnvOverrides::Ignore,
    )
    .unwrap();
    let log = RequestLog::from_config(&c.logging).unwrap();
    assert!(log.settings().log_bodies);
    assert_eq!(log.settings().sink.as_ref().unwrap().max_files, 5);
    let bad = Config::from_value(
        json!({"logging": {"sink": {"path": "/no/such/dir/log.jsonl"}}}),
        EnvOverrides::Ignore,
    )
    .unwrap_err();
    assert_eq!(bad.code(), "config");
    assert!(bad.message.contains("logging.sink.path"), "{}", bad.message);
    assert!(!Config::default().logging.log_bodies);
}

#[test]
fn records_from_a_response_and_an_error() {
    use trinity_core::cost::tracker::TrackRecord;
    use trinity_core::llm::{ChatResponse, Usage};
    let resp = ChatResponse {
        id: "chatcmpl-1".into(),
        request_id: Some("req-xyz".into()),
        content: "hello".into(),
        usage: Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
            total_tokens: 120,
            cached_tokens: 40,
            cache_write_tokens: 5,
            cache_write_1h_tokens: 5,
            reasoning_tokens: 8,
        },
        provider: "openai".into(),
        model: "gpt-4o-2024-08-06".into(),
        latency_ms: 250.0,
        cost_detail: Some(trinity_core::cost::CostDetail {
            total_nano_usd: Some(123),
            ..Default::default()
        }),
        attempts: 2,
        ..Default::default()
    };
    let log = RequestLog::new(settings(10)).unwrap();
    log.record(RequestRecord::from_response(&resp, "smart", 1_000));
    let r = &log.history(1)[0];
    assert_eq!(
        (
            r.input_tokens,
            r.cached_tokens,
            r.cache_write_tokens,
            r.reasoning_tokens
        ),
        (100, 40, 10, 8)
    );
    assert_eq!((r.cost_nano_usd, r.cost_usd), (Some(123), Some(1.23e-7)));
    assert_eq!((r.attempts, r.end_timestamp_ms), (2, Some(1_250)));
    assert_eq!(r.response, None, "bodies off");
    let t = TrackRecord::from_response(&resp, 1_000);
    assert_eq!(
        (t.cost_nano_usd, t.cached_tokens, t.cache_hit),
        (Some(123), 40, false)
    );

    let err = trinity_core::Error::new(
        trinity_core::ErrorKind::Auth,
        "bad key sk-proj-Abcdefghijklmnop1234567890",
    )
    .with_details(json!({"status": 401}));
    log.record(RequestRecord::from_error(&err, "smart", 2_000, 30.0));
    let r = &log.history(1)[0];
    assert_eq!(
        (r.status.as_str(), r.error_code.as_deref(), r.http_status),
        ("error", Some("auth"), Some(401))
    );
    assert_eq!(r.error_message.as_deref(), Some("bad key [REDACTED]"));
}
