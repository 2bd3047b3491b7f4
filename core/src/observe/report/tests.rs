use super::*;
use crate::observe::request_log::Attempt;

fn empty<'a>(
    title: &'a str,
    history: &'a BTreeMap<String, Vec<HistoryPoint>>,
    records: &'a RecordStats,
) -> ReportData<'a> {
    ReportData {
        title,
        generated_ms: 0,
        health: &[],
        history,
        records,
        breaker: Vec::new(),
    }
}

#[test]
fn names_are_escaped_and_an_empty_chart_says_so() {
    let history = BTreeMap::from([("<b>p</b>".to_owned(), Vec::new())]);
    let page = html(&empty("t & <x>", &history, &RecordStats::default()));
    assert!(page.contains("<title>t &amp; &lt;x&gt;</title>"));
    assert!(page.contains("&lt;b&gt;p&lt;/b&gt; over time"));
    assert!(!page.contains("<b>p</b>"));
    assert!(page.contains("no data yet"));
    assert!(!page.contains("<script"));
}

#[test]
fn the_pdf_is_a_pdf_with_its_title_and_breakers_as_text() {
    let history = BTreeMap::from([("p".to_owned(), points(0, 3))]);
    let none = RecordStats::default();
    let mut d = empty("perf (report) \\ ✓", &history, &none);
    d.breaker = vec![BreakerRow {
        deployment: "p/m".into(),
        state: "open".into(),
    }];
    let bytes = pdf(&d);
    assert!(bytes.starts_with(b"%PDF-"));
    assert!(bytes.ends_with(b"%%EOF") || bytes.ends_with(b"%%EOF\n"));
    let text = String::from_utf8_lossy(&bytes);
    // The title in the content stream: parentheses balanced, the backslash escaped, ✓ as '?'.
    assert!(text.contains("(perf (report) \\\\ ?) Tj"), "{text}");
    assert!(text.contains("(p/m) Tj") && text.contains("(open) Tj"));
    assert!(text.contains("/WinAnsiEncoding") && text.contains("/Helvetica-Bold"));
    assert!(!text.contains("(none) Tj"));
    let d = empty("t", &history, &none);
    assert!(String::from_utf8_lossy(&pdf(&d)).contains("(none) Tj"));
}

#[test]
fn win_ansi_keeps_latin_1_and_dashes_and_replaces_the_rest() {
    assert_eq!(pdf::tests_win_ansi("a–é·€✓"), b"a\x96\xe9\xb7\x80?");
}

#[test]
fn downsampling_keeps_short_series_and_averages_long_ones() {
    let short: Vec<(i64, f64)> = (0..10).map(|i| (i, i as f64)).collect();
    assert_eq!(downsample(short.clone(), 300, Reduce::Mean), short);
    let long: Vec<(i64, f64)> = (0..10_000).map(|i| (i, 1.0)).collect();
    let d = downsample(long, 300, Reduce::Mean);
    assert!(d.len() <= 300 && d.len() > 250, "{}", d.len());
    assert!(d.iter().all(|p| p.1 == 1.0));
    assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    // A running total keeps its last point: the curve ends at the total.
    let total: Vec<(i64, f64)> = (0..10_000).map(|i| (i, i as f64)).collect();
    let d = downsample(total, 300, Reduce::Last);
    assert!(d.len() <= 300);
    assert_eq!(d.last(), Some(&(9_999, 9_999.0)));
}

fn record(
    ts: i64,
    provider: &str,
    error: Option<&str>,
    attempts: &[(&str, &str)],
) -> RequestRecord {
    RequestRecord {
        timestamp_ms: ts,
        provider: error.is_none().then(|| provider.to_owned()),
        model: error.is_none().then(|| "m".to_owned()),
        model_requested: "m".into(),
        error_code: error.map(str::to_owned),
        attempt_log: attempts
            .iter()
            .map(|&(p, m)| Attempt {
                provider: p.into(),
                model: m.into(),
                error_code: None,
                latency_ms: 1.0,
            })
            .collect(),
        cost_usd: Some(0.5),
        time_to_first_token_ms: Some(20.0),
        ..RequestRecord::default()
    }
}

#[test]
fn record_stats_count_errors_retries_fallbacks_tiers_and_cost() {
    let mut s = RecordStats::default();
    s.add(&record(
        1_000,
        "a",
        None,
        &[("a", "m"), ("a", "m"), ("b", "m")],
    ));
    s.add(&record(2_000, "a", Some("timeout"), &[("b", "m")]));
    let mut hit = record(3_000, "a", None, &[]);
    hit.cache_tier = Some("memory".into());
    s.add(&hit);
    assert_eq!(s.calls(), 3);
    assert_eq!((s.retries, s.fallbacks), (1, 1));
    assert_eq!(s.errors["timeout"]["b"], 1);
    assert_eq!(s.tiers["miss"], 2);
    assert_eq!(s.tiers["memory"], 1);
    assert_eq!(s.cost_by_model["m"], (3, 1.5));
    assert_eq!(s.spent_usd(), 1.5);
    assert_eq!(s.buckets.len(), 3);
    assert_eq!(s.buckets[2].spent, 1.5);
    // Past the cap, new keys are counted under `other`.
    for i in 0..MAX_KEYS + 10 {
        let mut r = record(4_000, "a", None, &[]);
        r.model = Some(format!("m{i}"));
        s.add(&r);
    }
    assert_eq!(s.cost_by_model.len(), MAX_KEYS + 1);
    assert_eq!(s.cost_by_model[OTHER].0, 11);
}

fn points(start_ms: i64, n: i64) -> Vec<HistoryPoint> {
    (0..n)
        .map(|i| HistoryPoint {
            start_ms: start_ms + i * 300_000,
            end_ms: start_ms + (i + 1) * 300_000,
            requests: 100 + (i as u64 % 7),
            failures: i as u64 % 3,
            error_rate: Some((i % 3) as f64 / 100.0),
            latency_ms: Some(200.0 + i as f64),
            p50_ms: Some(180.0 + i as f64),
            p95_ms: Some(400.0 + (i % 11) as f64),
            p99_ms: Some(900.0 + (i % 13) as f64),
            tokens_per_second: Some(50.0 + (i % 5) as f64),
        })
        .collect()
}

/// A million records over 24 hours (fed one at a time, as `trinity report` reads a JSON Lines
/// file) and 24 h of 5-minute buckets for three providers: both reports stay under 2 MB.
#[test]
fn a_million_records_make_reports_under_two_megabytes() {
    let day = 86_400_000i64;
    let t0 = 1_767_225_600_000i64;
    let mut variants = [
        record(0, "openai", None, &[("openai", "gpt-4o")]),
        record(
            0,
            "anthropic",
            None,
            &[("openai", "gpt-4o"), ("anthropic", "claude")],
        ),
        record(
            0,
            "openai",
            Some("rate_limited"),
            &[("openai", "gpt-4o"), ("openai", "gpt-4o")],
        ),
        record(0, "groq", None, &[]),
    ];
    variants[3].cache_tier = Some("redis".into());
    variants[3].time_to_first_token_ms = None;
    let mut stats = RecordStats::default();
    let n = 1_000_000i64;
    for i in 0..n {
        let r = &mut variants[(i % 4) as usize];
        r.timestamp_ms = t0 + i * day / n;
        stats.add(r);
    }
    assert_eq!(stats.calls(), n as u64);
    assert!(stats.buckets.len() <= MAX_TIME_BUCKETS);
    assert!(stats.buckets.len() > MAX_TIME_BUCKETS / 2);
    let history: BTreeMap<String, Vec<HistoryPoint>> = ["anthropic", "groq", "openai"]
        .into_iter()
        .map(|p| (p.to_owned(), points(t0, 288)))
        .collect();
    let mut d = empty("trinity-core performance report", &history, &stats);
    d.generated_ms = t0 + day;
    d.breaker = vec![BreakerRow {
        deployment: "openai/gpt-4o".into(),
        state: "closed".into(),
    }];
    let model = Model::new(&d);
    for b in &model.blocks {
        if let Block::Chart(c) = b {
            assert!(c.series.iter().all(|(_, p)| p.len() <= MAX_CHART_POINTS));
        }
    }
    let page = html::render(&model);
    let doc = pdf::render(&model);
    eprintln!(
        "1,000,000 records, 3 providers x 288 buckets: HTML {} bytes, PDF {} bytes",
        page.len(),
        doc.len()
    );
    assert!(page.len() < 2 << 20 && doc.len() < 2 << 20);
    assert!(page.contains("Calls in the request log (1000000)"));
    assert!(
        String::from_utf8_lossy(&doc).contains("(Calls in the request log \\(1000000\\)) Tj")
            || String::from_utf8_lossy(&doc).contains("(Calls in the request log (1000000)) Tj")
    );
}
