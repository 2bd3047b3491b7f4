//! CostTracker: bounded memory, exact sums, queries, alerts, CSV read back by a real parser.

use trinity_core::cost::tracker::{
    CostTracker, TrackRecord, TrackRequest, TrackerSettings, DEFAULT_ALERT_THRESHOLDS, OTHER_SERIES,
};

const MIN: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-12-03T00:00:00Z
const T0: i64 = 1_796_256_000_000;

fn rec(ts: i64, provider: &str, model: &str, nano: Option<u64>) -> TrackRecord {
    TrackRecord {
        timestamp_ms: ts,
        provider: provider.into(),
        model: model.into(),
        input_tokens: 100,
        output_tokens: 10,
        cached_tokens: 40,
        cost_nano_usd: nano,
        cache_hit: false,
    }
}

#[test]
fn a_million_calls_over_many_minutes_stay_within_the_bucket_bound() {
    let settings = TrackerSettings {
        retention_minutes: 1_440,
        max_series: 10_000,
    };
    let t = CostTracker::new(settings).unwrap();
    let series = [
        ("openai", "gpt-4o"),
        ("anthropic", "claude"),
        ("gemini", "flash"),
    ];
    // 1M calls, 10 per minute, across 100,000 minutes (~69 days) and 3 series.
    for i in 0..1_000_000i64 {
        let (p, m) = series[(i % 3) as usize];
        t.track(&rec(T0 + (i / 10) * MIN, p, m, Some(2_850)));
    }
    let s = t.stats();
    assert!(s.buckets <= 1_440 * 3, "{} buckets", s.buckets);
    assert_eq!(s.series, 3);
    assert_eq!(s.dropped, 0);
    // The last day holds exactly its 14,400 calls, summed exactly.
    let end = T0 + 100_000 * MIN;
    let day = t.total(end - DAY, end);
    assert_eq!(day.requests, 14_400);
    assert_eq!(day.nano_usd, 14_400 * 2_850);
    // Older than the retention: gone, and a late record for then is dropped, not kept.
    assert_eq!(t.total(T0, T0 + DAY).requests, 0);
    t.track(&rec(T0, "openai", "gpt-4o", Some(1)));
    assert_eq!(t.stats().dropped, 1);
}

#[test]
fn series_past_the_cap_are_summed_under_other() {
    let t = CostTracker::new(TrackerSettings {
        retention_minutes: 10,
        max_series: 4,
    })
    .unwrap();
    for i in 0..1_000 {
        t.track(&rec(T0, "p", &format!("model-{i}"), Some(1)));
    }
    let s = t.stats();
    assert_eq!(s.series, 5, "4 named + (other)");
    assert_eq!(s.overflowed, 996);
    let by = t.by_model(T0, T0 + MIN);
    assert_eq!(by[OTHER_SERIES].requests, 996);
    assert_eq!(t.total(T0, T0 + MIN).nano_usd, 1_000);
}

#[test]
fn sums_are_exact_and_unpriced_calls_are_counted_not_zeroed() {
    let t = CostTracker::default();
    for i in 0..1_000_000 {
        t.track(&rec(
            T0 + (i % 60) * MIN,
            "openai",
            "gpt-4o-mini",
            Some(2_850),
        ));
    }
    t.track(&rec(T0, "mystery", "no-such-model", None));
    let total = t.total(T0, T0 + DAY);
    assert_eq!(total.nano_usd, 2_850_000_000, "exactly $2.85");
    assert_eq!(total.usd, 2.85);
    assert_eq!(total.requests, 1_000_001);
    assert_eq!(total.unpriced_requests, 1);
    let by_p = t.by_provider(T0, T0 + DAY);
    assert_eq!(by_p["mystery"].nano_usd, 0);
    assert_eq!(by_p["mystery"].unpriced_requests, 1);
    assert_eq!(by_p["openai"].cached_tokens, 40_000_000);
}

#[test]
fn queries_sum_whole_minutes_of_the_range() {
    let t = CostTracker::default();
    t.track(&rec(T0 + 30_000, "openai", "gpt-4o", Some(10)));
    t.track(&rec(T0 + MIN + 5, "openai", "gpt-4o-mini", Some(20)));
    t.track(&rec(T0 + 2 * MIN, "anthropic", "claude-sonnet-4", Some(40)));
    assert_eq!(t.total(T0, T0 + 3 * MIN).nano_usd, 70);
    assert_eq!(t.total(T0 + MIN, T0 + 2 * MIN).nano_usd, 20, "[start, end)");
    assert_eq!(t.total(T0 + 3 * MIN, T0).requests, 0, "empty range");
    let by_p = t.by_provider(T0, T0 + 3 * MIN);
    assert_eq!(by_p.len(), 2);
    assert_eq!(by_p["openai"].nano_usd, 30);
    assert_eq!(by_p["openai"].requests, 2);
    let by_m = t.by_model(T0, T0 + 3 * MIN);
    assert_eq!(by_m.len(), 3);
    assert_eq!(by_m["claude-sonnet-4"].nano_usd, 40);
}

#[test]
fn track_request_prices_from_the_registry() {
    let t = CostTracker::default();
    let req = |model: &str, cached| TrackRequest {
        model: model.into(),
        input_tokens: 7,
        output_tokens: 3,
        cache_hit: cached,
    };
    // gpt-4o-mini: 7 × $0.15/1M + 3 × $0.60/1M = 2,850 nano-USD.
    assert_eq!(t.track_request(&req("gpt-4o-mini", 0), T0), Some(2_850));
    // Dated and prefixed names are the same model.
    assert_eq!(
        t.track_request(&req("openai/gpt-4o-mini", 0), T0),
        Some(2_850)
    );
    // Cached input is cheaper.
    let cached = t.track_request(&req("gpt-4o-mini", 7), T0).unwrap();
    assert!(cached < 2_850, "{cached}");
    assert_eq!(t.track_request(&req("no-such-model-xyz", 0), T0), None);
    let by_p = t.by_provider(T0, T0 + MIN);
    assert_eq!(by_p["openai"].requests, 3);
    assert_eq!(by_p["openai"].cached_tokens, 7);
    assert_eq!(by_p["unknown"].unpriced_requests, 1);
    assert_eq!(t.by_model(T0, T0 + MIN)["gpt-4o-mini"].requests, 3);
}

#[test]
fn budget_alerts_at_each_threshold_of_the_utc_day() {
    let t = CostTracker::default();
    let now = T0 + 12 * 3_600_000;
    let alerts = |t: &CostTracker| {
        t.budget_alerts(10.0, now, &DEFAULT_ALERT_THRESHOLDS)
            .unwrap()
    };
    assert!(alerts(&t).is_empty());
    // Yesterday's spend does not count.
    t.track(&rec(T0 - MIN, "openai", "gpt-4o", Some(100_000_000_000)));
    assert!(alerts(&t).is_empty());
    t.track(&rec(T0 + MIN, "openai", "gpt-4o", Some(8_000_000_000)));
    let a = alerts(&t);
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].threshold, a[0].severity.as_str()), (0.5, "info"));
    assert_eq!((a[1].threshold, a[1].severity.as_str()), (0.8, "warning"));
    assert_eq!(a[1].day, "2026-12-03");
    assert_eq!(a[1].resets_at_ms, T0 + DAY);
    // Exactly the limit is reached.
    t.track(&rec(T0 + MIN, "openai", "gpt-4o", Some(2_000_000_000)));
    t.track(&rec(T0 + MIN, "x", "unknown", None));
    let a = alerts(&t);
    assert_eq!(a.len(), 4);
    assert_eq!(a[2].severity, "critical");
    assert_eq!(a[2].spent_nano_usd, 10_000_000_000);
    assert_eq!(
        (a[3].kind.as_str(), a[3].unpriced_requests),
        ("unpriced", 1)
    );
    let err = t
        .budget_alerts(0.0, now, &DEFAULT_ALERT_THRESHOLDS)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    let err = t
        .budget_alerts(f64::NAN, now, &DEFAULT_ALERT_THRESHOLDS)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");
}

pub const HOSTILE: [&str; 6] = [
    "plain",
    "comma, inside",
    "quote \" inside",
    "line\nbreak",
    "crlf\r\nand \"both\", yes",
    "=cmd|' /C calc'!A0",
];

#[test]
fn csv_reads_back_equal_with_hostile_names() {
    let t = CostTracker::default();
    for (i, name) in HOSTILE.iter().enumerate() {
        t.track(&rec(
            T0 + i as i64 * MIN,
            name,
            &format!("m {name}"),
            Some(1_000_000_001),
        ));
    }
    t.track(&rec(T0, "plain", "unpriced", None));
    let text = t.export_csv(T0, T0 + DAY);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header[..3], ["minute", "provider", "model"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), HOSTILE.len() + 1);
    let named: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| &r[2] != "unpriced")
        .map(|r| (&r[1], &r[2]))
        .collect();
    for (i, name) in HOSTILE.iter().enumerate() {
        assert_eq!(named[i].0, *name);
        assert_eq!(named[i].1, format!("m {name}"));
    }
    let first = &rows[0];
    assert_eq!(&first[0], "2026-12-03T00:00:00.000Z");
    let unpriced = rows.iter().find(|r| &r[2] == "unpriced").unwrap();
    assert_eq!((&unpriced[7], &unpriced[9]), ("0.000000000", "1"));
    let priced = rows
        .iter()
        .find(|r| &r[1] == "plain" && &r[2] != "unpriced")
        .unwrap();
    assert_eq!((&priced[7], &priced[8]), ("1.000000001", "1000000001"));
    // Python's csv module reads it back equal too (tests/python/test_observe.py does the same
    // through the binding).
    let path = std::env::temp_dir().join(format!("tracker-{}.csv", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv,json,sys; print(json.dumps([r[1:3] for r in csv.reader(open(sys.argv[1], newline=''))][1:]))",
        ])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    if let Some(out) = out.ok().filter(|o| o.status.success()) {
        let got: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
        let want: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![r[1].into(), r[2].into()])
            .collect();
        assert_eq!(got, want);
    }
}
