//! Redis tier: the entry bytes (self-checking, see `entry.rs`) under `{prefix}{key}` with
//! `PX` expiry, over a small pool of multiplexed connections that reconnect on their own.
//! A failure marks the tier down for a second, so a dead Redis costs one timeout per second
//! rather than one per request; callers see a miss, the counters an error.

use super::clock::Clock;
use super::entry::{self, Entry};
use super::stats::TierCounters;
use crate::error::{Error, Result};
use crate::rt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

const DOWN_FOR_MS: u64 = 1000;

pub struct RedisTier {
    pool: Vec<ConnectionManager>,
    next: AtomicUsize,
    prefix: String,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    down_until_ms: AtomicU64,
    warned: AtomicBool,
    pub counters: Arc<TierCounters>,
}

impl RedisTier {
    pub fn new(
        url: &str,
        prefix: &str,
        pool_size: usize,
        timeout_ms: u64,
        clock: Arc<dyn Clock>,
    ) -> Result<RedisTier> {
        let bad = |e: redis::RedisError| {
            Error::config(format!("cache.redis.url: {e}"))
                .with_details(serde_json::json!({"path": "cache.redis.url"}))
        };
        let client = redis::Client::open(url).map_err(bad)?;
        let timeout = Duration::from_millis(timeout_ms);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        // The managers spawn their reader tasks on the runtime that is current.
        let _enter = rt::handle().enter();
        let pool = (0..pool_size.max(1))
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        Ok(RedisTier {
            pool,
            next: AtomicUsize::new(0),
            prefix: prefix.to_string(),
            timeout,
            clock,
            down_until_ms: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            counters: Arc::new(TierCounters::default()),
        })
    }

    fn conn(&self) -> Option<ConnectionManager> {
        if self.clock.now_ms() < self.down_until_ms.load(Relaxed) {
            return None;
        }
        let i = self.next.fetch_add(1, Relaxed) % self.pool.len();
        Some(self.pool[i].clone())
    }

    /// Runs one command with the tier's timeout; a failure is counted, warned about once per
    /// outage, and turned into None.
    async fn run<T, F>(&self, op: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn()?;
        match tokio::time::timeout(self.timeout, op(conn)).await {
            Ok(Ok(v)) => {
                if self.warned.swap(false, Relaxed) {
                    eprintln!("trinity cache: redis tier is back");
                }
                Some(v)
            }
            failed => {
                TierCounters::add(&self.counters.errors, 1);
                tracing::warn!(
                    trinity.cache.tier = "redis",
                    "cache tier redis failed ({}); skipped for {DOWN_FOR_MS} ms",
                    match &failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timeout".into(),
                    }
                );
                self.down_until_ms
                    .store(self.clock.now_ms() + DOWN_FOR_MS, Relaxed);
                if !self.warned.swap(true, Relaxed) {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timeout".into(),
                    };
                    eprintln!(
                        "trinity cache: redis tier unavailable ({why}); using the other tiers"
                    );
                }
                None
            }
        }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub async fn get(&self, key: &str) -> Option<Entry> {
        let started = self.counters.timer();
        let full = self.full_key(key);
        let bytes: Option<Vec<u8>> = self
            .run(|mut c| async move { c.get(full).await })
            .await
            .flatten();
        let found = bytes.and_then(|b| match entry::decode_for(key, &b) {
            Ok(e) if !e.is_expired(self.clock.now_ms()) => Some(e),
            Ok(_) => None,
            Err(_) => {
                TierCounters::add(&self.counters.corrupt, 1);
                None
            }
        });
        self.counters.lookup(started, found.is_some());
        found
    }

    pub async fn put(&self, key: &str, e: &Entry) {
        let bytes = entry::encode(key, e);
        let len = bytes.len() as u64;
        let full = self.full_key(key);
        let ttl = e.ttl_left_ms(self.clock.now_ms());
        let done = self
            .run(|mut c| async move {
                match ttl {
                    Some(ms) => c.pset_ex::<_, _, ()>(full, bytes, ms).await,
                    None => c.set::<_, _, ()>(full, bytes).await,
                }
            })
            .await;
        if done.is_some() {
            TierCounters::add(&self.counters.writes, 1);
            TierCounters::add(&self.counters.bytes, len);
        }
    }

    /// Deletes the keys matching a Redis glob pattern (same syntax as ours: `*`, `?`, `[..]`).
    pub async fn invalidate(&self, pattern: &str) -> Result<u64> {
        let conn = self
            .conn()
            .ok_or_else(|| Error::new(crate::ErrorKind::Cache, "redis tier is down"))?;
        let matching = format!("{}{}", self.prefix, pattern);
        let fail =
            |e: redis::RedisError| Error::new(crate::ErrorKind::Cache, format!("redis: {e}"));
        let mut c = conn;
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&matching)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(fail)?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut c)
                    .await
                    .map_err(fail)?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    pub async fn remove(&self, key: &str) {
        let full = self.full_key(key);
        let _ = self
            .run(|mut c| async move { c.del::<_, ()>(full).await })
            .await;
    }
}
