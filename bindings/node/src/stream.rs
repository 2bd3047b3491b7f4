//! `NativeChatStream`: a task on the core runtime pumps the core's chunk stream into a bounded
//! channel; `next()` hands over every chunk already waiting in one promise (each promise costs
//! a hop to the JS thread, so a fast stream should not pay one per chunk). `close()` or
//! garbage collection stops the task, which drops the stream and closes its HTTP request.

use crate::llm::ChatChunk;
use crate::task::{spawn_promise, unless_cancelled};
use futures_util::{FutureExt, StreamExt};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};
use tokio_util::sync::CancellationToken;
use trinity_core::llm::{self, ChatRequest, Client};
use trinity_core::{rt, Error, Result as CoreResult};

/// Chunks buffered between the HTTP stream and JS; a slow consumer holds the stream back.
const STREAM_BUFFER: usize = 64;

type Item = CoreResult<llm::ChatChunk>;

struct Queue {
    rx: mpsc::Receiver<Item>,
    /// A failure met while batching, reported by the following `next()`.
    failed: Option<Error>,
}

#[napi]
pub struct NativeChatStream {
    queue: Arc<Mutex<Queue>>,
    stop: CancellationToken,
}

/// Sends the stream's items until it ends, fails, or nobody listens any more.
async fn pump(client: Arc<Client>, req: ChatRequest, tx: &mpsc::Sender<Item>) {
    match client.chat_stream(req).await {
        Err(e) => {
            let _ = tx.send(Err(e)).await;
        }
        Ok(mut stream) => {
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        }
    }
}

/// The chunks waiting now (at least one, waiting for it), or none at the end.
async fn next_batch(queue: Arc<Mutex<Queue>>) -> CoreResult<Vec<llm::ChatChunk>> {
    let mut q = queue.lock().await;
    if let Some(e) = q.failed.take() {
        return Err(e);
    }
    let mut batch = match q.rx.recv().await {
        None => return Ok(vec![]),
        Some(item) => vec![item?],
    };
    while batch.len() < STREAM_BUFFER {
        match q.rx.try_recv() {
            Ok(Ok(chunk)) => batch.push(chunk),
            Ok(Err(e)) => {
                q.failed = Some(e);
                break;
            }
            Err(_) => break,
        }
    }
    Ok(batch)
}

impl NativeChatStream {
    pub(crate) fn start(client: Arc<Client>, req: ChatRequest) -> Self {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        rt::spawn(async move {
            let work = AssertUnwindSafe(pump(client, req, &tx)).catch_unwind();
            let outcome = tokio::select! {
                biased;
                _ = stopped.cancelled() => return,
                outcome = work => outcome,
            };
            if let Err(panic) = outcome {
                let _ = tx.send(Err(Error::from_panic(panic))).await;
            }
        });
        NativeChatStream {
            queue: Arc::new(Mutex::new(Queue { rx, failed: None })),
            stop,
        }
    }
}

#[napi]
impl NativeChatStream {
    /// The next chunks (an empty array at the end); rejects with `cancelled` once closed.
    #[napi]
    pub fn next<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<ChatChunk>>> {
        let queue = self.queue.clone();
        let stop = self.stop.clone();
        spawn_promise(
            env,
            async move { unless_cancelled(next_batch(queue), Some(stop)).await },
            |batch| batch.into_iter().map(ChatChunk::from).collect(),
        )
    }

    /// Stops the stream and closes its connection; a pending `next()` rejects with `cancelled`.
    #[napi]
    pub fn close(&self) {
        self.stop.cancel();
    }
}

impl Drop for NativeChatStream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
