//! `NativeChatStream`: the core's `spawn_stream` pumps the chunk stream into a bounded channel
//! on the core runtime; `next()` hands over every chunk already waiting in one promise (each
//! promise costs a hop to the JS thread, so a fast stream should not pay one per chunk).
//! `close()` or garbage collection aborts the task, which closes the HTTP request.

use crate::llm::ChatChunk;
use crate::task::{spawn_promise, unless_cancelled};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use trinity_core::llm::channel::{spawn_stream, ChunkChannel};
use trinity_core::llm::{self, ChatRequest, Client};
use trinity_core::{Error, Result as CoreResult};

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
    /// The core task reading the HTTP stream.
    producer: AbortHandle,
    /// Fired on close, so a pending `next()` rejects at once.
    stop: CancellationToken,
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
        let ChunkChannel { rx, abort } = spawn_stream(client, req, STREAM_BUFFER);
        NativeChatStream {
            queue: Arc::new(Mutex::new(Queue { rx, failed: None })),
            producer: abort,
            stop: CancellationToken::new(),
        }
    }

    fn stop(&self) {
        // Token first: a pending `next()` woken by the channel closing must see it and reject,
        // not report the end of a stream that was cut short.
        self.stop.cancel();
        self.producer.abort();
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
        self.stop();
    }
}

impl Drop for NativeChatStream {
    fn drop(&mut self) {
        self.stop();
    }
}
