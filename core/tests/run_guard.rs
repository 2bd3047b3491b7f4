//! The run guard against issue 16: max steps, max time (a hanging call cancelled within the
//! deadline, on the paused clock), the loop corpus in `tests/fixtures/guard.json` (every loop found
//! by the expected rule, no alarm on legitimate repetitive work; every binding replays the same
//! cases), and an event log that stays valid when the process is killed mid-write.

use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trinity_core::guard::{
    read_event_log, Action, GuardConfig, LlmCall, RunGuard, StepOutcome, StopReason,
};
use trinity_core::llm::{ChatResponse, Usage};
use trinity_core::{Error, ErrorKind, Result};

fn details(e: &Error) -> &Value {
    e.details.as_ref().expect("guard errors carry details")
}

// ---------------------------------------------------------------------------------------------
// Limits

#[tokio::test(start_paused = true)]
async fn max_steps_trips_on_the_step_after_the_limit() {
    let guard = RunGuard::from_json(json!({"max_steps": 10})).unwrap();
    let mut done = 0;
    let err = loop {
        let r = guard
            .run_step(Action::new("fetch", json!({"item": done})), async {
                Ok(done)
            })
            .await;
        match r {
            Ok(_) => done += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(done, 10);
    assert_eq!(err.kind, ErrorKind::GuardStopped);
    assert_eq!(err.code(), "guard_stopped");
    assert_eq!(StopReason::of(&err), Some(StopReason::MaxSteps));
    assert_eq!(details(&err)["reason"], "max_steps");
    assert_eq!(details(&err)["limit"], 10);
    assert_eq!(details(&err)["step"], 11);
    assert_eq!(details(&err)["run_id"], guard.run_id());
}

#[tokio::test(start_paused = true)]
async fn max_time_trips_between_steps() {
    let guard = RunGuard::new(GuardConfig {
        max_time: Some(Duration::from_secs(1)),
        ..GuardConfig::default()
    })
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut steps = 0u32;
    let err = loop {
        // Each step takes 300 ms and finishes; the fourth is cut at the deadline.
        let r = guard
            .run_step(Action::new("work", json!({"n": steps})), async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .await;
        match r {
            Ok(()) => steps += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(steps, 3);
    assert_eq!(StopReason::of(&err), Some(StopReason::MaxTime));
    assert_eq!(details(&err)["step"], 4);
    assert_eq!(details(&err)["action"], "work");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // Sticky, and said again by anything else.
    assert_eq!(guard.check().unwrap_err(), err);
}

/// Sets its flag when dropped: proves a cancelled call was really dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_tool_call_is_cancelled_at_the_deadline() {
    let max_time = Duration::from_secs(30);
    let guard = RunGuard::new(GuardConfig {
        max_time: Some(max_time),
        ..GuardConfig::default()
    })
    .unwrap();
    let started = tokio::time::Instant::now();
    guard
        .run_step(Action::new("plan", json!({})), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok("read the page")
        })
        .await
        .unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let err = guard
        .run_step::<(), _>(
            Action::new("http_get", json!({"url": "https://hangs.example"})),
            async move {
                let _flag = flag;
                std::future::pending::<Result<()>>().await
            },
        )
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= max_time, "{took:?}");
    assert!(took <= max_time + Duration::from_millis(100), "{took:?}");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hung call was not dropped"
    );
    assert_eq!(StopReason::of(&err), Some(StopReason::MaxTime));
    let d = details(&err);
    assert_eq!(d["cancelled"], true);
    assert_eq!(d["step"], 2);
    assert_eq!(d["action"], "http_get");
    assert_eq!(d["limit_ms"], 30_000.0);
    // The run is over: the next step is refused at once, without running.
    let ran = AtomicBool::new(false);
    let again = guard
        .run_step(Action::new("next", json!({})), async {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(again, err);
    assert!(!ran.load(Ordering::SeqCst));
    let report = guard.performance_report();
    assert_eq!(report.steps, 2);
    assert_eq!(report.failed_steps, 1);
    assert_eq!(report.stopped.unwrap().reason, StopReason::MaxTime);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_llm_call_is_cancelled_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let guard = RunGuard::from_json(json!({"max_time_s": 2.5, "event_log": log})).unwrap();
    let started = tokio::time::Instant::now();
    let answer = guard
        .run_llm_call("gpt-4o-mini", async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            Ok(ChatResponse {
                model: "gpt-4o-mini-2024-07-18".into(),
                provider: "openai".into(),
                usage: Usage {
                    prompt_tokens: 120,
                    completion_tokens: 30,
                    total_tokens: 150,
                    ..Usage::default()
                },
                cost_usd: Some(0.000036),
                ..ChatResponse::default()
            })
        })
        .await
        .unwrap();
    assert_eq!(answer.usage.prompt_tokens, 120);
    let err = guard
        .run_llm_call("gpt-4o-mini", std::future::pending())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2500) && took <= Duration::from_millis(2600));
    assert_eq!(StopReason::of(&err), Some(StopReason::MaxTime));
    let report = guard.performance_report();
    assert_eq!(report.llm_calls, 2);
    assert_eq!(report.failed_llm_calls, 1);
    assert_eq!(report.input_tokens.total, 120.0);
    assert_eq!(report.cost_usd.total, 0.000036);
    let records = read_event_log(&log).unwrap().records;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["run_start", "llm_call", "llm_call", "run_stop"]);
    assert_eq!(records[1]["gen_ai.usage.input_tokens"], 120);
    assert_eq!(records[1]["gen_ai.usage.output_tokens"], 30);
    assert_eq!(records[1]["duration_ms"], 700.0);
    assert_eq!(records[2]["outcome"], "cancelled");
    assert_eq!(records[2]["error.type"], "guard_stopped");
    assert_eq!(records[3]["reason"], "max_time");
}

// ---------------------------------------------------------------------------------------------
// Loop corpus

struct Trace {
    file: String,
    config: Value,
    expect_rule: Option<String>,
    expect_steps: Vec<u64>,
    arguments_differ: bool,
    steps: Vec<(Action, StepOutcome)>,
}

/// The loop traces of `tests/fixtures/guard.json` (the cases with a loop to find or none).
fn corpus() -> Vec<Trace> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/guard.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let id = c["id"].as_str().unwrap();
            id.starts_with("guard/loop_") || id.starts_with("guard/ok_")
        })
        .map(|c| {
            let steps = c["input"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        serde_json::from_value(s["action"].clone()).unwrap(),
                        serde_json::from_value(s["outcome"].clone()).unwrap(),
                    )
                })
                .collect();
            let stopped = &c["expect"]["result"]["stopped"];
            Trace {
                file: c["id"].as_str().unwrap().to_string(),
                config: c["input"].get("config").cloned().unwrap_or(Value::Null),
                expect_rule: stopped["rule"].as_str().map(str::to_owned),
                expect_steps: stopped["steps"]
                    .as_array()
                    .map(|a| a.iter().map(|n| n.as_u64().unwrap()).collect())
                    .unwrap_or_default(),
                arguments_differ: c["arguments_differ"].as_bool().unwrap_or(false),
                steps,
            }
        })
        .collect()
}

/// Replays a trace; the first error, if any, with the step it came at.
fn replay(config: &Value, steps: &[(Action, StepOutcome)]) -> Option<(usize, Error)> {
    let guard = RunGuard::from_json(config.clone()).unwrap();
    for (i, (action, outcome)) in steps.iter().enumerate() {
        if let Err(e) = guard.record_step(action.clone(), outcome.clone(), None) {
            return Some((i + 1, e));
        }
    }
    None
}

#[test]
fn loop_corpus_every_loop_found_no_false_alarm() {
    let traces = corpus();
    let loops = traces.iter().filter(|t| t.expect_rule.is_some()).count();
    let legit = traces.len() - loops;
    assert!(
        loops >= 14 && legit >= 15,
        "corpus: {loops} loops, {legit} legitimate"
    );
    let mut rules_seen = std::collections::BTreeSet::new();
    for t in &traces {
        let got = replay(&t.config, &t.steps);
        match (&t.expect_rule, got) {
            (None, None) => {}
            (None, Some((at, e))) => panic!("{}: false alarm at step {at}: {e}", t.file),
            (Some(rule), None) => panic!("{}: loop ({rule}) not detected", t.file),
            (Some(rule), Some((at, e))) => {
                assert_eq!(
                    StopReason::of(&e),
                    Some(StopReason::LoopDetected),
                    "{}: {e}",
                    t.file
                );
                let d = details(&e);
                assert_eq!(d["rule"], rule.as_str(), "{}: {e}", t.file);
                assert_eq!(d["steps"], json!(t.expect_steps), "{}: {e}", t.file);
                // Stopped at the step that completed the loop, no later.
                assert_eq!(at as u64, *t.expect_steps.last().unwrap(), "{}", t.file);
                rules_seen.insert(rule.clone());
            }
        }
    }
    assert_eq!(
        rules_seen.into_iter().collect::<Vec<_>>(),
        ["alternation", "near_duplicate", "same_action", "same_error"]
    );
}

#[test]
fn legitimate_traces_stay_quiet_on_their_arguments_alone() {
    // Paging, line ranges, different files: the arguments alone say "different call", even if
    // every result were the same.
    let mut n = 0;
    for t in corpus().iter().filter(|t| t.arguments_differ) {
        let blind: Vec<_> = t
            .steps
            .iter()
            .map(|(a, _)| (a.clone(), StepOutcome::ok(Value::Null)))
            .collect();
        if let Some((at, e)) = replay(&t.config, &blind) {
            panic!("{}: false alarm at step {at} without results: {e}", t.file);
        }
        n += 1;
    }
    assert!(n >= 8, "{n}");
}

#[test]
fn thresholds_are_configurable() {
    let t = corpus()
        .into_iter()
        .find(|t| t.file == "guard/loop_exact_search")
        .unwrap();
    // Off: no alarm over the whole trace.
    let off = json!({"loops": {"same_action": 0, "near_duplicate": 0}});
    assert!(replay(&off, &t.steps).is_none());
    // Lower: found earlier.
    let (at, e) = replay(&json!({"loops": {"same_action": 3}}), &t.steps).unwrap();
    assert_eq!(at, 4);
    assert_eq!(details(&e)["steps"], json!([2, 3, 4]));
    assert_eq!(details(&e)["threshold"], 3);
    // Alternation at 2 cycles.
    let t = corpus()
        .into_iter()
        .find(|t| t.file == "guard/loop_alternation_read_write")
        .unwrap();
    let (at, e) = replay(&json!({"loops": {"alternation_cycles": 2}}), &t.steps).unwrap();
    assert_eq!(at, 5);
    assert_eq!(details(&e)["rule"], "alternation");
    // Same error at 4.
    let t = corpus()
        .into_iter()
        .find(|t| t.file == "guard/loop_error_rate_limited")
        .unwrap();
    let (at, _) = replay(&json!({"loops": {"same_error": 4}}), &t.steps).unwrap();
    assert_eq!(at, 4);
}

/// Generated traces on a fixed seed: loops hidden after random legitimate work, and paging with
/// random ids in it.
#[test]
fn generated_traces() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let uuid = |rng: &mut rand_chacha::ChaCha8Rng| {
        let b: u128 = rng.random();
        let h = format!("{b:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };
    let config = Value::Null;
    let mut found = 0;
    for round in 0..100 {
        // Legitimate work first: paging with request ids.
        let pages = rng.random_range(0..30u64);
        let mut steps: Vec<(Action, StepOutcome)> = (1..=pages)
            .map(|p| {
                (
                    Action::new(
                        "list",
                        json!({"page": p, "request_id": uuid(&mut rng), "q": "open bugs"}),
                    ),
                    StepOutcome::ok(json!({"items": [p * 10, p * 10 + 1]})),
                )
            })
            .collect();
        assert!(
            replay(&config, &steps).is_none(),
            "round {round}: paging alarmed"
        );
        // Then a loop: one of the four kinds, with cosmetic noise.
        let kind = round % 4;
        let start = steps.len() as u64 + 1;
        let (rule, len) = match kind {
            0 => ("same_action", 5),
            1 => ("near_duplicate", 5),
            2 => ("alternation", 6),
            _ => ("same_error", 3),
        };
        for i in 0..len {
            let step = match kind {
                0 => (
                    Action::new("grep", json!({"pattern": "TODO", "dir": "src"})),
                    StepOutcome::ok(json!(["a.rs:3"])),
                ),
                1 => (
                    Action::new(
                        "grep",
                        json!({"Pattern": if i % 2 == 0 { "todo" } else { " TODO " },
                               "dir": "src", "nonce": uuid(&mut rng)}),
                    ),
                    StepOutcome::ok(json!(["a.rs:3"])),
                ),
                2 if i % 2 == 0 => (
                    Action::new("open", json!({"tab": "a"})),
                    StepOutcome::ok(json!({"view": "a", "session": uuid(&mut rng)})),
                ),
                2 => (
                    Action::new("open", json!({"tab": "b"})),
                    StepOutcome::ok(json!({"view": "b", "session": uuid(&mut rng)})),
                ),
                _ => (
                    Action::new("deploy", json!({"attempt": i})),
                    StepOutcome::error(
                        "tool_error",
                        format!("deploy {} failed: quota exceeded", uuid(&mut rng)),
                    ),
                ),
            };
            steps.push(step);
        }
        let (at, e) = replay(&config, &steps).expect("loop not found");
        let d = details(&e);
        assert_eq!(d["rule"], rule, "round {round}: {e}");
        let expected: Vec<u64> = (start..start + len).collect();
        assert_eq!(d["steps"], json!(expected), "round {round}");
        assert_eq!(at as u64, start + len - 1);
        found += 1;
    }
    assert_eq!(found, 100);
}

// ---------------------------------------------------------------------------------------------
// Event log and crashes

#[test]
fn a_torn_last_line_is_dropped_and_a_new_run_appends_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let guard = RunGuard::from_json(json!({"event_log": path})).unwrap();
    for i in 0..5 {
        guard
            .record_step(
                Action::new("t", json!({"i": i})),
                StepOutcome::ok(json!(i)),
                None,
            )
            .unwrap();
    }
    drop(guard);
    // A crash mid-write: half a line at the end.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"timestamp":"2025-01-01T00:00:00.000Z","type":"step","st"#);
    std::fs::write(&path, &bytes).unwrap();
    let c = read_event_log(&path).unwrap();
    assert_eq!(c.records.len(), 6);
    assert!(c.torn_tail);
    assert_eq!(c.dropped_lines, vec![7]);
    // The next run appends to the same file: its lines are whole; the fragment stays dropped.
    let guard = RunGuard::from_json(json!({"event_log": path})).unwrap();
    guard
        .record_step(Action::new("t", json!({})), StepOutcome::ok(json!(1)), None)
        .unwrap();
    let c = read_event_log(&path).unwrap();
    assert_eq!(c.records.len(), 8);
    assert!(!c.torn_tail);
    assert_eq!(c.dropped_lines, vec![7]);
    assert_eq!(c.records[7]["run_id"], guard.run_id());
}

const CHILD_ENV: &str = "TRINITY_GUARD_SIGKILL_LOG";

/// Not a test on its own: the child process of `event_log_is_valid_after_sigkill`, which runs
/// this binary again with the log path in `TRINITY_GUARD_SIGKILL_LOG` and kills it mid-logging.
#[test]
fn sigkill_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let guard = RunGuard::from_json(json!({
        "event_log": path, "log_arguments": true, "loops": {"enabled": false}
    }))
    .unwrap();
    // Big lines (~200 KB) so that some kills land inside a write.
    let filler = "x".repeat(200_000);
    for i in 0u64.. {
        guard
            .record_step(
                Action::new("work", json!({"i": i, "filler": filler})),
                StepOutcome::ok(json!(i)),
                None,
            )
            .unwrap();
    }
}

#[cfg(unix)]
#[test]
fn event_log_is_valid_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    for round in 0..5u64 {
        let path = dir.path().join(format!("events-{round}.jsonl"));
        let mut child = std::process::Command::new(&exe)
            .args([
                "--exact",
                "sigkill_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different size each round, somewhere in the middle of logging.
        let at = 1_000_000 + round * 700_001;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < at {
            assert!(
                std::time::Instant::now() < deadline,
                "child wrote too little"
            );
            assert!(child.try_wait().unwrap().is_none(), "child exited");
            std::thread::sleep(Duration::from_millis(1));
        }
        // …and at a different moment of a step.
        std::thread::sleep(Duration::from_micros(round * 397));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let c = read_event_log(&path).unwrap();
        let total_lines = std::fs::read(&path).unwrap().split(|b| *b == b'\n').count() as u64;
        // At most the last line is lost; everything before it is whole and in order.
        assert!(
            c.dropped_lines.iter().all(|&n| n == total_lines),
            "{:?}",
            c.dropped_lines
        );
        assert!(c.records.len() >= 3, "{}", c.records.len());
        assert_eq!(c.records[0]["type"], "run_start");
        for (i, r) in c.records[1..].iter().enumerate() {
            assert_eq!(r["type"], "step");
            assert_eq!(r["step"], i as u64 + 1);
            assert_eq!(r["gen_ai.tool.call.arguments"]["i"], i as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config and errors as the bindings will see them

#[test]
fn config_errors_name_the_key() {
    let e = RunGuard::from_json(json!({"max_steps": 5, "loop": {}})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(details(&e)["path"], "loop");
    let e = RunGuard::from_json(json!({"loops": {"same_actions": 4}})).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert_eq!(details(&e)["path"], "loops.same_actions");
    assert!(e.message.contains("same_actions"));
}

#[test]
fn guard_stopped_is_a_stable_kind() {
    assert_eq!(ErrorKind::GuardStopped.code(), "guard_stopped");
    assert_eq!(ErrorKind::GuardStopped.number(), 304);
    assert_eq!(
        ErrorKind::from_code("guard_stopped"),
        Some(ErrorKind::GuardStopped)
    );
    assert_eq!(ErrorKind::GuardStopped.name(), "GuardStopped");
}

#[test]
fn llm_calls_recorded_from_outside() {
    let guard = RunGuard::new(GuardConfig::default()).unwrap();
    for (ms, out) in [
        (100u64, 10u64),
        (200, 20),
        (300, 30),
        (400, 40),
        (1000, 100),
    ] {
        guard
            .record_llm_call(LlmCall {
                model: "claude-sonnet-4".into(),
                input_tokens: Some(1000),
                output_tokens: Some(out),
                cost_nano_usd: Some(out * 15_000),
                duration: Duration::from_millis(ms),
                ..LlmCall::default()
            })
            .unwrap();
    }
    let r = guard.performance_report();
    let d = &r.llm_call_duration_ms;
    assert_eq!(d.count, 5);
    assert_eq!(d.average, Some(400.0));
    assert_eq!((d.min, d.max), (Some(100.0), Some(1000.0)));
    assert_eq!(d.p50, Some(300.0));
    assert_eq!(d.p95, Some(1000.0));
    assert_eq!(d.p99, Some(1000.0));
    assert_eq!(r.output_tokens.p50, Some(30.0));
    assert_eq!(r.tokens.max, Some(1100.0));
    assert_eq!(r.cost_usd.total, 0.003);
    assert_eq!(r.cost_usd.max, Some(0.0015));
}

// ---------------------------------------------------------------------------------------------
// LLM calls through the client (what every binding's `chat` on a guard runs)

fn mock_client(latency_ms: u64) -> (trinity_core::mock::MockServer, trinity_core::llm::Client) {
    use trinity_core::config::{Config, EnvOverrides};
    use trinity_core::mock::{MockConfig, MockServer};
    let server = MockServer::start(
        MockConfig::from_json(json!({"seed": 3, "default_response": "echo",
            "latency": {"dist": "fixed", "ms": latency_ms}}))
        .unwrap(),
    )
    .unwrap();
    let config = json!({"providers": {"m": {"kind": "openai", "base_url": format!("{}/v1", server.url()),
        "api_key": "k"}}, "retry": {"max_attempts": 1}});
    let client =
        trinity_core::llm::Client::new(Config::from_value(config, EnvOverrides::Ignore).unwrap())
            .unwrap();
    (server, client)
}

fn chat_request() -> trinity_core::llm::ChatRequest {
    trinity_core::llm::ChatRequest::from_json(
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}),
    )
    .unwrap()
}

#[test]
fn guarded_chat_is_recorded_with_tokens_and_cost() {
    let (_server, client) = mock_client(0);
    let guard = RunGuard::from_json(json!({"max_steps": 3})).unwrap();
    let r = trinity_core::rt::block_on(guard.chat(&client, chat_request())).unwrap();
    let report = guard.performance_report();
    assert_eq!(report.llm_calls, 1);
    assert_eq!(report.input_tokens.total, r.usage.prompt_tokens as f64);
    assert_eq!(report.output_tokens.total, r.usage.completion_tokens as f64);
    assert_eq!(
        report.cost_usd.count, 1,
        "gpt-4o-mini is priced: {report:?}"
    );
}

#[test]
fn a_guarded_chat_to_a_hanging_server_ends_at_the_deadline() {
    // The server answers after 30 s; the run has 300 ms.
    let (_server, client) = mock_client(30_000);
    let guard = RunGuard::from_json(json!({"max_time_s": 0.3})).unwrap();
    let started = std::time::Instant::now();
    let e = trinity_core::rt::block_on(guard.chat(&client, chat_request())).unwrap_err();
    let took = started.elapsed();
    assert_eq!(StopReason::of(&e), Some(StopReason::MaxTime), "{e}");
    // Far from the server's 30 s: the call was cut at the deadline, not waited out.
    assert!(took < Duration::from_secs(10), "{took:?}");
    let report = guard.performance_report();
    assert_eq!((report.llm_calls, report.failed_llm_calls), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_caller_stops_waiting_is_recorded_as_cancelled_and_the_run_goes_on() {
    let log = std::env::temp_dir().join(format!("guard-dropped-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let guard = RunGuard::from_json(json!({"max_time_s": 60, "event_log": log})).unwrap();
    // The caller gives up after 1 s on a step and on an LLM call that would take an hour.
    let hang = || tokio::time::sleep(Duration::from_secs(3600));
    let step = guard.run_step(Action::new("crawl", json!({"site": "a"})), async {
        hang().await;
        Ok(())
    });
    assert!(tokio::time::timeout(Duration::from_secs(1), step)
        .await
        .is_err());
    let call = guard.run_llm_call("gpt-4o-mini", async {
        hang().await;
        Err(Error::internal("unreachable"))
    });
    assert!(tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .is_err());
    let r = guard.performance_report();
    assert_eq!((r.steps, r.failed_steps), (1, 1));
    assert_eq!((r.llm_calls, r.failed_llm_calls), (1, 1));
    // Not a stop: the next step runs.
    guard
        .run_step(Action::new("crawl", json!({"site": "b"})), async { Ok(1) })
        .await
        .unwrap();
    let records = read_event_log(&log).unwrap().records;
    let outcomes: Vec<_> = records
        .iter()
        .filter(|r| r["type"] != "run_start")
        .map(|r| {
            (
                r["type"].clone(),
                r["outcome"].clone(),
                r["error.type"].clone(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!("step"), json!("error"), json!("cancelled")),
            (json!("llm_call"), json!("cancelled"), json!("cancelled")),
            (json!("step"), json!("ok"), Value::Null),
        ]
    );
    let _ = std::fs::remove_file(&log);
}
