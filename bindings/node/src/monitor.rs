//! `client.monitor`: the core's provider monitor for Node. Figures come back camelCased;
//! listeners get the event object on the JS thread (they never run on a call's path and do
//! not keep the process alive).

use crate::error::guard;
use crate::observe::to_camel;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;
use trinity_core::observe::monitor::{Condition, ProviderMonitor};

/// A JS function of one monitor event, weak (it does not keep Node running).
type Listener = ThreadsafeFunction<Value, (), Value, Status, false, true>;

#[napi]
pub struct NativeProviderMonitor {
    pub(crate) inner: Arc<ProviderMonitor>,
}

#[napi]
impl NativeProviderMonitor {
    /// `provider`'s figures over the window (`state`, `latencyMs`, `errorRate`, `p95Ms`,
    /// `availability`, `queueDepth`...), or null before anything was seen of it.
    #[napi(ts_return_type = "Record<string, unknown> | null")]
    pub fn health(&self, provider: String) -> Value {
        to_camel(&self.inner.health(&provider))
    }

    #[napi(ts_return_type = "Record<string, unknown>[]")]
    pub fn snapshot(&self) -> Value {
        to_camel(&self.inner.snapshot())
    }

    #[napi]
    pub fn state(&self, provider: String) -> &'static str {
        self.inner.state(&provider).as_str()
    }

    #[napi]
    pub fn queue_depth(&self, provider: String) -> f64 {
        self.inner.queue_depth(&provider) as f64
    }

    /// History buckets of the last `hours`, oldest first.
    #[napi(ts_return_type = "Record<string, unknown>[]")]
    pub fn history(&self, provider: String, hours: f64) -> Value {
        to_camel(&self.inner.history(&provider, hours))
    }

    /// `listener(event)` when `kind` (`stateChange`, `down`, `highLatency`, `highErrorRate`)
    /// comes true for `provider` (null: any); `threshold` for the last two.
    #[napi(
        ts_args_type = "kind: string, provider: string | null, threshold: number | null, listener: (event: Record<string, unknown>) => void"
    )]
    pub fn on(
        &self,
        env: Env,
        kind: String,
        provider: Option<String>,
        threshold: Option<f64>,
        listener: Listener,
    ) -> Result<()> {
        guard(&env, || {
            let condition = Condition::parse(&kind, threshold)?;
            self.inner.on(provider.as_deref(), condition, move |event| {
                listener.call(to_camel(event), ThreadsafeFunctionCallMode::NonBlocking);
            })
        })
    }
}
