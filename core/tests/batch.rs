//! The batch runner in-process, against the real mock server: every request answered once and
//! joined by custom_id, the output in input order, a stop that leaves valid files and a resume
//! that finishes exactly what is missing, torn journal and part tails dropped, the resume guard,
//! a budget that stops admission, and the same results with the queue on and off.

use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use trinity_core::batch::{self, BatchOptions, Control, Progress};
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::Client;
use trinity_core::mock::{MockConfig, MockServer};
use trinity_core::{rt, ErrorKind};

fn server(latency_ms: u64) -> MockServer {
    MockServer::start(
        MockConfig::from_json(
            json!({"seed": 7, "default_response": "echo", "latency": {"dist": "fixed", "ms": latency_ms}}),
        )
        .unwrap(),
    )
    .unwrap()
}

fn config(s: &MockServer, extra: Value) -> Config {
    let mut c = json!({
        "providers": {"p": {"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"}},
        "logging": {"level": "error"},
    });
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Config::from_value(c, EnvOverrides::Ignore).unwrap()
}

struct Dir(PathBuf);
impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("trinity-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `n` requests, alternating our line shape and OpenAI's Batch API line.
fn write_input(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("in.jsonl");
    let mut text = String::new();
    for i in 0..n {
        let body = json!({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": format!("question {i}")}]});
        let line = if i % 2 == 0 {
            let mut b = body;
            b["custom_id"] = json!(format!("q{i}"));
            b
        } else {
            json!({"custom_id": format!("q{i}"), "method": "POST", "url": "/v1/chat/completions", "body": body})
        };
        text.push_str(&line.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn run(
    client: &Arc<Client>,
    opts: &BatchOptions,
    control: Arc<Control>,
) -> trinity_core::Result<batch::Summary> {
    rt::block_on(batch::run(
        client.clone(),
        opts,
        control,
        Arc::new(Progress::default()),
    ))
}

/// A control that stops the run after `delay`, as a signal would.
fn stop_after(delay: Duration, reason: &'static str) -> Arc<Control> {
    let control = Control::new();
    let c = control.clone();
    rt::spawn(async move {
        tokio::time::sleep(delay).await;
        c.stop(reason);
    });
    control
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What must not differ between runs: everything but the ids providers and the engine assign
/// to each call (the mock numbers its answers in arrival order).
fn stable(mut v: Value) -> Value {
    v["trinity"]["request_id"] = Value::Null;
    if !v["response"].is_null() {
        v["response"]["request_id"] = Value::Null;
        v["response"]["body"]["id"] = Value::Null;
    }
    v
}

#[test]
fn every_request_is_answered_once_in_input_order() {
    let s = server(0);
    let dir = Dir::new("once");
    let input = write_input(&dir.0, 300);
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let opts = BatchOptions {
        concurrency: 24,
        ..BatchOptions::new(&input, dir.0.join("out.jsonl"))
    };
    let summary = run(&client, &opts, Control::new()).unwrap();
    assert_eq!(
        (
            summary.total,
            summary.succeeded,
            summary.failed,
            summary.remaining
        ),
        (300, 300, 0, 0)
    );
    assert!(summary.complete && summary.stopped.is_none());
    let out = lines(&dir.0.join("out.jsonl"));
    let ids: Vec<&str> = out
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, (0..300).map(|i| format!("q{i}")).collect::<Vec<_>>());
    for (i, l) in out.iter().enumerate() {
        // The echo model answers with the prompt: each answer is joined to its own request.
        assert_eq!(
            l["response"]["body"]["choices"][0]["message"]["content"],
            format!("question {i}")
        );
        assert_eq!(l["response"]["status_code"], 200);
        assert!(l["trinity"]["cost_usd"].as_f64().unwrap() > 0.0);
        assert!(l["id"].as_str().unwrap().starts_with("batch_req_"));
    }
    assert_eq!(
        std::fs::read_to_string(dir.0.join("out.errors.jsonl")).unwrap(),
        ""
    );
    assert!(!dir.0.join("out.jsonl.part").exists());
    assert_eq!(s.stats().requests, 300);
    let status = batch::status(&dir.0.join("out.jsonl")).unwrap();
    assert_eq!((status.succeeded, status.remaining), (300, 0));
    assert!(status.complete);
    // Added in journal order by both, over many group commits: equal to the last bit.
    assert_eq!(status.cost_usd, summary.cost_usd);
}

#[test]
fn a_stopped_run_leaves_valid_files_and_a_resume_finishes_exactly_the_rest() {
    let s = server(30);
    let dir = Dir::new("stop");
    let input = write_input(&dir.0, 200);
    let out = dir.0.join("out.jsonl");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let control = stop_after(Duration::from_millis(150), "signal: SIGINT");
    let opts = BatchOptions {
        concurrency: 8,
        grace: Some(Duration::from_secs(5)),
        ..BatchOptions::new(&input, &out)
    };
    let first = run(&client, &opts, control).unwrap();
    assert_eq!(first.stopped.as_deref(), Some("signal: SIGINT"));
    assert!(
        !first.complete && first.remaining > 0 && first.succeeded > 0,
        "{first:?}"
    );
    // Nothing was started after the stop except what was in flight: all of it finished.
    assert_eq!(s.stats().requests as usize, first.succeeded);
    let part = lines(&dir.0.join("out.jsonl.part"));
    assert_eq!(part.len(), first.succeeded);
    let second = run(
        &client,
        &BatchOptions {
            resume: true,
            ..opts.clone()
        },
        Control::new(),
    )
    .unwrap();
    assert!(second.complete);
    assert_eq!(second.skipped, first.succeeded);
    assert_eq!(second.succeeded, 200);
    assert_eq!(s.stats().requests, 200, "no request was sent twice");
    let ids: HashSet<String> = lines(&out)
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 200);
}

#[test]
fn cancelled_in_flight_requests_are_not_done_and_run_again_on_resume() {
    let s = server(2_000);
    let dir = Dir::new("abort");
    let input = write_input(&dir.0, 20);
    let out = dir.0.join("out.jsonl");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let control = stop_after(Duration::from_millis(200), "signal: SIGTERM");
    let opts = BatchOptions {
        concurrency: 4,
        grace: None,
        ..BatchOptions::new(&input, &out)
    };
    let started = std::time::Instant::now();
    let first = run(&client, &opts, control).unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "in-flight calls were cancelled"
    );
    assert_eq!((first.succeeded, first.failed, first.remaining), (0, 0, 20));
    let fast = server(0);
    let client = Arc::new(Client::new(config(&fast, json!({}))).unwrap());
    // The settings name another server: a result-changing setting, so the resume is refused.
    let e = run(
        &client,
        &BatchOptions {
            resume: true,
            ..opts.clone()
        },
        Control::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("providers.p.base_url"), "{}", e.message);
}

#[test]
fn torn_tails_are_dropped_and_lines_the_journal_does_not_know_run_again() {
    let s = server(0);
    let dir = Dir::new("torn");
    let input = write_input(&dir.0, 50);
    let out = dir.0.join("out.jsonl");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let control = Control::new();
    control.stop("test"); // admit nothing: only the files are made
    let opts = BatchOptions::new(&input, &out);
    run(&client, &opts, control).unwrap();
    // Simulate a crash: 10 requests journaled, an 11th in the part file only, a torn part line
    // and a torn journal line after them.
    let full = run(
        &client,
        &BatchOptions {
            resume: true,
            ..opts.clone()
        },
        Control::new(),
    )
    .unwrap();
    assert!(full.complete);
    let finished = lines(&out);
    let journal = std::fs::read_to_string(dir.0.join("out.jsonl.journal")).unwrap();
    let jl: Vec<&str> = journal.split_inclusive('\n').collect();
    let kept: Vec<&Value> = finished.iter().take(11).collect();
    let mut part: String = kept.iter().map(|v| format!("{v}\n")).collect();
    part.push_str("{\"custom_id\":\"q40\",\"respo");
    std::fs::write(dir.0.join("out.jsonl.part"), part).unwrap();
    // The journal: manifest + the records of q0..q9 (in whatever order they finished), then torn.
    let mut j = jl[0].to_string();
    for line in &jl[1..] {
        let rec: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        let n: usize = rec["id"].as_str().unwrap()[1..].parse().unwrap();
        if n < 10 {
            j.push_str(line);
        }
    }
    j.push_str("0badc0de {\"id\":\"q10\",\"ok\":tr");
    std::fs::write(dir.0.join("out.jsonl.journal"), j).unwrap();
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(dir.0.join("out.errors.jsonl")).unwrap();
    let before = s.stats().requests;
    let resumed = run(
        &client,
        &BatchOptions {
            resume: true,
            ..opts
        },
        Control::new(),
    )
    .unwrap();
    assert!(resumed.complete);
    assert_eq!(resumed.skipped, 10);
    assert!(resumed.journal_bytes_dropped > 0);
    assert_eq!(
        s.stats().requests - before,
        40,
        "q10..q49 ran again, q0..q9 did not"
    );
    let again = lines(&out);
    assert_eq!(again.len(), 50);
    assert_eq!(
        again.into_iter().map(stable).collect::<Vec<_>>(),
        finished.into_iter().map(stable).collect::<Vec<_>>()
    );
}

#[test]
fn retry_failed_reruns_only_the_failures_of_a_finished_run() {
    let dir = Dir::new("retry");
    let (flaky, client, opts, first) = finished_with_failures(&dir, 60);
    let out = dir.0.join("out.jsonl");
    let sent = flaky.stats().requests;
    flaky.set_faults(json!({})).unwrap();
    let again = run(
        &client,
        &BatchOptions {
            resume: true,
            retry_failed: true,
            ..opts
        },
        Control::new(),
    )
    .unwrap();
    assert!(again.complete, "{again:?}");
    assert_eq!((again.succeeded, again.failed), (60, 0));
    assert_eq!(
        flaky.stats().requests - sent,
        first.failed as u64,
        "only the failures ran again"
    );
    let lines = lines(&out);
    assert_eq!(lines.len(), 60);
    assert!(lines.iter().all(|l| l["error"].is_null()));
    assert_eq!(
        std::fs::read_to_string(dir.0.join("out.errors.jsonl")).unwrap(),
        ""
    );
}

#[test]
fn a_budget_stops_admission_with_its_reason() {
    // Each call reserves its worst case (about $0.0098 for gpt-4o-mini's max output) and spends
    // $0.00000225: some dozens fit under $0.0099, then admission stops.
    let s = server(0);
    let dir = Dir::new("budget");
    let input = write_input(&dir.0, 100);
    let client =
        Arc::new(Client::new(config(&s, json!({"budget": {"daily_usd": 0.0099}}))).unwrap());
    let opts = BatchOptions {
        concurrency: 1,
        ..BatchOptions::new(&input, dir.0.join("out.jsonl"))
    };
    let summary = run(&client, &opts, Control::new()).unwrap();
    let why = summary.stopped.clone().unwrap();
    assert!(why.starts_with("budget_exceeded"), "{why}");
    assert!(
        summary.succeeded > 0 && summary.remaining > 0 && summary.failed == 0,
        "{summary:?}"
    );
    assert!(!summary.complete);
}

#[test]
fn results_are_the_same_through_a_narrow_queue_and_after_a_resume() {
    let s = server(0);
    let dir = Dir::new("parity");
    let input = write_input(&dir.0, 120);
    let plain = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let queued =
        Arc::new(Client::new(config(&s, json!({"queue": {"max_concurrency": 2}}))).unwrap());
    let a = dir.0.join("a.jsonl");
    let b = dir.0.join("b.jsonl");
    let c = dir.0.join("c.jsonl");
    run(
        &plain,
        &BatchOptions {
            concurrency: 32,
            ..BatchOptions::new(&input, &a)
        },
        Control::new(),
    )
    .unwrap();
    run(
        &queued,
        &BatchOptions {
            concurrency: 7,
            ..BatchOptions::new(&input, &b)
        },
        Control::new(),
    )
    .unwrap();
    let control = stop_after(Duration::from_millis(20), "test");
    let opts = BatchOptions {
        concurrency: 2,
        grace: Some(Duration::from_secs(5)),
        ..BatchOptions::new(&input, &c)
    };
    run(&plain, &opts, control).unwrap();
    run(
        &plain,
        &BatchOptions {
            resume: true,
            ..opts
        },
        Control::new(),
    )
    .unwrap();
    let (a, b, c) = (lines(&a), lines(&b), lines(&c));
    let norm = |v: Vec<Value>| v.into_iter().map(stable).collect::<Vec<_>>();
    assert_eq!(norm(a.clone()), norm(b));
    assert_eq!(norm(a), norm(c));
}

#[test]
fn bad_input_names_its_line_and_nothing_is_sent() {
    let s = server(0);
    let dir = Dir::new("bad");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let cases = [
        ("{\"custom_id\":\"a\",\"model\":\"p/x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n{\"custom_id\":\"a\",\"model\":\"p/x\",\"messages\":[{\"role\":\"user\",\"content\":\"y\"}]}\n", "line 2", "also on line 1"),
        ("{\"model\":\"p/x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n", "line 1", "missing custom_id"),
        ("{\"custom_id\":\"a\",\"model\":\"p/x\",\"messages\":[]}\n", "line 1", "messages"),
        ("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{}}\n", "line 1", "embeddings"),
        ("not json\n", "line 1", ""),
    ];
    for (i, (text, line, what)) in cases.iter().enumerate() {
        let input = dir.0.join(format!("bad{i}.jsonl"));
        std::fs::write(&input, text).unwrap();
        let e = run(
            &client,
            &BatchOptions::new(&input, dir.0.join(format!("o{i}.jsonl"))),
            Control::new(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(
            e.message.contains(line) && e.message.contains(what),
            "{}",
            e.message
        );
        assert!(!dir.0.join(format!("o{i}.jsonl.journal")).exists());
    }
    assert_eq!(s.stats().requests, 0);
}

/// The ids the journal next to `out` holds now.
fn journaled(out: &Path) -> HashSet<String> {
    batch::journal::read(&batch::journal::path_for(out))
        .unwrap()
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[test]
fn streamed_lines_are_every_journaled_line_once() {
    let s = server(10);
    let dir = Dir::new("stream");
    let input = write_input(&dir.0, 60);
    let out = dir.0.join("out.jsonl");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    // A reader that holds one line at a time and stops the run after 15: each line it gets is
    // journaled already, and every line that was journaled reaches it, the grace period's too.
    let read = |opts: BatchOptions, stop_after: Option<usize>| {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let control = Control::new();
        let opts = BatchOptions {
            results: Some(tx),
            ..opts
        };
        let (c, o, cl) = (control.clone(), out.clone(), client.clone());
        let running =
            rt::spawn(async move { batch::run(cl, &opts, c, Arc::new(Progress::default())).await });
        let lines = rt::block_on(async {
            let mut lines = Vec::new();
            while let Some(line) = rx.recv().await {
                let id = line["custom_id"].as_str().unwrap().to_string();
                assert!(
                    journaled(&o).contains(&id),
                    "{id} was sent before its journal line"
                );
                lines.push(line);
                if Some(lines.len()) == stop_after {
                    control.stop("test");
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            lines
        });
        let summary = rt::block_on(running).unwrap().unwrap();
        (lines, summary)
    };
    let opts = BatchOptions {
        concurrency: 4,
        grace: Some(Duration::from_secs(5)),
        ..BatchOptions::new(&input, &out)
    };
    let (first, summary) = read(opts.clone(), Some(15));
    assert_eq!(summary.stopped.as_deref(), Some("test"));
    assert!(first.len() >= 15 && first.len() == summary.succeeded && summary.remaining > 0);
    // Exactly the part file's lines, in its order, and what the journal holds.
    assert_eq!(first, lines(&dir.0.join("out.jsonl.part")));
    let ids = |ls: &[Value]| -> HashSet<String> {
        ls.iter()
            .map(|l| l["custom_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first).len(), first.len(), "each line once");
    assert_eq!(ids(&first), journaled(&out));
    let (rest, summary) = read(
        BatchOptions {
            resume: true,
            ..opts
        },
        None,
    );
    assert!(summary.complete);
    assert_eq!(first.len() + rest.len(), 60);
    assert!(
        ids(&first).is_disjoint(&ids(&rest)),
        "a resume streams only what is new"
    );
    let mut streamed: Vec<Value> = first.into_iter().chain(rest).collect();
    streamed.sort_by_key(|l| {
        l["custom_id"].as_str().unwrap()[1..]
            .parse::<usize>()
            .unwrap()
    });
    assert_eq!(
        streamed,
        lines(&out),
        "the output holds the streamed lines, in input order"
    );
    assert_eq!(s.stats().requests, 60);
}

#[test]
fn a_running_batch_streams_then_ends_and_a_cancel_stops_it() {
    let s = server(20);
    let dir = Dir::new("running");
    let input = write_input(&dir.0, 40);
    let out = dir.0.join("out.jsonl");
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let opts = BatchOptions {
        concurrency: 4,
        ..BatchOptions::new(&input, &out)
    };
    // Cancelled before it started: nothing is made.
    let never = batch::Running::new(client.clone(), opts.clone(), 8).unwrap();
    never.cancel("cancelled");
    assert!(rt::block_on(never.next()).is_none());
    let e = rt::block_on(never.finished()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert!(!dir.0.join("out.jsonl.journal").exists());
    // Cancelled after 5 lines: a first signal without grace; the files stay valid.
    let first = batch::Running::new(client.clone(), opts.clone(), 8).unwrap();
    let got = rt::block_on(async {
        let mut got = 0;
        while first.next().await.is_some() {
            got += 1;
            if got == 5 {
                first.cancel("cancelled");
                break;
            }
        }
        got
    });
    let summary = rt::block_on(first.finished()).unwrap();
    assert_eq!(got, 5);
    assert_eq!(summary.stopped.as_deref(), Some("cancelled"));
    assert!(
        summary.succeeded >= 5 && summary.remaining > 0,
        "{summary:?}"
    );
    assert_eq!(first.outcome().unwrap().unwrap(), summary);
    let sent_before = s.stats().requests as usize;
    // The resume reads the rest, each once, then ends with the summary.
    let rest = batch::Running::new(
        client,
        BatchOptions {
            resume: true,
            ..opts
        },
        1,
    )
    .unwrap();
    let lines_read = rt::block_on(async {
        let mut n = 0;
        loop {
            let batch = rest.next_batch(16).await;
            if batch.is_empty() {
                break n;
            }
            n += batch.len();
        }
    });
    let done = rest.outcome().unwrap().unwrap();
    assert!(done.complete && done.succeeded == 40);
    assert_eq!(lines_read, 40 - summary.succeeded);
    assert_eq!(
        s.stats().requests as usize - sent_before,
        40 - summary.succeeded,
        "the resume sends exactly the rest (in-flight requests cancelled are among them)"
    );
    // Bad options are refused before anything starts.
    let e = batch::BatchOptions::from_json(json!({"input": "a", "output": "b", "grace_s": -1}))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    let e = batch::BatchOptions::from_json(json!({"input": "a", "output": "b", "paralell": 3}))
        .unwrap_err();
    assert!(e.message.contains("paralell"), "{}", e.message);
}

/// tests/fixtures/batch/cases.json, which every language replays: the same results here.
#[test]
fn the_shared_fixture() {
    let dir_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/batch");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir_in.join("cases.json")).unwrap()).unwrap();
    let s = MockServer::start(MockConfig::from_json(cases["server"].clone()).unwrap()).unwrap();
    let cfg = cases["config"].to_string().replace("{url}", &s.url());
    let cfg =
        Config::from_value(serde_json::from_str(&cfg).unwrap(), EnvOverrides::Ignore).unwrap();
    let client = Arc::new(Client::new(cfg).unwrap());
    let dir = Dir::new("fixture");
    let out = dir.0.join("out.jsonl");
    let opts = BatchOptions {
        concurrency: cases["concurrency"].as_u64().unwrap() as usize,
        ..BatchOptions::new(dir_in.join(cases["input"].as_str().unwrap()), &out)
    };
    let summary = serde_json::to_value(run(&client, &opts, Control::new()).unwrap()).unwrap();
    for (k, want) in cases["summary"].as_object().unwrap() {
        assert_eq!(&summary[k], want, "summary.{k}");
    }
    let got = lines(&out);
    assert_eq!(got.len(), 20);
    for l in &got {
        let id = l["custom_id"].as_str().unwrap();
        match cases["answers"].get(id) {
            Some(answer) => assert_eq!(
                &l["response"]["body"]["choices"][0]["message"]["content"],
                answer
            ),
            None => assert_eq!(&l["error"]["code"], &cases["failed"][id], "{id}"),
        }
    }
    let status = serde_json::to_value(batch::status(&out).unwrap()).unwrap();
    for (k, want) in cases["summary"].as_object().unwrap() {
        assert_eq!(&status[k], want, "status.{k}");
    }
    for bad in cases["bad"].as_array().unwrap() {
        let e = run(
            &client,
            &BatchOptions::new(
                dir_in.join(bad["input"].as_str().unwrap()),
                dir.0.join("bad.jsonl"),
            ),
            Control::new(),
        )
        .unwrap_err();
        assert_eq!(e.code(), bad["code"]);
        assert_eq!(e.details.unwrap()["line"], bad["line"]);
        assert!(e
            .message
            .contains(bad["message_contains"].as_str().unwrap()));
    }
}

/// Issue 16: a 429 slows only the deployment that sent it. Provider `a` answers its first 6
/// requests with 429 and `retry-after-ms: 1500`; provider `b` is healthy. Every request to `b`
/// finishes (in finishing order) before any of `a`'s retried ones, on its first attempt: no
/// pause for the whole run, as the cookbook's processor takes on any 429.
#[test]
fn a_429_slows_only_its_own_deployment() {
    let healthy = server(5);
    let limited = MockServer::start(
        MockConfig::from_json(json!({"seed": 7, "default_response": "echo",
            "latency": {"dist": "fixed", "ms": 5},
            "faults": {"script": ["429", "429", "429", "429", "429", "429"], "retry_after_ms": 1500}}))
        .unwrap(),
    )
    .unwrap();
    let dir = Dir::new("429");
    let input = dir.0.join("in.jsonl");
    let mut text = String::new();
    for i in 0..60 {
        let p = if i % 2 == 0 { "a" } else { "b" };
        let line = json!({"custom_id": format!("{p}{i}"), "model": format!("{p}/gpt-4o-mini"),
            "messages": [{"role": "user", "content": format!("question {i}")}]});
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(&input, text).unwrap();
    let p = |s: &MockServer| json!({"kind": "openai", "base_url": format!("{}/v1", s.url()), "api_key": "k"});
    let config = Config::from_value(
        json!({"providers": {"a": p(&limited), "b": p(&healthy)}, "logging": {"level": "error"}}),
        EnvOverrides::Ignore,
    )
    .unwrap();
    let client = Arc::new(Client::new(config).unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let opts = BatchOptions {
        concurrency: 16,
        results: Some(tx),
        ..BatchOptions::new(&input, dir.0.join("out.jsonl"))
    };
    let running = rt::spawn(async move {
        batch::run(client, &opts, Control::new(), Arc::new(Progress::default())).await
    });
    let order: Vec<(String, u64)> = rt::block_on(async {
        let mut order = Vec::new();
        while let Some(line) = rx.recv().await {
            let id = line["custom_id"].as_str().unwrap().to_string();
            order.push((id, line["trinity"]["attempts"].as_u64().unwrap()));
        }
        order
    });
    let summary = rt::block_on(running).unwrap().unwrap();
    assert_eq!((summary.succeeded, summary.failed), (60, 0));
    let retried: Vec<usize> = (0..order.len()).filter(|&i| order[i].1 > 1).collect();
    assert_eq!(retried.len(), 6, "{order:?}");
    assert!(
        retried.iter().all(|&i| order[i].0.starts_with('a')),
        "{order:?}"
    );
    let last_b = order
        .iter()
        .rposition(|(id, _)| id.starts_with('b'))
        .unwrap();
    assert!(
        last_b < retried[0],
        "b's requests waited for a's 429s: {order:?}"
    );
    assert!(order
        .iter()
        .filter(|(id, _)| id.starts_with('b'))
        .all(|(_, attempts)| *attempts == 1));
}

#[test]
fn a_second_run_into_the_same_output_is_refused_while_the_first_goes() {
    let s = server(40);
    let dir = Dir::new("locked");
    let input = write_input(&dir.0, 60);
    let client = Arc::new(Client::new(config(&s, json!({}))).unwrap());
    let out = dir.0.join("out.jsonl");
    let opts = BatchOptions {
        concurrency: 2,
        ..BatchOptions::new(&input, &out)
    };
    let first = {
        let (client, opts) = (client.clone(), opts.clone());
        std::thread::spawn(move || run(&client, &opts, Control::new()))
    };
    let lock = dir.0.join("out.jsonl.lock");
    while !dir.0.join("out.jsonl.part").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let resume = BatchOptions {
        resume: true,
        ..opts.clone()
    };
    // Resuming (or starting) into an output a run is writing would send its requests twice.
    let e = run(&client, &resume, Control::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("another run"), "{}", e.message);
    let details = e.details.unwrap();
    assert_eq!(details["reason"], "locked");
    assert_eq!(details["pid"], std::process::id());
    let summary = first.join().unwrap().unwrap();
    assert!(summary.complete && summary.succeeded == 60);
    // Released and removed with the run: a resume now finds the finished run and sends nothing.
    assert!(!lock.exists());
    let again = run(&client, &resume, Control::new()).unwrap();
    assert!(again.complete && again.skipped == 60, "{again:?}");
    assert_eq!(s.stats().requests, 60);
    assert!(!lock.exists());
}

/// A finished run of `n` requests with failures, against a server that fails 30% of requests
/// with a 400.
fn finished_with_failures(
    dir: &Dir,
    n: usize,
) -> (MockServer, Arc<Client>, BatchOptions, batch::Summary) {
    let flaky = MockServer::start(
        MockConfig::from_json(
            json!({"seed": 5, "default_response": "echo", "faults": {"rates": {"400": 0.3}}}),
        )
        .unwrap(),
    )
    .unwrap();
    let input = write_input(&dir.0, n);
    let client = Arc::new(Client::new(config(&flaky, json!({}))).unwrap());
    let opts = BatchOptions::new(&input, dir.0.join("out.jsonl"));
    let first = run(&client, &opts, Control::new()).unwrap();
    assert!(first.complete && first.failed > 0, "{first:?}");
    (flaky, client, opts, first)
}

#[test]
fn a_retry_stopped_before_resending_counts_the_rest_as_remaining() {
    let dir = Dir::new("retry-stopped");
    let (flaky, client, opts, first) = finished_with_failures(&dir, 40);
    flaky.set_faults(json!({})).unwrap();
    let retry = BatchOptions {
        resume: true,
        retry_failed: true,
        ..opts.clone()
    };
    // Stopped before anything is admitted: the failures' lines left the part file, none came back.
    let stopped = Control::new();
    stopped.stop("signal");
    let s = run(&client, &retry, stopped).unwrap();
    assert_eq!(
        (s.succeeded, s.failed, s.remaining, s.complete),
        (40 - first.failed, 0, first.failed, false),
        "{s:?}"
    );
    let sent = flaky.stats().requests;
    let done = run(&client, &retry, Control::new()).unwrap();
    assert!(
        done.complete && (done.succeeded, done.failed) == (40, 0),
        "{done:?}"
    );
    assert_eq!(flaky.stats().requests - sent, first.failed as u64);
    assert_eq!(lines(&dir.0.join("out.jsonl")).len(), 40);
}

#[test]
fn a_part_line_the_journal_does_not_vouch_for_is_dropped_and_its_request_sent_again() {
    let dir = Dir::new("disagree");
    let (flaky, client, opts, first) = finished_with_failures(&dir, 40);
    let out = dir.0.join("out.jsonl");
    // As a --retry-failed run that wrote and synced a new answer for a failure, then died
    // before journaling it: the part file holds an answer the journal does not know.
    let mut all = lines(&out);
    let x = all.iter().position(|l| !l["error"].is_null()).unwrap();
    let retried = all.remove(x);
    let id = retried["custom_id"].as_str().unwrap().to_string();
    let mut forged = all.iter().find(|l| l["error"].is_null()).unwrap().clone();
    forged["custom_id"] = json!(id);
    forged["trinity"]["request_id"] = json!("req-never-journaled");
    all.push(forged);
    let text: String = all.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.0.join("out.jsonl.part"), text).unwrap();
    std::fs::remove_file(&out).unwrap();
    flaky.set_faults(json!({})).unwrap();
    let sent = flaky.stats().requests;
    let resumed = BatchOptions {
        resume: true,
        ..opts
    };
    let s = run(&client, &resumed, Control::new()).unwrap();
    assert_eq!(flaky.stats().requests - sent, 1, "only {id} runs again");
    assert!(s.complete && s.failed == first.failed - 1, "{s:?}");
    let line = lines(&out)
        .into_iter()
        .find(|l| l["custom_id"] == id.as_str())
        .unwrap();
    assert!(line["error"].is_null());
    assert_ne!(line["trinity"]["request_id"], "req-never-journaled");
    // The run's summary and the journal's agree.
    let status = batch::status(&out).unwrap();
    assert_eq!((status.succeeded, status.failed), (s.succeeded, s.failed));
    assert_eq!(status.cost_usd, s.cost_usd);
}
