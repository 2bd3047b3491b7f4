//! The report as one self-contained HTML page: no script and no CDN, its charts inline SVG.

use super::{num, Block, Chart, Model, ReportData};
use std::fmt::Write;

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

/// A line chart as inline SVG.
fn line_chart(out: &mut String, chart: &Chart) {
    let (w, h, pad) = (640.0, 180.0, 36.0);
    let title = esc(&chart.title);
    let _ = write!(
        out,
        "<figure><figcaption>{title}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{title}\">"
    );
    let pts = || chart.series.iter().flat_map(|(_, p)| p);
    if pts().next().is_none() {
        out.push_str("<text x=\"20\" y=\"90\">no data yet</text></svg></figure>");
        return;
    }
    let x0 = pts().map(|p| p.0).min().unwrap_or(0) as f64;
    let x1 = (pts().map(|p| p.0).max().unwrap_or(0) as f64).max(x0 + 1.0);
    let y1 = pts()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let sx = |x: i64| pad + (x as f64 - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |y: f64| h - pad - y / y1 * (h - 2.0 * pad);
    let _ = write!(
        out,
        "<line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" class=\"axis\"/><text x=\"2\" y=\"{t}\">{} {}</text><text x=\"2\" y=\"{b}\">0</text>",
        num(Some(y1), 1),
        esc(&chart.unit),
        b = h - pad,
        r = w - pad,
        t = pad
    );
    for (i, (name, points)) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        out.push_str("<polyline fill=\"none\" stroke=\"");
        out.push_str(color);
        out.push_str("\" stroke-width=\"2\" points=\"");
        for (j, &(x, y)) in points.iter().enumerate() {
            let sep = if j == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{:.1},{:.1}", sx(x), sy(y));
        }
        let name = esc(name);
        let _ = write!(
            out,
            "\"><title>{name}</title></polyline><text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
            w - pad - 90.0,
            14.0 + 14.0 * i as f64,
        );
    }
    out.push_str("</svg></figure>");
}

fn table(out: &mut String, head: &[String], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// The report as one HTML document.
pub fn html(d: &ReportData<'_>) -> String {
    render(&Model::new(d))
}

pub(crate) fn render(m: &Model) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;max-width:1100px;color:#111}}\
         table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:.5em 0}}svg{{width:100%;max-width:640px;background:#fafafa}}\
         svg text{{font-size:11px}}.axis{{stroke:#999}}.down{{color:#dc2626}}</style></head><body><h1>{t}</h1><p>Generated {}</p>",
        m.generated,
        t = esc(&m.title),
    );
    for block in &m.blocks {
        match block {
            Block::Heading(level, text) => {
                let _ = write!(out, "<h{level}>{}</h{level}>", esc(text));
            }
            Block::Paragraph(text) => {
                let _ = write!(out, "<p>{}</p>", esc(text));
            }
            Block::Table(head, rows) => table(&mut out, head, rows),
            Block::Chart(chart) => line_chart(&mut out, chart),
        }
    }
    out.push_str("</body></html>\n");
    out
}
