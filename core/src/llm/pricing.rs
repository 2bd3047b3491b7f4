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

/// The usage chunk of `stream` gets the stream's cost. A stream that ends without reporting
/// usage gets one more chunk with the usage counted here and an `estimated` cost. The budget
/// `hold` is settled with that cost; a stream cut short or dropped settles what was received,
/// counted.
pub fn priced_stream(
    stream: ChunkStream,
    req: &ChatRequest,
    info: Option<Arc<Model>>,
    hold: Option<Hold>,
) -> ChunkStream {
    struct State {
        inner: ChunkStream,
        req: ChatRequest,
        info: Option<Arc<Model>>,
        received: String,
        priced: bool,
        done: bool,
        hold: Option<Hold>,
    }
    impl State {
        fn settle(&mut self, detail: &CostDetail) {
            if let Some(hold) = self.hold.take() {
                hold.settle_later(detail.total_nano_usd.unwrap_or(0));
            }
        }
    }
    impl Drop for State {
        fn drop(&mut self) {
            if self.hold.is_some() {
                let usage = counted_usage(&self.req, &self.received, self.info.as_deref());
                let detail = cost::cost(self.info.as_deref(), &usage, true);
                self.settle(&detail);
            }
        }
    }
    let state = State {
        inner: stream,
        req: req.clone(),
        info,
        received: String::new(),
        priced: false,
        done: false,
        hold,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        match s.inner.next().await {
            Some(Ok(mut chunk)) => {
                if let Some(usage) = chunk.usage {
                    let detail = cost::cost(s.info.as_deref(), &usage, false);
                    s.settle(&detail);
                    set_cost(&mut chunk, detail);
                    s.priced = true;
                } else if !s.priced {
                    s.received.push_str(&chunk.delta);
                    for call in &chunk.tool_calls {
                        s.received.push_str(&call.arguments);
                    }
                }
                Some((Ok(chunk), s))
            }
            Some(Err(e)) => {
                s.done = true;
                Some((Err(e), s))
            }
            None if s.priced => None,
            None => {
                s.done = true;
                let usage = counted_usage(&s.req, &s.received, s.info.as_deref());
                let mut last = ChatChunk {
                    usage: Some(usage),
                    ..Default::default()
                };
                let detail = cost::cost(s.info.as_deref(), &usage, true);
                s.settle(&detail);
                set_cost(&mut last, detail);
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
