//! `trinity report`'s replay: request-log files read back through the provider monitor on the
//! log's own clock give the states, incidents and totals the live monitor saw.

use std::io::Write;
use std::path::PathBuf;
use trinity_core::config::MonitorConfig;
use trinity_core::observe::monitor::ProviderState;
use trinity_core::observe::replay::{report_from_logs, Replay};
use trinity_core::observe::request_log::Attempt;
use trinity_core::observe::RequestRecord;
use trinity_core::ErrorKind;

const T0: i64 = 1_764_000_000_000;

fn attempt(provider: &str, error: Option<&str>) -> Attempt {
    Attempt {
        provider: provider.into(),
        model: "m".into(),
        error_code: error.map(Into::into),
        latency_ms: 40.0,
    }
}

/// A call every 100 ms for 300 s at `a`; from 100 s to 130 s `a` answers 503 and `b` takes
/// the call over.
fn outage_log() -> Vec<RequestRecord> {
    (0..3000)
        .map(|i| {
            let at = T0 + i * 100;
            let outage = (1000..1300).contains(&i);
            let attempts = if outage {
                vec![attempt("a", Some("provider")), attempt("b", None)]
            } else {
                vec![attempt("a", None)]
            };
            RequestRecord {
                request_id: format!("req_{i}"),
                timestamp_ms: at,
                end_timestamp_ms: Some(at + 40 * attempts.len() as i64),
                model_requested: "m".into(),
                provider: Some(attempts.last().unwrap().provider.clone()),
                model: Some("m".into()),
                attempts: attempts.len() as u32,
                attempt_log: attempts,
                output_tokens: 20,
                cost_usd: Some(0.001),
                latency_ms: 40.0,
                ..RequestRecord::default()
            }
        })
        .collect()
}

fn write_log(dir: &std::path::Path, name: &str, records: &[RequestRecord]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for r in records {
        serde_json::to_writer(&mut f, r).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    path
}

#[test]
fn an_outage_in_the_log_is_found_again_with_its_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let log = outage_log();
    // Rotated files, passed newest first: order does not matter.
    let older = write_log(tmp.path(), "requests.jsonl.1", &log[..1500]);
    let newer = write_log(tmp.path(), "requests.jsonl", &log[1500..]);
    let (html, summary) = report_from_logs(
        &[newer.clone(), older.clone()],
        &MonitorConfig::default(),
        "html",
        "outage replay",
    )
    .unwrap();
    assert_eq!((summary.records, summary.attempts), (3000, 3300));
    assert_eq!(summary.providers, ["a", "b"]);
    assert_eq!(summary.first_ms, T0);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("outage replay") && html.contains("<svg"));

    // The same records fed one by one: the monitor's view at the end of the log.
    let mut replay = Replay::new(&MonitorConfig::default(), T0, T0 + 300_000);
    for r in &log {
        replay.add(r);
    }
    let (pdf, _) = replay.finish("pdf", "outage replay").unwrap();
    assert!(pdf.starts_with(b"%PDF"));
}

#[test]
fn replayed_states_incidents_and_history_match_the_log() {
    let log = outage_log();
    let mut replay = Replay::new(&MonitorConfig::default(), T0, T0 + 300_000);
    for r in &log {
        replay.add(r);
    }
    let view = replay.view();
    let a = view.health.iter().find(|h| h.provider == "a").unwrap();
    // Totals over the whole log, not the last minute.
    assert_eq!((a.requests, a.failures), (3000, 300));
    assert!((a.error_rate.unwrap() - 0.1).abs() < 1e-9);
    // Down during the outage, healthy again by the end: one incident, recovered.
    assert_eq!(a.state, ProviderState::Healthy);
    assert_eq!(a.recoveries, 1);
    let b = view.health.iter().find(|h| h.provider == "b").unwrap();
    assert_eq!((b.requests, b.failures), (300, 0));
    // Every attempt lands in a history bucket; the failures sit in the outage's buckets.
    let history = &view.history["a"];
    assert_eq!(history.iter().map(|p| p.requests).sum::<u64>(), 3000);
    assert_eq!(history.iter().map(|p| p.failures).sum::<u64>(), 300);
    for p in history.iter().filter(|p| p.failures > 0) {
        assert!(
            p.end_ms > T0 + 100_000 && p.start_ms < T0 + 131_000,
            "failures outside the outage: {p:?}"
        );
    }
    assert!(history.len() <= 300, "{} buckets", history.len());
}

#[test]
fn bad_files_are_refused_with_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let good = serde_json::to_string(&outage_log()[0]).unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, format!("{good}\n\nnot json\n")).unwrap();
    let cfg = MonitorConfig::default();
    let e = report_from_logs(&[bad], &cfg, "html", "t").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("bad.jsonl:3:"), "{}", e.message);

    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let e = report_from_logs(std::slice::from_ref(&empty), &cfg, "html", "t").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);

    let e = report_from_logs(&[empty], &cfg, "xml", "t").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let e = report_from_logs(&[tmp.path().join("missing.jsonl")], &cfg, "html", "t").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}
