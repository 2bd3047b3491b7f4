//! A client's metrics as structured families, for exporters without a text parser of their
//! own (Node's prom-client): the OpenMetrics text [`ClientMetrics`](super::ClientMetrics)
//! renders, read back into names, types, labels and values.
//!
//! A small parser of our own, for the subset `prometheus-client`'s text encoder writes
//! (`# HELP`/`# TYPE`/`# UNIT`, samples with `\\`, `\"`, `\n` escaped in label values, `# EOF`;
//! timestamps and exemplars after the value are skipped). `prometheus-parse` was considered
//! and rejected: it splits labels on `,` and `=` without unescaping, and drops the labels of
//! histogram buckets. `openmetrics-parser` would add a pest grammar for text we write ourselves.

use crate::llm::Client;
use crate::{Error, Result};
use rustc_hash::FxHasher;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::hash::{Hash, Hasher};

/// One metric family: every sample of one `# TYPE`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Family {
    /// The family name as in `# TYPE` (a counter's without `_total`).
    pub name: String,
    pub help: String,
    /// `counter`, `gauge`, `histogram`, … as written; `unknown` for samples without a `# TYPE`.
    pub kind: String,
    /// From `# UNIT`; empty when there is none.
    pub unit: String,
    pub series: Vec<Series>,
}

/// The samples of one label set. A histogram's `_bucket`s, `_sum` and `_count` with the same
/// labels are one series, told apart by name and `le`: a scrape of 1,000 lines is then ~100
/// label sets to read, send and format, not 1,000.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// In the order written, unescaped, without `le`. Serialized as an object (names are
    /// unique in a label set), the shape JavaScript consumers use as is.
    #[serde(serialize_with = "label_object")]
    pub labels: Vec<(String, String)>,
    pub samples: Vec<Sample>,
}

/// One sample line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// The full sample name: `…_total`, `…_bucket`, `…_sum`, `…_count`, or the family's.
    pub name: String,
    /// A bucket's upper bound, as written (`0.01`, `+Inf`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub le: Option<String>,
    /// Serialized as a number, or `"+Inf"`, `"-Inf"`, `"NaN"` (JSON has no such numbers).
    #[serde(serialize_with = "openmetrics_number")]
    pub value: f64,
}

impl Series {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Family {
    /// Every sample with its series' labels.
    pub fn samples(&self) -> impl Iterator<Item = (&Series, &Sample)> {
        self.series
            .iter()
            .flat_map(|s| s.samples.iter().map(move |x| (s, x)))
    }
}

fn label_object<S: Serializer>(
    labels: &[(String, String)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(labels.len()))?;
    for (k, v) in labels {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn openmetrics_number<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    match *v {
        v if v.is_finite() => s.serialize_f64(v),
        v if v.is_nan() => s.serialize_str("NaN"),
        v if v > 0.0 => s.serialize_str("+Inf"),
        _ => s.serialize_str("-Inf"),
    }
}

impl Client {
    /// The client's metrics as families (`metrics.enabled`; else a `config` error). A family
    /// is listed from its first sample on (the encoder skips empty ones), so an exporter
    /// must expect new names on any scrape.
    pub fn metrics_families(&self) -> Result<Vec<Family>> {
        parse(&self.metrics_text()?)
    }
}

/// Reads OpenMetrics text into families, in the order written. Malformed text is an
/// `internal` error naming the line: the text is the engine's own.
pub fn parse(text: &str) -> Result<Vec<Family>> {
    let mut families: Vec<Family> = Vec::new();
    // The label text (after a leading `le`) of the last series, as written: the lines of one
    // series follow each other with the same text, so most lines need no label parsing.
    let mut last_labels: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| malformed(i, line, why);
        if line.is_empty() {
            continue;
        }
        if line == "# EOF" {
            break;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
                continue; // a comment
            }
            let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
            if name.is_empty() {
                return Err(bad("no metric name"));
            }
            // Metadata of a name other than the current family's starts the next family.
            if families.last().is_none_or(|f| f.name != name) {
                families.push(family(name));
                last_labels = None;
            }
            let f = families.last_mut().expect("pushed above");
            match keyword {
                "HELP" => f.help = unescape(value),
                "TYPE" => f.kind = value.to_owned(),
                _ => f.unit = value.to_owned(),
            }
            continue;
        }
        let (name, raw, at) = split_sample(line).map_err(bad)?;
        // A sample without metadata of its own (`unknown`) is a family by itself.
        if !families
            .last()
            .is_some_and(|f| belongs(&f.name, &f.kind, name))
        {
            families.push(family(name));
            last_labels = None;
        }
        let f = families.last_mut().expect("pushed above");
        let (mut le, rest) = leading_le(raw).map_err(bad)?;
        if last_labels != Some(rest) {
            let mut labels = Vec::new();
            parse_labels(rest, &mut labels).map_err(bad)?;
            if let Some(at) = labels.iter().position(|(k, _)| k == "le") {
                le = Some(labels.remove(at).1); // `le` not first: kept apart all the same
            }
            f.series.push(Series {
                labels,
                samples: Vec::new(),
            });
            last_labels = Some(rest);
        }
        let series = f.series.last_mut().expect("pushed above");
        series.samples.push(Sample {
            name: name.to_owned(),
            le,
            value: number(value_at(line, at)).ok_or_else(|| bad("bad value"))?,
        });
    }
    Ok(families)
}

/// What [`scrape`] read.
#[derive(Clone, Debug, PartialEq)]
pub enum Scrape {
    /// Every sample's value, in the order of the families, their series and their samples
    /// (the order of the lines).
    Values(Vec<f64>),
    Families(Vec<Family>),
}

/// For an exporter that keeps the families between scrapes: only the values when the text's
/// shape (every line up to its value) hashes to `known`, else the families as [`parse`]
/// reads them; with the shape to pass as `known` next time. Between two scrapes the values
/// move and the label sets rarely do, and reading the values alone is one pass that
/// allocates nothing per line.
pub fn scrape(text: &str, known: Option<u64>) -> Result<(u64, Scrape)> {
    let mut shape = FxHasher::default();
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line == "# EOF" {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            line.hash(&mut shape);
            continue;
        }
        let (_, _, at) = split_sample(line).map_err(|why| malformed(i, line, why))?;
        line[..at].hash(&mut shape);
        let value = value_at(line, at);
        values.push(number(value).ok_or_else(|| malformed(i, line, "bad value"))?);
    }
    let shape = shape.finish();
    match known == Some(shape) {
        true => Ok((shape, Scrape::Values(values))),
        false => Ok((shape, Scrape::Families(parse(text)?))),
    }
}

fn malformed(i: usize, line: &str, why: &str) -> Error {
    Error::internal(format!("metrics text, line {}: {why}: {line:?}", i + 1))
}

fn family(name: &str) -> Family {
    Family {
        name: name.to_owned(),
        help: String::new(),
        kind: "unknown".to_owned(),
        unit: String::new(),
        series: Vec::new(),
    }
}

/// Whether `sample` is one of the sample names OpenMetrics gives a family of `kind`.
fn belongs(family: &str, kind: &str, sample: &str) -> bool {
    let Some(suffix) = sample.strip_prefix(family) else {
        return false;
    };
    let allowed: &[&str] = match kind {
        "counter" => &["_total", "_created"],
        "histogram" | "gaugehistogram" => {
            &["_bucket", "_sum", "_count", "_created", "_gcount", "_gsum"]
        }
        "summary" => &["", "_sum", "_count", "_created"],
        "info" => &["_info"],
        _ => &[""],
    };
    allowed.contains(&suffix)
}

/// `name{labels} value [timestamp] [# exemplar]` → (name, the label text between the braces,
/// where the value starts).
fn split_sample(line: &str) -> std::result::Result<(&str, &str, usize), &'static str> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if name.is_empty() {
        return Err("no metric name");
    }
    let (labels, rest) = match line[end..].strip_prefix('{') {
        Some(body) => {
            let close = closing_brace(body).ok_or("unterminated labels")?;
            (&body[..close], &body[close + 1..])
        }
        None => ("", &line[end..]),
    };
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    Ok((name, labels, line.len() - rest.len()))
}

/// The value token at `at`, before any timestamp or exemplar.
fn value_at(line: &str, at: usize) -> &str {
    line[at..].split(' ').next().unwrap_or_default()
}

/// Where the label block ends: the first `}` outside a quoted value.
fn closing_brace(s: &str) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A leading `le="…"` (where the encoder puts it) and the labels after it.
fn leading_le(raw: &str) -> std::result::Result<(Option<String>, &str), &'static str> {
    let Some(rest) = raw.strip_prefix("le=\"") else {
        return Ok((None, raw));
    };
    let (le, rest) = label_value(rest)?;
    Ok((Some(le), rest.strip_prefix(',').unwrap_or(rest)))
}

/// Reads `label="value",…` (the text between the braces) into `out`.
fn parse_labels(
    mut s: &str,
    out: &mut Vec<(String, String)>,
) -> std::result::Result<(), &'static str> {
    while !s.is_empty() {
        let (name, rest) = s.split_once("=\"").ok_or("bad label")?;
        if name.is_empty() || name.contains([',', '"', ' ']) {
            return Err("bad label name");
        }
        let (value, rest) = label_value(rest)?;
        out.push((name.to_owned(), value));
        s = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(())
}

/// A quoted value after its opening quote, unescaped, and what follows its closing quote.
fn label_value(s: &str) -> std::result::Result<(String, &str), &'static str> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    loop {
        match chars.next().ok_or("unterminated label value")? {
            (i, '"') => return Ok((value, &s[i + 1..])),
            (_, '\\') => match chars.next().ok_or("unterminated label value")?.1 {
                'n' => value.push('\n'),
                c @ ('\\' | '"') => value.push(c),
                c => {
                    // Not an OpenMetrics escape: kept as written.
                    value.push('\\');
                    value.push(c);
                }
            },
            (_, c) => value.push(c),
        }
    }
}
/// A HELP text: the same escapes as a label value.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(e @ ('\\' | '"')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// An OpenMetrics number: decimal or exponent, `+Inf`, `-Inf`, `NaN`.
fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok().filter(|v: &f64| v.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvOverrides};
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family as PromFamily;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::{Registry, Unit};

    const TRICKY: [&str; 6] = [
        r#"say "hi""#,
        r"C:\dir\file",
        "two\nlines",
        "a,b=c}",
        r#"\"\\n"#,
        "héllo 🦀 ",
    ];

    #[test]
    fn label_values_round_trip_through_the_encoder() {
        let mut registry = Registry::default();
        let counters = PromFamily::<Vec<(String, String)>, Counter>::default();
        registry.register("calls", "Calls with \"odd\" labels", counters.clone());
        for (i, v) in TRICKY.iter().enumerate() {
            counters
                .get_or_create(&vec![
                    ("model".into(), v.to_string()),
                    ("n".into(), i.to_string()),
                ])
                .inc_by(i as u64 + 1);
        }
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        let families = parse(&text).unwrap();
        assert_eq!(families.len(), 1);
        let f = &families[0];
        assert_eq!((f.name.as_str(), f.kind.as_str()), ("calls", "counter"));
        assert_eq!(f.series.len(), TRICKY.len(), "one series per label set");
        let mut seen: Vec<(String, f64)> = f
            .samples()
            .map(|(series, s)| {
                assert_eq!((s.name.as_str(), s.le.as_deref()), ("calls_total", None));
                (series.label("model").unwrap().to_owned(), s.value)
            })
            .collect();
        seen.sort_by(|a, b| a.1.total_cmp(&b.1));
        let want: Vec<(String, f64)> = TRICKY
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), i as f64 + 1.0))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_histogram_series_keeps_every_bucket_under_its_labels() {
        let mut registry = Registry::default();
        let h = PromFamily::<Vec<(String, String)>, Histogram>::new_with_constructor(|| {
            Histogram::new([0.1, 1.0])
        });
        registry.register_with_unit("wait", "Wait", Unit::Seconds, h.clone());
        for model in ["x\"y}", "z"] {
            let series = h.get_or_create(&vec![("model".into(), model.into())]);
            series.observe(0.05);
            series.observe(0.5);
            series.observe(5.0);
        }
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        let f = &parse(&text).unwrap()[0];
        assert_eq!(
            (f.name.as_str(), f.kind.as_str(), f.unit.as_str()),
            ("wait_seconds", "histogram", "seconds")
        );
        assert_eq!(f.help, "Wait.");
        assert_eq!(f.series.len(), 2, "{text}");
        let series = f
            .series
            .iter()
            .find(|s| s.label("model") == Some("x\"y}"))
            .unwrap();
        assert_eq!(
            series.labels.len(),
            1,
            "`le` is the sample's, not the series'"
        );
        let get = |name: &str, le: Option<&str>| {
            let s = series
                .samples
                .iter()
                .find(|s| s.name == name && s.le.as_deref() == le);
            s.unwrap_or_else(|| panic!("{name} {le:?} in {text}")).value
        };
        assert_eq!(get("wait_seconds_bucket", Some("0.1")), 1.0);
        assert_eq!(get("wait_seconds_bucket", Some("1.0")), 2.0);
        assert_eq!(get("wait_seconds_bucket", Some("+Inf")), 3.0);
        assert_eq!(get("wait_seconds_count", None), 3.0);
        assert_eq!(get("wait_seconds_sum", None), 5.55);
        assert_eq!(series.samples.len(), 5);
    }

    #[test]
    fn hand_written_text_with_comments_timestamps_and_specials() {
        let text = concat!(
            "# HELP up Is it \\\"up\\\"\\nor not.\n",
            "# TYPE up gauge\n",
            "# a comment\n",
            "up{a=\"1\",b=\"\\\\\",} +Inf 1700000000\n",
            "up{a=\"2\"} NaN # {trace=\"x\"} 1\n",
            "loose -3.5e-2\n",
            "# TYPE h histogram\n",
            "h_bucket{a=\"{,}\",le=\"1\"} 2\n",
            "h_bucket{le=\"+Inf\",a=\"{,}\"} 3\n",
            "# TYPE temp gauge\n",
            "temp -Inf\n",
            "# EOF\n",
            "ignored 1\n",
        );
        let fams = parse(text).unwrap();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["up", "loose", "h", "temp"]);
        let up = &fams[0];
        assert_eq!(up.help, "Is it \"up\"\nor not.");
        assert_eq!(
            up.series[0].labels,
            [("a".into(), "1".into()), ("b".into(), "\\".into())]
        );
        assert_eq!(up.series[0].samples[0].value, f64::INFINITY);
        assert!(up.series[1].samples[0].value.is_nan());
        assert_eq!(
            (fams[1].kind.as_str(), fams[1].series[0].samples[0].value),
            ("unknown", -0.035)
        );
        // `le` wherever it is written is the sample's.
        let h: Vec<_> = fams[2].samples().collect();
        assert!(h
            .iter()
            .all(|(s, _)| s.labels == [("a".into(), "{,}".into())]));
        let les: Vec<_> = h.iter().map(|(_, x)| x.le.as_deref()).collect();
        assert_eq!(les, [Some("1"), Some("+Inf")]);
        assert_eq!(fams[3].series[0].samples[0].value, f64::NEG_INFINITY);
        let json = serde_json::to_value(&fams[0]).unwrap();
        assert_eq!(
            json["series"][0]["labels"],
            serde_json::json!({"a": "1", "b": "\\"})
        );
        assert_eq!(
            json["series"][0]["samples"][0],
            serde_json::json!({"name": "up", "value": "+Inf"})
        );
        assert_eq!(json["series"][1]["samples"][0]["value"], "NaN");
    }

    #[test]
    fn a_scrape_of_the_same_shape_is_its_values_in_sample_order() {
        let text = |hits: u32, model: &str| {
            format!(
                "# TYPE h histogram\nh_sum{{m=\"a\"}} {hits}.5\nh_count{{m=\"a\"}} {hits}\n\
                 h_bucket{{le=\"1\",m=\"a\"}} {hits}\nh_bucket{{le=\"+Inf\",m=\"a\"}} {hits}\n\
                 # TYPE c counter\nc_total{{model=\"{model}\"}} 7 1700000000\n# EOF\n"
            )
        };
        let (shape, first) = scrape(&text(1, "x"), None).unwrap();
        let Scrape::Families(families) = first else {
            panic!("a first scrape has the families")
        };
        assert_eq!(families, parse(&text(1, "x")).unwrap());
        let (same, second) = scrape(&text(2, "x"), Some(shape)).unwrap();
        assert_eq!(same, shape, "the values are not part of the shape");
        let flat: Vec<f64> = parse(&text(2, "x"))
            .unwrap()
            .iter()
            .flat_map(|f| f.samples().map(|(_, s)| s.value))
            .collect();
        assert_eq!(second, Scrape::Values(flat.clone()));
        assert_eq!(flat, [2.5, 2.0, 2.0, 2.0, 7.0]);
        let (other, third) = scrape(&text(2, "y"), Some(shape)).unwrap();
        assert_ne!(other, shape, "a new label value is a new shape");
        assert!(matches!(third, Scrape::Families(_)));
        assert!(scrape("x{a=\"1\"} two\n", None).is_err());
    }

    #[test]
    fn malformed_lines_are_internal_errors_naming_the_line() {
        for text in [
            "x{a=\"1} 2\n",
            "x{a=1} 2\n",
            "x\n",
            "x 1two\n",
            "x{=\"v\"} 1\n",
            "x{le=\"1} 1\n",
            "# HELP\n",
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.code(), "internal", "{text:?}");
            assert!(err.message.contains("line 1"), "{}", err.message);
        }
    }

    #[test]
    fn a_client_lists_each_family_once_it_has_a_sample() {
        let config = Config::from_value(
            serde_json::json!({"providers": {"p": {"kind": "mock"}}}),
            EnvOverrides::Ignore,
        )
        .unwrap();
        let client = Client::new(config).unwrap();
        let before = client.metrics_families().unwrap();
        assert!(
            before.iter().all(|f| !f.name.starts_with("gen_ai")),
            "{before:?}"
        );
        let req =
            serde_json::json!({"model": "p/m", "messages": [{"role": "user", "content": "hi"}]});
        crate::rt::block_on(client.chat(crate::llm::ChatRequest::from_json(req).unwrap())).unwrap();
        let families = client.metrics_families().unwrap();
        let requests = families
            .iter()
            .find(|f| f.name == "trinity_requests")
            .unwrap();
        assert_eq!(requests.kind, "counter");
        assert_eq!(requests.series.len(), 1);
        assert_eq!(requests.series[0].label("status"), Some("success"));
        assert_eq!(requests.series[0].samples[0].name, "trinity_requests_total");
        let duration = families
            .iter()
            .find(|f| f.name == "gen_ai_client_operation_duration_seconds")
            .unwrap();
        assert_eq!(
            (duration.kind.as_str(), duration.unit.as_str()),
            ("histogram", "seconds")
        );
        assert_eq!(
            duration.series.len(),
            1,
            "sum, count and buckets: one series"
        );
        let samples = &duration.series[0].samples;
        let count = samples.iter().find(|s| s.name.ends_with("_count")).unwrap();
        assert_eq!(count.value, 1.0);
        let inf = samples
            .iter()
            .find(|s| s.le.as_deref() == Some("+Inf"))
            .unwrap();
        assert_eq!(inf.value, 1.0);
    }
}
