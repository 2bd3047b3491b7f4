//! A chat stream pumped into a bounded channel by a task on the core runtime: what the
//! bindings hand to their languages' iterators. Dropping the receiver or aborting the task
//! drops the stream, which closes its HTTP request.

use super::types::{ChatChunk, ChatRequest};
use super::Client;
use crate::error::{Error, Result};
use crate::rt;
use futures_util::{FutureExt, StreamExt};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub struct ChunkChannel {
    /// The chunks in order; an error is the last item; the end of the stream closes it.
    pub rx: mpsc::Receiver<Result<ChatChunk>>,
    /// Stops the stream at once.
    pub abort: AbortHandle,
}

/// Starts `req` as a stream; a slow consumer holds it back once `buffer` chunks wait.
pub fn spawn_stream(client: Arc<Client>, req: ChatRequest, buffer: usize) -> ChunkChannel {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let task = rt::spawn(async move {
        let pump = AssertUnwindSafe(async {
            let mut stream = match client.chat_stream(req).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break; // the consumer is gone, or the stream failed
                }
            }
        });
        if let Err(panic) = pump.catch_unwind().await {
            let _ = tx.send(Err(Error::from_panic(panic))).await;
        }
    });
    ChunkChannel {
        rx,
        abort: task.abort_handle(),
    }
}
