//! Streams: recorded chunk by chunk as they pass to the caller, stored only when the stream
//! ends cleanly (a finish reason, no error), and replayed with the same chunk boundaries,
//! tool-call deltas and usage, each chunk marked `cached`.

use super::{Cache, Kind};
use crate::llm::{ChatChunk, ChunkStream};
use futures_util::{stream, StreamExt};
use std::sync::Arc;

/// Passes `inner` through and stores its chunks under `key` once it ends cleanly.
pub fn record(
    cache: Arc<Cache>,
    key: String,
    ttl_s: Option<u64>,
    inner: ChunkStream,
) -> ChunkStream {
    struct State {
        inner: ChunkStream,
        seen: Vec<ChatChunk>,
        failed: bool,
        cache: Arc<Cache>,
        key: String,
        ttl_s: Option<u64>,
    }
    let state = State {
        inner,
        seen: vec![],
        failed: false,
        cache,
        key,
        ttl_s,
    };
    Box::pin(stream::unfold(Some(state), |st| async move {
        let mut st = st?;
        match st.inner.next().await {
            Some(Ok(chunk)) => {
                st.seen.push(chunk.clone());
                Some((Ok(chunk), Some(st)))
            }
            Some(Err(e)) => {
                st.failed = true;
                Some((Err(e), Some(st)))
            }
            None => {
                let finished = st.seen.iter().any(|c| c.finish_reason.is_some());
                if !st.failed && finished {
                    if let Ok(json) = serde_json::to_vec(&st.seen) {
                        let e = st.cache.entry(Kind::Stream, json.into(), st.ttl_s);
                        st.cache.put(&st.key, e).await;
                    }
                }
                None
            }
        }
    }))
}

/// The recorded chunks of a stream entry, marked `cached`; None for another kind of entry.
pub fn replay(entry: &super::Entry) -> Option<Vec<ChatChunk>> {
    if entry.kind != Kind::Stream {
        return None;
    }
    let mut chunks: Vec<ChatChunk> = serde_json::from_slice(&entry.payload).ok()?;
    for c in &mut chunks {
        c.cached = true;
    }
    Some(chunks)
}
