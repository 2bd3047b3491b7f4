//! `budget.scope: redis`: one budget shared by every process using the Redis server.
//!
//! **Keys.** One hash per window, all under one hash tag (one cluster slot, so one script
//! can touch them together): `{trinity:budget}:d:2026-12-03`, `{trinity:budget}:m:2026-12`,
//! `{trinity:budget}:u:2026-12-03:<user>`. Fields: `spent` and `held` (integer nano-USD, the
//! totals every check reads), `s:<nonce>` and `h:<nonce>` (each process's own share), and
//! `a:<threshold>` (an alert fraction that has fired in this window, across all processes).
//! Every call refreshes a TTL of the window's end plus one day, so finished windows vanish.
//!
//! **One script** (EVALSHA through `redis::Script`, reloaded after `SCRIPT FLUSH`) checks and
//! reserves against every window that applies, or adjusts them, atomically: `reserve` holds
//! the estimate (`held += e`) when `spent + held + e <= limit` in every window; `adjust`
//! releases a hold and adds the real spend (`held -= e`, `spent += actual`) and sets the alert
//! flags newly reached (`HSETNX`, so each fires once across all processes).
//!
//! **Reservations are increments, not leases.** A process that crashes between reserve and
//! commit leaves its hold in `held` until the window ends. That is deliberate: the call may
//! well have reached the provider and been billed, so its estimate is the best figure we have
//! for money that may be spent; expiring it would let a crash loop spend without limit. The
//! cost is a budget that may stop early by the holds of crashed processes.
//!
//! **A Redis restart** (without persistence) loses the counters. Each process remembers its
//! own share of each current window (what it has spent and holds); the script restores a
//! process's share into a window hash the first time that process touches it and finds no
//! `h:<nonce>` field (a fresh key). Once every live process has made a call the totals are
//! exact again, except the shares of processes that died before the restart, and replies lost
//! in flight at the moment of the restart. Alert flags are lost too: a fraction already passed
//! fires once more when spend next reaches it.
//!
//! **Redis unreachable: fail closed.** `reserve` and `snapshot` fail with `network` (details
//! `{budget: "redis", unavailable: true}`): a budget that cannot count must not let money be
//! spent (the rate limiter may fail open — the provider still enforces its own limits — but
//! nothing else stops spend). Commits and releases never fail: the adjustment is kept in
//! memory (merged per window) and replayed before the next call that reaches Redis, and the
//! ledger, when configured, has it at once. The connection is a `ConnectionManager`, which
//! reconnects by itself once Redis is back.
//!
//! The window is chosen by each process's clock (`Clock`), so processes agree on it as far as
//! their clocks agree (NTP: milliseconds). Amounts are exact up to 2^53 nano-USD (Lua numbers).

use super::{window, Counter, LimitKind, Limits};
use crate::error::{Error, ErrorKind, Result};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Keys live this long past their window's end (late commits, reports).
const GRACE_S: u64 = window::DAY_S;
/// ARGV values per key.
const PER_KEY: usize = 7;

/// KEYS: window hashes. ARGV: op (reserve | adjust | peek), nonce, estimate, then per key:
/// limit (-1: none), release, add, my spent, my held, ttl (s), alert thresholds ("t1,t2").
/// Returns {ok, failed key index, then per key: spent, held, fired alert mask}.
const SCRIPT: &str = r#"
local op = ARGV[1]
local hs, ss = 'h:' .. ARGV[2], 's:' .. ARGV[2]
local est = tonumber(ARGV[3])
local function num(key, field) return tonumber(redis.call('HGET', key, field) or 0) end
local function arg(i, n) return ARGV[3 + (i - 1) * 7 + n] end

-- A process's own share of a window comes back into a hash that lost it (a Redis restart).
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, hs) == 0 then
    local ms, mh = tonumber(arg(i, 4)), tonumber(arg(i, 5))
    redis.call('HINCRBY', key, 'spent', ms)
    redis.call('HINCRBY', key, 'held', mh)
    redis.call('HSET', key, ss, ms, hs, mh)
  end
  redis.call('EXPIRE', key, arg(i, 6))
end

if op == 'reserve' then
  for i, key in ipairs(KEYS) do
    local limit = tonumber(arg(i, 1))
    local spent, held = num(key, 'spent'), num(key, 'held')
    if limit >= 0 and (spent + held >= limit or spent + held + est > limit) then
      return {0, i, spent, held, 0}
    end
  end
  for _, key in ipairs(KEYS) do
    redis.call('HINCRBY', key, 'held', est)
    redis.call('HINCRBY', key, hs, est)
  end
elseif op == 'adjust' then
  for i, key in ipairs(KEYS) do
    -- Never release more than this process holds here (a restart may have lost a hold).
    local release = math.min(tonumber(arg(i, 2)), num(key, hs))
    if release > 0 then
      redis.call('HINCRBY', key, 'held', -release)
      redis.call('HINCRBY', key, hs, -release)
    end
    local add = tonumber(arg(i, 3))
    if add > 0 then
      redis.call('HINCRBY', key, 'spent', add)
      redis.call('HINCRBY', key, ss, add)
    end
  end
end

local out = {1, 0}
for i, key in ipairs(KEYS) do
  local spent = num(key, 'spent')
  local fired, j = 0, 0
  if op == 'adjust' and spent > 0 then
    for t in string.gmatch(arg(i, 7), '%d+') do
      if spent >= tonumber(t) and redis.call('HSETNX', key, 'a:' .. t, 1) == 1 then
        fired = fired + 2 ^ j
      end
      j = j + 1
    end
  end
  out[#out + 1] = spent
  out[#out + 1] = num(key, 'held')
  out[#out + 1] = fired
end
return out
"#;

/// One window hash touched by a call.
#[derive(Clone, Debug)]
struct Key {
    kind: LimitKind,
    day: u32,
    user: Option<String>,
    name: String,
    /// Unix second the window ends.
    end_s: u64,
}

/// This process's share of one window.
#[derive(Clone, Copy, Debug, Default)]
struct Own {
    spent: u64,
    held: u64,
    end_s: u64,
}

/// An adjustment Redis did not take yet.
#[derive(Clone, Debug)]
struct Pending {
    key: Key,
    release: u64,
    add: u64,
}

pub(super) struct Shared {
    conn: ConnectionManager,
    script: redis::Script,
    prefix: String,
    nonce: String,
    own: Mutex<HashMap<String, Own>>,
    pending: Mutex<HashMap<String, Pending>>,
    has_pending: AtomicBool,
    /// Alerts reached by replayed adjustments, for the caller to deliver.
    replayed_alerts: Mutex<Vec<ReplayedAlert>>,
}

/// An alert reached by a replayed adjustment: limit, fired mask, counter, day, user.
pub(super) type ReplayedAlert = (LimitKind, u32, Counter, u32, Option<String>);

/// Reserve refused: the limit, the window's spent and held, the day.
pub(super) type Refused = (LimitKind, u64, u64, u32);

impl Shared {
    /// Takes the alerts replayed adjustments reached.
    pub(super) fn take_replayed_alerts(&self) -> Vec<ReplayedAlert> {
        std::mem::take(
            &mut *self
                .replayed_alerts
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    pub(super) async fn connect(url: &str, prefix: &str) -> Result<Shared> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::config(format!("budget.redis_url: bad Redis URL: {e}"))
                .with_details(serde_json::json!({ "path": "budget.redis_url" }))
        })?;
        let config = crate::resilience::limiter_redis::shared_state_connection();
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_error)?;
        Ok(Shared {
            conn,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_string(),
            nonce: format!("{:016x}", rand::random::<u64>()),
            own: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            has_pending: AtomicBool::new(false),
            replayed_alerts: Mutex::new(Vec::new()),
        })
    }

    /// The window hashes of `day` (day, month, and the user's day when given).
    fn keys(&self, day: u32, user: Option<&str>) -> Vec<Key> {
        let month = window::month_of_day(day);
        let day_label = window::day_label(day);
        let mut keys = vec![
            Key {
                kind: LimitKind::Daily,
                day,
                user: None,
                name: format!("{{{}}}:d:{day_label}", self.prefix),
                end_s: window::day_end_s(day),
            },
            Key {
                kind: LimitKind::Monthly,
                day,
                user: None,
                name: format!("{{{}}}:m:{}", self.prefix, window::month_label(month)),
                end_s: window::month_end_s(month),
            },
        ];
        if let Some(u) = user {
            keys.push(Key {
                kind: LimitKind::PerUserDaily,
                day,
                user: Some(u.to_string()),
                name: format!("{{{}}}:u:{day_label}:{u}", self.prefix),
                end_s: window::day_end_s(day),
            });
        }
        keys
    }

    pub(super) async fn reserve(
        &self,
        limits: &Limits,
        now: u64,
        user: Option<&str>,
        estimate: u64,
    ) -> Result<std::result::Result<u32, Refused>> {
        self.replay(limits, now).await;
        let day = window::day_of(now);
        let keys = self.keys(day, user);
        let reply = self
            .run("reserve", estimate, limits, now, &keys, &[])
            .await?;
        if reply.first() == Some(&1) {
            let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            for k in &keys {
                own.entry(k.name.clone())
                    .or_insert(Own {
                        end_s: k.end_s,
                        ..Own::default()
                    })
                    .held += estimate;
            }
            return Ok(Ok(day));
        }
        let i = reply.get(1).copied().unwrap_or(1).max(1) as usize - 1;
        let (spent, held) = (
            reply.get(2).copied().unwrap_or(0).max(0) as u64,
            reply.get(3).copied().unwrap_or(0).max(0) as u64,
        );
        Ok(Err((keys[i].kind, spent, held, day)))
    }

    /// Releases and adds; returns the alerts that fired per window. Never fails: an
    /// adjustment Redis cannot take now is kept and replayed.
    pub(super) async fn adjust(
        &self,
        limits: &Limits,
        now: u64,
        day: u32,
        user: Option<&str>,
        release: u64,
        add: u64,
    ) -> Vec<(LimitKind, u32, Counter)> {
        self.replay(limits, now).await;
        let keys = self.keys(day, user);
        let adj: Vec<(u64, u64)> = keys.iter().map(|_| (release, add)).collect();
        match self.run("adjust", 0, limits, now, &keys, &adj).await {
            Ok(reply) => self.settled(&keys, &adj, &reply),
            Err(_) => {
                self.keep(keys, release, add);
                Vec::new()
            }
        }
    }

    pub(super) async fn peek(
        &self,
        limits: &Limits,
        now: u64,
        day: u32,
        user: Option<&str>,
    ) -> Result<(Counter, Counter, Option<Counter>)> {
        self.replay(limits, now).await;
        let keys = self.keys(day, user);
        let reply = self.run("peek", 0, limits, now, &keys, &[]).await?;
        let at = |i: usize| Counter {
            spent: reply.get(2 + 3 * i).copied().unwrap_or(0).max(0) as u64,
            held: reply.get(3 + 3 * i).copied().unwrap_or(0).max(0) as u64,
            fired: 0,
        };
        Ok((at(0), at(1), user.map(|_| at(2))))
    }

    /// Updates this process's shares after an adjustment Redis took; the alerts that fired.
    fn settled(
        &self,
        keys: &[Key],
        adj: &[(u64, u64)],
        reply: &[i64],
    ) -> Vec<(LimitKind, u32, Counter)> {
        let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
        let mut fired = Vec::new();
        for (i, (k, (release, add))) in keys.iter().zip(adj).enumerate() {
            let o = own.entry(k.name.clone()).or_insert(Own {
                end_s: k.end_s,
                ..Own::default()
            });
            o.held = o.held.saturating_sub(*release);
            o.spent = o.spent.saturating_add(*add);
            let mask = reply.get(4 + 3 * i).copied().unwrap_or(0).max(0) as u32;
            if mask != 0 {
                let spent = reply.get(2 + 3 * i).copied().unwrap_or(0).max(0) as u64;
                fired.push((
                    k.kind,
                    mask,
                    Counter {
                        spent,
                        held: 0,
                        fired: 0,
                    },
                ));
            }
        }
        fired
    }

    fn keep(&self, keys: Vec<Key>, release: u64, add: u64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            let p = pending.entry(key.name.clone()).or_insert(Pending {
                key,
                release: 0,
                add: 0,
            });
            p.release = p.release.saturating_add(release);
            p.add = p.add.saturating_add(add);
        }
        self.has_pending.store(true, Ordering::Release);
    }

    /// Applies adjustments kept while Redis was unreachable (one window at a time); the alerts
    /// they reach wait in `replayed_alerts` for the caller.
    async fn replay(&self, limits: &Limits, now: u64) {
        if !self.has_pending.load(Ordering::Acquire) {
            return;
        }
        let taken: Vec<Pending> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            self.has_pending.store(false, Ordering::Release);
            pending.drain().map(|(_, p)| p).collect()
        };
        for p in taken {
            let keys = [p.key.clone()];
            let adj = [(p.release, p.add)];
            match self.run("adjust", 0, limits, now, &keys, &adj).await {
                Ok(reply) => {
                    let fired = self.settled(&keys, &adj, &reply);
                    let mut out = self
                        .replayed_alerts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    for (kind, mask, counter) in fired {
                        out.push((kind, mask, counter, p.key.day, p.key.user.clone()));
                    }
                }
                Err(_) => {
                    let [key] = keys;
                    self.keep(vec![key], p.release, p.add);
                }
            }
        }
        // Forget shares of windows long gone.
        let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
        own.retain(|_, o| o.end_s + GRACE_S > now);
    }

    async fn run(
        &self,
        op: &str,
        estimate: u64,
        limits: &Limits,
        now: u64,
        keys: &[Key],
        adj: &[(u64, u64)],
    ) -> Result<Vec<i64>> {
        let mut inv = self.script.prepare_invoke();
        inv.arg(op).arg(&self.nonce).arg(estimate);
        {
            let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
            if own.len() > 64 {
                own.retain(|_, o| o.end_s + GRACE_S > now);
            }
            for (i, k) in keys.iter().enumerate() {
                let mine = own.get(&k.name).copied().unwrap_or_default();
                let limit = limits.of(k.kind);
                let (release, add) = adj.get(i).copied().unwrap_or((0, 0));
                let thresholds = limit
                    .map(|l| {
                        limits
                            .thresholds(l)
                            .map(|t| t.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                inv.key(&k.name)
                    .arg(limit.map_or(-1, |l| l as i64))
                    .arg(release)
                    .arg(add)
                    .arg(mine.spent)
                    .arg(mine.held)
                    .arg((k.end_s + GRACE_S).saturating_sub(now).max(60))
                    .arg(thresholds);
            }
        }
        debug_assert_eq!(PER_KEY, 7);
        let mut conn = self.conn.clone();
        match inv.invoke_async(&mut conn).await {
            // The first call on a connection that died (a Redis restart) fails while the
            // manager reconnects: one more try. (Were the script to have run before the
            // connection dropped, a reserve's first hold would stay until the window ends:
            // the safe side.)
            Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                inv.invoke_async(&mut conn).await.map_err(redis_error)
            }
            done => done.map_err(redis_error),
        }
    }
}

fn redis_error(e: redis::RedisError) -> Error {
    let network = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Io | redis::ErrorKind::ClusterConnectionNotFound
        );
    let kind = if network {
        ErrorKind::Network
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed {
        ErrorKind::Auth
    } else {
        ErrorKind::Internal
    };
    Error::new(kind, format!("budget: Redis: {e}")).with_details(serde_json::json!({
        "budget": "redis",
        "unavailable": network,
    }))
}
