//! Resilience primitives, each usable on its own and wired into `llm::Client`'s request path:
//! circuit breaker, retries with backoff and a budget, rate limits (local and shared through
//! Redis), a priority queue with bounded concurrency, and single-flight.

pub mod breaker;
pub mod clock;
pub mod limiter;
pub mod limiter_redis;
pub mod queue;
pub mod retry;
pub mod singleflight;

pub use breaker::{
    BreakerSettings, BreakerSnapshot, BreakerState, CircuitBreaker, Outcome, StateChange, Ticket,
};
pub use clock::{Clock, ManualClock};
pub use limiter::{Admission, LimiterSet, LimiterSnapshot, RateLimit, RateLimiter};
pub use limiter_redis::{RedisAdmission, RedisRateLimiter};
pub use queue::{QueuePermit, QueueSettings, QueueSnapshot, RequestQueue};
pub use retry::{is_retryable, RetryPolicy, RetryQuota};
pub use singleflight::SingleFlight;
