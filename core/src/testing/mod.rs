//! Real servers for tests, benchmarks and users' own CI: a `redis-server` on a free loopback port.
//! (The mock LLM provider lives in `crate::mock`.)

mod redis_server;

pub use redis_server::RedisServer;
