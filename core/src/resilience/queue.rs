//! Priority queue with bounded concurrency: at most `max_concurrency` permits out at once;
//! waiters are served by priority (higher first) with aging — every `aging` of waiting counts
//! as one step of priority, so low priorities are never starved. Since every waiter ages at
//! the same rate, the order key `enqueued − priority × aging` is fixed at enqueue time.
//! A waiter that gives up (its future dropped) leaves the queue at once; a permit handed to a
//! waiter that has just gone is passed on, never lost.

use super::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Clone, Debug, PartialEq)]
pub struct QueueSettings {
    pub max_concurrency: usize,
    pub max_length: usize,
    pub aging: Duration,
}

impl From<&crate::config::QueueConfig> for QueueSettings {
    fn from(c: &crate::config::QueueConfig) -> Self {
        QueueSettings {
            max_concurrency: c.max_concurrency.get() as usize,
            max_length: c.max_length.get() as usize,
            aging: Duration::from_millis(c.aging_ms.get()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueSnapshot {
    pub length: usize,
    pub in_flight: usize,
    pub max_concurrency: usize,
    pub completed: u64,
    pub cancelled: u64,
    pub rejected: u64,
    /// Mean time from enqueue to start, over the requests that waited or went straight in.
    pub average_wait_ms: f64,
    /// Mean time a permit was held.
    pub average_service_ms: f64,
    /// What a request enqueued now would wait: queue length × service time / concurrency.
    pub estimated_wait_ms: f64,
    /// Completions per second since the first request.
    pub throughput_per_s: f64,
}

pub struct RequestQueue {
    shared: Arc<Shared>,
}

struct Shared {
    settings: QueueSettings,
    clock: Clock,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    in_flight: usize,
    /// (order key, sequence) → the waiter's wake-up.
    waiting: BTreeMap<(i128, u64), oneshot::Sender<()>>,
    seq: u64,
    completed: u64,
    cancelled: u64,
    rejected: u64,
    started: u64,
    wait_ns_total: u128,
    service_ns_total: u128,
    first_ns: Option<u64>,
}

/// Holds one of the queue's slots; dropping it starts the next waiter.
pub struct QueuePermit {
    shared: Arc<Shared>,
    since_ns: u64,
}

impl Drop for QueuePermit {
    fn drop(&mut self) {
        let now = self.shared.clock.now_ns();
        let mut g = self.shared.lock();
        g.completed += 1;
        g.service_ns_total += now.saturating_sub(self.since_ns) as u128;
        self.shared.hand_on(&mut g);
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot came free: give it to the first waiter still there, else free it.
    fn hand_on(&self, g: &mut Inner) {
        while let Some((_, tx)) = g.waiting.pop_first() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        g.in_flight -= 1;
    }
}

impl RequestQueue {
    pub fn new(settings: QueueSettings) -> Result<Self> {
        Self::with_clock(settings, Clock::default())
    }

    pub fn with_clock(settings: QueueSettings, clock: Clock) -> Result<Self> {
        if settings.max_concurrency == 0 || settings.max_length == 0 || settings.aging.is_zero() {
            return Err(Error::config(
                "queue: max_concurrency, max_length and aging_ms must be positive",
            )
            .with_details(serde_json::json!({ "path": "queue" })));
        }
        Ok(RequestQueue {
            shared: Arc::new(Shared {
                settings,
                clock,
                inner: Mutex::new(Inner::default()),
            }),
        })
    }

    /// Waits for a slot. Higher `priority` goes first; a full queue fails with `rate_limited`.
    pub async fn acquire(&self, priority: i64) -> Result<QueuePermit> {
        let shared = &self.shared;
        let enqueued = shared.clock.now_ns();
        let (key, rx) = {
            let mut g = shared.lock();
            g.first_ns.get_or_insert(enqueued);
            if g.in_flight < shared.settings.max_concurrency && g.waiting.is_empty() {
                g.in_flight += 1;
                g.started += 1;
                return Ok(QueuePermit {
                    shared: shared.clone(),
                    since_ns: enqueued,
                });
            }
            if g.waiting.len() >= shared.settings.max_length {
                g.rejected += 1;
                return Err(Error::new(
                    ErrorKind::RateLimited,
                    format!("request queue is full ({} waiting)", g.waiting.len()),
                )
                .with_details(
                    serde_json::json!({ "queue_full": true, "length": g.waiting.len() }),
                ));
            }
            let order =
                enqueued as i128 - priority as i128 * shared.settings.aging.as_nanos() as i128;
            g.seq += 1;
            let key = (order, g.seq);
            let (tx, rx) = oneshot::channel();
            g.waiting.insert(key, tx);
            (key, rx)
        };
        let mut waiter = Waiter {
            shared,
            key: Some(key),
            rx,
        };
        let granted = (&mut waiter.rx).await.is_ok();
        waiter.key = None;
        if !granted {
            // The sender was dropped without a grant: only when the queue itself is gone.
            return Err(Error::new(ErrorKind::Cancelled, "request queue closed"));
        }
        let now = shared.clock.now_ns();
        let mut g = shared.lock();
        g.started += 1;
        g.wait_ns_total += now.saturating_sub(enqueued) as u128;
        Ok(QueuePermit {
            shared: shared.clone(),
            since_ns: now,
        })
    }

    /// Runs `work` once a slot is free; the slot is held until it finishes.
    pub async fn run<T>(&self, priority: i64, work: impl Future<Output = Result<T>>) -> Result<T> {
        let _permit = self.acquire(priority).await?;
        work.await
    }

    pub fn len(&self) -> usize {
        self.shared.lock().waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn in_flight(&self) -> usize {
        self.shared.lock().in_flight
    }

    pub fn snapshot(&self) -> QueueSnapshot {
        let now = self.shared.clock.now_ns();
        let s = &self.shared.settings;
        let g = self.shared.lock();
        let avg = |total: u128, n: u64| {
            if n == 0 {
                0.0
            } else {
                total as f64 / n as f64 / 1e6
            }
        };
        let average_service_ms = avg(g.service_ns_total, g.completed);
        let elapsed_s = g
            .first_ns
            .map_or(0.0, |f| now.saturating_sub(f) as f64 / 1e9);
        QueueSnapshot {
            length: g.waiting.len(),
            in_flight: g.in_flight,
            max_concurrency: s.max_concurrency,
            completed: g.completed,
            cancelled: g.cancelled,
            rejected: g.rejected,
            average_wait_ms: avg(g.wait_ns_total, g.started),
            average_service_ms,
            estimated_wait_ms: g.waiting.len() as f64 * average_service_ms
                / s.max_concurrency as f64,
            throughput_per_s: if elapsed_s > 0.0 {
                g.completed as f64 / elapsed_s
            } else {
                0.0
            },
        }
    }
}

/// Leaves the queue when an `acquire` future is dropped; passes on a grant that raced the drop.
struct Waiter<'a> {
    shared: &'a Arc<Shared>,
    key: Option<(i128, u64)>,
    /// Owned here so a grant can only be sent while this waiter can still see it.
    rx: oneshot::Receiver<()>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut g = self.shared.lock();
            g.cancelled += 1;
            // Grants are sent under the lock: gone from the map means granted, and the grant
            // is in `rx` — the slot is ours to pass on.
            if g.waiting.remove(&key).is_none() && self.rx.try_recv().is_ok() {
                self.shared.hand_on(&mut g);
            }
        }
    }
}
