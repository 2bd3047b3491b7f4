//! `trinity report`: a client's request-log files (the JSON Lines sink, rotated) read back into
//! the performance report, HTML and PDF, with the calls, errors and providers that happened.

use serde_json::json;
use std::process::Command;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::rt;

fn trinity(args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_clients_request_log_becomes_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = tmp.path().join("requests.jsonl");
    let (main, spare) = (
        MockServer::start(MockConfig::from_json(json!({"seed": 1})).unwrap()).unwrap(),
        MockServer::start(MockConfig::from_json(json!({"seed": 2})).unwrap()).unwrap(),
    );
    let provider = |s: &MockServer| json!({"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"});
    let config = json!({
        "providers": {"main": provider(&main), "spare": provider(&spare)},
        "models": {"m": {"strategy": "failover", "deployments": [
            {"provider": "main", "model": "gpt-4o-mini"},
            {"provider": "spare", "model": "gpt-4o-mini"}]}},
        "retry": {"max_attempts": 1},
        "breaker": {"enabled": false},
        // Small files: the log rotates, and the report reads every file.
        "logging": {"sink": {"path": sink.to_str().unwrap(), "max_bytes": 20000, "max_files": 50}},
    });
    let client = Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap()).unwrap();
    let req = || {
        ChatRequest::from_json(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .unwrap()
    };
    for i in 0..60 {
        if i == 20 {
            main.set_faults(json!({"rates": {"503": 1.0}})).unwrap();
        }
        if i == 40 {
            main.set_faults(json!({})).unwrap();
        }
        rt::block_on(client.chat(req())).unwrap();
    }
    drop(client);
    let mut files: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        .filter(|p| p.contains("requests.jsonl"))
        .collect();
    files.sort();
    assert!(files.len() > 1, "the sink rotated: {files:?}");

    let html = tmp.path().join("report.html");
    let mut args = vec![
        "report",
        "-o",
        html.to_str().unwrap(),
        "--title",
        "Nightly run",
    ];
    args.extend(files.iter().map(String::as_str));
    let (ok, _, err) = trinity(&args);
    assert!(ok, "{err}");
    // 60 calls: 20 of them tried main, failed, and were answered by spare.
    assert!(
        err.contains("60 calls, 80 attempts, providers main, spare"),
        "{err}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.contains("Nightly run"));
    assert!(page.contains("main") && page.contains("spare") && !page.contains("<script"));

    // PDF to standard output with --format; the same calls.
    let mut args = vec!["report", "--format", "pdf"];
    args.extend(files.iter().map(String::as_str));
    let (ok, pdf, err) = trinity(&args);
    assert!(ok, "{err}");
    assert!(
        pdf.starts_with(b"%PDF") && err.contains("60 calls"),
        "{err}"
    );

    let (ok, _, err) = trinity(&["report", tmp.path().join("none.jsonl").to_str().unwrap()]);
    assert!(!ok && err.contains("[io]"), "{err}");
}
