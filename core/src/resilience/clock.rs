//! Time for the resilience primitives: the tokio clock (so `#[tokio::test(start_paused = true)]`
//! drives it), or a manual clock that synchronous tests advance by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// `tokio::time::Instant`: real time, or the paused test clock inside a paused runtime.
    #[default]
    Tokio,
    /// Nanoseconds set by the test.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock at t = 0 and the handle that moves it.
    pub fn manual() -> (Clock, ManualClock) {
        let t = Arc::new(AtomicU64::new(0));
        (Clock::Manual(t.clone()), ManualClock(t))
    }

    /// Nanoseconds since an arbitrary process-wide origin; never decreases for one clock.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        match self {
            Clock::Tokio => {
                static ORIGIN: OnceLock<tokio::time::Instant> = OnceLock::new();
                let origin = *ORIGIN.get_or_init(tokio::time::Instant::now);
                tokio::time::Instant::now()
                    .saturating_duration_since(origin)
                    .as_nanos() as u64
            }
            Clock::Manual(t) => t.load(Ordering::Acquire),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ns() / 1_000_000
    }

    /// Sleeps until `ns` on this clock. A manual clock cannot be slept on: tests of waiting use
    /// the paused tokio clock instead.
    pub async fn sleep_until_ns(&self, ns: u64) {
        let now = self.now_ns();
        if ns > now {
            tokio::time::sleep(Duration::from_nanos(ns - now)).await;
        }
    }
}

/// Moves a manual clock.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::AcqRel);
    }

    pub fn set_ns(&self, ns: u64) {
        self.0.store(ns, Ordering::Release);
    }

    pub fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}
