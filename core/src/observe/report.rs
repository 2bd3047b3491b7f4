//! The performance report (seed 004's `generateReport('html')`): one self-contained HTML file,
//! no script and no CDN, its charts inline SVG. It shows what load-test reports leave out: per
//! provider latency percentiles, error rate, throughput and output tokens per second over time
//! (the monitor's history), state and recoveries, and from the request log errors by code and
//! provider, retries and fallbacks, cache hits by tier, time to first token and cost by model and
//! over time. Its size is bounded by the monitor's buckets and the request log's history, not by
//! the traffic.

use super::monitor::{HistoryPoint, ProviderHealth};
use super::RequestRecord;
use std::collections::BTreeMap;
use std::fmt::Write;

/// What the report is drawn from.
pub struct ReportData<'a> {
    pub title: &'a str,
    pub generated_ms: i64,
    pub health: &'a [ProviderHealth],
    /// Per provider, its history buckets, oldest first.
    pub history: &'a BTreeMap<String, Vec<HistoryPoint>>,
    /// The request log's records, oldest first.
    pub records: &'a [RequestRecord],
}

const COLORS: [&str; 4] = ["#2563eb", "#d97706", "#dc2626", "#059669"];

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "–".to_owned(), |x| format!("{x:.digits$}"))
}

/// A line chart of `series` (name, points of (ms since the epoch, value)) as inline SVG.
fn line_chart(title: &str, unit: &str, series: &[(&str, Vec<(i64, f64)>)]) -> String {
    let (w, h, pad) = (640.0, 180.0, 36.0);
    let pts: Vec<&(i64, f64)> = series.iter().flat_map(|(_, p)| p).collect();
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    if pts.is_empty() {
        let _ = write!(
            svg,
            "<text x=\"20\" y=\"90\">no data yet</text></svg></figure>"
        );
        return svg;
    }
    let x0 = pts.iter().map(|p| p.0).min().unwrap_or(0) as f64;
    let x1 = (pts.iter().map(|p| p.0).max().unwrap_or(0) as f64).max(x0 + 1.0);
    let y1 = pts
        .iter()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let sx = |x: i64| pad + (x as f64 - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad - y / y1 * (h - 2.0 * pad);
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" class=\"axis\"/><text x=\"2\" y=\"{t}\">{} {}</text><text x=\"2\" y=\"{b}\">0</text>",
        num(Some(y1), 1),
        esc(unit),
        b = h - pad,
        r = w - pad,
        t = pad
    );
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let coords: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline><text x=\"{}\" y=\"{}\" fill=\"{color}\">{}</text>",
            coords.join(" "),
            esc(name),
            w - pad - 90.0,
            14.0 + 14.0 * i as f64,
            esc(name)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr></thead><tbody>");
    for row in rows {
        t.push_str("<tr>");
        for cell in row {
            let _ = write!(t, "<td>{}</td>", esc(cell));
        }
        t.push_str("</tr>");
    }
    t.push_str("</tbody></table>");
    t
}

fn series(points: &[HistoryPoint], f: impl Fn(&HistoryPoint) -> Option<f64>) -> Vec<(i64, f64)> {
    points
        .iter()
        .filter_map(|p| f(p).filter(|v| v.is_finite()).map(|v| (p.start_ms, v)))
        .collect()
}

/// What the request log's records add: errors, retries, cache, TTFT and cost.
fn records_section(records: &[RequestRecord]) -> String {
    let mut out = String::new();
    let mut errors: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut tiers: BTreeMap<String, u64> = BTreeMap::new();
    let mut cost_by_model: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let (mut retries, mut fallbacks, mut ttft, mut streams) = (0u64, 0u64, 0.0, 0u64);
    let mut cumulative = Vec::new();
    let mut spent = 0.0;
    for r in records {
        if let Some(code) = &r.error_code {
            // A failed call was served by no one: the provider of its last attempt failed it.
            let provider = r
                .provider
                .clone()
                .or_else(|| r.attempt_log.last().map(|a| a.provider.clone()))
                .unwrap_or_else(|| "–".into());
            *errors.entry((code.clone(), provider)).or_default() += 1;
        }
        *tiers
            .entry(r.cache_tier.clone().unwrap_or_else(|| "miss".into()))
            .or_default() += 1;
        for pair in r.attempt_log.windows(2) {
            let same = pair[0].provider == pair[1].provider && pair[0].model == pair[1].model;
            *(if same { &mut retries } else { &mut fallbacks }) += 1;
        }
        if let Some(t) = r.time_to_first_token_ms {
            ttft += t;
            streams += 1;
        }
        let model = r.model.clone().unwrap_or_else(|| r.model_requested.clone());
        let e = cost_by_model.entry(model).or_default();
        e.0 += 1;
        e.1 += r.cost_usd.unwrap_or(0.0);
        spent += r.cost_usd.unwrap_or(0.0);
        cumulative.push((r.timestamp_ms, spent));
    }
    let n = records.len().max(1) as f64;
    let _ = write!(
        out,
        "<h2>Calls in the request log ({})</h2><p>Retries: {retries} · fallbacks: {fallbacks} · mean time to first token: {} ms over {streams} streams</p>",
        records.len(),
        num((streams > 0).then(|| ttft / streams as f64), 1)
    );
    let rows: Vec<Vec<String>> = errors
        .iter()
        .map(|((code, p), c)| vec![code.clone(), p.clone(), c.to_string()])
        .collect();
    out.push_str("<h3>Errors by code and provider</h3>");
    out.push_str(&table(&["error", "provider", "calls"], &rows));
    let rows: Vec<Vec<String>> = tiers
        .iter()
        .map(|(t, c)| {
            vec![
                t.clone(),
                c.to_string(),
                format!("{:.1}%", *c as f64 / n * 100.0),
            ]
        })
        .collect();
    out.push_str("<h3>Cache by tier</h3>");
    out.push_str(&table(&["tier", "calls", "share"], &rows));
    let rows: Vec<Vec<String>> = cost_by_model
        .iter()
        .map(|(m, (c, usd))| vec![m.clone(), c.to_string(), format!("{usd:.6}")])
        .collect();
    out.push_str("<h3>Cost by model</h3>");
    out.push_str(&table(&["model", "calls", "USD"], &rows));
    out.push_str(&line_chart(
        "Cost over time (cumulative)",
        "USD",
        &[("spent", cumulative)],
    ));
    out
}

/// The report as one HTML document.
pub fn html(d: &ReportData<'_>) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#111}}\
         table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:.5em 0}}svg{{width:100%;max-width:640px;background:#fafafa}}\
         svg text{{font-size:11px}}.axis{{stroke:#999}}.down{{color:#dc2626}}</style></head><body><h1>{t}</h1><p>Generated {}</p>",
        super::iso8601_ms(d.generated_ms),
        t = esc(d.title),
    );
    let rows: Vec<Vec<String>> = d
        .health
        .iter()
        .map(|h| {
            vec![
                h.provider.clone(),
                h.state.as_str().to_owned(),
                h.requests.to_string(),
                num(h.error_rate.map(|e| e * 100.0), 1),
                num(h.latency_ms, 1),
                num(h.p50_ms, 1),
                num(h.p95_ms, 1),
                num(h.p99_ms, 1),
                num(Some(h.requests_per_minute), 1),
                num(h.tokens_per_second, 1),
                format!("{:.2}%", h.availability * 100.0),
                h.recoveries.to_string(),
                num(h.avg_error_recovery_ms.map(|m| m / 1000.0), 1),
            ]
        })
        .collect();
    out.push_str("<h2>Providers (live window)</h2>");
    out.push_str(&table(
        &[
            "provider",
            "state",
            "attempts",
            "error %",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "per min",
            "tokens/s",
            "availability",
            "recoveries",
            "mean recovery s",
        ],
        &rows,
    ));
    for (provider, points) in d.history {
        let _ = write!(out, "<h2>{} over time</h2>", esc(provider));
        out.push_str(&line_chart(
            "Latency percentiles",
            "ms",
            &[
                ("p50", series(points, |p| p.p50_ms)),
                ("p95", series(points, |p| p.p95_ms)),
                ("p99", series(points, |p| p.p99_ms)),
            ],
        ));
        out.push_str(&line_chart(
            "Error rate",
            "%",
            &[(
                "errors",
                series(points, |p| p.error_rate.map(|e| e * 100.0)),
            )],
        ));
        out.push_str(&line_chart(
            "Attempts per bucket",
            "",
            &[("attempts", series(points, |p| Some(p.requests as f64)))],
        ));
        out.push_str(&line_chart(
            "Output tokens per second",
            "tok/s",
            &[("tokens/s", series(points, |p| p.tokens_per_second))],
        ));
    }
    out.push_str(&records_section(d.records));
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_an_empty_chart_says_so() {
        let history = BTreeMap::from([("<b>p</b>".to_owned(), Vec::new())]);
        let page = html(&ReportData {
            title: "t & <x>",
            generated_ms: 0,
            health: &[],
            history: &history,
            records: &[],
        });
        assert!(page.contains("<title>t &amp; &lt;x&gt;</title>"));
        assert!(page.contains("&lt;b&gt;p&lt;/b&gt; over time"));
        assert!(!page.contains("<b>p</b>"));
        assert!(page.contains("no data yet"));
        assert!(!page.contains("<script"));
    }
}
