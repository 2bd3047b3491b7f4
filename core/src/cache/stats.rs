//! Counters per tier: lock-free atomics, read as a snapshot.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// One lookup in this many is timed.
const SAMPLE: u64 = 16;

#[derive(Default)]
pub struct TierCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub writes: AtomicU64,
    /// Bytes written (memory: bytes held, kept by the tier itself).
    pub bytes: AtomicU64,
    pub evictions: AtomicU64,
    /// Failed operations and corrupt entries: each is a miss for the caller.
    pub errors: AtomicU64,
    pub corrupt: AtomicU64,
    pub lookups: AtomicU64,
    pub lookup_ns: AtomicU64,
}

impl TierCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Records one lookup and its latency (`started` from `timer`).
    pub fn lookup(&self, started: Option<Instant>, hit: bool) {
        if let Some(t) = started {
            self.lookups.fetch_add(1, Relaxed);
            self.lookup_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        }
        if hit { &self.hits } else { &self.misses }.fetch_add(1, Relaxed);
    }

    /// A start time for one lookup in `SAMPLE`: reading the clock twice would cost more than
    /// a memory hit itself, and a sample gives the same mean.
    pub fn timer(&self) -> Option<Instant> {
        let n = self.hits.load(Relaxed) + self.misses.load(Relaxed);
        n.is_multiple_of(SAMPLE).then(Instant::now)
    }

    pub fn snapshot(&self, name: &'static str) -> TierStats {
        let lookups = self.lookups.load(Relaxed);
        TierStats {
            tier: name,
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            writes: self.writes.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            errors: self.errors.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            mean_lookup_us: if lookups == 0 {
                0.0
            } else {
                self.lookup_ns.load(Relaxed) as f64 / lookups as f64 / 1000.0
            },
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TierStats {
    pub tier: &'static str,
    pub hits: u64,
    pub misses: u64,
    pub writes: u64,
    pub bytes: u64,
    pub evictions: u64,
    pub errors: u64,
    pub corrupt: u64,
    pub mean_lookup_us: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CacheStats {
    /// Lookups answered by some tier / all lookups.
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    /// Registry cost of the answers served from the cache.
    pub saved_usd: f64,
    /// Memory tier entries.
    pub entries: u64,
    pub tiers: Vec<TierStats>,
}
