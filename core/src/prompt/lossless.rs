//! The lossless passes over one text, outside code fences and never inside a protected span:
//!
//! 1. HTML comments go when they hold nothing protected (no digit, quote, backtick, URL or
//!    template); `<script>` and `<style>` stay: they are code a prompt may be about.
//! 2. JSON values that start a line and end one, and that serde_json parses, lose their
//!    insignificant whitespace; key order, strings and numbers keep their bytes.
//! 3. Per line: CRLF becomes LF, trailing blanks go, runs of blanks inside a line become one
//!    space; indentation stays (it can carry meaning: YAML, Python, nested lists).
//! 4. Markdown table rows (pipe-led, under a delimiter row) lose their cell padding, and
//!    delimiter cells become `---` (colons kept).
//! 5. Lines that start with an HTML tag lose their indentation, except inside `<pre>`,
//!    `<textarea>`, `<script>` and `<style>`.
//! 6. Blank-line runs become one blank line; leading and trailing blank lines go.
//!
//! Each pass leaves nothing the passes before it would change again, so running them twice
//! changes nothing.

use super::protect::{fence_lines, has_span, inline_spans};
use regex::Regex;
use serde::Serialize;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

/// What the lossless passes changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Passes {
    /// Lines whose blanks (trailing, inner runs, CR) were normalised.
    pub whitespace_lines: u32,
    /// Blank lines removed (runs, leading, trailing).
    pub blank_lines: u32,
    /// JSON values compacted.
    pub json_values: u32,
    /// Markdown table rows slimmed.
    pub table_rows: u32,
    /// HTML comments removed.
    pub html_comments: u32,
    /// Lines starting with an HTML tag unindented.
    pub html_lines: u32,
    /// Repeated blocks replaced by a reference.
    pub repeats: u32,
    /// Lines those references replaced.
    pub repeated_lines: u32,
}

impl Passes {
    /// The names of the passes that changed something, in pipeline order.
    pub fn applied(&self) -> Vec<&'static str> {
        [
            ("html_comments", self.html_comments),
            ("json", self.json_values),
            ("whitespace", self.whitespace_lines + self.blank_lines),
            ("tables", self.table_rows),
            ("html_indent", self.html_lines),
            ("repeats", self.repeats),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(name, _)| name)
        .collect()
    }
}

/// One line after the passes; fence lines are the input's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub text: String,
    pub fence: bool,
    /// Inside `<pre>`, `<textarea>`, `<script>` or `<style>`: inner blanks and blank lines
    /// are kept.
    pub pre: bool,
}

/// `text` through passes 1–6, as lines (join them with `\n`).
pub(crate) fn normalize(text: &str, passes: &mut Passes) -> Vec<Line> {
    let text = remove_comments(text, passes);
    let raw: Vec<&str> = text.split('\n').collect();
    let fence = fence_lines(&raw);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if fence[i] {
            out.push(Line {
                text: raw[i].to_string(),
                fence: true,
                pre: false,
            });
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && !fence[i] {
            i += 1;
        }
        let segment = raw[start..i].join("\n");
        let segment = compact_json(&segment, passes);
        text_lines(&segment, passes, &mut out);
    }
    blank_lines(&mut out, passes);
    out
}

static COMMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").expect("valid regex"));

/// Pass 1, repeated until nothing is left to remove (removing `<!-- a -->` from
/// `<!<!-- a -->-- b -->` makes a new comment).
fn remove_comments<'a>(text: &'a str, passes: &mut Passes) -> Cow<'a, str> {
    let mut text = Cow::Borrowed(text);
    for _ in 0..8 {
        if !text.contains("<!--") {
            break;
        }
        match remove_comments_once(&text, passes) {
            Some(t) => text = Cow::Owned(t),
            None => break,
        }
    }
    text
}

fn remove_comments_once(text: &str, passes: &mut Passes) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let fence = fence_lines(&lines);
    // Byte ranges of fenced lines, where nothing is touched.
    let mut fenced: Vec<Range<usize>> = Vec::new();
    let mut at = 0;
    for (line, &f) in lines.iter().zip(&fence) {
        if f {
            fenced.push(at..at + line.len());
        }
        at += line.len() + 1;
    }
    let spans = inline_spans(text);
    let overlaps = |r: &Range<usize>, set: &[Range<usize>]| {
        set.iter().any(|s| s.start < r.end && r.start < s.end)
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for m in COMMENT.find_iter(text) {
        let body = m.as_str();
        let safe = !has_span(body)
            && !body.contains(['"', '“', '`', '\''])
            && !body.contains("://")
            && !body.contains('{')
            && !body.contains("[if")
            && !overlaps(&m.range(), &fenced)
            && !overlaps(&m.range(), &spans);
        if safe {
            // A comment alone on its lines takes the lines with it.
            let (mut start, mut end) = (m.start(), m.end());
            let ls = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let le = text[end..].find('\n').map_or(text.len(), |i| end + i);
            let blank = |s: &str| s.trim_matches([' ', '\t', '\r']).is_empty();
            if ls >= copied && blank(&text[ls..start]) && blank(&text[end..le]) && le < text.len() {
                (start, end) = (ls, le + 1);
            }
            out.push_str(&text[copied..start]);
            copied = end;
            passes.html_comments += 1;
        }
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Pass 2 over a fence-free segment.
fn compact_json<'a>(seg: &'a str, passes: &mut Passes) -> Cow<'a, str> {
    if !seg.contains(['{', '[']) {
        return Cow::Borrowed(seg);
    }
    let bytes = seg.as_bytes();
    let line_end = |from: usize| seg[from..].find('\n').map_or(seg.len(), |k| from + k);
    let mut out = String::new();
    let mut copied = 0;
    let mut ls = 0;
    while ls < seg.len() {
        let le = line_end(ls);
        let mut next = le + 1;
        let ind = ls
            + bytes[ls..le]
                .iter()
                .take_while(|&&b| b == b' ' || b == b'\t')
                .count();
        if ind < le && (bytes[ind] == b'{' || bytes[ind] == b'[') {
            if let Some(len) = json_value_len(&seg[ind..]) {
                let end = ind + len;
                let vle = line_end(end);
                if seg[end..vle].trim_matches([' ', '\t', '\r']).is_empty() {
                    let raw = &seg[ind..end];
                    let compact = compact(raw);
                    if compact.len() != raw.len() {
                        out.push_str(&seg[copied..ind]);
                        out.push_str(&compact);
                        copied = end;
                        passes.json_values += 1;
                    }
                    next = vle + 1;
                }
            }
        }
        ls = next;
    }
    if copied == 0 {
        return Cow::Borrowed(seg);
    }
    out.push_str(&seg[copied..]);
    Cow::Owned(out)
}

/// The length of the JSON value `s` starts with, when serde_json parses one.
fn json_value_len(s: &str) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(values.byte_offset()),
        _ => None,
    }
}

/// `raw` (valid JSON) without whitespace outside strings. Working on bytes is safe: every
/// byte that matters is ASCII, and UTF-8 continuation bytes never are.
pub(crate) fn compact(raw: &str) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let (mut in_str, mut esc) = (false, false);
    for &b in raw.as_bytes() {
        if in_str {
            out.push(b);
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
            out.push(b);
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
        }
    }
    String::from_utf8(out).expect("only ASCII whitespace was removed")
}

/// Passes 3–5 over a fence-free segment, appending its lines to `out`.
fn text_lines(seg: &str, passes: &mut Passes, out: &mut Vec<Line>) {
    let first = out.len();
    let mut depth: usize = 0;
    for line in seg.split('\n') {
        // A line is inside a raw element when one is open at its start.
        let pre = depth > 0;
        depth = raw_depth(depth, line);
        let text = whitespace(line, pre);
        if text != line {
            passes.whitespace_lines += 1;
        }
        out.push(Line {
            text,
            fence: false,
            pre,
        });
    }
    tables(&mut out[first..], passes);
    html_indent(&mut out[first..], passes);
}

/// Pass 3 on one line (inside a raw element, only CR and trailing blanks go).
fn whitespace(line: &str, pre: bool) -> String {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    let body = &line[indent..];
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..indent]);
    if pre {
        out.push_str(body);
    } else {
        let mut at = 0;
        for span in inline_spans(body) {
            collapse_blanks(&body[at..span.start], &mut out);
            out.push_str(&body[span.clone()]);
            at = span.end;
        }
        collapse_blanks(&body[at..], &mut out);
    }
    // Spans never end in a blank, so trailing blanks are outside them.
    let kept = out.trim_end_matches([' ', '\t']).len();
    out.truncate(if kept == indent { 0 } else { kept });
    out
}

/// Copies `gap`, each run of two or more blanks as one space.
fn collapse_blanks(gap: &str, out: &mut String) {
    let mut run = 0;
    let mut run_start = 0;
    for (i, c) in gap.char_indices() {
        if c == ' ' || c == '\t' {
            if run == 0 {
                run_start = i;
            }
            run += 1;
            continue;
        }
        flush_run(gap, run, run_start, i, out);
        run = 0;
        out.push(c);
    }
    flush_run(gap, run, run_start, gap.len(), out);
}

fn flush_run(gap: &str, run: usize, start: usize, end: usize, out: &mut String) {
    match run {
        0 => {}
        1 => out.push_str(&gap[start..end]),
        _ => out.push(' '),
    }
}

static DELIMITER_ROW: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$").expect("valid regex"));

fn is_row(line: &Line) -> bool {
    !line.pre && line.text.trim_start_matches([' ', '\t']).starts_with('|')
}

/// Pass 4: each run of pipe-led rows whose second row is a delimiter row.
fn tables(lines: &mut [Line], passes: &mut Passes) {
    let mut i = 0;
    while i < lines.len() {
        if !is_row(&lines[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && is_row(&lines[i]) {
            i += 1;
        }
        if i - start < 2 || !DELIMITER_ROW.is_match(lines[start + 1].text.trim()) {
            continue;
        }
        for (k, line) in lines[start..i].iter_mut().enumerate() {
            let row = slim_row(&line.text, k == 1);
            if row != line.text {
                line.text = row;
                passes.table_rows += 1;
            }
        }
    }
}

fn slim_row(line: &str, delimiter: bool) -> String {
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    let body = &line[indent..];
    // Cell borders: pipes outside protected spans and not escaped.
    let spans = inline_spans(body);
    let bytes = body.as_bytes();
    let mut cuts = vec![];
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'|'
            && (i == 0 || bytes[i - 1] != b'\\')
            && !spans.iter().any(|s| s.start <= i && i < s.end)
        {
            cuts.push(i);
        }
    }
    let mut cells: Vec<&str> = Vec::with_capacity(cuts.len());
    for (k, &c) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(body.len());
        cells.push(&body[c + 1..end]);
    }
    let closed = cells.last().is_some_and(|c| c.trim().is_empty()) && cells.len() > 1;
    if closed {
        cells.pop();
    }
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..indent]);
    out.push('|');
    for cell in &cells {
        let t = cell.trim_matches([' ', '\t']);
        if delimiter {
            let left = if t.starts_with(':') { ":" } else { "" };
            let right = if t.len() > 1 && t.ends_with(':') {
                ":"
            } else {
                ""
            };
            out.push_str(&format!(" {left}---{right} |"));
        } else if t.is_empty() {
            out.push_str(" |");
        } else {
            out.push(' ');
            out.push_str(t);
            out.push_str(" |");
        }
    }
    if !closed {
        out.pop();
    }
    out.truncate(out.trim_end_matches([' ', '\t']).len());
    out
}

static RAW_OPEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<(?:pre|textarea|script|style)(?:\s|>)").expect("valid regex")
});
static RAW_CLOSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)</(?:pre|textarea|script|style)\s*>").expect("valid regex"));

/// How many raw elements are open after `line`.
fn raw_depth(depth: usize, line: &str) -> usize {
    if !line.contains('<') {
        return depth;
    }
    let opens = RAW_OPEN.find_iter(line).count();
    let closes = RAW_CLOSE.find_iter(line).count();
    (depth + opens).saturating_sub(closes)
}

/// Pass 5.
fn html_indent(lines: &mut [Line], passes: &mut Passes) {
    for line in lines.iter_mut().filter(|l| !l.pre) {
        let t = line.text.trim_start_matches([' ', '\t']);
        let tag = t.starts_with('<')
            && t[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        if tag && t.len() != line.text.len() {
            line.text = t.to_string();
            passes.html_lines += 1;
        }
    }
}

/// Pass 6 over the whole text.
fn blank_lines(lines: &mut Vec<Line>, passes: &mut Passes) {
    let blank = |l: &Line| !l.fence && !l.pre && l.text.is_empty();
    let before = lines.len();
    let mut prev_blank = true; // drops leading blank lines
    lines.retain(|l| {
        let b = blank(l);
        let keep = !(b && prev_blank);
        prev_blank = b;
        keep
    });
    while lines.last().is_some_and(blank) {
        lines.pop();
    }
    passes.blank_lines += (before - lines.len()) as u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> String {
        let mut p = Passes::default();
        normalize(text, &mut p)
            .into_iter()
            .map(|l| l.text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn whitespace_keeps_indentation_spans_and_fences() {
        assert_eq!(
            run("\n\n  a   b  \r\n\n\n\tx \"p  q\"  `c  d`\n```\n  k   l  \n```\n\n"),
            "  a b\n\n\tx \"p  q\" `c  d`\n```\n  k   l  \n```"
        );
    }

    #[test]
    fn json_compacted_only_when_whole_lines() {
        let text = "Result:\n{\n  \"a\": [1, 2],\n  \"b\": \"x  y\"\n}\n[1] see {\"c\": 1} here";
        assert_eq!(
            run(text),
            "Result:\n{\"a\":[1,2],\"b\":\"x  y\"}\n[1] see {\"c\": 1} here"
        );
        assert_eq!(
            compact("[ {\"k\" : \"a\\\" b\" } ]"),
            "[{\"k\":\"a\\\" b\"}]"
        );
    }

    #[test]
    fn tables_comments_and_tags() {
        assert_eq!(
            run("| a   |  b |\n|:-----|----:|\n|  1 | `x | y` |"),
            "| a | b |\n| :--- | ---: |\n| 1 | `x | y` |"
        );
        assert_eq!(run("a <!-- nav --> b <!-- v2 -->"), "a b <!-- v2 -->");
        assert_eq!(run("<p>\n  <!-- toc\n  start -->\n</p>"), "<p>\n</p>");
        assert_eq!(
            run("  <div>\n    <pre>\n  x\n    </pre>\n  <p>y</p>"),
            "<div>\n<pre>\n  x\n    </pre>\n<p>y</p>"
        );
    }
}
