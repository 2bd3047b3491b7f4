//! `NativeClient`: the core's LLM client. Requests arrive as JS objects in the core's schema
//! (OpenAI's snake_case names) and are validated before anything is sent; `chat` returns a
//! promise settled from the core runtime, `chatStream` a `NativeChatStream`.

use crate::error::guard;
use crate::llm::ChatResponse;
use crate::stream::NativeChatStream;
use crate::task::{spawn_promise, unless_cancelled, AbortToken};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;

/// A JS function of one budget alert object, weak (it does not keep Node running).
type BudgetListener = ThreadsafeFunction<Value, (), Value, Status, false, true>;
/// A JS function of a batch of log records, weak too.
type LogListener = ThreadsafeFunction<Value, (), Value, Status, false, true>;
use std::sync::Arc;
use trinity_core::config::{Config, EnvOverrides};
use trinity_core::llm::{ChatRequest, Client};

/// A config object (the shared schema), YAML/JSON text, or nothing: `TRINITY_CONFIG` and the
/// environment, as `Config::from_env` reads them.
fn config_from(value: Option<Value>) -> trinity_core::Result<Config> {
    match value {
        None | Some(Value::Null) => Config::from_env(),
        Some(Value::String(text)) => Config::parse(&text, EnvOverrides::Apply),
        Some(v) => Config::from_value(v, EnvOverrides::Apply),
    }
}

#[napi]
pub struct NativeClient {
    inner: Arc<Client>,
}

impl NativeClient {
    /// The core client, for the modules that run on it (batch runs).
    pub(crate) fn core(&self) -> &Arc<Client> {
        &self.inner
    }
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(env: Env, config: Option<Value>) -> Result<Self> {
        guard(&env, || {
            Ok(NativeClient {
                inner: Arc::new(Client::new(config_from(config)?)?),
            })
        })
    }

    /// The client's response cache (`cache.enabled` with a tier configured), else null.
    #[napi]
    pub fn cache(&self) -> Option<crate::cache::NativeCache> {
        self.inner
            .cache()
            .cloned()
            .map(|inner| crate::cache::NativeCache { inner })
    }

    /// The client's own cost tracker: every answered call through it, priced.
    #[napi]
    pub fn costs(&self) -> crate::observe::NativeCostTracker {
        crate::observe::NativeCostTracker::shared(self.inner.costs().clone())
    }

    /// The performance report of the last `hours`: `html` (one self-contained page, a string)
    /// or `pdf` (A4, its text extractable, a Buffer).
    #[napi(ts_return_type = "string | Buffer")]
    pub fn performance_report(
        &self,
        env: Env,
        format: String,
        hours: f64,
    ) -> Result<Either<String, Buffer>> {
        let bytes = guard(&env, || self.inner.performance_report(&format, hours))?;
        if format == "pdf" {
            return Ok(Either::B(bytes.into()));
        }
        String::from_utf8(bytes)
            .map(Either::A)
            .map_err(|e| Error::from_reason(e.to_string()))
    }

    /// The client's provider monitor.
    #[napi]
    pub fn monitor(&self) -> crate::monitor::NativeProviderMonitor {
        crate::monitor::NativeProviderMonitor {
            inner: self.inner.monitor().clone(),
        }
    }

    /// The client's metrics as OpenMetrics text; `config` when `metrics.enabled` is false.
    #[napi]
    pub fn metrics_text(&self, env: Env) -> Result<String> {
        guard(&env, || self.inner.metrics_text())
    }

    /// The client's own request log: one record per call.
    #[napi]
    pub fn request_log(&self) -> crate::observe::NativeRequestLog {
        crate::observe::NativeRequestLog::shared(self.inner.request_log().clone())
    }

    /// Throws `invalid_input` for a bad request; the promise rejects with what the call met.
    /// Aborting `abort` drops the call, which closes its HTTP request.
    #[napi]
    pub fn chat<'env>(
        &self,
        env: &'env Env,
        request: Value,
        abort: Option<&AbortToken>,
    ) -> Result<PromiseRaw<'env, ChatResponse>> {
        let req = guard(env, || ChatRequest::from_json(request))?;
        let client = self.inner.clone();
        let token = abort.map(|a| a.token.clone());
        spawn_promise(
            env,
            async move { unless_cancelled(client.chat(req), token).await },
            ChatResponse::from,
        )
    }

    /// `listener(alert)` each time spend passes one of `budget.alerts` of a limit, once per
    /// window (`{limit, fraction, spent_usd, limit_usd, window, user?}`); `config` when no
    /// budget is configured. The listener does not keep the process alive.
    #[napi(ts_args_type = "listener: (alert: Record<string, unknown>) => void")]
    pub fn on_budget_alert(&self, env: Env, listener: BudgetListener) -> Result<()> {
        guard(&env, || {
            self.inner.on_budget_alert(move |alert| {
                if let Ok(v) = serde_json::to_value(alert) {
                    listener.call(v, ThreadsafeFunctionCallMode::NonBlocking);
                }
            })
        })
    }

    /// `listener(records)` with batches of this client's log records (`timestamp`, `level`,
    /// `target`, `message`, `request_id`, the GenAI fields, `line`), at `logging.level` and
    /// above, scrubbed unless `logging.redact` is false. Called on the JS thread, after the
    /// calls that made them; the listener does not keep the process alive.
    #[napi(ts_args_type = "listener: (records: Record<string, unknown>[]) => void")]
    pub fn on_log(&self, listener: LogListener) {
        self.inner.on_log(Arc::new(move |records| {
            let batch = records.iter().map(|r| r.to_object()).collect();
            listener.call(Value::Array(batch), ThreadsafeFunctionCallMode::NonBlocking);
        }));
    }

    /// Spend and holds of the day, the month and `user`'s day, against their limits.
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub fn budget<'env>(
        &self,
        env: &'env Env,
        user: Option<String>,
    ) -> Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        spawn_promise(
            env,
            async move {
                let snapshot = client.budget(user.as_deref()).await?;
                serde_json::to_value(snapshot)
                    .map_err(|e| trinity_core::Error::internal(e.to_string()))
            },
            |v| v,
        )
    }

    /// Validates the request and starts it at once; chunks and failures come from `next()`.
    #[napi]
    pub fn chat_stream(&self, env: Env, request: Value) -> Result<NativeChatStream> {
        let req = guard(&env, || ChatRequest::from_json(request))?;
        Ok(NativeChatStream::start(self.inner.clone(), req))
    }
}

/// Waits until every log record emitted before it has been handed to its listeners (which
/// then run on the JS thread's next turns); false after `timeoutMs`.
#[napi]
pub fn flush_logs(timeout_ms: Option<u32>) -> bool {
    let timeout = std::time::Duration::from_millis(u64::from(timeout_ms.unwrap_or(5000)));
    trinity_core::observe::log::flush(timeout)
}
