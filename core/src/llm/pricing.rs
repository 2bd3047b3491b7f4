//! Puts a price on every answer: a response from its usage, a stream on the chunk that
//! carries its final usage (so it costs exactly what the same call unstreamed costs). Where the
//! provider reports no usage, the token counter counts what was sent and received and the
//! cost is marked `estimated`; it is never left at 0.

use super::http::ChunkStream;
use super::spend::Hold;
use super::types::{ChatChunk, ChatRequest, ChatResponse, Usage};
use crate::cost::{self, CostDetail};
use crate::registry::Model;
use crate::tokens::Encoding;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Instant;

/// Sets `cost_usd` and `cost_detail` on a response from `info`'s prices.
pub fn price_response(resp: &mut ChatResponse, req: &ChatRequest, info: Option<&Model>) {
    let detail = if resp.usage.total_tokens == 0 && !resp.content.is_empty() {
        let counted = counted_usage(req, &resp.content, info);
        cost::cost(info, &counted, true)
    } else {
        cost::cost(info, &resp.usage, false)
    };
    cost::count_unpriced(&detail);
    resp.cost_usd = detail.total_usd;
    resp.cost_detail = Some(detail);
}

/// How a stream ended, for the request log: what it used and cost (reported, or counted and
/// marked estimated), its error, whether the caller dropped it first, when its first token came.
pub struct StreamEnd {
    pub usage: Usage,
    pub detail: CostDetail,
    pub error: Option<crate::error::Error>,
    pub cancelled: bool,
    pub first_token: Option<Instant>,
    /// The mean time between the output chunks after the first (two or more of them).
    pub per_chunk: Option<std::time::Duration>,
    /// The text and tool-call arguments received.
    pub received: String,
    /// Replayed from the response cache, and from which tier.
    pub cached: bool,
    pub cache_tier: Option<&'static str>,
}

/// Called once when a priced stream ends, fails or is dropped.
pub type OnEnd = Box<dyn FnOnce(StreamEnd) + Send>;

/// The usage chunk of `stream` gets the stream's cost. A stream that ends without reporting
/// usage gets one more chunk with the usage counted here and an `estimated` cost. The budget
/// `hold` is settled with that cost; a stream cut short or dropped settles what was received,
/// counted. `on_end` hears how it ended.
pub fn priced_stream(
    stream: ChunkStream,
    req: &ChatRequest,
    info: Option<Arc<Model>>,
    hold: Option<Hold>,
    on_end: Option<OnEnd>,
) -> ChunkStream {
    struct State {
        inner: ChunkStream,
        req: ChatRequest,
        info: Option<Arc<Model>>,
        received: String,
        /// The reported usage and its cost, once the usage chunk has passed.
        priced: Option<(Usage, CostDetail)>,
        first_token: Option<Instant>,
        /// The last output chunk's arrival, and how many there were.
        last_token: Option<Instant>,
        output_chunks: u32,
        done: bool,
        hold: Option<Hold>,
        on_end: Option<OnEnd>,
    }
    impl State {
        fn counted(&self) -> (Usage, CostDetail) {
            let usage = counted_usage(&self.req, &self.received, self.info.as_deref());
            (usage, cost::cost(self.info.as_deref(), &usage, true))
        }
        fn settle(&mut self, detail: &CostDetail) {
            if let Some(hold) = self.hold.take() {
                hold.settle_later(detail.total_nano_usd.unwrap_or(0));
            }
        }
        fn end(&mut self, error: Option<crate::error::Error>, cancelled: bool) {
            let Some(on_end) = self.on_end.take() else {
                return;
            };
            let (usage, detail) = self.priced.clone().unwrap_or_else(|| self.counted());
            on_end(StreamEnd {
                usage,
                detail,
                error,
                cancelled,
                first_token: self.first_token,
                per_chunk: self
                    .first_token
                    .zip(self.last_token)
                    .filter(|_| self.output_chunks >= 2)
                    .map(|(first, last)| (last - first) / (self.output_chunks - 1)),
                received: std::mem::take(&mut self.received),
                cached: false,
                cache_tier: None,
            });
        }
    }
    impl Drop for State {
        fn drop(&mut self) {
            if self.hold.is_some() {
                let (_, detail) = self.counted();
                self.settle(&detail);
            }
            // Dropped after its usage came, the answer was whole (and billed).
            let cancelled = self.priced.is_none();
            self.end(None, cancelled);
        }
    }
    let state = State {
        inner: stream,
        req: req.clone(),
        info,
        received: String::new(),
        priced: None,
        first_token: None,
        last_token: None,
        output_chunks: 0,
        done: false,
        hold,
        on_end,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        match s.inner.next().await {
            Some(Ok(mut chunk)) => {
                if !chunk.delta.is_empty() || !chunk.tool_calls.is_empty() {
                    let now = Instant::now();
                    s.first_token.get_or_insert(now);
                    s.last_token = Some(now);
                    s.output_chunks += 1;
                }
                s.received.push_str(&chunk.delta);
                for call in &chunk.tool_calls {
                    s.received.push_str(&call.arguments);
                }
                if let Some(usage) = chunk.usage {
                    let detail = cost::cost(s.info.as_deref(), &usage, false);
                    s.settle(&detail);
                    s.priced = Some((usage, detail.clone()));
                    set_cost(&mut chunk, detail);
                }
                Some((Ok(chunk), s))
            }
            Some(Err(e)) => {
                let e = crate::observe::scrub::scrub_error(e);
                s.done = true;
                s.end(Some(e.clone()), false);
                Some((Err(e), s))
            }
            None if s.priced.is_some() => {
                s.done = true;
                s.end(None, false);
                None
            }
            None => {
                s.done = true;
                let (usage, detail) = s.counted();
                let mut last = ChatChunk {
                    usage: Some(usage),
                    ..Default::default()
                };
                s.settle(&detail);
                s.priced = Some((usage, detail.clone()));
                set_cost(&mut last, detail);
                s.end(None, false);
                Some((Ok(last), s))
            }
        }
    }))
}

fn set_cost(chunk: &mut ChatChunk, detail: CostDetail) {
    cost::count_unpriced(&detail);
    chunk.cost_usd = detail.total_usd;
    chunk.cost_detail = Some(detail);
}

/// Usage counted with the model's encoding (o200k_base where the registry does not say):
/// the prompt as the messages' text with the chat overhead, the answer as received.
pub fn counted_usage(req: &ChatRequest, received: &str, info: Option<&Model>) -> Usage {
    let encoding = match info.map(|m| m.tokenizer.as_str()) {
        Some("cl100k_base") => Encoding::Cl100kBase,
        _ => Encoding::O200kBase,
    };
    // OpenAI's chat format: 3 tokens a message, 3 to prime the reply.
    let prompt: u64 = req
        .messages
        .iter()
        .map(|m| encoding.count(&m.text()) as u64 + 3)
        .sum::<u64>()
        + 3;
    let completion = encoding.count(received) as u64;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Default::default()
    }
}
