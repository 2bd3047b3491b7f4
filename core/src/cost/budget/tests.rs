use super::*;
use crate::config::{AlertFraction, NonNegative};

#[test]
fn usd_converts_to_nano_once_and_exactly() {
    assert_eq!(usd_to_nano(10.0), 10_000_000_000);
    assert_eq!(usd_to_nano(0.000_000_001), 1);
    assert_eq!(usd_to_nano(0.1) * 3, usd_to_nano(0.3));
    assert_eq!(nano_to_usd(2_500_000_000), 2.5);
}

#[test]
fn an_exhausted_limit_refuses_even_a_zero_estimate() {
    let c = Counter {
        spent: 60,
        held: 40,
        fired: 0,
    };
    assert!(!c.fits(100, 0));
    assert!(!c.fits(100, 1));
    assert!(c.fits(101, 1));
    assert!(!c.fits(101, 2));
    assert!(
        !Counter::default().fits(0, 0),
        "a zero limit allows nothing"
    );
}

#[test]
fn alert_thresholds_are_sorted_deduplicated_and_fire_once() {
    let cfg = BudgetConfig {
        daily_usd: Some(NonNegative(1.0)),
        alerts: vec![AlertFraction(1.0), AlertFraction(0.5), AlertFraction(0.5)],
        ..BudgetConfig::default()
    };
    let l = Limits::from_config(&cfg).unwrap();
    assert_eq!(l.alerts, vec![0.5, 1.0]);
    let mut c = Counter {
        spent: 500_000_000,
        ..Counter::default()
    };
    assert_eq!(c.crossed(l.daily, &l), 0b01);
    assert_eq!(c.crossed(l.daily, &l), 0);
    c.spent = 2_000_000_000;
    assert_eq!(c.crossed(l.daily, &l), 0b10);
    assert_eq!(c.crossed(None, &l), 0);
}

#[test]
fn limits_beyond_lua_precision_are_config_errors() {
    let cfg = BudgetConfig {
        monthly_usd: Some(NonNegative(1e7)),
        ..BudgetConfig::default()
    };
    let e = Limits::from_config(&cfg).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert_eq!(e.details.unwrap()["path"], "budget.monthly_usd");
}
