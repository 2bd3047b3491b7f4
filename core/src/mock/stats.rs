//! What the server served: requests per route and per fault, lock-free counters.

use super::faults::Fault;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! routes {
    ($($variant:ident = $name:literal;)+) => {
        /// The endpoints the server knows, named as they appear in stats.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Route { $($variant,)+ }

        impl Route {
            pub const ALL: &'static [Route] = &[$(Route::$variant,)+];

            pub const fn name(self) -> &'static str {
                match self { $(Route::$variant => $name,)+ }
            }
        }
    };
}

routes! {
    OpenAiChat = "POST /v1/chat/completions";
    OpenAiModels = "GET /v1/models";
    AnthropicMessages = "POST /v1/messages";
    GeminiGenerate = "POST /v1beta/models/{model}:generateContent";
    GeminiStream = "POST /v1beta/models/{model}:streamGenerateContent";
    Health = "GET /healthz";
    Stats = "GET /_mock/stats";
    Reset = "POST /_mock/reset";
    Faults = "PUT /_mock/faults";
    Requests = "GET /_mock/requests";
    Unknown = "other";
}

/// A snapshot of the counters; every route and fault is present, zeros included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockStats {
    /// All requests, every route.
    pub requests: u64,
    /// LLM requests answered as a stream (faults excluded).
    pub streams: u64,
    pub routes: BTreeMap<String, u64>,
    /// LLM requests by the fault they drew (`ok` included).
    pub faults: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(crate) struct Counters {
    streams: AtomicU64,
    routes: [AtomicU64; Route::ALL.len()],
    faults: [AtomicU64; Fault::ALL.len()],
}

impl Counters {
    pub fn route(&self, route: Route) {
        self.routes[route as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fault(&self, fault: Fault) {
        self.faults[fault as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> MockStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let routes: BTreeMap<String, u64> = Route::ALL
            .iter()
            .map(|r| (r.name().to_string(), get(&self.routes[*r as usize])))
            .collect();
        MockStats {
            requests: routes.values().sum(),
            streams: get(&self.streams),
            routes,
            faults: Fault::ALL
                .iter()
                .map(|f| (f.name().to_string(), get(&self.faults[*f as usize])))
                .collect(),
        }
    }

    pub fn reset(&self) {
        self.streams.store(0, Ordering::Relaxed);
        self.routes
            .iter()
            .chain(&self.faults)
            .for_each(|c| c.store(0, Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_snapshot_and_reset() {
        let c = Counters::default();
        c.route(Route::OpenAiChat);
        c.route(Route::OpenAiChat);
        c.route(Route::Health);
        c.fault(Fault::RateLimited);
        c.stream();
        let s = c.snapshot();
        assert_eq!(s.requests, 3);
        assert_eq!(s.routes["POST /v1/chat/completions"], 2);
        assert_eq!(s.faults["429"], 1);
        assert_eq!(s.faults["ok"], 0);
        assert_eq!(s.streams, 1);
        c.reset();
        assert_eq!(c.snapshot().requests, 0);
    }
}
