//! Repeated lines and blocks, replaced by a reference to their first occurrence.
//!
//! Texts are read in order (a prompt, or a conversation's messages and their text parts);
//! every line put out is remembered. A line of at least [`MIN_START`] characters seen before
//! starts a match against each earlier place it occurs (the longest run of equal lines wins,
//! then the earliest), and the run becomes one marker line when it is long enough to pay:
//!
//! - `[same as line 7 above]`, `[same as lines 7-12 above]`: earlier in the same text (a
//!   message's text parts count their lines on, one after another);
//! - `[same as message 2, lines 7-12]`: in an earlier message (numbered from 1, as listed);
//! - `, 3 times]` when the same run comes back to back.
//!
//! Line numbers are those of the output, which only grows above the marker, so every
//! reference resolves to literal lines. Code-fence lines and markers are never matched, and a
//! text's output depends only on what precedes it, so a conversation's optimised prefix stays
//! the same as it grows (prompt caches keep hitting).

use super::lossless::{Line, Passes};
use regex::Regex;
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

/// Shortest line (characters, trimmed) that starts a match.
const MIN_START: usize = 16;
/// Shortest run (characters, trimmed lines summed) replaced; it must also be at least twice
/// its marker, so a reference always saves more than it costs.
const MIN_RUN: usize = 40;
/// Earlier places tried per line (most recent), bounding the work on repetitive input.
const MAX_CANDIDATES: usize = 32;

/// What a marker line looks like (also how a second run recognises one).
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[same as (?:message (\d+), )?lines? (\d+)(?:-(\d+))?(?: above)?(?:, (\d+) times)?\]$",
    )
    .expect("valid regex")
});

/// True when `line` is a repeat reference (`[same as …]`) as the lossless passes write them.
pub fn is_reference(line: &str) -> bool {
    MARKER.is_match(line)
}

struct Entry {
    hash: u64,
    text: String,
    doc: u32,
    scope: Option<usize>,
    line_no: usize,
    /// Fence lines and markers are never part of a match.
    matchable: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Ref {
    scope: Option<usize>,
    first: usize,
    last: usize,
}

enum Out {
    Line(Line),
    Marker(Ref, usize),
}

/// The memory of every line put out so far.
#[derive(Default)]
pub(crate) struct Deduper {
    entries: Vec<Entry>,
    index: FxHashMap<u64, Vec<u32>>,
    docs: u32,
    scope: Option<usize>,
    scope_lines: usize,
}

fn hash(s: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    s.hash(&mut h);
    h.finish()
}

fn chars(s: &str) -> usize {
    s.trim().chars().count()
}

impl Deduper {
    /// Counts `n` lines the caller puts between two texts of one scope (a blank separator).
    pub fn skip_lines(&mut self, n: usize) {
        self.scope_lines += n;
    }

    /// `lines` (one text of `scope`: a message number, or `None` for a plain prompt) with
    /// repeats replaced; the result's lines, to be joined with `\n`.
    pub fn doc(
        &mut self,
        scope: Option<usize>,
        lines: Vec<Line>,
        passes: &mut Passes,
    ) -> Vec<String> {
        if scope != self.scope || self.docs == 0 {
            self.scope = scope;
            self.scope_lines = 0;
        }
        let doc = self.docs;
        self.docs += 1;
        let mut out: Vec<Out> = Vec::with_capacity(lines.len());
        let mut i = 0;
        while i < lines.len() {
            if let Some((j, k)) = self.best_match(&lines, i) {
                let r = Ref {
                    scope: self.entries[j].scope,
                    first: self.entries[j].line_no,
                    last: self.entries[j + k - 1].line_no,
                };
                let run: usize = lines[i..i + k].iter().map(|l| chars(&l.text)).sum();
                if run >= MIN_RUN && run >= 2 * self.render(r, 1).len() {
                    passes.repeats += 1;
                    passes.repeated_lines += k as u32;
                    match out.last_mut() {
                        Some(Out::Marker(prev, times)) if *prev == r => *times += 1,
                        _ => {
                            let text = self.render(r, 1);
                            self.push(&text, doc, false);
                            out.push(Out::Marker(r, 1));
                        }
                    }
                    i += k;
                    continue;
                }
            }
            let line = lines[i].clone();
            let matchable = !line.fence && !MARKER.is_match(&line.text);
            self.push(&line.text, doc, matchable);
            out.push(Out::Line(line));
            i += 1;
        }
        out.into_iter()
            .map(|o| match o {
                Out::Line(l) => l.text,
                Out::Marker(r, times) => self.render(r, times),
            })
            .collect()
    }

    fn push(&mut self, text: &str, doc: u32, matchable: bool) {
        self.scope_lines += 1;
        let h = hash(text);
        if matchable {
            self.index
                .entry(h)
                .or_default()
                .push(self.entries.len() as u32);
        }
        self.entries.push(Entry {
            hash: h,
            text: text.to_string(),
            doc,
            scope: self.scope,
            line_no: self.scope_lines,
            matchable,
        });
    }

    /// The earlier place (entry index) and length of the longest run starting at `lines[i]`.
    fn best_match(&self, lines: &[Line], i: usize) -> Option<(usize, usize)> {
        let line = &lines[i];
        if line.fence || chars(&line.text) < MIN_START || MARKER.is_match(&line.text) {
            return None;
        }
        let cands = self.index.get(&hash(&line.text))?;
        let mut best: Option<(usize, usize)> = None;
        for &j in cands.iter().rev().take(MAX_CANDIDATES).rev() {
            let j = j as usize;
            let first = &self.entries[j];
            if first.text != line.text {
                continue;
            }
            let mut k = 1;
            while i + k < lines.len() && j + k < self.entries.len() {
                let (e, l) = (&self.entries[j + k], &lines[i + k]);
                // A run stays inside one earlier text, and within the current one.
                if e.doc != first.doc || !e.matchable || l.fence {
                    break;
                }
                if e.hash != hash(&l.text) || e.text != l.text {
                    break;
                }
                k += 1;
            }
            while k > 1 && lines[i + k - 1].text.trim().is_empty() {
                k -= 1;
            }
            if best.is_none_or(|(_, bk)| k > bk) {
                best = Some((j, k));
            }
        }
        best
    }

    fn render(&self, r: Ref, times: usize) -> String {
        let lines = if r.first == r.last {
            format!("line {}", r.first)
        } else {
            format!("lines {}-{}", r.first, r.last)
        };
        let times = if times > 1 {
            format!(", {times} times")
        } else {
            String::new()
        };
        match r.scope {
            Some(m) if r.scope != self.scope => format!("[same as message {m}, {lines}{times}]"),
            _ => format!("[same as {lines} above{times}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(t: &str) -> Vec<Line> {
        t.split('\n')
            .map(|s| Line {
                text: s.to_string(),
                fence: false,
                pre: false,
            })
            .collect()
    }

    #[test]
    fn runs_become_references_and_back_to_back_repeats_are_counted() {
        let a = "connection refused by upstream host, retrying";
        let b = "the request timed out after waiting for it";
        let text = format!("{a}\n{b}\nok\n{a}\n{b}\n{a}\n{b}\nshort\nshort");
        let mut d = Deduper::default();
        let mut p = Passes::default();
        let out = d.doc(None, lines(&text), &mut p);
        assert_eq!(
            out,
            [
                a,
                b,
                "ok",
                "[same as lines 1-2 above, 2 times]",
                "short",
                "short"
            ]
        );
        assert!(out
            .iter()
            .all(|l| !MARKER.is_match(l) || l.starts_with("[same")));
        // A later message refers back to an earlier one by number.
        let mut d = Deduper::default();
        d.doc(Some(1), lines(&format!("{a}\n{b}")), &mut p);
        let out = d.doc(Some(2), lines(&format!("x\n{a}\n{b}\n\n{a}\n{b}")), &mut p);
        assert_eq!(
            out,
            [
                "x",
                "[same as message 1, lines 1-2]",
                "",
                "[same as message 1, lines 1-2]"
            ]
        );
    }
}
