//! Run guards (`trinity_core::guard`): `NativeRunGuard` over the core's `RunGuard`. Settings,
//! steps and LLM calls arrive in the core's JSON shapes (snake_case; the TypeScript wrapper in
//! node/src/guard.ts converts its camelCase); the report goes back camelCased, the event log's
//! records as the file holds them. Steps the wrapper runs itself (`runStep`) are held here by
//! number: `begin`, then `finish` or, when its own timer fired at the deadline,
//! `deadlineReached`.

use crate::client::NativeClient;
use crate::error::guard;
use crate::llm::ChatResponse;
use crate::observe::to_camel;
use crate::task::{spawn_promise, unless_cancelled, AbortToken};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{json, Value};
use std::sync::Arc;
use trinity_core::guard::{self as core_guard, Action, LlmCall, RunGuard, StepOutcome};
use trinity_core::llm::ChatRequest;
use trinity_core::Error as CoreError;

/// A step number from JS (a whole number >= 1).
fn step_number(n: f64) -> trinity_core::Result<u64> {
    if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n < 9.007_199_254_740_992e15 {
        Ok(n as u64)
    } else {
        Err(
            CoreError::invalid_input(format!("step: expected a step number, got {n}"))
                .with_details(json!({ "step": n })),
        )
    }
}

/// A core error as a plain object (`{code, message, details}`): what the wrapper makes its
/// `TrinityError` from when the error is a value to hand back rather than a throw.
fn error_value(e: &CoreError) -> Value {
    json!({ "code": e.code(), "message": e.message, "details": e.details })
}

/// The event log's contents: its valid records (as written, OpenTelemetry names and all) and
/// the lines dropped.
#[napi(object)]
pub struct EventLogContents {
    pub records: Vec<Value>,
    /// 1-based numbers of the lines dropped: torn (no newline) or not a JSON object.
    pub dropped_lines: Vec<f64>,
    /// The file ended in a torn line (a crash mid-write).
    pub torn_tail: bool,
}

/// Reads a run's JSON Lines event log, keeping every complete line that is a JSON object.
#[napi]
pub fn read_event_log(env: Env, path: String) -> Result<EventLogContents> {
    guard(&env, || {
        let c = core_guard::read_event_log(&path)?;
        Ok(EventLogContents {
            records: c.records,
            dropped_lines: c.dropped_lines.into_iter().map(|n| n as f64).collect(),
            torn_tail: c.torn_tail,
        })
    })
}

#[napi]
pub struct NativeRunGuard {
    inner: Arc<RunGuard>,
}

#[napi]
impl NativeRunGuard {
    /// `config` in the core's JSON shape (`null`: defaults); a bad or unknown key is
    /// `invalid_input` with `details.path`. Opens the event log and starts the clock.
    #[napi(constructor, ts_args_type = "config?: Record<string, unknown> | null")]
    pub fn new(env: Env, config: Option<Value>) -> Result<Self> {
        guard(&env, || {
            Ok(NativeRunGuard {
                inner: Arc::new(RunGuard::from_json(config.unwrap_or(Value::Null))?),
            })
        })
    }

    #[napi(getter)]
    pub fn run_id(&self) -> String {
        self.inner.run_id().to_string()
    }

    /// Steps begun so far.
    #[napi(getter)]
    pub fn steps(&self) -> f64 {
        self.inner.steps() as f64
    }

    #[napi(getter)]
    pub fn elapsed_ms(&self) -> f64 {
        self.inner.elapsed().as_secs_f64() * 1e3
    }

    /// Time left before `max_time_s` runs out (0 once past it); null without a time limit.
    #[napi(getter)]
    pub fn remaining_ms(&self) -> Option<f64> {
        self.inner.remaining().map(|d| d.as_secs_f64() * 1e3)
    }

    /// The stop (`{code, message, details}`), or null while the run may go on.
    #[napi(
        ts_return_type = "{ code: string; message: string; details: Record<string, unknown> | null } | null"
    )]
    pub fn stopped(&self) -> Option<Value> {
        self.inner.stopped().as_ref().map(error_value)
    }

    /// Throws `guard_stopped` once the run is stopped or out of time.
    #[napi]
    pub fn check(&self, env: Env) -> Result<()> {
        guard(&env, || self.inner.check())
    }

    /// Begins step `name(arguments)`; returns its number. Throws `guard_stopped` when refused.
    #[napi(ts_args_type = "name: string, args?: unknown")]
    pub fn begin(&self, env: Env, name: String, args: Option<Value>) -> Result<f64> {
        guard(&env, || {
            let n = self
                .inner
                .begin(Action::new(name, args.unwrap_or(Value::Null)))?;
            Ok(n as f64)
        })
    }

    /// Finishes step `number` with `outcome` (`{ok: value}` or `{error: {code, message}}`);
    /// `invalid_input` for a step not in progress, `guard_stopped` when it completes a loop or
    /// the time ran out.
    #[napi(ts_args_type = "number: number, outcome: Record<string, unknown>")]
    pub fn finish(&self, env: Env, number: f64, outcome: Value) -> Result<()> {
        guard(&env, || {
            let n = step_number(number)?;
            let outcome = StepOutcome::from_json(outcome)?;
            self.inner.finish(n, outcome)
        })
    }

    /// The wrapper's timer fired at the deadline while step `number` ran and it aborted the
    /// call: records the step cancelled, stops the run with `max_time`; returns that stop.
    #[napi(
        ts_return_type = "{ code: string; message: string; details: Record<string, unknown> | null }"
    )]
    pub fn deadline_reached(&self, env: Env, number: f64) -> Result<Value> {
        let n = guard(&env, || step_number(number))?;
        Ok(error_value(&self.inner.deadline_reached(n)))
    }

    /// A step that ran outside the guard: `{action: {name, arguments}, outcome, duration_ms?}`.
    /// Returns its number.
    #[napi(ts_args_type = "step: Record<string, unknown>")]
    pub fn record_step(&self, env: Env, step: Value) -> Result<f64> {
        guard(&env, || Ok(self.inner.record_step_json(step)? as f64))
    }

    /// An LLM call made outside the guard, in the core's `LlmCall` shape.
    #[napi(ts_args_type = "call: Record<string, unknown>")]
    pub fn record_llm_call(&self, env: Env, call: Value) -> Result<()> {
        guard(&env, || {
            self.inner.record_llm_call(LlmCall::from_json(call)?)
        })
    }

    /// One chat request through `client` as an LLM call of this run: refused once the run is
    /// stopped, cancelled in the core at the deadline (`guard_stopped`, `max_time`), recorded
    /// with its tokens and cost. Aborting `abort` cancels it too (recorded as a failed call).
    #[napi(
        ts_args_type = "client: NativeClient, request: Record<string, unknown>, abort?: AbortToken | undefined | null"
    )]
    pub fn chat<'env>(
        &self,
        env: &'env Env,
        client: &NativeClient,
        request: Value,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, ChatResponse>> {
        let req = guard(env, || ChatRequest::from_json(request))?;
        let run = self.inner.clone();
        let client = client.core().clone();
        let token = abort.map(|a| a.token.clone());
        spawn_promise(
            env,
            async move {
                let model = req.model.clone();
                // `RunGuard::chat` with the caller's abort inside the guarded call, so an
                // aborted call is recorded like any failed one.
                run.run_llm_call(&model, unless_cancelled(client.chat(req), token))
                    .await
            },
            ChatResponse::from,
        )
    }

    /// The core's `PerformanceReport`, camelCased; `stopped.details` stays as the
    /// `guard_stopped` error's details (snake_case).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn performance_report(&self) -> Value {
        let r = self.inner.performance_report();
        let details = r.stopped.as_ref().map(|s| s.details.clone());
        let mut v = to_camel(&r);
        if let (Some(details), Some(stopped)) =
            (details, v.get_mut("stopped").and_then(Value::as_object_mut))
        {
            stopped.insert("details".into(), details);
        }
        v
    }
}
