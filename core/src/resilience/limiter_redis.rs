//! Shared rate limits through Redis: every process that names the same key shares one limit.
//!
//! One atomic Lua script does the whole check-and-admit on the server, with the server's
//! clock (`TIME`), so clients on different machines (and clocks) agree. Requests and tokens
//! are sliding logs, one sorted set each (`trinity:rl:{KEY}:requests`, `...:tokens`; the hash
//! tag keeps both in one cluster slot), scored by admission time in microseconds, with unique
//! members (`<client nonce>-<admission number>`, plus `:<tokens>` in the token log). The check is exact,
//! like the local [`RateLimiter`](super::RateLimiter): no window of length `window` ever holds
//! more than `rpm` requests or `tpm` tokens. Both keys get `PEXPIRE window` on every admission,
//! so an idle limit leaves nothing behind.
//!
//! The script runs through `redis::Script` (EVALSHA, reloaded on `NOSCRIPT`), so it survives
//! `SCRIPT FLUSH`; the connection is a `ConnectionManager`, which reconnects after a restart.
//! Needs Redis 5 or later (scripts replicate their effects, so reading `TIME` before writing is
//! allowed without `redis.replicate_commands()`); tested on Redis 7.
//! A restart loses the logs: a window that straddles it may admit up to twice the limit.
//!
//! Errors: `rate_limited` with details `{limiter, retry_after_ms}` (computed by the script from
//! the log) when the request does not fit now; `rate_limited` with `retryable: false` for a
//! request larger than `tpm`, without a round trip. A Redis that cannot be reached is
//! `network` with details `{limiter, unavailable: true}`: the limiter is *unavailable*, which
//! says nothing about the provider's limits, so callers choose to fail open or closed instead
//! of backing off as they would for `rate_limited`.

use super::limiter::{LimiterSnapshot, RateLimit, RateLimiter};
use crate::error::{Error, ErrorKind, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Connection settings for state shared through Redis (rate limits, budgets): a call learns
/// within about 3 s that Redis is gone, and the manager reconnects by itself when it is back.
pub(crate) fn shared_state_connection() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(250))
}

/// KEYS: requests log, tokens log. ARGV: op (acquire | peek | reconcile), rpm (0: none),
/// tpm (0: none), window (µs), tokens (reconcile: the actual count), member id.
/// Returns {admitted, retry_after_ms, server time (µs), member id, requests, tokens} where
/// the counts are what the window holds after the call.
const SCRIPT: &str = r#"
local op = ARGV[1]
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local function tokens_of(member) return tonumber(string.match(member, ':(%d+)$')) end

if op == 'reconcile' then
  local prefix = ARGV[6] .. ':'
  local log = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #log, 2 do
    if string.sub(log[i], 1, #prefix) == prefix then
      redis.call('ZREM', KEYS[2], log[i])
      redis.call('ZADD', KEYS[2], log[i + 1], prefix .. ARGV[5])
      return {1, 0, 0, '', 0, 0}
    end
  end
  return {0, 0, 0, '', 0, 0}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Never step back behind the newest admission (a server clock moved backwards).
for _, key in ipairs(KEYS) do
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] and tonumber(last[2]) > now then now = tonumber(last[2]) end
end
-- An entry at time s is in the window at `now` while s > now - window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)

local at = now
local requests = redis.call('ZCARD', KEYS[1])
if rpm > 0 and requests >= rpm then
  local e = redis.call('ZRANGE', KEYS[1], requests - rpm, requests - rpm, 'WITHSCORES')
  at = math.max(at, tonumber(e[2]) + window)
end
local log = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local sum = 0
for i = 1, #log, 2 do sum = sum + tokens_of(log[i]) end
if tpm > 0 then
  local excess = sum + tokens - tpm
  local i = 1
  while excess > 0 and i <= #log do
    excess = excess - tokens_of(log[i])
    at = math.max(at, tonumber(log[i + 1]) + window)
    i = i + 2
  end
end

if at > now or op ~= 'acquire' then
  return {0, math.ceil((at - now) / 1000), now, '', requests, sum}
end
local id = ARGV[6]
local ttl = math.ceil(window / 1000)
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], ttl)
  requests = requests + 1
end
if tpm > 0 then
  redis.call('ZADD', KEYS[2], now, id .. ':' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ttl)
  sum = sum + tokens
end
return {1, 0, now, id, requests, sum}
"#;

/// The script's reply: admitted, retry_after_ms, server time µs, member id, requests, tokens.
type Reply = (i64, u64, u64, String, u64, u64);

/// An admitted request: hand it to [`RedisRateLimiter::reconcile`] once the real token count
/// is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedisAdmission {
    /// Unique within the limiter that admitted it (bindings pass it across an FFI).
    pub number: u64,
    pub tokens: u64,
    /// The Redis server's clock at admission, µs since the Unix epoch.
    pub server_time_us: u64,
}

impl RedisAdmission {
    /// Rebuilds an admission from its `number` for `reconcile` (the one fields it reads).
    pub fn from_number(number: u64) -> RedisAdmission {
        RedisAdmission {
            number,
            tokens: 0,
            server_time_us: 0,
        }
    }
}

/// A rate limit shared by every client of one Redis key. Safe to share between tasks.
pub struct RedisRateLimiter {
    key: String,
    keys: [String; 2],
    limit: RateLimit,
    conn: ConnectionManager,
    script: redis::Script,
    /// Makes members unique across clients that admit in the same microsecond.
    nonce: String,
    next: AtomicU64,
    admitted: AtomicU64,
    rejected: AtomicU64,
}

impl RedisRateLimiter {
    /// Connects to `url` (`redis://host:port/db`) and shares the limit named `key`. Must run
    /// inside a tokio runtime (the connection's tasks live there): the core's `rt` for bindings.
    pub async fn new(url: &str, key: &str, limit: RateLimit) -> Result<Self> {
        // The local limiter's validation is the one schema check for limits.
        RateLimiter::new(key, limit.clone())?;
        if limit.window < Duration::from_micros(1) {
            return Err(
                Error::config("rate_limits.window_ms: expected a positive integer")
                    .with_details(serde_json::json!({ "path": "rate_limits.window_ms" })),
            );
        }
        let client = redis::Client::open(url).map_err(|e| {
            Error::config(format!("rate limit '{key}': bad Redis URL: {e}"))
                .with_details(serde_json::json!({ "path": "redis.url" }))
        })?;
        let conn = ConnectionManager::new_with_config(client, shared_state_connection())
            .await
            .map_err(|e| redis_error(key, e))?;
        Ok(RedisRateLimiter {
            keys: [
                format!("trinity:rl:{{{key}}}:requests"),
                format!("trinity:rl:{{{key}}}:tokens"),
            ],
            key: key.to_string(),
            limit,
            conn,
            script: redis::Script::new(SCRIPT),
            nonce: format!("{:016x}", rand::random::<u64>()),
            next: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// The Redis keys of the two logs (requests, tokens).
    pub fn redis_keys(&self) -> &[String; 2] {
        &self.keys
    }

    /// Admits now or fails with `rate_limited` (details: `retry_after_ms` from the script).
    pub async fn try_acquire(&self, tokens: u64) -> Result<RedisAdmission> {
        self.check_size(tokens)?;
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (admitted, retry_after_ms, now, _, _, _) =
            self.run("acquire", tokens, &self.member(number)).await?;
        if admitted == 1 {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return Ok(RedisAdmission {
                number,
                tokens,
                server_time_us: now,
            });
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        Err(Error::new(
            ErrorKind::RateLimited,
            format!("rate limit '{}' reached", self.key),
        )
        .with_details(serde_json::json!({
            "limiter": self.key,
            "retry_after_ms": retry_after_ms.max(1),
        })))
    }

    /// Waits until `tokens` fit, then admits: tries, sleeps the script's `retry_after_ms`,
    /// tries again. Waiters in other processes are not ordered (first come is best effort).
    /// Fails at once on anything but `rate_limited` (a too-large request, Redis unavailable).
    pub async fn acquire(&self, tokens: u64) -> Result<RedisAdmission> {
        loop {
            match self.try_acquire(tokens).await {
                Err(e) if e.kind == ErrorKind::RateLimited => {
                    let ms = retry_after_ms(&e).ok_or(e)?;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                done => return done,
            }
        }
    }

    /// Replaces the estimate of an admitted request with the tokens it really used (a no-op
    /// once the admission has left the window).
    pub async fn reconcile(&self, admission: &RedisAdmission, actual_tokens: u64) -> Result<()> {
        if self.limit.tpm.is_none() {
            return Ok(());
        }
        self.run("reconcile", actual_tokens, &self.member(admission.number))
            .await
            .map(drop)
    }

    /// What the shared window holds now; `admitted` and `rejected` count this client's calls.
    pub async fn snapshot(&self) -> Result<LimiterSnapshot> {
        let (_, retry_after_ms, _, _, requests, tokens) = self.run("peek", 1, "").await?;
        Ok(LimiterSnapshot {
            rpm: self.limit.rpm,
            tpm: self.limit.tpm,
            requests_in_window: requests,
            tokens_in_window: tokens,
            remaining_requests: self.limit.rpm.map(|r| r.saturating_sub(requests)),
            remaining_tokens: self.limit.tpm.map(|t| t.saturating_sub(tokens)),
            retry_after_ms,
            admitted: self.admitted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        })
    }

    /// The log member of admission `number`: unique across clients (the nonce is random).
    fn member(&self, number: u64) -> String {
        format!("{}-{number}", self.nonce)
    }

    async fn run(&self, op: &str, tokens: u64, member: &str) -> Result<Reply> {
        let mut conn = self.conn.clone();
        self.script
            .key(&self.keys[0])
            .key(&self.keys[1])
            .arg(op)
            .arg(self.limit.rpm.unwrap_or(0))
            .arg(self.limit.tpm.unwrap_or(0))
            .arg(self.limit.window.as_micros() as u64)
            .arg(tokens)
            .arg(member)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| redis_error(&self.key, e))
    }

    fn check_size(&self, tokens: u64) -> Result<()> {
        match self.limit.tpm {
            Some(tpm) if tokens > tpm => Err(Error::new(
                ErrorKind::RateLimited,
                format!(
                    "rate limit '{}': a request of {tokens} tokens can never fit the limit of {tpm} tokens per window",
                    self.key
                ),
            )
            .with_details(serde_json::json!({
                "limiter": self.key, "tokens": tokens, "tpm": tpm, "retryable": false,
            }))),
            _ => Ok(()),
        }
    }
}

/// `details.retry_after_ms` of a retryable `rate_limited` error.
fn retry_after_ms(e: &Error) -> Option<u64> {
    let d = e.details.as_ref()?;
    if d.get("retryable") == Some(&serde_json::Value::Bool(false)) {
        return None;
    }
    d.get("retry_after_ms")?.as_u64()
}

fn redis_error(key: &str, e: redis::RedisError) -> Error {
    let kind = if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
    {
        ErrorKind::Network
    } else {
        match e.kind() {
            redis::ErrorKind::AuthenticationFailed => ErrorKind::Auth,
            redis::ErrorKind::InvalidClientConfig => ErrorKind::Config,
            redis::ErrorKind::Io | redis::ErrorKind::ClusterConnectionNotFound => {
                ErrorKind::Network
            }
            _ => ErrorKind::Internal,
        }
    };
    Error::new(kind, format!("rate limit '{key}': Redis: {e}")).with_details(serde_json::json!({
        "limiter": key,
        "unavailable": kind == ErrorKind::Network,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_only_from_retryable_errors() {
        let e = Error::new(ErrorKind::RateLimited, "x")
            .with_details(serde_json::json!({"retry_after_ms": 7}));
        assert_eq!(retry_after_ms(&e), Some(7));
        let e = Error::new(ErrorKind::RateLimited, "x")
            .with_details(serde_json::json!({"retry_after_ms": 7, "retryable": false}));
        assert_eq!(retry_after_ms(&e), None);
    }

    #[test]
    fn connection_failures_are_network_errors() {
        let e =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let err = redis_error("k", e);
        assert_eq!(err.kind, ErrorKind::Network);
        assert_eq!(err.details.unwrap()["unavailable"], true);
    }

    #[tokio::test]
    async fn bad_limits_and_urls_are_config_errors() {
        let limit = RateLimit::per_minute(Some(0), None);
        let e = RedisRateLimiter::new("redis://127.0.0.1:1/0", "k", limit)
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Config);
        let limit = RateLimit::per_minute(Some(1), None);
        let e = RedisRateLimiter::new("http://nope", "k", limit)
            .await
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Config);
    }
}
