//! RunGuard on its own: limits, stickiness, the report, the log's records.

use super::*;
use crate::ErrorKind;
use serde_json::json;

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RunGuard>();
    let g = std::sync::Arc::new(guard(json!({"max_steps": 400})));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let g = g.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    g.record_step(
                        Action::new("t", json!({"t": t, "i": i})),
                        ok(json!(i)),
                        None,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(g.steps(), 400);
    assert_eq!(g.performance_report().steps, 400);
    assert!(g.check().is_ok());
}

fn guard(config: Value) -> RunGuard {
    RunGuard::from_json(config).unwrap()
}

fn ok(v: Value) -> StepOutcome {
    StepOutcome::ok(v)
}

#[test]
fn max_steps_refuses_the_next_step_and_stays_stopped() {
    let g = guard(json!({"max_steps": 3}));
    for i in 1..=3 {
        let n = g
            .record_step(Action::new("t", json!({"i": i})), ok(json!(i)), None)
            .unwrap();
        assert_eq!(n, i);
    }
    let e = g
        .record_step(Action::new("t", json!({"i": 4})), ok(json!(4)), None)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::GuardStopped);
    assert_eq!(StopReason::of(&e), Some(StopReason::MaxSteps));
    assert_eq!(e.details.as_ref().unwrap()["limit"], 3);
    assert_eq!(e.details.as_ref().unwrap()["step"], 4);
    // Sticky: every later call answers the same error.
    assert_eq!(g.check().unwrap_err(), e);
    assert_eq!(g.begin_step(Action::new("x", json!(null))).unwrap_err(), e);
    assert_eq!(g.stopped(), Some(e.clone()));
    assert_eq!(g.steps(), 3);
    let r = g.performance_report();
    assert_eq!(r.steps, 3);
    assert_eq!(r.stopped.unwrap().reason, StopReason::MaxSteps);
}

#[test]
fn loop_stop_names_rule_and_steps() {
    let g = guard(json!({}));
    g.record_step(Action::new("plan", json!({})), ok(json!("p")), None)
        .unwrap();
    let mut last = Ok(0);
    for _ in 0..5 {
        last = g.record_step(Action::new("ls", json!({"dir": "/"})), ok(json!("a")), None);
    }
    let e = last.unwrap_err();
    assert_eq!(StopReason::of(&e), Some(StopReason::LoopDetected));
    let d = e.details.unwrap();
    assert_eq!(d["rule"], "same_action");
    assert_eq!(d["steps"], json!([2, 3, 4, 5, 6]));
    assert_eq!(d["actions"], json!(["ls"]));
    assert_eq!(d["threshold"], 5);
}

#[test]
fn a_failed_step_outcome_is_not_a_guard_error() {
    let g = guard(json!({}));
    // The tool failed; the guard only records it.
    g.record_step(
        Action::new("read", json!({"path": "a"})),
        StepOutcome::error("not_found", "no such file: a"),
        None,
    )
    .unwrap();
    assert_eq!(g.performance_report().failed_steps, 1);
}

#[test]
fn report_figures() {
    let g = guard(json!({}));
    for (i, ms) in [10u64, 20, 30, 40].iter().enumerate() {
        g.record_step(
            Action::new("t", json!({"i": i})),
            ok(json!(i)),
            Some(Duration::from_millis(*ms)),
        )
        .unwrap();
    }
    g.record_llm_call(LlmCall {
        model: "m".into(),
        input_tokens: Some(100),
        output_tokens: Some(20),
        cost_nano_usd: Some(1_500_000),
        duration: Duration::from_millis(200),
        ..LlmCall::default()
    })
    .unwrap();
    g.record_llm_call(LlmCall {
        model: "m".into(),
        input_tokens: Some(300),
        output_tokens: Some(40),
        cost_nano_usd: None,
        duration: Duration::from_millis(400),
        ..LlmCall::default()
    })
    .unwrap();
    g.record_llm_call(LlmCall {
        model: "m".into(),
        duration: Duration::from_millis(50),
        error: Some(StepError {
            code: "timeout".into(),
            message: "t".into(),
        }),
        ..LlmCall::default()
    })
    .unwrap();
    let r = g.performance_report();
    assert_eq!(r.steps, 4);
    assert_eq!(r.step_duration_ms.count, 4);
    assert_eq!(r.step_duration_ms.average, Some(25.0));
    assert_eq!(r.step_duration_ms.min, Some(10.0));
    assert_eq!(r.step_duration_ms.max, Some(40.0));
    assert_eq!(r.llm_calls, 3);
    assert_eq!(r.failed_llm_calls, 1);
    assert_eq!(r.unpriced_llm_calls, 1);
    assert_eq!(r.llm_call_duration_ms.count, 3);
    assert_eq!(r.input_tokens.count, 2);
    assert_eq!(r.input_tokens.total, 400.0);
    assert_eq!(r.tokens.max, Some(340.0));
    assert_eq!(r.cost_usd.count, 1);
    assert_eq!(r.cost_usd.total, 0.0015);
    assert!(r.event_log.is_none());
    let v = serde_json::to_value(&r).unwrap();
    for key in ["count", "average", "min", "max", "p50", "p95", "p99"] {
        assert!(v["step_duration_ms"].get(key).is_some(), "{key}");
    }
    assert_eq!(v["cost_usd"]["p50"], json!(0.0015));
}

#[test]
fn event_log_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let g = guard(json!({"max_steps": 2, "event_log": path, "log_arguments": true}));
    g.record_step(
        Action::new(
            "search",
            json!({"q": "x", "api_key": "sk-abcdefghijklmnopqrstuvwx"}),
        ),
        ok(json!([])),
        Some(Duration::from_millis(5)),
    )
    .unwrap();
    g.record_llm_call(LlmCall {
        model: "gpt-4o-mini".into(),
        response_model: Some("gpt-4o-mini-2024-07-18".into()),
        provider: Some("openai".into()),
        input_tokens: Some(10),
        output_tokens: Some(5),
        cost_nano_usd: Some(2_500),
        duration: Duration::from_millis(30),
        error: None,
    })
    .unwrap();
    g.record_step(
        Action::new("read", json!({"path": "a"})),
        StepOutcome::error("not_found", "no such file: a"),
        None,
    )
    .unwrap();
    g.record_step(
        Action::new("read", json!({"path": "b"})),
        ok(json!("")),
        None,
    )
    .unwrap_err();
    let c = read_event_log(&path).unwrap();
    assert!(c.dropped_lines.is_empty() && !c.torn_tail);
    let types: Vec<&str> = c
        .records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["run_start", "step", "llm_call", "step", "run_stop"]);
    for r in &c.records {
        assert_eq!(r["run_id"], g.run_id());
        assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let step = &c.records[1];
    assert_eq!(step["step"], 1);
    assert_eq!(step["gen_ai.operation.name"], "execute_tool");
    assert_eq!(step["gen_ai.tool.name"], "search");
    assert_eq!(step["duration_ms"], 5.0);
    assert_eq!(step["outcome"], "ok");
    assert_eq!(
        step["trinity.action.fingerprint"].as_str().unwrap().len(),
        16
    );
    let args = step["gen_ai.tool.call.arguments"].to_string();
    assert!(!args.contains("sk-abc"), "{args}");
    let llm = &c.records[2];
    assert_eq!(llm["step"], 1);
    assert_eq!(llm["gen_ai.operation.name"], "chat");
    assert_eq!(llm["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(llm["gen_ai.response.model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(llm["gen_ai.provider.name"], "openai");
    assert_eq!(llm["gen_ai.usage.input_tokens"], 10);
    assert_eq!(llm["gen_ai.usage.output_tokens"], 5);
    assert_eq!(llm["trinity.cost_nano_usd"], 2_500);
    assert_eq!(llm["duration_ms"], 30.0);
    let failed = &c.records[3];
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["error.type"], "not_found");
    assert_eq!(failed["level"], "warn");
    let stop = &c.records[4];
    assert_eq!(stop["error.type"], "guard_stopped");
    assert_eq!(stop["reason"], "max_steps");
    let r = g.performance_report();
    assert_eq!(r.event_log.unwrap().lines_written, 5);
}

#[test]
fn arguments_stay_out_of_the_log_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.jsonl");
    let g = guard(json!({"event_log": path}));
    g.record_step(
        Action::new("search", json!({"q": "secret plans"})),
        ok(json!(1)),
        None,
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("secret plans"));
    assert!(text.contains("trinity.action.fingerprint"));
}

#[tokio::test(start_paused = true)]
async fn run_step_returns_the_value_and_records_errors() {
    let g = guard(json!({"max_time_s": 10}));
    let v: u32 = g
        .run_step(Action::new("add", json!({"a": 1})), async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Ok(2)
        })
        .await
        .unwrap();
    assert_eq!(v, 2);
    let e = g
        .run_step::<u32, _>(Action::new("add", json!({"a": 2})), async {
            Err(Error::not_found("nope"))
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    let r = g.performance_report();
    assert_eq!(r.steps, 2);
    assert_eq!(r.failed_steps, 1);
    assert_eq!(r.step_duration_ms.max, Some(250.0));
}

#[tokio::test(start_paused = true)]
async fn deadline_between_steps() {
    let g = guard(json!({"max_time_s": 1}));
    g.record_step(Action::new("a", json!(1)), ok(json!(1)), None)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1001)).await;
    let e = g.check().unwrap_err();
    assert_eq!(StopReason::of(&e), Some(StopReason::MaxTime));
    assert_eq!(e.details.as_ref().unwrap()["cancelled"], false);
    assert_eq!(g.remaining(), Some(Duration::ZERO));
}

#[test]
fn steps_by_number_for_the_bindings() {
    let g = guard(json!({"max_steps": 5}));
    let a = g.begin(Action::new("read", json!({"path": "a"}))).unwrap();
    let b = g.begin(Action::new("read", json!({"path": "b"}))).unwrap();
    assert_eq!((a, b), (1, 2));
    // Finished in any order; a number is finished once.
    g.finish(b, ok(json!("B"))).unwrap();
    g.finish(a, StepOutcome::error("not_found", "no a"))
        .unwrap();
    let e = g.finish(a, ok(json!(1))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(e.details.as_ref().unwrap()["step"], 1);
    let e = g.finish(99, ok(json!(1))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let r = g.performance_report();
    assert_eq!((r.steps, r.failed_steps), (2, 1));
}

#[test]
fn deadline_reached_cancels_the_open_step_and_stops_the_run() {
    let g = guard(json!({"max_time_s": 30}));
    let n = g.begin(Action::new("fetch", json!({"url": "x"}))).unwrap();
    let e = g.deadline_reached(n);
    assert_eq!(StopReason::of(&e), Some(StopReason::MaxTime));
    assert_eq!(e.details.as_ref().unwrap()["step"], 1);
    assert_eq!(e.details.as_ref().unwrap()["action"], "fetch");
    assert_eq!(g.check().unwrap_err(), e);
    let r = g.performance_report();
    assert_eq!((r.steps, r.failed_steps), (1, 1));
    // A late finish of the cancelled step is refused as unknown, and the stop stays.
    assert_eq!(
        g.finish(n, ok(json!(1))).unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    // A second timer firing says the same stop.
    assert_eq!(g.deadline_reached(n), e);
}

#[test]
fn record_step_json_parses_and_names_bad_fields() {
    let g = guard(Value::Null);
    let n = g
        .record_step_json(json!({"action": {"name": "ls", "arguments": {"dir": "/"}},
            "outcome": {"ok": ["a"]}, "duration_ms": 2.5}))
        .unwrap();
    assert_eq!(n, 1);
    let r = g.performance_report();
    assert_eq!(r.step_duration_ms.max, Some(2.5));
    for (bad, path) in [
        (json!({"action": {"name": "ls"}}), ""),
        (
            json!({"action": {"name": "ls"}, "outcome": {"maybe": 1}}),
            "outcome",
        ),
        (
            json!({"action": {"name": "ls"}, "outcome": {"error": {"message": "x"}}}),
            "outcome.error",
        ),
        (
            json!({"action": {"name": "ls"}, "outcome": {"ok": 1}, "duration_ms": -1}),
            "duration_ms",
        ),
        (
            json!({"action": {"nom": "ls"}, "outcome": {"ok": 1}}),
            "action.nom",
        ),
    ] {
        let e = g.record_step_json(bad.clone()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{bad}");
        assert_eq!(
            e.details.as_ref().unwrap()["path"],
            path,
            "{bad}: {}",
            e.message
        );
    }
    // Bad input is not a step.
    assert_eq!(g.steps(), 1);
}
