//! What the server received: the last `record_requests` LLM request bodies, so a test can check
//! what a client put on the wire (`MockServer::requests()`, `GET /_mock/requests`).

use super::stats::Route;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;

/// One LLM request as it arrived. Headers are not kept (they carry the API key), nor the
/// query string (Gemini clients may put the key there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedRequest {
    /// The route, named as in the stats (`"POST /v1/messages"`).
    pub route: String,
    /// The URL path (`/v1beta/models/gemini-2.5-flash:generateContent`).
    pub path: String,
    /// The body as JSON; a body that is not JSON is kept as a string (lossy UTF-8).
    pub body: Value,
}

/// A ring of the last `limit` bodies; `limit` 0 records nothing and takes no lock.
pub(crate) struct Received {
    limit: usize,
    ring: Mutex<VecDeque<(Route, String, Bytes)>>,
}

impl Received {
    pub fn new(limit: usize) -> Self {
        Received {
            limit,
            ring: Mutex::new(VecDeque::with_capacity(limit.min(64))),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Keeps `body` (a reference-counted buffer: no copy) and drops the oldest past the limit.
    pub fn record(&self, route: Route, path: &str, body: &Bytes) {
        if self.limit == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.len() == self.limit {
            ring.pop_front();
        }
        ring.push_back((route, path.to_string(), body.clone()));
    }

    /// Oldest first.
    pub fn snapshot(&self) -> Vec<ReceivedRequest> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter()
            .map(|(route, path, body)| ReceivedRequest {
                route: route.name().to_string(),
                path: path.clone(),
                body: serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
            })
            .collect()
    }

    pub fn clear(&self) {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bodies_in_order() {
        let r = Received::new(2);
        for body in [&b"{\"n\":1}"[..], b"{\"n\":2}", b"not json"] {
            r.record(Route::AnthropicMessages, "/v1/messages", &Bytes::from(body));
        }
        let got = r.snapshot();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].body, serde_json::json!({"n": 2}));
        assert_eq!(got[1].body, "not json");
        assert_eq!(got[1].route, "POST /v1/messages");
        r.clear();
        assert!(r.snapshot().is_empty());

        let off = Received::new(0);
        off.record(
            Route::OpenAiChat,
            "/v1/chat/completions",
            &Bytes::from("{}"),
        );
        assert!(off.snapshot().is_empty());
    }
}
