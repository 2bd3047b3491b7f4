//! The client's budget: every call to a provider holds its estimated cost against the
//! configured limits before any network call (`budget_exceeded` otherwise), and settles with
//! its real cost after. A cache hit never reaches here; a failed call releases its hold.

use crate::config::{BudgetConfig, Config};
use crate::cost::budget::{BudgetAlert, BudgetSnapshot, Budgets, Reservation};
use crate::error::Result;
use crate::resilience::Clock;
use crate::rt;
use std::sync::{Arc, RwLock};

type Listener = Arc<dyn Fn(&BudgetAlert) + Send + Sync>;

pub struct Spend {
    config: BudgetConfig,
    /// `cache.redis.url`, the default for `scope: redis`.
    redis_url: Option<String>,
    /// Built on first use: a Redis budget connects from inside the runtime.
    budgets: tokio::sync::OnceCell<Budgets>,
    listeners: Arc<RwLock<Vec<Listener>>>,
}

impl Spend {
    /// `None` when the config sets no limit and no ledger: calls then pay nothing for budgets.
    pub fn new(config: &Config) -> Option<Spend> {
        let b = &config.budget;
        let any = b.daily_usd.is_some()
            || b.monthly_usd.is_some()
            || b.per_request_usd.is_some()
            || b.per_user_daily_usd.is_some()
            || b.ledger_path.is_some();
        any.then(|| Spend {
            config: b.clone(),
            redis_url: config.cache.redis.as_ref().map(|r| r.url.clone()),
            budgets: tokio::sync::OnceCell::new(),
            listeners: Arc::default(),
        })
    }

    async fn budgets(&self) -> Result<&Budgets> {
        self.budgets
            .get_or_try_init(|| async {
                let budgets =
                    Budgets::new(&self.config, Clock::System, self.redis_url.clone()).await?;
                let listeners = self.listeners.clone();
                budgets.on_alert(move |alert| {
                    tracing::warn!(
                        trinity.budget.limit = alert.limit.field(),
                        trinity.budget.fraction = alert.fraction,
                        trinity.budget.spent_usd = alert.spent_usd,
                        trinity.budget.limit_usd = alert.limit_usd,
                        "budget alert: {} at {:.0}% (${:.4} of ${:.2})",
                        alert.limit.field(),
                        alert.fraction * 100.0,
                        alert.spent_usd,
                        alert.limit_usd
                    );
                    let all = listeners.read().unwrap_or_else(|p| p.into_inner()).clone();
                    for listener in all {
                        listener(alert);
                    }
                });
                Ok(budgets)
            })
            .await
    }

    /// Calls `f` at each alert fraction a limit passes (once per window).
    pub fn on_alert(&self, f: impl Fn(&BudgetAlert) + Send + Sync + 'static) {
        self.listeners
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(f));
    }

    /// Holds `estimate_nano` for a call by `user`, or fails with `budget_exceeded`.
    pub async fn hold(&self, user: Option<&str>, estimate_nano: u64) -> Result<Hold> {
        let reservation = self.budgets().await?.reserve(user, estimate_nano).await?;
        Ok(Hold(Some(reservation)))
    }

    pub async fn snapshot(&self, user: Option<&str>) -> Result<BudgetSnapshot> {
        self.budgets().await?.snapshot(user).await
    }

    /// The spend without waiting ([`Budgets::snapshot_now`]); `None` before the first call
    /// (the budget is built then).
    pub fn snapshot_now(&self) -> Option<BudgetSnapshot> {
        self.budgets.get()?.snapshot_now()
    }
}

/// One call's hold on the budget: settled once with what the call cost; dropped unsettled
/// (the call failed before the provider answered), it is released.
pub struct Hold(Option<Reservation>);

impl Hold {
    /// Records the call's real cost in place of the estimate.
    pub async fn settle(mut self, nano: u64) {
        if let Some(r) = self.0.take() {
            // Commits made while a Redis budget is unreachable are kept and applied later.
            let _ = r.commit(nano).await;
        }
    }

    /// `settle` from a place that cannot wait (a stream's last chunk, or its drop).
    pub fn settle_later(mut self, nano: u64) {
        if let Some(r) = self.0.take() {
            // In the call's span: a budget alert it fires reaches the call's client's log.
            rt::spawn_here(tracing::Instrument::in_current_span(async move {
                let _ = r.commit(nano).await;
            }));
        }
    }
}
