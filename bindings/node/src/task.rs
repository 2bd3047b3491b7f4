//! Async calls: work runs on the core's tokio runtime (`trinity_core::rt`), and a JS promise
//! made with `napi_create_promise` is settled from there through napi's threadsafe deferred.
//! napi-rs's own `spawn_future` would need napi's runtime, a second one; the design allows one.

use crate::error::to_js;
use futures_util::FutureExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio_util::sync::CancellationToken;
use trinity_core::error::ErrorKind;
use trinity_core::rt;

/// Runs `work` on the core runtime; the promise resolves with `convert(value)` or rejects with
/// the core error (code and details). A panic in `work` rejects with an `internal` error.
/// `convert` runs on the runtime thread, so the JS thread only builds the JS value.
pub(crate) fn spawn_promise<'env, T, D, F>(
    env: &'env Env,
    work: F,
    convert: fn(T) -> D,
) -> Result<PromiseRaw<'env, D>>
where
    T: Send + 'static,
    D: ToNapiValue + Send + 'static,
    F: Future<Output = trinity_core::Result<T>> + Send + 'static,
{
    let (deferred, promise) = env.create_deferred()?;
    rt::spawn(async move {
        let result = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(trinity_core::Error::from_panic(p)))
            .map(convert);
        deferred.resolve(move |env| result.map_err(|e| to_js(&env, e)));
    });
    Ok(PromiseRaw::new(env.raw(), promise.raw()))
}

pub(crate) fn cancelled() -> trinity_core::Error {
    trinity_core::Error::new(ErrorKind::Cancelled, "the call was aborted")
}

/// Awaits `work` unless `token` fires first; then `work` is dropped, which aborts the HTTP call.
pub(crate) async fn unless_cancelled<T>(
    work: impl Future<Output = trinity_core::Result<T>>,
    token: Option<CancellationToken>,
) -> trinity_core::Result<T> {
    let Some(token) = token else {
        return work.await;
    };
    tokio::select! {
        biased;
        _ = token.cancelled() => Err(cancelled()),
        r = work => r,
    }
}

/// The native half of an `AbortSignal`: the wrapper calls `abort()` from the signal's listener.
#[napi]
#[derive(Default)]
pub struct AbortToken {
    pub(crate) token: CancellationToken,
}

#[napi]
impl AbortToken {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every call made with this token; they reject with a `cancelled` error.
    #[napi]
    pub fn abort(&self) {
        self.token.cancel();
    }
}
