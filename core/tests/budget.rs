//! Budget enforcement, local scope: concurrent reservations against an exact limit, UTC day
//! and month windows on a manual clock, per-user isolation, alerts, the ledger across a
//! restart and under 100 writer processes killed at random moments, config errors by path.
//! (The Redis scope is in `budget_redis.rs`.)

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trinity_core::config::{BudgetConfig, Config, EnvOverrides};
use trinity_core::cost::budget::window::unix_s;
use trinity_core::cost::budget::{usd_to_nano, BudgetAlert, Budgets};
use trinity_core::cost::ledger;
use trinity_core::resilience::{Clock, ManualClock};
use trinity_core::{rt, Error, ErrorKind};

const NANO: u64 = 1_000_000_000;

fn cfg(v: Value) -> BudgetConfig {
    Config::from_value(json!({ "budget": v }), EnvOverrides::Ignore)
        .unwrap()
        .budget
}

fn at(y: i64, mo: u32, d: u32, h: u64, mi: u64, s: u64) -> (Clock, ManualClock) {
    let (clock, hand) = Clock::manual();
    hand.set_ns(unix_s(y, mo, d, h, mi, s) * NANO);
    (clock, hand)
}

fn local(v: Value, clock: Clock) -> Budgets {
    rt::block_on(Budgets::new(&cfg(v), clock, None)).unwrap()
}

fn details(e: &Error) -> &Value {
    assert_eq!(e.kind, ErrorKind::BudgetExceeded, "{e}");
    e.details.as_ref().unwrap()
}

#[test]
fn sixty_four_concurrent_calls_against_a_limit_that_fits_n_serve_exactly_n() {
    const E: u64 = 12_345_678; // 0.012345678 USD per call
    for n in [0u64, 1, 17, 63, 64] {
        let b = local(json!({"daily_usd": (n * E) as f64 / 1e9}), Clock::System);
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let results: Vec<Result<(), Error>> = rt::block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|i| {
                    let (b, barrier) = (b.clone(), barrier.clone());
                    rt::spawn(async move {
                        barrier.wait().await;
                        let r = b.reserve(Some(&format!("u{i}")), E).await?;
                        // Hold across a yield so reservations overlap, then spend the estimate.
                        tokio::task::yield_now().await;
                        r.commit(E).await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let served = results.iter().filter(|r| r.is_ok()).count() as u64;
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(details(e)["limit"], "daily_usd");
        }
        let s = rt::block_on(b.snapshot(None)).unwrap();
        let day = &s.windows[0];
        eprintln!(
            "limit for {n}: served {served}/64, spent {} of {} nano, rejected {}",
            day.spent_nano,
            day.limit_nano.unwrap(),
            s.rejected
        );
        assert_eq!(served, n);
        assert_eq!(s.rejected, 64 - n);
        assert_eq!(day.spent_nano, n * E);
        assert!(day.spent_nano <= day.limit_nano.unwrap());
        assert_eq!(day.reserved_nano, 0);
    }
}

#[test]
fn reserve_cost_per_call_is_printed_not_asserted() {
    let b = local(
        json!({"daily_usd": 1e6, "monthly_usd": 1e6, "per_user_daily_usd": 1e6}),
        Clock::System,
    );
    let calls = 200_000u32;
    let t = std::time::Instant::now();
    rt::block_on(async {
        for _ in 0..calls {
            let r = b.reserve(Some("alice"), 1000).await.unwrap();
            r.commit(900).await.unwrap();
        }
    });
    eprintln!(
        "reserve + commit (local, 3 windows): {:.0} ns per call",
        t.elapsed().as_nanos() as f64 / f64::from(calls)
    );
}

#[test]
fn errors_name_the_limit_spend_window_and_reset() {
    let (clock, _hand) = at(2026, 12, 3, 15, 30, 0);
    let b = local(
        json!({"daily_usd": 1.0, "monthly_usd": 10.0, "per_request_usd": 0.5}),
        clock,
    );
    rt::block_on(async {
        // Per request: refused before anything is held.
        let e = b.reserve(None, usd_to_nano(0.6)).await.unwrap_err();
        let d = details(&e);
        assert_eq!(d["limit"], "per_request_usd");
        assert_eq!(d["limit_usd"], 0.5);
        assert_eq!(d["request_usd"], 0.6);
        assert!(d["window"].is_null() && d["resets_at"].is_null());

        let held = b.reserve(None, usd_to_nano(0.5)).await.unwrap();
        b.record(None, usd_to_nano(0.25)).await.unwrap();
        let e = b.reserve(None, usd_to_nano(0.3)).await.unwrap_err();
        let d = details(&e);
        assert_eq!(d["limit"], "daily_usd");
        assert_eq!(d["limit_usd"], 1.0);
        assert_eq!(d["spent_usd"], 0.25);
        assert_eq!(d["reserved_usd"], 0.5);
        assert_eq!(d["request_usd"], 0.3);
        assert_eq!(d["window"], "2026-12-03");
        assert_eq!(d["resets_at"], "2026-12-04T00:00:00Z");
        assert!(d.get("user").is_none());
        // 0.25 fits exactly: spent + reserved + request == limit.
        let exact = b.reserve(None, usd_to_nano(0.25)).await.unwrap();
        // Full now: even a zero estimate is refused.
        assert!(b.reserve(None, 0).await.is_err());

        // Dropped without commit: the hold is released (the call never happened).
        drop(held);
        let s = b.snapshot(None).await.unwrap();
        assert_eq!(s.windows[0].reserved_nano, usd_to_nano(0.25));
        // A commit above the estimate is recorded in full, past the limit.
        exact.commit(usd_to_nano(0.8)).await.unwrap();
        let s = b.snapshot(None).await.unwrap();
        assert_eq!(s.windows[0].spent_nano, usd_to_nano(1.05));
        assert_eq!(s.windows[0].remaining_usd, Some(0.0));
        assert_eq!(s.windows[1].window, "2026-12");
        assert_eq!(s.windows[1].spent_nano, usd_to_nano(1.05));
        assert_eq!(s.windows[1].resets_at, "2027-01-01T00:00:00Z");
        let d = details(&b.reserve(None, 1).await.unwrap_err()).clone();
        assert_eq!(d["spent_nano"], usd_to_nano(1.05));
    });
}

#[test]
fn windows_roll_over_at_utc_midnight_and_month_end() {
    // Day: the last second of 2026, then the first of 2027 (day and month roll together).
    let (clock, hand) = at(2026, 12, 31, 23, 59, 59);
    let b = local(json!({"daily_usd": 1.0, "monthly_usd": 3.0}), clock);
    rt::block_on(async {
        b.record(None, NANO).await.unwrap();
        let e = b.reserve(None, 1).await.unwrap_err();
        let d = details(&e);
        assert_eq!(
            (d["window"].as_str(), d["resets_at"].as_str()),
            (Some("2026-12-31"), Some("2027-01-01T00:00:00Z"))
        );
        // One second later both windows start empty.
        hand.advance(Duration::from_secs(1));
        let r = b.reserve(None, NANO / 2).await.unwrap();
        assert_eq!(r.day(), "2027-01-01");
        let s = b.snapshot(None).await.unwrap();
        assert_eq!(s.windows[0].window, "2027-01-01");
        assert_eq!(s.windows[1].window, "2027-01");
        assert_eq!((s.windows[0].spent_nano, s.windows[1].spent_nano), (0, 0));
        r.commit(NANO / 2).await.unwrap();
    });

    // Month: 2 USD a month, 1.5 a day; Feb 2028 (leap year) ends on the 29th.
    let (clock, hand) = at(2028, 2, 28, 12, 0, 0);
    let b = local(json!({"daily_usd": 1.5, "monthly_usd": 2.0}), clock);
    rt::block_on(async {
        b.record(None, NANO).await.unwrap();
        let late = b.reserve(None, NANO / 4).await.unwrap();
        hand.set_ns(unix_s(2028, 2, 29, 23, 0, 0) * NANO);
        // The old day's hold moved out of the day window but stays in the month.
        let s = b.snapshot(None).await.unwrap();
        assert_eq!(s.windows[0].reserved_nano, 0);
        assert_eq!(s.windows[1].reserved_nano, NANO / 4);
        late.commit(NANO / 4).await.unwrap();
        b.record(None, NANO / 2).await.unwrap();
        let e = b.reserve(None, NANO / 4 + 1).await.unwrap_err();
        let d = details(&e);
        assert_eq!(d["limit"], "monthly_usd");
        assert_eq!(d["window"], "2028-02");
        assert_eq!(d["spent_usd"], 1.75);
        assert_eq!(d["resets_at"], "2028-03-01T00:00:00Z");
        b.reserve(None, NANO / 4)
            .await
            .unwrap()
            .commit(NANO / 4)
            .await
            .unwrap();
        assert!(b.reserve(None, 1).await.is_err());
        hand.set_ns(unix_s(2028, 3, 1, 0, 0, 0) * NANO - 1);
        assert!(
            b.reserve(None, 1).await.is_err(),
            "23:59:59.999999999 is still February"
        );
        hand.advance(Duration::from_nanos(1));
        b.reserve(None, NANO)
            .await
            .unwrap()
            .commit(NANO)
            .await
            .unwrap();
        let s = b.snapshot(None).await.unwrap();
        assert_eq!(
            (s.windows[0].window.as_str(), s.windows[1].window.as_str()),
            ("2028-03-01", "2028-03")
        );
        assert_eq!(s.windows[1].spent_nano, NANO);
        // A wall clock stepping back does not reopen February.
        hand.set_ns(unix_s(2028, 2, 29, 12, 0, 0) * NANO);
        assert_eq!(b.snapshot(None).await.unwrap().windows[1].window, "2028-03");
    });
}

#[test]
fn per_user_daily_limit_isolates_users() {
    let (clock, hand) = at(2026, 12, 3, 9, 0, 0);
    let b = local(json!({"daily_usd": 10.0, "per_user_daily_usd": 1.0}), clock);
    rt::block_on(async {
        b.reserve(Some("alice"), NANO)
            .await
            .unwrap()
            .commit(NANO)
            .await
            .unwrap();
        let e = b.reserve(Some("alice"), 1).await.unwrap_err();
        let d = details(&e);
        assert_eq!(d["limit"], "per_user_daily_usd");
        assert_eq!(d["user"], "alice");
        assert_eq!(d["window"], "2026-12-03");
        assert_eq!(d["spent_usd"], 1.0);
        // Bob, and calls without a user, are not touched by alice's spend.
        b.reserve(Some("bob"), NANO)
            .await
            .unwrap()
            .commit(NANO)
            .await
            .unwrap();
        b.reserve(None, 2 * NANO)
            .await
            .unwrap()
            .commit(2 * NANO)
            .await
            .unwrap();
        let s = b.snapshot(Some("alice")).await.unwrap();
        assert_eq!(s.windows[0].spent_nano, 4 * NANO);
        assert_eq!(s.windows[2].user.as_deref(), Some("alice"));
        assert_eq!(s.windows[2].spent_nano, NANO);
        assert_eq!(
            b.snapshot(Some("carol")).await.unwrap().windows[2].spent_nano,
            0
        );
        // A new day: alice may spend again.
        hand.advance(Duration::from_secs(15 * 3600));
        b.reserve(Some("alice"), NANO).await.unwrap();
    });
}

#[test]
fn alerts_fire_once_per_window_per_fraction_and_a_panicking_callback_breaks_nothing() {
    let (clock, hand) = at(2026, 12, 3, 9, 0, 0);
    let b = local(
        json!({"daily_usd": 1.0, "monthly_usd": 10.0, "per_user_daily_usd": 0.5}),
        clock,
    );
    let seen: Arc<Mutex<Vec<BudgetAlert>>> = Arc::default();
    let s2 = seen.clone();
    b.on_alert(move |a| s2.lock().unwrap().push(a.clone()));
    let panicky = b.on_alert(|_| panic!("a user callback panics"));
    let take = |seen: &Arc<Mutex<Vec<BudgetAlert>>>| -> Vec<String> {
        seen.lock()
            .unwrap()
            .drain(..)
            .map(|a| {
                format!(
                    "{} {} {}{}",
                    serde_json::to_value(a.limit).unwrap().as_str().unwrap(),
                    a.fraction,
                    a.window,
                    a.user.map(|u| format!(" {u}")).unwrap_or_default()
                )
            })
            .collect()
    };
    rt::block_on(async {
        b.record(None, NANO * 4 / 10).await.unwrap();
        assert!(take(&seen).is_empty());
        b.record(None, NANO / 10).await.unwrap(); // 0.5 of the day
        assert_eq!(take(&seen), ["daily_usd 0.5 2026-12-03"]);
        b.record(None, NANO / 10).await.unwrap(); // 0.6: nothing new
        assert!(take(&seen).is_empty());
        // One commit passing two fractions fires both, once.
        let r = b.reserve(Some("ann"), NANO / 10).await.unwrap();
        r.commit(NANO / 2).await.unwrap(); // day 1.1, ann 0.5
        assert_eq!(
            take(&seen),
            [
                "daily_usd 0.8 2026-12-03",
                "daily_usd 1 2026-12-03",
                "per_user_daily_usd 0.5 2026-12-03 ann",
                "per_user_daily_usd 0.8 2026-12-03 ann",
                "per_user_daily_usd 1 2026-12-03 ann",
            ]
        );
        b.record(Some("ann"), NANO).await.unwrap();
        b.record(Some("bob"), NANO / 4).await.unwrap(); // bob: 0.5 of his own limit
        assert_eq!(take(&seen), ["per_user_daily_usd 0.5 2026-12-03 bob"]);
        // Next day: the day's fractions fire again; the month passes 0.5 (2.35 + 2.7 of 10).
        hand.advance(Duration::from_secs(86_400));
        b.record(None, NANO * 27 / 10).await.unwrap();
        assert_eq!(
            take(&seen),
            [
                "daily_usd 0.5 2026-12-04",
                "daily_usd 0.8 2026-12-04",
                "daily_usd 1 2026-12-04",
                "monthly_usd 0.5 2026-12"
            ]
        );
    });
    let s = rt::block_on(b.snapshot(None)).unwrap();
    assert_eq!(
        s.alert_panics, 11,
        "every alert reached the panicking callback too"
    );
    assert!(b.remove_alert(panicky));
    assert!(!b.remove_alert(panicky));
}

#[test]
fn a_restarted_budget_with_a_ledger_keeps_the_days_and_months_spend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spend.jsonl");
    let conf = json!({"daily_usd": 1.0, "monthly_usd": 5.0, "per_user_daily_usd": 0.5,
                      "ledger_path": path.to_str().unwrap()});
    let (clock, hand) = at(2026, 12, 2, 22, 0, 0);
    {
        let b = local(conf.clone(), clock.clone());
        rt::block_on(async {
            b.record(None, NANO / 2).await.unwrap(); // yesterday: month only
            hand.set_ns(unix_s(2026, 12, 3, 8, 0, 0) * NANO);
            b.record(None, NANO * 3 / 10).await.unwrap();
            let r = b.reserve(Some("alice"), NANO / 10).await.unwrap();
            r.commit(NANO * 4 / 10).await.unwrap();
            let _dropped = b.reserve(Some("alice"), NANO / 20).await.unwrap(); // never spent
        });
    }
    // The process is gone (the drop synced); a new one reads the ledger back.
    let (clock, _hand) = at(2026, 12, 3, 12, 0, 0);
    let b = local(conf.clone(), clock);
    let restore = b.ledger_restore().clone();
    assert_eq!(
        (restore.records, restore.restored, restore.corrupt),
        (3, 3, 0)
    );
    rt::block_on(async {
        let s = b.snapshot(Some("alice")).await.unwrap();
        assert_eq!(s.windows[0].spent_nano, NANO * 7 / 10);
        assert_eq!(s.windows[1].spent_nano, NANO * 12 / 10);
        assert_eq!(s.windows[2].spent_nano, NANO * 4 / 10);
        let e = b.reserve(Some("alice"), NANO / 5).await.unwrap_err();
        assert_eq!(details(&e)["limit"], "per_user_daily_usd");
        let e = b.reserve(None, NANO * 4 / 10).await.unwrap_err();
        assert_eq!(details(&e)["limit"], "daily_usd");
        b.reserve(None, NANO * 3 / 10).await.unwrap();
    });
    drop(b);
    // A torn tail (a crash mid-line) is skipped and counted; the next day starts at zero.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(br#"{"v":1,"day":"2026-12-03","ts":17963"#);
    std::fs::write(&path, bytes).unwrap();
    let (clock, _hand) = at(2026, 12, 4, 0, 0, 1);
    let b = local(conf, clock);
    assert_eq!(b.ledger_restore().torn_tail, 1);
    let s = rt::block_on(b.snapshot(None)).unwrap();
    assert_eq!(s.windows[0].spent_nano, 0);
    assert_eq!(s.windows[1].spent_nano, NANO * 12 / 10);
}

const WRITER_ENV: &str = "TRINITY_BUDGET_LEDGER_WRITER";

/// The amount writer `w` records on its `i`-th record: checkable without the writer.
fn writer_nano(w: u64, i: u64) -> u64 {
    w * 1_000_000 + i % 1000 + 1
}

/// In a writer process: records spend into the shared ledger until killed.
#[test]
fn ledger_writer_helper() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return;
    };
    let (path, w) = spec.split_once('|').unwrap();
    let w: u64 = w.parse().unwrap();
    let (clock, _hand) = at(2026, 12, 3, 12, 0, 0);
    let b = local(json!({"daily_usd": 1e6, "ledger_path": path}), clock);
    let user = format!("writer-{w}");
    rt::block_on(async {
        for i in 0u64.. {
            b.record(Some(&user), writer_nano(w, i)).await.unwrap();
            if i % 4 == 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

#[test]
fn a_hundred_writers_killed_at_random_moments_leave_a_ledger_with_no_wrong_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    for batch in 0..10u64 {
        let mut kids: Vec<_> = (0..10u64)
            .map(|k| {
                std::process::Command::new(&exe)
                    .args([
                        "ledger_writer_helper",
                        "--exact",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(WRITER_ENV, format!("{}|{}", path.display(), batch * 10 + k))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for kid in &mut kids {
            std::thread::sleep(Duration::from_micros(rng.random_range(5_000..60_000)));
            kid.kill().unwrap();
        }
        for kid in &mut kids {
            kid.wait().unwrap();
        }
    }
    let back = ledger::read(&path).unwrap();
    // Every line that reads back is one a writer wrote: its amount is the writer's.
    let mut per_writer = std::collections::BTreeMap::<u64, u64>::new();
    for r in &back.records {
        let w: u64 = r.user.as_deref().unwrap()["writer-".len()..]
            .parse()
            .unwrap();
        assert_eq!(r.nano / 1_000_000, w, "{r:?}");
        assert!((1..=1000).contains(&(r.nano % 1_000_000)), "{r:?}");
        assert_eq!(r.day, 20_790);
        *per_writer.entry(w).or_default() += 1;
    }
    eprintln!(
        "{} records from {} of 100 writers; {} corrupt, {} torn tail",
        back.records.len(),
        per_writer.len(),
        back.corrupt,
        back.torn_tail
    );
    assert!(!back.records.is_empty(), "some writer got to write");
    assert!(
        back.corrupt + back.torn_tail <= 100,
        "at most one torn line per kill"
    );
    // A budget started on that ledger counts exactly the verified records.
    let (clock, _hand) = at(2026, 12, 3, 13, 0, 0);
    let b = local(
        json!({"daily_usd": 1e6, "ledger_path": path.to_str().unwrap()}),
        clock,
    );
    let s = rt::block_on(b.snapshot(None)).unwrap();
    let total: u64 = back.records.iter().map(|r| r.nano).sum();
    assert_eq!(s.windows[0].spent_nano, total);
    assert_eq!(b.ledger_restore().records, back.records.len() as u64);
}

#[test]
fn config_errors_name_the_field_path() {
    let path_of = |v: Value| -> String {
        let e = Config::from_value(json!({ "budget": v }), EnvOverrides::Ignore).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{e}");
        e.details.unwrap()["path"].as_str().unwrap().to_string()
    };
    assert_eq!(path_of(json!({"daily_usd": -1})), "budget.daily_usd");
    assert_eq!(
        path_of(json!({"per_user_daily_usd": "ten"})),
        "budget.per_user_daily_usd"
    );
    assert_eq!(path_of(json!({"alerts": [0.5, 1.5]})), "budget.alerts[1]");
    assert_eq!(path_of(json!({"alerts": [0]})), "budget.alerts[0]");
    assert_eq!(path_of(json!({"scope": "cluster"})), "budget.scope");
    assert_eq!(path_of(json!({"dayly_usd": 1})), "budget.dayly_usd");
    // Limits and a Redis scope without any URL are checked when the config is parsed.
    assert_eq!(path_of(json!({"scope": "redis"})), "budget.redis_url");
    assert_eq!(path_of(json!({"monthly_usd": 1e8})), "budget.monthly_usd");
    // Checks that need the whole section happen in Budgets::new, with the same paths.
    let new_err = |v: Value| -> String {
        let e = rt::block_on(Budgets::new(&cfg(v), Clock::System, None))
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Config, "{e}");
        e.details.unwrap()["path"].as_str().unwrap().to_string()
    };
    assert_eq!(
        new_err(json!({"scope": "redis", "redis_url": "http://x"})),
        "budget.redis_url"
    );
    assert_eq!(new_err(json!({"ledger_path": " "})), "budget.ledger_path");
    assert_eq!(
        new_err(
            json!({"scope": "redis", "redis_url": "redis://127.0.0.1:1", "redis_prefix": "a{b}"})
        ),
        "budget.redis_prefix"
    );
    // Defaults.
    let d = cfg(json!({}));
    assert_eq!(
        d.alerts.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![0.5, 0.8, 1.0]
    );
    assert_eq!(d.redis_prefix, "trinity:budget");
    assert_eq!(
        Config::default().to_json()["budget"],
        json!({"daily_usd": null, "monthly_usd": null, "per_request_usd": null,
               "per_user_daily_usd": null, "scope": "local", "redis_prefix": "trinity:budget",
               "alerts": [0.5, 0.8, 1.0]})
    );
}
