//! Run guards for agent loops (seed 003): a step limit, a wall-time limit that cancels a hung
//! call, loop detection without an LLM, a crash-safe JSON Lines event log, and a performance
//! report.
//!
//! ```no_run
//! # async fn demo() -> trinity_core::Result<()> {
//! use trinity_core::guard::{Action, GuardConfig, RunGuard};
//! use std::time::Duration;
//! let guard = RunGuard::new(GuardConfig {
//!     max_steps: Some(50),
//!     max_time: Some(Duration::from_secs(120)),
//!     ..GuardConfig::default()
//! })?;
//! loop {
//!     // Refused with `guard_stopped` once a limit is reached or a loop was seen; the call is
//!     // cancelled (dropped) if it is still running at the deadline.
//!     let found: Vec<String> = guard
//!         .run_step(Action::new("search", serde_json::json!({"q": "rust"})), async {
//!             Ok(vec!["..".to_string()])
//!         })
//!         .await?;
//! #   let _ = found; break;
//! }
//! println!("{:?}", guard.performance_report());
//! # Ok(()) }
//! ```
//!
//! Every stop is one error kind, `guard_stopped` (304), with `details.reason` = `max_steps`,
//! `max_time` or `loop_detected` (why a kind of its own: the comment on
//! [`ErrorKind::GuardStopped`](crate::ErrorKind::GuardStopped)). A stop is sticky: every later
//! step or check answers the same error.
//!
//! Time is `tokio::time::Instant` (the paused test clock inside a paused runtime); the clock
//! starts when the guard is created.

pub mod config;
pub mod events;
pub mod limits;
pub mod loops;
pub mod normalize;
pub mod report;
pub mod step;

pub use config::{GuardConfig, LoopConfig, DEFAULT_COSMETIC_KEYS, DEFAULT_MEANINGFUL_KEYS};
pub use events::{parse_event_log, read_event_log, EventLogContents, EventLogStatus};
pub use limits::StopReason;
pub use loops::{LoopDetection, LoopRule};
pub use report::{MetricSummary, PerformanceReport, StopInfo};
pub use step::{Action, LlmCall, StepError, StepOutcome, StepReport};

use crate::error::{Error, Result};
use crate::llm::{ChatRequest, ChatResponse, Client};
use crate::observe::now_ms;
use events::{EventLog, Record};
use loops::LoopDetector;
use normalize::Fingerprint;
use report::Metrics;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Bounds one agent run. `Send + Sync`: steps may be reported from several tasks.
#[derive(Debug)]
pub struct RunGuard {
    config: GuardConfig,
    run_id: String,
    started: Instant,
    deadline: Option<Instant>,
    log: Option<EventLog>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Steps begun (the number of the latest).
    begun: u64,
    stopped: Option<Error>,
    detector: LoopDetector,
    metrics: Metrics,
    /// Steps begun with [`RunGuard::begin`] and not finished yet, by number: the bindings hold
    /// a step's number, not a [`Step`].
    open: HashMap<u64, Step>,
}

/// A step in progress, from [`RunGuard::begin_step`] to [`RunGuard::finish_step`].
#[derive(Clone, Debug)]
pub struct Step {
    number: u64,
    action: Action,
    started: Instant,
    started_ms: i64,
}

impl Step {
    /// 1 for the run's first step.
    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn action(&self) -> &Action {
        &self.action
    }
}

impl RunGuard {
    /// Validates the settings, opens the event log (if any) and starts the clock.
    pub fn new(config: GuardConfig) -> Result<RunGuard> {
        config.validate()?;
        let log = match &config.event_log {
            Some(path) => Some(EventLog::open(path)?),
            None => None,
        };
        let started = Instant::now();
        let guard = RunGuard {
            run_id: format!("run_{:016x}", rand::random::<u64>()),
            started,
            deadline: config.max_time.map(|t| started + t),
            log,
            state: Mutex::new(State {
                begun: 0,
                stopped: None,
                detector: LoopDetector::new(&config.loops),
                metrics: Metrics::new(),
                open: HashMap::new(),
            }),
            config,
        };
        if let Some(log) = &guard.log {
            let l = &guard.config.loops;
            let record = Record::new("run_start", "info", &guard.run_id, now_ms())
                .set("gen_ai.operation.name", "invoke_agent")
                .set("max_steps", json!(guard.config.max_steps))
                .set(
                    "max_time_s",
                    json!(guard.config.max_time.map(|t| t.as_secs_f64())),
                )
                .set(
                    "loops",
                    json!({
                        "enabled": l.enabled,
                        "same_action": l.same_action,
                        "near_duplicate": l.near_duplicate,
                        "alternation_cycles": l.alternation_cycles,
                        "same_error": l.same_error,
                    }),
                );
            log.append(&record.into_value());
        }
        Ok(guard)
    }

    /// [`RunGuard::new`] from JSON settings (what the bindings pass), naming a bad or unknown key.
    pub fn from_json(config: Value) -> Result<RunGuard> {
        RunGuard::new(GuardConfig::from_json(config)?)
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// `run_…`, random per guard; on every event-log line and in every `guard_stopped` error.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    /// When `max_time` runs out.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left before the deadline (zero once past it).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Steps begun so far.
    pub fn steps(&self) -> u64 {
        self.lock().begun
    }

    /// The error the run was stopped with, if it was.
    pub fn stopped(&self) -> Option<Error> {
        self.lock().stopped.clone()
    }

    /// `Ok` while the run may go on: not stopped and within its time.
    pub fn check(&self) -> Result<()> {
        let mut s = self.lock();
        self.check_locked(&mut s)
    }

    /// Starts a step: refused (`guard_stopped`) when the run was stopped, its time is up, or it
    /// would go past `max_steps`.
    pub fn begin_step(&self, action: Action) -> Result<Step> {
        let mut s = self.lock();
        self.check_locked(&mut s)?;
        if let Some(limit) = self.config.max_steps {
            if s.begun >= limit {
                let e = limits::max_steps(&self.run_id, limit, s.begun + 1);
                return Err(self.stop(&mut s, e));
            }
        }
        s.begun += 1;
        Ok(Step {
            number: s.begun,
            action,
            started: Instant::now(),
            started_ms: now_ms(),
        })
    }

    /// Ends a step with how it went: recorded, logged and checked for loops. `Err`
    /// (`guard_stopped`) when this step completes a loop, the time ran out meanwhile, or the
    /// run was stopped by another step.
    pub fn finish_step(&self, step: Step, outcome: StepOutcome) -> Result<()> {
        let duration = Instant::now().saturating_duration_since(step.started);
        self.complete(step, outcome, duration)
    }

    /// A step that ran outside the guard, reported after the fact (`begin_step` and
    /// `finish_step` at once, with the duration it took if known). Returns its number.
    pub fn record_step(
        &self,
        action: Action,
        outcome: StepOutcome,
        duration: Option<Duration>,
    ) -> Result<u64> {
        let step = self.begin_step(action)?;
        let n = step.number;
        let duration = duration.unwrap_or_else(|| step.started.elapsed());
        self.complete(step, outcome, duration)?;
        Ok(n)
    }

    /// [`RunGuard::begin_step`] for a caller that keeps the step's number (the bindings): the
    /// step stays open in the guard until [`RunGuard::finish`] or [`RunGuard::deadline_reached`].
    pub fn begin(&self, action: Action) -> Result<u64> {
        let step = self.begin_step(action)?;
        let n = step.number;
        self.lock().open.insert(n, step);
        Ok(n)
    }

    /// [`RunGuard::finish_step`] by number; `invalid_input` for a step that is not open.
    pub fn finish(&self, number: u64, outcome: StepOutcome) -> Result<()> {
        let step = self.take_open(number)?;
        self.finish_step(step, outcome)
    }

    /// The caller's own timer fired at the deadline while step `number` ran, and it cancelled
    /// the call (an asyncio task, an `AbortSignal`, a Go context): the step is recorded as
    /// cancelled and the run stopped with `max_time`. Returns the stop error to raise.
    pub fn deadline_reached(&self, number: u64) -> Error {
        match self.take_open(number) {
            Ok(step) => self.cancel(step),
            Err(_) => {
                let mut s = self.lock();
                let e = limits::max_time(
                    &self.run_id,
                    self.config.max_time.unwrap_or_default(),
                    self.elapsed(),
                    None,
                );
                self.stop(&mut s, e)
            }
        }
    }

    /// A step reported after the fact from its JSON form (what the bindings and the shared
    /// fixtures pass): `{"action": {"name", "arguments"}, "outcome": {"ok": v} | {"error":
    /// {"code", "message"}}, "duration_ms"?}`. Returns its number.
    pub fn record_step_json(&self, step: Value) -> Result<u64> {
        let r: StepReport = step::parse("step", step)?;
        self.record_step(r.action, r.outcome, r.duration)
    }

    /// One chat request through `client` as an LLM call of this run: refused once the run is
    /// stopped, cancelled at the deadline, recorded with its tokens and cost.
    pub async fn chat(&self, client: &Client, req: ChatRequest) -> Result<ChatResponse> {
        let model = req.model.clone();
        self.run_llm_call(&model, client.chat(req)).await
    }

    fn take_open(&self, number: u64) -> Result<Step> {
        self.lock().open.remove(&number).ok_or_else(|| {
            Error::invalid_input(format!(
                "step {number} is not in progress (never begun, or already finished)"
            ))
            .with_details(json!({ "step": number }))
        })
    }

    /// Runs one step: begins it, awaits `call` until the deadline — dropping (cancelling) it if
    /// it is still running then — and finishes it with its result (an `Ok` value by its JSON
    /// form, an error by code and message). The run then ends within `max_time` plus the
    /// timer's resolution, however long `call` would have hung.
    pub async fn run_step<T, F>(&self, action: Action, call: F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
        T: Serialize,
    {
        let step = self.begin_step(action)?;
        // Dropped before the end (the caller was cancelled): the step is recorded as failed.
        let pending = Pending::new(self, Unfinished::Step(step.clone()));
        let result = match self.deadline {
            None => call.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, call).await {
                Ok(r) => r,
                // `call` is dropped by now: whatever it was waiting on is cancelled.
                Err(_) => {
                    pending.defuse();
                    return Err(self.cancel(step));
                }
            },
        };
        pending.defuse();
        let outcome = match &result {
            Ok(v) => StepOutcome::Ok(serde_json::to_value(v).unwrap_or(Value::Null)),
            Err(e) => StepOutcome::from(e),
        };
        let duration = Instant::now().saturating_duration_since(step.started);
        self.complete(step, outcome, duration)?;
        result
    }

    /// Runs one LLM call under the deadline (cancelled if still running then) and records it:
    /// duration, tokens, cost, outcome. It is not a step; the log attributes it to the step in
    /// progress (or the last one begun).
    pub async fn run_llm_call<F>(&self, model: &str, call: F) -> Result<ChatResponse>
    where
        F: Future<Output = Result<ChatResponse>>,
    {
        self.check()?;
        let started = Instant::now();
        let started_ms = now_ms();
        let pending = Pending::new(
            self,
            Unfinished::LlmCall {
                model: model.to_string(),
                started,
                started_ms,
            },
        );
        let result = match self.deadline {
            None => call.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, call).await {
                Ok(r) => r,
                Err(_) => {
                    pending.defuse();
                    let duration = started.elapsed();
                    let mut s = self.lock();
                    let e = limits::max_time(
                        &self.run_id,
                        self.config.max_time.unwrap_or_default(),
                        self.elapsed(),
                        Some((None, &format!("llm call to {model}"))),
                    );
                    let call = LlmCall::from_error(model, &e, duration);
                    self.log_llm_call(&mut s, &call, started_ms, "cancelled");
                    return Err(self.stop(&mut s, e));
                }
            },
        };
        pending.defuse();
        let duration = started.elapsed();
        let call = match &result {
            Ok(r) => LlmCall::from_response(model, r, duration),
            Err(e) => LlmCall::from_error(model, e, duration),
        };
        self.record_llm_call_at(call, started_ms)?;
        result
    }

    /// An LLM call made outside the guard, reported after the fact. `Err` only when the run
    /// is stopped or out of time (the call is recorded either way).
    pub fn record_llm_call(&self, call: LlmCall) -> Result<()> {
        let started_ms = now_ms() - call.duration.as_millis() as i64;
        self.record_llm_call_at(call, started_ms)
    }

    /// The figures so far: count, average, min, max, p50, p95, p99 per metric.
    pub fn performance_report(&self) -> PerformanceReport {
        let s = self.lock();
        let m = &s.metrics;
        let stopped = s.stopped.as_ref().and_then(|e| {
            Some(StopInfo {
                reason: StopReason::of(e)?,
                message: e.message.clone(),
                details: e.details.clone().unwrap_or(Value::Null),
            })
        });
        PerformanceReport {
            run_id: self.run_id.clone(),
            elapsed_ms: self.elapsed().as_secs_f64() * 1000.0,
            steps: m.steps,
            failed_steps: m.failed_steps,
            llm_calls: m.llm_calls,
            failed_llm_calls: m.failed_llm_calls,
            unpriced_llm_calls: m.unpriced_llm_calls,
            stopped,
            step_duration_ms: m.step_us.summary(1000.0),
            llm_call_duration_ms: m.llm_us.summary(1000.0),
            input_tokens: m.input_tokens.summary(1.0),
            output_tokens: m.output_tokens.summary(1.0),
            tokens: m.tokens.summary(1.0),
            cost_usd: m.cost_nano_usd.summary(1e9),
            event_log: self.log.as_ref().map(|l| l.status()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check_locked(&self, s: &mut State) -> Result<()> {
        if let Some(e) = &s.stopped {
            return Err(e.clone());
        }
        if let (Some(deadline), Some(limit)) = (self.deadline, self.config.max_time) {
            if Instant::now() >= deadline {
                let e = limits::max_time(&self.run_id, limit, self.elapsed(), None);
                return Err(self.stop(s, e));
            }
        }
        Ok(())
    }

    /// Stops the run with `e` (the first stop wins and is what every later call answers).
    fn stop(&self, s: &mut State, e: Error) -> Error {
        if let Some(first) = &s.stopped {
            return first.clone();
        }
        if let Some(log) = &self.log {
            let record = Record::new("run_stop", "error", &self.run_id, now_ms())
                .set("step", s.begun)
                .set("error.type", e.code())
                .set("reason", json!(StopReason::of(&e).map(|r| r.as_str())))
                .set("message", e.message.clone())
                .set("details", e.details.clone().unwrap_or(Value::Null));
            log.append(&record.into_value());
        }
        s.stopped = Some(e.clone());
        e
    }

    /// The step running at the deadline: recorded as cancelled, and the run stopped.
    fn cancel(&self, step: Step) -> Error {
        let duration = Instant::now().saturating_duration_since(step.started);
        let e = limits::max_time(
            &self.run_id,
            self.config.max_time.unwrap_or_default(),
            self.elapsed(),
            Some((Some(step.number), &step.action.name)),
        );
        let outcome = StepOutcome::from(&e);
        let mut s = self.lock();
        let sig = s.detector.signature(step.number, &step.action, &outcome);
        self.record_and_log(&mut s, &step, &outcome, duration, true, sig.normalized);
        self.stop(&mut s, e)
    }

    fn complete(&self, step: Step, outcome: StepOutcome, duration: Duration) -> Result<()> {
        let mut s = self.lock();
        let sig = s.detector.signature(step.number, &step.action, &outcome);
        self.record_and_log(&mut s, &step, &outcome, duration, false, sig.normalized);
        if let Some(e) = &s.stopped {
            return Err(e.clone());
        }
        if let Some(found) = s.detector.observe(sig) {
            let e = limits::loop_detected(&self.run_id, &found);
            return Err(self.stop(&mut s, e));
        }
        self.check_locked(&mut s)
    }

    fn record_and_log(
        &self,
        s: &mut State,
        step: &Step,
        outcome: &StepOutcome,
        duration: Duration,
        cancelled: bool,
        fingerprint: Fingerprint,
    ) {
        let m = &mut s.metrics;
        m.steps += 1;
        if !outcome.is_ok() {
            m.failed_steps += 1;
        }
        m.step_us.record(duration.as_micros() as u64);
        let Some(log) = &self.log else {
            return;
        };
        let (kind, level) = match (cancelled, outcome) {
            (true, _) => ("cancelled", "error"),
            (false, StepOutcome::Ok(_)) => ("ok", "info"),
            (false, StepOutcome::Error(_)) => ("error", "warn"),
        };
        let mut record = Record::new("step", level, &self.run_id, step.started_ms)
            .end(
                step.started_ms + duration.as_millis() as i64,
                duration.as_secs_f64() * 1000.0,
            )
            .set("step", step.number)
            .set("gen_ai.operation.name", "execute_tool")
            .set("gen_ai.tool.name", step.action.name.clone())
            .set("trinity.action.fingerprint", fingerprint.short_hex())
            .set("outcome", kind);
        if self.config.log_arguments {
            record = record.set(
                "gen_ai.tool.call.arguments",
                events::scrubbed(&step.action.arguments),
            );
        }
        if let StepOutcome::Error(e) = outcome {
            let mut message = e.message.clone();
            crate::observe::scrub::scrub_in_place(&mut message);
            record = record
                .set("error.type", e.code.clone())
                .set("error.message", message);
        }
        log.append(&record.into_value());
    }

    fn record_llm_call_at(&self, call: LlmCall, started_ms: i64) -> Result<()> {
        let mut s = self.lock();
        let outcome = if call.error.is_some() { "error" } else { "ok" };
        self.log_llm_call(&mut s, &call, started_ms, outcome);
        self.check_locked(&mut s)
    }

    fn log_llm_call(&self, s: &mut State, call: &LlmCall, started_ms: i64, outcome: &str) {
        let m = &mut s.metrics;
        m.llm_calls += 1;
        m.llm_us.record(call.duration.as_micros() as u64);
        if let Some(t) = call.input_tokens {
            m.input_tokens.record(t);
        }
        if let Some(t) = call.output_tokens {
            m.output_tokens.record(t);
        }
        if call.input_tokens.is_some() || call.output_tokens.is_some() {
            m.tokens
                .record(call.input_tokens.unwrap_or(0) + call.output_tokens.unwrap_or(0));
        }
        match (call.error.is_some(), call.cost_nano_usd) {
            (true, _) => m.failed_llm_calls += 1,
            (false, Some(nano)) => m.cost_nano_usd.record(nano),
            (false, None) => m.unpriced_llm_calls += 1,
        }
        let Some(log) = &self.log else {
            return;
        };
        let level = if outcome == "ok" { "info" } else { "warn" };
        let ms = call.duration.as_secs_f64() * 1000.0;
        let mut record = Record::new("llm_call", level, &self.run_id, started_ms)
            .end(started_ms + call.duration.as_millis() as i64, ms)
            .set("step", (s.begun > 0).then_some(s.begun))
            .set("gen_ai.operation.name", "chat")
            .set("gen_ai.request.model", call.model.clone())
            .set_opt("gen_ai.response.model", call.response_model.clone())
            .set_opt("gen_ai.provider.name", call.provider.clone())
            .set_opt("gen_ai.usage.input_tokens", call.input_tokens)
            .set_opt("gen_ai.usage.output_tokens", call.output_tokens)
            .set(
                "trinity.cost_usd",
                json!(call.cost_nano_usd.map(|n| n as f64 / 1e9)),
            )
            .set_opt("trinity.cost_nano_usd", call.cost_nano_usd)
            .set("outcome", outcome);
        if let Some(e) = &call.error {
            let mut message = e.message.clone();
            crate::observe::scrub::scrub_in_place(&mut message);
            record = record
                .set("error.type", e.code.clone())
                .set("error.message", message);
        }
        log.append(&record.into_value());
    }
}

/// A step or LLM call awaited through the guard and not over yet.
enum Unfinished {
    Step(Step),
    LlmCall {
        model: String,
        started: Instant,
        started_ms: i64,
    },
}

/// Records its call as failed with `cancelled` if dropped before [`Pending::defuse`]: the
/// caller's task was cancelled (an asyncio task, an `AbortSignal`, a dropped future) while the
/// call ran. The run goes on; only the guard's own deadline stops it.
struct Pending<'a> {
    guard: &'a RunGuard,
    call: Option<Unfinished>,
}

impl<'a> Pending<'a> {
    fn new(guard: &'a RunGuard, call: Unfinished) -> Pending<'a> {
        Pending {
            guard,
            call: Some(call),
        }
    }

    fn defuse(mut self) {
        self.call = None;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let e = Error::new(
            crate::ErrorKind::Cancelled,
            "the caller stopped waiting for it",
        );
        let g = self.guard;
        match call {
            Unfinished::Step(step) => {
                let duration = Instant::now().saturating_duration_since(step.started);
                // A stop this completes is kept for the next step to see.
                let _ = g.complete(step, StepOutcome::from(&e), duration);
            }
            Unfinished::LlmCall {
                model,
                started,
                started_ms,
            } => {
                let call = LlmCall::from_error(&model, &e, started.elapsed());
                let mut s = g.lock();
                g.log_llm_call(&mut s, &call, started_ms, "cancelled");
            }
        }
    }
}

#[cfg(test)]
mod tests;
