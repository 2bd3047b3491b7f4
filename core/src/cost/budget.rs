//! Budget enforcement: spend limits per request, per UTC day, per UTC month and per user per
//! day, reserved before a call and reconciled after it, in integer nano-USD.
//!
//! ```text
//! let r = budgets.reserve(user, estimate_nano).await?;   // budget_exceeded before any network call
//! ... the call ...
//! r.commit(actual_nano).await?;                          // the real cost replaces the estimate
//! // (dropping `r` without commit releases the hold: the call never happened)
//! budgets.record(user, nano).await?;                      // spend that was never reserved
//! ```
//!
//! **The check.** A reservation of `e` passes a limit `L` when `spent + reserved + e <= L` and
//! `spent + reserved < L` (an exhausted budget refuses even a zero estimate). Every limit that
//! applies is checked and reserved in one step (one lock locally, one Lua script on Redis), so
//! concurrent calls never reserve past a limit. A commit records the real cost even when it
//! passes the limit (the money is spent); the next reservation then fails.
//!
//! **Windows.** Calendar days and months in UTC from the injected clock (`Clock::Manual` holds
//! Unix nanoseconds; the other clocks read the system's wall clock). A call is charged to the
//! windows it was reserved in, even when it ends after midnight. Windows never move backwards
//! when the wall clock does.
//!
//! **Alerts** fire when spend (not reservations) reaches each configured fraction of a limit,
//! once per window, per limit, per user; locally once per process (a restored ledger marks the
//! fractions already passed as fired), on Redis once across every process (a flag in the
//! window's hash). Callbacks run on the committing task, after the lock is released; a
//! panicking callback is caught and counted.
//!
//! **Scope `redis`** is in [`shared`]: what happens when Redis is unreachable (fail closed) and
//! after a restart (each process restores its own share) is explained there.
//!
//! **Ledger** (`budget.ledger_path`, see [`super::ledger`]): every commit and record is appended;
//! on start a local budget adds back the current day's and month's spend (and the per-user day
//! spend). With `scope: redis` the ledger is this process's audit trail and is not read back
//! (Redis holds the shared spend).

mod shared;
pub mod window;

use super::ledger::{self, Ledger, LedgerRecord};
use crate::config::{BudgetConfig, LimitScope};
use crate::error::{Error, ErrorKind, Result};
use crate::resilience::Clock;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Nano-USD per USD.
pub const NANO_PER_USD: f64 = 1e9;
/// The largest limit accepted: 2^53 nano-USD (~9 million USD), exact in Redis' Lua numbers.
pub const MAX_LIMIT_NANO: u64 = 1 << 53;

/// USD (config, bindings) to nano-USD, rounded to the nearest nano.
pub fn usd_to_nano(usd: f64) -> u64 {
    (usd * NANO_PER_USD).round().max(0.0) as u64
}

/// Nano-USD to USD.
pub fn nano_to_usd(nano: u64) -> f64 {
    nano as f64 / NANO_PER_USD
}

/// Which limit: serialized as its config field name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum LimitKind {
    #[serde(rename = "per_request_usd")]
    PerRequest,
    #[serde(rename = "daily_usd")]
    Daily,
    #[serde(rename = "monthly_usd")]
    Monthly,
    #[serde(rename = "per_user_daily_usd")]
    PerUserDaily,
}

impl LimitKind {
    /// The config field: `daily_usd`, ...
    pub fn field(self) -> &'static str {
        match self {
            LimitKind::PerRequest => "per_request_usd",
            LimitKind::Daily => "daily_usd",
            LimitKind::Monthly => "monthly_usd",
            LimitKind::PerUserDaily => "per_user_daily_usd",
        }
    }

    /// This limit's window holding `day`: its label and the Unix second it ends.
    fn window(self, day: u32) -> (String, u64) {
        match self {
            LimitKind::Monthly => {
                let m = window::month_of_day(day);
                (window::month_label(m), window::month_end_s(m))
            }
            _ => (window::day_label(day), window::day_end_s(day)),
        }
    }
}

/// A fraction of a limit reached by spend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetAlert {
    pub limit: LimitKind,
    pub fraction: f64,
    pub spent_usd: f64,
    pub limit_usd: f64,
    /// `2026-12-03` or `2026-12`.
    pub window: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub spent_nano: u64,
    pub limit_nano: u64,
}

/// One window's spend, for reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowSnapshot {
    pub limit: LimitKind,
    pub window: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub limit_usd: Option<f64>,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    pub remaining_usd: Option<f64>,
    pub limit_nano: Option<u64>,
    pub spent_nano: u64,
    pub reserved_nano: u64,
    pub resets_at: String,
}

/// Every window's spend now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetSnapshot {
    /// `local` or `redis`.
    pub scope: &'static str,
    pub per_request_usd: Option<f64>,
    /// Day, month, then the user's day when asked for and limited.
    pub windows: Vec<WindowSnapshot>,
    /// This process's reservations refused with `budget_exceeded`.
    pub rejected: u64,
    /// Alert callbacks that panicked (caught).
    pub alert_panics: u64,
}

/// What reading the ledger back found at start (all zero without a ledger).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LedgerRestore {
    /// Verified records read.
    pub records: u64,
    /// Records of the current day or month added back to the spend.
    pub restored: u64,
    pub corrupt: u64,
    pub torn_tail: u64,
}

/// The limits in nano-USD, checked and converted once.
#[derive(Clone, Debug, Default)]
struct Limits {
    per_request: Option<u64>,
    daily: Option<u64>,
    monthly: Option<u64>,
    per_user_daily: Option<u64>,
    /// Sorted, deduplicated, at most 32.
    alerts: Vec<f64>,
}

/// Checks the `budget` section's limits and alert fractions (errors name the field path), as
/// config parsing does; the rest is checked when the budget is built.
pub fn validate(cfg: &BudgetConfig) -> Result<()> {
    Limits::from_config(cfg).map(|_| ())
}

impl Limits {
    fn from_config(cfg: &BudgetConfig) -> Result<Limits> {
        let limit = |v: Option<crate::config::NonNegative>, field: &str| -> Result<Option<u64>> {
            match v {
                None => Ok(None),
                Some(usd) => {
                    let nano = usd_to_nano(usd.0);
                    if !usd.0.is_finite() || usd.0 < 0.0 || nano > MAX_LIMIT_NANO {
                        return Err(path_error(
                            &format!("budget.{field}"),
                            "expected a non-negative number of USD of at most 9007199",
                        ));
                    }
                    Ok(Some(nano))
                }
            }
        };
        let mut alerts = Vec::with_capacity(cfg.alerts.len());
        for (i, a) in cfg.alerts.iter().enumerate() {
            if !(a.0 > 0.0 && a.0 <= 1.0) {
                return Err(path_error(
                    &format!("budget.alerts[{i}]"),
                    "expected a number greater than 0 and at most 1",
                ));
            }
            alerts.push(a.0);
        }
        alerts.sort_by(f64::total_cmp);
        alerts.dedup();
        if alerts.len() > 32 {
            return Err(path_error("budget.alerts", "expected at most 32 fractions"));
        }
        Ok(Limits {
            per_request: limit(cfg.per_request_usd, "per_request_usd")?,
            daily: limit(cfg.daily_usd, "daily_usd")?,
            monthly: limit(cfg.monthly_usd, "monthly_usd")?,
            per_user_daily: limit(cfg.per_user_daily_usd, "per_user_daily_usd")?,
            alerts,
        })
    }

    fn of(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::PerRequest => self.per_request,
            LimitKind::Daily => self.daily,
            LimitKind::Monthly => self.monthly,
            LimitKind::PerUserDaily => self.per_user_daily,
        }
    }

    /// Spend at which each alert fraction of `limit` fires.
    fn thresholds(&self, limit: u64) -> impl Iterator<Item = u64> + '_ {
        self.alerts
            .iter()
            .map(move |f| ((limit as f64) * f).ceil() as u64)
    }
}

fn path_error(path: &str, what: &str) -> Error {
    Error::config(format!("{path}: {what}")).with_details(serde_json::json!({ "path": path }))
}

/// Spend and holds of one window (one limit, one user).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counter {
    spent: u64,
    held: u64,
    /// Bit i: alert fraction i has fired in this window.
    fired: u32,
}

impl Counter {
    fn fits(&self, limit: u64, estimate: u64) -> bool {
        let total = self.spent.saturating_add(self.held);
        total < limit && total.saturating_add(estimate) <= limit
    }

    /// Newly reached alert fractions (indexes), marked fired.
    fn crossed(&mut self, limit: Option<u64>, limits: &Limits) -> u32 {
        let Some(limit) = limit else { return 0 };
        let mut fired = 0;
        for (i, t) in limits.thresholds(limit).enumerate() {
            if self.spent >= t && self.spent > 0 && self.fired & (1 << i) == 0 {
                fired |= 1 << i;
            }
        }
        self.fired |= fired;
        fired
    }
}

/// The in-process budget: the current day's and month's counters, per-user counters of the day.
#[derive(Debug, Default)]
struct LocalState {
    day: u32,
    month: u32,
    daily: Counter,
    monthly: Counter,
    users: HashMap<Box<str>, Counter>,
}

impl LocalState {
    /// Moves to `day` (never backwards); returns the day in force.
    fn roll(&mut self, day: u32) -> u32 {
        if day > self.day {
            self.day = day;
            self.daily = Counter::default();
            self.users.clear();
            let month = window::month_of_day(day);
            if month != self.month {
                self.month = month;
                self.monthly = Counter::default();
            }
        }
        self.day
    }
}

type Callback = Arc<dyn Fn(&BudgetAlert) + Send + Sync>;

enum Backend {
    Local(Mutex<LocalState>),
    Redis(shared::Shared),
}

struct Inner {
    limits: Limits,
    clock: Clock,
    backend: Backend,
    ledger: Option<Ledger>,
    restore: LedgerRestore,
    callbacks: RwLock<Vec<(u64, Callback)>>,
    next_callback: AtomicU64,
    rejected: AtomicU64,
    alert_panics: AtomicU64,
    /// A Redis budget's last snapshot, for [`Budgets::snapshot_now`], and whether a refresh
    /// of it is under way.
    last: Mutex<Option<BudgetSnapshot>>,
    refreshing: AtomicBool,
}

/// The budget of a client (or of several, sharing it). Cheap to clone; safe to share.
#[derive(Clone)]
pub struct Budgets {
    inner: Arc<Inner>,
}

/// A hold on the budget for one call: [`commit`](Reservation::commit) it with the real cost;
/// dropping it uncommitted releases the hold.
pub struct Reservation {
    budgets: Budgets,
    day: u32,
    user: Option<Box<str>>,
    estimate: u64,
    done: bool,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("day", &window::day_label(self.day))
            .field("user", &self.user)
            .field("estimate_nano", &self.estimate)
            .finish()
    }
}

/// Charge windows of one spend.
#[derive(Clone, Copy, Debug)]
struct Charge<'a> {
    day: u32,
    user: Option<&'a str>,
    /// Hold to release.
    release: u64,
    /// Spend to add.
    add: u64,
}

impl Budgets {
    /// Checks `cfg` (errors name the field path), reads the ledger back when there is one, and
    /// for `scope: redis` connects to `redis_url` (`budget.redis_url`, else `cache.redis.url`:
    /// the caller resolves it). Must run inside a tokio runtime for `scope: redis`.
    pub async fn new(
        cfg: &BudgetConfig,
        clock: Clock,
        redis_url: Option<String>,
    ) -> Result<Budgets> {
        let limits = Limits::from_config(cfg)?;
        let (ledger, read_back) = match &cfg.ledger_path {
            Some(p) if p.trim().is_empty() => {
                return Err(path_error("budget.ledger_path", "expected a file path"))
            }
            Some(p) => {
                let read_back = ledger::read(std::path::Path::new(p))?;
                (Some(Ledger::open(p)?), Some(read_back))
            }
            None => (None, None),
        };
        let mut restore = LedgerRestore::default();
        let backend = match cfg.scope {
            LimitScope::Local => {
                let mut st = LocalState::default();
                st.roll(window::day_of(unix_s(&clock)));
                if let Some(rb) = read_back {
                    restore = LedgerRestore {
                        records: rb.records.len() as u64,
                        restored: 0,
                        corrupt: rb.corrupt,
                        torn_tail: rb.torn_tail,
                    };
                    for r in &rb.records {
                        let mut used = false;
                        if window::month_of_day(r.day) == st.month {
                            st.monthly.spent = st.monthly.spent.saturating_add(r.nano);
                            used = true;
                        }
                        if r.day == st.day {
                            st.daily.spent = st.daily.spent.saturating_add(r.nano);
                            if let (Some(u), Some(_)) = (&r.user, limits.per_user_daily) {
                                let c = st.users.entry(u.as_str().into()).or_default();
                                c.spent = c.spent.saturating_add(r.nano);
                            }
                        }
                        restore.restored += u64::from(used);
                    }
                    // Fractions passed before the restart fired then: not again.
                    st.daily.crossed(limits.daily, &limits);
                    st.monthly.crossed(limits.monthly, &limits);
                    for c in st.users.values_mut() {
                        c.crossed(limits.per_user_daily, &limits);
                    }
                }
                Backend::Local(Mutex::new(st))
            }
            LimitScope::Redis => {
                let url = cfg.redis_url.clone().or(redis_url).ok_or_else(|| {
                    path_error(
                        "budget.redis_url",
                        "scope: redis needs budget.redis_url or cache.redis.url",
                    )
                })?;
                if cfg.redis_prefix.is_empty() || cfg.redis_prefix.contains(['{', '}']) {
                    return Err(path_error(
                        "budget.redis_prefix",
                        "expected a non-empty prefix without braces",
                    ));
                }
                Backend::Redis(shared::Shared::connect(&url, &cfg.redis_prefix).await?)
            }
        };
        Ok(Budgets {
            inner: Arc::new(Inner {
                limits,
                clock,
                backend,
                ledger,
                restore,
                callbacks: RwLock::new(Vec::new()),
                next_callback: AtomicU64::new(1),
                rejected: AtomicU64::new(0),
                alert_panics: AtomicU64::new(0),
                last: Mutex::new(None),
                refreshing: AtomicBool::new(false),
            }),
        })
    }

    /// Whether any limit is set (without one, reserving only tracks spend).
    pub fn has_limits(&self) -> bool {
        let l = &self.inner.limits;
        l.per_request.is_some()
            || l.daily.is_some()
            || l.monthly.is_some()
            || l.per_user_daily.is_some()
    }

    /// `local` or `redis`.
    pub fn scope(&self) -> &'static str {
        match self.inner.backend {
            Backend::Local(_) => "local",
            Backend::Redis(_) => "redis",
        }
    }

    /// What the ledger read back at start.
    pub fn ledger_restore(&self) -> &LedgerRestore {
        &self.inner.restore
    }

    /// Registers an alert callback; returns an id for [`remove_alert`](Self::remove_alert).
    pub fn on_alert(&self, f: impl Fn(&BudgetAlert) + Send + Sync + 'static) -> u64 {
        let id = self.inner.next_callback.fetch_add(1, Ordering::Relaxed);
        self.inner
            .callbacks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, Arc::new(f)));
        id
    }

    /// Unregisters a callback; false when the id is unknown.
    pub fn remove_alert(&self, id: u64) -> bool {
        let mut cbs = self
            .inner
            .callbacks
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let before = cbs.len();
        cbs.retain(|(i, _)| *i != id);
        cbs.len() != before
    }

    /// Holds `estimate_nano` against every limit that applies (per request, day, month, the
    /// user's day), all or none; fails with `budget_exceeded` naming the first limit it would
    /// pass. `user` is the request's `metadata.user` (no user: no per-user limit).
    pub async fn reserve(&self, user: Option<&str>, estimate_nano: u64) -> Result<Reservation> {
        let now = unix_s(&self.inner.clock);
        if let Some(limit) = self.inner.limits.per_request {
            if estimate_nano > limit {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(exceeded(Exceeded {
                    kind: LimitKind::PerRequest,
                    limit,
                    counter: Counter::default(),
                    estimate: estimate_nano,
                    window: None,
                    user,
                    resets_at: None,
                }));
            }
        }
        let raw_user = user;
        let user = user.filter(|_| self.inner.limits.per_user_daily.is_some());
        let day = match &self.inner.backend {
            Backend::Local(m) => {
                let mut st = m.lock().unwrap_or_else(|p| p.into_inner());
                let day = st.roll(window::day_of(now));
                let limits = &self.inner.limits;
                let failed = if !limits.daily.is_none_or(|l| st.daily.fits(l, estimate_nano)) {
                    Some((LimitKind::Daily, st.daily))
                } else if !limits
                    .monthly
                    .is_none_or(|l| st.monthly.fits(l, estimate_nano))
                {
                    Some((LimitKind::Monthly, st.monthly))
                } else {
                    match (user, limits.per_user_daily) {
                        (Some(u), Some(l)) => {
                            let c = st.users.get(u).copied().unwrap_or_default();
                            (!c.fits(l, estimate_nano)).then_some((LimitKind::PerUserDaily, c))
                        }
                        _ => None,
                    }
                };
                if let Some((kind, counter)) = failed {
                    drop(st);
                    return Err(self.refuse(kind, counter, estimate_nano, day, user));
                }
                st.daily.held += estimate_nano;
                st.monthly.held += estimate_nano;
                if let Some(u) = user {
                    match st.users.get_mut(u) {
                        Some(c) => c.held += estimate_nano,
                        None => {
                            st.users.insert(
                                u.into(),
                                Counter {
                                    held: estimate_nano,
                                    ..Counter::default()
                                },
                            );
                        }
                    }
                }
                day
            }
            Backend::Redis(s) => {
                let reply = s
                    .reserve(&self.inner.limits, now, user, estimate_nano)
                    .await;
                self.fire_replayed(s);
                match reply? {
                    Ok(day) => day,
                    Err((kind, spent, held, day)) => {
                        let counter = Counter {
                            spent,
                            held,
                            fired: 0,
                        };
                        return Err(self.refuse(kind, counter, estimate_nano, day, user));
                    }
                }
            }
        };
        Ok(Reservation {
            budgets: self.clone(),
            day,
            user: raw_user.map(Into::into),
            estimate: estimate_nano,
            done: false,
        })
    }

    /// Records spend that was not reserved (a call whose cost is only known afterwards),
    /// charged to the current windows. Never fails on a limit: the money is spent. `user` goes
    /// to the ledger whether or not a per-user limit is set.
    pub async fn record(&self, user: Option<&str>, nano: u64) -> Result<()> {
        let now = unix_s(&self.inner.clock);
        let day = match &self.inner.backend {
            Backend::Local(m) => m
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .roll(window::day_of(now)),
            Backend::Redis(_) => window::day_of(now),
        };
        self.charge(Charge {
            day,
            user,
            release: 0,
            add: nano,
        })
        .await
    }

    /// Spend, holds and limits of the current day and month, and of `user`'s day when a
    /// per-user limit is set.
    pub async fn snapshot(&self, user: Option<&str>) -> Result<BudgetSnapshot> {
        let now = unix_s(&self.inner.clock);
        let limits = &self.inner.limits;
        let user = user.filter(|_| limits.per_user_daily.is_some());
        let (day, daily, monthly, user_c) = match &self.inner.backend {
            Backend::Local(m) => {
                let mut st = m.lock().unwrap_or_else(|p| p.into_inner());
                let day = st.roll(window::day_of(now));
                let u = user.map(|u| st.users.get(u).copied().unwrap_or_default());
                (day, st.daily, st.monthly, u)
            }
            Backend::Redis(s) => {
                let day = window::day_of(now);
                let reply = s.peek(limits, now, day, user).await;
                self.fire_replayed(s);
                let (d, m, u) = reply?;
                (day, d, m, u)
            }
        };
        let mut windows = vec![
            window_snapshot(LimitKind::Daily, limits.daily, daily, day, None),
            window_snapshot(LimitKind::Monthly, limits.monthly, monthly, day, None),
        ];
        if let (Some(u), Some(c)) = (user, user_c) {
            windows.push(window_snapshot(
                LimitKind::PerUserDaily,
                limits.per_user_daily,
                c,
                day,
                Some(u),
            ));
        }
        let snapshot = BudgetSnapshot {
            scope: self.scope(),
            per_request_usd: limits.per_request.map(nano_to_usd),
            windows,
            rejected: self.inner.rejected.load(Ordering::Relaxed),
            alert_panics: self.inner.alert_panics.load(Ordering::Relaxed),
        };
        if let (Backend::Redis(_), None) = (&self.inner.backend, user) {
            *self.inner.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    /// The day's and month's spend without waiting (for the metrics render, which cannot):
    /// exact for a local budget; for a Redis one the figures its last snapshot read (`None`
    /// before the first), each call starting a refresh in the background.
    pub fn snapshot_now(&self) -> Option<BudgetSnapshot> {
        if let Backend::Local(_) = &self.inner.backend {
            // A local snapshot never waits: its future is ready at the first poll.
            return futures_util::FutureExt::now_or_never(self.snapshot(None))?.ok();
        }
        if !self.inner.refreshing.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            crate::rt::spawn(async move {
                let _ = me.snapshot(None).await; // stores itself as the last
                me.inner.refreshing.store(false, Ordering::Release);
            });
        }
        self.inner
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Flushes the ledger to disk now (it syncs in groups by itself; see `cost::ledger`).
    pub fn sync_ledger(&self) -> Result<()> {
        self.inner.ledger.as_ref().map_or(Ok(()), Ledger::sync)
    }

    fn refuse(
        &self,
        kind: LimitKind,
        counter: Counter,
        estimate: u64,
        day: u32,
        user: Option<&str>,
    ) -> Error {
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
        let (label, resets) = kind.window(day);
        exceeded(Exceeded {
            kind,
            limit: self.inner.limits.of(kind).unwrap_or(0),
            counter,
            estimate,
            window: Some(label),
            user: user.filter(|_| kind == LimitKind::PerUserDaily),
            resets_at: Some(resets),
        })
    }

    /// Releases a hold and adds spend in the windows of `day`; appends to the ledger; fires
    /// alerts. A local budget that has moved to a later day only updates the windows still
    /// current (the month, usually).
    async fn charge(&self, c: Charge<'_>) -> Result<()> {
        let limits = &self.inner.limits;
        let mut alerts = Vec::new();
        match &self.inner.backend {
            Backend::Local(m) => {
                let mut st = m.lock().unwrap_or_else(|p| p.into_inner());
                let month = window::month_of_day(c.day);
                if st.day == c.day {
                    settle_and_alert(&mut st.daily, c, limits, LimitKind::Daily, &mut alerts);
                    if let (Some(u), Some(_)) = (c.user, limits.per_user_daily) {
                        if !st.users.contains_key(u) {
                            st.users.insert(u.into(), Counter::default());
                        }
                        let uc = st.users.get_mut(u).expect("just set");
                        settle_and_alert(uc, c, limits, LimitKind::PerUserDaily, &mut alerts);
                    }
                }
                if st.month == month {
                    settle_and_alert(&mut st.monthly, c, limits, LimitKind::Monthly, &mut alerts);
                }
            }
            Backend::Redis(s) => {
                let now = unix_s(&self.inner.clock);
                let user = c.user.filter(|_| limits.per_user_daily.is_some());
                let fired = s.adjust(limits, now, c.day, user, c.release, c.add).await;
                for (kind, fired, counter) in fired {
                    let u = user.filter(|_| kind == LimitKind::PerUserDaily);
                    push_alerts(&mut alerts, limits, kind, fired, counter, c.day, u);
                }
                self.fire_replayed(s);
            }
        }
        let mut result = Ok(());
        if c.add > 0 {
            if let Some(l) = &self.inner.ledger {
                result = l.append(&LedgerRecord {
                    day: c.day,
                    ts_ms: self.inner.clock_ms(),
                    nano: c.add,
                    user: c.user.map(str::to_string),
                });
            }
        }
        self.fire(&alerts);
        result
    }

    /// Delivers the alerts reached by adjustments replayed after Redis came back.
    fn fire_replayed(&self, s: &shared::Shared) {
        let replayed = s.take_replayed_alerts();
        if replayed.is_empty() {
            return;
        }
        let mut alerts = Vec::new();
        for (kind, mask, counter, day, user) in replayed {
            let limits = &self.inner.limits;
            push_alerts(
                &mut alerts,
                limits,
                kind,
                mask,
                counter,
                day,
                user.as_deref(),
            );
        }
        self.fire(&alerts);
    }

    fn fire(&self, alerts: &[BudgetAlert]) {
        if alerts.is_empty() {
            return;
        }
        let cbs: Vec<Callback> = self
            .inner
            .callbacks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, f)| f.clone())
            .collect();
        for alert in alerts {
            for f in &cbs {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(alert))).is_err() {
                    self.inner.alert_panics.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Releases a hold synchronously where possible (local), else from a task (Redis).
    fn release_on_drop(&self, day: u32, user: Option<Box<str>>, estimate: u64) {
        match &self.inner.backend {
            Backend::Local(m) => {
                let mut st = m.lock().unwrap_or_else(|p| p.into_inner());
                let c = Charge {
                    day,
                    user: user.as_deref(),
                    release: estimate,
                    add: 0,
                };
                if st.day == day {
                    settle(&mut st.daily, c);
                    if let Some(uc) = user.as_deref().and_then(|u| st.users.get_mut(u)) {
                        settle(uc, c);
                    }
                }
                if st.month == window::month_of_day(day) {
                    settle(&mut st.monthly, c);
                }
            }
            Backend::Redis(_) => {
                let b = self.clone();
                crate::rt::spawn_here(async move {
                    let _ = b
                        .charge(Charge {
                            day,
                            user: user.as_deref(),
                            release: estimate,
                            add: 0,
                        })
                        .await;
                });
            }
        }
    }
}

impl Inner {
    fn clock_ms(&self) -> u64 {
        unix_ns(&self.clock) / 1_000_000
    }
}

impl Reservation {
    /// The amount held.
    pub fn estimate_nano(&self) -> u64 {
        self.estimate
    }

    /// The day window charged (`2026-12-03`).
    pub fn day(&self) -> String {
        window::day_label(self.day)
    }

    /// Replaces the hold with the real cost (higher or lower; recorded even past the limit).
    /// With `scope: redis` and Redis unreachable, the spend is kept and applied when Redis
    /// answers again; the ledger has it at once.
    pub async fn commit(mut self, actual_nano: u64) -> Result<()> {
        self.done = true;
        let b = self.budgets.clone();
        b.charge(Charge {
            day: self.day,
            user: self.user.as_deref(),
            release: self.estimate,
            add: actual_nano,
        })
        .await
    }

    /// Releases the hold now (the call did not happen). Dropping does the same.
    pub async fn release(mut self) {
        self.done = true;
        let b = self.budgets.clone();
        let _ = b
            .charge(Charge {
                day: self.day,
                user: self.user.as_deref(),
                release: self.estimate,
                add: 0,
            })
            .await;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.budgets
                .release_on_drop(self.day, self.user.take(), self.estimate);
        }
    }
}

fn settle(c: &mut Counter, charge: Charge<'_>) {
    c.held = c.held.saturating_sub(charge.release);
    c.spent = c.spent.saturating_add(charge.add);
}

/// Settles `charge` on one window's counter and collects the alerts it reaches.
fn settle_and_alert(
    counter: &mut Counter,
    charge: Charge<'_>,
    limits: &Limits,
    kind: LimitKind,
    out: &mut Vec<BudgetAlert>,
) {
    settle(counter, charge);
    let fired = counter.crossed(limits.of(kind), limits);
    let user = charge.user.filter(|_| kind == LimitKind::PerUserDaily);
    push_alerts(out, limits, kind, fired, *counter, charge.day, user);
}

fn push_alerts(
    out: &mut Vec<BudgetAlert>,
    limits: &Limits,
    kind: LimitKind,
    fired: u32,
    c: Counter,
    day: u32,
    user: Option<&str>,
) {
    if fired == 0 {
        return;
    }
    let Some(limit) = limits.of(kind) else { return };
    let (window, _) = kind.window(day);
    for (i, f) in limits.alerts.iter().enumerate() {
        if fired & (1 << i) != 0 {
            out.push(BudgetAlert {
                limit: kind,
                fraction: *f,
                spent_usd: nano_to_usd(c.spent),
                limit_usd: nano_to_usd(limit),
                window: window.clone(),
                user: user.map(str::to_string),
                spent_nano: c.spent,
                limit_nano: limit,
            });
        }
    }
}

fn window_snapshot(
    kind: LimitKind,
    limit: Option<u64>,
    c: Counter,
    day: u32,
    user: Option<&str>,
) -> WindowSnapshot {
    let (window, resets) = kind.window(day);
    let remaining = limit.map(|l| l.saturating_sub(c.spent.saturating_add(c.held)));
    WindowSnapshot {
        limit: kind,
        window,
        user: user.map(str::to_string),
        limit_usd: limit.map(nano_to_usd),
        spent_usd: nano_to_usd(c.spent),
        reserved_usd: nano_to_usd(c.held),
        remaining_usd: remaining.map(nano_to_usd),
        limit_nano: limit,
        spent_nano: c.spent,
        reserved_nano: c.held,
        resets_at: window::rfc3339(resets),
    }
}

struct Exceeded<'a> {
    kind: LimitKind,
    limit: u64,
    counter: Counter,
    estimate: u64,
    window: Option<String>,
    user: Option<&'a str>,
    resets_at: Option<u64>,
}

fn exceeded(e: Exceeded<'_>) -> Error {
    let field = e.kind.field();
    let mut message = format!(
        "budget exceeded: {field} of {:.6} USD",
        nano_to_usd(e.limit)
    );
    if let Some(w) = &e.window {
        message.push_str(&format!(" for {w}"));
    }
    if let Some(u) = e.user {
        message.push_str(&format!(" (user {u:?})"));
    }
    message.push_str(&format!(
        ": spent {:.6}, reserved {:.6}, this request {:.6} USD",
        nano_to_usd(e.counter.spent),
        nano_to_usd(e.counter.held),
        nano_to_usd(e.estimate)
    ));
    let resets_at = e.resets_at.map(window::rfc3339);
    if let Some(r) = &resets_at {
        message.push_str(&format!("; resets at {r}"));
    }
    let mut d = serde_json::json!({
        "limit": field,
        "limit_usd": nano_to_usd(e.limit),
        "spent_usd": nano_to_usd(e.counter.spent),
        "reserved_usd": nano_to_usd(e.counter.held),
        "request_usd": nano_to_usd(e.estimate),
        "limit_nano": e.limit,
        "spent_nano": e.counter.spent,
        "reserved_nano": e.counter.held,
        "request_nano": e.estimate,
        "window": e.window,
        "resets_at": resets_at,
    });
    if let Some(u) = e.user {
        d["user"] = serde_json::Value::String(u.to_string());
    }
    Error::new(ErrorKind::BudgetExceeded, message).with_details(d)
}

/// Unix nanoseconds: a manual clock holds them; the others read the wall clock.
fn unix_ns(clock: &Clock) -> u64 {
    match clock {
        Clock::Manual(t) => t.load(Ordering::Acquire),
        _ => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    }
}

fn unix_s(clock: &Clock) -> u64 {
    unix_ns(clock) / 1_000_000_000
}

#[cfg(test)]
mod tests;
